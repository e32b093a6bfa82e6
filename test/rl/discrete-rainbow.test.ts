/**
 * Rainbow: the C51 projection (mass conserved, a hand-computed case, clipping), the dueling per-row
 * mean, noisy layers (resampling changes the output, a seed fixes it, the factorised gradient equals
 * autodiff of the explicit weights), learning the slot task with all six parts on, the released
 * CrystalGym variant, an exact kill-and-resume with prioritised replay and noise, no leaked tensors.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { NoisyLinear, RAINBOW_DEFAULT_CONFIG, Rainbow, type RainbowConfig, duelingCombine, projectDistribution } from "../../src/rl/rainbow.js";
import { readVariables, vectorNetwork } from "../../src/rl/vector-network.js";
import { Rng } from "../../src/structure/random-source.js";
import { useBackend } from "../../src/tensor/backend.js";
import { forEachBackend, maxAbsDiff } from "../tensor/backends.js";
import { SlotEnv, drain, policyReturn, randomReturn, tailMean } from "./fixtures/slot-env.js";

tf.env().set("PROD", true);
const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const close = (a: ArrayLike<number>, b: ArrayLike<number>, tol = 1e-6): void => assert.ok(maxAbsDiff(a, b) < tol, `[${Array.from(a)}] vs [${Array.from(b)}]`);

describe("Rainbow configuration", () => {
  it("defaults to the spec's DQN values plus all six parts (spec §6.2)", () => {
    const c = RAINBOW_DEFAULT_CONFIG;
    assert.deepEqual([c.learningRate, c.bufferSize, c.batchSize, c.gamma, c.learningStarts, c.trainFrequency, c.targetNetworkFrequency, c.nStep], [2.5e-4, 2000, 64, 0.99, 1000, 4, 100, 3]);
    assert.deepEqual([c.double, c.dueling, c.prioritized, c.distributional, c.noisy], [true, true, true, true, true]);
    assert.deepEqual([c.alpha, c.beta0, c.atoms, c.vMin, c.vMax, c.sigma0], [0.6, 0.4, 51, -5, 1, 0.5]);
    assert.deepEqual(c.headHidden, [64, 64]);
  });
});

describe("projectDistribution (C51)", () => {
  it("matches a hand-computed projection", () => {
    // support −2..2 (Δz = 1); Tz = 0.5 + 0.5 z = [−0.5, 0, 0.5, 1, 1.5] lands at positions 1.5, 2, 2.5, 3, 3.5
    const m = projectDistribution([0.1, 0.2, 0.3, 0.4, 0], [0.5], [0.5], -2, 2, 5);
    close(m, [0, 0.05, 0.4, 0.55, 0]);
    // terminal: all mass at r = 0.25 (position 2.25) splits 0.75 / 0.25; far rewards clip to the ends
    close(projectDistribution([0.2, 0.2, 0.2, 0.2, 0.2], [0.25], [0], -2, 2, 5), [0, 0, 0.75, 0.25, 0]);
    close(projectDistribution([0.2, 0.2, 0.2, 0.2, 0.2, 0, 0, 0, 0, 1], [10, -10], [0.9, 0.9], -2, 2, 5), [0, 0, 0, 0, 1, 1, 0, 0, 0, 0]);
  });

  it("conserves probability mass row by row", () => {
    const rng = new Rng(4);
    const rows = 64;
    const atoms = 51;
    const probs = new Float32Array(rows * atoms);
    for (let i = 0; i < rows; i++) {
      let z = 0;
      for (let j = 0; j < atoms; j++) z += probs[i * atoms + j] = rng.next() ** 3;
      for (let j = 0; j < atoms; j++) probs[i * atoms + j]! /= z;
    }
    const rewards = Float32Array.from({ length: rows }, () => rng.uniform(-7, 3));
    const boot = Float32Array.from({ length: rows }, () => (rng.next() < 0.3 ? 0 : 0.99 ** 3));
    const m = projectDistribution(probs, rewards, boot, -5, 1, atoms);
    for (let i = 0; i < rows; i++) {
      const row = m.subarray(i * atoms, (i + 1) * atoms);
      assert.ok(Math.abs(row.reduce((a, b) => a + b, 0) - 1) < 1e-5);
      assert.ok(row.every((x) => x >= 0));
    }
  });
});

forEachBackend("Rainbow layers", () => {
  it("dueling subtracts each row's own advantage mean (not the batch mean)", () => {
    // value [B = 2, K = 1, 1], advantage [B, K, A = 3]: row means 2 and 0 (the batch mean would be 1)
    const q = tf.tidy(() => duelingCombine(tf.tensor3d([1, 10], [2, 1, 1]), tf.tensor3d([1, 2, 3, 100, 0, -100], [2, 1, 3])));
    close(q.dataSync(), [0, 1, 2, 110, 10, -90]);
    q.dispose();
    // per atom too: [B = 1, K = 2, A = 2], atom means 3 and 2
    const d = tf.tidy(() => duelingCombine(tf.tensor3d([0, 1], [1, 2, 1]), tf.tensor3d([1, 5, 3, 1], [1, 2, 2])));
    close(d.dataSync(), [-2, 2, 2, 0]);
    d.dispose();
  });

  it("noisy layers change their output on resample and repeat it for the same seed", () => {
    const a = new NoisyLinear("a", 6, 4, new Rng(1), { noisy: true, sigma0: 0.5 });
    const b = new NoisyLinear("b", 6, 4, new Rng(1), { noisy: true, sigma0: 0.5 });
    const x = tf.tensor2d(Float32Array.from({ length: 18 }, (_, i) => Math.sin(i)), [3, 6]);
    const out = (l: NoisyLinear): Float32Array => tf.tidy(() => l.apply(x, false, { input: false, weights: false })).dataSync() as Float32Array;
    const mean = out(a);
    a.resample(new Rng(9));
    b.resample(new Rng(9));
    const noisy = out(a);
    assert.ok(maxAbsDiff(noisy, mean) > 1e-3, "noise changes the output");
    assert.deepEqual(out(b), noisy, "same seed, same output");
    a.resample(new Rng(10));
    assert.ok(maxAbsDiff(out(a), noisy) > 1e-3, "new noise, new output");
    a.clearNoise();
    assert.deepEqual(out(a), mean);
    // σ starts at σ0 / √fan_in
    close(a.weightSigma!.dataSync(), new Float32Array(24).fill(0.5 / Math.sqrt(6)));
    tf.dispose([x]);
    a.dispose();
    b.dispose();
  });

  it("the factorised noisy forward and gradient equal autodiff of W = μ + σ ⊙ f(ε_in) f(ε_out)ᵀ", () => {
    const layer = new NoisyLinear("g", 5, 3, new Rng(2), { noisy: true, sigma0: 0.5 });
    const rng = new Rng(21);
    layer.resample(rng.fork(0));
    // the same noise, rebuilt: resample draws ε_in then ε_out
    const f = (v: number): number => Math.sign(v) * Math.sqrt(Math.abs(v));
    const r = rng.fork(0);
    const epsIn = Float32Array.from({ length: 5 }, () => f(r.normal()));
    const epsOut = Float32Array.from({ length: 3 }, () => f(r.normal()));
    const x = tf.tensor2d(Float32Array.from({ length: 20 }, (_, i) => Math.cos(i)), [4, 5]);
    const target = tf.tensor2d(Float32Array.from({ length: 12 }, (_, i) => i / 12), [4, 3]);
    const vars = layer.variables as tf.Variable[];
    const ours = tf.variableGrads(() => tf.sum(tf.square(tf.sub(layer.apply(x, true, { input: false, weights: true }), target))) as tf.Scalar, vars);
    const naive = tf.variableGrads(() => {
      const w = tf.add(layer.weightMu, tf.mul(layer.weightSigma!, tf.outerProduct(tf.tensor1d(epsIn), tf.tensor1d(epsOut))));
      const b = tf.add(layer.biasMu, tf.mul(layer.biasSigma!, tf.tensor1d(epsOut)));
      const y = tf.relu(tf.add(tf.matMul(x, w), b));
      return tf.sum(tf.square(tf.sub(y, target))) as tf.Scalar;
    }, vars);
    close(ours.value.dataSync(), naive.value.dataSync(), 1e-4);
    for (const v of vars) close(ours.grads[v.name]!.dataSync(), naive.grads[v.name]!.dataSync(), 1e-4);
    tf.dispose([x, target, ours.value, naive.value, ...Object.values(ours.grads), ...Object.values(naive.grads)]);
    layer.dispose();
  });
});

describe("Rainbow training", () => {
  before(async () => {
    await useBackend("wasm");
  });

  // A vector trunk (36-64-ReLU-64), one-layer streams and 21 atoms (51 costs twice the time here):
  // every part on, small enough for a test. The slot task's returns lie in [0, 1].
  const TEST: Partial<RainbowConfig> = { trunkOutputs: 64, headHidden: [], atoms: 21, learningRate: 1e-3, vMin: -0.1, vMax: 1.1, learningStarts: 200, trainFrequency: 2 };

  it("learns the slot task well above the random policy with all six parts", async (t) => {
    const env = new SlotEnv(4, 4);
    const random = await randomReturn(env, 400, 1);
    const agent = new Rainbow(env, vectorNetwork(env.observationSize, { hidden: [64] }), { ...TEST, totalTimesteps: 3000, seed: 1 });
    const run = await drain(agent.train());
    const trained = tailMean(run.returns, 100);
    const greedy = await policyReturn(env, (o) => agent.act(o, { greedy: true }), 200);
    t.diagnostic(`Rainbow: random ${random.toFixed(3)}, last 100 training episodes ${trained.toFixed(3)}, greedy ${greedy.toFixed(3)}; 3000 steps, ${agent.progress.updates} updates, ${run.seconds.toFixed(1)} s`);
    assert.ok(trained > random + 0.15, `trained ${trained} vs random ${random}`);
    assert.ok(greedy > random + 0.15, `greedy ${greedy}`);
    const log = run.logs.at(-1)!;
    assert.ok(log["charts/beta"] === 1 && Number.isFinite(log["losses/td_loss"]));
    agent.dispose();
  });

  it("runs the released CrystalGym variant (double, dueling, 3-step; uniform replay, MSE, ε-greedy)", async () => {
    const env = new SlotEnv(4, 4);
    const agent = new Rainbow(env, vectorNetwork(env.observationSize, { hidden: [16] }), {
      ...TEST,
      prioritized: false,
      distributional: false,
      noisy: false,
      totalTimesteps: 300,
      learningStarts: 40,
      batchSize: 16,
      logInterval: 20,
    });
    const run = await drain(agent.train());
    assert.equal(agent.online.atoms, 1);
    assert.ok(run.logs.every((r) => Number.isFinite(r["losses/td_loss"])));
    assert.ok((run.episodes[0]!["charts/epsilon"] as number) > 0.9);
    agent.dispose();
  });

  it("resumes exactly (prioritised replay, noise streams, n-step) and leaks no tensors", async () => {
    const dir = mkdtempSync(join(tmpdir(), "crystal-rl-rainbow-"));
    dirs.push(dir);
    const SMALL: Partial<RainbowConfig> = { ...TEST, atoms: 11, totalTimesteps: 200, learningStarts: 40, bufferSize: 64, batchSize: 16, targetNetworkFrequency: 20, seed: 3 };
    const make = (): Rainbow<Float32Array> => {
      const env = new SlotEnv(4, 4);
      return new Rainbow(env, vectorNetwork(env.observationSize, { hidden: [16] }), SMALL);
    };
    const whole = make();
    await drain(whole.train());
    const first = make();
    await drain(first.train({ until: 100, checkpointDir: dir, checkpointInterval: 48 }));
    first.dispose();
    const resumed = make();
    await resumed.load(dir);
    assert.equal(resumed.progress.globalStep, 100);
    await drain(resumed.train());
    assert.deepEqual(resumed.progress, whole.progress);
    assert.equal(resumed.buffer.size, whole.buffer.size);
    assert.deepEqual(await readVariables(resumed.online.variables), await readVariables(whole.online.variables));
    // leaks: updates, acting and whole training steps leave the tensor count as it was
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) await resumed.update();
    await resumed.act(new Float32Array(36));
    assert.equal(tf.memory().numTensors, before);
    await drain(resumed.train({ until: 240 }));
    assert.equal(tf.memory().numTensors, before);
    resumed.dispose();
    whole.dispose();
  });
});
