/**
 * PPO (Schulman et al. 2017) for discrete actions, as CleanRL's `ppo.py` that CrystalGym ported
 * (spec §6.2): rollouts of `numSteps` env steps, GAE(λ), several epochs of shuffled minibatches with the
 * clipped surrogate, a clipped value loss and an entropy bonus, global gradient clipping, and a
 * linearly annealed learning rate. Separate actor (|A| logits) and critic (1 value) networks from the
 * same `ObservationNetworkFactory<O>`, one Adam over both (spec §6.1: nothing shared).
 *
 * Not replicated (spec §9.2): the released code kept `obs` in a list that was never cleared and fed
 * `obs[start:end]` (always the first 32 observations ever collected) next to shuffled actions and
 * advantages. Here each rollout stores its own observations and a minibatch takes observations,
 * actions, log-probabilities, advantages, returns and values at the same shuffled indices.
 *
 * Reads from the backend are asynchronous (`await t.data()`), so it runs on every backend, webgpu
 * included (which cannot read synchronously in Node): one read per env step, one per update (plus one
 * per epoch with `targetKl`); `values`, `probabilities`, `act` and `update` return promises.
 *
 * Truncation: an episode cut short (truncated, not terminated) bootstraps: its last reward gets
 * + γ V(last observation) (CleanRL treats both as terminal; in CrystalGym the two coincide).
 *
 * @example
 * const agent = new Ppo(env, megnet, { totalTimesteps: 50_000 });
 * for await (const r of agent.train({ checkpointDir: "runs/ppo", checkpointInterval: 3200, resume: true })) log(r);
 */
import * as tf from "@tensorflow/tfjs";
import { Rng } from "../structure/random-source.js";
import { blob, readCheckpoint, writeCheckpoint } from "./checkpoint.js";
import type { DiscreteEnv, ObservationNetwork, ObservationNetworkFactory } from "./discrete.js";
import {
  type DiscreteProgress,
  type DiscreteRecord,
  type DiscreteTrainOptions,
  EpisodeStats,
  RateMeter,
  argmax,
  hasCheckpoint,
  resetSeed,
  sampleCategorical,
  checkConfig,
} from "./discrete-replay.js";
import { type AdamState, applyGradients, assignVariables, checkShapes, clipByGlobalNorm, loadAdam, readVariables, saveAdam, setLearningRate, shapesOf, subSeed } from "./vector-network.js";

/** Hyper-parameters; defaults are CrystalGym's (spec §6.2, `config/ppo.yaml`). */
export interface PpoConfig {
  /** Env steps in total (spec §6.2: 500,000). */
  totalTimesteps: number;
  /** Adam learning rate (spec §6.2: 2.5e-4). */
  learningRate: number;
  /** Adam ε (spec §6.2: 1e-5). */
  adamEpsilon: number;
  /** Anneal the learning rate linearly to 0 over the run (spec §6.2: on). */
  annealLr: boolean;
  /** Env steps per rollout (spec §6.2: 32). */
  numSteps: number;
  /** Minibatches per epoch (spec §6.2: 2, of 16). */
  numMinibatches: number;
  /** Epochs over each rollout (spec §6.2: 4). */
  updateEpochs: number;
  /** Discount γ (spec §6.2: 0.99). */
  gamma: number;
  /** GAE λ (spec §6.2: 0.95). */
  gaeLambda: number;
  /** Normalise advantages per minibatch (spec §6.2: on). */
  normAdvantages: boolean;
  /** Surrogate clipping coefficient (spec §6.2: 0.2). */
  clipCoef: number;
  /** Clip the value loss around the old values with clipCoef (spec §6.2: on). */
  clipVloss: boolean;
  /** Entropy coefficient (spec §6.2: 0.01). */
  entCoef: number;
  /** Value-loss coefficient (spec §6.2: 0.5). */
  vfCoef: number;
  /** Global gradient-norm clip (spec §6.2: 0.5). */
  maxGradNorm: number;
  /** Stop an update's epochs early once the approximate KL passes this (spec §6.2: none, null). */
  targetKl: number | null;
  /** Seed of networks, action sampling, minibatch shuffles and env resets. */
  seed: number;
}

export const PPO_DEFAULT_CONFIG: Readonly<PpoConfig> = Object.freeze({
  totalTimesteps: 500_000,
  learningRate: 2.5e-4,
  adamEpsilon: 1e-5,
  annealLr: true,
  numSteps: 32,
  numMinibatches: 2,
  updateEpochs: 4,
  gamma: 0.99,
  gaeLambda: 0.95,
  normAdvantages: true,
  clipCoef: 0.2,
  clipVloss: true,
  entCoef: 0.01,
  vfCoef: 0.5,
  maxGradNorm: 0.5,
  targetKl: null,
  seed: 1,
});

/** CleanRL's PPO metrics of one iteration (losses from its last minibatch, as CleanRL logs them). */
export interface PpoMetrics {
  "charts/learning_rate": number;
  "losses/value_loss": number;
  "losses/policy_loss": number;
  "losses/entropy": number;
  "losses/old_approx_kl": number;
  "losses/approx_kl": number;
  "losses/clipfrac": number;
  "losses/explained_variance": number;
}

/** One rollout: the observations it saw and, per step, what the update needs. */
export interface Rollout<O> {
  obs: O[];
  actions: Int32Array;
  logProbs: Float32Array;
  values: Float32Array;
  rewards: Float32Array;
  /** 1 where the step ended its episode (no GAE flow past it). */
  ends: Float32Array;
  advantages: Float32Array;
  returns: Float32Array;
}

/**
 * GAE(λ) in place: δ_t = r_t + γ V_{t+1} (1 − end_t) − V_t, A_t = δ_t + γλ (1 − end_t) A_{t+1};
 * returns = A + V. `nextValue` is V of the observation after the rollout's last step.
 */
export function computeGae(r: Rollout<unknown>, nextValue: number, gamma: number, lambda: number): void {
  const n = r.rewards.length;
  let last = 0;
  for (let t = n - 1; t >= 0; t--) {
    const nonTerminal = 1 - r.ends[t]!;
    const nextV = t === n - 1 ? nextValue : r.values[t + 1]!;
    const delta = r.rewards[t]! + gamma * nextV * nonTerminal - r.values[t]!;
    last = delta + gamma * lambda * nonTerminal * last;
    r.advantages[t] = last;
    r.returns[t] = last + r.values[t]!;
  }
}

const FORMAT = "crystal-rl/ppo@1";

interface PpoMeta {
  config: PpoConfig;
  progress: DiscreteProgress;
  actor: number[][];
  critic: number[][];
  adam: AdamState;
}

export class Ppo<O> {
  readonly config: Readonly<PpoConfig>;
  readonly env: DiscreteEnv<O>;
  readonly actor: ObservationNetwork<O>;
  readonly critic: ObservationNetwork<O>;
  readonly optimizer: tf.AdamOptimizer;
  /** `updates` counts iterations (rollout + update). */
  readonly progress: DiscreteProgress = { globalStep: 0, episodes: 0, updates: 0 };
  private obs: O | null = null;
  private readonly episode = new EpisodeStats();
  private readonly sampling: Rng;
  private readonly shuffling: Rng;

  constructor(env: DiscreteEnv<O>, network: ObservationNetworkFactory<O>, config: Partial<PpoConfig> = {}) {
    const c: PpoConfig = { ...PPO_DEFAULT_CONFIG, ...config };
    validate(c);
    this.config = Object.freeze(c);
    this.env = env;
    this.actor = network(env.actions, subSeed(c.seed, 0));
    this.critic = network(1, subSeed(c.seed, 1));
    this.optimizer = tf.train.adam(c.learningRate, 0.9, 0.999, c.adamEpsilon);
    const root = new Rng(c.seed);
    this.sampling = root.fork(1);
    this.shuffling = root.fork(2);
  }

  /** Iterations of the whole run (CleanRL's num_iterations). */
  get numIterations(): number {
    return Math.max(1, Math.floor(this.config.totalTimesteps / this.config.numSteps));
  }

  /** V(o) of a batch. */
  async values(observations: readonly O[]): Promise<Float32Array> {
    const v = tf.tidy(() => this.critic.apply(observations));
    const out = (await v.data()) as Float32Array;
    v.dispose();
    return out;
  }

  /** π(·|o) of one observation, as probabilities. */
  async probabilities(obs: O): Promise<Float64Array> {
    const logits = tf.tidy(() => this.actor.apply([obs]));
    const l = await logits.data();
    logits.dispose();
    const max = Math.max(...l);
    const p = Float64Array.from(l, (x) => Math.exp(x - max));
    const z = p.reduce((a, b) => a + b, 0);
    return p.map((x) => x / z);
  }

  /** An action sampled from π(·|o) with step t's stream (or the most likely one when `greedy`). */
  async act(obs: O, { greedy = false, t = this.progress.globalStep }: { greedy?: boolean; t?: number } = {}): Promise<number> {
    const p = await this.probabilities(obs);
    if (greedy) return argmax(p);
    return sampleCategorical(p, this.sampling.fork(t));
  }

  /** The action, its log-probability and the value of `obs`, for a rollout (step t's stream). */
  private async policyStep(obs: O, t: number): Promise<{ action: number; logProb: number; value: number }> {
    const out = tf.tidy(() => tf.concat([tf.logSoftmax(this.actor.apply([obs])), this.critic.apply([obs])], 1));
    const v = await out.data();
    out.dispose();
    const a = this.env.actions;
    const action = sampleCategorical(Float64Array.from(v.subarray(0, a), Math.exp), this.sampling.fork(t));
    return { action, logProb: v[action]!, value: v[a]! };
  }

  /**
   * The clipped-surrogate update on a rollout (with advantages and returns). Each minibatch's
   * diagnostics stay on the backend until the end (one read), or each epoch's end with `targetKl`.
   */
  async update(r: Rollout<O>, iteration: number): Promise<Omit<PpoMetrics, "charts/learning_rate">> {
    const c = this.config;
    const n = r.actions.length;
    const mbSize = Math.max(1, Math.floor(n / c.numMinibatches));
    const vars = [...this.actor.variables, ...this.critic.variables] as tf.Variable[];
    const stats: tf.Tensor1D[] = []; // per minibatch: pg, v, entropy, old_approx_kl, approx_kl, clipfrac
    const order = Array.from({ length: n }, (_, i) => i);
    for (let epoch = 0; epoch < c.updateEpochs; epoch++) {
      this.shuffling.fork(iteration).fork(epoch).shuffle(order);
      for (let start = 0; start + mbSize <= n; start += mbSize) {
        const mb = order.slice(start, start + mbSize);
        const pick = (a: Float32Array): Float32Array => Float32Array.from(mb, (i) => a[i]!);
        let adv = pick(r.advantages);
        if (c.normAdvantages && mb.length > 1) adv = normalise(adv);
        const out = tf.tidy(() => {
          const obs = mb.map((i) => r.obs[i]!);
          const taken = tf.oneHot(tf.tensor1d(Int32Array.from(mb, (i) => r.actions[i]!), "int32"), this.env.actions);
          const oldLogProb = tf.tensor1d(pick(r.logProbs));
          const advantages = tf.tensor1d(adv);
          const returns = tf.tensor1d(pick(r.returns));
          const oldValues = tf.tensor1d(pick(r.values));
          const kept: { stats?: tf.Tensor } = {};
          const { grads } = tf.variableGrads(() => {
            const logp = tf.logSoftmax(this.actor.apply(obs));
            const newLogProb = tf.sum(tf.mul(logp, taken), 1);
            const entropy = tf.mean(tf.neg(tf.sum(tf.mul(tf.exp(logp), logp), 1)));
            const logRatio = tf.sub(newLogProb, oldLogProb);
            const ratio = tf.exp(logRatio);
            // policy loss: max(−A ρ, −A clip(ρ, 1 ± ε))
            const pg = tf.mean(tf.maximum(tf.mul(tf.neg(advantages), ratio), tf.mul(tf.neg(advantages), tf.clipByValue(ratio, 1 - c.clipCoef, 1 + c.clipCoef))));
            // value loss, clipped around the rollout's values
            const v = tf.reshape(this.critic.apply(obs), [mb.length]);
            const unclipped = tf.square(tf.sub(v, returns));
            const vLoss = c.clipVloss
              ? tf.mul(0.5, tf.mean(tf.maximum(unclipped, tf.square(tf.sub(tf.add(oldValues, tf.clipByValue(tf.sub(v, oldValues), -c.clipCoef, c.clipCoef)), returns)))))
              : tf.mul(0.5, tf.mean(unclipped));
            // diagnostics (CleanRL): old_approx_kl = mean(−log ρ), approx_kl = mean((ρ − 1) − log ρ), clip fraction
            kept.stats = tf.keep(
              tf.stack([
                pg,
                vLoss,
                entropy,
                tf.mean(tf.neg(logRatio)),
                tf.mean(tf.sub(tf.sub(ratio, 1), logRatio)),
                tf.mean(tf.cast(tf.greater(tf.abs(tf.sub(ratio, 1)), c.clipCoef), "float32")),
              ]),
            );
            return tf.add(tf.sub(pg, tf.mul(c.entCoef, entropy)), tf.mul(c.vfCoef, vLoss)) as tf.Scalar;
          }, vars);
          applyGradients(this.optimizer, clipByGlobalNorm(grads, c.maxGradNorm).grads);
          return kept.stats! as tf.Tensor1D;
        });
        stats.push(out);
      }
      if (c.targetKl !== null && stats.length > 0 && (await stats.at(-1)!.data())[4]! > c.targetKl) break;
    }
    const k = 6;
    let s: Float32Array = new Float32Array(k); // zeros when there was no minibatch
    if (stats.length > 0) {
      const all = tf.concat(stats);
      s = (await all.data()) as Float32Array;
      tf.dispose([all, ...stats]);
    }
    const last = s.subarray(s.length - k); // CleanRL logs the last minibatch's losses
    const clipfracs = Array.from({ length: stats.length }, (_, i) => s[i * k + 5]!);
    return {
      "losses/value_loss": last[1]!,
      "losses/policy_loss": last[0]!,
      "losses/entropy": last[2]!,
      "losses/old_approx_kl": last[3]!,
      "losses/approx_kl": last[4]!,
      "losses/clipfrac": clipfracs.reduce((a, b) => a + b, 0) / Math.max(1, clipfracs.length),
      "losses/explained_variance": explainedVariance(r.values, r.returns),
    };
  }

  /**
   * CleanRL's loop as an async generator of records: one per finished episode (return, length, the
   * env's terminal `info/*`) and one per iteration (PpoMetrics, `charts/SPS`). Checkpoints are written
   * between iterations.
   */
  async *train(options: DiscreteTrainOptions = {}): AsyncGenerator<DiscreteRecord, DiscreteProgress, void> {
    const c = this.config;
    const p = this.progress;
    const until = options.until ?? c.totalTimesteps;
    const rate = new RateMeter();
    if (options.resume && options.checkpointDir && (await hasCheckpoint(options.checkpointDir))) await this.load(options.checkpointDir);
    let lastSave = p.globalStep;
    while (p.globalStep + c.numSteps <= until && p.updates < this.numIterations && !options.signal?.aborted) {
      const iteration = p.updates + 1;
      // 1. anneal the learning rate: frac = 1 − (iteration − 1) / numIterations
      const lr = c.annealLr ? (1 - (iteration - 1) / this.numIterations) * c.learningRate : c.learningRate;
      setLearningRate(this.optimizer, lr);

      // 2. a rollout of numSteps steps, its own observations (not the released code's ever-growing list)
      const n = c.numSteps;
      const r: Rollout<O> = {
        obs: [],
        actions: new Int32Array(n),
        logProbs: new Float32Array(n),
        values: new Float32Array(n),
        rewards: new Float32Array(n),
        ends: new Float32Array(n),
        advantages: new Float32Array(n),
        returns: new Float32Array(n),
      };
      for (let t = 0; t < n; t++) {
        if (this.obs === null) this.obs = (await this.env.reset({ seed: resetSeed(c.seed, p.episodes) })).obs;
        const { action, logProb, value } = await this.policyStep(this.obs, p.globalStep);
        const step = await this.env.step(action);
        p.globalStep++;
        rate.tick(1, 0);
        this.episode.add(step.reward);
        r.obs.push(this.obs);
        r.actions[t] = action;
        r.logProbs[t] = logProb;
        r.values[t] = value;
        r.rewards[t] = step.reward;
        if (step.terminated || step.truncated) {
          // a truncated (not terminated) episode bootstraps from its last observation
          if (!step.terminated) r.rewards[t] = step.reward + c.gamma * (await this.values([step.obs]))[0]!;
          r.ends[t] = 1;
          p.episodes++;
          this.obs = null;
          yield this.episode.finish(p.globalStep, step.info);
        } else this.obs = step.obs;
      }

      // 3. GAE, then the update
      const nextValue = this.obs === null ? 0 : (await this.values([this.obs]))[0]!;
      computeGae(r, nextValue, c.gamma, c.gaeLambda);
      const metrics = await this.update(r, iteration);
      p.updates++;
      rate.tick(0, c.updateEpochs * c.numMinibatches);
      yield { step: p.globalStep, "charts/learning_rate": lr, ...metrics, ...rate.read() };

      // 4. checkpoint (between iterations)
      if (options.checkpointDir && (options.checkpointInterval ?? 0) > 0 && p.globalStep - lastSave >= options.checkpointInterval!) {
        await this.save(options.checkpointDir);
        lastSave = p.globalStep;
      }
    }
    if (options.checkpointDir && lastSave !== p.globalStep) await this.save(options.checkpointDir);
    return { ...p };
  }

  /** Saves both networks, the Adam state and the counters into `dir`, atomically. */
  async save(dir: string): Promise<void> {
    const { state, values } = await saveAdam(this.optimizer);
    const meta: PpoMeta = { config: { ...this.config }, progress: { ...this.progress }, actor: shapesOf(this.actor.variables), critic: shapesOf(this.critic.variables), adam: state };
    await writeCheckpoint(dir, FORMAT, meta, {
      actor: await readVariables(this.actor.variables),
      critic: await readVariables(this.critic.variables),
      adam: values,
    });
  }

  /** Restores `save`'s checkpoint (same factory and config); training goes on from a fresh env reset. */
  async load(dir: string): Promise<void> {
    const { meta, blobs } = await readCheckpoint<PpoMeta>(dir, FORMAT);
    checkShapes(meta.actor, this.actor.variables, dir);
    checkShapes(meta.critic, this.critic.variables, dir);
    assignVariables(this.actor.variables, blob(blobs, "actor", Float32Array, dir), dir);
    assignVariables(this.critic.variables, blob(blobs, "critic", Float32Array, dir), dir);
    await loadAdam(this.optimizer, meta.adam, blob(blobs, "adam", Float32Array, dir), dir);
    Object.assign(this.progress, meta.progress);
    this.obs = null;
    this.episode.reset();
  }

  dispose(): void {
    this.actor.dispose();
    this.critic.dispose();
    this.optimizer.dispose();
  }
}

/** (x − mean) / (std + 1e-8), std unbiased (torch's default, as CleanRL). */
function normalise(x: Float32Array): Float32Array {
  const n = x.length;
  const mean = x.reduce((a, b) => a + b, 0) / n;
  const variance = x.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, n - 1);
  const sd = Math.sqrt(variance);
  return x.map((v) => (v - mean) / (sd + 1e-8));
}

/** 1 − Var(returns − values) / Var(returns) (NaN when the returns do not vary). */
function explainedVariance(values: Float32Array, returns: Float32Array): number {
  const variance = (f: (i: number) => number): number => {
    const n = returns.length;
    let m = 0;
    for (let i = 0; i < n; i++) m += f(i);
    m /= n;
    let s = 0;
    for (let i = 0; i < n; i++) s += (f(i) - m) ** 2;
    return s / n;
  };
  const vy = variance((i) => returns[i]!);
  return vy === 0 ? NaN : 1 - variance((i) => returns[i]! - values[i]!) / vy;
}

function validate(c: PpoConfig): void {
  checkConfig("PpoConfig", c, {
    positiveIntegers: ["numSteps", "numMinibatches", "updateEpochs"],
    wholeNumbers: ["totalTimesteps"],
    fractions: ["gamma", "gaeLambda"],
    positive: ["learningRate", "adamEpsilon", "clipCoef", "maxGradNorm"],
  });
  if (c.numMinibatches > c.numSteps) throw new RangeError(`PpoConfig: ${c.numMinibatches} minibatches of a ${c.numSteps}-step rollout`);
}
