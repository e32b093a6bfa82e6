import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { birchMurnaghanEnergy, bulkModulusSeries, EosError, fitBirchMurnaghan } from "../../src/calculators/eos.js";
import { EV_PER_A3_TO_GPA } from "../../src/structure/units.js";

interface Case {
  name: string;
  volumes: number[];
  energies: number[];
  ase: { v0: number; e0: number; b0: number; b0GPa: number; bp: number; rms: number };
}
// Written by scripts/make_eos_reference.py (ASE 3.22.1, EquationOfState(..., eos="birchmurnaghan")).
const reference = JSON.parse(readFileSync(new URL("./fixtures/eos-reference.json", import.meta.url), "utf8")) as { cases: Case[] };

const close = (actual: number, expected: number, rel: number, what: string): void =>
  assert.ok(Math.abs(actual - expected) <= rel * Math.abs(expected), `${what}: ${actual} vs ${expected} (rel ${rel})`);

for (const c of reference.cases) {
  test(`fitBirchMurnaghan agrees with ASE: ${c.name}`, () => {
    const fit = fitBirchMurnaghan(c.volumes, c.energies);
    close(fit.v0, c.ase.v0, 1e-6, "v0");
    close(fit.e0, c.ase.e0, 1e-8, "e0");
    close(fit.b0, c.ase.b0, 1e-4, "b0");
    close(fit.b0GPa, c.ase.b0GPa, 1e-4, "b0GPa");
    close(fit.bp, c.ase.bp, 1e-3, "bp");
    // Least squares: never worse than ASE's optimum.
    assert.ok(fit.rms <= c.ase.rms * (1 + 1e-6) + 1e-12, `rms ${fit.rms} vs ASE ${c.ase.rms}`);
  });
}

test("fitBirchMurnaghan recovers exact parameters and rejects too few points", () => {
  const p = { v0: 40.9, e0: -10.85, b0: 88 / EV_PER_A3_TO_GPA, bp: 4.2 };
  const v = [36, 38, 40, 41, 42, 44, 46];
  const fit = fitBirchMurnaghan(v, v.map((x) => birchMurnaghanEnergy(x, p)));
  close(fit.v0, p.v0, 1e-9, "v0");
  close(fit.b0GPa, 88, 1e-7, "b0GPa");
  close(fit.bp, 4.2, 1e-6, "bp");
  assert.throws(() => fitBirchMurnaghan([1, 2, 3], [0, -1, 0]), EosError);
  assert.throws(() => fitBirchMurnaghan([1, 2, 3, 4], [0, -1, Number.NaN, 1]), /energy 2/);
});

test("bulkModulusSeries brackets a far minimum and fits a window centred on it", async () => {
  const p = { v0: 50, e0: -3, b0: 100 / EV_PER_A3_TO_GPA, bp: 4.5 };
  const calls: number[] = [];
  const energyAt = async (v: number): Promise<number> => {
    calls.push(v);
    return birchMurnaghanEnergy(v, p);
  };
  // The guess is 25 % too small: the minimum is far outside the first three points.
  const series = await bulkModulusSeries(energyAt, 40, { step: 0.02, points: 7 });
  close(series.fit.v0, 50, 1e-6, "v0");
  close(series.fit.b0GPa, 100, 1e-5, "B");
  assert.equal(series.evaluations, calls.length);
  assert.ok(series.evaluations <= 14, `${series.evaluations} energies`);
  const vs = series.fitted.volumes;
  assert.equal(vs.length, 7);
  // Centred: the fitted minimum lies within one step of the window's middle point.
  assert.ok(Math.abs(Math.log(series.fit.v0 / vs[3]!)) <= Math.log(1.02), `v0 ${series.fit.v0}, window ${vs[0]}–${vs[6]}`);
  // A good guess costs exactly one window.
  calls.length = 0;
  const near = await bulkModulusSeries(energyAt, 50.3);
  assert.equal(near.evaluations, 7);
});

test("bulkModulusSeries gives up with an EosError when no minimum is in reach", async () => {
  // E = -V: always falling toward larger volumes.
  await assert.rejects(bulkModulusSeries(async (v) => -v, 10, { maxEvaluations: 8 }), (e: unknown) => e instanceof EosError && /larger volumes/.test(e.message));
  // Errors of the energy function propagate unchanged.
  await assert.rejects(bulkModulusSeries(async () => { throw new Error("scf failed"); }, 10), /scf failed/);
  const ac = new AbortController();
  ac.abort(new Error("stopped"));
  await assert.rejects(bulkModulusSeries(async (v) => (v - 10) ** 2, 10, { signal: ac.signal }), /stopped/);
});
