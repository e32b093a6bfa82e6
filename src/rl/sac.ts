/**
 * Soft actor-critic for MACS: independent SAC with ONE actor and ONE pair of twin critics shared by
 * every atom of every structure (Haarnoja et al. 2018; RLlib's SAC as the paper used it; the code reads
 * like CleanRL's `sac_continuous_action.py`). Each atom-transition is its own sample; the action is a
 * tanh-squashed Gaussian in [-1, 1]^actionDim; the temperature α is tuned automatically towards the
 * target entropy. Spec: shared/reference/macs-spec.md §6.
 *
 * One `update(batch)`:
 * 1. target y = r + γ (1 - done) (min(Q1', Q2')(o', ã') - α log π(ã'|o')), ã' ~ π(·|o')   (no gradient)
 * 2. critics: minimise mean (Q1(o,u) - y)² + mean (Q2(o,u) - y)²
 * 3. actor (every `policyFrequency` updates): minimise mean (α log π(ã|o) - min(Q1, Q2)(o, ã))
 * 4. α: minimise mean (-α (log π(ã|o) + H_target)), reusing step 3's log π (RLlib does the same)
 * 5. targets (every `targetNetworkFrequency` updates): θ' <- τ θ + (1 - τ) θ'
 *
 * Randomness is seeded and backend-independent: the Gaussian noise comes from the project's `Rng`,
 * one forked stream per `update` and per `act` call (counted, and saved with the agent), so cpu and
 * wasm runs draw the same actions and a restored agent continues the same streams.
 *
 * Reading results back: `act`, `update`, `imitate`, `logProb` and `alpha` read synchronously
 * (`dataSync`), which the webgpu backend cannot do in Node (tfjs reads a GPU buffer synchronously
 * through an OffscreenCanvas). Each has an asynchronous twin (`actAsync`, `updateAsync`, `imitateAsync`,
 * `logProbAsync`, `alphaAsync`) that reads with `await t.data()`, computes the same numbers from the
 * same noise streams, and runs on every backend (on wasm and cpu at the cost of the sync one). An
 * update reads once: its metrics are stacked into one tensor; `updateDeferred` leaves even that on the
 * device until asked (the MACS loop reads once per batch step, whatever its gradientSteps).
 *
 * @example
 * await useBackend();
 * const sac = new Sac(SAC_SMALL_CONFIG);
 * const actions = sac.act(obs);                     // n atoms x 204 -> n x 3, stochastic
 * const metrics = sac.update(buffer.sample(sac.config.batchSize));
 * metrics["losses/qf1_loss"];
 * const onGpu = await sac.actAsync(obs);            // the same, on any backend (webgpu included)
 * const m = await sac.updateAsync(buffer.sample(sac.config.batchSize));
 * await sac.save("runs/x/checkpoint");
 */
import * as tf from "@tensorflow/tfjs";
import { Rng } from "../structure/random-source.js";
import { blob, readCheckpoint, readCheckpointMeta, writeCheckpoint } from "./checkpoint.js";
import { type Network, type NetworkFactory, copyWeights, mlp, newVariable, polyakUpdate } from "./networks.js";
import { Normaliser } from "./normaliser.js";
import type { Batch } from "./replay-buffer.js";

/** Hyper-parameters, defaults from the MACS spec's Table 4 (§6.3); see `SAC_SMALL_CONFIG` for this machine. */
export interface SacConfig {
  /** Observation length per atom (MACS: 12 own features + 12 neighbours x 16 = 204). */
  obsDim: number;
  /** Action length per atom: a displacement direction in [-1, 1]^3. */
  actionDim: number;
  /** Hidden widths of the actor and of each critic: "2-layer MLP with ReLU", RLlib's fcnet_hiddens [256, 256]. */
  hiddenSizes: number[];
  /** Discount γ (Table 4). */
  gamma: number;
  /** Polyak coefficient τ of the soft target update (Table 4). */
  tau: number;
  /** SGD updates between soft target updates (spec §6.3 note: τ = 0.001 every update is the closest analogue of RLlib's setting). */
  targetNetworkFrequency: number;
  /** Atom-transitions per SGD update (Table 4: 8192; one update about 0.75 s on wasm here, 0.1 s at 1024). */
  batchSize: number;
  /** Training loop: replay buffer capacity in atom-transitions (Table 4: 10 M, i.e. 16.5 GB at 1.65 kB each). */
  bufferSize: number;
  /** Training loop: atom-transitions stored before the first update (Table 4: 500). */
  learningStarts: number;
  /** Actor Adam learning rate (Table 4). */
  policyLr: number;
  /** Critic Adam learning rate, both critics in one optimiser (Table 4). */
  qLr: number;
  /** Entropy-temperature Adam learning rate (Table 4; the paper found it among the most sensitive). */
  alphaLr: number;
  /** Adam ε (PyTorch's and RLlib-torch's 1e-8; tfjs's own default is 1e-7). */
  adamEpsilon: number;
  /** Initial entropy temperature α (Table 4: 1). */
  alpha: number;
  /** Tune α automatically towards `targetEntropy` (spec §6.1). */
  autotune: boolean;
  /** Target entropy (Table 4: -8, not RLlib's "auto" = -actionDim = -3). */
  targetEntropy: number;
  /** SGD updates between actor (and α) updates (RLlib: every update; CleanRL's TD3-style default is 2). */
  policyFrequency: number;
  /** Lower clamp of the actor's log-std (RLlib: -20 in older versions, -5 in newer; spec §6.2). */
  logStdMin: number;
  /** Upper clamp of the actor's log-std (RLlib: 2). */
  logStdMax: number;
  /** Normalise observations component-wise with running statistics (Table 4: True). */
  normaliseObservations: boolean;
  /** Normalised observations are clipped to ±obsClip (RLlib's MeanStdFilter: 10). */
  obsClip: number;
  /** Training loop: environment steps in total, summed over environments (spec §6.4: ~80,000). */
  totalTimesteps: number;
  /** Training loop: environments stepping together (spec §6.4: 40). */
  numEnvs: number;
  /** Training loop: steps before an episode is truncated (bootstrapped, counted as failure) (Table 4: 1000). */
  maxEpisodeSteps: number;
  /** Training loop: SGD updates per step of all environments together (the paper does not state it). */
  gradientSteps: number;
  /** Seed of the initial weights, the policy noise and (by convention) the replay buffer. */
  seed: number;
}

/** The spec's hyper-parameters (macs-spec.md §6.3, Table 4 of the paper). */
export const SAC_DEFAULT_CONFIG: Readonly<SacConfig> = Object.freeze({
  obsDim: 204,
  actionDim: 3,
  hiddenSizes: [256, 256],
  gamma: 0.995,
  tau: 0.001,
  targetNetworkFrequency: 1,
  batchSize: 8192,
  bufferSize: 10_000_000,
  learningStarts: 500,
  policyLr: 3e-4,
  qLr: 3e-4,
  alphaLr: 1e-4,
  adamEpsilon: 1e-8,
  alpha: 1,
  autotune: true,
  targetEntropy: -8,
  policyFrequency: 1,
  logStdMin: -5,
  logStdMax: 2,
  normaliseObservations: true,
  obsClip: 10,
  totalTimesteps: 80_000,
  numEnvs: 40,
  maxEpisodeSteps: 1000,
  gradientSteps: 1,
  seed: 1,
});

/**
 * A budget for a 2-core machine: the same networks and learning rates, batch 1024 (one update about
 * 0.1 s on wasm here against 0.75 s at 8192), a 500 k buffer (0.8 GB) and 8 environments.
 */
export const SAC_SMALL_CONFIG: Readonly<SacConfig> = Object.freeze({
  ...SAC_DEFAULT_CONFIG,
  hiddenSizes: [256, 256],
  batchSize: 1024,
  bufferSize: 500_000,
  totalTimesteps: 40_000,
  numEnvs: 8,
});

/** CleanRL's metric names, plus `losses/log_pi` (mean log-probability, -entropy) for the α tuning. */
export type SacMetricName =
  | "losses/qf1_values"
  | "losses/qf2_values"
  | "losses/qf1_loss"
  | "losses/qf2_loss"
  | "losses/qf_loss"
  | "losses/actor_loss"
  | "losses/alpha"
  | "losses/alpha_loss"
  | "losses/log_pi";

/** The metrics of one update. Actor and α entries are NaN on updates that skip the actor (policyFrequency > 1). */
export type SacMetrics = Record<SacMetricName, number>;

/** What an update returns: SAC's metrics, plus the clone loss when the update had `imitation` or `clone`. */
export type SacUpdateMetrics = SacMetrics & { "losses/imitation_loss"?: number };

export interface UpdateOptions {
  /** Train the actor and α (default true); false updates the critics and targets only. */
  actor?: boolean;
  /** A clone term in the actor loss: weight · mean|Q| · error of tanh(mean) against `targets` (n × actionDim). */
  imitation?: { targets: Float32Array; weight: number; relative?: number };
  /**
   * After the update, one behaviour-cloning step of the actor towards `targets` on the batch's
   * observations: `imitate(batch.obs, targets, { logStd, relative })` inside the same read (its loss is
   * `losses/imitation_loss`). Usually with `actor: false` (MACS's imitation phase); not with `imitation`.
   */
  clone?: { targets: Float32Array; logStd?: number; relative?: number };
}

export interface ImitateOptions {
  /** The log std the actor's log-std outputs are pulled to (per action component). Default -2.5. */
  logStd?: number;
  /** ε > 0: each row's squared error over |target|² + ε² (a relative error). Default 0 (plain squared error). */
  relative?: number;
}

export interface ActOptions {
  /** tanh(mean) instead of a sample (evaluation; RLlib's explore=False). Default false. */
  deterministic?: boolean;
}

export interface SacOptions {
  /** How the networks are built: `mlp` (explicit-transpose gradients, the default) or `layersMlp` (naive tf.layers). */
  network?: NetworkFactory;
}

export interface SaveOptions {
  /** Save only what acting needs (config, actor, normaliser): a shipped policy. Default false. */
  policyOnly?: boolean;
}

const LOG_2PI = Math.log(2 * Math.PI);
const LN2 = Math.LN2;
const FORMAT = "crystal-rl/sac@1";

/**
 * The squashed Gaussian of an actor output [batch, 2 x actionDim] (means, then raw log-stds): the
 * log-std clamped to [logStdMin, logStdMax], u = mean + std ε, action = tanh(u), and
 * log π(action) = Σ_j [log N(u_j; mean_j, std_j) - log(1 - tanh(u_j)²)], the last term in the stable
 * form 2 (log 2 - u - softplus(-2u)). ε = null gives the deterministic action tanh(mean) and its
 * log-density. Returns action [batch, actionDim] and logProb [batch, 1].
 */
export function squashedGaussian(
  out: tf.Tensor2D,
  eps: tf.Tensor2D | null,
  logStdMin: number,
  logStdMax: number,
): { action: tf.Tensor2D; logProb: tf.Tensor2D } {
  return tf.tidy(() => {
    const [n, width] = out.shape;
    const d = width / 2;
    const mean = tf.slice(out, [0, 0], [n, d]);
    const logStd = tf.clipByValue(tf.slice(out, [0, d], [n, d]), logStdMin, logStdMax);
    const u = eps ? tf.add(mean, tf.mul(tf.exp(logStd), eps)) : mean;
    const action = tf.tanh(u);
    // log N(u; mean, std) = -ε²/2 - log std - log(2π)/2 per component
    const gauss = eps ? tf.sub(tf.mul(tf.square(eps), -0.5), logStd) : tf.neg(logStd);
    const logDetJac = tf.mul(tf.sub(tf.sub(LN2, u), tf.softplus(tf.mul(u, -2))), 2); // log(1 - tanh(u)^2)
    const logProb = tf.sub(tf.sum(tf.sub(gauss, logDetJac), 1, true), 0.5 * LOG_2PI * d);
    return { action: action as tf.Tensor2D, logProb: logProb as tf.Tensor2D };
  });
}

/** `n` standard normal deviates from `rng`. */
function normals(n: number, rng: Rng): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = rng.normal();
  return out;
}

interface OptimizerState {
  iterations: number;
  shapes: number[][];
}

interface SacMeta {
  config: SacConfig;
  policyOnly: boolean;
  updates: number;
  actCalls: number;
  variables: { name: string; shape: number[] }[];
  optimizers?: Record<"q" | "actor" | "alpha", OptimizerState>;
  normaliser: { count: number; clip: number; epsilon: number; frozen: boolean } | null;
  savedWith: { tfjs: string; backend: string };
}

export class Sac {
  readonly config: Readonly<SacConfig>;
  readonly actor: Network;
  readonly qf1: Network;
  readonly qf2: Network;
  readonly qf1Target: Network;
  readonly qf2Target: Network;
  /** log α, trained when `autotune`. */
  readonly logAlpha: tf.Variable<tf.Rank.R0>;
  /** Observation statistics (null when `normaliseObservations` is false). Update it from the training loop. */
  readonly normaliser: Normaliser | null;
  /** SGD updates done. */
  updates = 0;
  /** Read from a policy-only checkpoint: its critics are untrained. */
  policyOnly = false;
  private actCalls = 0;
  private readonly qOptimizer: tf.AdamOptimizer;
  private readonly actorOptimizer: tf.AdamOptimizer;
  private readonly alphaOptimizer: tf.AdamOptimizer;
  private readonly noiseRoot: Rng;
  private disposed = false;

  constructor(config: Partial<SacConfig> = {}, options: SacOptions = {}) {
    const c: SacConfig = { ...SAC_DEFAULT_CONFIG, ...config, hiddenSizes: [...(config.hiddenSizes ?? SAC_DEFAULT_CONFIG.hiddenSizes)] };
    validate(c);
    this.config = Object.freeze(c);
    const make = options.network ?? mlp;
    const root = new Rng(c.seed);
    const { obsDim: od, actionDim: ad, hiddenSizes: h } = c;
    this.actor = make("actor", [od, ...h, 2 * ad], root.fork(0));
    // Critics take (observation, action) as two input parts: the same (204 + 3)-wide first layer, no concatenation.
    const critic = { inputSplit: [od, ad] };
    this.qf1 = make("qf1", [od + ad, ...h, 1], root.fork(1), critic);
    this.qf2 = make("qf2", [od + ad, ...h, 1], root.fork(2), critic);
    this.qf1Target = make("qf1_target", [od + ad, ...h, 1], root.fork(3), critic);
    this.qf2Target = make("qf2_target", [od + ad, ...h, 1], root.fork(4), critic);
    copyWeights(this.qf1Target, this.qf1);
    copyWeights(this.qf2Target, this.qf2);
    this.logAlpha = newVariable(tf.scalar(Math.log(c.alpha)), `log_alpha#${sacCounter++}`, c.autotune);
    this.noiseRoot = root.fork(100);
    this.normaliser = c.normaliseObservations ? new Normaliser(od, { clip: c.obsClip }) : null;
    this.qOptimizer = tf.train.adam(c.qLr, 0.9, 0.999, c.adamEpsilon);
    this.actorOptimizer = tf.train.adam(c.policyLr, 0.9, 0.999, c.adamEpsilon);
    this.alphaOptimizer = tf.train.adam(c.alphaLr, 0.9, 0.999, c.adamEpsilon);
  }

  /** The current entropy temperature α (a synchronous read: not on webgpu in Node, see `alphaAsync`). */
  get alpha(): number {
    return Math.exp(this.logAlpha.dataSync()[0]!);
  }

  /** The current entropy temperature α, read asynchronously (every backend). */
  async alphaAsync(): Promise<number> {
    return Math.exp((await this.logAlpha.data())[0]!);
  }

  /**
   * Actions for `obs` (n rows of obsDim, raw: the normaliser is applied here, not updated), n rows of
   * actionDim in [-1, 1]: samples, or tanh(mean) when `deterministic`. Reads synchronously; `actAsync`
   * is the same on every backend.
   */
  act(obs: Float32Array, options: ActOptions = {}): Float32Array {
    const action = this.actTensor(obs, options);
    return action ? readSync(action) : new Float32Array(0);
  }

  /** `act`, read back asynchronously: the same actions (same noise stream), on every backend (webgpu included). */
  async actAsync(obs: Float32Array, options: ActOptions = {}): Promise<Float32Array> {
    const action = this.actTensor(obs, options);
    return action ? readAsync(action) : new Float32Array(0);
  }

  /** The actions of `act` as a tensor (the caller's to dispose), or null for no rows. Draws the noise. */
  private actTensor(obs: Float32Array, options: ActOptions): tf.Tensor2D | null {
    this.checkAlive();
    const { obsDim: od, actionDim: ad } = this.config;
    if (obs.length % od !== 0) throw new RangeError(`Sac.act: ${obs.length} values is not a whole number of ${od}-long observations`);
    const n = obs.length / od;
    if (n === 0) return null;
    const x = this.normaliser ? this.normaliser.normalise(obs) : obs;
    const eps = options.deterministic ? null : normals(n * ad, this.noiseRoot.fork(2 * this.actCalls++));
    return tf.tidy(() => {
      const out = this.actor.apply(tf.tensor2d(x, [n, od]), { weights: false });
      if (!eps) return tf.tanh(tf.slice(out, [0, 0], [n, ad]));
      return squashedGaussian(out, tf.tensor2d(eps, [n, ad]), this.config.logStdMin, this.config.logStdMax).action;
    });
  }

  /** log π(action | obs) for given actions in (-1, 1) (n rows each), raw observations. For diagnostics and tests. */
  logProb(obs: Float32Array, actions: Float32Array): Float32Array {
    return readSync(this.logProbTensor(obs, actions));
  }

  /** `logProb`, read back asynchronously (every backend). */
  async logProbAsync(obs: Float32Array, actions: Float32Array): Promise<Float32Array> {
    return readAsync(this.logProbTensor(obs, actions));
  }

  private logProbTensor(obs: Float32Array, actions: Float32Array): tf.Tensor2D {
    this.checkAlive();
    const { obsDim: od, actionDim: ad, logStdMin, logStdMax } = this.config;
    const n = obs.length / od;
    const x = this.normaliser ? this.normaliser.normalise(obs) : obs;
    return tf.tidy(() => {
      const out = this.actor.apply(tf.tensor2d(x, [n, od]), { weights: false });
      const mean = tf.slice(out, [0, 0], [n, ad]);
      const logStd = tf.clipByValue(tf.slice(out, [0, ad], [n, ad]), logStdMin, logStdMax);
      const a = tf.clipByValue(tf.tensor2d(actions, [n, ad]), -1 + 1e-6, 1 - 1e-6);
      const u = tf.atanh(a);
      const eps = tf.div(tf.sub(u, mean), tf.exp(logStd));
      return squashedGaussian(out, eps as tf.Tensor2D, logStdMin, logStdMax).logProb;
    });
  }

  /**
   * One Adam step of the actor towards given actions (behaviour cloning): minimises
   * mean |tanh(mean(o)) − target|² + mean (log std(o) − logStd)², raw observations, n rows each.
   * With `relative` = ε > 0 each row's squared error is divided by |target|² + ε² (a relative error).
   * MACS training's imitation phase does it through `update`'s `clone` option (src/rl/macs.ts).
   * Returns the loss (read synchronously; `imitateAsync` on every backend).
   */
  imitate(obs: Float32Array, targets: Float32Array, options: ImitateOptions = {}): number {
    return readSync(this.imitateTensor(obs, targets, options))[0]!;
  }

  /** `imitate`, its loss read back asynchronously (every backend). */
  async imitateAsync(obs: Float32Array, targets: Float32Array, options: ImitateOptions = {}): Promise<number> {
    return (await readAsync(this.imitateTensor(obs, targets, options)))[0]!;
  }

  /** The cloning step; returns its loss scalar (the caller's to dispose). */
  private imitateTensor(obs: Float32Array, targets: Float32Array, { logStd = -2.5, relative = 0 }: ImitateOptions): tf.Scalar {
    this.checkAlive();
    const { obsDim: od, actionDim: ad } = this.config;
    const n = targets.length / ad;
    if (!Number.isInteger(n) || obs.length < n * od) throw new RangeError(`Sac.imitate: ${obs.length} observation values for ${targets.length / ad} target rows`);
    const x = this.normaliser ? this.normaliser.normalise(obs.subarray(0, n * od)) : obs.subarray(0, n * od);
    return this.cloneStep(x, targets, { logStd, relative });
  }

  /** One cloning step on normalised observations `x` (n rows) towards `targets` (n rows); returns the loss scalar. */
  private cloneStep(x: Float32Array, targets: Float32Array, { logStd = -2.5, relative = 0 }: ImitateOptions): tf.Scalar {
    const { obsDim: od, actionDim: ad } = this.config;
    const n = targets.length / ad;
    return tf.tidy(() => {
      const o = tf.tensor2d(x, [n, od]);
      const y = tf.tensor2d(targets, [n, ad]);
      const r = tf.variableGrads(() => {
        const out = this.actor.apply(o);
        const mean = tf.tanh(tf.slice(out, [0, 0], [n, ad]));
        const ls = tf.slice(out, [0, ad], [n, ad]);
        return tf.add(cloneError(mean, y, relative), tf.mean(tf.square(tf.sub(ls, logStd)))) as tf.Scalar;
      }, this.actor.variables as tf.Variable[]);
      applyGradients(this.actorOptimizer, r.grads);
      return r.value;
    });
  }

  /**
   * One SGD update of critics, actor and α on `batch` (raw observations), then the soft target update.
   * `{ actor: false }` updates the critics (and targets) only: the actor and α stay as they are.
   * `imitation` adds a clone term to the actor loss (TD3+BC, Fujimoto & Gu 2021: scaled by mean |Q| so
   * its weight does not depend on the reward scale); `clone` follows the update with a cloning step.
   * Reads its metrics synchronously, in one transfer; `updateAsync` does the same on every backend.
   */
  update(batch: Batch, options: UpdateOptions = {}): SacUpdateMetrics {
    return this.updateDeferred(batch, options).readSync();
  }

  /** `update`, its metrics read back asynchronously in one transfer (every backend, webgpu included). */
  async updateAsync(batch: Batch, options: UpdateOptions = {}): Promise<SacUpdateMetrics> {
    return this.updateDeferred(batch, options).read();
  }

  /**
   * `update`, its metrics left on the backend as one stacked tensor: read them later (`read`,
   * `readSync`) or `dispose` them unread. The update itself is done (queued, on a GPU) when this returns.
   */
  updateDeferred(batch: Batch, { actor: withActor = true, imitation, clone }: UpdateOptions = {}): PendingSacMetrics {
    this.checkAlive();
    const c = this.config;
    const { obsDim: od, actionDim: ad } = c;
    const n = batch.size;
    if (batch.obs.length < n * od || batch.nextObs.length < n * od || batch.actions.length < n * ad || batch.rewards.length < n) {
      throw new RangeError(`Sac.update: batch arrays are shorter than its size ${n}`);
    }
    const obsRaw = batch.obs.subarray(0, n * od);
    const nextRaw = batch.nextObs.subarray(0, n * od);
    const obs = this.normaliser ? this.normaliser.normalise(obsRaw) : obsRaw;
    const nextObs = this.normaliser ? this.normaliser.normalise(nextRaw) : nextRaw;
    const rng = this.noiseRoot.fork(2 * this.updates + 1);
    const epsNext = normals(n * ad, rng);
    const epsPi = normals(n * ad, rng);
    const trainActor = withActor && this.updates % c.policyFrequency === 0;
    if (imitation && imitation.targets.length < n * ad) throw new RangeError(`Sac.update: ${imitation.targets.length} imitation targets for ${n} rows`);
    if (clone && clone.targets.length < n * ad) throw new RangeError(`Sac.update: ${clone.targets.length} clone targets for ${n} rows`);
    if (clone && imitation) throw new RangeError("Sac.update: give `imitation` (a term of the actor loss) or `clone` (a step after the update), not both");
    let imitationLoss: tf.Scalar | null = null;
    const kept: Partial<Record<SacMetricName, tf.Scalar>> = {};
    const keep = (name: SacMetricName, t: tf.Tensor): void => {
      kept[name] = tf.keep(t as tf.Scalar);
    };

    try {
      tf.tidy(() => {
        const o = tf.tensor2d(obs, [n, od]);
        const no = tf.tensor2d(nextObs, [n, od]);
        const u = tf.tensor2d(batch.actions.subarray(0, n * ad), [n, ad]);
        const r = tf.tensor2d(batch.rewards.subarray(0, n), [n, 1]);
        const notDone = tf.sub(1, tf.tensor2d(batch.dones.subarray(0, n), [n, 1]));
        const alpha = tf.exp(this.logAlpha);

        // 1. the soft Bellman target, without gradient
        const target = tf.tidy(() => {
          const next = squashedGaussian(this.actor.apply(no, { weights: false }), tf.tensor2d(epsNext, [n, ad]), c.logStdMin, c.logStdMax);
          const q1 = this.qf1Target.apply([no, next.action], { weights: false });
          const q2 = this.qf2Target.apply([no, next.action], { weights: false });
          const minQ = tf.sub(tf.minimum(q1, q2), tf.mul(alpha, next.logProb));
          return tf.add(r, tf.mul(tf.mul(notDone, c.gamma), minQ));
        });

        // 2. the critics
        const critic = tf.variableGrads(() => {
          const q1 = this.qf1.apply([o, u]);
          const q2 = this.qf2.apply([o, u]);
          const l1 = tf.mean(tf.squaredDifference(q1, target));
          const l2 = tf.mean(tf.squaredDifference(q2, target));
          keep("losses/qf1_values", tf.mean(q1));
          keep("losses/qf2_values", tf.mean(q2));
          keep("losses/qf1_loss", l1);
          keep("losses/qf2_loss", l2);
          return tf.add(l1, l2) as tf.Scalar;
        }, [...this.qf1.variables, ...this.qf2.variables]);
        applyGradients(this.qOptimizer, critic.grads);
        keep("losses/qf_loss", tf.div(critic.value, 2)); // CleanRL logs qf_loss / 2

        if (trainActor) {
          // 3. the actor, through the (just updated) critics, whose weights stay fixed here
          let logPi: tf.Tensor2D | null = null;
          const actor = tf.variableGrads(() => {
            const out = this.actor.apply(o);
            const pi = squashedGaussian(out, tf.tensor2d(epsPi, [n, ad]), c.logStdMin, c.logStdMax);
            // gradient through the action input only; the critics' weights and the observation are constants
            const q1 = this.qf1.apply([o, pi.action], { weights: false, input: [false, true] });
            const q2 = this.qf2.apply([o, pi.action], { weights: false, input: [false, true] });
            logPi = tf.keep(pi.logProb);
            const minQ = tf.minimum(q1, q2);
            const sac = tf.mean(tf.sub(tf.mul(alpha, pi.logProb), minQ)) as tf.Scalar;
            if (!imitation) return sac;
            const cloneLoss = cloneError(tf.tanh(tf.slice(out, [0, 0], [n, ad])), tf.tensor2d(imitation.targets.subarray(0, n * ad), [n, ad]), imitation.relative ?? 0);
            imitationLoss = tf.keep(cloneLoss);
            // mean |Q| as a constant factor: no gradient through it, and no read back (it stays on the device)
            const scale = tf.mul(stopGradient(tf.mean(tf.abs(minQ))), imitation.weight);
            return tf.add(sac, tf.mul(scale, cloneLoss)) as tf.Scalar;
          }, this.actor.variables as tf.Variable[]);
          applyGradients(this.actorOptimizer, actor.grads);
          keep("losses/actor_loss", actor.value);
          const lp = logPi as unknown as tf.Tensor2D;
          keep("losses/log_pi", tf.mean(lp));

          // 4. the temperature
          if (c.autotune) {
            const shifted = tf.add(lp, c.targetEntropy);
            const temperature = tf.variableGrads(
              () => tf.mean(tf.mul(tf.neg(tf.exp(this.logAlpha)), shifted)) as tf.Scalar,
              [this.logAlpha],
            );
            applyGradients(this.alphaOptimizer, temperature.grads);
            keep("losses/alpha_loss", temperature.value);
          }
          lp.dispose();
        }

        // 5. the targets
        if ((this.updates + 1) % c.targetNetworkFrequency === 0) {
          polyakUpdate(this.qf1Target, this.qf1, c.tau);
          polyakUpdate(this.qf2Target, this.qf2, c.tau);
        }
        keep("losses/alpha", tf.exp(this.logAlpha));
      });
      // the imitation phase's cloning step, after the whole update (as a separate `imitate` call would be)
      if (clone) imitationLoss = this.cloneStep(obs, clone.targets.subarray(0, n * ad), clone);
    } catch (e) {
      for (const t of Object.values(kept)) t.dispose();
      (imitationLoss as tf.Scalar | null)?.dispose();
      throw e;
    }
    this.updates++;
    const names: (SacMetricName | "losses/imitation_loss")[] = METRIC_NAMES.filter((k) => kept[k]);
    const scalars: tf.Scalar[] = names.map((k) => kept[k as SacMetricName]!);
    if (imitationLoss) {
      names.push("losses/imitation_loss");
      scalars.push(imitationLoss);
    }
    const stacked = tf.stack(scalars) as tf.Tensor1D;
    tf.dispose(scalars);
    return new PendingSacMetrics(stacked, names);
  }

  /** Every variable in checkpoint order, with its logical name. */
  private namedVariables(policyOnly: boolean): { name: string; variable: tf.Variable }[] {
    const nets = policyOnly ? [this.actor] : [this.actor, this.qf1, this.qf2, this.qf1Target, this.qf2Target];
    const out: { name: string; variable: tf.Variable }[] = [];
    for (const net of nets) net.variables.forEach((variable, i) => out.push({ name: `${net.name}/${i}`, variable }));
    if (!policyOnly) out.push({ name: "log_alpha", variable: this.logAlpha });
    return out;
  }

  private optimizers(): Record<"q" | "actor" | "alpha", tf.AdamOptimizer> {
    return { q: this.qOptimizer, actor: this.actorOptimizer, alpha: this.alphaOptimizer };
  }

  /**
   * Saves config, weights (actor, critics, targets, log α), the three Adam states, the normaliser and
   * the update/noise counters into `dir`, atomically (see checkpoint.ts); `policyOnly` keeps only what
   * acting needs.
   */
  async save(dir: string, options: SaveOptions = {}): Promise<void> {
    this.checkAlive();
    const policyOnly = options.policyOnly ?? false;
    const vars = this.namedVariables(policyOnly);
    const blobs: Record<string, Float32Array | Float64Array> = { weights: await concatValues(vars.map((v) => v.variable)) };
    const meta: SacMeta = {
      config: { ...this.config, hiddenSizes: [...this.config.hiddenSizes] },
      policyOnly,
      updates: this.updates,
      actCalls: this.actCalls,
      variables: vars.map((v) => ({ name: v.name, shape: v.variable.shape })),
      normaliser: this.normaliser
        ? { count: this.normaliser.count, clip: this.normaliser.clip, epsilon: this.normaliser.epsilon, frozen: this.normaliser.frozen }
        : null,
      savedWith: { tfjs: tf.version.tfjs, backend: tf.getBackend() },
    };
    if (!policyOnly) {
      meta.optimizers = {} as Record<"q" | "actor" | "alpha", OptimizerState>;
      for (const [key, opt] of Object.entries(this.optimizers()) as ["q" | "actor" | "alpha", tf.AdamOptimizer][]) {
        const [iter, ...moments] = await opt.getWeights();
        const iterations = iter ? (await iter.tensor.data())[0]! : 0;
        iter?.tensor.dispose(); // getWeights() makes a fresh scalar for the iteration count: ours to free
        meta.optimizers[key] = { iterations, shapes: moments.map((m) => m.tensor.shape) };
        blobs[`adam_${key}`] = await concatValues(moments.map((m) => m.tensor));
      }
    }
    if (this.normaliser) {
      blobs.normaliser_mean = this.normaliser.mean;
      blobs.normaliser_m2 = this.normaliser.m2;
    }
    await writeCheckpoint(dir, FORMAT, meta, blobs);
  }

  /** An agent restored from `save` (weights, optimiser states, normaliser, counters; same config). */
  static async load(dir: string, options: SacOptions = {}): Promise<Sac> {
    const meta = await readCheckpointMeta<SacMeta>(dir, FORMAT);
    const { blobs } = await readCheckpoint<SacMeta>(dir, FORMAT);
    const sac = new Sac(meta.config, options);
    try {
      const vars = sac.namedVariables(meta.policyOnly);
      const weights = blob(blobs, "weights", Float32Array, dir);
      if (vars.length !== meta.variables.length) throw new Error(`${dir}: checkpoint has ${meta.variables.length} variables, the agent ${vars.length}`);
      assignFrom(weights, vars.map((v, i) => {
        const saved = meta.variables[i]!;
        if (saved.shape.join("x") !== v.variable.shape.join("x")) {
          throw new Error(`${dir}: variable ${saved.name} has shape [${saved.shape}], the agent's ${v.name} [${v.variable.shape}]`);
        }
        return v.variable;
      }), dir);
      sac.policyOnly = meta.policyOnly;
      if (meta.policyOnly) {
        copyWeights(sac.qf1Target, sac.qf1);
        copyWeights(sac.qf2Target, sac.qf2);
      } else if (meta.optimizers) {
        for (const [key, opt] of Object.entries(sac.optimizers()) as ["q" | "actor" | "alpha", tf.AdamOptimizer][]) {
          const state = meta.optimizers[key];
          if (!state || state.shapes.length === 0) continue;
          const values = blob(blobs, `adam_${key}`, Float32Array, dir);
          const half = state.shapes.length / 2;
          const tensors: { name: string; tensor: tf.Tensor }[] = [{ name: "iter", tensor: tf.scalar(state.iterations, "int32") }];
          let off = 0;
          state.shapes.forEach((shape, i) => {
            const size = shape.reduce((a, b) => a * b, 1);
            tensors.push({ name: `${key}/${i < half ? "m" : "v"}${i % half}`, tensor: tf.tensor(values.subarray(off, off + size), shape) });
            off += size;
          });
          await opt.setWeights(tensors as Parameters<tf.AdamOptimizer["setWeights"]>[0]);
          tf.dispose(tensors.map((t) => t.tensor));
        }
      }
      if (sac.normaliser && meta.normaliser) {
        sac.normaliser.mean.set(blob(blobs, "normaliser_mean", Float64Array, dir));
        sac.normaliser.m2.set(blob(blobs, "normaliser_m2", Float64Array, dir));
        sac.normaliser.count = meta.normaliser.count;
        sac.normaliser.frozen = meta.normaliser.frozen;
      }
      sac.updates = meta.updates;
      sac.actCalls = meta.actCalls;
    } catch (e) {
      sac.dispose();
      throw e;
    }
    return sac;
  }

  /**
   * A warm start: copies `from`'s actor, its critics and their targets (unless `critics` is false; by default when `from` has trained ones) and
   * its normaliser statistics into this agent. This agent keeps its own config (α, learning rates),
   * optimiser states and counters: e.g. SAC proper from an imitation run's clone.
   */
  warmStart(from: Sac, { critics = !from.policyOnly }: { critics?: boolean } = {}): void {
    this.checkAlive();
    const nets: [Network, Network][] = [[this.actor, from.actor]];
    if (critics) nets.push([this.qf1, from.qf1], [this.qf2, from.qf2], [this.qf1Target, from.qf1Target], [this.qf2Target, from.qf2Target]);
    for (const [to, source] of nets) {
      if (to.sizes.join("x") !== source.sizes.join("x")) throw new RangeError(`Sac.warmStart: ${source.name} is [${source.sizes}], this agent's [${to.sizes}]`);
      copyWeights(to, source);
    }
    if (this.normaliser && from.normaliser) {
      this.normaliser.mean.set(from.normaliser.mean);
      this.normaliser.m2.set(from.normaliser.m2);
      this.normaliser.count = from.normaliser.count;
    }
  }

  /** Frees every tensor the agent holds (networks, log α, optimiser states). */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const net of [this.actor, this.qf1, this.qf2, this.qf1Target, this.qf2Target]) net.dispose();
    this.logAlpha.dispose();
    this.qOptimizer.dispose();
    this.actorOptimizer.dispose();
    this.alphaOptimizer.dispose();
  }

  private checkAlive(): void {
    if (this.disposed) throw new Error("Sac: this agent has been disposed");
  }
}

let sacCounter = 0;

const METRIC_NAMES: readonly SacMetricName[] = [
  "losses/qf1_values",
  "losses/qf2_values",
  "losses/qf1_loss",
  "losses/qf2_loss",
  "losses/qf_loss",
  "losses/actor_loss",
  "losses/alpha",
  "losses/alpha_loss",
  "losses/log_pi",
];

/** Mean squared error of actions against targets; with ε > 0 each row's error over |target|² + ε². */
function cloneError(actions: tf.Tensor2D, targets: tf.Tensor2D, relative: number): tf.Scalar {
  const sq = tf.squaredDifference(actions, targets);
  if (relative <= 0) return tf.mean(sq);
  return tf.mean(tf.div(tf.sum(sq, 1), tf.add(tf.sum(tf.square(targets), 1), relative * relative)));
}

/**
 * The metrics of one update, still on the backend as one stacked tensor (`Sac.updateDeferred`): read
 * them once, synchronously or asynchronously (later reads return the same numbers), or dispose them
 * unread. Absent SAC metrics read as NaN; `losses/imitation_loss` is present only when computed.
 */
export class PendingSacMetrics {
  private values: tf.Tensor1D | null;
  private result: SacUpdateMetrics | null = null;

  constructor(
    values: tf.Tensor1D,
    private readonly names: readonly (SacMetricName | "losses/imitation_loss")[],
  ) {
    this.values = values;
  }

  /** Reads with `dataSync` (not on webgpu in Node). */
  readSync(): SacUpdateMetrics {
    if (this.result) return this.result;
    if (!this.values) throw new Error("PendingSacMetrics: disposed before it was read");
    return this.finish(this.values.dataSync() as Float32Array);
  }

  /** Reads with `await data()` (every backend). */
  async read(): Promise<SacUpdateMetrics> {
    if (this.result) return this.result;
    if (!this.values) throw new Error("PendingSacMetrics: disposed before it was read");
    const pending = this.values;
    const values = (await pending.data()) as Float32Array;
    return this.result ?? this.finish(values);
  }

  /** Frees the tensor (a no-op once read). */
  dispose(): void {
    this.values?.dispose();
    this.values = null;
  }

  private finish(values: Float32Array): SacUpdateMetrics {
    const metrics = {} as SacUpdateMetrics;
    for (const k of METRIC_NAMES) metrics[k] = NaN;
    this.names.forEach((k, i) => (metrics[k] = values[i]!));
    this.result = metrics;
    this.dispose();
    return metrics;
  }
}

/** The values of `t` (a copy), read synchronously; `t` is disposed. */
function readSync(t: tf.Tensor): Float32Array {
  try {
    return (t.dataSync() as Float32Array).slice();
  } finally {
    t.dispose();
  }
}

/** The values of `t` (a copy), read asynchronously (every backend); `t` is disposed. */
async function readAsync(t: tf.Tensor): Promise<Float32Array> {
  try {
    return ((await t.data()) as Float32Array).slice();
  } finally {
    t.dispose();
  }
}

/** x forward, no gradient backward (tfjs has no stopGradient op): the gradient is zero. */
function stopGradient<T extends tf.Tensor>(x: T): T {
  const f = tf.customGrad((...args) => ({ value: tf.clone(args[0] as tf.Tensor), gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy) }));
  return f(x) as T;
}

function validate(c: SacConfig): void {
  const positiveInt = ["obsDim", "actionDim", "batchSize", "bufferSize", "targetNetworkFrequency", "policyFrequency", "numEnvs", "maxEpisodeSteps", "gradientSteps"] as const;
  for (const k of positiveInt) {
    if (!Number.isSafeInteger(c[k]) || c[k] < 1) throw new RangeError(`SacConfig.${k} must be a positive integer, got ${c[k]}`);
  }
  if (c.hiddenSizes.length < 1 || c.hiddenSizes.some((h) => !Number.isInteger(h) || h < 1)) {
    throw new RangeError(`SacConfig.hiddenSizes must be positive integers, got [${c.hiddenSizes}]`);
  }
  if (!(c.gamma >= 0 && c.gamma <= 1)) throw new RangeError(`SacConfig.gamma must be in [0, 1], got ${c.gamma}`);
  if (!(c.tau > 0 && c.tau <= 1)) throw new RangeError(`SacConfig.tau must be in (0, 1], got ${c.tau}`);
  if (!(c.alpha > 0)) throw new RangeError(`SacConfig.alpha must be positive, got ${c.alpha}`);
  for (const k of ["policyLr", "qLr", "alphaLr", "adamEpsilon", "obsClip"] as const) {
    if (!(c[k] > 0)) throw new RangeError(`SacConfig.${k} must be positive, got ${c[k]}`);
  }
  if (!(c.logStdMin < c.logStdMax)) throw new RangeError(`SacConfig: logStdMin ${c.logStdMin} must be below logStdMax ${c.logStdMax}`);
}

/** Applies a `variableGrads` result (tfjs types it as tensors; the optimizer wants its variables' names). */
function applyGradients(optimizer: tf.AdamOptimizer, grads: tf.NamedTensorMap): void {
  optimizer.applyGradients(grads as unknown as Parameters<tf.AdamOptimizer["applyGradients"]>[0]);
}

/** The values of `tensors`, concatenated (float32). */
async function concatValues(tensors: readonly tf.Tensor[]): Promise<Float32Array> {
  const out = new Float32Array(tensors.reduce((n, t) => n + t.size, 0));
  let off = 0;
  for (const t of tensors) {
    out.set((await t.data()) as Float32Array, off);
    off += t.size;
  }
  return out;
}

/** Assigns consecutive slices of `values` to `variables`. */
function assignFrom(values: Float32Array, variables: readonly tf.Variable[], dir: string): void {
  const total = variables.reduce((n, v) => n + v.size, 0);
  if (values.length !== total) throw new Error(`${dir}: weights hold ${values.length} values, the agent needs ${total}`);
  let off = 0;
  for (const v of variables) {
    tf.tidy(() => v.assign(tf.tensor(values.subarray(off, off + v.size), v.shape)));
    off += v.size;
  }
}
