/**
 * Lennard-Jones and Morse: parity with ASE 3.22.1's LennardJones and MorsePotential
 * (data/reference/calculators.json, made by scripts/make_calculator_reference.py), finite-difference
 * checks of forces and stress, call counting and bad input. Tolerances: energies 1e-6 eV, forces
 * 1e-6 eV/Å, stress 1e-7 eV/Å³ (absolute). ASE's MorsePotential has no stress and no per-atom
 * energies: its reference stress is central differences of ASE's energy (good to ~1e-10 eV/Å³).
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import type { EmbeddedCalculator } from "../../src/calculators/calculator.js";
import { lj, type LennardJonesOptions } from "../../src/calculators/lj.js";
import { morse, type MorseOptions } from "../../src/calculators/morse.js";
import { Crystal } from "../../src/structure/crystal.js";
import { Lattice } from "../../src/structure/lattice.js";
import { Rng } from "../../src/structure/random-source.js";

interface Case {
  calculator: string;
  parameters: Record<string, number | boolean>;
  name: string;
  cell: number[][];
  positions: number[][];
  numbers: number[];
  energy: number;
  energies: number[] | null;
  forces: number[][];
  stress: number[];
  stressMethod: string;
}

const reference: { versions: Record<string, string>; cases: Case[] } = JSON.parse(
  readFileSync(new URL("../../data/reference/calculators.json", import.meta.url), "utf8"),
);
const crystalOf = (c: Case) => new Crystal({ cell: c.cell, positions: c.positions.flat(), numbers: c.numbers });

function near(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let k = 0; k < expected.length; k++) {
    const d = Math.abs(actual[k]! - expected[k]!);
    assert.ok(d <= tol, `${what}[${k}]: ${actual[k]} vs ${expected[k]} (off by ${d.toExponential(2)})`);
  }
}

/** The calculator a reference case was made with, its parameters passed as ASE had them. */
function calculatorOf(c: Case): EmbeddedCalculator {
  if (c.calculator === "lj") return lj(c.parameters as LennardJonesOptions);
  if (c.calculator === "morse") return morse(c.parameters as MorseOptions);
  throw new Error(`no pair calculator ${c.calculator}`);
}

/**
 * A random triclinic fcc-like cell: the 4-atom conventional cell with lengths a(1 ± 6 %) and angles
 * 90° ± 10°, repeated `repeat`, rattled by `rattle` Å.
 */
function randomCell(rng: Rng, a: number, symbol: string, repeat: [number, number, number], rattle: number): Crystal {
  const len = () => a * rng.uniform(0.94, 1.06);
  const ang = () => rng.uniform(80, 100);
  const lattice = Lattice.fromParameters(len(), len(), len(), ang(), ang(), ang());
  const fcc = [0, 0, 0, 0, 0.5, 0.5, 0.5, 0, 0.5, 0.5, 0.5, 0];
  const base = Crystal.fromFractional(lattice, fcc, [symbol, symbol, symbol, symbol]).supercell(repeat);
  return base.withPositions(Float64Array.from(base.positions, (x) => x + rng.normal(0, rattle)));
}

/** The crystal with cell and atoms strained by (I + ε), ε symmetric: ε_kk = δ, or ε_kl = ε_lk = δ. */
function strain(c: Crystal, k: number, l: number, delta: number): Crystal {
  const eps = new Float64Array(9);
  eps[3 * k + l] = delta;
  eps[3 * l + k] = delta;
  return c.strained(eps);
}

/** Central differences of the energy: forces against -dE/dx, stress against (1/V) dE/dε. */
function checkFiniteDifferences(calc: EmbeddedCalculator, crystal: Crystal, h: number, forceTol: number, stressTol: number): void {
  const r = calc.computeSync(crystal, { stress: true });
  const energy = (c: Crystal) => calc.computeSync(c, { forces: false }).energy;
  const x = crystal.positions;
  for (let k = 0; k < x.length; k++) {
    const p = Float64Array.from(x);
    p[k] = x[k]! + h;
    const ep = energy(crystal.withPositions(p));
    p[k] = x[k]! - h;
    const em = energy(crystal.withPositions(p));
    const fd = -(ep - em) / (2 * h);
    assert.ok(Math.abs(fd - r.forces![k]!) < forceTol, `F[${k}] = ${r.forces![k]} vs finite difference ${fd}`);
  }
  const v = crystal.volume;
  const voigt: [number, number][] = [[0, 0], [1, 1], [2, 2], [1, 2], [0, 2], [0, 1]];
  voigt.forEach(([k, l], n) => {
    const fd = (energy(strain(crystal, k, l, h)) - energy(strain(crystal, k, l, -h))) / ((k === l ? 2 : 4) * h * v);
    assert.ok(Math.abs(fd - r.stress![n]!) < stressTol, `stress[${n}] = ${r.stress![n]} vs finite difference ${fd}`);
  });
}

describe("pair models against ASE 3.22.1", () => {
  const cases = reference.cases.filter((c) => c.calculator === "lj" || c.calculator === "morse");

  it("has LJ (plain and smooth) and Morse reference cases from ASE 3.22.1", () => {
    assert.equal(reference.versions.ase, "3.22.1");
    assert.ok(cases.some((c) => c.calculator === "lj" && c.parameters.smooth === true));
    assert.ok(cases.some((c) => c.calculator === "lj" && c.parameters.smooth === undefined));
    assert.ok(cases.some((c) => c.calculator === "morse"));
  });

  for (const c of cases) {
    it(`${c.calculator} ${JSON.stringify(c.parameters)}: ${c.name}`, () => {
      const r = calculatorOf(c).computeSync(crystalOf(c), { forces: true, stress: true });
      assert.ok(Math.abs(r.energy - c.energy) <= 1e-6, `energy ${r.energy} vs ${c.energy}`);
      if (c.energies) near(r.energies!, c.energies, 1e-6, "energies");
      near(r.forces!, c.forces.flat(), 1e-6, "forces");
      near(r.stress!, c.stress, 1e-7, `stress (${c.stressMethod})`);
    });
  }

  // ASE 3.22.1 (ase/calculators/lj.py): `ro = 0.66 * rc` when not given; src/calculators/lj.ts has 2/3 rc.
  it("LJ's default onset of the smooth cut-off is ASE's, 0.66 rc", () => {
    const c = cases.find((x) => x.calculator === "lj" && x.parameters.smooth === true)!;
    const { ro: _ro, ...defaults } = c.parameters;
    const r = lj(defaults as LennardJonesOptions).computeSync(crystalOf(c));
    assert.ok(Math.abs(r.energy - c.energy) <= 1e-6, `energy ${r.energy} vs ASE's ${c.energy}`);
  });
});

describe("pair models, finite differences on random triclinic cells", () => {
  const ar = { sigma: 3.4, epsilon: 0.0104, rc: 10.2 };
  const cu = { epsilon: 0.34, rho0: 4.0, r0: 2.55 };
  const setups: { name: string; calc: () => EmbeddedCalculator; crystal: Crystal }[] = [
    { name: "lj, shifted", calc: () => lj(ar), crystal: randomCell(new Rng(11), 5.26, "Ar", [1, 1, 1], 0.15) },
    { name: "lj, shifted", calc: () => lj(ar), crystal: randomCell(new Rng(12), 5.26, "Ar", [2, 1, 1], 0.15) },
    { name: "lj, smooth", calc: () => lj({ ...ar, smooth: true }), crystal: randomCell(new Rng(13), 5.26, "Ar", [1, 2, 1], 0.15) },
    { name: "lj, smooth, ro 7", calc: () => lj({ ...ar, smooth: true, ro: 7 }), crystal: randomCell(new Rng(14), 5.26, "Ar", [1, 1, 1], 0.2) },
    { name: "lj, default units", calc: () => lj(), crystal: randomCell(new Rng(15), 1.55, "Ar", [1, 1, 2], 0.04) },
    { name: "morse", calc: () => morse(cu), crystal: randomCell(new Rng(21), 3.61, "Cu", [1, 1, 1], 0.1) },
    { name: "morse", calc: () => morse(cu), crystal: randomCell(new Rng(22), 3.61, "Cu", [2, 1, 1], 0.1) },
    { name: "morse, defaults", calc: () => morse(), crystal: randomCell(new Rng(23), 1.45, "Cu", [1, 2, 1], 0.03) },
  ];
  for (const { name, calc, crystal } of setups) {
    it(`${name}: forces and stress (${crystal.natoms} atoms, ${crystal.toString()})`, () => {
      checkFiniteDifferences(calc(), crystal, 1e-5, 1e-6, 1e-7);
    });
  }
});

describe("pair models, counting and bad input", () => {
  const c = randomCell(new Rng(31), 3.61, "Cu", [1, 1, 1], 0.1);

  for (const make of [() => lj({ sigma: 2.3, epsilon: 0.4 }), () => morse({ r0: 2.55, rho0: 4 })]) {
    it(`${make().name} counts calls and force calls`, async () => {
      const calc = make();
      assert.deepEqual({ ...calc.counts }, { calls: 0, forceCalls: 0 });
      await calc.compute(c);
      await calc.compute(c, { forces: false });
      calc.computeSync(c, { forces: false, stress: true });
      calc.computeSync(c, { stress: true });
      assert.deepEqual({ ...calc.counts }, { calls: 4, forceCalls: 2 });
      calc.resetCounts();
      assert.deepEqual({ ...calc.counts }, { calls: 0, forceCalls: 0 });
    });
  }

  it("a NaN position never gets in: Crystal refuses it, naming the atom", () => {
    const p = Float64Array.from(c.positions);
    p[3 * 3] = Number.NaN;
    assert.throws(() => c.withPositions(p), /atom 3 has a non-finite coordinate/);
    assert.throws(() => new Crystal({ cell: c.lattice, positions: p, numbers: c.numbers }), RangeError);
  });

  it("refuses non-positive parameters, naming them", () => {
    assert.throws(() => lj({ sigma: -1 }), /sigma/);
    assert.throws(() => morse({ r0: Number.NaN }), /r0/);
    assert.throws(() => lj({ rc: 3, ro: 4, smooth: true }), /ro/);
  });
});
