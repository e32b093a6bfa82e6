/**
 * Soft actor-critic for discrete actions (Christodoulou 2019), as CleanRL's `sac_atari.py` that
 * CrystalGym ported (spec §6.2): a categorical actor, twin Q-networks with hard-copied targets, a
 * uniform replay buffer, uniform random actions before `learningStarts`, one update every
 * `updateFrequency` env steps. Expectations over actions are exact (sums over π), not sampled.
 *
 * Unlike the paper, whose fixed α = 0.2 SAC failed to learn (spec §6.2), the temperature is tuned
 * automatically by default, towards the target entropy H̄ = scale · log |A| (CleanRL's
 * `target_entropy_scale` 0.89, the spec's value): 89 % of the uniform policy's entropy. α falls while
 * the policy's entropy is above H̄ and rises below it, so the sampled policy stays broad: at most ≈ 51 %
 * on its best action for |A| = 4, ≈ 31 % for CrystalGym's 18 elements. Evaluate with
 * `act(obs, { greedy: true })`. `autotune: false` restores the paper's fixed α.
 *
 * One `update()`:
 * 1. target y = r + γ^k (1 − done) Σ_a' π(a'|o') [min(Q1', Q2')(o', a') − α log π(a'|o')]   (no gradient)
 * 2. critics: minimise mean (Q1(o, a) − y)² + mean (Q2(o, a) − y)²
 * 3. actor: minimise mean Σ_a π(a|o) [α log π(a|o) − min(Q1, Q2)(o, a)]   (critics fixed, just updated)
 * 4. α: minimise mean −α Σ_a π(a|o) (log π(a|o) + H̄) = α (H(π) − H̄) (CleanRL averages this over the
 *    actions too, which only rescales the gradient by 1/|A|)
 * 5. targets, every `targetNetworkFrequency` env steps: θ' ← τ θ + (1 − τ) θ'
 *
 * Reads from the backend are asynchronous (`await t.data()`, one per update), so it runs on every
 * backend, webgpu included (which cannot read synchronously in Node): `alpha`, `probabilities`, `act`
 * and `update` return promises.
 *
 * @example
 * const agent = new SacDiscrete(env, megnet, { totalTimesteps: 100_000 });
 * for await (const r of agent.train({ checkpointDir: "runs/sac", checkpointInterval: 2000, resume: true })) log(r);
 */
import * as tf from "@tensorflow/tfjs";
import { Rng } from "../structure/random-source.js";
import { blob, readCheckpoint, writeCheckpoint } from "./checkpoint.js";
import type { DiscreteEnv, ObservationNetwork, ObservationNetworkFactory } from "./discrete.js";
import {
  type DiscreteProgress,
  type DiscreteRecord,
  type DiscreteTrainOptions,
  DiscreteReplayBuffer,
  EpisodeStats,
  RateMeter,
  type ReplaySnapshot,
  argmax,
  hasCheckpoint,
  resetSeed,
  sampleCategorical,
  checkConfig,
} from "./discrete-replay.js";
import { copyVariables, newVariable } from "./networks.js";
import { type AdamState, applyGradients, assignVariables, checkShapes, loadAdam, readVariables, saveAdam, shapesOf, subSeed } from "./vector-network.js";

/** Hyper-parameters; defaults are CrystalGym's (spec §6.2, `config/sac.yaml` with the launchers' overrides) except autotune. */
export interface SacDiscreteConfig {
  /** Env steps in total (spec §6.2: 500,000). */
  totalTimesteps: number;
  /** Replay capacity in transitions (spec §6.2: 2,000). */
  bufferSize: number;
  /** Discount γ (spec §6.2: 0.99). */
  gamma: number;
  /** Target update coefficient, 1 = hard copy (spec §6.2). */
  tau: number;
  /** Transitions per update (spec §6.2: 64). */
  batchSize: number;
  /** Env steps of uniform random actions before learning (spec §6.2: 1,000). */
  learningStarts: number;
  /** Actor Adam learning rate (spec §6.2: 3e-4). */
  policyLr: number;
  /** Critic (and α) Adam learning rate (spec §6.2: 3e-4). */
  qLr: number;
  /** Temperature (log α) Adam learning rate (CleanRL: the critics' 3e-4). */
  alphaLr: number;
  /** Adam ε of all three optimisers (spec §6.2: 1e-4). */
  adamEpsilon: number;
  /** Env steps between updates (spec §6.2: 4). */
  updateFrequency: number;
  /** Env steps between target updates (spec §6.2: 500 by default, 100 in the launchers). */
  targetNetworkFrequency: number;
  /** Entropy temperature: fixed when autotune is off (spec §6.2: 0.2), the starting value when on. */
  alpha: number;
  /** Tune α towards the target entropy (the spec's runs had it off and failed to learn; on here). */
  autotune: boolean;
  /** Target entropy as a fraction of log |A| (spec §6.2 / CleanRL: 0.89). */
  targetEntropyScale: number;
  /** Env steps between loss records (CleanRL: 100). */
  logInterval: number;
  /** Seed of networks, actions, replay sampling and env resets. */
  seed: number;
}

export const SAC_DISCRETE_DEFAULT_CONFIG: Readonly<SacDiscreteConfig> = Object.freeze({
  totalTimesteps: 500_000,
  bufferSize: 2_000,
  gamma: 0.99,
  tau: 1,
  batchSize: 64,
  learningStarts: 1_000,
  policyLr: 3e-4,
  qLr: 3e-4,
  alphaLr: 3e-4,
  adamEpsilon: 1e-4,
  updateFrequency: 4,
  targetNetworkFrequency: 100,
  alpha: 0.2,
  autotune: true,
  targetEntropyScale: 0.89,
  logInterval: 100,
  seed: 1,
});

/** CleanRL's SAC metrics, plus the policy's mean entropy. */
export interface SacDiscreteMetrics {
  "losses/qf1_values": number;
  "losses/qf2_values": number;
  "losses/qf1_loss": number;
  "losses/qf2_loss": number;
  "losses/qf_loss": number;
  "losses/actor_loss": number;
  "losses/alpha": number;
  "losses/alpha_loss": number;
  "losses/entropy": number;
}

const METRICS: readonly (keyof SacDiscreteMetrics)[] = [
  "losses/qf1_values",
  "losses/qf2_values",
  "losses/qf1_loss",
  "losses/qf2_loss",
  "losses/qf_loss",
  "losses/actor_loss",
  "losses/alpha",
  "losses/alpha_loss",
  "losses/entropy",
];

const FORMAT = "crystal-rl/sac-discrete@1";

interface SacDiscreteMeta {
  config: SacDiscreteConfig;
  progress: DiscreteProgress;
  actor: number[][];
  critic: number[][];
  adam: Record<"q" | "actor" | "alpha", AdamState>;
  buffer: ReplaySnapshot;
}

let counter = 0;

export class SacDiscrete<O> {
  readonly config: Readonly<SacDiscreteConfig>;
  readonly env: DiscreteEnv<O>;
  readonly actor: ObservationNetwork<O>;
  readonly qf1: ObservationNetwork<O>;
  readonly qf2: ObservationNetwork<O>;
  readonly qf1Target: ObservationNetwork<O>;
  readonly qf2Target: ObservationNetwork<O>;
  /** log α (trained when autotune). */
  readonly logAlpha: tf.Variable<tf.Rank.R0>;
  /** H̄ = targetEntropyScale · log |A|. */
  readonly targetEntropy: number;
  readonly buffer: DiscreteReplayBuffer<O>;
  readonly progress: DiscreteProgress = { globalStep: 0, episodes: 0, updates: 0 };
  private readonly qOptimizer: tf.AdamOptimizer;
  private readonly actorOptimizer: tf.AdamOptimizer;
  private readonly alphaOptimizer: tf.AdamOptimizer;
  private obs: O | null = null;
  private readonly episode = new EpisodeStats();
  private readonly sampling: Rng;

  constructor(env: DiscreteEnv<O>, network: ObservationNetworkFactory<O>, config: Partial<SacDiscreteConfig> = {}) {
    const c: SacDiscreteConfig = { ...SAC_DISCRETE_DEFAULT_CONFIG, ...config };
    validate(c);
    this.config = Object.freeze(c);
    this.env = env;
    const a = env.actions;
    this.actor = network(a, subSeed(c.seed, 0));
    this.qf1 = network(a, subSeed(c.seed, 1));
    this.qf2 = network(a, subSeed(c.seed, 2));
    this.qf1Target = network(a, subSeed(c.seed, 1));
    this.qf2Target = network(a, subSeed(c.seed, 2));
    copyVariables(this.qf1Target.variables, this.qf1.variables);
    copyVariables(this.qf2Target.variables, this.qf2.variables);
    this.logAlpha = newVariable(tf.scalar(Math.log(c.alpha)), `sac_discrete_log_alpha#${counter++}`, c.autotune);
    this.targetEntropy = c.targetEntropyScale * Math.log(a);
    this.buffer = new DiscreteReplayBuffer<O>({ capacity: c.bufferSize, seed: subSeed(c.seed, 3) });
    this.qOptimizer = tf.train.adam(c.qLr, 0.9, 0.999, c.adamEpsilon);
    this.actorOptimizer = tf.train.adam(c.policyLr, 0.9, 0.999, c.adamEpsilon);
    this.alphaOptimizer = tf.train.adam(c.alphaLr, 0.9, 0.999, c.adamEpsilon);
    this.sampling = new Rng(c.seed).fork(1);
  }

  /** The current temperature α. */
  async alpha(): Promise<number> {
    return Math.exp((await this.logAlpha.data())[0]!);
  }

  /** π(·|o) of one observation. */
  async probabilities(obs: O): Promise<Float32Array> {
    const p = tf.tidy(() => tf.softmax(this.actor.apply([obs])));
    const out = (await p.data()) as Float32Array;
    p.dispose();
    return out;
  }

  /**
   * The action at step t: uniform before learningStarts, then sampled from π (step t's stream), or
   * the most likely one when `greedy`.
   */
  async act(obs: O, { greedy = false, t = this.progress.globalStep }: { greedy?: boolean; t?: number } = {}): Promise<number> {
    const rng = this.sampling.fork(t);
    if (!greedy && t < this.config.learningStarts) return rng.int(this.env.actions);
    const p = await this.probabilities(obs);
    return greedy ? argmax(p) : sampleCategorical(p, rng);
  }

  /** One update of critics, actor and α on a sampled batch. */
  async update(): Promise<SacDiscreteMetrics> {
    const c = this.config;
    const b = this.buffer.sample(c.batchSize);
    const out = tf.tidy(() => {
      const kept: Partial<Record<keyof SacDiscreteMetrics, tf.Tensor>> = {};
      const keep = (k: keyof SacDiscreteMetrics, t: tf.Tensor): void => {
        kept[k] = tf.keep(t);
      };
      const alpha = tf.exp(this.logAlpha);
      const taken = tf.oneHot(tf.tensor1d(b.actions, "int32"), this.env.actions);

      // 1. the soft target, an exact expectation over π(·|o'), without gradient
      const y = tf.tidy(() => {
        const logp = tf.logSoftmax(this.actor.apply(b.nextObs));
        const minQ = tf.minimum(this.qf1Target.apply(b.nextObs), this.qf2Target.apply(b.nextObs));
        const v = tf.sum(tf.mul(tf.exp(logp), tf.sub(minQ, tf.mul(alpha, logp))), 1);
        const bootstrap = tf.mul(tf.tensor1d(b.discounts), tf.sub(1, tf.tensor1d(b.dones)));
        return tf.add(tf.tensor1d(b.rewards), tf.mul(bootstrap, v));
      });

      // 2. the critics
      const critic = tf.variableGrads(() => {
        const q1 = tf.sum(tf.mul(this.qf1.apply(b.obs), taken), 1);
        const q2 = tf.sum(tf.mul(this.qf2.apply(b.obs), taken), 1);
        const l1 = tf.mean(tf.squaredDifference(q1, y));
        const l2 = tf.mean(tf.squaredDifference(q2, y));
        keep("losses/qf1_values", tf.mean(q1));
        keep("losses/qf2_values", tf.mean(q2));
        keep("losses/qf1_loss", l1);
        keep("losses/qf2_loss", l2);
        return tf.add(l1, l2) as tf.Scalar;
      }, [...this.qf1.variables, ...this.qf2.variables] as tf.Variable[]);
      applyGradients(this.qOptimizer, critic.grads);
      keep("losses/qf_loss", tf.div(critic.value, 2)); // CleanRL logs qf_loss / 2

      // 3. the actor, against the just-updated critics (constants here)
      const minQ = tf.minimum(this.qf1.apply(b.obs), this.qf2.apply(b.obs));
      const holder: { logp?: tf.Tensor } = {};
      const actor = tf.variableGrads(() => {
        const logp = tf.logSoftmax(this.actor.apply(b.obs));
        holder.logp = tf.keep(logp);
        return tf.mean(tf.sum(tf.mul(tf.exp(logp), tf.sub(tf.mul(alpha, logp), minQ)), 1)) as tf.Scalar;
      }, this.actor.variables as tf.Variable[]);
      applyGradients(this.actorOptimizer, actor.grads);
      keep("losses/actor_loss", actor.value);
      const logp = holder.logp!;
      // H(π) per observation, then its mean
      const entropy = tf.neg(tf.sum(tf.mul(tf.exp(logp), logp), 1));
      keep("losses/entropy", tf.mean(entropy));

      // 4. the temperature: minimise α (H(π) − H̄), π fixed
      if (c.autotune) {
        const gap = tf.sub(entropy, this.targetEntropy);
        const temperature = tf.variableGrads(() => tf.mean(tf.mul(tf.exp(this.logAlpha), gap)) as tf.Scalar, [this.logAlpha]);
        applyGradients(this.alphaOptimizer, temperature.grads);
        keep("losses/alpha_loss", temperature.value);
      } else keep("losses/alpha_loss", tf.scalar(0));
      logp.dispose();
      keep("losses/alpha", tf.exp(this.logAlpha));
      const stacked = tf.stack(METRICS.map((k) => kept[k]!));
      tf.dispose(Object.values(kept));
      return stacked;
    });
    const v = await out.data();
    out.dispose();
    this.progress.updates++;
    const metrics = {} as SacDiscreteMetrics;
    METRICS.forEach((k, i) => (metrics[k] = v[i]!));
    return metrics;
  }

  /**
   * CleanRL's loop as an async generator of records: one per finished episode (return, length, the
   * env's terminal `info/*`) and one every `logInterval` steps once learning (SacDiscreteMetrics, SPS).
   */
  async *train(options: DiscreteTrainOptions = {}): AsyncGenerator<DiscreteRecord, DiscreteProgress, void> {
    const c = this.config;
    const p = this.progress;
    const until = options.until ?? c.totalTimesteps;
    const rate = new RateMeter();
    let losses: SacDiscreteMetrics | null = null;
    if (options.resume && options.checkpointDir && (await hasCheckpoint(options.checkpointDir))) await this.load(options.checkpointDir);
    let lastSave = p.globalStep;
    while (p.globalStep < until && !options.signal?.aborted) {
      // 1. act: uniform before learningStarts, then π
      if (this.obs === null) this.obs = (await this.env.reset({ seed: resetSeed(c.seed, p.episodes) })).obs;
      const action = await this.act(this.obs);
      const step = await this.env.step(action);
      p.globalStep++;
      rate.tick(1, 0);
      this.episode.add(step.reward);

      // 2. store (done = termination; truncation bootstraps)
      this.buffer.add({ obs: this.obs, action, reward: step.reward, nextObs: step.obs, done: step.terminated, discount: c.gamma });
      if (step.terminated || step.truncated) {
        p.episodes++;
        this.obs = null;
        yield this.episode.finish(p.globalStep, step.info);
      } else this.obs = step.obs;

      // 3. learn, and copy the targets
      if (p.globalStep > c.learningStarts) {
        if (p.globalStep % c.updateFrequency === 0) {
          losses = await this.update();
          rate.tick(0, 1);
        }
        if (p.globalStep % c.targetNetworkFrequency === 0) {
          copyVariables(this.qf1Target.variables, this.qf1.variables, c.tau);
          copyVariables(this.qf2Target.variables, this.qf2.variables, c.tau);
        }
        if (losses && p.globalStep % c.logInterval === 0) yield { step: p.globalStep, ...losses, ...rate.read() };
      }

      // 4. checkpoint
      if (options.checkpointDir && (options.checkpointInterval ?? 0) > 0 && p.globalStep - lastSave >= options.checkpointInterval!) {
        await this.save(options.checkpointDir);
        lastSave = p.globalStep;
      }
    }
    if (options.checkpointDir && lastSave !== p.globalStep) await this.save(options.checkpointDir);
    return { ...p };
  }

  private criticVariables(): tf.Variable[] {
    return [...this.qf1.variables, ...this.qf2.variables, ...this.qf1Target.variables, ...this.qf2Target.variables];
  }

  /** Saves actor, critics, targets, log α, the three Adam states, the replay buffer and counters into `dir`, atomically. */
  async save(dir: string): Promise<void> {
    const q = await saveAdam(this.qOptimizer);
    const a = await saveAdam(this.actorOptimizer);
    const t = await saveAdam(this.alphaOptimizer);
    const buffer = this.buffer.snapshot();
    const meta: SacDiscreteMeta = {
      config: { ...this.config },
      progress: { ...this.progress },
      actor: shapesOf(this.actor.variables),
      critic: shapesOf(this.criticVariables()),
      adam: { q: q.state, actor: a.state, alpha: t.state },
      buffer: buffer.meta,
    };
    await writeCheckpoint(dir, FORMAT, meta, {
      actor: await readVariables(this.actor.variables),
      critic: await readVariables(this.criticVariables()),
      log_alpha: await readVariables([this.logAlpha]),
      adam_q: q.values,
      adam_actor: a.values,
      adam_alpha: t.values,
      ...buffer.blobs,
    });
  }

  /** Restores `save`'s checkpoint (same factory and config); training goes on from a fresh env reset. */
  async load(dir: string): Promise<void> {
    const { meta, blobs } = await readCheckpoint<SacDiscreteMeta>(dir, FORMAT);
    checkShapes(meta.actor, this.actor.variables, dir);
    checkShapes(meta.critic, this.criticVariables(), dir);
    assignVariables(this.actor.variables, blob(blobs, "actor", Float32Array, dir), dir);
    assignVariables(this.criticVariables(), blob(blobs, "critic", Float32Array, dir), dir);
    assignVariables([this.logAlpha], blob(blobs, "log_alpha", Float32Array, dir), dir);
    await loadAdam(this.qOptimizer, meta.adam.q, blob(blobs, "adam_q", Float32Array, dir), dir);
    await loadAdam(this.actorOptimizer, meta.adam.actor, blob(blobs, "adam_actor", Float32Array, dir), dir);
    await loadAdam(this.alphaOptimizer, meta.adam.alpha, blob(blobs, "adam_alpha", Float32Array, dir), dir);
    this.buffer.restore(meta.buffer, blobs, dir);
    Object.assign(this.progress, meta.progress);
    this.obs = null;
    this.episode.reset();
  }

  dispose(): void {
    for (const net of [this.actor, this.qf1, this.qf2, this.qf1Target, this.qf2Target]) net.dispose();
    this.logAlpha.dispose();
    this.qOptimizer.dispose();
    this.actorOptimizer.dispose();
    this.alphaOptimizer.dispose();
  }
}

function validate(c: SacDiscreteConfig): void {
  checkConfig("SacDiscreteConfig", c, {
    positiveIntegers: ["bufferSize", "batchSize", "updateFrequency", "targetNetworkFrequency", "logInterval"],
    wholeNumbers: ["totalTimesteps", "learningStarts"],
    fractions: ["gamma", "targetEntropyScale"],
    positive: ["tau", "policyLr", "qLr", "alphaLr", "adamEpsilon", "alpha"],
  });
  if (c.tau > 1) throw new RangeError(`SacDiscreteConfig.tau must be in (0, 1], got ${c.tau}`);
}
