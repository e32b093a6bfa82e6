/**
 * Networks: shapes and initialisation, the explicit-transpose gradients against tfjs autodiff of the
 * naive tf.layers version (same initial weights), input-part gradients, Polyak updates. cpu and wasm.
 */
import assert from "node:assert/strict";
import { it } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { Mlp, copyWeights, layersMlp, linearInit, mlp, parameterCount, polyakUpdate } from "../../src/rl/networks.js";
import { Rng } from "../../src/structure/random-source.js";
import { forEachBackend, maxAbsDiff } from "../tensor/backends.js";

/** Values of a list of tensors, concatenated. */
function flat(ts: readonly tf.Tensor[]): Float32Array {
  const parts = ts.map((t) => t.dataSync() as Float32Array);
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** The variables of an Mlp with an input split, re-joined into the layout of an unsplit network. */
function joinedValues(net: Mlp): Float32Array {
  const split = net.inputSplit.length;
  const vars = net.variables;
  // first layer: kernel parts stacked by rows, then bias; the rest unchanged
  const first = tf.tidy(() => tf.concat(vars.slice(0, split) as tf.Tensor2D[], 0));
  const out = flat([first, ...vars.slice(split)]);
  first.dispose();
  return out;
}

forEachBackend("networks", () => {
  it("have the MACS shapes and parameter counts", () => {
    const actor = new Mlp("actor", [204, 256, 256, 6], new Rng(1));
    const critic = new Mlp("qf", [207, 256, 256, 1], new Rng(2), { inputSplit: [204, 3] });
    assert.equal(parameterCount(actor), 204 * 256 + 256 + 256 * 256 + 256 + 256 * 6 + 6);
    assert.equal(parameterCount(critic), 207 * 256 + 256 + 256 * 256 + 256 + 256 + 1);
    tf.tidy(() => {
      assert.deepEqual(actor.apply(tf.zeros([40, 204])).shape, [40, 6]);
      assert.deepEqual(critic.apply([tf.zeros([5, 204]), tf.zeros([5, 3])]).shape, [5, 1]);
    });
    assert.throws(() => critic.apply(tf.zeros([5, 207]) as tf.Tensor2D), /input parts of widths \[207\], expected \[204, 3\]/);
    actor.dispose();
    critic.dispose();
  });

  it("initialise like PyTorch's nn.Linear, the same for both kinds and every backend", () => {
    const { kernel, bias } = linearInit(100, 10, new Rng(5));
    const bound = 1 / Math.sqrt(100);
    assert.ok(kernel.every((v) => Math.abs(v) <= bound) && bias.every((v) => Math.abs(v) <= bound));
    const a = new Mlp("a", [6, 8, 2], new Rng(9), { inputSplit: [4, 2] });
    const b = layersMlp("b", [6, 8, 2], new Rng(9));
    assert.equal(maxAbsDiff(joinedValues(a), flat(b.variables)), 0);
    a.dispose();
    b.dispose();
  });

  it("explicit-transpose weight gradients equal tf.layers autodiff", () => {
    const explicit = new Mlp("e", [7, 16, 16, 3], new Rng(3));
    const naive = layersMlp("n", [7, 16, 16, 3], new Rng(3));
    const x = tf.randomNormal([64, 7], 0, 1, "float32", 1) as tf.Tensor2D;
    const c = tf.randomNormal([64, 3], 0, 1, "float32", 2);
    const loss = (net: typeof naive) => () => tf.sum(tf.mul(tf.square(net.apply(x)), c)) as tf.Scalar;
    const ge = tf.variableGrads(loss(explicit), explicit.variables as tf.Variable[]);
    const gn = tf.variableGrads(loss(naive), naive.variables as tf.Variable[]);
    assert.ok(Math.abs(ge.value.dataSync()[0]! - gn.value.dataSync()[0]!) < 1e-4);
    const a = flat(explicit.variables.map((v) => ge.grads[v.name]!));
    const b = flat(naive.variables.map((v) => gn.grads[v.name]!));
    assert.ok(maxAbsDiff(a, b) < 1e-4 * Math.max(1, ...b.map(Math.abs)), `max diff ${maxAbsDiff(a, b)}`);
    tf.dispose([x, c, ge.value, gn.value, ...Object.values(ge.grads), ...Object.values(gn.grads)]);
    explicit.dispose();
    naive.dispose();
  });

  it("input gradients through frozen weights equal autodiff, for the requested parts only", () => {
    const explicit = new Mlp("e", [9, 12, 1], new Rng(4), { inputSplit: [6, 3] });
    const naive = layersMlp("n", [9, 12, 1], new Rng(4), { inputSplit: [6, 3] });
    const obs = tf.randomNormal([32, 6], 0, 1, "float32", 5) as tf.Tensor2D;
    const act = tf.randomNormal([32, 3], 0, 1, "float32", 6) as tf.Tensor2D;
    const before = explicit.variables.map((v) => v.dataSync().slice());
    // d/d(action) of sum Q(obs, action)
    const ge = tf.grad((a: tf.Tensor) => tf.sum(explicit.apply([obs, a as tf.Tensor2D], { weights: false, input: [false, true] })))(act);
    const gn = tf.grad((a: tf.Tensor) => tf.sum(naive.apply([obs, a as tf.Tensor2D])))(act);
    assert.deepEqual(ge.shape, [32, 3]);
    assert.ok(maxAbsDiff(ge.dataSync(), gn.dataSync()) < 1e-5);
    // with weights frozen, a variableGrads over the network's variables finds no path
    assert.throws(() =>
      tf.variableGrads(() => tf.sum(explicit.apply([obs, act], { weights: false, input: [false, true] })) as tf.Scalar, explicit.variables as tf.Variable[]),
    );
    explicit.variables.forEach((v, i) => assert.equal(maxAbsDiff(v.dataSync(), before[i]!), 0));
    tf.dispose([obs, act, ge, gn]);
    explicit.dispose();
    naive.dispose();
  });

  it("gradients with respect to both weights and input (a network fed by another) equal autodiff", () => {
    const e1 = new Mlp("e1", [5, 8, 4], new Rng(6));
    const e2 = new Mlp("e2", [4, 8, 1], new Rng(7));
    const n1 = layersMlp("n1", [5, 8, 4], new Rng(6));
    const n2 = layersMlp("n2", [4, 8, 1], new Rng(7));
    const x = tf.randomNormal([16, 5], 0, 1, "float32", 8) as tf.Tensor2D;
    const ge = tf.variableGrads(() => tf.sum(e2.apply(e1.apply(x), { weights: true, input: true })) as tf.Scalar, [...e1.variables, ...e2.variables] as tf.Variable[]);
    const gn = tf.variableGrads(() => tf.sum(n2.apply(n1.apply(x))) as tf.Scalar, [...n1.variables, ...n2.variables] as tf.Variable[]);
    const a = flat([...e1.variables, ...e2.variables].map((v) => ge.grads[v.name]!));
    const b = flat([...n1.variables, ...n2.variables].map((v) => gn.grads[v.name]!));
    assert.ok(maxAbsDiff(a, b) < 1e-5, `max diff ${maxAbsDiff(a, b)}`);
    tf.dispose([x, ge.value, gn.value, ...Object.values(ge.grads), ...Object.values(gn.grads)]);
    for (const n of [e1, e2, n1, n2]) n.dispose();
  });

  it("Polyak update: θ' <- τ θ + (1 - τ) θ', and τ = 1 copies", () => {
    const source = mlp("s", [3, 4, 2], new Rng(1));
    const target = mlp("t", [3, 4, 2], new Rng(2));
    const s0 = flat(source.variables);
    const t0 = flat(target.variables);
    polyakUpdate(target, source, 0.25);
    const t1 = flat(target.variables);
    const expected = t0.map((t, i) => 0.25 * s0[i]! + 0.75 * t);
    assert.ok(maxAbsDiff(t1, expected) < 1e-6);
    assert.equal(maxAbsDiff(flat(source.variables), s0), 0, "source unchanged");
    copyWeights(target, source);
    assert.equal(maxAbsDiff(flat(target.variables), s0), 0);
    const other = mlp("o", [3, 5, 2], new Rng(3));
    assert.throws(() => polyakUpdate(other, source, 0.5), /different layouts/);
    for (const n of [source, target, other]) n.dispose();
  });

  it("leak no tensors in forward and backward passes", () => {
    const net = new Mlp("n", [6, 8, 8, 2], new Rng(1), { inputSplit: [4, 2] });
    const a = tf.randomNormal([10, 4]) as tf.Tensor2D;
    const b = tf.randomNormal([10, 2]) as tf.Tensor2D;
    const before = tf.memory().numTensors;
    tf.tidy(() => {
      net.apply([a, b], { weights: false });
    });
    const g = tf.variableGrads(() => tf.sum(net.apply([a, b])) as tf.Scalar, net.variables as tf.Variable[]);
    tf.dispose([g.value, ...Object.values(g.grads)]);
    const gi = tf.grad((x: tf.Tensor) => tf.sum(net.apply([a, x as tf.Tensor2D], { weights: false, input: [false, true] })))(b);
    gi.dispose();
    assert.equal(tf.memory().numTensors, before);
    tf.dispose([a, b]);
    net.dispose();
  });
});
