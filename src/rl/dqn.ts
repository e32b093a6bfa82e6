/**
 * DQN (Mnih et al. 2015) for discrete actions, as CleanRL's `dqn.py` that CrystalGym ported (spec
 * §6.2): ε-greedy acting with a linear schedule, a uniform replay buffer, an MSE TD loss against a
 * hard-copied target network, Adam. Generic over the observation type O: the Q-network comes from an
 * `ObservationNetworkFactory<O>` (MEGNet for CrystalGym graphs, `vectorNetwork` for vectors) with one
 * output per action. Environment steps are awaited (a DFT evaluation may take minutes).
 *
 * One `update()`:
 *   y = r + γ (1 - done) max_a' Q_target(o', a')        (no gradient; γ^k is stored per transition)
 *   loss = mean (Q(o, a) - y)²
 *
 * Reads from the backend are asynchronous (`await t.data()`, one per update), so it runs on every
 * backend, webgpu included (which cannot read synchronously in Node); `act` and `update` return promises.
 *
 * Randomness is seeded and resumable: exploration at global step t draws from `Rng(seed).fork(1).fork(t)`,
 * the buffer's sample call k from its own fork, env reset number e gets `resetSeed(seed, e)`, so a run
 * killed and resumed from a checkpoint saved at an episode boundary repeats the uninterrupted run.
 *
 * @example
 * const agent = new Dqn(env, vectorNetwork(36), { totalTimesteps: 20_000 });
 * for await (const r of agent.train({ checkpointDir: "runs/dqn", checkpointInterval: 1000, resume: true })) console.log(r);
 * // killed? The same two lines again (same env, factory and config) load runs/dqn and go on from there.
 */
import * as tf from "@tensorflow/tfjs";
import { copyVariables } from "./networks.js";
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
  checkConfig,
} from "./discrete-replay.js";
import { type AdamState, applyGradients, assignVariables, checkShapes, loadAdam, readVariables, saveAdam, shapesOf, subSeed } from "./vector-network.js";

/** Hyper-parameters; defaults are CrystalGym's (spec §6.2, `config/dqn.yaml` with the launchers' overrides). */
export interface DqnConfig {
  /** Env steps (= atoms placed) in total (spec §6.2: DQN launchers 100k for bulk modulus and density, 200k for band gap). */
  totalTimesteps: number;
  /** Adam learning rate (spec §6.2: 2.5e-4). */
  learningRate: number;
  /** Adam ε (PyTorch's default 1e-8, which CleanRL's DQN keeps; tfjs's own is 1e-7). */
  adamEpsilon: number;
  /** Replay buffer capacity in transitions (spec §6.2: 2,000). */
  bufferSize: number;
  /** Discount γ (spec §1.3, §6.2: 0.99). */
  gamma: number;
  /** Target update coefficient: 1 = hard copy (spec §6.2). */
  tau: number;
  /** Env steps between target updates (spec §6.2: 500 by default, 100 in the launchers). */
  targetNetworkFrequency: number;
  /** Transitions per update (spec §6.2: 64). */
  batchSize: number;
  /** ε at the start of the schedule (spec §6.2: 1.0). */
  startE: number;
  /** ε at the end of the schedule (spec §6.2: 0.05). */
  endE: number;
  /** Fraction of totalTimesteps over which ε falls linearly (spec §6.2: 0.2). */
  explorationFraction: number;
  /** Env steps before learning starts (spec §6.2: 1,000). */
  learningStarts: number;
  /** Env steps between updates (spec §6.2: 4). */
  trainFrequency: number;
  /** Env steps between loss records (CleanRL: 100). */
  logInterval: number;
  /** Seed of the network, exploration, replay sampling and env resets. */
  seed: number;
}

export const DQN_DEFAULT_CONFIG: Readonly<DqnConfig> = Object.freeze({
  totalTimesteps: 100_000,
  learningRate: 2.5e-4,
  adamEpsilon: 1e-8,
  bufferSize: 2_000,
  gamma: 0.99,
  tau: 1,
  targetNetworkFrequency: 100,
  batchSize: 64,
  startE: 1,
  endE: 0.05,
  explorationFraction: 0.2,
  learningStarts: 1_000,
  trainFrequency: 4,
  logInterval: 100,
  seed: 1,
});

/** CleanRL's DQN metrics. */
export interface DqnMetrics {
  "losses/td_loss": number;
  "losses/q_values": number;
}

const FORMAT = "crystal-rl/dqn@1";

interface DqnMeta {
  config: DqnConfig;
  progress: DiscreteProgress;
  variables: number[][];
  adam: AdamState;
  buffer: ReplaySnapshot;
}

/** CleanRL's linear schedule: from `start` to `end` over `duration` steps, then `end`. */
export function linearSchedule(start: number, end: number, duration: number, t: number): number {
  if (duration <= 0) return end;
  return Math.max(start + ((end - start) / duration) * t, end);
}

export class Dqn<O> {
  readonly config: Readonly<DqnConfig>;
  readonly env: DiscreteEnv<O>;
  readonly qNetwork: ObservationNetwork<O>;
  readonly targetNetwork: ObservationNetwork<O>;
  readonly buffer: DiscreteReplayBuffer<O>;
  readonly optimizer: tf.AdamOptimizer;
  readonly progress: DiscreteProgress = { globalStep: 0, episodes: 0, updates: 0 };
  private obs: O | null = null;
  private readonly episode = new EpisodeStats();
  private readonly exploration: Rng;

  constructor(env: DiscreteEnv<O>, network: ObservationNetworkFactory<O>, config: Partial<DqnConfig> = {}) {
    const c: DqnConfig = { ...DQN_DEFAULT_CONFIG, ...config };
    validate(c);
    this.config = Object.freeze(c);
    this.env = env;
    this.qNetwork = network(env.actions, subSeed(c.seed, 0));
    this.targetNetwork = network(env.actions, subSeed(c.seed, 0));
    copyVariables(this.targetNetwork.variables, this.qNetwork.variables);
    this.buffer = new DiscreteReplayBuffer<O>({ capacity: c.bufferSize, seed: subSeed(c.seed, 2) });
    this.optimizer = tf.train.adam(c.learningRate, 0.9, 0.999, c.adamEpsilon);
    this.exploration = new Rng(c.seed).fork(1);
  }

  /** ε at global step t. */
  epsilon(t = this.progress.globalStep): number {
    const c = this.config;
    return linearSchedule(c.startE, c.endE, c.explorationFraction * c.totalTimesteps, t);
  }

  /** Q-values of a batch of observations, [n x actions] row-major. */
  async qValues(observations: readonly O[]): Promise<Float32Array> {
    const q = tf.tidy(() => this.qNetwork.apply(observations));
    const values = (await q.data()) as Float32Array;
    q.dispose();
    return values;
  }

  /** The ε-greedy action at step t (ε from the schedule; the coin and the random action from step t's stream), or the greedy one. */
  async act(obs: O, { greedy = false, t = this.progress.globalStep }: { greedy?: boolean; t?: number } = {}): Promise<number> {
    const rng = this.exploration.fork(t);
    if (!greedy && rng.next() < this.epsilon(t)) return rng.int(this.env.actions);
    return argmax(await this.qValues([obs]));
  }

  /** One gradient step on a sampled batch. */
  async update(): Promise<DqnMetrics> {
    const c = this.config;
    const b = this.buffer.sample(c.batchSize);
    const stacked = tf.tidy(() => {
      // y = r + γ^k (1 - done) max_a' Q_target(o', a'), without gradient
      const bootstrap = tf.mul(tf.tensor1d(b.discounts), tf.sub(1, tf.tensor1d(b.dones)));
      const y = tf.add(tf.tensor1d(b.rewards), tf.mul(bootstrap, tf.max(this.targetNetwork.apply(b.nextObs), 1)));
      const chosen = tf.oneHot(tf.tensor1d(b.actions, "int32"), this.env.actions);
      const kept: { q?: tf.Tensor } = {};
      const { value, grads } = tf.variableGrads(() => {
        const qa = tf.sum(tf.mul(this.qNetwork.apply(b.obs), chosen), 1);
        kept.q = tf.keep(tf.mean(qa));
        return tf.mean(tf.squaredDifference(qa, y)) as tf.Scalar; // MSE TD loss (spec §6.2)
      }, this.qNetwork.variables as tf.Variable[]);
      applyGradients(this.optimizer, grads);
      const out = tf.stack([value, kept.q!]);
      kept.q!.dispose();
      return out;
    });
    const [loss, q] = await stacked.data();
    stacked.dispose();
    this.progress.updates++;
    return { "losses/td_loss": loss!, "losses/q_values": q! };
  }

  /**
   * CleanRL's loop, top to bottom, as an async generator of records: one per finished episode
   * (`charts/episodic_return`, `charts/episodic_length`, `charts/epsilon`, the env's terminal `info/*`)
   * and one every `logInterval` steps once learning (losses, `charts/SPS`, `charts/updates_per_s`).
   */
  async *train(options: DiscreteTrainOptions = {}): AsyncGenerator<DiscreteRecord, DiscreteProgress, void> {
    const c = this.config;
    const p = this.progress;
    const until = options.until ?? c.totalTimesteps;
    const rate = new RateMeter();
    let losses: DqnMetrics | null = null;
    if (options.resume && options.checkpointDir && (await hasCheckpoint(options.checkpointDir))) await this.load(options.checkpointDir);
    let lastSave = p.globalStep;
    while (p.globalStep < until && !options.signal?.aborted) {
      // 1. act ε-greedily (the env resets lazily: a run stopped at an episode end resumes on a fresh reset)
      if (this.obs === null) this.obs = (await this.env.reset({ seed: resetSeed(c.seed, p.episodes) })).obs;
      const epsilon = this.epsilon();
      const action = await this.act(this.obs);
      const step = await this.env.step(action);
      p.globalStep++;
      rate.tick(1, 0);
      this.episode.add(step.reward);

      // 2. store; done = termination only, a truncated episode bootstraps from its true last observation
      this.buffer.add({ obs: this.obs, action, reward: step.reward, nextObs: step.obs, done: step.terminated, discount: c.gamma });
      if (step.terminated || step.truncated) {
        p.episodes++;
        this.obs = null;
        yield this.episode.finish(p.globalStep, step.info, { "charts/epsilon": epsilon });
      } else this.obs = step.obs;

      // 3. learn every trainFrequency steps, copy the target every targetNetworkFrequency steps
      if (p.globalStep > c.learningStarts) {
        if (p.globalStep % c.trainFrequency === 0) {
          losses = await this.update();
          rate.tick(0, 1);
        }
        if (p.globalStep % c.targetNetworkFrequency === 0) copyVariables(this.targetNetwork.variables, this.qNetwork.variables, c.tau);
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

  /** Saves networks, Adam state, replay buffer and counters into `dir`, atomically (checkpoint.ts). */
  async save(dir: string): Promise<void> {
    const { state, values } = await saveAdam(this.optimizer);
    const buffer = this.buffer.snapshot();
    const meta: DqnMeta = { config: { ...this.config }, progress: { ...this.progress }, variables: shapesOf(this.qNetwork.variables), adam: state, buffer: buffer.meta };
    await writeCheckpoint(dir, FORMAT, meta, {
      q: await readVariables(this.qNetwork.variables),
      target: await readVariables(this.targetNetwork.variables),
      adam: values,
      ...buffer.blobs,
    });
  }

  /**
   * Restores `save`'s checkpoint into this agent (built with the same network factory and config; its
   * own config stays, e.g. a larger totalTimesteps). The episode that was running is not restored:
   * training goes on from a fresh env reset.
   */
  async load(dir: string): Promise<void> {
    const { meta, blobs } = await readCheckpoint<DqnMeta>(dir, FORMAT);
    checkShapes(meta.variables, this.qNetwork.variables, dir);
    assignVariables(this.qNetwork.variables, blob(blobs, "q", Float32Array, dir), dir);
    assignVariables(this.targetNetwork.variables, blob(blobs, "target", Float32Array, dir), dir);
    await loadAdam(this.optimizer, meta.adam, blob(blobs, "adam", Float32Array, dir), dir);
    this.buffer.restore(meta.buffer, blobs, dir);
    Object.assign(this.progress, meta.progress);
    this.obs = null;
    this.episode.reset();
  }

  dispose(): void {
    this.qNetwork.dispose();
    this.targetNetwork.dispose();
    this.optimizer.dispose();
  }
}

function validate(c: DqnConfig): void {
  checkConfig("DqnConfig", c, {
    positiveIntegers: ["bufferSize", "batchSize", "targetNetworkFrequency", "trainFrequency", "logInterval"],
    wholeNumbers: ["totalTimesteps", "learningStarts"],
    fractions: ["gamma"],
    positive: ["tau", "learningRate", "adamEpsilon"],
  });
  if (c.tau > 1) throw new RangeError(`DqnConfig.tau must be in (0, 1], got ${c.tau}`);
}
