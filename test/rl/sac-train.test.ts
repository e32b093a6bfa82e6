/**
 * A short SAC training run on a toy continuous-control task improves the return: "move to the origin"
 * in 3-D, the reward being the decrease of the distance (the MACS reward's shape: a per-step
 * improvement, so the return telescopes to the total distance gained). Many environments step
 * together with one batched policy call, every transition goes into the replay buffer, truncation
 * bootstraps and reaching the origin terminates, as in the relaxation game. cpu and wasm.
 */
import assert from "node:assert/strict";
import { it } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { ReplayBuffer } from "../../src/rl/replay-buffer.js";
import { Sac, type SacConfig } from "../../src/rl/sac.js";
import { Rng } from "../../src/structure/random-source.js";
import { forEachBackend } from "../tensor/backends.js";

const STEP = 0.1; // displacement per unit action
const GOAL = 0.1; // success radius
const HORIZON = 25; // truncation
const SCALE = 10; // reward = SCALE x distance decrease

/** E independent point walkers in [-1, 1]^3. */
class ReachOrigin {
  readonly pos: Float32Array;
  readonly t: Int32Array;
  constructor(
    readonly envs: number,
    private readonly rng: Rng,
  ) {
    this.pos = new Float32Array(envs * 3);
    this.t = new Int32Array(envs);
    for (let e = 0; e < envs; e++) this.reset(e);
  }
  reset(e: number): void {
    do {
      for (let j = 0; j < 3; j++) this.pos[3 * e + j] = this.rng.uniform(-1, 1);
    } while (this.dist(e) < 2 * GOAL);
    this.t[e] = 0;
  }
  dist(e: number): number {
    return Math.hypot(this.pos[3 * e]!, this.pos[3 * e + 1]!, this.pos[3 * e + 2]!);
  }
  /** Steps every environment; returns rewards, terminated, truncated, and the next observations (before resets). */
  step(actions: Float32Array): { rewards: Float32Array; terminated: Uint8Array; truncated: Uint8Array; next: Float32Array } {
    const rewards = new Float32Array(this.envs);
    const terminated = new Uint8Array(this.envs);
    const truncated = new Uint8Array(this.envs);
    for (let e = 0; e < this.envs; e++) {
      const before = this.dist(e);
      for (let j = 0; j < 3; j++) this.pos[3 * e + j]! += STEP * actions[3 * e + j]!;
      rewards[e] = SCALE * (before - this.dist(e));
      this.t[e]!++;
      terminated[e] = this.dist(e) < GOAL ? 1 : 0;
      truncated[e] = !terminated[e] && this.t[e]! >= HORIZON ? 1 : 0;
    }
    return { rewards, terminated, truncated, next: this.pos.slice() };
  }
}

/** Mean return of `policy` over fixed starts (the same for every call). */
function evaluate(policy: (obs: Float32Array) => Float32Array): number {
  const env = new ReachOrigin(64, new Rng(999));
  const total = new Float64Array(64);
  const live = new Uint8Array(64).fill(1);
  for (let k = 0; k < HORIZON; k++) {
    const { rewards, terminated } = env.step(policy(env.pos.slice()));
    for (let e = 0; e < 64; e++) {
      if (live[e]) total[e]! += rewards[e]!;
      if (terminated[e]) live[e] = 0;
    }
  }
  return total.reduce((a, b) => a + b, 0) / 64;
}

const CONFIG: Partial<SacConfig> = {
  obsDim: 3,
  actionDim: 3,
  hiddenSizes: [64, 64],
  batchSize: 128,
  gamma: 0.9,
  tau: 0.02,
  policyLr: 1e-3,
  qLr: 1e-3,
  alphaLr: 1e-3,
  alpha: 0.1,
  targetEntropy: -3,
  learningStarts: 256,
  seed: 3,
};

forEachBackend("SAC training on a toy task", () => {
  it("improves the deterministic policy's return well beyond a random policy's within a few hundred updates", (t) => {
    const t0 = performance.now();
    const sac = new Sac(CONFIG);
    const buffer = new ReplayBuffer({ capacity: 20_000, obsDim: 3, actionDim: 3, seed: 3 });
    const envs = 16;
    const env = new ReachOrigin(envs, new Rng(4));
    const rng = new Rng(5);
    const random = evaluate((obs) => Float32Array.from({ length: obs.length }, () => rng.uniform(-1, 1)));
    const untrained = evaluate((obs) => sac.act(obs, { deterministic: true }));
    const tensors = tf.memory().numTensors;
    let updates = 0;
    for (let step = 0; step < 300; step++) {
      const obs = env.pos.slice();
      sac.normaliser!.update(obs);
      const actions = sac.act(obs);
      const { rewards, terminated, truncated, next } = env.step(actions);
      buffer.add({ obs, actions, rewards, nextObs: next, terminated });
      for (let e = 0; e < envs; e++) if (terminated[e] || truncated[e]) env.reset(e);
      if (buffer.size >= CONFIG.learningStarts!) {
        sac.update(buffer.sample(CONFIG.batchSize!));
        updates++;
        if (updates === 1) assert.equal(tf.memory().numTensors - tensors > 0, true, "Adam slots created");
      }
    }
    const trained = evaluate((obs) => sac.act(obs, { deterministic: true }));
    const seconds = (performance.now() - t0) / 1000;
    // The best possible return is about SCALE x (mean start distance - GOAL) ≈ 8.
    assert.ok(trained > 4, `trained return ${trained.toFixed(2)} (random ${random.toFixed(2)}, untrained ${untrained.toFixed(2)})`);
    assert.ok(trained > random + 3, `trained ${trained.toFixed(2)} vs random ${random.toFixed(2)}`);
    assert.ok(updates >= 250);
    sac.dispose();
    t.diagnostic(`${tf.getBackend()}: ${updates} updates in ${seconds.toFixed(1)} s; return random ${random.toFixed(2)}, untrained ${untrained.toFixed(2)}, trained ${trained.toFixed(2)}`);
  });
});
