/** Running observation statistics against a two-pass computation; clipping, freezing, save/load. */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { Normaliser } from "../../src/rl/normaliser.js";
import { Rng } from "../../src/structure/random-source.js";

const D = 5;

/** n rows with per-component offsets and scales far from 0 and 1 (a hard case for naive variance). */
function data(n: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  const out = new Float32Array(n * D);
  for (let r = 0; r < n; r++) for (let j = 0; j < D; j++) out[r * D + j] = 1000 * j + (j + 0.1) * rng.normal();
  return out;
}

function twoPass(x: Float32Array): { mean: number[]; variance: number[] } {
  const n = x.length / D;
  const mean: number[] = new Array<number>(D).fill(0);
  for (let r = 0; r < n; r++) for (let j = 0; j < D; j++) mean[j]! += x[r * D + j]!;
  for (let j = 0; j < D; j++) mean[j]! /= n;
  const variance: number[] = new Array<number>(D).fill(0);
  for (let r = 0; r < n; r++) for (let j = 0; j < D; j++) variance[j]! += (x[r * D + j]! - mean[j]!) ** 2;
  for (let j = 0; j < D; j++) variance[j]! /= n;
  return { mean, variance };
}

describe("Normaliser", () => {
  it("matches a two-pass mean and variance, fed in batches of any size", () => {
    const x = data(1000, 1);
    const ref = twoPass(x);
    const rng = new Rng(2);
    const batched = new Normaliser(D);
    for (let r = 0; r < 1000; ) {
      const n = Math.min(1000 - r, 1 + rng.int(97));
      batched.update(x.subarray(r * D, (r + n) * D));
      r += n;
    }
    const single = new Normaliser(D);
    for (let r = 0; r < 1000; r++) single.update(x.subarray(r * D, (r + 1) * D));
    for (const n of [batched, single]) {
      assert.equal(n.count, 1000);
      const v = n.variance();
      for (let j = 0; j < D; j++) {
        const [m, s2] = [ref.mean[j]!, ref.variance[j]!];
        assert.ok(Math.abs(n.mean[j]! - m) < 1e-9 * (1 + Math.abs(m)), `mean ${j}`);
        assert.ok(Math.abs(v[j]! - s2) < 1e-9 * s2, `variance ${j}: ${v[j]} vs ${s2}`);
      }
    }
  });

  it("normalises to (x - mean) / sqrt(var + eps), clipped to ±10", () => {
    const n = new Normaliser(D).update(data(500, 3));
    const v = n.variance();
    const probe = Float32Array.from({ length: D }, (_, j) => 1000 * j + 0.5 * (j + 0.1));
    const z = n.normalise(probe);
    for (let j = 0; j < D; j++) assert.ok(Math.abs(z[j]! - (probe[j]! - n.mean[j]!) / Math.sqrt(v[j]! + 1e-8)) < 1e-5);
    const far = Float32Array.from({ length: 2 * D }, (_, i) => (i < D ? 1e6 : -1e6));
    assert.deepEqual([...n.normalise(far)], [...new Array(D).fill(10), ...new Array(D).fill(-10)]);
    // before any data: the identity (mean 0, variance 1)
    assert.deepEqual([...new Normaliser(2).normalise(Float32Array.of(0.5, -3))], [0.5, -3].map((x) => Math.fround(x / Math.sqrt(1 + 1e-8))));
  });

  it("stops updating while frozen", () => {
    const n = new Normaliser(D).update(data(10, 4));
    const mean = Float64Array.from(n.mean);
    n.freeze().update(data(10, 5));
    assert.deepEqual(n.mean, mean);
    assert.equal(n.count, 10);
    n.unfreeze().update(data(10, 5));
    assert.equal(n.count, 20);
  });

  it("rejects partial rows and non-finite values", () => {
    const n = new Normaliser(3);
    assert.throws(() => n.update(new Float32Array(4)), /not a whole number of rows of 3/);
    assert.throws(() => n.update(Float32Array.of(1, NaN, 2)), /component 1/);
  });

  it("saves and loads its statistics", async () => {
    const dir = mkdtempSync(join(tmpdir(), "crystal-rl-norm-"));
    try {
      const n = new Normaliser(D, { clip: 5 }).update(data(100, 6)).freeze();
      await n.save(dir);
      const m = await Normaliser.load(dir);
      assert.deepEqual(m.state(), n.state());
      const probe = data(3, 7);
      assert.deepEqual(m.normalise(probe), n.normalise(probe));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
