/**
 * The four discrete algorithms (DQN, PPO, Rainbow, discrete SAC) on the webgpu backend, where Node
 * cannot read a GPU tensor synchronously: each trains a few steps with updates, acts greedily, saves a
 * checkpoint (Adam's β powers read too), all reads asynchronous, and leaks no tensors. Runs where an
 * adapter is found (a GPU, or Mesa's llvmpipe through Dawn) and otherwise skips with the probe's reason.
 * Tiny networks on the slot task (fixtures/slot-env.ts): llvmpipe is slow.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";
import * as tf from "@tensorflow/tfjs";
import type { DiscreteProgress, DiscreteRecord, DiscreteTrainOptions } from "../../src/rl/discrete-replay.js";
import { Dqn } from "../../src/rl/dqn.js";
import { Ppo } from "../../src/rl/ppo.js";
import { Rainbow } from "../../src/rl/rainbow.js";
import { SacDiscrete } from "../../src/rl/sac-discrete.js";
import { vectorNetwork } from "../../src/rl/vector-network.js";
import { currentBackend } from "../../src/tensor/backend.js";
import { onWebgpu } from "../helpers/webgpu.js";
import { SlotEnv, drain } from "./fixtures/slot-env.js";

tf.env().set("PROD", true);

const { runs, root } = onWebgpu("discrete-webgpu-test");

interface Agent {
  readonly progress: DiscreteProgress;
  train(options?: DiscreteTrainOptions): AsyncGenerator<DiscreteRecord, DiscreteProgress, void>;
  act(obs: Float32Array, options?: { greedy?: boolean }): Promise<number>;
  save(dir: string): Promise<void>;
  dispose(): void;
}

const env = (): SlotEnv => new SlotEnv(4, 4);
const net = vectorNetwork(new SlotEnv(4, 4).observationSize, { hidden: [16] });
// 24 steps: learning from step 8, an update every 2 steps (PPO: 3 iterations of 8 steps, 2 minibatches)
const off = { totalTimesteps: 24, learningStarts: 8, bufferSize: 32, batchSize: 8, targetNetworkFrequency: 4, logInterval: 4, seed: 3 };
const AGENTS: [string, string, () => Agent][] = [
  ["dqn", "losses/td_loss", () => new Dqn(env(), net, { ...off, trainFrequency: 2 })],
  ["ppo", "losses/value_loss", () => new Ppo(env(), net, { totalTimesteps: 24, numSteps: 8, numMinibatches: 2, updateEpochs: 2, seed: 3 })],
  ["rainbow", "losses/td_loss", () => new Rainbow(env(), net, { ...off, trainFrequency: 2, trunkOutputs: 16, headHidden: [], atoms: 11, vMin: -0.1, vMax: 1.1 })],
  ["sac", "losses/qf_loss", () => new SacDiscrete(env(), net, { ...off, updateFrequency: 2 })],
];

describe("discrete algorithms on webgpu", () => {
  for (const [name, loss, make] of AGENTS) {
    it(`${name}: trains, acts greedily and saves with asynchronous reads only, leaking nothing`, { timeout: 120_000 }, async (t) => {
      if (!runs(t)) return;
      assert.equal(currentBackend(), "webgpu");
      const t0 = performance.now();
      const agent = make();
      try {
        const first = await drain(agent.train({ until: 16 })); // Adam's moments exist after the first update
        const before = tf.memory().numTensors;
        const rest = await drain(agent.train());
        const action = await agent.act(new Float32Array(36), { greedy: true });
        await agent.act(new Float32Array(36)); // Rainbow's greedy act drops its noise tensors, this one redraws them
        await agent.save(join(root(), name));
        assert.equal(tf.memory().numTensors, before);
        assert.equal(agent.progress.globalStep, 24);
        assert.ok(agent.progress.updates >= 2, `${agent.progress.updates} updates`);
        assert.ok(Number.isInteger(action) && action >= 0 && action < 4, `action ${action}`);
        const logs = [...first.logs, ...rest.logs];
        assert.ok(logs.length > 0 && logs.every((r) => Number.isFinite(r[loss])), `${loss}: ${logs.map((r) => r[loss])}`);
        t.diagnostic(`${name}: ${agent.progress.updates} updates, ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      } finally {
        agent.dispose();
      }
    });
  }
});
