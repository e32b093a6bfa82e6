/**
 * Component-wise running mean and variance of observations (the spec's "observation component-wise
 * normalisation", RLlib's MeanStdFilter), clipped to ±10. Statistics are kept in float64 and merged
 * per batch with Chan et al.'s parallel form of Welford's algorithm, so feeding rows one at a time or
 * all at once gives the same numbers up to rounding. Freeze it for evaluation; it is saved with the
 * policy.
 *
 * @example
 * const norm = new Normaliser(204);
 * norm.update(obs);                 // obs: Float32Array of n rows x 204
 * const x = norm.normalise(obs);    // clip((obs - mean) / sqrt(var + eps), -10, 10)
 * norm.freeze();                    // evaluation: update() is now a no-op
 */
import { blob, readCheckpoint, writeCheckpoint } from "./checkpoint.js";

/** Options of a `Normaliser`. */
export interface NormaliserOptions {
  /** Normalised values are clipped to ±clip. Default 10 (RLlib's MeanStdFilter, SB3's VecNormalize). */
  clip?: number;
  /** Added to the variance before the square root. Default 1e-8. */
  epsilon?: number;
}

/** The plain-data state of a normaliser (what `save` writes). */
export interface NormaliserState {
  size: number;
  count: number;
  clip: number;
  epsilon: number;
  frozen: boolean;
  mean: Float64Array;
  /** Sum of squared deviations from the mean, per component. */
  m2: Float64Array;
}

const FORMAT = "crystal-rl/normaliser@1";

export class Normaliser {
  readonly size: number;
  readonly clip: number;
  readonly epsilon: number;
  /** Rows seen. */
  count = 0;
  /** While frozen, `update` is a no-op. */
  frozen = false;
  readonly mean: Float64Array;
  readonly m2: Float64Array;
  private readonly batchMean: Float64Array;
  private readonly batchM2: Float64Array;

  constructor(size: number, options: NormaliserOptions = {}) {
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`Normaliser size must be a positive integer, got ${size}`);
    this.size = size;
    this.clip = options.clip ?? 10;
    this.epsilon = options.epsilon ?? 1e-8;
    this.mean = new Float64Array(size);
    this.m2 = new Float64Array(size);
    this.batchMean = new Float64Array(size);
    this.batchM2 = new Float64Array(size);
  }

  /** Adds `rows` (n x size, row-major) to the statistics, unless frozen. Non-finite values throw. */
  update(rows: ArrayLike<number>): this {
    const d = this.size;
    if (rows.length % d !== 0) throw new RangeError(`Normaliser.update: ${rows.length} values is not a whole number of rows of ${d}`);
    const n = rows.length / d;
    if (this.frozen || n === 0) return this;
    // Two passes over the batch (mean, then squared deviations), then Chan's merge.
    const bm = this.batchMean.fill(0);
    const bm2 = this.batchM2.fill(0);
    for (let r = 0; r < n; r++) {
      const o = r * d;
      for (let j = 0; j < d; j++) bm[j]! += rows[o + j]!;
    }
    for (let j = 0; j < d; j++) {
      bm[j] = bm[j]! / n;
      if (!Number.isFinite(bm[j]!)) throw new RangeError(`Normaliser.update: component ${j} has a non-finite value`);
    }
    for (let r = 0; r < n; r++) {
      const o = r * d;
      for (let j = 0; j < d; j++) {
        const dev = rows[o + j]! - bm[j]!;
        bm2[j]! += dev * dev;
      }
    }
    const na = this.count;
    const total = na + n;
    for (let j = 0; j < d; j++) {
      const delta = bm[j]! - this.mean[j]!;
      this.mean[j]! += (delta * n) / total;
      this.m2[j]! += bm2[j]! + (delta * delta * na * n) / total;
    }
    this.count = total;
    return this;
  }

  /** Population variance per component (1 before any update). */
  variance(): Float64Array {
    const v = new Float64Array(this.size);
    for (let j = 0; j < this.size; j++) v[j] = this.count > 0 ? this.m2[j]! / this.count : 1;
    return v;
  }

  /** clip((x - mean) / sqrt(var + epsilon), ±clip) for every row, into `out` (allocated when absent). */
  normalise(rows: ArrayLike<number>, out?: Float32Array): Float32Array {
    const d = this.size;
    if (rows.length % d !== 0) throw new RangeError(`Normaliser.normalise: ${rows.length} values is not a whole number of rows of ${d}`);
    const result = out ?? new Float32Array(rows.length);
    if (result.length < rows.length) throw new RangeError(`Normaliser.normalise: out holds ${result.length}, needs ${rows.length}`);
    const v = this.variance();
    const scale = new Float64Array(d);
    for (let j = 0; j < d; j++) scale[j] = 1 / Math.sqrt(v[j]! + this.epsilon);
    const c = this.clip;
    const n = rows.length / d;
    for (let r = 0; r < n; r++) {
      const o = r * d;
      for (let j = 0; j < d; j++) {
        const z = (rows[o + j]! - this.mean[j]!) * scale[j]!;
        result[o + j] = z > c ? c : z < -c ? -c : z;
      }
    }
    return result;
  }

  /** Stops updates (evaluation). */
  freeze(): this {
    this.frozen = true;
    return this;
  }

  unfreeze(): this {
    this.frozen = false;
    return this;
  }

  /** A copy of the state (arrays copied). */
  state(): NormaliserState {
    return {
      size: this.size,
      count: this.count,
      clip: this.clip,
      epsilon: this.epsilon,
      frozen: this.frozen,
      mean: Float64Array.from(this.mean),
      m2: Float64Array.from(this.m2),
    };
  }

  /** A normaliser with the given state. */
  static fromState(s: NormaliserState): Normaliser {
    const n = new Normaliser(s.size, { clip: s.clip, epsilon: s.epsilon });
    if (s.mean.length !== s.size || s.m2.length !== s.size) throw new RangeError(`Normaliser state arrays do not have ${s.size} components`);
    n.mean.set(s.mean);
    n.m2.set(s.m2);
    n.count = s.count;
    n.frozen = s.frozen;
    return n;
  }

  /** Saves the statistics into `dir` (atomic; see checkpoint.ts). */
  async save(dir: string): Promise<void> {
    const { mean, m2, ...meta } = this.state();
    await writeCheckpoint(dir, FORMAT, meta, { mean, m2 });
  }

  /** Loads a normaliser saved by `save`. */
  static async load(dir: string): Promise<Normaliser> {
    const { meta, blobs } = await readCheckpoint<Omit<NormaliserState, "mean" | "m2">>(dir, FORMAT);
    return Normaliser.fromState({ ...meta, mean: blob(blobs, "mean", Float64Array, dir), m2: blob(blobs, "m2", Float64Array, dir) });
  }
}
