/**
 * Discrete SAC: the spec's defaults with automatic entropy tuning (target 0.89 log |A|), learning the
 * slot task, α moving towards the target entropy, the fixed-α variant, an exact kill-and-resume, and
 * no leaked tensors.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { SAC_DISCRETE_DEFAULT_CONFIG, SacDiscrete, type SacDiscreteConfig } from "../../src/rl/sac-discrete.js";
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

const SMALL: Partial<SacDiscreteConfig> = { totalTimesteps: 240, learningStarts: 40, bufferSize: 100, batchSize: 16, updateFrequency: 2, targetNetworkFrequency: 20, logInterval: 20, seed: 6 };

describe("discrete SAC", () => {
  it("has CrystalGym's hyper-parameters (spec §6.2) with automatic entropy tuning on", async () => {
    const c = SAC_DISCRETE_DEFAULT_CONFIG;
    assert.deepEqual(
      [c.policyLr, c.qLr, c.alphaLr, c.adamEpsilon, c.bufferSize, c.batchSize, c.gamma, c.learningStarts, c.updateFrequency, c.targetNetworkFrequency, c.tau, c.alpha, c.autotune, c.targetEntropyScale],
      [3e-4, 3e-4, 3e-4, 1e-4, 2000, 64, 0.99, 1000, 4, 100, 1, 0.2, true, 0.89],
    );
    const env = new SlotEnv(4, 4);
    const agent = new SacDiscrete(env, vectorNetwork(env.observationSize, { hidden: [8] }), SMALL);
    assert.ok(Math.abs(agent.targetEntropy - 0.89 * Math.log(4)) < 1e-12);
    assert.ok(Math.abs((await agent.alpha()) - 0.2) < 1e-6);
    agent.dispose();
  });

  it("learns the slot task well above the random policy, α holding the entropy near its target", async (t) => {
    const env = new SlotEnv(4, 4);
    const random = await randomReturn(env, 400, 1);
    const agent = new SacDiscrete(env, vectorNetwork(env.observationSize, { hidden: [64, 64] }), {
      totalTimesteps: 2500,
      learningStarts: 100,
      updateFrequency: 2,
      policyLr: 3e-3,
      qLr: 3e-3,
      alphaLr: 3e-3,
      alpha: 0.05,
      seed: 1,
    });
    const run = await drain(agent.train());
    const trained = tailMean(run.returns, 100);
    const greedy = await policyReturn(env, (o) => agent.act(o, { greedy: true }), 200);
    const last = run.logs.at(-1)!;
    const alpha = await agent.alpha();
    t.diagnostic(
      `SAC: random ${random.toFixed(3)}, last 100 training episodes ${trained.toFixed(3)}, greedy ${greedy.toFixed(3)}; 2500 steps, ${agent.progress.updates} updates, ${run.seconds.toFixed(1)} s; α ${alpha.toFixed(4)}, entropy ${(last["losses/entropy"] as number).toFixed(3)} (target ${agent.targetEntropy.toFixed(3)})`,
    );
    // the target entropy keeps the stochastic policy broad (at most ≈ 51 % on its best action at |A| = 4),
    // so the training return stays near 0.5 while the greedy policy is far better
    assert.ok(trained > random + 0.12, `trained ${trained} vs random ${random}`);
    assert.ok(greedy > 0.6, `greedy ${greedy}`);
    assert.ok(Math.abs((last["losses/entropy"] as number) - agent.targetEntropy) < 0.2, `entropy ${last["losses/entropy"]}`);
    assert.notEqual(alpha.toFixed(4), "0.0500");
    for (const k of ["losses/qf_loss", "losses/actor_loss", "losses/alpha_loss", "losses/alpha", "losses/qf1_values"]) assert.ok(Number.isFinite(last[k]), k);
    agent.dispose();
  });

  it("keeps α fixed without autotune (the paper's setting)", async () => {
    const env = new SlotEnv(4, 4);
    const agent = new SacDiscrete(env, vectorNetwork(env.observationSize, { hidden: [8] }), { ...SMALL, autotune: false });
    const run = await drain(agent.train());
    assert.ok(Math.abs((await agent.alpha()) - 0.2) < 1e-6);
    assert.ok(run.logs.every((r) => r["losses/alpha_loss"] === 0));
    agent.dispose();
  });

  it("resumes exactly as an uninterrupted run, and leaks no tensors", async () => {
    const dir = mkdtempSync(join(tmpdir(), "crystal-rl-sac-discrete-"));
    dirs.push(dir);
    const make = (): SacDiscrete<Float32Array> => {
      const env = new SlotEnv(4, 4);
      return new SacDiscrete(env, vectorNetwork(env.observationSize, { hidden: [16] }), SMALL);
    };
    const whole = make();
    await drain(whole.train({ until: 80 }));
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) await whole.update();
    assert.equal(tf.memory().numTensors, before);
    await drain(whole.train());
    assert.equal(tf.memory().numTensors, before);

    const first = make();
    await drain(first.train({ until: 80 }));
    for (let i = 0; i < 3; i++) await first.update(); // the same extra updates, so the runs stay comparable
    await drain(first.train({ until: 120 }));
    await first.save(dir);
    first.dispose();
    const resumed = make();
    await resumed.load(dir);
    assert.deepEqual(resumed.progress, { globalStep: 120, episodes: 30, updates: 43 });
    await drain(resumed.train());
    assert.deepEqual(resumed.progress, whole.progress);
    assert.equal(resumed.buffer.size, whole.buffer.size);
    assert.equal(await resumed.alpha(), await whole.alpha());
    assert.deepEqual(await readVariables(resumed.actor.variables), await readVariables(whole.actor.variables));
    assert.deepEqual(await readVariables(resumed.qf2Target.variables), await readVariables(whole.qf2Target.variables));
    resumed.dispose();
    whole.dispose();
  });
});
