/**
 * EMT: parity with ASE 3.22.1's EMT (data/reference/calculators.json, made by
 * scripts/make_calculator_reference.py), finite-difference checks of forces and stress, call counting
 * and bad input. Tolerances: energies 1e-6 eV, forces 1e-6 eV/Å, stress 1e-7 eV/Å³ (absolute).
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { EMT, emt } from "../../src/calculators/emt.js";
import { Crystal } from "../../src/structure/crystal.js";
import { Lattice } from "../../src/structure/lattice.js";
import { neighbourList } from "../../src/structure/neighbours.js";
import { Rng } from "../../src/structure/random-source.js";

interface Case {
  calculator: string;
  parameters: { asapCutoff?: boolean };
  name: string;
  cell: number[][];
  positions: number[][];
  numbers: number[];
  energy: number;
  energies: number[] | null;
  forces: number[][];
  stress: number[];
}

const reference: { versions: Record<string, string>; cases: Case[] } = JSON.parse(
  readFileSync(new URL("../../data/reference/calculators.json", import.meta.url), "utf8"),
);
const cases = reference.cases.filter((c) => c.calculator === "emt");
const crystalOf = (c: Case) => new Crystal({ cell: c.cell, positions: c.positions.flat(), numbers: c.numbers });

function near(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let k = 0; k < expected.length; k++) {
    const d = Math.abs(actual[k]! - expected[k]!);
    assert.ok(d <= tol, `${what}[${k}]: ${actual[k]} vs ${expected[k]} (off by ${d.toExponential(2)})`);
  }
}

/**
 * A random triclinic fcc-like cell: the 4-atom conventional cell with lengths a(1 ± 6 %) and angles
 * 90° ± 10°, repeated `repeat`, atoms drawn from `symbols` and rattled by 0.1 Å.
 */
function randomCell(rng: Rng, a: number, symbols: readonly string[], repeat: [number, number, number]): Crystal {
  const len = () => a * rng.uniform(0.94, 1.06);
  const ang = () => rng.uniform(80, 100);
  const lattice = Lattice.fromParameters(len(), len(), len(), ang(), ang(), ang());
  const fcc = [0, 0, 0, 0, 0.5, 0.5, 0.5, 0, 0.5, 0.5, 0.5, 0];
  const base = Crystal.fromFractional(lattice, fcc, ["Cu", "Cu", "Cu", "Cu"]).supercell(repeat);
  const positions = Float64Array.from(base.positions, (x) => x + rng.normal(0, 0.1));
  const numbers = Array.from({ length: base.natoms }, () => rng.choice(symbols));
  return new Crystal({ cell: base.lattice, positions, numbers });
}

/** The crystal with cell and atoms strained by (I + ε), ε symmetric: ε_kk = δ, or ε_kl = ε_lk = δ. */
function strain(c: Crystal, k: number, l: number, delta: number): Crystal {
  const eps = new Float64Array(9);
  eps[3 * k + l] = delta;
  eps[3 * l + k] = delta;
  return c.strained(eps);
}

/** Smallest |r - cutoff| over all pairs: the EMT energy steps by ~1e-9 eV where a pair crosses its cut-off. */
function clearance(c: Crystal, cutoff: number): number {
  const list = neighbourList(c, cutoff + 0.05);
  let min = Infinity;
  for (let p = 0; p < list.count; p++) min = Math.min(min, Math.abs(list.distances[p]! - cutoff));
  return min;
}

describe("EMT against ASE 3.22.1", () => {
  it("has reference cases from ASE 3.22.1, one of every element", () => {
    assert.equal(reference.versions.ase, "3.22.1");
    assert.ok(cases.length >= 7);
    assert.ok(cases.some((c) => c.parameters.asapCutoff));
    const z = new Set(cases.flatMap((c) => c.numbers));
    for (const s of [13, 29, 47, 79, 28, 46, 78, 1, 6, 7, 8]) assert.ok(z.has(s), `no reference structure with Z=${s}`);
  });

  const calc = emt();
  const asap = emt({ asapCutoff: true });
  for (const c of cases) {
    it(c.name, () => {
      const crystal = crystalOf(c);
      const r = (c.parameters.asapCutoff ? asap : calc).computeSync(crystal, { forces: true, stress: true });
      assert.ok(Math.abs(r.energy - c.energy) <= 1e-6, `energy ${r.energy} vs ${c.energy}`);
      near(r.energies!, c.energies!, 1e-6, "energies");
      near(r.forces!, c.forces.flat(), 1e-6, "forces");
      near(r.stress!, c.stress, 1e-7, "stress");
    });
  }

  it("the cut-off is ASE's rc_list: from Ag's s0 whatever the elements (asap_cutoff=False)", () => {
    // rc = β s0(Ag) (√3 + 2)/2 with s0 = 3.01 bohr, plus 0.5 Å.
    const rc = 1.809 * 3.01 * 0.5291772105638411 * 0.5 * (Math.sqrt(3) + 2);
    const cu = crystalOf(cases[0]!);
    assert.ok(Math.abs(calc.cutoff() - (rc + 0.5)) < 1e-12);
    assert.equal(calc.cutoff(cu), calc.cutoff());
    // Asap's: from the elements present (Cu, s0 = 2.67 bohr), 4.5 % beyond rc.
    const asap = new EMT({ asapCutoff: true });
    const rcCu = 1.809 * 2.67 * 0.5291772105638411 * 0.5 * (Math.sqrt(3) + 2);
    assert.ok(Math.abs(asap.cutoff(cu) - 1.045 * rcCu) < 1e-12);
  });
});

describe("EMT, invariances", () => {
  it("per-atom energies sum to the energy; a supercell has 8x the energy; wrapping changes nothing", () => {
    const c = crystalOf(cases[6]!); // 7 elements, triclinic
    const calc = emt();
    const r = calc.computeSync(c, { stress: true });
    const sum = r.energies!.reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(sum - r.energy) < 1e-10);
    const big = calc.computeSync(c.supercell([2, 2, 2]), { stress: true });
    assert.ok(Math.abs(big.energy - 8 * r.energy) < 1e-8, `${big.energy} vs 8 x ${r.energy}`);
    near(big.stress!, r.stress!, 1e-10, "supercell stress");
    const w = calc.computeSync(c.wrapped());
    near(w.forces!, r.forces!, 1e-10, "wrapped forces");
  });

  it("the perfect fcc lattice has no forces and cubic stress", () => {
    const c = Crystal.fromFractional(Lattice.cubic(3.61), [0, 0, 0, 0, 0.5, 0.5, 0.5, 0, 0.5, 0.5, 0.5, 0], ["Cu", "Cu", "Cu", "Cu"]);
    const r = emt().computeSync(c, { stress: true });
    for (const f of r.forces!) assert.ok(Math.abs(f) < 1e-12);
    const s = r.stress!;
    assert.ok(Math.abs(s[0]! - s[1]!) < 1e-12 && Math.abs(s[1]! - s[2]!) < 1e-12);
    for (const k of [3, 4, 5]) assert.ok(Math.abs(s[k]!) < 1e-12);
  });

  it("an atom with no neighbour in reach has ASE's isolated-atom energy, -E0", () => {
    const c = new Crystal({ cell: Lattice.cubic(12), positions: [1, 2, 3], numbers: ["Cu"] });
    const r = emt().computeSync(c, { stress: true });
    assert.equal(r.energy, 3.51);
    near(r.forces!, [0, 0, 0], 0, "forces");
    near(r.stress!, [0, 0, 0, 0, 0, 0], 0, "stress");
  });
});

describe("EMT, finite differences on random triclinic cells", () => {
  const h = 1e-5;
  const setups: { seed: number; symbols: string[]; a: number; repeat: [number, number, number] }[] = [
    { seed: 1, symbols: ["Cu"], a: 3.61, repeat: [2, 1, 1] },
    { seed: 2, symbols: ["Cu", "Au", "Ni"], a: 3.8, repeat: [1, 2, 1] },
    { seed: 3, symbols: ["Al", "Pd", "Pt", "Ag"], a: 4.0, repeat: [1, 1, 1] },
    { seed: 4, symbols: ["Cu", "Cu", "Cu", "O", "C"], a: 3.65, repeat: [1, 1, 2] },
  ];
  for (const { seed, symbols, a, repeat } of setups) {
    const crystal = randomCell(new Rng(seed), a, symbols, repeat);
    const calc = emt();
    it(`forces are -dE/dx (seed ${seed}, ${crystal.formula})`, () => {
      assert.ok(clearance(crystal, calc.cutoff()) > 1e-3, "a pair sits at the cut-off; pick another seed");
      const f = calc.computeSync(crystal).forces!;
      const x = crystal.positions;
      for (let k = 0; k < x.length; k++) {
        const p = Float64Array.from(x);
        p[k] = x[k]! + h;
        const ep = calc.computeSync(crystal.withPositions(p), { forces: false }).energy;
        p[k] = x[k]! - h;
        const em = calc.computeSync(crystal.withPositions(p), { forces: false }).energy;
        const fd = -(ep - em) / (2 * h);
        assert.ok(Math.abs(fd - f[k]!) < 1e-6, `F[${k}] = ${f[k]} vs finite difference ${fd}`);
      }
    });
    it(`stress is (1/V) dE/dε (seed ${seed})`, () => {
      const s = calc.computeSync(crystal, { forces: false, stress: true }).stress!;
      const v = crystal.volume;
      const voigt: [number, number][] = [[0, 0], [1, 1], [2, 2], [1, 2], [0, 2], [0, 1]];
      voigt.forEach(([k, l], n) => {
        const ep = calc.computeSync(strain(crystal, k, l, h), { forces: false }).energy;
        const em = calc.computeSync(strain(crystal, k, l, -h), { forces: false }).energy;
        const fd = (ep - em) / ((k === l ? 2 : 4) * h * v);
        assert.ok(Math.abs(fd - s[n]!) < 1e-7, `stress[${n}] = ${s[n]} vs finite difference ${fd}`);
      });
    });
  }
});

describe("EMT, counting and bad input", () => {
  const c = crystalOf(cases[4]!);

  it("counts calls and force calls", async () => {
    const calc = emt();
    assert.deepEqual({ ...calc.counts }, { calls: 0, forceCalls: 0 });
    await calc.compute(c);
    await calc.compute(c, { forces: false });
    calc.computeSync(c, { forces: false, stress: true });
    calc.computeSync(c, { stress: true });
    assert.deepEqual({ ...calc.counts }, { calls: 4, forceCalls: 2 });
    calc.resetCounts();
    assert.deepEqual({ ...calc.counts }, { calls: 0, forceCalls: 0 });
  });

  it("returns only what was asked, energy always", async () => {
    const r = await emt().compute(c, { forces: false });
    assert.ok(Number.isFinite(r.energy));
    assert.equal(r.forces, undefined);
    assert.equal(r.stress, undefined);
    const s = await emt().compute(c, { forces: false, stress: true });
    assert.equal(s.forces, undefined);
    assert.equal(s.stress!.length, 6);
  });

  it("a NaN position never gets in: Crystal refuses it, naming the atom", () => {
    const p = Float64Array.from(c.positions);
    p[3 * 2 + 1] = Number.NaN;
    assert.throws(() => c.withPositions(p), /atom 2 has a non-finite coordinate/);
  });

  it("refuses an element EMT does not cover, naming it and the atom", () => {
    const numbers = Array.from(c.numbers);
    numbers[5] = 26;
    const fe = new Crystal({ cell: c.lattice, positions: c.positions, numbers });
    const calc = emt();
    assert.throws(() => calc.computeSync(fe), (e: unknown) => {
      assert.ok(e instanceof RangeError);
      assert.match(e.message, /Fe \(atom 5\)/);
      return true;
    });
    assert.throws(() => new EMT({ asapCutoff: true }).computeSync(fe), /Fe \(atom 5\)/);
  });
});
