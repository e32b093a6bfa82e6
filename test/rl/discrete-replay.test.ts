/**
 * Experience for the discrete algorithms: the uniform ring buffer, the sum tree's proportional
 * sampling, prioritised replay's importance weights and priority updates, n-step returns at episode
 * boundaries (terminated and truncated), snapshot/restore round trips, and the info pass-through.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  DiscreteReplayBuffer,
  EpisodeStats,
  NStepBuffer,
  PrioritizedReplayBuffer,
  SumTree,
  infoMetrics,
  type DiscreteTransition,
} from "../../src/rl/discrete-replay.js";
import { Rng } from "../../src/structure/random-source.js";

const transition = (i: number, extra: Partial<DiscreteTransition<{ id: number }>> = {}): DiscreteTransition<{ id: number }> => ({
  obs: { id: i },
  action: i % 3,
  reward: i,
  nextObs: { id: i + 1 },
  done: false,
  discount: 0.99,
  ...extra,
});

describe("DiscreteReplayBuffer", () => {
  it("keeps the newest `capacity` transitions in order and samples only those", () => {
    const b = new DiscreteReplayBuffer<{ id: number }>({ capacity: 5, seed: 1 });
    for (let i = 0; i < 8; i++) b.add(transition(i));
    assert.equal(b.size, 5);
    assert.equal(b.added, 8);
    assert.deepEqual([0, 1, 2, 3, 4].map((i) => b.get(i).obs.id), [3, 4, 5, 6, 7]);
    const batch = b.sample(200);
    for (let k = 0; k < batch.size; k++) {
      assert.ok(batch.obs[k]!.id >= 3);
      assert.equal(batch.nextObs[k]!.id, batch.obs[k]!.id + 1);
      assert.equal(batch.rewards[k], batch.obs[k]!.id);
      assert.equal(batch.actions[k], batch.obs[k]!.id % 3);
      assert.equal(batch.weights[k], 1);
    }
  });

  it("samples the same sequence after a snapshot and restore (observations shared, written once)", () => {
    const a = new DiscreteReplayBuffer<Float32Array>({ capacity: 50, seed: 7 });
    let prev = new Float32Array([0, 0]);
    for (let i = 0; i < 60; i++) {
      const next = new Float32Array([i, i * i]);
      a.add({ obs: prev, action: i % 4, reward: i / 10, nextObs: next, done: i % 5 === 4, discount: 0.99 ** (1 + (i % 3)) });
      prev = next;
    }
    a.sample(8);
    const { meta, blobs } = a.snapshot();
    const b = new DiscreteReplayBuffer<Float32Array>({ capacity: 50, seed: 7 });
    b.restore(meta, blobs, "test");
    assert.equal(b.size, a.size);
    assert.equal(b.added, a.added);
    const x = a.sample(16);
    const y = b.sample(16);
    assert.deepEqual(y.indices, x.indices);
    assert.deepEqual(y.obs, x.obs);
    assert.deepEqual(y.nextObs, x.nextObs);
    assert.deepEqual(y.discounts, x.discounts);
    assert.deepEqual(y.dones, x.dones);
    // obs of step t+1 is nextObs of step t: the restored buffer still shares the object
    assert.equal(b.get(10).nextObs, b.get(11).obs);
  });
});

describe("SumTree", () => {
  it("finds leaves in proportion to their values (chi-square over 40k draws)", () => {
    const values = [5, 0, 1, 3, 0.5, 10, 0, 2.5, 8]; // 9 leaves: a tree of 16
    const tree = new SumTree(values.length);
    values.forEach((v, i) => tree.set(i, v));
    const total = values.reduce((a, b) => a + b, 0);
    assert.equal(tree.total, total);
    const rng = new Rng(3);
    const counts = new Array<number>(values.length).fill(0);
    const n = 40_000;
    for (let k = 0; k < n; k++) counts[tree.find(rng.next() * total)]!++;
    let chi2 = 0;
    values.forEach((v, i) => {
      if (v === 0) assert.equal(counts[i], 0, `leaf ${i} has value 0 but was drawn`);
      else chi2 += (counts[i]! - (n * v) / total) ** 2 / ((n * v) / total);
    });
    assert.ok(chi2 < 26.1, `chi-square ${chi2.toFixed(1)} over 6 degrees of freedom (p = 0.0002 at 26.1)`); // 7 non-zero leaves
  });

  it("handles the edges: mass 0, mass = total, updates of a leaf", () => {
    const tree = new SumTree(5);
    [1, 2, 3, 0, 0].forEach((v, i) => tree.set(i, v));
    assert.equal(tree.find(0), 0);
    assert.equal(tree.find(6), 2); // the right edge lands on the last non-empty leaf
    assert.equal(tree.find(1e9), 2);
    tree.set(1, 0.5);
    assert.equal(tree.total, 4.5);
    assert.equal(tree.find(1.2), 1);
    assert.equal(tree.find(1.6), 2);
  });
});

describe("PrioritizedReplayBuffer", () => {
  it("samples ∝ p^α and weights by (p / p_min)^-β, p_min the batch's", () => {
    const b = new PrioritizedReplayBuffer<{ id: number }>({ capacity: 4, seed: 2, alpha: 0.5, epsilon: 0 });
    for (let i = 0; i < 4; i++) b.add(transition(i));
    b.updatePriorities([0, 1, 2, 3], [1, 4, 9, 16]); // p^α = 1, 2, 3, 4
    assert.deepEqual([0, 1, 2, 3].map((i) => b.priority(i)), [1, 2, 3, 4]);
    const counts = [0, 0, 0, 0];
    for (let k = 0; k < 500; k++) {
      const batch = b.sample(32, 0.4);
      for (let j = 0; j < 32; j++) {
        const i = batch.indices[j]!;
        counts[i]!++;
        const pMin = Math.min(...Array.from(batch.indices, (x) => x + 1));
        assert.ok(Math.abs(batch.weights[j]! - ((i + 1) / pMin) ** -0.4) < 1e-6);
      }
    }
    const n = 500 * 32;
    counts.forEach((c, i) => assert.ok(Math.abs(c / n - (i + 1) / 10) < 0.01, `slot ${i}: ${c / n} against ${(i + 1) / 10}`));
    // β = 1 weights are exactly 1/P normalised; the largest weight is always 1
    const w = b.sample(64, 1);
    assert.ok(Math.abs(Math.max(...w.weights) - 1) < 1e-6);
  });

  it("gives new transitions the largest priority seen, and restores priorities from a snapshot", () => {
    const b = new PrioritizedReplayBuffer<{ id: number }>({ capacity: 8, seed: 2, alpha: 0.6 });
    b.add(transition(0));
    b.add(transition(1));
    b.updatePriorities([0, 1], [3, 0.1]);
    b.add(transition(2));
    assert.ok(Math.abs(b.priority(2) - (3 + 1e-6) ** 0.6) < 1e-9);
    const { meta, blobs } = b.snapshot();
    const c = new PrioritizedReplayBuffer<{ id: number }>({ capacity: 8, seed: 2, alpha: 0.6 });
    c.restore(meta, blobs, "test");
    for (let i = 0; i < 3; i++) assert.equal(c.priority(i), b.priority(i));
    assert.deepEqual(c.sample(10, 0.5).indices, b.sample(10, 0.5).indices);
    c.add(transition(3));
    assert.equal(c.priority(3), b.priority(2));
    const uniform = new DiscreteReplayBuffer<{ id: number }>({ capacity: 8, seed: 2 });
    assert.throws(() => new PrioritizedReplayBuffer({ capacity: 8, seed: 2 }).restore(uniform.snapshot().meta, uniform.snapshot().blobs, "dir"), /uniform replay buffer/);
  });
});

describe("NStepBuffer", () => {
  const steps = (rewards: number[], end: "terminated" | "truncated" | "none") =>
    rewards.map((reward, t) => ({
      obs: `s${t}`,
      action: t,
      reward,
      nextObs: `s${t + 1}`,
      terminated: end === "terminated" && t === rewards.length - 1,
      truncated: end === "truncated" && t === rewards.length - 1,
    }));

  it("gives 3-step returns inside an episode and flushes every pending state at a termination", () => {
    const g = 0.9;
    const nstep = new NStepBuffer<string>(3, g);
    const out = steps([1, 2, 3, 4, 5], "terminated").flatMap((s) => nstep.push(s));
    assert.equal(nstep.size, 0);
    assert.deepEqual(out.map((t) => t.obs), ["s0", "s1", "s2", "s3", "s4"]); // one per step, in order
    const close = (a: number, b: number): void => assert.ok(Math.abs(a - b) < 1e-12, `${a} vs ${b}`);
    close(out[0]!.reward, 1 + g * 2 + g * g * 3);
    close(out[1]!.reward, 2 + g * 3 + g * g * 4);
    close(out[2]!.reward, 3 + g * 4 + g * g * 5);
    close(out[3]!.reward, 4 + g * 5);
    close(out[4]!.reward, 5);
    assert.deepEqual(out.map((t) => t.nextObs), ["s3", "s4", "s5", "s5", "s5"]);
    assert.deepEqual(out.map((t) => t.done), [false, false, true, true, true]);
    out.slice(0, 2).forEach((t) => close(t.discount, g ** 3));
    assert.deepEqual(out.map((t) => t.action), [0, 1, 2, 3, 4]);
  });

  it("bootstraps a truncated episode's tail with γ^k for its k remaining steps", () => {
    const g = 0.5;
    const nstep = new NStepBuffer<string>(3, g);
    const out = steps([0, 0, 0, 0, 1], "truncated").flatMap((s) => nstep.push(s));
    assert.deepEqual(out.map((t) => t.done), [false, false, false, false, false]);
    assert.deepEqual(out.map((t) => t.discount), [g ** 3, g ** 3, g ** 3, g ** 2, g]);
    assert.deepEqual(out.map((t) => t.reward), [0, 0, g * g, g, 1]);
    // a shorter episode than n: all of it at the end, nothing crosses into the next episode
    const short = steps([1, 1], "terminated").flatMap((s) => nstep.push(s));
    assert.deepEqual(short.map((t) => t.reward), [1 + g, 1]);
    assert.equal(nstep.size, 0);
  });

  it("is the plain one-step transition for n = 1", () => {
    const nstep = new NStepBuffer<string>(1, 0.99);
    const out = steps([1, 2, 3], "terminated").flatMap((s) => nstep.push(s));
    assert.deepEqual(out.map((t) => [t.obs, t.reward, t.nextObs, t.discount]), [
      ["s0", 1, "s1", 0.99],
      ["s1", 2, "s2", 0.99],
      ["s2", 3, "s3", 0.99],
    ]);
  });
});

describe("episode records", () => {
  it("carry CleanRL's names and the env's terminal info", () => {
    const e = new EpisodeStats();
    e.add(0);
    e.add(0.75);
    const r = e.finish(42, { value: 1.1, errorFlag: 0, simSeconds: 12.5, composition: "NaCl", ok: true, missing: null, nested: { a: 1 }, list: [1, 2] });
    assert.deepEqual(r, {
      step: 42,
      "charts/episodic_return": 0.75,
      "charts/episodic_length": 2,
      "info/value": 1.1,
      "info/errorFlag": 0,
      "info/simSeconds": 12.5,
      "info/composition": "NaCl",
      "info/ok": true,
      "info/missing": NaN,
      "info/nested/a": 1,
    });
    assert.equal(e.return, 0);
    assert.deepEqual(infoMetrics({}), {});
  });
});

describe("checkConfig", () => {
  it("names the first bad number of a config, and every algorithm checks its own", async () => {
    const { checkConfig } = await import("../../src/rl/discrete-replay.js");
    const rules = { positiveIntegers: ["batch"], wholeNumbers: ["starts"], fractions: ["gamma"], positive: ["lr"] };
    assert.throws(() => checkConfig("X", { batch: 0, starts: 0, gamma: 0.5, lr: 1 }, rules), /^RangeError: X\.batch must be a positive integer, got 0$/);
    assert.throws(() => checkConfig("X", { batch: 1, starts: -1, gamma: 0.5, lr: 1 }, rules), /X\.starts must be a whole number >= 0, got -1/);
    assert.throws(() => checkConfig("X", { batch: 1, starts: 0, gamma: 1.5, lr: 1 }, rules), /X\.gamma must be in \[0, 1\], got 1\.5/);
    assert.throws(() => checkConfig("X", { batch: 1, starts: 0, gamma: 1, lr: 0 }, rules), /X\.lr must be positive, got 0/);
    checkConfig("X", { batch: 1, starts: 0, gamma: 1, lr: 1e-4 }, rules);
    const { SlotEnv } = await import("./fixtures/slot-env.js");
    const { vectorNetwork } = await import("../../src/rl/vector-network.js");
    const { Dqn } = await import("../../src/rl/dqn.js");
    const { Ppo } = await import("../../src/rl/ppo.js");
    const { Rainbow } = await import("../../src/rl/rainbow.js");
    const { SacDiscrete } = await import("../../src/rl/sac-discrete.js");
    const env = new SlotEnv(4, 4);
    const net = vectorNetwork(env.observationSize, { hidden: [4] });
    assert.throws(() => new Dqn(env, net, { batchSize: 0 }), /DqnConfig\.batchSize must be a positive integer, got 0/);
    assert.throws(() => new Ppo(env, net, { gaeLambda: 2 }), /PpoConfig\.gaeLambda must be in \[0, 1\], got 2/);
    assert.throws(() => new Rainbow(env, net, { tau: 1.5 }), /RainbowConfig\.tau must be in \(0, 1\], got 1\.5/);
    assert.throws(() => new SacDiscrete(env, net, { qLr: -1 }), /SacDiscreteConfig\.qLr must be positive, got -1/);
  });
});
