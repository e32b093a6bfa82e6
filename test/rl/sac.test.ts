/**
 * SAC: configuration, action shapes and bounds, the squashed-Gaussian log-probability against numeric
 * checks, no leaked tensors, the explicit and naive networks agreeing on an update, Polyak targets, and
 * save/load round trips. cpu and wasm, with small networks (the MACS sizes are timed in bench/sac.ts).
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { layersMlp } from "../../src/rl/networks.js";
import { emptyBatch, type Batch } from "../../src/rl/replay-buffer.js";
import { SAC_DEFAULT_CONFIG, SAC_SMALL_CONFIG, Sac, type SacConfig, type SacMetricName, squashedGaussian } from "../../src/rl/sac.js";
import { Rng } from "../../src/structure/random-source.js";
import { forEachBackend, maxAbsDiff } from "../tensor/backends.js";

const SMALL: Partial<SacConfig> = { obsDim: 10, actionDim: 3, hiddenSizes: [32, 32], batchSize: 64, seed: 7 };

function randomBatch(n: number, obsDim: number, actionDim: number, seed: number): Batch {
  const rng = new Rng(seed);
  const b = emptyBatch(n, obsDim, actionDim);
  for (const a of [b.obs, b.nextObs]) for (let i = 0; i < a.length; i++) a[i] = 3 + 2 * rng.normal();
  for (let i = 0; i < b.actions.length; i++) b.actions[i] = rng.uniform(-1, 1);
  for (let i = 0; i < n; i++) {
    b.rewards[i] = rng.normal();
    b.dones[i] = rng.next() < 0.2 ? 1 : 0;
  }
  return b;
}

function randomObs(n: number, obsDim: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: n * obsDim }, () => 3 + 2 * rng.normal());
}

const values = (vars: readonly tf.Variable[]): Float32Array[] => vars.map((v) => v.dataSync().slice() as Float32Array);

const dirs: string[] = [];
const tempDir = (): string => {
  const d = mkdtempSync(join(tmpdir(), "crystal-rl-sac-"));
  dirs.push(d);
  return d;
};
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe("SacConfig", () => {
  it("has the spec's defaults (macs-spec.md §6.3)", () => {
    const c = SAC_DEFAULT_CONFIG;
    assert.equal(c.obsDim, 204);
    assert.equal(c.actionDim, 3);
    assert.deepEqual(c.hiddenSizes, [256, 256]);
    assert.equal(c.gamma, 0.995);
    assert.equal(c.tau, 0.001);
    assert.equal(c.batchSize, 8192);
    assert.equal(c.bufferSize, 10_000_000);
    assert.equal(c.learningStarts, 500);
    assert.equal(c.targetEntropy, -8);
    assert.equal(c.alpha, 1);
    assert.deepEqual([c.policyLr, c.qLr, c.alphaLr], [3e-4, 3e-4, 1e-4]);
    assert.equal(c.maxEpisodeSteps, 1000);
    assert.equal(c.numEnvs, 40);
    assert.ok(c.normaliseObservations && c.autotune);
    // the small preset changes the budget, not the learning problem
    assert.equal(SAC_SMALL_CONFIG.batchSize, 1024);
    assert.equal(SAC_SMALL_CONFIG.targetEntropy, -8);
    assert.deepEqual(SAC_SMALL_CONFIG.hiddenSizes, [256, 256]);
  });

  it("rejects bad values, naming them", () => {
    assert.throws(() => new Sac({ ...SMALL, gamma: 1.5 }), /gamma/);
    assert.throws(() => new Sac({ ...SMALL, batchSize: 0 }), /batchSize/);
    assert.throws(() => new Sac({ ...SMALL, logStdMin: 3 }), /logStdMin/);
  });
});

forEachBackend("squashed Gaussian", () => {
  it("log-prob equals log N(u) - log|d tanh(u)/du| with the Jacobian by finite differences", () => {
    const rng = new Rng(1);
    const n = 50;
    const d = 3;
    const out = Float32Array.from({ length: n * 2 * d }, (_, i) => (i % (2 * d) < d ? rng.normal(0, 1.5) : rng.uniform(-3, 1)));
    const eps = Float32Array.from({ length: n * d }, () => rng.normal());
    const { action, logProb } = tf.tidy(() => squashedGaussian(tf.tensor2d(out, [n, 2 * d]), tf.tensor2d(eps, [n, d]), -5, 2));
    const a = action.dataSync();
    const lp = logProb.dataSync();
    assert.deepEqual(logProb.shape, [n, 1]);
    for (let r = 0; r < n; r++) {
      let expected = 0;
      for (let j = 0; j < d; j++) {
        const mean = out[r * 2 * d + j]!;
        const logStd = Math.min(2, Math.max(-5, out[r * 2 * d + d + j]!));
        const u = mean + Math.exp(logStd) * eps[r * d + j]!;
        const h = 1e-5;
        const jac = (Math.tanh(u + h) - Math.tanh(u - h)) / (2 * h);
        expected += -0.5 * eps[r * d + j]! ** 2 - logStd - 0.5 * Math.log(2 * Math.PI) - Math.log(jac);
        assert.ok(Math.abs(a[r * d + j]! - Math.tanh(u)) < 1e-5);
      }
      assert.ok(Math.abs(lp[r]! - expected) < 2e-3 * Math.max(1, Math.abs(expected)), `row ${r}: ${lp[r]} vs ${expected}`);
    }
    tf.dispose([action, logProb]);
  });

  it("is a density on (-1, 1): exp(log-prob) integrates to 1", () => {
    for (const [mean, logStd] of [[0, 0], [0.8, -1], [-1.5, 0.5]] as const) {
      const m = 20000;
      const as = Float64Array.from({ length: m }, (_, i) => -1 + (2 * (i + 0.5)) / m);
      const std = Math.exp(logStd);
      const eps = Float32Array.from(as, (a) => (Math.atanh(a) - mean) / std);
      const out = new Float32Array(m * 2);
      for (let i = 0; i < m; i++) {
        out[2 * i] = mean;
        out[2 * i + 1] = logStd;
      }
      const lp = tf.tidy(() => squashedGaussian(tf.tensor2d(out, [m, 2]), tf.tensor2d(eps, [m, 1]), -5, 2).logProb);
      const p = lp.dataSync();
      let integral = 0;
      for (let i = 0; i < m; i++) integral += Math.exp(p[i]!) * (2 / m);
      lp.dispose();
      assert.ok(Math.abs(integral - 1) < 2e-3, `mean ${mean}, logStd ${logStd}: ∫ = ${integral}`);
    }
  });

  it("clamps the log-std to [logStdMin, logStdMax]", () => {
    tf.tidy(() => {
      const out = tf.tensor2d([[0, -30], [0, 9]]);
      const eps = tf.tensor2d([[1], [1]]);
      const { action } = squashedGaussian(out, eps, -5, 2);
      const a = action.dataSync();
      assert.ok(Math.abs(a[0]! - Math.tanh(Math.exp(-5))) < 1e-6);
      assert.ok(Math.abs(a[1]! - Math.tanh(Math.exp(2))) < 1e-6);
    });
  });
});

forEachBackend("Sac", () => {
  it("acts on any number of rows, in [-1, 1], deterministically when asked", () => {
    const sac = new Sac(SMALL);
    for (const n of [1, 40, 257]) {
      const obs = randomObs(n, 10, n);
      const a = sac.act(obs);
      assert.equal(a.length, n * 3);
      assert.ok(a.every((x) => x >= -1 && x <= 1 && Number.isFinite(x)));
      assert.deepEqual(sac.act(obs, { deterministic: true }), sac.act(obs, { deterministic: true }));
      assert.notDeepEqual(sac.act(obs), sac.act(obs), "samples differ between calls");
    }
    assert.equal(sac.act(new Float32Array(0)).length, 0);
    assert.throws(() => sac.act(new Float32Array(15)), /not a whole number of 10-long observations/);
    sac.dispose();
  });

  it("draws the same actions for the same seed (noise from the project's Rng)", () => {
    const obs = randomObs(8, 10, 1);
    const a = new Sac(SMALL);
    const b = new Sac(SMALL);
    assert.deepEqual(a.act(obs), b.act(obs));
    const c = new Sac({ ...SMALL, seed: 8 });
    assert.notDeepEqual(a.act(obs), c.act(obs));
    for (const s of [a, b, c]) s.dispose();
  });

  it("update returns CleanRL's metrics, all finite", () => {
    const sac = new Sac(SMALL);
    sac.normaliser!.update(randomBatch(64, 10, 3, 1).obs);
    const m = sac.update(randomBatch(64, 10, 3, 2));
    for (const k of ["losses/qf1_values", "losses/qf2_values", "losses/qf1_loss", "losses/qf2_loss", "losses/qf_loss", "losses/actor_loss", "losses/alpha", "losses/alpha_loss", "losses/log_pi"] as const) {
      assert.ok(Number.isFinite(m[k]), `${k} = ${m[k]}`);
    }
    assert.ok(Math.abs(m["losses/qf_loss"] - (m["losses/qf1_loss"] + m["losses/qf2_loss"]) / 2) < 1e-4);
    // α moves by about one Adam step of lr 1e-4 from 1; with log π > -8 it decreases
    assert.ok(m["losses/alpha"] < 1 && m["losses/alpha"] > 1 - 2e-4);
    assert.equal(sac.updates, 1);
    sac.dispose();
  });

  it("leaks no tensors in act and update", () => {
    const sac = new Sac(SMALL);
    const batch = randomBatch(64, 10, 3, 3);
    const obs = randomObs(40, 10, 4);
    sac.update(batch); // creates the Adam slots once
    const before = tf.memory().numTensors;
    sac.act(obs);
    sac.act(obs, { deterministic: true });
    sac.logProb(obs, sac.act(obs));
    assert.equal(tf.memory().numTensors, before, "act");
    sac.update(batch);
    sac.update(batch);
    assert.equal(tf.memory().numTensors, before, "update");
    sac.dispose();
  });

  it("frees everything on dispose", () => {
    const before = tf.memory().numTensors;
    const sac = new Sac(SMALL);
    sac.update(randomBatch(64, 10, 3, 5));
    sac.dispose();
    assert.equal(tf.memory().numTensors, before);
    assert.throws(() => sac.act(randomObs(1, 10, 1)), /disposed/);
  });

  it("gives the same update with explicit-transpose networks as with tf.layers autodiff", () => {
    const config = { ...SMALL, policyFrequency: 1, targetNetworkFrequency: 1, tau: 0.05 };
    const explicit = new Sac(config);
    const naive = new Sac(config, { network: layersMlp });
    const obs = randomObs(16, 10, 9);
    assert.ok(maxAbsDiff(explicit.act(obs, { deterministic: true }), naive.act(obs, { deterministic: true })) < 1e-6);
    for (let k = 0; k < 3; k++) {
      const batch = randomBatch(64, 10, 3, 10 + k);
      const me = explicit.update(batch);
      const mn = naive.update(batch);
      for (const key of Object.keys(me) as SacMetricName[]) {
        assert.ok(Math.abs(me[key] - mn[key]) < 1e-4 * Math.max(1, Math.abs(mn[key])), `${key}: ${me[key]} vs ${mn[key]}`);
      }
    }
    assert.ok(maxAbsDiff(explicit.act(obs, { deterministic: true }), naive.act(obs, { deterministic: true })) < 1e-4);
    explicit.dispose();
    naive.dispose();
  });

  it("moves the target critics by Polyak averaging (τ) every targetNetworkFrequency updates, and not the actor's copy", () => {
    const sac = new Sac({ ...SMALL, tau: 0.1, targetNetworkFrequency: 2 });
    const batch = randomBatch(64, 10, 3, 11);
    const t0 = values(sac.qf1Target.variables);
    assert.deepEqual(t0, values(sac.qf1.variables), "targets start as copies");
    sac.update(batch);
    assert.deepEqual(values(sac.qf1Target.variables), t0, "no target update after update 1");
    sac.update(batch);
    const q = values(sac.qf1.variables);
    const t2 = values(sac.qf1Target.variables);
    t2.forEach((t, i) => {
      const expected = t0[i]!.map((x, j) => 0.1 * q[i]![j]! + 0.9 * x);
      assert.ok(maxAbsDiff(t, expected) < 1e-6, `variable ${i}`);
    });
    assert.ok(maxAbsDiff(q[0]!, t0[0]!) > 0, "the critic itself moved");
    sac.dispose();
  });

  it("skips the actor and α on updates between policyFrequency", () => {
    const sac = new Sac({ ...SMALL, policyFrequency: 2 });
    const batch = randomBatch(64, 10, 3, 12);
    assert.ok(Number.isFinite(sac.update(batch)["losses/actor_loss"]));
    const actor = values(sac.actor.variables);
    const m = sac.update(batch);
    assert.ok(Number.isNaN(m["losses/actor_loss"]) && Number.isNaN(m["losses/alpha_loss"]));
    assert.deepEqual(values(sac.actor.variables), actor);
    sac.dispose();
  });

  it("saves and loads: identical actions, then identical updates (optimiser state and counters restored)", async () => {
    const sac = new Sac(SMALL);
    sac.normaliser!.update(randomBatch(64, 10, 3, 20).obs);
    for (let k = 0; k < 3; k++) sac.update(randomBatch(64, 10, 3, 21 + k));
    sac.act(randomObs(3, 10, 1));
    const dir = tempDir();
    await sac.save(dir);
    const loaded = await Sac.load(dir);
    assert.deepEqual(loaded.config, sac.config);
    assert.equal(loaded.updates, 3);
    const obs = randomObs(40, 10, 30);
    assert.deepEqual(loaded.act(obs, { deterministic: true }), sac.act(obs, { deterministic: true }));
    assert.deepEqual(loaded.act(obs), sac.act(obs), "the noise stream continues where it was");
    const batch = randomBatch(64, 10, 3, 31);
    assert.deepEqual(loaded.update(batch), sac.update(batch));
    assert.deepEqual(loaded.act(obs, { deterministic: true }), sac.act(obs, { deterministic: true }));
    assert.deepEqual(values(loaded.qf2Target.variables), values(sac.qf2Target.variables));
    assert.equal(loaded.alpha, sac.alpha);
    assert.deepEqual(loaded.normaliser!.state(), sac.normaliser!.state());
    sac.dispose();
    loaded.dispose();
  });

  it("saves a policy only (actor, normaliser, config) that acts the same", async () => {
    const sac = new Sac(SMALL);
    sac.normaliser!.update(randomObs(100, 10, 40)).freeze();
    sac.update(randomBatch(64, 10, 3, 41));
    const dir = tempDir();
    await sac.save(dir, { policyOnly: true });
    const policy = await Sac.load(dir);
    const obs = randomObs(5, 10, 42);
    assert.deepEqual(policy.act(obs, { deterministic: true }), sac.act(obs, { deterministic: true }));
    assert.ok(policy.normaliser!.frozen);
    sac.dispose();
    policy.dispose();
  });

  it("warmStart takes the actor and normaliser of a policy, the critics too from a full agent, and checks sizes", async () => {
    const sac = new Sac(SMALL);
    sac.normaliser!.update(randomObs(100, 10, 43));
    sac.update(randomBatch(64, 10, 3, 44));
    const policyDir = tempDir();
    const fullDir = tempDir();
    await sac.save(policyDir, { policyOnly: true });
    await sac.save(fullDir);
    const obs = randomObs(5, 10, 45);
    const policy = await Sac.load(policyDir);
    const fromPolicy = new Sac({ ...SMALL, seed: 99 });
    const criticsBefore = values(fromPolicy.qf1.variables as tf.Variable[]);
    fromPolicy.warmStart(policy);
    assert.deepEqual(fromPolicy.act(obs, { deterministic: true }), sac.act(obs, { deterministic: true }));
    assert.equal(fromPolicy.normaliser!.count, sac.normaliser!.count);
    assert.deepEqual(values(fromPolicy.qf1.variables as tf.Variable[]), criticsBefore); // a policy has no critics
    const full = await Sac.load(fullDir);
    const fromFull = new Sac({ ...SMALL, seed: 98 });
    fromFull.warmStart(full);
    assert.deepEqual(values(fromFull.qf1.variables as tf.Variable[]), values(sac.qf1.variables as tf.Variable[]));
    assert.deepEqual(fromFull.act(obs, { deterministic: true }), sac.act(obs, { deterministic: true }));
    const other = new Sac({ ...SMALL, hiddenSizes: [16, 16] });
    assert.throws(() => other.warmStart(policy), /Sac\.warmStart: .* is \[10,32,32,6\], this agent's \[10,16,16,6\]/);
    for (const a of [sac, policy, fromPolicy, full, fromFull, other]) a.dispose();
  });

  it("imitate: squared error (plain or relative to |target|² + ε²) plus the log-std pull, at the weights before the step", () => {
    const sac = new Sac(SMALL);
    const obs = randomObs(6, 10, 50);
    const targets = Float32Array.from({ length: 18 }, (_, i) => (i % 2 ? 0.01 : -0.5) * (1 + i / 18));
    const expected = (relative: number): number => {
      const x = sac.normaliser ? sac.normaliser.normalise(obs) : obs;
      const out = tf.tidy(() => sac.actor.apply(tf.tensor2d(x, [6, 10])).arraySync() as number[][]);
      let fit = 0;
      let pull = 0;
      for (let r = 0; r < 6; r++) {
        let err = 0;
        let norm = 0;
        for (let q = 0; q < 3; q++) {
          err += (Math.tanh(out[r]![q]!) - targets[3 * r + q]!) ** 2;
          norm += targets[3 * r + q]! ** 2;
          pull += (out[r]![3 + q]! + 2.5) ** 2;
        }
        fit += relative > 0 ? err / (norm + relative * relative) : err / 3;
      }
      return fit / 6 + pull / 18;
    };
    for (const relative of [0, 0.01]) {
      const want = expected(relative);
      assert.ok(Math.abs(sac.imitate(obs, targets, { relative }) - want) < 1e-4 * Math.max(1, want), `relative ${relative}`);
    }
    sac.dispose();
  });

  it("async twins (actAsync, updateAsync, imitateAsync, logProbAsync, alphaAsync) give the sync methods' numbers", async () => {
    const a = new Sac(SMALL);
    const b = new Sac(SMALL);
    const obs = randomObs(12, 10, 60);
    for (const s of [a, b]) s.normaliser!.update(randomBatch(64, 10, 3, 61).obs);
    assert.deepEqual(await b.actAsync(obs), a.act(obs), "the same noise stream");
    assert.deepEqual(await b.actAsync(obs, { deterministic: true }), a.act(obs, { deterministic: true }));
    assert.equal((await b.actAsync(new Float32Array(0))).length, 0);
    const batch = randomBatch(64, 10, 3, 62);
    assert.deepEqual(await b.updateAsync(batch), a.update(batch));
    const targets = Float32Array.from({ length: 64 * 3 }, (_, i) => Math.sin(i) * 0.5);
    const imitation = { targets, weight: 0.4, relative: 0.01 };
    const ma = a.update(batch, { imitation });
    assert.deepEqual(await b.updateAsync(batch, { imitation }), ma);
    assert.ok(Number.isFinite(ma["losses/imitation_loss"]) && Number.isFinite(ma["losses/actor_loss"]));
    // clone: the critics' update and then imitate(), in one read
    const plain = a.update(batch, { actor: false });
    const cloneLoss = a.imitate(batch.obs, targets, { logStd: -2, relative: 0.01 });
    const both = await b.updateAsync(batch, { actor: false, clone: { targets, logStd: -2, relative: 0.01 } });
    assert.deepEqual({ ...both, "losses/imitation_loss": undefined }, { ...plain, "losses/imitation_loss": undefined });
    assert.equal(both["losses/imitation_loss"], cloneLoss);
    assert.equal(await b.imitateAsync(batch.obs, targets), a.imitate(batch.obs, targets));
    assert.deepEqual(await b.actAsync(obs, { deterministic: true }), a.act(obs, { deterministic: true }), "same actor after all that");
    const u = a.act(obs, { deterministic: true });
    assert.deepEqual(await b.logProbAsync(obs, u), a.logProb(obs, u));
    assert.equal(await b.alphaAsync(), a.alpha);
    assert.throws(() => a.update(batch, { imitation, clone: { targets } }), /not both/);
    for (const s of [a, b]) s.dispose();
  });

  it("updateDeferred leaves one stacked metrics tensor: read once (cached), or disposed unread; no leaks", async () => {
    const sac = new Sac(SMALL);
    const batch = randomBatch(64, 10, 3, 70);
    sac.update(batch); // creates the Adam slots once
    const before = tf.memory().numTensors;
    const pending = sac.updateDeferred(batch);
    assert.equal(tf.memory().numTensors, before + 1, "one tensor holds every metric");
    const m = await pending.read();
    assert.equal(tf.memory().numTensors, before);
    assert.equal(await pending.read(), m);
    assert.equal(pending.readSync(), m);
    sac.updateDeferred(batch).dispose();
    await sac.actAsync(randomObs(5, 10, 71));
    await sac.logProbAsync(randomObs(2, 10, 72), new Float32Array(6));
    await sac.updateAsync(batch, { actor: false, clone: { targets: new Float32Array(64 * 3) } });
    assert.equal(tf.memory().numTensors, before);
    const unread = sac.updateDeferred(batch);
    unread.dispose();
    assert.throws(() => unread.readSync(), /disposed before it was read/);
    assert.equal(sac.updates, 5);
    sac.dispose();
  });

  it("refuses a checkpoint of another kind or shape, naming the problem", async () => {
    const dir = tempDir();
    const sac = new Sac(SMALL);
    await sac.save(dir);
    await assert.rejects(import("../../src/rl/normaliser.js").then((m) => m.Normaliser.load(dir)), /holds a "crystal-rl\/sac@1" checkpoint/);
    writeFileSync(join(dir, "header.json"), "{ not json");
    await assert.rejects(Sac.load(dir), /header\.json: not valid JSON/);
    sac.dispose();
  });
});
