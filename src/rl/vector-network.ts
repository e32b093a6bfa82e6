/**
 * An MLP `ObservationNetwork` over vector observations (one Float32Array per observation), for
 * environments whose observations are plain feature vectors (and for the fast tests of the discrete
 * algorithms); CrystalGym's graphs go through MEGNet (megnet.ts) instead. Hidden layers are ReLU,
 * the output is linear, weights start as PyTorch's nn.Linear defaults (CleanRL's networks), and the
 * gradients transpose explicitly (networks.ts: the wasm backend's transposed matmul is ~15x slow).
 *
 * Below it, the variable-level helpers the discrete agents (dqn, rainbow, ppo, sac-discrete) share:
 * copies and Polyak averages of variable lists (an ObservationNetwork is not a `Network`), gradient
 * clipping by global norm, and reading/writing variables and Adam states for checkpoints.
 *
 * @example
 * const factory = vectorNetwork(36, { hidden: [64, 64] });
 * const q = factory(env.actions, 1);          // ObservationNetwork<Float32Array>
 * const values = q.apply([obs1, obs2]);        // [2, actions]
 */
import * as tf from "@tensorflow/tfjs";
import { Rng } from "../structure/random-source.js";
import type { ObservationNetwork, ObservationNetworkFactory } from "./discrete.js";
import { Mlp } from "./networks.js";

export interface VectorNetworkOptions {
  /** Hidden widths (ReLU). Default [64, 64]. */
  hidden?: readonly number[];
  /** Name prefix of the variables. Default "vector". */
  name?: string;
}

/** An MLP over a batch of Float32Array observations of length `inputSize`. */
export class VectorNetwork implements ObservationNetwork<Float32Array> {
  readonly inputSize: number;
  readonly outputs: number;
  readonly mlp: Mlp;

  constructor(inputSize: number, outputs: number, seed: number, options: VectorNetworkOptions = {}) {
    this.inputSize = inputSize;
    this.outputs = outputs;
    this.mlp = new Mlp(options.name ?? "vector", [inputSize, ...(options.hidden ?? [64, 64]), outputs], new Rng(seed));
  }

  get variables(): readonly tf.Variable[] {
    return this.mlp.variables;
  }

  apply(observations: readonly Float32Array[]): tf.Tensor2D {
    const d = this.inputSize;
    const n = observations.length;
    const x = new Float32Array(n * d);
    observations.forEach((o, i) => {
      if (o.length !== d) throw new RangeError(`VectorNetwork: observation ${i} has ${o.length} values, expected ${d}`);
      x.set(o, i * d);
    });
    return tf.tidy(() => this.mlp.apply(tf.tensor2d(x, [n, d])));
  }

  dispose(): void {
    this.mlp.dispose();
  }
}

/** A factory of `VectorNetwork`s for observations of length `inputSize`. */
export function vectorNetwork(inputSize: number, options: VectorNetworkOptions = {}): ObservationNetworkFactory<Float32Array> {
  if (!Number.isSafeInteger(inputSize) || inputSize < 1) throw new RangeError(`vectorNetwork: inputSize must be a positive integer, got ${inputSize}`);
  return (outputs, seed) => new VectorNetwork(inputSize, outputs, seed, options);
}

// -------------------------------------------------------------------------------------------------
// Variable-level helpers for the discrete agents


/**
 * Gradients scaled by min(1, maxNorm / ‖g‖) with ‖g‖ the global L2 norm over all of them
 * (PyTorch's clip_grad_norm_, as CleanRL's PPO uses it). Returns new tensors and the norm before clipping.
 */
export function clipByGlobalNorm(grads: tf.NamedTensorMap, maxNorm: number): { grads: tf.NamedTensorMap; norm: tf.Scalar } {
  return tf.tidy(() => {
    const names = Object.keys(grads);
    const norm = tf.sqrt(tf.addN(names.map((k) => tf.sum(tf.square(grads[k]!))))) as tf.Scalar;
    const scale = tf.minimum(1, tf.div(maxNorm, tf.add(norm, 1e-6)));
    const out: tf.NamedTensorMap = {};
    for (const k of names) out[k] = tf.mul(grads[k]!, scale);
    return { grads: out, norm };
  });
}

/** Applies a `variableGrads` result (tfjs types it as tensors; the optimiser wants its variables' names). */
export function applyGradients(optimizer: tf.Optimizer, grads: tf.NamedTensorMap): void {
  optimizer.applyGradients(grads as unknown as Parameters<tf.Optimizer["applyGradients"]>[0]);
}

/** The values of `tensors`, concatenated (float32). */
export async function readVariables(tensors: readonly tf.Tensor[]): Promise<Float32Array> {
  const out = new Float32Array(tensors.reduce((n, t) => n + t.size, 0));
  let off = 0;
  for (const t of tensors) {
    out.set((await t.data()) as Float32Array, off);
    off += t.size;
  }
  return out;
}

/** Assigns consecutive slices of `values` to `variables`; `where` names the checkpoint in errors. */
export function assignVariables(variables: readonly tf.Variable[], values: Float32Array, where: string): void {
  const total = variables.reduce((n, v) => n + v.size, 0);
  if (values.length !== total) throw new Error(`${where}: ${values.length} saved weights, the agent has ${total}`);
  let off = 0;
  for (const v of variables) {
    tf.tidy(() => v.assign(tf.tensor(values.subarray(off, off + v.size), v.shape)));
    off += v.size;
  }
}

/** Shapes of `variables`, for a checkpoint's header (checked on load). */
export function shapesOf(variables: readonly tf.Variable[]): number[][] {
  return variables.map((v) => [...v.shape]);
}

/** Throws naming `where` when saved shapes differ from the agent's variables. */
export function checkShapes(saved: readonly number[][], variables: readonly tf.Variable[], where: string): void {
  if (saved.length !== variables.length) throw new Error(`${where}: the checkpoint has ${saved.length} variables, the agent ${variables.length} (another network or config?)`);
  saved.forEach((s, i) => {
    if (s.join("x") !== variables[i]!.shape.join("x")) {
      throw new Error(`${where}: variable ${i} (${variables[i]!.name}) is [${variables[i]!.shape}] here, [${s}] in the checkpoint`);
    }
  });
}

/** What an Adam optimiser's checkpoint header holds; its moments go into a blob. */
export interface AdamState {
  iterations: number;
  /** β1^t and β2^t as the optimiser holds them (restored exactly, so a resumed run matches an uninterrupted one). */
  accBeta: [number, number] | null;
  shapes: number[][];
}

interface AdamInternals {
  accBeta1?: tf.Variable;
  accBeta2?: tf.Variable;
}

/** An Adam optimiser's state: header part and its moments, concatenated. */
export async function saveAdam(optimizer: tf.AdamOptimizer): Promise<{ state: AdamState; values: Float32Array }> {
  const [iter, ...moments] = await optimizer.getWeights();
  const iterations = iter ? (await iter.tensor.data())[0]! : 0;
  iter?.tensor.dispose(); // getWeights() makes a fresh scalar for the iteration count
  const internals = optimizer as unknown as AdamInternals;
  const accBeta: [number, number] | null =
    internals.accBeta1 && internals.accBeta2 ? [(await internals.accBeta1.data())[0]!, (await internals.accBeta2.data())[0]!] : null;
  return { state: { iterations, accBeta, shapes: moments.map((m) => [...m.tensor.shape]) }, values: await readVariables(moments.map((m) => m.tensor)) };
}

/** Restores `saveAdam`'s output into a fresh optimiser (moments pair with variables by position, as tfjs's Adam does). */
export async function loadAdam(optimizer: tf.AdamOptimizer, state: AdamState, values: Float32Array, where: string): Promise<void> {
  if (state.shapes.length === 0) return;
  const total = state.shapes.reduce((n, s) => n + s.reduce((a, b) => a * b, 1), 0);
  if (values.length !== total) throw new Error(`${where}: Adam state has ${values.length} values, its header ${total}`);
  const half = state.shapes.length / 2;
  const tensors: { name: string; tensor: tf.Tensor }[] = [{ name: "iter", tensor: tf.scalar(state.iterations, "int32") }];
  let off = 0;
  state.shapes.forEach((shape, i) => {
    const size = shape.reduce((a, b) => a * b, 1);
    tensors.push({ name: `${i < half ? "m" : "v"}${i % half}`, tensor: tf.tensor(values.subarray(off, off + size), shape) });
    off += size;
  });
  await optimizer.setWeights(tensors as Parameters<tf.AdamOptimizer["setWeights"]>[0]);
  tf.dispose(tensors.map((t) => t.tensor));
  const internals = optimizer as unknown as AdamInternals;
  if (state.accBeta && internals.accBeta1 && internals.accBeta2) {
    const [b1, b2] = state.accBeta;
    tf.tidy(() => {
      internals.accBeta1!.assign(tf.scalar(b1));
      internals.accBeta2!.assign(tf.scalar(b2));
    });
  }
}

/** The learning rate of an optimiser, changed in place (PPO's annealing; tfjs reads the field on every step). */
export function setLearningRate(optimizer: tf.Optimizer, lr: number): void {
  (optimizer as unknown as { learningRate: number }).learningRate = lr;
}

/** A seed for sub-stream `k` of `seed` (network initialisations, env resets). */
export function subSeed(seed: number, ...path: number[]): number {
  let rng = new Rng(seed);
  for (const k of path) rng = rng.fork(k);
  return rng.int(2 ** 31);
}
