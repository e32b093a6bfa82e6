/**
 * A ring buffer of atom-transitions ⟨o, u, r, o', done⟩ in preallocated Float32Arrays: every atom's
 * transition is its own sample (MACS: one buffer shared by all atoms of all structures).
 *
 * `done` is termination only (success). A truncated episode (the 1000-step cap) is stored with
 * done = 0, so the critic bootstraps through it; its `nextObs` must be the true last observation of
 * that episode, not the first one of the next.
 *
 * Sampling is uniform with replacement (CleanRL, SB3, RLlib without prioritisation) and seeded: sample
 * call k draws from `new Rng(seed).fork(k)`, so a buffer restored from a checkpoint continues the
 * same sequence.
 *
 * @example
 * const buffer = new ReplayBuffer({ capacity: 1_000_000, obsDim: 204, actionDim: 3, seed: 1 });
 * buffer.add({ obs, actions, rewards, nextObs, terminated });  // n rows each
 * const batch = buffer.sample(1024);
 * await buffer.save("runs/x/buffer");
 */
import { Rng } from "../structure/random-source.js";
import { blob, readCheckpoint, readCheckpointMeta, writeCheckpoint } from "./checkpoint.js";

/** A set of transitions, row-major: obs n x obsDim, actions n x actionDim, rewards/dones n. */
export interface Batch {
  size: number;
  obs: Float32Array;
  actions: Float32Array;
  rewards: Float32Array;
  nextObs: Float32Array;
  /** 1 where the transition ended the episode by termination (no bootstrap), else 0. */
  dones: Float32Array;
}

/** Transitions to add: n rows each; `terminated` per row (1/true: success, no bootstrap). */
export interface Transitions {
  obs: ArrayLike<number>;
  actions: ArrayLike<number>;
  rewards: ArrayLike<number>;
  nextObs: ArrayLike<number>;
  terminated: ArrayLike<number | boolean>;
}

export interface ReplayBufferOptions {
  /** Most transitions held; the oldest are overwritten beyond it. */
  capacity: number;
  /** Observation length per atom (MACS: 204). */
  obsDim: number;
  /** Action length per atom (MACS: 3). */
  actionDim: number;
  /** Seed of the sampling stream. Default 0. */
  seed?: number;
}

interface BufferMeta {
  capacity: number;
  obsDim: number;
  actionDim: number;
  seed: number;
  size: number;
  position: number;
  added: number;
  samples: number;
}

const FORMAT = "crystal-rl/replay-buffer@1";

export class ReplayBuffer {
  readonly capacity: number;
  readonly obsDim: number;
  readonly actionDim: number;
  readonly seed: number;
  private readonly obs: Float32Array;
  private readonly actions: Float32Array;
  private readonly rewards: Float32Array;
  private readonly nextObs: Float32Array;
  private readonly dones: Float32Array;
  private position = 0;
  private filled = 0;
  private addedTotal = 0;
  private samples = 0;
  private readonly root: Rng;

  constructor(options: ReplayBufferOptions) {
    const { capacity, obsDim, actionDim } = options;
    for (const [k, v] of Object.entries({ capacity, obsDim, actionDim })) {
      if (!Number.isSafeInteger(v) || v < 1) throw new RangeError(`ReplayBuffer ${k} must be a positive integer, got ${v}`);
    }
    this.capacity = capacity;
    this.obsDim = obsDim;
    this.actionDim = actionDim;
    this.seed = options.seed ?? 0;
    this.root = new Rng(this.seed);
    this.obs = new Float32Array(capacity * obsDim);
    this.actions = new Float32Array(capacity * actionDim);
    this.rewards = new Float32Array(capacity);
    this.nextObs = new Float32Array(capacity * obsDim);
    this.dones = new Float32Array(capacity);
  }

  /** Transitions held (at most `capacity`). */
  get size(): number {
    return this.filled;
  }

  /** Transitions ever added (including overwritten ones). */
  get added(): number {
    return this.addedTotal;
  }

  /** Bytes held by the preallocated arrays. */
  get bytes(): number {
    return (this.obs.length + this.actions.length + this.rewards.length + this.nextObs.length + this.dones.length) * 4;
  }

  /** Appends n transitions (n = rewards.length), overwriting the oldest when full. */
  add(t: Transitions): void {
    const n = t.rewards.length;
    const { obsDim: od, actionDim: ad } = this;
    const check = (name: string, arr: ArrayLike<unknown>, len: number): void => {
      if (arr.length !== len) throw new RangeError(`ReplayBuffer.add: ${name} has ${arr.length} values, expected ${len} (${n} rows)`);
    };
    check("obs", t.obs, n * od);
    check("nextObs", t.nextObs, n * od);
    check("actions", t.actions, n * ad);
    check("terminated", t.terminated, n);
    for (let i = 0; i < n; i++) {
      if (!Number.isFinite(t.rewards[i]!)) throw new RangeError(`ReplayBuffer.add: reward of row ${i} is ${t.rewards[i]}`);
    }
    for (let i = 0; i < n; i++) {
      const p = this.position;
      copyRow(t.obs, i * od, this.obs, p * od, od);
      copyRow(t.nextObs, i * od, this.nextObs, p * od, od);
      copyRow(t.actions, i * ad, this.actions, p * ad, ad);
      this.rewards[p] = t.rewards[i]!;
      this.dones[p] = t.terminated[i] ? 1 : 0;
      this.position = (p + 1) % this.capacity;
    }
    this.filled = Math.min(this.capacity, this.filled + n);
    this.addedTotal += n;
  }

  /** `batchSize` transitions drawn uniformly with replacement (seeded), into `out` when given. */
  sample(batchSize: number, out?: Batch): Batch {
    if (this.filled === 0) throw new Error("ReplayBuffer.sample: the buffer is empty");
    if (!Number.isSafeInteger(batchSize) || batchSize < 1) throw new RangeError(`ReplayBuffer.sample: batch size ${batchSize}`);
    const { obsDim: od, actionDim: ad } = this;
    const b = out ?? emptyBatch(batchSize, od, ad);
    if (b.obs.length < batchSize * od || b.actions.length < batchSize * ad || b.rewards.length < batchSize) {
      throw new RangeError(`ReplayBuffer.sample: out is smaller than a batch of ${batchSize}`);
    }
    const rng = this.root.fork(this.samples++);
    for (let k = 0; k < batchSize; k++) {
      const i = rng.int(this.filled);
      b.obs.set(this.obs.subarray(i * od, (i + 1) * od), k * od);
      b.nextObs.set(this.nextObs.subarray(i * od, (i + 1) * od), k * od);
      b.actions.set(this.actions.subarray(i * ad, (i + 1) * ad), k * ad);
      b.rewards[k] = this.rewards[i]!;
      b.dones[k] = this.dones[i]!;
    }
    b.size = batchSize;
    return b;
  }

  /** Transition i (0 = the oldest held), copied. */
  get(i: number): Batch {
    if (!Number.isInteger(i) || i < 0 || i >= this.filled) throw new RangeError(`ReplayBuffer.get: index ${i} outside 0..${this.filled - 1}`);
    const slot = this.filled < this.capacity ? i : (this.position + i) % this.capacity;
    const { obsDim: od, actionDim: ad } = this;
    return {
      size: 1,
      obs: this.obs.slice(slot * od, (slot + 1) * od),
      actions: this.actions.slice(slot * ad, (slot + 1) * ad),
      rewards: this.rewards.slice(slot, slot + 1),
      nextObs: this.nextObs.slice(slot * od, (slot + 1) * od),
      dones: this.dones.slice(slot, slot + 1),
    };
  }

  /** Empties the buffer (the sampling stream continues). */
  clear(): void {
    this.position = 0;
    this.filled = 0;
  }

  /**
   * Saves the held transitions (only the filled part) and the sampling position into `dir`,
   * atomically (see checkpoint.ts). At 1.65 kB per transition, 1 M transitions are 1.65 GB.
   */
  async save(dir: string): Promise<void> {
    const n = this.filled;
    const { obsDim: od, actionDim: ad } = this;
    const meta: BufferMeta = {
      capacity: this.capacity,
      obsDim: od,
      actionDim: ad,
      seed: this.seed,
      size: n,
      position: this.position,
      added: this.addedTotal,
      samples: this.samples,
    };
    await writeCheckpoint(dir, FORMAT, meta, {
      obs: this.obs.subarray(0, n * od),
      actions: this.actions.subarray(0, n * ad),
      rewards: this.rewards.subarray(0, n),
      nextObs: this.nextObs.subarray(0, n * od),
      dones: this.dones.subarray(0, n),
    });
  }

  /** A buffer restored from `save`: same capacity, contents, ring position and sampling stream. */
  static async load(dir: string): Promise<ReplayBuffer> {
    const meta = await readCheckpointMeta<BufferMeta>(dir, FORMAT);
    const buffer = new ReplayBuffer({ capacity: meta.capacity, obsDim: meta.obsDim, actionDim: meta.actionDim, seed: meta.seed });
    // Read straight into the preallocated arrays (no second copy of a large buffer).
    const { blobs } = await readCheckpoint<BufferMeta>(dir, FORMAT, {
      obs: buffer.obs,
      actions: buffer.actions,
      rewards: buffer.rewards,
      nextObs: buffer.nextObs,
      dones: buffer.dones,
    });
    for (const name of ["obs", "actions", "rewards", "nextObs", "dones"]) blob(blobs, name, Float32Array, dir);
    buffer.filled = meta.size;
    buffer.position = meta.position;
    buffer.addedTotal = meta.added;
    buffer.samples = meta.samples;
    return buffer;
  }
}

/** A batch of `n` rows of zeros. */
export function emptyBatch(n: number, obsDim: number, actionDim: number): Batch {
  return {
    size: n,
    obs: new Float32Array(n * obsDim),
    actions: new Float32Array(n * actionDim),
    rewards: new Float32Array(n),
    nextObs: new Float32Array(n * obsDim),
    dones: new Float32Array(n),
  };
}

function copyRow(src: ArrayLike<number>, from: number, dst: Float32Array, to: number, len: number): void {
  if (src instanceof Float32Array || src instanceof Float64Array) {
    dst.set(src.subarray(from, from + len), to);
    return;
  }
  for (let j = 0; j < len; j++) dst[to + j] = src[from + j]!;
}
