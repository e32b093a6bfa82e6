/**
 * The Pedone et al. (2006) rigid-ion model: parity with LAMMPS running the same model
 * (data/reference/ewald.json, from scripts/make_ewald_reference.py), finite differences, the
 * pairSum path, MACS's random starts with 1 Å contacts, and bad input.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { ewald } from "../../src/calculators/ewald.js";
import { Ionic, IONIC_ELEMENTS, ionic, PEDONE_2006 } from "../../src/calculators/ionic.js";
import { Crystal } from "../../src/structure/crystal.js";
import { Lattice } from "../../src/structure/lattice.js";
import { minimumDistance } from "../../src/structure/neighbours.js";
import { perovskite, rocksalt } from "../../src/structure/prototypes.js";
import { randomCrystal } from "../../src/structure/random.js";
import { Rng } from "../../src/structure/random-source.js";
import { maxAbsDiff, relErr } from "../helpers/compare.js";

interface Case {
  name: string;
  cell: number[][];
  positions: number[][];
  symbols: string[];
  charges: number[];
  cutoff: number;
  lammps: { energy: number; forces: number[][]; stress: number[] };
}
const ref: { ionic: Case[] } = JSON.parse(readFileSync(new URL("../../data/reference/ewald.json", import.meta.url), "utf8"));
const crystalOf = (c: Case): Crystal => new Crystal({ cell: c.cell, positions: c.positions.flat(), numbers: c.symbols });

/** Strained so that dE/ds = V σ_ab: ε_aa = s, or ε_ab = ε_ba = s/2. */
function strained(crystal: Crystal, a: number, b: number, s: number): Crystal {
  const eps = new Float64Array(9);
  eps[3 * a + b] = a === b ? s : s / 2;
  eps[3 * b + a] = a === b ? s : s / 2;
  return crystal.strained(eps);
}

describe("ionic: parity with LAMMPS (the same model composed of coul/long, morse, lj/cut, buck)", () => {
  for (const c of ref.ionic) {
    it(c.name, () => {
      const crystal = crystalOf(c);
      const calc = new Ionic({ cutoff: c.cutoff });
      assert.deepEqual(Array.from(calc.charges(crystal)), c.charges);
      const r = calc.computeSync(crystal, { stress: true }); // default accuracy 1e-6
      const t = new Ionic({ cutoff: c.cutoff, accuracy: 1e-10 }).computeSync(crystal, { stress: true });
      const scale = Math.max(1, ...c.lammps.forces.flat().map(Math.abs));
      for (const [label, x, tolF, tolS] of [
        ["default accuracy", r, 5e-5, 1e-5],
        ["accuracy 1e-10", t, 2e-5, 2e-6],
      ] as const) {
        assert.ok(relErr(x.energy, c.lammps.energy) < 1e-5, `${label}: energy ${x.energy} vs ${c.lammps.energy}`);
        assert.ok(maxAbsDiff(x.forces!, c.lammps.forces.flat()) < tolF * scale, `${label}: forces`);
        assert.ok(maxAbsDiff(x.stress!, c.lammps.stress) < tolS, `${label}: stress ${x.stress} vs ${c.lammps.stress}`);
      }
    });
  }
});

describe("ionic: derivatives and the pairSum path", () => {
  const rng = new Rng(5);
  const lattice = Lattice.fromParameters(5.1, 5.6, 6.0, 81, 97, 106);
  const symbols = ["Mg", "Mg", "Al", "Si", "O", "O", "O", "O", "O", "O", "Na", "O"];
  const crystal = Crystal.fromFractional(lattice, Float64Array.from({ length: 3 * symbols.length }, () => rng.next()), symbols);
  const calc = new Ionic({ accuracy: 1e-12, alpha: 0.45, cutoff: 9 });
  const E = (c: Crystal): number => calc.computeSync(c, { forces: false }).energy;
  const r = calc.computeSync(crystal, { stress: true });

  it("forces are −∂E/∂r by central differences (random triclinic MgAlSiNa oxide)", () => {
    const h = 1e-5;
    for (let k = 0; k < 3 * crystal.natoms; k += 4) {
      const p = Float64Array.from(crystal.positions);
      p[k]! += h;
      const ep = E(crystal.withPositions(p));
      p[k]! -= 2 * h;
      const em = E(crystal.withPositions(p));
      const fd = -(ep - em) / (2 * h);
      assert.ok(Math.abs(fd - r.forces![k]!) < 1e-6 * Math.max(1, Math.abs(fd)), `component ${k}: ${r.forces![k]} vs ${fd}`);
    }
  });
  it("stress is (1/V) ∂E/∂ε by central differences", () => {
    const h = 1e-5;
    [[0, 0], [1, 1], [2, 2], [1, 2], [0, 2], [0, 1]].forEach(([a, b], v) => {
      const fd = (E(strained(crystal, a!, b!, h)) - E(strained(crystal, a!, b!, -h))) / (2 * h) / crystal.volume;
      assert.ok(Math.abs(fd - r.stress![v]!) < 2e-7 * Math.max(1, Math.abs(fd)), `Voigt ${v}: ${r.stress![v]} vs ${fd}`);
    });
  });
  it("total − Ewald(partial charges) = the short-range part through pairSum (energy, forces, stress)", () => {
    const e = ewald(crystal, calc.charges(crystal), { accuracy: 1e-12, alpha: 0.45, stress: true });
    const s = calc.shortRange(crystal, { stress: true });
    assert.ok(Math.abs(r.energy - e.energy - s.energy) < 1e-9 * Math.abs(s.energy) + 1e-9);
    assert.ok(maxAbsDiff(Float64Array.from(r.forces!, (x, k) => x - e.forces![k]!), s.forces!) < 1e-9);
    assert.ok(maxAbsDiff(Float64Array.from(r.stress!, (x, k) => x - e.stress![k]!), s.stress!) < 1e-11);
  });
  it("shift moves the energy only: forces are unchanged", () => {
    const a = new Ionic({ alpha: 0.45, cutoff: 9 }).computeSync(crystal);
    const b = new Ionic({ alpha: 0.45, cutoff: 9, shift: false }).computeSync(crystal);
    assert.ok(a.energy !== b.energy);
    assert.ok(maxAbsDiff(a.forces!, b.forces!) < 1e-12);
  });
  it("a supercell has n times the energy and the same forces", () => {
    const c = perovskite("Sr", "Ti", "O", 3.95);
    const rattled = c.withPositions(c.positions.map((x, k) => x + 0.07 * Math.sin(3 * k + 1)));
    const one = ionic({ accuracy: 1e-10 }).computeSync(rattled, { stress: true });
    const big = ionic({ accuracy: 1e-10 }).computeSync(rattled.supercell([2, 1, 2]), { stress: true });
    assert.ok(relErr(big.energy, 4 * one.energy) < 1e-9, `${big.energy} vs ${4 * one.energy}`);
    for (let a = 0; a < 5; a++) for (let d = 0; d < 3; d++) assert.ok(Math.abs(big.forces![3 * 4 * a + d]! - one.forces![3 * a + d]!) < 1e-7);
    assert.ok(maxAbsDiff(big.stress!, one.stress!) < 1e-8);
  });
});

describe("ionic: MACS random starts", () => {
  it("a 40-atom random SrTiO3 with 1 Å contacts has finite energy and forces", () => {
    const calc = ionic();
    for (const seed of [1, 2, 3]) {
      const c = randomCrystal({ composition: "SrTiO3", atoms: 40 }, seed);
      assert.ok(minimumDistance(c) >= 1 && minimumDistance(c) < 1.6);
      const r = calc.computeSync(c, { stress: true });
      assert.ok(Number.isFinite(r.energy));
      assert.ok(r.forces!.every(Number.isFinite) && r.stress!.every(Number.isFinite));
      const fmax = Math.max(...Array.from({ length: 40 }, (_, a) => Math.hypot(r.forces![3 * a]!, r.forces![3 * a + 1]!, r.forces![3 * a + 2]!)));
      assert.ok(fmax > 0.1 && fmax < 1e4, `fmax ${fmax}`);
    }
    assert.equal(calc.counts.forceCalls, 3);
  });
  it("even O on O at 0.5 Å stays finite: the C/r¹² wall", () => {
    const c = new Crystal({ cell: Lattice.cubic(6), positions: [0, 0, 0, 0.5, 0, 0, 3, 3, 3], numbers: ["O", "O", "Mg"] });
    const r = ionic().computeSync(c);
    assert.ok(Number.isFinite(r.energy) && r.energy > 1e3);
    assert.ok(r.forces![0]! < 0 && r.forces![3]! > 0, "the two O push apart");
  });
});

describe("ionic: parameters and bad input", () => {
  it("charges are 0.6 × formal, O −1.2; every table row has a positive a, r0 and a non-negative D, C", () => {
    const c = perovskite("Sr", "Ti", "O", 3.905);
    assert.deepEqual(Array.from(ionic().charges(c)), [1.2, 2.4, -1.2, -1.2, -1.2]);
    for (const [k, p] of Object.entries(PEDONE_2006)) {
      assert.ok(p.a > 0 && p.r0 > 0 && p.D >= 0 && p.C >= 0, k);
      assert.ok(Math.abs(p.q / 0.6 - Math.round(p.q / 0.6)) < 1e-12, k);
    }
    assert.ok(IONIC_ELEMENTS.includes("Fe") && !IONIC_ELEMENTS.includes("Fe3") && IONIC_ELEMENTS.length === 28);
  });
  it("iron: auto takes the oxidation state that makes the cell neutral; the user may pick", () => {
    const wustite = rocksalt("Fe", "O", 4.3);
    const hematiteLike = new Crystal({ cell: Lattice.cubic(5), positions: [0, 0, 0, 2.5, 0, 0, 0, 2.5, 0, 0, 0, 2.5, 2.5, 2.5, 2.5], numbers: ["Fe", "Fe", "O", "O", "O"] });
    assert.equal(ionic().ironState(wustite), 2);
    assert.equal(ionic().ironState(hematiteLike), 3);
    assert.equal(ionic({ iron: 3 }).ironState(wustite), 3);
    assert.equal(ionic({ iron: 2 }).charges(hematiteLike)[0], 1.2);
    assert.equal(ionic().charges(hematiteLike)[0], 1.8);
    assert.throws(() => new Ionic({ iron: 4 as never }), /iron/);
  });
  it("an element without parameters is a RangeError naming it and its atom", () => {
    const c = new Crystal({ cell: Lattice.cubic(5), positions: [0, 0, 0, 2.5, 2.5, 2.5, 1, 1, 1], numbers: ["O", "Y", "O"] });
    assert.throws(() => ionic().computeSync(c), (e: Error) => e instanceof RangeError && /element Y \(atom 1\)/.test(e.message));
    assert.throws(() => new Ionic({ cutoff: -1 }), /cutoff/);
  });
});
