/** Replay buffer: ring wrap-around, done = termination only, seeded sampling, atomic save/load. */
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { ReplayBuffer, type Transitions } from "../../src/rl/replay-buffer.js";

const OBS = 4;
const ACT = 2;

/** n transitions whose every value encodes its id, so a sampled row can be checked for consistency. */
function rows(first: number, n: number, terminated: (id: number) => boolean = () => false): Transitions & { obs: Float32Array } {
  const obs = new Float32Array(n * OBS);
  const nextObs = new Float32Array(n * OBS);
  const actions = new Float32Array(n * ACT);
  const rewards = new Float32Array(n);
  const done: number[] = [];
  for (let i = 0; i < n; i++) {
    const id = first + i;
    for (let j = 0; j < OBS; j++) {
      obs[i * OBS + j] = id + j / 10;
      nextObs[i * OBS + j] = id + 0.5 + j / 10;
    }
    for (let j = 0; j < ACT; j++) actions[i * ACT + j] = -id - j / 10;
    rewards[i] = id * 2;
    done.push(terminated(id) ? 1 : 0);
  }
  return { obs, actions, rewards, nextObs, terminated: done };
}

const dirs: string[] = [];
const tempDir = (): string => {
  const d = mkdtempSync(join(tmpdir(), "crystal-rl-buffer-"));
  dirs.push(d);
  return d;
};
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe("ReplayBuffer", () => {
  it("stores rows in order and wraps around, overwriting the oldest", () => {
    const b = new ReplayBuffer({ capacity: 5, obsDim: OBS, actionDim: ACT });
    b.add(rows(0, 3));
    assert.equal(b.size, 3);
    assert.equal(b.get(0).rewards[0], 0);
    b.add(rows(3, 4)); // ids 0..6 into 5 slots: 2..6 remain
    assert.equal(b.size, 5);
    assert.equal(b.added, 7);
    assert.deepEqual([0, 1, 2, 3, 4].map((i) => b.get(i).rewards[0]! / 2), [2, 3, 4, 5, 6]);
    const oldest = b.get(0);
    assert.deepEqual([...oldest.obs], [2, 2.1, 2.2, 2.3].map(Math.fround));
    assert.deepEqual([...oldest.nextObs], [2.5, 2.6, 2.7, 2.8].map(Math.fround));
    assert.deepEqual([...oldest.actions], [-2, -2.1].map(Math.fround));
    assert.throws(() => b.get(5), /outside 0..4/);
    assert.equal(b.bytes, 5 * (2 * OBS + ACT + 2) * 4);
  });

  it("stores done = terminated only (a truncation is added with terminated false and bootstraps)", () => {
    const b = new ReplayBuffer({ capacity: 10, obsDim: OBS, actionDim: ACT });
    b.add(rows(0, 4, (id) => id === 2));
    assert.deepEqual([0, 1, 2, 3].map((i) => b.get(i).dones[0]), [0, 0, 1, 0]);
  });

  it("samples consistent rows, uniformly, and the same ones for the same seed", () => {
    const make = (seed: number) => {
      const b = new ReplayBuffer({ capacity: 100, obsDim: OBS, actionDim: ACT, seed });
      b.add(rows(0, 100, (id) => id % 7 === 0));
      return b;
    };
    const a = make(1);
    const s1 = a.sample(64);
    const s2 = make(1).sample(64);
    assert.deepEqual(s1, s2);
    assert.notDeepEqual(make(2).sample(64).rewards, s1.rewards);
    assert.notDeepEqual(a.sample(64).rewards, s1.rewards, "the next sample differs");
    for (let k = 0; k < 64; k++) {
      const id = s1.rewards[k]! / 2;
      assert.equal(s1.obs[k * OBS + 3], Math.fround(id + 0.3));
      assert.equal(s1.nextObs[k * OBS], Math.fround(id + 0.5));
      assert.equal(s1.actions[k * ACT + 1], Math.fround(-id - 0.1));
      assert.equal(s1.dones[k], id % 7 === 0 ? 1 : 0);
    }
    // uniform: 20,000 draws over 100 rows, every count within 5 sigma of 200
    const counts = new Array(100).fill(0);
    for (let r = 0; r < 20; r++) for (const x of a.sample(1000).rewards) counts[x / 2]++;
    for (const c of counts) assert.ok(Math.abs(c - 200) < 5 * Math.sqrt(200), `count ${c}`);
  });

  it("samples only the filled part and reuses an output batch", () => {
    const b = new ReplayBuffer({ capacity: 1000, obsDim: OBS, actionDim: ACT, seed: 3 });
    b.add(rows(10, 5));
    const out = b.sample(50);
    for (const r of out.rewards) assert.ok(r >= 20 && r <= 28);
    const again = b.sample(50, out);
    assert.equal(again, out);
    assert.throws(() => new ReplayBuffer({ capacity: 2, obsDim: OBS, actionDim: ACT }).sample(1), /empty/);
  });

  it("rejects rows of the wrong size and non-finite rewards", () => {
    const b = new ReplayBuffer({ capacity: 10, obsDim: OBS, actionDim: ACT });
    const t = rows(0, 2);
    assert.throws(() => b.add({ ...t, obs: t.obs.subarray(1) }), /obs has 7 values, expected 8/);
    assert.throws(() => b.add({ ...t, rewards: Float32Array.of(1, NaN) }), /reward of row 1 is NaN/);
    assert.throws(() => new ReplayBuffer({ capacity: 0, obsDim: 1, actionDim: 1 }), /capacity/);
  });

  it("saves and loads: same contents, ring position and sampling sequence", async () => {
    const b = new ReplayBuffer({ capacity: 8, obsDim: OBS, actionDim: ACT, seed: 5 });
    b.add(rows(0, 11, (id) => id === 9));
    b.sample(4);
    const dir = tempDir();
    await b.save(dir);
    const c = await ReplayBuffer.load(dir);
    assert.equal(c.capacity, 8);
    assert.equal(c.size, 8);
    assert.equal(c.added, 11);
    for (let i = 0; i < 8; i++) assert.deepEqual(c.get(i), b.get(i));
    assert.deepEqual(c.sample(16), b.sample(16));
    c.add(rows(100, 1));
    b.add(rows(100, 1));
    assert.deepEqual(c.get(7), b.get(7));
  });

  it("replaces a checkpoint atomically: the header names complete files; stale generations are removed", async () => {
    const dir = tempDir();
    const b = new ReplayBuffer({ capacity: 4, obsDim: OBS, actionDim: ACT, seed: 1 });
    b.add(rows(0, 2));
    await b.save(dir);
    b.add(rows(2, 1));
    // a crash after writing a new generation's file but before the header: a stray file
    writeFileSync(join(dir, "obs.7.bin"), "partial");
    assert.equal((await ReplayBuffer.load(dir)).size, 2, "still the first checkpoint");
    await b.save(dir);
    const files = readdirSync(dir).sort();
    assert.ok(files.every((f) => f === "header.json" || f.endsWith(".2.bin")), files.join(", "));
    assert.equal((await ReplayBuffer.load(dir)).size, 3);
    await assert.rejects(ReplayBuffer.load(join(dir, "missing")), /no crystal-rl\/replay-buffer@1 checkpoint/);
    rmSync(join(dir, "rewards.2.bin"));
    await assert.rejects(ReplayBuffer.load(dir), /rewards\.2\.bin/);
  });
});
