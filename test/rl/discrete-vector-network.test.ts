/**
 * The vector-observation network and the variable-level helpers the discrete agents share: shapes,
 * seeding, input checks, target copies, gradient clipping, and an Adam state round trip that makes a
 * restored optimiser take the same step. cpu and wasm.
 */
import assert from "node:assert/strict";
import { it } from "node:test";
import * as tf from "@tensorflow/tfjs";
import {
  applyGradients,
  assignVariables,
  clipByGlobalNorm,
  loadAdam,
  readVariables,
  saveAdam,
  vectorNetwork,
} from "../../src/rl/vector-network.js";
import { copyVariables } from "../../src/rl/networks.js";
import { forEachBackend, maxAbsDiff } from "../tensor/backends.js";

const obs = (n: number, d: number, shift = 0): Float32Array[] =>
  Array.from({ length: n }, (_, i) => Float32Array.from({ length: d }, (_, j) => Math.sin(i + j + shift)));

forEachBackend("vector network", () => {
  it("maps a batch of observations to [batch, outputs], the same for the same seed", async () => {
    const factory = vectorNetwork(5, { hidden: [8, 8] });
    const a = factory(3, 11);
    const b = factory(3, 11);
    const c = factory(3, 12);
    const x = obs(4, 5);
    const ya = a.apply(x);
    assert.deepEqual(ya.shape, [4, 3]);
    assert.deepEqual(a.variables.map((v) => v.shape), [[5, 8], [8], [8, 8], [8], [8, 3], [3]]);
    assert.deepEqual(await readVariables(b.variables), await readVariables(a.variables));
    assert.ok(maxAbsDiff(await readVariables(c.variables), await readVariables(a.variables)) > 0.01);
    assert.throws(() => a.apply([new Float32Array(4)]), /observation 0 has 4 values, expected 5/);
    // a hard copy, then a Polyak step halfway back
    const before = await readVariables(c.variables);
    copyVariables(c.variables, a.variables);
    assert.deepEqual(await readVariables(c.variables), await readVariables(a.variables));
    assignVariables(c.variables, before, "test");
    copyVariables(c.variables, a.variables, 0.5);
    const mid = await readVariables(c.variables);
    const va = await readVariables(a.variables);
    assert.ok(maxAbsDiff(mid, Float32Array.from(va, (v, i) => 0.5 * v + 0.5 * before[i]!)) < 1e-6);
    ya.dispose();
    for (const n of [a, b, c]) n.dispose();
  });

  it("clips gradients by their global norm", () => {
    const grads = { a: tf.tensor1d([3, 0]), b: tf.tensor2d([[0, 4]]) };
    const { grads: clipped, norm } = clipByGlobalNorm(grads, 1);
    assert.ok(Math.abs(norm.dataSync()[0]! - 5) < 1e-6);
    assert.ok(maxAbsDiff(clipped.a!.dataSync(), [0.6, 0]) < 1e-6);
    assert.ok(maxAbsDiff(clipped.b!.dataSync(), [0, 0.8]) < 1e-6);
    const small = clipByGlobalNorm(grads, 10);
    assert.ok(maxAbsDiff(small.grads.a!.dataSync(), [3, 0]) < 1e-5);
    tf.dispose([grads.a, grads.b, clipped.a!, clipped.b!, norm, small.grads.a!, small.grads.b!, small.norm]);
  });

  it("restores an Adam state so that the next step is the same", async () => {
    const factory = vectorNetwork(4, { hidden: [6] });
    const x = obs(8, 4);
    const step = (net: ReturnType<typeof factory>, opt: tf.AdamOptimizer): void => {
      tf.tidy(() => {
        const { grads } = tf.variableGrads(() => tf.mean(tf.square(net.apply(x))) as tf.Scalar, net.variables as tf.Variable[]);
        applyGradients(opt, grads);
      });
    };
    const a = factory(2, 1);
    const optA = tf.train.adam(0.01, 0.9, 0.999, 1e-8);
    for (let i = 0; i < 3; i++) step(a, optA);
    const saved = await saveAdam(optA);
    const weights = await readVariables(a.variables);
    assert.equal(saved.state.iterations, 3);
    const b = factory(2, 99);
    assignVariables(b.variables, weights, "test");
    const optB = tf.train.adam(0.01, 0.9, 0.999, 1e-8);
    await loadAdam(optB, saved.state, saved.values, "test");
    step(a, optA);
    step(b, optB);
    assert.deepEqual(await readVariables(b.variables), await readVariables(a.variables));
    for (const n of [a, b]) n.dispose();
    optA.dispose();
    optB.dispose();
  });
});
