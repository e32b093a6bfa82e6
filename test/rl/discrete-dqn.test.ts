/**
 * DQN: the spec's defaults, learning a small delayed-reward task (SlotEnv) well above the random
 * policy, the episode records with the env's info, an async env, a kill-and-resume that repeats the
 * uninterrupted run exactly, and no leaked tensors.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { DQN_DEFAULT_CONFIG, Dqn, type DqnConfig, linearSchedule } from "../../src/rl/dqn.js";
import { readVariables, vectorNetwork } from "../../src/rl/vector-network.js";
import { useBackend } from "../../src/tensor/backend.js";
import { SlotEnv, drain, policyReturn, randomReturn, tailMean } from "./fixtures/slot-env.js";

tf.env().set("PROD", true);
const dirs: string[] = [];
const tempDir = (): string => {
  const d = mkdtempSync(join(tmpdir(), "crystal-rl-dqn-"));
  dirs.push(d);
  return d;
};
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
before(async () => {
  await useBackend("wasm");
});

const SMALL: Partial<DqnConfig> = { totalTimesteps: 240, learningStarts: 40, bufferSize: 100, batchSize: 16, trainFrequency: 2, targetNetworkFrequency: 20, logInterval: 20, seed: 5 };

describe("DQN", () => {
  it("has CrystalGym's hyper-parameters (spec §6.2) as defaults", () => {
    const c = DQN_DEFAULT_CONFIG;
    assert.deepEqual(
      [c.learningRate, c.bufferSize, c.batchSize, c.gamma, c.startE, c.endE, c.explorationFraction, c.learningStarts, c.trainFrequency, c.targetNetworkFrequency, c.tau],
      [2.5e-4, 2000, 64, 0.99, 1, 0.05, 0.2, 1000, 4, 100, 1],
    );
    assert.equal(linearSchedule(1, 0.05, 100, 0), 1);
    assert.equal(linearSchedule(1, 0.05, 100, 50), 0.525);
    assert.equal(linearSchedule(1, 0.05, 100, 500), 0.05);
  });

  it("learns the slot task well above the random policy", async (t) => {
    const env = new SlotEnv(4, 4);
    const random = await randomReturn(env, 400, 1);
    const agent = new Dqn(env, vectorNetwork(env.observationSize, { hidden: [64, 64] }), {
      totalTimesteps: 3000,
      learningStarts: 200,
      learningRate: 1e-3,
      explorationFraction: 0.4,
      trainFrequency: 2,
      seed: 1,
    });
    const run = await drain(agent.train());
    const trained = tailMean(run.returns, 100);
    const greedy = await policyReturn(env, (o) => agent.act(o, { greedy: true }), 200);
    t.diagnostic(`DQN: random ${random.toFixed(3)}, last 100 training episodes ${trained.toFixed(3)}, greedy ${greedy.toFixed(3)}; 3000 steps, ${agent.progress.updates} updates, ${run.seconds.toFixed(1)} s`);
    assert.equal(agent.progress.globalStep, 3000);
    assert.equal(run.returns.length, 750);
    assert.ok(trained > random + 0.2, `trained ${trained} vs random ${random}`);
    assert.ok(greedy > 0.6, `greedy ${greedy}`);
    agent.dispose();
  });

  it("awaits a slow env, passes the terminal info through, and logs losses", async () => {
    const env = new SlotEnv(4, 4, 1);
    const agent = new Dqn(env, vectorNetwork(env.observationSize, { hidden: [16] }), { ...SMALL, totalTimesteps: 80 });
    const run = await drain(agent.train());
    assert.equal(run.episodes.length, 20);
    const e = run.episodes[0]!;
    assert.equal(e["charts/episodic_length"], 4);
    assert.equal(e["info/errorFlag"], 0);
    assert.equal(e["info/seconds"], 0.001);
    assert.equal(e["info/value"], (e["charts/episodic_return"] as number) * 4);
    assert.ok((e["charts/epsilon"] as number) > 0.8);
    assert.equal(run.episodes.at(-1)!["charts/epsilon"], 0.05); // ε reaches 0.05 at 0.2 x 80 steps
    const log = run.logs.at(-1)!;
    assert.ok(Number.isFinite(log["losses/td_loss"]) && Number.isFinite(log["losses/q_values"]) && (log["charts/SPS"] as number) > 0);
    agent.dispose();
  });

  it("resumes from a checkpoint exactly where an uninterrupted run would be", async () => {
    const dir = tempDir();
    const make = (): Dqn<Float32Array> => {
      const env = new SlotEnv(4, 4);
      return new Dqn(env, vectorNetwork(env.observationSize, { hidden: [16] }), SMALL);
    };
    const whole = make();
    await drain(whole.train());

    const first = make();
    await drain(first.train({ until: 120, checkpointDir: dir }));
    first.dispose(); // "killed"
    const resumed = make();
    await resumed.load(dir);
    assert.deepEqual(resumed.progress, { globalStep: 120, episodes: 30, updates: 40 });
    assert.equal(resumed.buffer.size, 100);
    await drain(resumed.train());

    assert.deepEqual(resumed.progress, whole.progress);
    assert.equal(resumed.buffer.added, whole.buffer.added);
    assert.equal(resumed.buffer.sampleCalls, whole.buffer.sampleCalls);
    assert.deepEqual(await readVariables(resumed.qNetwork.variables), await readVariables(whole.qNetwork.variables));
    assert.deepEqual(await readVariables(resumed.targetNetwork.variables), await readVariables(whole.targetNetwork.variables));

    // the same through train({ resume: true }): it loads the checkpoint itself (the one at step 120 in `again`)
    const again = tempDir();
    const killed = make();
    await drain(killed.train({ until: 120, checkpointDir: again, checkpointInterval: 40 }));
    killed.dispose();
    const auto = make();
    await drain(auto.train({ checkpointDir: again, resume: true }));
    assert.deepEqual(auto.progress, whole.progress);
    assert.deepEqual(await readVariables(auto.qNetwork.variables), await readVariables(whole.qNetwork.variables));
    auto.dispose();
    resumed.dispose();
    whole.dispose();
  });

  it("refuses a checkpoint of another network", async () => {
    const dir = tempDir();
    const env = new SlotEnv(4, 4);
    const a = new Dqn(env, vectorNetwork(env.observationSize, { hidden: [16] }), SMALL);
    await a.save(dir);
    const b = new Dqn(env, vectorNetwork(env.observationSize, { hidden: [8] }), SMALL);
    await assert.rejects(b.load(dir), /variable 0 .* \[36,8\] here, \[36,16\] in the checkpoint/);
    a.dispose();
    b.dispose();
  });

  it("leaks no tensors across updates and training steps", async () => {
    const env = new SlotEnv(4, 4);
    const agent = new Dqn(env, vectorNetwork(env.observationSize, { hidden: [16] }), { ...SMALL, totalTimesteps: 400 });
    await drain(agent.train({ until: 100 }));
    const before = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) await agent.update();
    assert.equal(tf.memory().numTensors, before);
    await drain(agent.train({ until: 200 }));
    assert.equal(tf.memory().numTensors, before);
    agent.dispose();
    assert.equal(tf.memory().numTensors, before - 4 * 2 - 2 * 4 - 2); // 2 networks x 4 variables, Adam's 2 x 4 moments and 2 β powers
  });
});
