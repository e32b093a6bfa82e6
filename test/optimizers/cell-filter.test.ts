/**
 * FrechetCellFilter: its forces are minus the gradient of its energy in the generalised
 * coordinates (cell rows included), and the matrix functions behind it.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { EMT } from "../../src/calculators/emt.js";
import { absNewtonStep, expm, expmFrechet, FrechetCellFilter, symmetricEigen } from "../../src/optimizers/index.js";
import { Crystal } from "../../src/structure/crystal.js";
import { Lattice } from "../../src/structure/lattice.js";

/** Cu fcc 2x2x2 (32 atoms), sheared and rattled by a fixed pattern. */
function copper(): Crystal {
  const base = [
    [0, 0, 0],
    [0.5, 0.5, 0],
    [0.5, 0, 0.5],
    [0, 0.5, 0.5],
  ];
  const frac: number[] = [];
  for (let i = 0; i < 2; i++)
    for (let j = 0; j < 2; j++)
      for (let k = 0; k < 2; k++) for (const b of base) frac.push((b[0]! + i) / 2, (b[1]! + j) / 2, (b[2]! + k) / 2);
  const cell = new Lattice([7.4, 0.1, 0, 0.05, 7.1, 0.12, 0.1, 0, 7.3]);
  const c = Crystal.fromFractional(cell, frac, new Array(32).fill("Cu"));
  return c.withPositions(c.positions.map((x, k) => x + 0.05 * Math.sin(2.3 * k)));
}

const maxAbs = (a: ArrayLike<number>): number => Math.max(...Array.from(a, Math.abs));

describe("FrechetCellFilter", () => {
  it("starts at the crystal: positions as they are, log F = 0", async () => {
    const c = copper();
    const f = new FrechetCellFilter(c, new EMT());
    assert.equal(f.rows, 35);
    assert.ok(f.crystal.equals(c, 1e-14));
    assert.deepEqual(Array.from(f.getPositions().subarray(96)), new Array(9).fill(0));
    assert.equal(f.expCellFactor, 32);
  });

  it("has forces that are minus the gradient of its energy, cell rows included (central differences)", async () => {
    const f = new FrechetCellFilter(copper(), new EMT(), { scalarPressure: 0.01 });
    // Away from F = I, with a non-symmetric log F, so that the Fréchet derivative matters.
    const x0 = f.getPositions();
    const U = [0.02, 0.01, -0.015, 0.005, -0.01, 0.02, 0.012, -0.004, 0.03];
    U.forEach((u, k) => (x0[96 + k] = u * f.expCellFactor));
    f.setPositions(x0);
    const { forces } = await f.evaluate();
    const h = 1e-5;
    const energyAt = async (k: number, d: number): Promise<number> => {
      const x = x0.slice();
      x[k]! += d;
      f.setPositions(x);
      return (await f.evaluate()).energy;
    };
    for (const k of [0, 1, 2, 40, 77, 95, 96, 97, 98, 99, 100, 101, 102, 103, 104]) {
      const numeric = -((await energyAt(k, h)) - (await energyAt(k, -h))) / (2 * h);
      assert.ok(Math.abs(numeric - forces[k]!) < 1e-6 + 1e-5 * Math.abs(numeric), `coordinate ${k}: ${forces[k]} vs ${numeric}`);
    }
  });

  it("maps log F back to the cell: cell = cell₀ exp(U)ᵀ, atoms carried along", () => {
    const c = copper();
    const f = new FrechetCellFilter(c, new EMT(), { expCellFactor: 1 });
    const x = f.getPositions();
    x[96] = Math.log(1.1); // stretch x by 10 %
    f.setPositions(x);
    const cell = f.crystal.cell;
    for (let i = 0; i < 3; i++) assert.ok(Math.abs(cell[3 * i]! - 1.1 * c.cell[3 * i]!) < 1e-12);
    assert.ok(Math.abs(f.crystal.positions[3]! - 1.1 * c.positions[3]!) < 1e-12);
    assert.ok(Math.abs(f.crystal.positions[4]! - c.positions[4]!) < 1e-12);
  });

  it("names a non-finite cell coordinate", () => {
    const f = new FrechetCellFilter(copper(), new EMT());
    const x = f.getPositions();
    x[100] = NaN;
    assert.throws(() => f.setPositions(x), /cell row 1 would move to a non-finite position/);
  });

  it("takes a Voigt or 3x3 strain mask, and refuses other lengths", () => {
    assert.deepEqual(Array.from(new FrechetCellFilter(copper(), new EMT(), { mask: [1, 1, 1, 0, 0, 0] }).mask), [1, 0, 0, 0, 1, 0, 0, 0, 1]);
    assert.throws(() => new FrechetCellFilter(copper(), new EMT(), { mask: [1, 1] }), /mask must have 6/);
  });
});

describe("matrix functions", () => {
  it("expm: diagonal, rotation generator, and a large norm", () => {
    const d = expm([1, 0, 0, 0, -2, 0, 0, 0, 0.5], 3);
    assert.ok(maxAbs(d.map((v, k) => v - [Math.E, 0, 0, 0, Math.exp(-2), 0, 0, 0, Math.exp(0.5)][k]!)) < 1e-14);
    const t = 2.5;
    const r = expm([0, -t, 0, t, 0, 0, 0, 0, 0], 3);
    const rot = [Math.cos(t), -Math.sin(t), 0, Math.sin(t), Math.cos(t), 0, 0, 0, 1];
    assert.ok(maxAbs(r.map((v, k) => v - rot[k]!)) < 1e-14);
    const big = expm([8, 1, 0, 0, 8, 0, 0, 0, 8], 3); // e⁸ [[1, 1, 0], [0, 1, 0], [0, 0, 1]]
    assert.ok(Math.abs(big[1]! / Math.exp(8) - 1) < 1e-13 && Math.abs(big[0]! / Math.exp(8) - 1) < 1e-13);
  });

  it("expmFrechet is the directional derivative of expm", () => {
    const A = [0.3, -0.2, 0.1, 0.05, 0.2, -0.3, 0.15, 0.1, -0.1];
    const E = [1, 2, -1, 0.5, 0, 3, -2, 1, 0.2];
    const L = expmFrechet(A, E, 3);
    const h = 1e-6;
    const plus = expm(A.map((a, k) => a + h * E[k]!), 3);
    const minus = expm(A.map((a, k) => a - h * E[k]!), 3);
    assert.ok(maxAbs(L.map((l, k) => l - (plus[k]! - minus[k]!) / (2 * h))) < 1e-8);
  });

  it("symmetricEigen reconstructs an indefinite matrix; absNewtonStep solves the positive definite case", () => {
    const n = 30;
    const A = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j <= i; j++) A[i * n + j] = A[j * n + i] = Math.sin(7 * i + 13 * j + 1);
    const { values, vectors: V } = symmetricEigen(A, n);
    assert.ok(Math.min(...values) < 0);
    let err = 0;
    for (let i = 0; i < n; i++)
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let k = 0; k < n; k++) s += V[i * n + k]! * values[k]! * V[j * n + k]!;
        err = Math.max(err, Math.abs(s - A[i * n + j]!));
      }
    assert.ok(err < 1e-13, `reconstruction error ${err}`);
    // A is indefinite, so the step goes through the eigenvectors: |A| step = f with |A| = V |Ω| Vᵀ.
    const f = Float64Array.from({ length: n }, (_, i) => Math.cos(i));
    const step = absNewtonStep(A, f);
    let r = 0;
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let k = 0; k < n; k++) {
        let absA = 0;
        for (let m = 0; m < n; m++) absA += V[i * n + m]! * Math.abs(values[m]!) * V[k * n + m]!;
        s += absA * step[k]!;
      }
      r = Math.max(r, Math.abs(s - f[i]!));
    }
    assert.ok(r < 1e-10, `|A| step - f = ${r}`);
  });
});
