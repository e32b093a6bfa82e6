/**
 * Rainbow (Hessel et al. 2018) for discrete actions: all six parts, each of which can be switched off
 * for an ablation.
 *
 * 1. double Q: the online network picks a* = argmax_a Q(o', a), the target network evaluates it;
 * 2. dueling: Q = V + A − mean_a A, the mean taken per row (per observation and atom; the released
 *    CrystalGym code took the mean over the whole batch, spec §9.2);
 * 3. prioritised replay: P(i) ∝ p_i^α, p = the sample's loss (the distributional cross-entropy, i.e.
 *    the Rainbow paper's KL plus the target's entropy, as Dopamine; |δ| without C51), importance
 *    weights with β annealed from β0 to 1 over the run, normalised per batch (discrete-replay.ts);
 * 4. n-step returns (3), flushed exactly at episode ends (discrete-replay.ts);
 * 5. distributional C51 (Bellemare et al. 2017): 51 atoms on [vMin, vMax], the target distribution
 *    r + γ^n z projected back onto the support (`projectDistribution`), a cross-entropy loss;
 * 6. noisy nets (Fortunato et al. 2018): factorised Gaussian `NoisyLinear` layers in the heads, fresh
 *    noise before every action and every update (online and target independently), no ε-greedy.
 *
 * CrystalGym's "Rainbow" (spec §6.2) is DQN + double + dueling + 3-step with uniform replay: set
 * `{ prioritized: false, distributional: false, noisy: false }` to reproduce it (MSE loss, ε-greedy).
 *
 * Network: the factory's trunk (MEGNet, or `vectorNetwork`) with `trunkOutputs` outputs (the spec's
 * MEGNet output vector of size |A|), then the spec's dueling streams on top of it with no activation
 * in between: V: Linear(T,64)-ReLU-64-ReLU-K and A: Linear(T,64)-ReLU-64-ReLU-|A|·K, K = atoms (1 when
 * not distributional). Without dueling only the A stream is built. Atom logits are laid out [B, K, A]
 * so that reductions over actions run along the innermost axis.
 *
 * Reads from the backend are asynchronous (`await t.data()`), so it runs on every backend, webgpu
 * included (which cannot read synchronously in Node): `act` and `update` return promises; an update
 * reads twice (the next-state distribution for the host's projection, then its metrics and priorities).
 *
 * Measured on the tests' slot task (4 slots x 4 tokens, 3000 steps): C51 starts more slowly than the
 * scalar head (last-100 return 0.5 against 0.8 with every other part off; both reach ≈ 0.96 greedy by
 * 8000 steps), and it costs most of an update's time (|A|·51 outputs, softmaxes over them).
 *
 * Support: [vMin, vMax] must hold every return. CrystalGym's rewards are terminal only (returns are
 * γ^k r, k < 8) and lie in [−1, 1] (band gap, density: success (0, 1], failure −1) or [−5, 0] (bulk
 * modulus); the default [−5, 1] covers all three tasks. For one task a tighter support gives finer
 * atoms: [−1, 1] for band gap and density, [−5, 0] for bulk modulus.
 *
 * @example
 * const agent = new Rainbow(env, megnet, { totalTimesteps: 100_000, vMin: -1, vMax: 1 });
 * for await (const r of agent.train({ checkpointDir: "runs/rainbow", checkpointInterval: 2000, resume: true })) log(r);
 */
import * as tf from "@tensorflow/tfjs";
import { Rng } from "../structure/random-source.js";
import { blob, readCheckpoint, writeCheckpoint } from "./checkpoint.js";
import type { DiscreteEnv, ObservationNetwork, ObservationNetworkFactory } from "./discrete.js";
import {
  type DiscreteBatch,
  type DiscreteProgress,
  type DiscreteRecord,
  type DiscreteTrainOptions,
  DiscreteReplayBuffer,
  EpisodeStats,
  NStepBuffer,
  PrioritizedReplayBuffer,
  RateMeter,
  type ReplaySnapshot,
  argmax,
  hasCheckpoint,
  resetSeed,
  checkConfig,
} from "./discrete-replay.js";
import { linearSchedule } from "./dqn.js";
import { copyVariables, dense, linearInit, newVariable } from "./networks.js";
import { type AdamState, applyGradients, assignVariables, checkShapes, loadAdam, readVariables, saveAdam, shapesOf, subSeed } from "./vector-network.js";

/** Hyper-parameters; defaults from spec §6.2 (CrystalGym's DQN/"Rainbow" launchers) and the Rainbow paper for the parts CrystalGym lacks. */
export interface RainbowConfig {
  /** Env steps in total (spec §6.2: the Rainbow launchers use 100k for bulk modulus and density, 200k for band gap). */
  totalTimesteps: number;
  /** Adam learning rate (spec §6.2: as DQN, 2.5e-4). */
  learningRate: number;
  /** Adam ε (PyTorch's default, as the released code; the Rainbow paper used 1.5e-4 with lr 6.25e-5). */
  adamEpsilon: number;
  /** Replay capacity in (n-step) transitions (spec §6.2: 2,000). */
  bufferSize: number;
  /** Discount γ (spec §6.2: 0.99). */
  gamma: number;
  /** Target update coefficient, 1 = hard copy (spec §6.2). */
  tau: number;
  /** Env steps between target updates (spec §6.2 launchers: 100). */
  targetNetworkFrequency: number;
  /** Transitions per update (spec §6.2: 64). */
  batchSize: number;
  /** Env steps before learning (spec §6.2: 1,000). */
  learningStarts: number;
  /** Env steps between updates (spec §6.2: 4). */
  trainFrequency: number;
  /** ε schedule start, used only without noisy nets (spec §6.2: 1.0). */
  startE: number;
  /** ε schedule end, without noisy nets (spec §6.2: 0.05). */
  endE: number;
  /** Fraction of the run over which ε falls, without noisy nets (spec §6.2: 0.2). */
  explorationFraction: number;
  /** Double Q-learning targets (spec §6.2: on). */
  double: boolean;
  /** Dueling streams V and A (spec §6.2: on; per-row mean, not the released batch mean). */
  dueling: boolean;
  /** Outputs of the factory's trunk; 0 = the number of actions (spec §6.2: heads on MEGNet's |A|-vector). */
  trunkOutputs: number;
  /** Hidden widths of each stream (spec §6.2: 64, 64 with ReLU). */
  headHidden: number[];
  /** n of the n-step return (spec §6.2 launchers: 3). */
  nStep: number;
  /** Prioritised replay (spec §6.2: optional in the released code, off by default; Rainbow: on). */
  prioritized: boolean;
  /** Priority exponent α (spec §6.2: 0.6). */
  alpha: number;
  /** Initial importance-sampling exponent β, annealed linearly to 1 over totalTimesteps (spec §6.2: 0.4). */
  beta0: number;
  /** Added to each priority so that none is 0. */
  priorityEpsilon: number;
  /** Distributional C51 head and cross-entropy loss; off: one Q per action and the MSE TD loss. */
  distributional: boolean;
  /** Atoms of the support (C51: 51). */
  atoms: number;
  /** Lowest atom: CrystalGym's lowest reward, −5 (bulk modulus; see the file comment). */
  vMin: number;
  /** Highest atom: CrystalGym's highest reward, 1. */
  vMax: number;
  /** Factorised Gaussian noisy layers in the heads instead of ε-greedy. */
  noisy: boolean;
  /** σ0 of the noisy layers: σ starts at σ0/√fan_in (Fortunato et al. 2018 and the Rainbow paper: 0.5). */
  sigma0: number;
  /** Env steps between loss records (CleanRL: 100). */
  logInterval: number;
  /** Seed of networks, noise, exploration, replay sampling and env resets. */
  seed: number;
}

export const RAINBOW_DEFAULT_CONFIG: Readonly<RainbowConfig> = Object.freeze({
  totalTimesteps: 100_000,
  learningRate: 2.5e-4,
  adamEpsilon: 1e-8,
  bufferSize: 2_000,
  gamma: 0.99,
  tau: 1,
  targetNetworkFrequency: 100,
  batchSize: 64,
  learningStarts: 1_000,
  trainFrequency: 4,
  startE: 1,
  endE: 0.05,
  explorationFraction: 0.2,
  double: true,
  dueling: true,
  trunkOutputs: 0,
  headHidden: [64, 64],
  nStep: 3,
  prioritized: true,
  alpha: 0.6,
  beta0: 0.4,
  priorityEpsilon: 1e-6,
  distributional: true,
  atoms: 51,
  vMin: -5,
  vMax: 1,
  noisy: true,
  sigma0: 0.5,
  logInterval: 100,
  seed: 1,
});

/** The metrics of one update. */
export interface RainbowMetrics {
  /** Mean (importance-weighted) loss: cross-entropy (C51) or squared TD error. */
  "losses/td_loss": number;
  "losses/q_values": number;
  /** β of the importance weights at this update. */
  "charts/beta": number;
}

// -------------------------------------------------------------------------------------------------
// Layers

let layerCounter = 0;

/** f(x) = sign(x) √|x|, the factorised-noise transform. */
const signSqrt = (x: number): number => Math.sign(x) * Math.sqrt(Math.abs(x));

/**
 * A linear layer y = x W + b, optionally noisy (factorised Gaussian, Fortunato et al. 2018):
 * W = μ_W + σ_W ⊙ f(ε_in) f(ε_out)ᵀ, b = μ_b + σ_b ⊙ f(ε_out), with ε ~ N(0, 1) drawn by `resample`
 * from a seeded `Rng` (so the same stream gives the same noise on every backend). μ starts as
 * PyTorch's nn.Linear (uniform ±1/√fan_in) and σ at σ0/√fan_in. `clearNoise()` leaves the mean
 * weights (evaluation). The matmul's gradient transposes explicitly (networks.ts `dense`).
 */
export class NoisyLinear {
  readonly fanIn: number;
  readonly fanOut: number;
  readonly noisy: boolean;
  readonly weightMu: tf.Variable<tf.Rank.R2>;
  readonly biasMu: tf.Variable<tf.Rank.R1>;
  readonly weightSigma: tf.Variable<tf.Rank.R2> | null;
  readonly biasSigma: tf.Variable<tf.Rank.R1> | null;
  readonly variables: readonly tf.Variable[];
  private epsIn: tf.Tensor2D | null = null;
  private epsOut: tf.Tensor2D | null = null;

  constructor(name: string, fanIn: number, fanOut: number, rng: Rng, options: { noisy: boolean; sigma0: number }) {
    this.fanIn = fanIn;
    this.fanOut = fanOut;
    this.noisy = options.noisy;
    const id = layerCounter++;
    const { kernel, bias } = linearInit(fanIn, fanOut, rng);
    this.weightMu = newVariable(tf.tensor2d(kernel, [fanIn, fanOut]), `${name}#${id}/weight_mu`);
    this.biasMu = newVariable(tf.tensor1d(bias), `${name}#${id}/bias_mu`);
    if (this.noisy) {
      const s = options.sigma0 / Math.sqrt(fanIn);
      this.weightSigma = newVariable(tf.fill([fanIn, fanOut], s) as tf.Tensor2D, `${name}#${id}/weight_sigma`);
      this.biasSigma = newVariable(tf.fill([fanOut], s) as tf.Tensor1D, `${name}#${id}/bias_sigma`);
    } else {
      this.weightSigma = null;
      this.biasSigma = null;
    }
    this.variables = Object.freeze([this.weightMu, this.biasMu, ...(this.weightSigma ? [this.weightSigma, this.biasSigma!] : [])]);
  }

  /** New noise ε_in (fanIn values) then ε_out (fanOut values) from `rng`. */
  resample(rng: Rng): void {
    if (!this.noisy) return;
    this.clearNoise();
    const a = Float32Array.from({ length: this.fanIn }, () => signSqrt(rng.normal()));
    const b = Float32Array.from({ length: this.fanOut }, () => signSqrt(rng.normal()));
    this.epsIn = tf.tensor2d(a, [1, this.fanIn]);
    this.epsOut = tf.tensor2d(b, [1, this.fanOut]);
  }

  /** Back to the mean weights (no noise) until the next `resample`. */
  clearNoise(): void {
    this.epsIn?.dispose();
    this.epsOut?.dispose();
    this.epsIn = null;
    this.epsOut = null;
  }

  /**
   * [batch, fanIn] -> [batch, fanOut]; `input`/`weights`: which gradients the tape needs. With noise,
   * in the factorised form x W + b = (x μ_W + μ_b) + ((x ⊙ f(ε_in)) σ_W + σ_b) ⊙ f(ε_out): every matmul
   * kernel is a variable (the explicit-transpose gradient of `dense` reads its kernels after the
   * forward pass, when a [fanIn, fanOut] noisy kernel built on the fly would be gone).
   */
  apply(x: tf.Tensor2D, relu: boolean, needs: { input: boolean; weights: boolean }): tf.Tensor2D {
    const gradients = { inputs: [needs.input], weights: needs.weights };
    if (!this.epsIn || !this.epsOut) return dense([x], [this.weightMu], this.biasMu, relu, gradients);
    const mean = dense([x], [this.weightMu], this.biasMu, false, gradients);
    const noise = dense([tf.mul(x, this.epsIn)], [this.weightSigma!], this.biasSigma!, false, gradients);
    const y = tf.add(mean, tf.mul(noise, this.epsOut)) as tf.Tensor2D;
    return relu ? tf.relu(y) : y;
  }

  dispose(): void {
    this.clearNoise();
    for (const v of this.variables) v.dispose();
  }
}

/**
 * Q = V + A − mean_a A, the mean per row (observation) and atom: value [B, K, 1], advantage [B, K, A]
 * (atoms before actions, so that every reduction over actions runs along the innermost axis: the
 * wasm backend transposes for any other).
 */
export function duelingCombine(value: tf.Tensor3D, advantage: tf.Tensor3D): tf.Tensor3D {
  return tf.tidy(() => tf.sub(tf.add(value, advantage), tf.mean(advantage, 2, true)) as tf.Tensor3D);
}

/**
 * C51's projection (Bellemare et al. 2017, Algorithm 1) of the distribution `probs` (B rows of K
 * atoms z_j = vMin + j Δz) shifted to r + bootstrap·z_j (bootstrap = γ^n (1 − done)), clipped to
 * [vMin, vMax], back onto the support: each atom's mass goes to its two neighbours in proportion to
 * closeness (all of it to one atom when it lands on one). Mass is conserved row by row.
 */
export function projectDistribution(
  probs: ArrayLike<number>,
  rewards: ArrayLike<number>,
  bootstrap: ArrayLike<number>,
  vMin: number,
  vMax: number,
  atoms: number,
): Float32Array {
  const rows = rewards.length;
  const dz = (vMax - vMin) / (atoms - 1);
  const m = new Float64Array(rows * atoms);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < atoms; j++) {
      const p = probs[i * atoms + j]!;
      if (p === 0) continue;
      const tz = Math.min(vMax, Math.max(vMin, rewards[i]! + bootstrap[i]! * (vMin + j * dz)));
      const pos = Math.min(atoms - 1, Math.max(0, (tz - vMin) / dz));
      const l = Math.floor(pos);
      const u = Math.ceil(pos);
      const row = i * atoms;
      if (l === u) m[row + l] = m[row + l]! + p;
      else {
        m[row + l] = m[row + l]! + p * (u - pos);
        m[row + u] = m[row + u]! + p * (pos - l);
      }
    }
  }
  return Float32Array.from(m);
}

/** An MLP stream of `NoisyLinear` layers: ReLU hidden, linear output. */
class Stream {
  readonly layers: NoisyLinear[] = [];
  constructor(name: string, sizes: readonly number[], rng: Rng, options: { noisy: boolean; sigma0: number }) {
    for (let l = 0; l + 1 < sizes.length; l++) this.layers.push(new NoisyLinear(`${name}/l${l}`, sizes[l]!, sizes[l + 1]!, rng.fork(l), options));
  }
  get variables(): tf.Variable[] {
    return this.layers.flatMap((l) => [...l.variables]);
  }
  apply(x: tf.Tensor2D, train: boolean): tf.Tensor2D {
    let h = x;
    this.layers.forEach((layer, l) => {
      h = layer.apply(h, l + 1 < this.layers.length, { input: train, weights: train });
    });
    return h;
  }
}

/** Trunk + (V and) A streams, giving atom logits [B, K, A] (K = 1: Q-values). */
export class RainbowNetwork<O> {
  readonly trunk: ObservationNetwork<O>;
  readonly value: Stream | null;
  readonly advantage: Stream;
  readonly actions: number;
  readonly atoms: number;

  constructor(factory: ObservationNetworkFactory<O>, actions: number, c: RainbowConfig, seed: number) {
    const trunkOutputs = c.trunkOutputs > 0 ? c.trunkOutputs : actions;
    const atoms = c.distributional ? c.atoms : 1;
    const rng = new Rng(seed);
    const opts = { noisy: c.noisy, sigma0: c.sigma0 };
    this.actions = actions;
    this.atoms = atoms;
    this.trunk = factory(trunkOutputs, subSeed(seed, 0));
    this.value = c.dueling ? new Stream("value", [trunkOutputs, ...c.headHidden, atoms], rng.fork(1), opts) : null;
    this.advantage = new Stream("advantage", [trunkOutputs, ...c.headHidden, actions * atoms], rng.fork(2), opts);
  }

  get variables(): tf.Variable[] {
    return [...this.trunk.variables, ...(this.value?.variables ?? []), ...this.advantage.variables];
  }

  private get layers(): NoisyLinear[] {
    return [...(this.value?.layers ?? []), ...this.advantage.layers];
  }

  /** Fresh noise in every noisy layer, from `rng` (layer by layer, in a fixed order). */
  resample(rng: Rng): void {
    for (const layer of this.layers) layer.resample(rng);
  }

  clearNoise(): void {
    for (const layer of this.layers) layer.clearNoise();
  }

  /** Atom logits [B, K, A] (`train`: the tape needs weight gradients). Call it inside `tf.tidy`/`variableGrads`. */
  logits(observations: readonly O[], train: boolean): tf.Tensor3D {
    const h = this.trunk.apply(observations);
    const b = observations.length;
    const adv = tf.reshape(this.advantage.apply(h, train), [b, this.atoms, this.actions]) as tf.Tensor3D;
    if (!this.value) return adv;
    return duelingCombine(tf.reshape(this.value.apply(h, train), [b, this.atoms, 1]) as tf.Tensor3D, adv);
  }

  dispose(): void {
    this.trunk.dispose();
    for (const layer of this.layers) layer.dispose();
  }
}

// -------------------------------------------------------------------------------------------------
// The agent

const FORMAT = "crystal-rl/rainbow@1";

interface RainbowMeta {
  config: RainbowConfig;
  progress: DiscreteProgress;
  variables: number[][];
  adam: AdamState;
  buffer: ReplaySnapshot;
}

export class Rainbow<O> {
  readonly config: Readonly<RainbowConfig>;
  readonly env: DiscreteEnv<O>;
  readonly online: RainbowNetwork<O>;
  readonly target: RainbowNetwork<O>;
  readonly buffer: DiscreteReplayBuffer<O> | PrioritizedReplayBuffer<O>;
  readonly nstep: NStepBuffer<O>;
  readonly optimizer: tf.AdamOptimizer;
  readonly progress: DiscreteProgress = { globalStep: 0, episodes: 0, updates: 0 };
  /** The atoms z_j of the support (C51). */
  readonly support: Float32Array;
  private obs: O | null = null;
  private readonly episode = new EpisodeStats();
  private readonly exploration: Rng;
  private readonly actNoise: Rng;
  private readonly updateNoise: Rng;

  constructor(env: DiscreteEnv<O>, network: ObservationNetworkFactory<O>, config: Partial<RainbowConfig> = {}) {
    const c: RainbowConfig = { ...RAINBOW_DEFAULT_CONFIG, ...config, headHidden: [...(config.headHidden ?? RAINBOW_DEFAULT_CONFIG.headHidden)] };
    validate(c);
    this.config = Object.freeze(c);
    this.env = env;
    this.online = new RainbowNetwork(network, env.actions, c, subSeed(c.seed, 0));
    this.target = new RainbowNetwork(network, env.actions, c, subSeed(c.seed, 0));
    copyVariables(this.target.variables, this.online.variables);
    const replay = { capacity: c.bufferSize, seed: subSeed(c.seed, 2) };
    this.buffer = c.prioritized ? new PrioritizedReplayBuffer<O>({ ...replay, alpha: c.alpha, epsilon: c.priorityEpsilon }) : new DiscreteReplayBuffer<O>(replay);
    this.nstep = new NStepBuffer<O>(c.nStep, c.gamma);
    this.optimizer = tf.train.adam(c.learningRate, 0.9, 0.999, c.adamEpsilon);
    const atoms = this.online.atoms;
    this.support = Float32Array.from({ length: atoms }, (_, j) => (atoms === 1 ? 0 : c.vMin + (j * (c.vMax - c.vMin)) / (atoms - 1)));
    const root = new Rng(c.seed);
    this.exploration = root.fork(1);
    this.actNoise = root.fork(3);
    this.updateNoise = root.fork(4);
  }

  /**
   * ε at global step t. With noisy nets the noise explores (ε = 0) once learning starts; before that the
   * actions are uniform (ε = 1), as SAC's are, because a fresh noisy net's argmax is nearly one fixed
   * choice per state: on CrystalGym's density task it filled the buffer with returns of 0.25–0.35
   * against the uniform policy's 0.45.
   */
  epsilon(t = this.progress.globalStep): number {
    const c = this.config;
    if (c.noisy) return t < c.learningStarts ? 1 : 0;
    return linearSchedule(c.startE, c.endE, c.explorationFraction * c.totalTimesteps, t);
  }

  /** β of the importance weights at global step t: β0 → 1 linearly over totalTimesteps. */
  beta(t = this.progress.globalStep): number {
    const c = this.config;
    return Math.min(1, c.beta0 + (1 - c.beta0) * (t / Math.max(1, c.totalTimesteps)));
  }

  /** Q-values [B, A] from atom logits [B, K, A]: Σ_j z_j softmax_j, or the single atom. */
  private q(logits: tf.Tensor3D): tf.Tensor2D {
    return tf.tidy(() => {
      const [b, k, a] = logits.shape;
      if (k === 1) return tf.reshape(logits, [b, a]) as tf.Tensor2D;
      return tf.sum(tf.mul(tf.softmax(tf.transpose(logits, [0, 2, 1])), tf.tensor1d(this.support)), 2) as tf.Tensor2D;
    });
  }

  /** Q-values of a batch under the online network's current noise (mean weights after `clearNoise`). */
  async qValues(observations: readonly O[]): Promise<Float32Array> {
    const q = tf.tidy(() => this.q(this.online.logits(observations, false)));
    const values = (await q.data()) as Float32Array;
    q.dispose();
    return values;
  }

  /** The action at step t: fresh noise then greedy (noisy), or ε-greedy; `greedy` uses the mean weights. */
  async act(obs: O, { greedy = false, t = this.progress.globalStep }: { greedy?: boolean; t?: number } = {}): Promise<number> {
    if (greedy) {
      this.online.clearNoise();
      return argmax(await this.qValues([obs]));
    }
    const rng = this.exploration.fork(t);
    if (rng.next() < this.epsilon(t)) return rng.int(this.env.actions);
    this.online.resample(this.actNoise.fork(t));
    return argmax(await this.qValues([obs]));
  }

  /** One gradient step on a (prioritised) batch; new priorities go back to the buffer. */
  async update(): Promise<RainbowMetrics> {
    const c = this.config;
    const beta = this.beta();
    const b: DiscreteBatch<O> = this.buffer.sample(c.batchSize, beta);
    const n = b.size;
    const noise = this.updateNoise.fork(this.progress.updates);
    this.online.resample(noise.fork(0));
    this.target.resample(noise.fork(1));
    const bootstrap = b.discounts.map((g, i) => g * (1 - b.dones[i]!));

    // 1. the target, without gradient: a* by the online (double) or target network, evaluated by the target
    const nextAction = tf.tidy(() => {
      const scorer = c.double ? this.online : this.target;
      return tf.argMax(this.q(scorer.logits(b.nextObs, false)), 1);
    });
    // the next-state distribution p(o', a*) [B, K] (C51), or Q_target(o', a*) [B], read for the host's projection
    const next = tf.tidy(() => {
      const logits = this.target.logits(b.nextObs, false);
      const mask = tf.expandDims(tf.oneHot(nextAction, this.env.actions), 1); // [B, 1, A]
      const chosen = tf.sum(tf.mul(logits, mask), 2); // [B, K]
      return this.online.atoms > 1 ? tf.softmax(chosen) : chosen;
    });
    nextAction.dispose();
    const nextValues = await next.data();
    next.dispose();
    // [B, K] projected distribution, or [B] TD targets
    const targetValues =
      this.online.atoms > 1
        ? projectDistribution(nextValues, b.rewards, bootstrap, c.vMin, c.vMax, this.online.atoms)
        : Float32Array.from(b.rewards, (r, i) => r + bootstrap[i]! * nextValues[i]!);

    // 2. the loss: importance-weighted cross-entropy to the projected distribution, or squared TD error
    const out = tf.tidy(() => {
      const weights = tf.tensor1d(b.weights);
      const mask = tf.expandDims(tf.oneHot(tf.tensor1d(b.actions, "int32"), this.env.actions), 1); // [B, 1, A]
      const kept: { perSample?: tf.Tensor; q?: tf.Tensor } = {};
      const { value, grads } = tf.variableGrads(() => {
        const logits = this.online.logits(b.obs, true);
        let perSample: tf.Tensor;
        if (this.online.atoms > 1) {
          const logp = tf.logSoftmax(tf.sum(tf.mul(logits, mask), 2)); // [B, K], the taken action's
          perSample = tf.neg(tf.sum(tf.mul(tf.tensor2d(targetValues, [n, this.online.atoms]), logp), 1));
          kept.q = tf.keep(tf.mean(tf.sum(tf.mul(tf.exp(logp), tf.tensor1d(this.support)), 1)));
        } else {
          const qa = tf.sum(tf.reshape(tf.mul(logits, mask), [n, this.env.actions]), 1);
          perSample = tf.squaredDifference(qa, tf.tensor1d(targetValues));
          kept.q = tf.keep(tf.mean(qa));
        }
        kept.perSample = tf.keep(perSample);
        return tf.mean(tf.mul(weights, perSample)) as tf.Scalar;
      }, this.online.variables);
      applyGradients(this.optimizer, grads);
      const result = tf.concat([tf.stack([value, kept.q!]), kept.perSample!]);
      tf.dispose([kept.q!, kept.perSample!]);
      return result;
    });
    const values = await out.data();
    out.dispose();
    // priorities: the cross-entropy (C51), or |δ| = √(δ²)
    const perSample = values.subarray(2);
    if (this.buffer instanceof PrioritizedReplayBuffer) {
      this.buffer.updatePriorities(b.indices, this.online.atoms > 1 ? perSample : perSample.map(Math.sqrt));
    }
    this.progress.updates++;
    return { "losses/td_loss": values[0]!, "losses/q_values": values[1]!, "charts/beta": beta };
  }

  /**
   * The training loop as an async generator of records: one per finished episode (return, length,
   * `charts/epsilon`, the env's terminal `info/*`) and one every `logInterval` steps once learning.
   */
  async *train(options: DiscreteTrainOptions = {}): AsyncGenerator<DiscreteRecord, DiscreteProgress, void> {
    const c = this.config;
    const p = this.progress;
    const until = options.until ?? c.totalTimesteps;
    const rate = new RateMeter();
    let losses: RainbowMetrics | null = null;
    if (options.resume && options.checkpointDir && (await hasCheckpoint(options.checkpointDir))) await this.load(options.checkpointDir);
    let lastSave = p.globalStep;
    while (p.globalStep < until && !options.signal?.aborted) {
      // 1. act (fresh noise, greedy; or ε-greedy)
      if (this.obs === null) {
        this.obs = (await this.env.reset({ seed: resetSeed(c.seed, p.episodes) })).obs;
        this.nstep.clear();
      }
      const epsilon = this.epsilon();
      const action = await this.act(this.obs);
      const step = await this.env.step(action);
      p.globalStep++;
      rate.tick(1, 0);
      this.episode.add(step.reward);

      // 2. n-step transitions into the replay buffer (all pending ones at an episode end)
      const ended = step.terminated || step.truncated;
      for (const t of this.nstep.push({ obs: this.obs, action, reward: step.reward, nextObs: step.obs, terminated: step.terminated, truncated: step.truncated })) this.buffer.add(t);
      if (ended) {
        p.episodes++;
        this.obs = null;
        yield this.episode.finish(p.globalStep, step.info, { "charts/epsilon": epsilon });
      } else this.obs = step.obs;

      // 3. learn, and copy the target
      if (p.globalStep > c.learningStarts && this.buffer.size > 0) {
        if (p.globalStep % c.trainFrequency === 0) {
          losses = await this.update();
          rate.tick(0, 1);
        }
        if (p.globalStep % c.targetNetworkFrequency === 0) copyVariables(this.target.variables, this.online.variables, c.tau);
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

  /** Saves networks, Adam state, replay buffer (with priorities) and counters into `dir`, atomically. */
  async save(dir: string): Promise<void> {
    const { state, values } = await saveAdam(this.optimizer);
    const buffer = this.buffer.snapshot();
    const meta: RainbowMeta = {
      config: { ...this.config, headHidden: [...this.config.headHidden] },
      progress: { ...this.progress },
      variables: shapesOf(this.online.variables),
      adam: state,
      buffer: buffer.meta,
    };
    await writeCheckpoint(dir, FORMAT, meta, {
      online: await readVariables(this.online.variables),
      target: await readVariables(this.target.variables),
      adam: values,
      ...buffer.blobs,
    });
  }

  /** Restores `save`'s checkpoint (same factory and config); training goes on from a fresh env reset. */
  async load(dir: string): Promise<void> {
    const { meta, blobs } = await readCheckpoint<RainbowMeta>(dir, FORMAT);
    checkShapes(meta.variables, this.online.variables, dir);
    assignVariables(this.online.variables, blob(blobs, "online", Float32Array, dir), dir);
    assignVariables(this.target.variables, blob(blobs, "target", Float32Array, dir), dir);
    await loadAdam(this.optimizer, meta.adam, blob(blobs, "adam", Float32Array, dir), dir);
    this.buffer.restore(meta.buffer, blobs, dir);
    Object.assign(this.progress, meta.progress);
    this.obs = null;
    this.nstep.clear();
    this.episode.reset();
  }

  dispose(): void {
    this.online.dispose();
    this.target.dispose();
    this.optimizer.dispose();
  }
}

function validate(c: RainbowConfig): void {
  checkConfig("RainbowConfig", c, {
    positiveIntegers: ["bufferSize", "batchSize", "targetNetworkFrequency", "trainFrequency", "logInterval", "nStep", "atoms"],
    wholeNumbers: ["totalTimesteps", "learningStarts", "trunkOutputs"],
    fractions: ["gamma", "beta0"],
    positive: ["tau"],
  });
  if (c.tau > 1) throw new RangeError(`RainbowConfig.tau must be in (0, 1], got ${c.tau}`);
  if (c.distributional && (c.atoms < 2 || !(c.vMin < c.vMax))) throw new RangeError(`RainbowConfig: C51 needs atoms >= 2 and vMin < vMax, got ${c.atoms}, [${c.vMin}, ${c.vMax}]`);
  if (!(c.sigma0 >= 0)) throw new RangeError(`RainbowConfig.sigma0 must be >= 0, got ${c.sigma0}`);
  if (c.headHidden.some((h) => !Number.isInteger(h) || h < 1)) throw new RangeError(`RainbowConfig.headHidden must be positive integers, got [${c.headHidden}]`);
}
