/**
 * RelaxationBatch: many structures of different sizes in one observation array; the same numbers as
 * one RelaxationGame per structure; one force call per structure per step; auto-reset for training,
 * done-and-kept for evaluation; `forces: "batched"` (one call of the TensorFlow.js twin per step)
 * against "each".
 *
 * Batched tolerances (float32 forces against float64): observations |Δ| <= 1e-4, rewards <= 5e-5,
 * energies <= 2e-5 × (|E| + N eV), fmax 1e-5 relative. Measured (wasm; 4 slots of 5-10-atom random
 * SrTiO3 and MgO, 5 steps, two auto-resets; "all" and Verlet lists): at most 2.8e-5, 6.6e-6, 4e-6
 * and 1.6e-6.
 */
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import * as tf from "@tensorflow/tfjs";
import type { BatchOptions } from "../../src/calculators/batched/index.js";
import { ionic } from "../../src/calculators/ionic.js";
import { lj } from "../../src/calculators/lj.js";
import { cycleSource, perAtom, randomSource, RelaxationBatch, RelaxationGame } from "../../src/envs/index.js";
import { Crystal } from "../../src/structure/crystal.js";
import { Lattice } from "../../src/structure/lattice.js";
import { perovskite } from "../../src/structure/prototypes.js";
import { randomCrystal } from "../../src/structure/random.js";
import { Rng } from "../../src/structure/random-source.js";
import { useBackend } from "../../src/tensor/backend.js";
import { Harmonic } from "./harmonic.js";

const S = 204;

function structures(): Crystal[] {
  return [
    randomCrystal({ composition: "SrTiO3", atoms: 10 }, 1),
    randomCrystal({ composition: "MgO", atoms: 8 }, 2),
    randomCrystal({ composition: "SrTiO3", atoms: 15 }, 3),
  ];
}

/** Seeded actions for `n` atoms. */
const actions = (rng: Rng, n: number): Float32Array => Float32Array.from({ length: 3 * n }, () => rng.uniform(-1, 1));

describe("RelaxationBatch", () => {
  it("lays out structures of different sizes in one array with a system index and offsets", () => {
    const batch = RelaxationBatch.createSync({ calculator: ionic(), structures: structures() });
    assert.equal(batch.size, 3);
    assert.equal(batch.totalAtoms, 33);
    assert.deepEqual(Array.from(batch.offsets), [0, 10, 18, 33]);
    assert.deepEqual(Array.from(batch.system.subarray(8, 12)), [0, 0, 1, 1]);
    assert.equal(batch.obs.length, 33 * S);
    assert.equal(batch.natoms(2), 15);
  });

  it("gives the same observations, rewards and flags as one RelaxationGame per structure", async () => {
    const xs = structures();
    const calc = ionic();
    const batch = RelaxationBatch.createSync({ calculator: calc, structures: xs });
    const games = xs.map((crystal) => new RelaxationGame({ calculator: ionic(), crystal }));
    const starts = await Promise.all(games.map((g) => g.reset()));
    starts.forEach((r, s) => assert.deepEqual(batch.obs.subarray(batch.offsets[s]! * S, batch.offsets[s + 1]! * S), r.obs));
    const rng = new Rng(11);
    for (let t = 0; t < 4; t++) {
      const u = actions(rng, batch.totalAtoms);
      const r = batch.stepSync(u);
      for (let s = 0; s < 3; s++) {
        const [a, b] = [batch.offsets[s]!, batch.offsets[s + 1]!];
        const g = games[s]!.stepSync(u.subarray(3 * a, 3 * b));
        assert.deepEqual(r.nextObs.subarray(a * S, b * S), g.obs, `obs of structure ${s} at step ${t}`);
        assert.deepEqual(r.reward.subarray(a, b), g.reward);
        assert.equal(r.terminated[s], g.terminated ? 1 : 0);
        assert.equal(r.truncated[s], g.truncated ? 1 : 0);
        assert.deepEqual(r.info[s], g.info);
      }
      assert.equal(r.obs, r.nextObs, "no reset: the same array");
    }
  });

  it("makes one force call per structure per step, sync or async", async () => {
    const calc = ionic();
    const batch = RelaxationBatch.createSync({ calculator: calc, structures: structures() });
    assert.equal(calc.counts.forceCalls, 3);
    const rng = new Rng(1);
    batch.stepSync(actions(rng, batch.totalAtoms));
    assert.equal(calc.counts.forceCalls, 6);
    await batch.step(actions(rng, batch.totalAtoms));
    assert.equal(calc.counts.forceCalls, 9);
    for (let s = 0; s < 3; s++) assert.equal(batch.info(s).forceCalls, 3);

    // A calculator with only the async `compute` (an external engine's shape) works through `step`.
    const inner = ionic();
    const asyncOnly = { name: "async", counts: inner.counts, compute: inner.compute.bind(inner), resetCounts: () => inner.resetCounts() };
    const b2 = await RelaxationBatch.create({ calculator: asyncOnly, structures: structures() });
    await b2.step(actions(new Rng(1), b2.totalAtoms));
    assert.equal(inner.counts.forceCalls, 6);
    assert.throws(() => b2.stepSync(actions(new Rng(1), b2.totalAtoms)), /no computeSync/);
  });

  it("auto-resets finished structures from the source: transitions keep their layout, obs takes the new one", () => {
    const source = randomSource([
      { composition: "SrTiO3", atoms: 5 },
      { composition: "SrTiO3", atoms: 10 },
      { composition: "MgO", atoms: 8 },
    ]);
    const calc = ionic();
    const batch = RelaxationBatch.createSync({ calculator: calc, source, size: 4, seed: 3, maxSteps: 2 });
    assert.equal(batch.draws, 4);
    const rng = new Rng(2);
    const first = batch.stepSync(actions(rng, batch.totalAtoms));
    assert.deepEqual(first.reset, []);
    const layout = batch.offsets;
    const calls = calc.counts.forceCalls;
    const r = batch.stepSync(actions(rng, batch.totalAtoms)); // everyone hits the 2-step cap
    assert.deepEqual(Array.from(r.truncated), [1, 1, 1, 1]);
    assert.deepEqual(r.reset, [0, 1, 2, 3]);
    assert.equal(r.offsets, layout, "the transitions' layout");
    assert.equal(r.nextObs.length, layout[4]! * S);
    assert.equal(r.reward.length, layout[4]!);
    for (const info of r.info) assert.equal(info.step, 2);
    assert.equal(batch.draws, 8);
    assert.equal(calc.counts.forceCalls, calls + 4 + 4, "4 steps, then 4 fresh structures");
    assert.equal(r.obs, batch.obs);
    assert.equal(batch.obs.length, batch.totalAtoms * S);
    for (let s = 0; s < 4; s++) assert.equal(batch.info(s).step, 0);
    // Deterministic: the same seed draws the same structures.
    const again = RelaxationBatch.createSync({ calculator: ionic(), source, size: 4, seed: 3, maxSteps: 2 });
    const rng2 = new Rng(2);
    again.stepSync(actions(rng2, again.totalAtoms));
    const r2 = again.stepSync(actions(rng2, again.totalAtoms));
    assert.deepEqual(r2.obs, r.obs);
    assert.deepEqual(r2.nextObs, r.nextObs);
  });

  it("a blow-up (training only) is terminal and failed; the converged structure is terminal only", () => {
    // Springs: structure 0 converges in one step along its force; structure 1 (|F| = 3) moves against
    // its force to |F| = 3.4, past blowUpFmax = 3.2.
    const cell = Lattice.cubic(10);
    // One spring set for both: structure 0 (1 atom) uses the first reference point, structure 1 both.
    const calc = new Harmonic(Float64Array.from([5, 5, 5, 2, 2, 2]), 1);
    const a = new Crystal({ cell, positions: [5.1, 5, 5], numbers: ["O"] });
    const b = new Crystal({ cell, positions: [5, 5, 5, 5, 2, 2], numbers: ["O", "Mg"] });
    const batch = RelaxationBatch.createSync({ calculator: calc, structures: [a, b], blowUpFmax: 3.2 });
    const r = batch.stepSync([-1, 0, 0, 0, 0, 0, 1, 0, 0]);
    assert.deepEqual(Array.from(r.terminated), [1, 1]);
    assert.deepEqual(Array.from(r.failed), [0, 1]);
    assert.deepEqual([r.info[0]!.converged, r.info[1]!.blownUp, r.info[1]!.converged], [true, true, false]);
    assert.deepEqual(Array.from(r.truncated), [0, 0]);
  });

  it("evaluation: finished structures stay done, cost nothing and keep their rows", () => {
    // Springs: structure 0 converges in one step along its force, structure 1 stands still.
    const cell = Lattice.cubic(10);
    const spring = (offset: number): { crystal: Crystal; ref: number[] } => ({
      crystal: new Crystal({ cell, positions: [5 + offset, 5, 5, 2, 2, 2 + offset], numbers: ["O", "Mg"] }),
      ref: [5, 5, 5, 2, 2, 2],
    });
    const a = spring(0.1);
    const calc = new Harmonic(Float64Array.from(a.ref), 1);
    const batch = RelaxationBatch.createSync({ calculator: calc, structures: [a.crystal, spring(0.2).crystal], maxSteps: 5 });
    // u = −ĝ for structure 0 (g = x − ref): atom 0 along −x, atom 1 along −z; structure 1 still.
    const u = new Float32Array(12);
    u[0] = -1;
    u[5] = -1;
    const r = batch.stepSync(u);
    assert.deepEqual(Array.from(r.terminated), [1, 0]);
    assert.deepEqual(Array.from(perAtom(r.terminated, r.system)), [1, 1, 0, 0]);
    assert.deepEqual(Array.from(batch.done), [1, 0]);
    const kept = batch.obs.slice(0, 2 * S);
    const calls = calc.counts.forceCalls;
    let last = r;
    for (let t = 0; t < 4; t++) last = batch.stepSync(u);
    assert.equal(calc.counts.forceCalls, calls + 4, "only the running structure is evaluated");
    assert.deepEqual(Array.from(last.active), [0, 1]);
    assert.deepEqual(Array.from(last.truncated), [0, 1]);
    assert.deepEqual(batch.obs.subarray(0, 2 * S), kept);
    assert.deepEqual(Array.from(last.reward.subarray(0, 2)), [0, 0]);
    assert.ok(batch.allDone);
    assert.equal(batch.info(0).step, 1);
    assert.equal(batch.info(1).step, 5);
  });

  it("marks a structure converged at the start as done (evaluation) or redraws it (training)", () => {
    const rest = new Crystal({ cell: Lattice.cubic(6), positions: [1, 1, 1], numbers: ["O"] });
    const off = rest.withPositions([1.3, 1, 1]);
    const calc = new Harmonic(Float64Array.from([1, 1, 1]), 1);
    const evalBatch = RelaxationBatch.createSync({ calculator: calc, structures: [rest, off] });
    assert.deepEqual(Array.from(evalBatch.done), [1, 0]);
    assert.equal(evalBatch.info(0).converged, true);
    const train = RelaxationBatch.createSync({ calculator: calc, source: cycleSource([rest, off]), size: 1 });
    assert.equal(train.draws, 2, "the converged draw was replaced");
    assert.equal(train.info(0).converged, false);
  });
});

/** Largest |a_k − b_k|. */
function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let d = 0;
  for (let k = 0; k < a.length; k++) d = Math.max(d, Math.abs(a[k]! - b[k]!));
  return d;
}

describe("RelaxationBatch, forces: \"batched\" (TensorFlow.js twin, wasm)", () => {
  before(async () => {
    tf.env().set("PROD", true);
    await useBackend("wasm");
  });

  const source = randomSource([
    { composition: "SrTiO3", atoms: 10 },
    { composition: "MgO", atoms: 8 },
    { composition: "SrTiO3", atoms: 5 },
  ]);

  for (const batchOptions of [{}, { neighbours: "verlet" }] as BatchOptions[]) {
    it(`gives the observations, rewards and flags of "each" to float32 over 5 steps with two auto-resets (${batchOptions.neighbours ?? "auto"} lists)`, async () => {
      const options = { source, size: 4, seed: 3, maxSteps: 2 };
      const calcEach = ionic();
      const calcBatched = ionic();
      const each = RelaxationBatch.createSync({ calculator: calcEach, ...options });
      const batched = RelaxationBatch.createSync({ calculator: calcBatched, ...options, forces: "batched", batchOptions });
      const tensors = tf.memory().numTensors;
      try {
        assert.equal(batched.forces, "batched");
        assert.ok(maxDiff(each.obs, batched.obs) <= 1e-4);
        const rng = new Rng(2);
        let resets = 0;
        for (let t = 0; t < 5; t++) {
          const u = actions(rng, each.totalAtoms);
          const a = each.stepSync(u);
          const b = t === 2 ? await batched.step(u) : batched.stepSync(u); // the async driver too
          assert.deepEqual(b.reset, a.reset, `resets at step ${t}`);
          resets += a.reset.length > 0 ? 1 : 0;
          assert.deepEqual(b.offsets, a.offsets);
          assert.deepEqual(Array.from(b.terminated), Array.from(a.terminated));
          assert.deepEqual(Array.from(b.truncated), Array.from(a.truncated));
          assert.ok(maxDiff(a.nextObs, b.nextObs) <= 1e-4, `nextObs at step ${t}: ${maxDiff(a.nextObs, b.nextObs)}`);
          assert.ok(maxDiff(a.obs, b.obs) <= 1e-4, `obs at step ${t}: ${maxDiff(a.obs, b.obs)}`);
          assert.ok(maxDiff(a.reward, b.reward) <= 5e-5, `reward at step ${t}: ${maxDiff(a.reward, b.reward)}`);
          a.info.forEach((x, s) => {
            const y = b.info[s]!;
            assert.equal(y.step, x.step);
            assert.equal(y.forceCalls, x.forceCalls);
            assert.ok(Math.abs(y.energy - x.energy) <= 2e-5 * (Math.abs(x.energy) + x.natoms), `energy of ${s} at step ${t}: ${y.energy} vs ${x.energy}`);
            assert.ok(Math.abs(y.fmax - x.fmax) <= 1e-5 * x.fmax, `fmax of ${s} at step ${t}`);
          });
        }
        assert.equal(resets, 2);
        assert.deepEqual(calcBatched.counts, calcEach.counts, "one call per structure evaluated, as each");
        const twin = batched.batched!;
        assert.equal(twin.counts.calls, 1 + 5 + 2, "one batched call per request: start, 5 steps, 2 resets");
        if (batchOptions.neighbours === "verlet") assert.ok(twin.verlet.rebuilds > 0, "MACS's moves pass the skin");
      } finally {
        batched.dispose();
      }
      assert.equal(batched.batched, null);
      assert.ok(tf.memory().numTensors < tensors, "dispose frees the twin");
    });
  }

  it("evaluation: a structure done from the start stays in the twin and costs no calculator call", () => {
    // The ideal cubic perovskite has no forces (symmetry): done at the start; the random cell relaxes.
    const xs = [perovskite("Sr", "Ti", "O", 3.905), randomCrystal({ composition: "SrTiO3", atoms: 10 }, 1)];
    const options = { epsilon: 0.01, sigma: 2, rc: 6 };
    const calc = lj(options);
    const each = RelaxationBatch.createSync({ calculator: lj(options), structures: xs });
    const batched = RelaxationBatch.createSync({ calculator: calc, structures: xs, forces: "batched" });
    try {
      assert.deepEqual(Array.from(batched.done), [1, 0]);
      assert.deepEqual(Array.from(each.done), [1, 0]);
      const rng = new Rng(4);
      for (let t = 0; t < 2; t++) {
        const u = actions(rng, each.totalAtoms);
        const a = each.stepSync(u);
        const b = batched.stepSync(u);
        assert.deepEqual(Array.from(b.active), [0, 1]);
        assert.ok(maxDiff(a.nextObs, b.nextObs) <= 1e-4);
        assert.ok(maxDiff(a.reward, b.reward) <= 5e-5);
      }
      assert.deepEqual(calc.counts, { calls: 4, forceCalls: 4 }, "2 at the start, then 1 a step");
      assert.equal(batched.batched!.counts.forceCalls, 6, "the twin evaluates both slots each call");
    } finally {
      batched.dispose();
    }
  });

  it("refuses a calculator without a batched twin, and a bad forces value", () => {
    const calc = new Harmonic(Float64Array.from([1, 1, 1]), 1);
    const one = [new Crystal({ cell: Lattice.cubic(6), positions: [1.3, 1, 1], numbers: ["O"] })];
    assert.throws(() => RelaxationBatch.createSync({ calculator: calc, structures: one, forces: "batched" }), /forces: "batched" needs a calculator with a batched twin \(ionic, lj\)/);
    assert.throws(() => RelaxationBatch.createSync({ calculator: calc, structures: one, forces: "all" as "each" }), /forces must be "each" or "batched"/);
  });
});
