/**
 * Experience for the discrete-action algorithms (dqn, rainbow, sac-discrete; ppo keeps its own
 * rollout): a uniform replay buffer, a prioritised one (sum tree), n-step returns, and the episode
 * bookkeeping and metric records the four training loops share.
 *
 * Observations are generic (O: a CrystalGraph, a Float32Array, ...) and stored as the objects
 * themselves, not packed: CrystalGym's graphs are small and of varying size, and the network packs a
 * sampled batch. The buffer keeps references, so observations must not be mutated after a step returns
 * them (design.md: immutable by convention). In checkpoints they are written with node's structured
 * serialiser (`v8.serialize`: plain objects, typed arrays, numbers, strings), which writes an object
 * shared by several transitions (obs of step t+1 = nextObs of step t) once.
 *
 * A transition carries its own bootstrap discount: γ for one step, γ^k for a k-step return, so n-step
 * transitions flushed at an episode end (k < n) bootstrap correctly when the episode was truncated.
 * `done` is termination only; a truncated episode bootstraps from its last observation.
 *
 * Sampling is seeded: sample call k of a buffer draws from `new Rng(seed).fork(k)`, and the count is
 * saved, so a restored buffer continues the same sequence.
 *
 * @example
 * const buffer = new PrioritizedReplayBuffer<Float32Array>({ capacity: 2000, seed: 1, alpha: 0.6 });
 * const nstep = new NStepBuffer<Float32Array>(3, 0.99);
 * for (const t of nstep.push({ obs, action, reward, nextObs, terminated, truncated })) buffer.add(t);
 * const batch = buffer.sample(64, beta);       // batch.weights: importance-sampling weights
 * buffer.updatePriorities(batch.indices, tdErrors);
 */
import { stat } from "node:fs/promises";
import { join } from "node:path";
import { deserialize, serialize } from "node:v8";
import { Rng } from "../structure/random-source.js";
import type { BlobArray } from "./checkpoint.js";
import type { TrainRecord } from "./record.js";

/** One stored transition. */
export interface DiscreteTransition<O> {
  obs: O;
  action: number;
  /** The (n-step discounted) reward sum. */
  reward: number;
  /** The observation the return bootstraps from. */
  nextObs: O;
  /** Terminated within the return's steps: no bootstrap. */
  done: boolean;
  /** Discount of the bootstrap term: γ^k for a k-step return. */
  discount: number;
}

/** A sampled batch. */
export interface DiscreteBatch<O> {
  size: number;
  obs: O[];
  actions: Int32Array;
  rewards: Float32Array;
  nextObs: O[];
  /** 1 where terminated (no bootstrap), else 0. */
  dones: Float32Array;
  /** Bootstrap discounts γ^k. */
  discounts: Float32Array;
  /** The buffer slots sampled (for `updatePriorities`). */
  indices: Int32Array;
  /** Importance-sampling weights, max-normalised (all 1 from the uniform buffer). */
  weights: Float32Array;
}

export interface ReplayOptions {
  /** Most transitions held; the oldest are overwritten beyond it (spec §6.2: 2,000). */
  capacity: number;
  /** Seed of the sampling stream. */
  seed: number;
}

/** What a buffer's snapshot header holds (its arrays go into blobs). */
export interface ReplaySnapshot {
  kind: "uniform" | "prioritized";
  capacity: number;
  seed: number;
  size: number;
  position: number;
  added: number;
  samples: number;
  alpha?: number;
  epsilon?: number;
  maxPriority?: number;
}

/** A ring buffer of transitions, sampled uniformly with replacement (CleanRL/SB3). */
export class DiscreteReplayBuffer<O> {
  readonly capacity: number;
  readonly seed: number;
  protected obs: (O | undefined)[];
  protected nextObs: (O | undefined)[];
  protected readonly actions: Int32Array;
  protected readonly rewards: Float32Array;
  protected readonly dones: Uint8Array;
  protected readonly discounts: Float32Array;
  protected position = 0;
  protected filled = 0;
  protected addedTotal = 0;
  protected samples = 0;
  protected readonly root: Rng;

  constructor(options: ReplayOptions) {
    if (!Number.isSafeInteger(options.capacity) || options.capacity < 1) throw new RangeError(`replay buffer capacity must be a positive integer, got ${options.capacity}`);
    this.capacity = options.capacity;
    this.seed = options.seed;
    this.root = new Rng(options.seed);
    this.obs = new Array<O | undefined>(this.capacity);
    this.nextObs = new Array<O | undefined>(this.capacity);
    this.actions = new Int32Array(this.capacity);
    this.rewards = new Float32Array(this.capacity);
    this.dones = new Uint8Array(this.capacity);
    this.discounts = new Float32Array(this.capacity);
  }

  /** Transitions held. */
  get size(): number {
    return this.filled;
  }

  /** Transitions ever added. */
  get added(): number {
    return this.addedTotal;
  }

  /** Sample calls made (the position of the sampling stream). */
  get sampleCalls(): number {
    return this.samples;
  }

  /** Stores a transition, overwriting the oldest when full; returns its slot. */
  add(t: DiscreteTransition<O>): number {
    if (!Number.isFinite(t.reward)) throw new RangeError(`replay buffer: reward ${t.reward} is not finite`);
    if (!Number.isInteger(t.action) || t.action < 0) throw new RangeError(`replay buffer: action ${t.action} is not a non-negative integer`);
    const p = this.position;
    this.obs[p] = t.obs;
    this.nextObs[p] = t.nextObs;
    this.actions[p] = t.action;
    this.rewards[p] = t.reward;
    this.dones[p] = t.done ? 1 : 0;
    this.discounts[p] = t.discount;
    this.position = (p + 1) % this.capacity;
    this.filled = Math.min(this.capacity, this.filled + 1);
    this.addedTotal++;
    return p;
  }

  /** `batchSize` transitions, uniformly with replacement (`beta` is ignored: no importance weights). */
  sample(batchSize: number, _beta?: number): DiscreteBatch<O> {
    const rng = this.nextStream(batchSize);
    const idx = new Int32Array(batchSize);
    for (let k = 0; k < batchSize; k++) idx[k] = rng.int(this.filled);
    return this.gather(idx, new Float32Array(batchSize).fill(1));
  }

  /** Transition i (0 = the oldest held). */
  get(i: number): DiscreteTransition<O> {
    if (!Number.isInteger(i) || i < 0 || i >= this.filled) throw new RangeError(`replay buffer: index ${i} outside 0..${this.filled - 1}`);
    const s = this.filled < this.capacity ? i : (this.position + i) % this.capacity;
    return { obs: this.obs[s]!, action: this.actions[s]!, reward: this.rewards[s]!, nextObs: this.nextObs[s]!, done: this.dones[s] === 1, discount: this.discounts[s]! };
  }

  protected nextStream(batchSize: number): Rng {
    if (this.filled === 0) throw new Error("replay buffer: sample() of an empty buffer");
    if (!Number.isSafeInteger(batchSize) || batchSize < 1) throw new RangeError(`replay buffer: batch size ${batchSize}`);
    return this.root.fork(this.samples++);
  }

  protected gather(idx: Int32Array, weights: Float32Array): DiscreteBatch<O> {
    const n = idx.length;
    const b: DiscreteBatch<O> = {
      size: n,
      obs: new Array<O>(n),
      actions: new Int32Array(n),
      rewards: new Float32Array(n),
      nextObs: new Array<O>(n),
      dones: new Float32Array(n),
      discounts: new Float32Array(n),
      indices: idx,
      weights,
    };
    for (let k = 0; k < n; k++) {
      const i = idx[k]!;
      b.obs[k] = this.obs[i]!;
      b.nextObs[k] = this.nextObs[i]!;
      b.actions[k] = this.actions[i]!;
      b.rewards[k] = this.rewards[i]!;
      b.dones[k] = this.dones[i]!;
      b.discounts[k] = this.discounts[i]!;
    }
    return b;
  }

  /** Header and arrays for a checkpoint (blob names start with `prefix`). */
  snapshot(prefix = "buffer_"): { meta: ReplaySnapshot; blobs: Record<string, BlobArray> } {
    const n = this.filled;
    const meta: ReplaySnapshot = { kind: "uniform", capacity: this.capacity, seed: this.seed, size: n, position: this.position, added: this.addedTotal, samples: this.samples };
    const blobs: Record<string, BlobArray> = {
      [`${prefix}observations`]: serialize({ obs: this.obs.slice(0, n), nextObs: this.nextObs.slice(0, n) }),
      [`${prefix}actions`]: this.actions.subarray(0, n),
      [`${prefix}rewards`]: this.rewards.subarray(0, n),
      [`${prefix}dones`]: this.dones.subarray(0, n),
      [`${prefix}discounts`]: this.discounts.subarray(0, n),
    };
    return { meta, blobs };
  }

  /** Restores a `snapshot` into this (empty, same-capacity) buffer; `where` names the checkpoint in errors. */
  restore(meta: ReplaySnapshot, blobs: Record<string, BlobArray>, where: string, prefix = "buffer_"): void {
    if (meta.capacity !== this.capacity) throw new Error(`${where}: replay buffer capacity ${meta.capacity} in the checkpoint, ${this.capacity} here`);
    const need = <T extends BlobArray>(name: string, type: new (n: number) => T): T => {
      const b = blobs[`${prefix}${name}`];
      if (!(b instanceof type) || b.length !== meta.size) throw new Error(`${where}: replay buffer blob "${prefix}${name}" is missing or not ${meta.size} long`);
      return b;
    };
    const bytes = blobs[`${prefix}observations`];
    if (!(bytes instanceof Uint8Array)) throw new Error(`${where}: replay buffer observations are missing`);
    const { obs, nextObs } = deserialize(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)) as { obs: O[]; nextObs: O[] };
    if (obs.length !== meta.size || nextObs.length !== meta.size) throw new Error(`${where}: replay buffer holds ${obs.length} observations, its header ${meta.size}`);
    for (let i = 0; i < meta.size; i++) {
      this.obs[i] = obs[i];
      this.nextObs[i] = nextObs[i];
    }
    this.actions.set(need("actions", Int32Array));
    this.rewards.set(need("rewards", Float32Array));
    this.dones.set(need("dones", Uint8Array));
    this.discounts.set(need("discounts", Float32Array));
    this.filled = meta.size;
    this.position = meta.position;
    this.addedTotal = meta.added;
    this.samples = meta.samples;
  }
}

/**
 * A binary tree over `capacity` leaves holding the sum of each subtree, so that prefix-sum search
 * (proportional sampling) and updates are O(log n). Parents are recomputed from their children on
 * every change (no drift from +=).
 */
export class SumTree {
  readonly capacity: number;
  private readonly leaves: number;
  private readonly sums: Float64Array;

  constructor(capacity: number) {
    this.capacity = capacity;
    let size = 1;
    while (size < capacity) size *= 2;
    this.leaves = size;
    this.sums = new Float64Array(2 * size);
  }

  /** Sum of all leaves. */
  get total(): number {
    return this.sums[1]!;
  }

  get(i: number): number {
    return this.sums[this.leaves + i]!;
  }

  set(i: number, value: number): void {
    if (!(value >= 0) || !Number.isFinite(value)) throw new RangeError(`SumTree: priority ${value} must be finite and >= 0`);
    let j = this.leaves + i;
    this.sums[j] = value;
    for (j >>= 1; j >= 1; j >>= 1) this.sums[j] = this.sums[2 * j]! + this.sums[2 * j + 1]!;
  }

  /** The leaf i whose prefix interval [Σ_{j<i}, Σ_{j<=i}) holds `mass` (clamped into [0, total)); a leaf > 0. */
  find(mass: number): number {
    let m = Math.min(Math.max(mass, 0), this.total);
    let j = 1;
    while (j < this.leaves) {
      const left = this.sums[2 * j]!;
      if (m < left || this.sums[2 * j + 1]! === 0) j = 2 * j;
      else {
        m -= left;
        j = 2 * j + 1;
      }
    }
    let i = j - this.leaves;
    // Rounding can end on an empty leaf at the right edge: step left to the nearest non-empty one.
    while (i > 0 && this.sums[this.leaves + i]! === 0) i--;
    return i;
  }
}

export interface PrioritizedReplayOptions extends ReplayOptions {
  /** Priority exponent α: P(i) ∝ p_i^α (spec §6.2: 0.6, as Schaul et al. 2016). */
  alpha?: number;
  /** Added to |δ| so no transition gets probability 0. */
  epsilon?: number;
}

/**
 * Proportional prioritised replay (Schaul et al. 2016): P(i) = p_i^α / Σ p^α with p = |δ| + ε, new
 * transitions at the largest priority seen, stratified sampling (one draw per equal slice of the
 * total), and importance weights w_i = (N P(i))^-β normalised by the largest weight in the batch, with
 * β annealed to 1 by the caller.
 *
 * Why the batch's largest weight (as Dopamine's Rainbow) and not the buffer's (OpenAI baselines' min
 * tree): in a deterministic task, such as CrystalGym with its DFT cache, many TD errors shrink to ~0,
 * the smallest priority falls to ε^α, and dividing by its weight scales every update down by 10-100x
 * (measured here: return 0.56 instead of 0.79 after 3000 steps of the slot task).
 */
export class PrioritizedReplayBuffer<O> extends DiscreteReplayBuffer<O> {
  readonly alpha: number;
  readonly epsilon: number;
  private readonly tree: SumTree;
  private maxPriority = 1;

  constructor(options: PrioritizedReplayOptions) {
    super(options);
    this.alpha = options.alpha ?? 0.6;
    this.epsilon = options.epsilon ?? 1e-6;
    if (!(this.alpha >= 0)) throw new RangeError(`prioritised replay: alpha must be >= 0, got ${this.alpha}`);
    this.tree = new SumTree(this.capacity);
  }

  /** The sampling priority p^α of slot i. */
  priority(i: number): number {
    return this.tree.get(i);
  }

  override add(t: DiscreteTransition<O>): number {
    const slot = super.add(t);
    this.tree.set(slot, this.maxPriority ** this.alpha);
    return slot;
  }

  /** `batchSize` transitions drawn ∝ p^α (stratified), with importance weights for exponent `beta`. */
  override sample(batchSize: number, beta = 1): DiscreteBatch<O> {
    const rng = this.nextStream(batchSize);
    const total = this.tree.total;
    const idx = new Int32Array(batchSize);
    const weights = new Float32Array(batchSize);
    const segment = total / batchSize;
    let pMin = Infinity;
    for (let k = 0; k < batchSize; k++) {
      const i = Math.min(this.tree.find((k + rng.next()) * segment), this.filled - 1);
      idx[k] = i;
      pMin = Math.min(pMin, this.tree.get(i));
    }
    // w_i / max_batch w = (p_i / p_min)^-β: N and the total cancel.
    for (let k = 0; k < batchSize; k++) weights[k] = (this.tree.get(idx[k]!) / pMin) ** -beta;
    return this.gather(idx, weights);
  }

  /** New priorities from |TD error| (or the distributional loss) of sampled slots: p = (|x| + ε)^α. */
  updatePriorities(indices: ArrayLike<number>, errors: ArrayLike<number>): void {
    for (let k = 0; k < indices.length; k++) {
      const p = Math.abs(errors[k]!) + this.epsilon;
      if (!Number.isFinite(p)) throw new RangeError(`prioritised replay: priority ${errors[k]} of slot ${indices[k]} is not finite`);
      this.maxPriority = Math.max(this.maxPriority, p);
      this.tree.set(indices[k]!, p ** this.alpha);
    }
  }

  override snapshot(prefix = "buffer_"): { meta: ReplaySnapshot; blobs: Record<string, BlobArray> } {
    const s = super.snapshot(prefix);
    const priorities = new Float64Array(this.filled);
    for (let i = 0; i < this.filled; i++) priorities[i] = this.tree.get(i);
    s.blobs[`${prefix}priorities`] = priorities;
    return { meta: { ...s.meta, kind: "prioritized", alpha: this.alpha, epsilon: this.epsilon, maxPriority: this.maxPriority }, blobs: s.blobs };
  }

  override restore(meta: ReplaySnapshot, blobs: Record<string, BlobArray>, where: string, prefix = "buffer_"): void {
    if (meta.kind !== "prioritized") throw new Error(`${where}: the checkpoint holds a ${meta.kind} replay buffer, this agent a prioritised one`);
    super.restore(meta, blobs, where, prefix);
    const p = blobs[`${prefix}priorities`];
    if (!(p instanceof Float64Array) || p.length !== meta.size) throw new Error(`${where}: replay buffer priorities are missing`);
    for (let i = 0; i < p.length; i++) this.tree.set(i, p[i]!);
    this.maxPriority = meta.maxPriority ?? 1;
  }
}

/** One environment step, as the n-step helper takes it. */
export interface EnvTransition<O> {
  obs: O;
  action: number;
  reward: number;
  nextObs: O;
  terminated: boolean;
  truncated: boolean;
}

/**
 * n-step returns R = Σ_{k<n} γ^k r_{t+k}, bootstrapping from o_{t+n} with discount γ^n. At an episode
 * end every pending start state is flushed with the rewards it has (k < n steps, discount γ^k), so
 * each step of an episode yields exactly one transition, in order, and none crosses into the next
 * episode (the released code's flush is irregular, spec §9.2).
 */
export class NStepBuffer<O> {
  readonly n: number;
  readonly gamma: number;
  private pending: { obs: O; action: number; reward: number }[] = [];

  constructor(n: number, gamma: number) {
    if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`n-step: n must be a positive integer, got ${n}`);
    this.n = n;
    this.gamma = gamma;
  }

  /** Start states waiting for their return. */
  get size(): number {
    return this.pending.length;
  }

  /** Adds a step; returns the transitions it completes (oldest first). */
  push(step: EnvTransition<O>): DiscreteTransition<O>[] {
    this.pending.push({ obs: step.obs, action: step.action, reward: step.reward });
    const out: DiscreteTransition<O>[] = [];
    if (step.terminated || step.truncated) while (this.pending.length > 0) out.push(this.emit(step));
    else if (this.pending.length === this.n) out.push(this.emit(step));
    return out;
  }

  /** The transition of the oldest pending start state: its k = pending.length rewards, discount γ^k. */
  private emit(step: EnvTransition<O>): DiscreteTransition<O> {
    const k = this.pending.length;
    let ret = 0;
    for (let j = k - 1; j >= 0; j--) ret = this.pending[j]!.reward + this.gamma * ret;
    const first = this.pending.shift()!;
    return { obs: first.obs, action: first.action, reward: ret, nextObs: step.nextObs, done: step.terminated, discount: this.gamma ** k };
  }

  /** Drops the pending steps (a new episode begins without the old one's end, e.g. on resume). */
  clear(): void {
    this.pending = [];
  }
}

// -------------------------------------------------------------------------------------------------
// Episode bookkeeping and records, shared by the four training loops

/** A metric record (CleanRL's names: `charts/episodic_return`, `losses/td_loss`, ...); `step` is the global step. */
export type DiscreteRecord = TrainRecord;

/** Counters of a training run (saved in checkpoints). */
export interface DiscreteProgress {
  /** Env steps (CleanRL's global_step). */
  globalStep: number;
  episodes: number;
  /** Gradient updates (PPO: iterations). */
  updates: number;
}

/** Options of an agent's `train()`. */
export interface DiscreteTrainOptions {
  /** Stop once the global step reaches this (default: the config's totalTimesteps; schedules still use totalTimesteps). */
  until?: number;
  /** Save a checkpoint here every `checkpointInterval` steps and at the end (atomic: a killed run resumes from the last). */
  checkpointDir?: string;
  /** Steps between checkpoints (PPO: rounded up to whole rollouts). Default 0: only at the end. */
  checkpointInterval?: number;
  /** Load the checkpoint in `checkpointDir` first when there is one (a killed run goes on where it was saved). */
  resume?: boolean;
  /** Stop between steps (a checkpoint is written when there is a checkpointDir). */
  signal?: AbortSignal;
}

/** Whether `dir` holds a checkpoint (its header). */
export async function hasCheckpoint(dir: string): Promise<boolean> {
  return stat(join(dir, "header.json")).then(
    () => true,
    () => false,
  );
}

/** Index of the largest value (the first on ties). */
export function argmax(values: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i]! > values[best]!) best = i;
  return best;
}

/** An index drawn with probabilities `p` (summing to 1) from one uniform number of `rng`. */
export function sampleCategorical(p: ArrayLike<number>, rng: Rng): number {
  let u = rng.next();
  for (let i = 0; i < p.length; i++) {
    u -= p[i]!;
    if (u < 0) return i;
  }
  // rounding left a sliver: the last action with positive probability
  for (let i = p.length - 1; i > 0; i--) if (p[i]! > 0) return i;
  return 0;
}

/**
 * The terminal `info` fields of an episode as metrics `info/<key>` (CrystalGym: the property value,
 * errorFlag, simSeconds, ...): numbers, booleans and strings, one level of nested objects flattened as
 * `info/<key>/<inner>`, null as NaN; arrays and the rest skipped.
 */
export function infoMetrics(info: Record<string, unknown>): Record<string, number | string | boolean> {
  const out: Record<string, number | string | boolean> = {};
  const put = (key: string, v: unknown, depth: number): void => {
    if (typeof v === "number" || typeof v === "string" || typeof v === "boolean") out[key] = v;
    else if (v === null) out[key] = NaN;
    else if (depth === 0 && typeof v === "object" && !Array.isArray(v) && !ArrayBuffer.isView(v)) {
      for (const [k, inner] of Object.entries(v as Record<string, unknown>)) put(`${key}/${k}`, inner, 1);
    }
  };
  for (const [k, v] of Object.entries(info)) put(`info/${k}`, v, 0);
  return out;
}

/** The running episode of a training loop: its return and length, then the record of its end. */
export class EpisodeStats {
  return = 0;
  length = 0;

  add(reward: number): void {
    this.return += reward;
    this.length++;
  }

  /** The end-of-episode record (return, length, info fields), and a reset for the next episode. */
  finish(step: number, info: Record<string, unknown>, extra: Record<string, number> = {}): DiscreteRecord {
    const record: DiscreteRecord = { step, "charts/episodic_return": this.return, "charts/episodic_length": this.length, ...extra, ...infoMetrics(info) };
    this.reset();
    return record;
  }

  /** Forgets the running episode (after a checkpoint is loaded, the env restarts on a fresh reset). */
  reset(): void {
    this.return = 0;
    this.length = 0;
  }
}

/** Steps per second and updates per second over a window of a training loop. */
export class RateMeter {
  private t = performance.now();
  private steps = 0;
  private updates = 0;

  tick(steps: number, updates: number): void {
    this.steps += steps;
    this.updates += updates;
  }

  /** `charts/SPS` and `charts/updates_per_s` since the last read. */
  read(): { "charts/SPS": number; "charts/updates_per_s": number } {
    const s = Math.max(1e-9, (performance.now() - this.t) / 1000);
    const r = { "charts/SPS": this.steps / s, "charts/updates_per_s": this.updates / s };
    this.t = performance.now();
    this.steps = 0;
    this.updates = 0;
    return r;
  }
}

/** The seed of reset number `episode` (the same on resume, so a resumed run meets the same episodes). */
export function resetSeed(seed: number, episode: number): number {
  return new Rng(seed).fork(0x5eed).fork(episode).int(2 ** 31);
}

/** Which numbers of a config must be what (each rule names keys of the config). */
export interface ConfigRules {
  /** Integers >= 1. */
  positiveIntegers?: readonly string[];
  /** Integers >= 0. */
  wholeNumbers?: readonly string[];
  /** Numbers in [0, 1]. */
  fractions?: readonly string[];
  /** Numbers > 0. */
  positive?: readonly string[];
}

/** Throws a RangeError naming the first number of `config` that breaks `rules` ("DqnConfig.batchSize must be ..."). */
export function checkConfig(name: string, config: object, rules: ConfigRules): void {
  const c = config as Record<string, number>;
  const fail = (k: string, what: string): never => {
    throw new RangeError(`${name}.${k} must be ${what}, got ${c[k]}`);
  };
  for (const k of rules.positiveIntegers ?? []) if (!Number.isSafeInteger(c[k]) || c[k]! < 1) fail(k, "a positive integer");
  for (const k of rules.wholeNumbers ?? []) if (!Number.isSafeInteger(c[k]) || c[k]! < 0) fail(k, "a whole number >= 0");
  for (const k of rules.fractions ?? []) if (!(c[k]! >= 0 && c[k]! <= 1)) fail(k, "in [0, 1]");
  for (const k of rules.positive ?? []) if (!(c[k]! > 0)) fail(k, "positive");
}
