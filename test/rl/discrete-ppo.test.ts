/**
 * PPO: the spec's defaults, GAE against a hand computation, rollouts that keep their own
 * observations (not the released code's first 32), learning the slot task, the annealed learning
 * rate, an exact kill-and-resume between iterations, and no leaked tensors.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { PPO_DEFAULT_CONFIG, Ppo, type PpoConfig, type Rollout, computeGae } from "../../src/rl/ppo.js";
import { readVariables, vectorNetwork } from "../../src/rl/vector-network.js";
import { useBackend } from "../../src/tensor/backend.js";
import { SlotEnv, drain, policyReturn, randomReturn, tailMean } from "./fixtures/slot-env.js";

tf.env().set("PROD", true);
const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
before(async () => {
  await useBackend("wasm");
});

describe("PPO", () => {
  it("has CrystalGym's hyper-parameters (spec §6.2) as defaults", () => {
    const c = PPO_DEFAULT_CONFIG;
    assert.deepEqual(
      [c.learningRate, c.adamEpsilon, c.annealLr, c.numSteps, c.numMinibatches, c.updateEpochs, c.gamma, c.gaeLambda, c.clipCoef, c.clipVloss, c.entCoef, c.vfCoef, c.maxGradNorm, c.targetKl],
      [2.5e-4, 1e-5, true, 32, 2, 4, 0.99, 0.95, 0.2, true, 0.01, 0.5, 0.5, null],
    );
  });

  it("computes GAE(λ) and returns, stopping at episode ends", () => {
    const r: Rollout<number> = {
      obs: [0, 1, 2],
      actions: new Int32Array(3),
      logProbs: new Float32Array(3),
      values: Float32Array.from([0.5, 0.25, 1]),
      rewards: Float32Array.from([0, 1, 0]),
      ends: Float32Array.from([0, 1, 0]),
      advantages: new Float32Array(3),
      returns: new Float32Array(3),
    };
    const g = 0.9;
    const l = 0.5;
    computeGae(r, 2, g, l);
    const a2 = 0 + g * 2 - 1; // the last step bootstraps from nextValue
    const a1 = 1 - 0.25; // the episode ends: no value after it
    const a0 = 0 + g * 0.25 - 0.5 + g * l * a1;
    const close = (x: number, y: number): void => assert.ok(Math.abs(x - y) < 1e-6, `${x} vs ${y}`);
    [a0, a1, a2].forEach((a, i) => close(r.advantages[i]!, a));
    [a0 + 0.5, a1 + 0.25, a2 + 1].forEach((x, i) => close(r.returns[i]!, x));
  });

  it("learns the slot task well above the random policy", async (t) => {
    const env = new SlotEnv(4, 4);
    const random = await randomReturn(env, 400, 1);
    const agent = new Ppo(env, vectorNetwork(env.observationSize, { hidden: [64, 64] }), { totalTimesteps: 4000, learningRate: 3e-3, seed: 1 });
    const run = await drain(agent.train());
    const trained = tailMean(run.returns, 100);
    const greedy = await policyReturn(env, (o) => agent.act(o, { greedy: true }), 200);
    t.diagnostic(`PPO: random ${random.toFixed(3)}, last 100 training episodes ${trained.toFixed(3)}, greedy ${greedy.toFixed(3)}; ${agent.progress.globalStep} steps, ${agent.progress.updates} iterations, ${run.seconds.toFixed(1)} s`);
    assert.equal(agent.progress.updates, 125);
    assert.ok(trained > random + 0.15, `trained ${trained} vs random ${random}`);
    assert.ok(greedy > random + 0.2, `greedy ${greedy}`);
    // the learning rate falls linearly: iteration i uses (1 − (i − 1)/125) lr
    const lrs = run.logs.map((r) => r["charts/learning_rate"] as number);
    assert.ok(Math.abs(lrs[0]! - 3e-3) < 1e-12 && Math.abs(lrs.at(-1)! - 3e-3 / 125) < 1e-12);
    agent.dispose();
  });

  it("feeds each minibatch the observations of its own rollout", async () => {
    const env = new SlotEnv(4, 4);
    const agent = new Ppo(env, vectorNetwork(env.observationSize, { hidden: [8] }), { totalTimesteps: 64, seed: 2 });
    const seen: Float32Array[][] = [];
    const apply = agent.actor.apply.bind(agent.actor);
    agent.actor.apply = (obs) => {
      if (obs.length === 16) seen.push([...obs]);
      return apply(obs);
    };
    await drain(agent.train());
    assert.equal(seen.length, 2 * 2 * 4); // 2 iterations x 4 epochs x 2 minibatches
    const first = new Set(seen.slice(0, 8).flat());
    const second = new Set(seen.slice(8).flat());
    assert.equal(first.size, 32);
    assert.equal(second.size, 32);
    for (const o of second) assert.ok(!first.has(o), "the second update reuses an observation of the first rollout");
    agent.dispose();
  });

  it("resumes between iterations exactly as an uninterrupted run, and leaks no tensors", async () => {
    const dir = mkdtempSync(join(tmpdir(), "crystal-rl-ppo-"));
    dirs.push(dir);
    const SMALL: Partial<PpoConfig> = { totalTimesteps: 256, seed: 4 };
    const make = (): Ppo<Float32Array> => {
      const env = new SlotEnv(4, 4, 1);
      return new Ppo(env, vectorNetwork(env.observationSize, { hidden: [16] }), SMALL);
    };
    const whole = make();
    const start = await drain(whole.train({ until: 64 }));
    assert.equal(start.episodes[0]!["info/errorFlag"], 0);
    const before = tf.memory().numTensors; // Adam's moments exist after the first iteration
    await drain(whole.train());
    assert.equal(tf.memory().numTensors, before);
    const first = make();
    await drain(first.train({ until: 128, checkpointDir: dir, checkpointInterval: 64 }));
    first.dispose();
    const resumed = make();
    await resumed.load(dir);
    assert.deepEqual(resumed.progress, { globalStep: 128, episodes: 32, updates: 4 });
    await drain(resumed.train());
    assert.deepEqual(resumed.progress, whole.progress);
    assert.deepEqual(await readVariables(resumed.actor.variables), await readVariables(whole.actor.variables));
    assert.deepEqual(await readVariables(resumed.critic.variables), await readVariables(whole.critic.variables));
    resumed.dispose();
    whole.dispose();
  });
});
