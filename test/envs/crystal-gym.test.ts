/**
 * CrystalGym (crystalgym-spec §1–§4): vocabularies, templates, the template graph (against pymatgen),
 * BFS order, rewards, and the environment's episode, failure and error paths.
 * Reference values: test/envs/fixtures/crystal-gym-reference.json, written by
 * `/usr/bin/python3 scripts/make_gym_reference.py` (pymatgen 2022.11.7).
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { analyticDensity } from "../../src/calculators/analytic-density.js";
import type { PropertyName, PropertyProvider, PropertyResult } from "../../src/calculators/property.js";
import {
  bandGapReward,
  bfsOrder,
  bulkModulusReward,
  CrystalGymEnv,
  DEFAULT_TARGETS,
  densityReward,
  FAILURE_REWARDS,
  propertyReward,
  randomPolicyReward,
  template,
  templateFromCif,
  templateGraph,
  TEMPLATES,
  VOCABULARIES,
  vocabulary,
  type CrystalGraph,
} from "../../src/envs/crystal-gym/index.js";
import type { DiscreteEnv } from "../../src/rl/discrete.js";
import { Crystal } from "../../src/structure/crystal.js";
import { Lattice } from "../../src/structure/lattice.js";

interface Reference {
  cutoff: number;
  edges: Record<string, [number, number][][]>;
  densities: { template: string; species: string[]; density: number; scale: number; analytic: number }[];
}
const REF = JSON.parse(readFileSync(new URL("./fixtures/crystal-gym-reference.json", import.meta.url), "utf8")) as Reference;
const STRUCTURES = new URL("../../data/structures/", import.meta.url).pathname;

const close = (a: number, b: number, tol: number, what = ""): void => assert.ok(Math.abs(a - b) <= tol, `${what}: ${a} vs ${b}`);

/** Env with the large vocabulary (it holds every element of the reference fills). */
const densityEnv = (name: string, seed = 0): CrystalGymEnv =>
  new CrystalGymEnv({ template: name, property: "density", vocabulary: "large", provider: analyticDensity(), seed });

/** A provider that always fails with `errorFlag`: exercises the env's failure path. */
function failing(errorFlag: 1 | 2 | 3 | 4): PropertyProvider {
  const properties: PropertyName[] = ["band-gap", "bulk-modulus", "density"];
  return {
    engine: "failing",
    settings: {},
    properties,
    async evaluate(_c: Crystal, property: PropertyName): Promise<PropertyResult> {
      return { property, value: null, unit: "eV", engine: "failing", seconds: 0, errorFlag, reason: "SCF not converged (test)" };
    },
  };
}

/** Plays one episode putting `species[site]` on every site, in the env's fill order. */
async function fill(env: CrystalGymEnv, species: readonly string[], seed: number) {
  const { obs, info } = await env.reset({ seed });
  let last;
  const observations: CrystalGraph[] = [obs];
  for (const site of info.order as number[]) {
    last = await env.step(env.vocabulary.token(species[site]!));
    observations.push(last.obs);
  }
  return { last: last!, observations, start: info.start as number };
}

describe("vocabulary (spec §3)", () => {
  it("has 18, 30 and 50 elements in the paper's token order", () => {
    assert.equal(VOCABULARIES.small.length, 18);
    assert.equal(VOCABULARIES.medium.length, 30);
    assert.equal(VOCABULARIES.large.length, 50);
    assert.deepEqual(VOCABULARIES.small, ["Li", "Na", "K", "Rb", "Be", "Ca", "Mg", "Sr", "H", "C", "N", "O", "P", "S", "Se", "F", "Cl", "Br"]);
    assert.deepEqual(VOCABULARIES.medium.slice(0, 18), VOCABULARIES.small);
    assert.deepEqual(VOCABULARIES.medium.slice(18), ["B", "Si", "Ge", "Fe", "Cu", "Co", "Ni", "Mn", "Al", "Zn", "Sn", "Cr"]);
    assert.deepEqual(VOCABULARIES.large.slice(0, 30), VOCABULARIES.medium);
    assert.deepEqual(VOCABULARIES.large.slice(30), [
      ...["In", "Sb", "V", "Mo", "Ga", "Ag", "Ti", "Ba", "Y", "Te"],
      ...["I", "Pd", "Rh", "As", "Pt", "Cs", "Au", "Bi", "Zr", "La"],
    ]);
  });

  it("maps tokens to symbols and atomic numbers; the blank is the size", () => {
    const v = vocabulary("small");
    assert.equal(v.blank, 18);
    assert.equal(v.symbol(7), "Sr");
    assert.equal(v.token("Br"), 17);
    assert.equal(v.numbers[0], 3);
    const c = vocabulary(["Sr", "Ti", "O"]);
    assert.equal(c.size, 3);
    assert.deepEqual(Array.from(c.numbers), [38, 22, 8]);
    assert.equal(vocabulary(c), c);
  });

  it("names a bad symbol, a repeat or an unknown name", () => {
    assert.throws(() => vocabulary(["Li", "Xx", "O"]), /"Xx" \(position 1\) is not an element symbol/);
    assert.throws(() => vocabulary(["Li", "O", "Li"]), /"Li" appears twice/);
    assert.throws(() => vocabulary("huge"), /unknown vocabulary "huge"/);
    assert.throws(() => vocabulary("small").token("Ti"), /"Ti" is not in the small vocabulary/);
    assert.throws(() => vocabulary("small").symbol(18), /token 18/);
  });
});

describe("templates", () => {
  it("ships cubic prototypes of 2 to 8 sites, with their species and space groups", () => {
    const sites = Object.fromEntries(TEMPLATES.map((t) => [t.name, t.crystal.natoms]));
    assert.deepEqual(sites, {
      perovskite: 5,
      "cesium-chloride": 2,
      rocksalt: 2,
      zincblende: 2,
      fluorite: 3,
      heusler: 4,
      sulvanite: 8,
      "rocksalt-conventional": 8,
      "zincblende-conventional": 8,
    });
    const p = template("perovskite");
    assert.equal(p.crystal.reducedFormula, "SrTiO3");
    assert.equal(p.spaceGroupNumber, 221);
    assert.equal(p.fractional.length, 15);
    close(p.lattice.a, 3.905, 1e-12, "a");
    // The primitive fcc cells hold the conventional cell's volume / 4.
    close(template("rocksalt").crystal.volume, 5.64 ** 3 / 4, 1e-9, "rocksalt volume");
    close(template("fluorite").crystal.density, 3.180, 1e-3, "CaF2 density");
    assert.throws(() => template("spinel"), /unknown CrystalGym template "spinel"; known: perovskite/);
  });

  it("reads a CIF from a path or text, and names the file when it cannot be used", () => {
    const t = templateFromCif(`${STRUCTURES}SrTiO3.cif`);
    assert.equal(t.name, "SrTiO3");
    assert.equal(t.crystal.natoms, 5);
    assert.equal(t.spaceGroup, "Pm-3m");
    assert.equal(t.spaceGroupNumber, 221);
    const fromText = templateFromCif(readFileSync(`${STRUCTURES}NaCl.cif`, "utf8"), { name: "nacl" });
    assert.equal(fromText.name, "nacl");
    assert.equal(fromText.crystal.natoms, 8);
    assert.throws(() => templateFromCif(`${STRUCTURES}MgAl2O4.cif`), /MgAl2O4\.cif: 56 sites; a CrystalGym template has at most 20/);
    assert.throws(() => templateFromCif("data_empty\n_cell_length_a 4\n"), /<cif text>.*no data block with atom sites|no data block with atom sites.*<cif text>/s);
    assert.throws(() => templateFromCif("/nonexistent/x.cif"), /cannot read CIF template \/nonexistent\/x\.cif/);
  });
});

describe("template graph", () => {
  it("gives every site of every template a neighbour within the default 4 Å", () => {
    for (const t of TEMPLATES) {
      const g = templateGraph(t.crystal);
      for (let i = 0; i < g.sites; i++) assert.ok(g.edgeSrc.includes(i), `${t.name}: site ${i} has no edge`);
    }
  });

  it("has the reverse of every edge, with the opposite image and the same distance", () => {
    for (const t of TEMPLATES) {
      const g = templateGraph(t.crystal);
      const key = (i: number, j: number, s: ArrayLike<number>): string => `${i},${j},${s[0]},${s[1]},${s[2]}`;
      const index = new Map<string, number>();
      for (let k = 0; k < g.edgeSrc.length; k++) index.set(key(g.edgeSrc[k]!, g.edgeDst[k]!, g.edgeShift.subarray(3 * k, 3 * k + 3)), k);
      assert.equal(index.size, g.edgeSrc.length, `${t.name}: duplicate edges`);
      for (let k = 0; k < g.edgeSrc.length; k++) {
        const s = g.edgeShift.subarray(3 * k, 3 * k + 3);
        const r = index.get(key(g.edgeDst[k]!, g.edgeSrc[k]!, [-s[0]! || 0, -s[1]! || 0, -s[2]! || 0]));
        assert.ok(r !== undefined, `${t.name}: edge ${k} has no reverse`);
        assert.equal(g.edgeDistance[r], g.edgeDistance[k]);
      }
    }
  });

  it("matches pymatgen's get_all_neighbors(4 Å) site by site", () => {
    for (const [name, sites] of Object.entries(REF.edges)) {
      const g = templateGraph(template(name).crystal, REF.cutoff);
      sites.forEach((expected, i) => {
        const got: [number, number][] = [];
        for (let k = 0; k < g.edgeSrc.length; k++) if (g.edgeSrc[k] === i) got.push([g.edgeDst[k]!, g.edgeDistance[k]!]);
        const sort = (a: [number, number][]) => a.sort((x, y) => x[0] - y[0] || x[1] - y[1]);
        sort(got);
        sort(expected);
        assert.equal(got.length, expected.length, `${name} site ${i}: edge count`);
        got.forEach(([j, d], k) => {
          assert.equal(j, expected[k]![0], `${name} site ${i}: neighbour ${k}`);
          close(d, expected[k]![1], 1e-5, `${name} site ${i} → ${j}`);
        });
      });
    }
  });

  it("takes the cut-off as an option and names a site left without neighbours", () => {
    const cs = template("cesium-chloride").crystal;
    assert.equal(templateGraph(cs).edgeSrc.length, 16); // 8 Cs–Cl bonds at 3.57 Å, both ways
    assert.equal(templateGraph(cs, 4.5).edgeSrc.length, 28); // + 6 Cs–Cs and 6 Cl–Cl images at 4.123 Å
    assert.throws(() => templateGraph(cs, 3), /site 0 \(Cs\) has no neighbour within the 3 Å cut-off.*3\.571 Å/);
  });

  it("orders sites breadth-first from the start, each exactly once, unreached ones last", () => {
    for (const t of TEMPLATES) {
      const g = templateGraph(t.crystal);
      for (let s = 0; s < g.sites; s++) {
        const order = bfsOrder(g, s);
        assert.equal(order[0], s);
        assert.deepEqual([...order].sort((a, b) => a - b), [...Array(g.sites).keys()], `${t.name} from ${s}`);
      }
    }
    // Two pairs 7 Å apart in a 14 Å cube: start 2 reaches 3, then 0 and 1 in index order.
    const pairs = new Crystal({ cell: Lattice.cubic(14), positions: [0, 0, 0, 1.5, 0, 0, 7, 7, 7, 8.5, 7, 7], numbers: ["H", "H", "O", "O"] });
    assert.deepEqual(Array.from(bfsOrder(templateGraph(pairs, 2), 2)), [2, 3, 0, 1]);
    assert.throws(() => bfsOrder(templateGraph(pairs, 2), 4), /BFS start 4 is not a site/);
  });
});

describe("rewards (spec §4)", () => {
  it("uses the paper's targets and failure rewards", () => {
    assert.deepEqual({ ...DEFAULT_TARGETS }, { "band-gap": 1.12, "bulk-modulus": 300, density: 3.0 });
    assert.deepEqual({ ...FAILURE_REWARDS }, { "band-gap": -1, "bulk-modulus": -5, density: -1 });
  });

  it("computes each formula", () => {
    assert.equal(densityReward(3), 1);
    close(densityReward(4), Math.exp(-1 / 3), 1e-15, "density β = p̂");
    close(densityReward(5.5, 5, 3), Math.exp(-0.25 / 3), 1e-15, "density β given");
    assert.equal(bandGapReward(1.12), 1);
    close(bandGapReward(-0.4), Math.exp(-(1.12 ** 2)), 1e-15, "negative gap clipped to 0"); // 0.285 (spec §9.2)
    close(bandGapReward(2.12), Math.exp(-1), 1e-15, "band gap");
    assert.equal(bulkModulusReward(300), 0);
    close(bulkModulusReward(150), -0.5, 1e-15, "bulk modulus");
    assert.equal(bulkModulusReward(3000), -5);
    assert.equal(bulkModulusReward(300 * 7), -5);
    close(bulkModulusReward(600, 500), -0.2, 1e-15, "bulk modulus other target");
  });

  it("gives the failure reward for errorFlag > 0 or a missing value", () => {
    assert.equal(propertyReward("density", { value: 3, errorFlag: 0 }), 1);
    assert.equal(propertyReward("density", { value: null, errorFlag: 1 }), -1);
    assert.equal(propertyReward("band-gap", { value: 1, errorFlag: 2 }), -1);
    assert.equal(propertyReward("bulk-modulus", { value: null, errorFlag: 4 }), -5);
    assert.equal(propertyReward("density", { value: Number.NaN, errorFlag: 0 }), -1);
    assert.equal(propertyReward("bulk-modulus", { value: 250, errorFlag: 0 }, { target: 500 }), -0.5);
  });
});

describe("CrystalGymEnv", () => {
  it("is a DiscreteEnv<CrystalGraph> with one action per element", () => {
    const env: DiscreteEnv<CrystalGraph> = densityEnv("perovskite");
    assert.equal(env.actions, 50);
    assert.equal(new CrystalGymEnv({ template: "rocksalt", property: "density", provider: analyticDensity() }).actions, 18);
  });

  it("resets to a blank graph starting at the seeded site, with the state of spec §1.2", async () => {
    const env = densityEnv("sulvanite");
    const { obs, info } = await env.reset({ seed: 5 });
    assert.equal(obs.current, info.start);
    assert.equal((info.order as number[])[0], info.start);
    assert.deepEqual(Array.from(obs.nodeTokens), new Array(8).fill(50));
    assert.equal(obs.blank, 50);
    assert.deepEqual(Array.from(obs.state), Array.from(Float32Array.of(5.391, 5.391, 5.391, 90, 90, 90, 3)));
    // The same seed gives the same start and order; other seeds reach every site as a start.
    const again = await env.reset({ seed: 5 });
    assert.deepEqual(again.info.order, info.order);
    const starts = new Set<number>();
    for (let s = 0; s < 64; s++) starts.add((await env.reset({ seed: s })).info.start as number);
    assert.equal(starts.size, 8);
  });

  it("fills the current site, advances it, and rewards the finished crystal (analytic density)", async () => {
    const ref = REF.densities.find((d) => d.template === "perovskite" && d.species[0] === "Ba")!;
    const env = densityEnv("perovskite");
    const { last, observations } = await fill(env, ref.species, 3);
    const order = env.fillOrder;
    observations.forEach((o, t) => {
      assert.equal(o.current, t < 5 ? order[t] : -1, `current at step ${t}`);
      assert.equal(o.nodeTokens.filter((x) => x === o.blank).length, 5 - t);
      assert.equal(o.edgeSrc, observations[0]!.edgeSrc, "edges are shared, not copied");
    });
    assert.notEqual(observations[1]!.nodeTokens, observations[2]!.nodeTokens);
    assert.equal(last.terminated, true);
    assert.equal(last.truncated, false);
    const info = last.info;
    assert.equal(info.property, "density");
    assert.equal(info.unit, "g/cm3");
    assert.equal(info.engine, "analytic");
    assert.equal(info.errorFlag, 0);
    assert.equal(info.reason, null);
    assert.equal(info.surrogate, true);
    assert.equal(info.composition, "BaZrS3");
    assert.equal(typeof info.seconds, "number");
    close(info.value as number, ref.analytic, 1e-9 * ref.analytic, "analytic density vs pymatgen");
    assert.ok(last.reward > 0 && last.reward <= 1, `reward ${last.reward}`);
    close(last.reward, densityReward(ref.analytic), 1e-9, "reward");
    // Every earlier step's reward is 0.
    await env.reset({ seed: 3 });
    assert.equal((await env.step(0)).reward, 0);
  });

  it("plays the same episode for the same seed", async () => {
    const play = async () => {
      const env = densityEnv("heusler", 11);
      await env.reset();
      const tokens: number[][] = [];
      for (let a of [3, 9, 27, 41]) tokens.push(Array.from((await env.step(a)).obs.nodeTokens));
      return { tokens, order: Array.from(env.fillOrder) };
    };
    assert.deepEqual(await play(), await play());
  });

  it("builds the finished crystal: density against pymatgen's Structure.density", () => {
    for (const ref of REF.densities) {
      const env = densityEnv(ref.template);
      const crystal = env.filledCrystal(ref.species.map((s) => env.vocabulary.token(s)));
      assert.deepEqual(crystal.symbols, ref.species);
      close(crystal.density, ref.density, 1e-9 * ref.density, `${ref.template} ${ref.species.join("")}`);
    }
    const env = densityEnv("rocksalt");
    assert.throws(() => env.filledCrystal([50, 1]), /site 0 is not filled yet/);
    assert.throws(() => env.filledCrystal([1]), /has 2 sites, got 1 tokens/);
    assert.throws(() => env.filledCrystal([1, 51]), /site 1: token 51/);
  });

  it("gives the failure reward when the provider fails", async () => {
    for (const [property, expected] of [["density", -1], ["band-gap", -1], ["bulk-modulus", -5]] as const) {
      const env = new CrystalGymEnv({ template: "rocksalt", property, provider: failing(1) });
      await env.reset({ seed: 1 });
      await env.step(0);
      const r = await env.step(11);
      assert.equal(r.reward, expected, property);
      assert.equal(r.terminated, true);
      assert.equal(r.info.errorFlag, 1);
      assert.equal(r.info.value, null);
      assert.equal(r.info.reason, "SCF not converged (test)");
      assert.equal(r.info.composition, "LiO");
    }
  });

  it("names a bad action, a step before reset or after the end", async () => {
    const env = new CrystalGymEnv({ template: "rocksalt", property: "density", provider: analyticDensity() });
    await assert.rejects(env.step(0), /action 0: call reset\(\) before step\(\)/);
    await env.reset({ seed: 0 });
    for (const bad of [-1, 18, 1.5, Number.NaN]) {
      await assert.rejects(env.step(bad), (e: Error) => e instanceof RangeError && e.message.startsWith(`action ${bad} is not an integer in [0, 18)`));
    }
    await env.step(1);
    await env.step(2);
    await assert.rejects(env.step(3), /action 3: the episode is over \(all 2 sites are filled\); call reset\(\)/);
  });

  it("refuses a provider without the property, a bad target or a bad vocabulary", () => {
    assert.throws(
      () => new CrystalGymEnv({ template: "rocksalt", property: "band-gap", provider: analyticDensity() }),
      /the analytic provider does not compute "band-gap"/,
    );
    assert.throws(() => new CrystalGymEnv({ template: "rocksalt", property: "density", target: -1, provider: analyticDensity() }), /positive/);
    assert.throws(
      () => new CrystalGymEnv({ template: "rocksalt", property: "density", vocabulary: ["Li", "Qq"], provider: analyticDensity() }),
      /"Qq" \(position 1\)/,
    );
  });

  it("accepts a Crystal or a CIF template, a target and a cut-off", async () => {
    const crystal = template("fluorite").crystal;
    const env = new CrystalGymEnv({ template: crystal, property: "density", target: 5, cutoff: 3, provider: analyticDensity() });
    assert.equal(env.sites, 3);
    assert.equal(env.state[6], 5);
    assert.ok(env.graph.edgeDistance.every((d) => d < 3));
    const cif = new CrystalGymEnv({ template: templateFromCif(`${STRUCTURES}SrTiO3.cif`), property: "density", provider: analyticDensity() });
    assert.equal(cif.sites, 5);
  });

  it("measures the random policy's mean reward, reproducibly", async () => {
    const a = await randomPolicyReward(densityEnv("perovskite"), 40, 9);
    const b = await randomPolicyReward(densityEnv("perovskite"), 40, 9);
    assert.deepEqual(a, b);
    assert.equal(a.returns.length, 40);
    assert.equal(a.failures, 0);
    assert.ok(a.mean > 0 && a.mean <= 1 && a.min > 0 && a.max <= 1, `mean ${a.mean}`);
    const fails = await randomPolicyReward(new CrystalGymEnv({ template: "rocksalt", property: "bulk-modulus", provider: failing(2) }), 3, 1);
    assert.deepEqual({ mean: fails.mean, failures: fails.failures }, { mean: -5, failures: 3 });
  });
});
