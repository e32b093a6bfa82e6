/**
 * Ewald summation: parity with pymatgen's EwaldSummation and LAMMPS's coul/long + kspace ewald
 * (data/reference/ewald.json, from scripts/make_ewald_reference.py), finite differences, invariances.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { COULOMB_CONSTANT, Ewald, erfc, erfcWithExp, ewald, ewaldParameters } from "../../src/calculators/ewald.js";
import { forEachPair } from "../../src/structure/cell-list.js";
import { Crystal } from "../../src/structure/crystal.js";
import { Lattice } from "../../src/structure/lattice.js";
import { neighbourList } from "../../src/structure/neighbours.js";
import { perovskite } from "../../src/structure/prototypes.js";
import { Rng } from "../../src/structure/random-source.js";
import { maxAbsDiff, relErr } from "../helpers/compare.js";

interface Case {
  name: string;
  cell: number[][];
  positions: number[][];
  symbols: string[];
  charges: number[];
  pymatgen: { energy: number; forces: number[][] };
  lammps: { energy: number; forces: number[][]; stress: number[]; g_ewald: number };
}
const ref: { erfc: [number, number][]; ewald: Case[] } = JSON.parse(
  readFileSync(new URL("../../data/reference/ewald.json", import.meta.url), "utf8"),
);
const crystalOf = (c: Case): Crystal => new Crystal({ cell: c.cell, positions: c.positions.flat(), numbers: c.symbols });

/** A random triclinic cell of `n` atoms, alternating charges ±1 (plus `extra` on atom 0), atoms ≥ 1.2 Å apart. */
function randomCharged(n: number, seed: number, extra = 0): { crystal: Crystal; charges: number[] } {
  const rng = new Rng(seed);
  const lattice = Lattice.fromParameters(rng.uniform(4, 6), rng.uniform(4, 6), rng.uniform(4, 6), rng.uniform(70, 110), rng.uniform(70, 110), rng.uniform(70, 110));
  for (;;) {
    const frac = Float64Array.from({ length: 3 * n }, () => rng.next());
    const crystal = Crystal.fromFractional(lattice, frac, new Array(n).fill("Na"));
    if (neighbourList(crystal, 1.2).count === 0) {
      const charges = Array.from({ length: n }, (_, k) => (k % 2 === 0 ? 1 : -1) * (1 + 0.1 * k) + (k === 0 ? extra : 0));
      // neutral unless `extra`: rescale the negative ones
      const pos = charges.filter((q) => q > 0).reduce((a, b) => a + b, 0) - extra;
      const neg = -charges.filter((q) => q < 0).reduce((a, b) => a + b, 0);
      return { crystal, charges: charges.map((q) => (q < 0 ? (q * pos) / neg : q)) };
    }
  }
}

/** Strained so that dE/ds = V σ_ab: ε_aa = s, or ε_ab = ε_ba = s/2. */
function strained(crystal: Crystal, a: number, b: number, s: number): Crystal {
  const eps = new Float64Array(9);
  eps[3 * a + b] = a === b ? s : s / 2;
  eps[3 * b + a] = a === b ? s : s / 2;
  return crystal.strained(eps);
}
const VOIGT: [number, number][] = [
  [0, 0],
  [1, 1],
  [2, 2],
  [1, 2],
  [0, 2],
  [0, 1],
];

describe("erfc", () => {
  it("matches the C library's erfc (Python math.erfc) to 2e-15 relative over the real line", () => {
    for (const [x, want] of ref.erfc) {
      const got = erfc(x);
      assert.ok(Math.abs(got - want) <= 2e-15 * Math.abs(want), `erfc(${x}) = ${got}, want ${want}`);
    }
  });
  it("the hot-loop form agrees with erfc", () => {
    for (let x = 0; x < 8; x += 0.0137) assert.ok(Math.abs(erfcWithExp(x, Math.exp(-x * x)) - erfc(x)) <= 4e-15 * erfc(x), `x = ${x}`);
  });
  it("Coulomb's constant is e²/(4πε0) from CODATA 2018 (pymatgen's value)", () => {
    assert.ok(Math.abs(COULOMB_CONSTANT - 14.399645478425668) < 1e-13);
  });
});

describe("ewald: parity with pymatgen and LAMMPS", () => {
  for (const c of ref.ewald) {
    it(c.name, () => {
      const crystal = crystalOf(c);
      const tight = ewald(crystal, c.charges, { accuracy: 1e-10, stress: true });
      const loose = ewald(crystal, c.charges, { stress: true }); // default accuracy 1e-6
      assert.ok(relErr(tight.energy, c.pymatgen.energy) < 1e-9, `tight vs pymatgen: ${tight.energy} vs ${c.pymatgen.energy}`);
      assert.ok(relErr(loose.energy, c.pymatgen.energy) < 1e-5, `default vs pymatgen: ${loose.energy}`);
      assert.ok(relErr(tight.energy, c.lammps.energy) < 1e-5, `vs LAMMPS: ${tight.energy} vs ${c.lammps.energy}`);
      assert.ok(relErr(loose.energy, c.lammps.energy) < 1e-5);
      assert.ok(maxAbsDiff(tight.forces!, c.pymatgen.forces.flat()) < 1e-7, "forces vs pymatgen");
      assert.ok(maxAbsDiff(tight.forces!, c.lammps.forces.flat()) < 2e-5, "forces vs LAMMPS");
      assert.ok(maxAbsDiff(loose.forces!, c.pymatgen.forces.flat()) < 1e-4, "default-accuracy forces vs pymatgen");
      // LAMMPS (Sep 2021) leaves the neutralising background out of its virial: add it back.
      const Q = c.charges.reduce((a, b) => a + b, 0);
      const V = crystal.volume;
      const bg = (COULOMB_CONSTANT * Math.PI * Q * Q) / (2 * V * V * c.lammps.g_ewald ** 2);
      const lmpStress = c.lammps.stress.map((s, k) => (k < 3 ? s + bg : s));
      assert.ok(maxAbsDiff(tight.stress!, lmpStress) < 2e-6, `stress vs LAMMPS: ${tight.stress} vs ${lmpStress}`);
      assert.ok(maxAbsDiff(loose.stress!, lmpStress) < 2e-5);
    });
  }
});

describe("ewald: derivatives", () => {
  const cases = [
    { name: "random triclinic, neutral, 10 atoms", ...randomCharged(10, 11) },
    { name: "random triclinic, net charge +0.7, 9 atoms", ...randomCharged(9, 12, 0.7) },
  ];
  for (const { name, crystal, charges } of cases) {
    const opts = { accuracy: 1e-12, alpha: 0.55 };
    const E = (c: Crystal): number => ewald(c, charges, { ...opts, forces: false }).energy;
    const r = ewald(crystal, charges, { ...opts, stress: true });
    it(`forces are −∂E/∂r by central differences (${name})`, () => {
      const h = 1e-5;
      for (const k of [0, 1, 5, 13, 3 * crystal.natoms - 1]) {
        const p = Float64Array.from(crystal.positions);
        p[k]! += h;
        const ep = E(crystal.withPositions(p));
        p[k]! -= 2 * h;
        const em = E(crystal.withPositions(p));
        const fd = -(ep - em) / (2 * h);
        assert.ok(Math.abs(fd - r.forces![k]!) < 1e-6 * Math.max(1, Math.abs(fd)), `component ${k}: ${r.forces![k]} vs ${fd}`);
      }
    });
    it(`stress is (1/V) ∂E/∂ε by central differences (${name})`, () => {
      const h = 1e-5;
      VOIGT.forEach(([a, b], v) => {
        const fd = (E(strained(crystal, a, b, h)) - E(strained(crystal, a, b, -h))) / (2 * h) / crystal.volume;
        assert.ok(Math.abs(fd - r.stress![v]!) < 1e-7, `Voigt ${v}: ${r.stress![v]} vs ${fd}`);
      });
    });
  }
  it("forces sum to zero", () => {
    const { crystal, charges } = randomCharged(12, 13);
    const f = ewald(crystal, charges).forces!;
    for (let d = 0; d < 3; d++) {
      let s = 0;
      for (let a = 0; a < crystal.natoms; a++) s += f[3 * a + d]!;
      assert.ok(Math.abs(s) < 1e-9);
    }
  });
});

describe("ewald: invariances", () => {
  it("the converged energy does not depend on α (neutral and charged cells)", () => {
    for (const extra of [0, -0.4]) {
      const { crystal, charges } = randomCharged(8, 21, extra);
      const energies = [0.3, 0.5, 0.8, 1.2].map((alpha) => ewald(crystal, charges, { alpha, accuracy: 1e-13, forces: false }).energy);
      for (const e of energies) assert.ok(relErr(e, energies[0]!) < 1e-11, `${energies}`);
    }
  });
  it("a supercell has n times the energy, the same forces and the same stress", () => {
    const { crystal, charges } = randomCharged(6, 22);
    const one = ewald(crystal, charges, { accuracy: 1e-12, stress: true });
    const P = [
      [2, 0, 0],
      [1, 1, 0],
      [0, -1, 2],
    ];
    const sc = crystal.supercell(P); // 4 copies, ordered by atom, then image
    const q = charges.flatMap((x) => [x, x, x, x]);
    const big = ewald(sc, q, { accuracy: 1e-12, stress: true });
    assert.ok(relErr(big.energy, 4 * one.energy) < 1e-11, `${big.energy} vs ${4 * one.energy}`);
    for (let a = 0; a < crystal.natoms; a++)
      for (let t = 0; t < 4; t++)
        for (let d = 0; d < 3; d++) assert.ok(Math.abs(big.forces![3 * (4 * a + t) + d]! - one.forces![3 * a + d]!) < 1e-9);
    assert.ok(maxAbsDiff(big.stress!, one.stress!) < 1e-10);
  });
  it("moving atoms by lattice vectors or translating everything changes nothing", () => {
    const { crystal, charges } = randomCharged(7, 23);
    const a = ewald(crystal, charges, { accuracy: 1e-12 });
    const m = crystal.cell;
    const p = Float64Array.from(crystal.positions, (x, k) => x + 0.37 * [1, -2, 0.5][k % 3]!);
    for (let d = 0; d < 3; d++) p[d]! += 2 * m[d]! - m[3 + d]! + 3 * m[6 + d]!;
    const b = ewald(crystal.withPositions(p), charges, { accuracy: 1e-12 });
    assert.ok(relErr(b.energy, a.energy) < 1e-12);
    assert.ok(maxAbsDiff(b.forces!, a.forces!) < 1e-10);
  });
});

describe("ewald: parameters and errors", () => {
  it("accuracy sets rcut = √p/α and kcut = 2α√p; overrides are kept", () => {
    const c = perovskite("Sr", "Ti", "O", 3.905);
    const p = ewaldParameters(c, { accuracy: 1e-8, alpha: 0.5 });
    const sp = Math.sqrt(Math.log(1e8));
    assert.ok(Math.abs(p.rcut - sp / 0.5) < 1e-12 && Math.abs(p.kcut - sp) < 1e-12);
    const q = ewaldParameters(c, { accuracy: 1e-8, rcut: 8 });
    assert.ok(Math.abs(q.alpha - sp / 8) < 1e-12 && q.rcut === 8);
    assert.equal(ewaldParameters(c, { kcut: 3 }).kcut, 3);
    assert.throws(() => ewaldParameters(c, { accuracy: 2 }), RangeError);
    assert.throws(() => ewaldParameters(c, { alpha: -1 }), /alpha/);
  });
  it("refuses a wrong number of charges or a non-finite charge", () => {
    const c = perovskite("Sr", "Ti", "O", 3.905);
    assert.throws(() => ewald(c, [2, 4, -2]), /5 atoms need 5 charges/);
    assert.throws(() => ewald(c, [2, 4, -2, NaN, -2]), /atom 3/);
  });
  it("Ewald calculator: per-element charges, and an element without one is named with its atom", () => {
    const c = perovskite("Sr", "Ti", "O", 3.905);
    const calc = new Ewald({ charges: { Sr: 2, Ti: 4, O: -2 }, accuracy: 1e-10 });
    const r = calc.computeSync(c, { stress: true });
    assert.ok(relErr(r.energy, ref.ewald[0]!.pymatgen.energy) < 1e-9);
    assert.equal(calc.counts.forceCalls, 1);
    assert.throws(() => new Ewald({ charges: { Sr: 2, O: -2 } }).computeSync(c), /element Ti \(atom 1\)/);
  });
});

describe("forEachPair", () => {
  it("visits each pair within the cut-off once, as the full neighbour list does twice", () => {
    for (const [seed, cutoff] of [
      [31, 3.5],
      [32, 11],
      [33, 0.9],
    ] as const) {
      const { crystal } = randomCharged(9, seed);
      const full = neighbourList(crystal, cutoff);
      const want = Array.from(full.distances).sort((a, b) => a - b);
      const got: number[] = [];
      forEachPair(crystal, cutoff, (b) => {
        for (let p = 0; p < b.count; p++) got.push(Math.sqrt(b.r2[p]!), Math.sqrt(b.r2[p]!));
      });
      got.sort((a, b) => a - b);
      assert.equal(got.length, want.length, `cutoff ${cutoff}`);
      for (let k = 0; k < want.length; k++) assert.ok(Math.abs(got[k]! - want[k]!) < 1e-9);
    }
  });
});
