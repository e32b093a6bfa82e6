/**
 * Multi-layer perceptrons for SAC: the MACS actor (204-256-256-6: three means and three log-stds of a
 * squashed Gaussian) and twin critics ((204 + 3)-256-256-1), with target copies.
 *
 * Why not `tf.layers.dense`: its gradients come from tfjs's autodiff, whose MatMul gradient calls
 * `matMul(dy, W, false, true)` and `matMul(x, dy, true, false)`. On the wasm backend those transposed
 * matmuls leave XNNPACK for a slow path: at 1024x256x256, 3 ms plain, 41 ms with `transposeB` and
 * 138 ms with `transposeA` (measured here, tfjs 4.22, SIMD, one thread). `Mlp` keeps its weights in
 * explicit variables and gives each dense layer a custom gradient that transposes explicitly
 * (`matMul(dy, transpose(W))`, `matMul(transpose(x), dy)`, with the blocked transpose of
 * tensor/ops.ts: 0.17 ms for 1024x256), sums the bias gradient with a matmul, and computes only the
 * gradients that are asked for: no weight gradients for the critics inside the actor loss, no input
 * gradient for a layer fed by data.
 *
 * A network may take its input in parts (`inputSplit`, e.g. [204, 3] for a critic's observation and
 * action): the first layer is then Σ_i x_i W_i + b with one kernel variable per part, the same function
 * as one (204 + 3)-wide layer without the concatenation, and the actor loss differentiates through the
 * 3 action columns only instead of all 207.
 *
 * `layersMlp` is the naive tf.layers version, kept as the reference that the benchmark
 * (`bench/sac.ts`) and the gradient tests compare against.
 *
 * Initialisation is PyTorch's `nn.Linear` default (CleanRL's networks): weights and biases uniform in
 * ±1/sqrt(fan_in), drawn from a seeded `Rng`, so the same seed gives the same network on every backend
 * and for both kinds.
 */
import * as tf from "@tensorflow/tfjs";
import { Rng } from "../structure/random-source.js";
import { columnSums, transpose2d } from "../tensor/ops.js";

/** Which gradients a forward pass must support. Without any, it is a plain forward. */
export interface GradientNeeds {
  /** Gradients with respect to the network's own weights (it is being trained). Default true. */
  weights?: boolean;
  /**
   * Gradients with respect to the input (it is differentiated through, e.g. a critic in the actor
   * loss): one flag for all parts, or one per input part. Default false.
   */
  input?: boolean | readonly boolean[];
}

/** A feed-forward network with a fixed list of variables (in a stable order, for copies and checkpoints). */
export interface Network {
  readonly name: string;
  /** Layer widths, input first: [204, 256, 256, 6]. */
  readonly sizes: readonly number[];
  /** Widths of the input parts (summing to sizes[0]); [sizes[0]] for a single input. */
  readonly inputSplit: readonly number[];
  /** Trainable variables, input side first. */
  readonly variables: readonly tf.Variable[];
  /** Forward pass of a [batch, sizes[0]] input, or of its parts, to [batch, sizes.at(-1)]. */
  apply(x: tf.Tensor2D | readonly tf.Tensor2D[], needs?: GradientNeeds): tf.Tensor2D;
  dispose(): void;
}

/** Options of a network. */
export interface NetworkOptions {
  /** Widths of the input parts, summing to sizes[0] (e.g. [204, 3] for observation and action). */
  inputSplit?: readonly number[];
}

/** The network kinds `Sac` can build: `mlp` (explicit-transpose gradients) or `layersMlp` (naive). */
export type NetworkFactory = (name: string, sizes: readonly number[], rng: Rng, options?: NetworkOptions) => Network;

/** PyTorch nn.Linear initial values: kernel [fanIn, fanOut] and bias [fanOut], uniform in ±1/sqrt(fanIn). */
export function linearInit(fanIn: number, fanOut: number, rng: Rng): { kernel: Float32Array; bias: Float32Array } {
  const bound = 1 / Math.sqrt(fanIn);
  const kernel = new Float32Array(fanIn * fanOut);
  for (let i = 0; i < kernel.length; i++) kernel[i] = rng.uniform(-bound, bound);
  const bias = new Float32Array(fanOut);
  for (let i = 0; i < fanOut; i++) bias[i] = rng.uniform(-bound, bound);
  return { kernel, bias };
}

let networkCounter = 0;

/** A trainable variable holding `initial`'s values; `initial` is disposed (tf.variable keeps it otherwise). */
export function newVariable<R extends tf.Rank>(initial: tf.Tensor<R>, name: string, trainable = true): tf.Variable<R> {
  const v = tf.variable(initial, trainable, name);
  initial.dispose();
  return v;
}

/**
 * y = act(Σ_i x_i W_i + b) (ReLU or linear), with the gradient written with explicit transposes.
 * `needs.inputs[i]` / `needs.weights` say which gradients the tape must produce; tensors that need
 * none are captured as constants, so their gradients are never computed.
 */
export function dense(
  xs: readonly tf.Tensor2D[],
  kernels: readonly tf.Tensor2D[],
  bias: tf.Tensor1D,
  relu: boolean,
  needs: { inputs: readonly boolean[]; weights: boolean },
): tf.Tensor2D {
  const parts = xs.length;
  if (kernels.length !== parts) throw new Error(`dense: ${parts} input parts but ${kernels.length} kernels`);
  const activation = relu ? "relu" : "linear";
  const forward = (x: readonly tf.Tensor2D[], w: readonly tf.Tensor2D[], b: tf.Tensor1D): tf.Tensor2D => {
    if (parts === 1) return tf.fused.matMul({ a: x[0]!, b: w[0]!, bias: b, activation }) as tf.Tensor2D;
    let z = tf.fused.matMul({ a: x[0]!, b: w[0]!, bias: b }) as tf.Tensor2D;
    for (let i = 1; i < parts; i++) z = tf.add(z, tf.matMul(x[i]!, w[i]!));
    return relu ? tf.relu(z) : z;
  };
  const inputIdx = [...Array(parts).keys()].filter((i) => needs.inputs[i]);
  if (inputIdx.length === 0 && !needs.weights) return forward(xs, kernels, bias);

  // The custom op's inputs: the parts that need a gradient, then (when trained) the kernels and bias.
  const opInputs: tf.Tensor[] = [...inputIdx.map((i) => xs[i]!), ...(needs.weights ? [...kernels, bias] : [])];
  const f = tf.customGrad((...args) => {
    const save = args.pop() as tf.GradSaveFunc;
    const x = [...xs];
    inputIdx.forEach((i, k) => (x[i] = args[k] as tf.Tensor2D));
    const w = needs.weights ? (args.slice(inputIdx.length, inputIdx.length + parts) as tf.Tensor2D[]) : kernels;
    const b = needs.weights ? (args[inputIdx.length + parts] as tf.Tensor1D) : bias;
    const y = forward(x, w, b);
    // Inside gradFunc only saved tensors (and variables) may be used: tfjs disposes the forward pass's
    // intermediates (this layer's input among them) before it runs the backward pass.
    save(needs.weights ? [y, ...x] : [y]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor2D, saved: tf.Tensor[]) => {
        // dy masked by the ReLU: step(y) is 1 where y > 0, else 0 (the subgradient 0 at 0, as PyTorch).
        const g = (relu ? tf.mul(dy, tf.step(saved[0]!)) : dy) as tf.Tensor2D;
        const grads: tf.Tensor[] = inputIdx.map((i) => tf.matMul(g, transpose2d(kernels[i]!)));
        if (needs.weights) {
          for (let i = 0; i < parts; i++) grads.push(tf.matMul(transpose2d(saved[1 + i] as tf.Tensor2D), g));
          grads.push(columnSums(g));
        }
        return grads;
      },
    };
  });
  return f(...opInputs) as tf.Tensor2D;
}

function checkSizes(name: string, sizes: readonly number[], split: readonly number[]): void {
  if (sizes.length < 2 || sizes.some((s) => !Number.isInteger(s) || s < 1)) {
    throw new RangeError(`network ${name}: sizes must be two or more positive integers, got [${sizes.join(", ")}]`);
  }
  if (split.some((s) => !Number.isInteger(s) || s < 1) || split.reduce((a, b) => a + b, 0) !== sizes[0]) {
    throw new RangeError(`network ${name}: inputSplit [${split.join(", ")}] must be positive integers summing to ${sizes[0]}`);
  }
}

function inputParts(name: string, x: tf.Tensor2D | readonly tf.Tensor2D[], split: readonly number[]): readonly tf.Tensor2D[] {
  const parts = Array.isArray(x) ? (x as readonly tf.Tensor2D[]) : [x as tf.Tensor2D];
  if (parts.length !== split.length || parts.some((p, i) => p.shape[1] !== split[i])) {
    throw new RangeError(
      `network ${name}: input parts of widths [${parts.map((p) => p.shape[1]).join(", ")}], expected [${split.join(", ")}]`,
    );
  }
  return parts;
}

/** An MLP with ReLU hidden layers and a linear output, explicit variables and explicit-transpose gradients. */
export class Mlp implements Network {
  readonly name: string;
  readonly sizes: readonly number[];
  readonly inputSplit: readonly number[];
  readonly variables: readonly tf.Variable[];
  /** kernels[l]: the layer's kernel parts (several for layer 0 with an input split). */
  private readonly kernels: tf.Variable<tf.Rank.R2>[][] = [];
  private readonly biases: tf.Variable<tf.Rank.R1>[] = [];

  /** `sizes`: widths, input first (at least two); initial weights from `rng` (PyTorch's default). */
  constructor(name: string, sizes: readonly number[], rng: Rng, options: NetworkOptions = {}) {
    const split = options.inputSplit ?? [sizes[0]!];
    checkSizes(name, sizes, split);
    this.name = name;
    this.sizes = Object.freeze([...sizes]);
    this.inputSplit = Object.freeze([...split]);
    const id = networkCounter++;
    const vars: tf.Variable[] = [];
    for (let l = 0; l + 1 < sizes.length; l++) {
      const fanIn = sizes[l]!;
      const fanOut = sizes[l + 1]!;
      const { kernel, bias } = linearInit(fanIn, fanOut, rng);
      const widths = l === 0 ? split : [fanIn];
      const parts: tf.Variable<tf.Rank.R2>[] = [];
      let row = 0;
      widths.forEach((w, p) => {
        const values = kernel.subarray(row * fanOut, (row + w) * fanOut);
        const suffix = widths.length > 1 ? `_${p}` : "";
        parts.push(newVariable(tf.tensor2d(values, [w, fanOut]), `${name}#${id}/dense${l}/kernel${suffix}`));
        row += w;
      });
      const b = newVariable(tf.tensor1d(bias), `${name}#${id}/dense${l}/bias`);
      this.kernels.push(parts);
      this.biases.push(b);
      vars.push(...parts, b);
    }
    this.variables = Object.freeze(vars);
  }

  apply(x: tf.Tensor2D | readonly tf.Tensor2D[], needs: GradientNeeds = {}): tf.Tensor2D {
    const parts = inputParts(this.name, x, this.inputSplit);
    const weights = needs.weights ?? true;
    const input = needs.input ?? false;
    const inputFlags = typeof input === "boolean" ? parts.map(() => input) : input;
    const anyInput = inputFlags.some(Boolean);
    let h: readonly tf.Tensor2D[] = parts;
    const last = this.kernels.length - 1;
    for (let l = 0; l <= last; l++) {
      // A hidden layer's input carries gradient whenever anything upstream of it is differentiated.
      const inputs = l === 0 ? inputFlags : [weights || anyInput];
      h = [dense(h, this.kernels[l]!, this.biases[l]!, l < last, { inputs, weights })];
    }
    return h[0]!;
  }

  dispose(): void {
    for (const v of this.variables) v.dispose();
  }
}

/** The explicit-transpose MLP (the default for `Sac`). */
export const mlp: NetworkFactory = (name, sizes, rng, options) => new Mlp(name, sizes, rng, options);

/**
 * The naive version: a `tf.sequential` of `tf.layers.dense` (ReLU hidden layers, linear output) whose
 * gradients are tfjs's autodiff (transposed matmuls); input parts are concatenated. Same initial values
 * as `Mlp` for the same `rng`, one [sizes[0], sizes[1]] kernel.
 */
export const layersMlp: NetworkFactory = (name, sizes, rng, options = {}) => {
  const split = options.inputSplit ?? [sizes[0]!];
  checkSizes(name, sizes, split);
  const model = tf.sequential({ name: `${name}_${networkCounter++}` });
  for (let l = 0; l + 1 < sizes.length; l++) {
    const fanIn = sizes[l]!;
    const fanOut = sizes[l + 1]!;
    const { kernel, bias } = linearInit(fanIn, fanOut, rng);
    const layer = tf.layers.dense({
      units: fanOut,
      activation: l + 2 < sizes.length ? "relu" : "linear",
      ...(l === 0 ? { inputShape: [fanIn] } : {}),
    });
    model.add(layer);
    const values = [tf.tensor2d(kernel, [fanIn, fanOut]), tf.tensor1d(bias)];
    layer.setWeights(values);
    tf.dispose(values);
  }
  const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
  return {
    name,
    sizes: Object.freeze([...sizes]),
    inputSplit: Object.freeze([...split]),
    variables,
    apply: (x) => {
      const parts = inputParts(name, x, split);
      return model.apply(parts.length === 1 ? parts[0]! : tf.concat([...parts], 1)) as tf.Tensor2D;
    },
    dispose: () => model.dispose(),
  };
};

/** Sets every variable of `target` to the value of the matching variable of `source` (a hard copy). */
export function copyWeights(target: Network, source: Network): void {
  polyakUpdate(target, source, 1);
}

/**
 * The soft target update θ' <- τ θ + (1 - τ) θ' (Polyak averaging), for every variable pair.
 * τ = 1 is a hard copy.
 */
export function polyakUpdate(target: Network, source: Network, tau: number): void {
  if (target.variables.length !== source.variables.length || target.variables.some((v, i) => v.size !== source.variables[i]!.size)) {
    throw new Error(`polyakUpdate: ${target.name} and ${source.name} have different layouts`);
  }
  tf.tidy(() => {
    target.variables.forEach((t, i) => {
      const s = source.variables[i]!;
      if (tau === 1) t.assign(tf.clone(s));
      else t.assign(tf.add(tf.mul(s, tau), tf.mul(t, 1 - tau)));
    });
  });
}

/** Total number of scalar weights. */
export function parameterCount(net: Network): number {
  return net.variables.reduce((n, v) => n + v.size, 0);
}

/**
 * θ' <- τ θ + (1 - τ) θ' for two variable lists of the same layout (two networks from one factory);
 * τ = 1 (default) is the hard target copy.
 */
export function copyVariables(target: readonly tf.Variable[], source: readonly tf.Variable[], tau = 1): void {
  if (target.length !== source.length || target.some((v, i) => v.size !== source[i]!.size || v.shape.join() !== source[i]!.shape.join())) {
    throw new Error(`copyVariables: layouts differ (${target.length} and ${source.length} variables)`);
  }
  tf.tidy(() => {
    target.forEach((t, i) => {
      const s = source[i]!;
      t.assign(tau === 1 ? tf.clone(s) : tf.add(tf.mul(s, tau), tf.mul(t, 1 - tau)));
    });
  });
}
