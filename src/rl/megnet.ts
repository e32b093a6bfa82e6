/**
 * MEGNetRL, CrystalGym's policy / Q / value network (spec §6.1: matgl 0.9.0's MEGNet as the authors'
 * `agents.py` configures it), over batches of crystal graphs (rl/graph-batch.ts).
 *
 *   node  token (vocab + 1 rows, blank last) -> embedding 16, + current-site flag -> MLP 17-64-32
 *   edge  distance d -> Gaussian basis (default exp(-0.5 d²), 1 value)   -> MLP  K-64-32
 *   state [a, b, c, α, β, γ, p̂] -> fixed scaling (below)                 -> MLP  7-64-32
 *   3 MEGNet blocks (blocks 2-3 first apply 32-64-32 to e, v, u), each with a residual:
 *     e' = MLP([v_src, v_dst, e, u])        128-64-64-32
 *     v' = MLP([v, mean_in(e'), u])          96-64-64-32
 *     u' = MLP([u, mean(e'), mean(v')])      96-64-64-32
 *   readout: Set2Set(nodes) 64 | Set2Set(edges) 64 | u 32 -> 160-32-16-out, no output activation
 *
 * Every activation, encoders' last layers included, is softplus2(x) = softplus(x) - ln 2 (§6.1).
 *
 * Deviations from the released code, each a choice the spec leaves open:
 * - Current site. The released network feeds a "focus" node index through an 8-wide state embedding
 *   that is set at reset and never advanced (§1.2 quirk), so the only progress signal is which nodes
 *   are still blank. Here each node's input carries a 0/1 flag for "this is the site the next action
 *   fills", concatenated to its 16-wide embedding (the node encoder's first layer is 17 wide). Being
 *   per node it survives relabelling and batching; the state input is the 7 floats alone.
 * - State scaling. The released state is raw (Å, degrees, p̂ = 300 for bulk modulus). With PyTorch's
 *   initial weights (±1/sqrt(7)) a raw p̂ = 300 puts the state encoder's pre-activations near ±100:
 *   half its units sit on softplus2's flat floor with zero gradient, the rest pass a ~100-sized
 *   constant into every block through u. Default `state: "scaled"`: a, b, c / 10 Å, angles / 180°,
 *   and p̂ -> sign(p̂) ln(1 + |p̂|) (1.12 -> 0.75, 3 -> 1.39, 300 -> 5.7, 500 -> 6.2), which needs no
 *   per-property constant. `state: "raw"` reproduces the released input.
 * - Edge basis. Default as released (§1.2): one Gaussian at 0 Å with matgl's width 0.5, i.e.
 *   exp(-0.5 d²); `edgeBasis: { centres: 20, cutoff: 5 }` gives matgl's GaussianExpansion
 *   exp(-width (d - μ_k)²) over μ = linspace(0, cutoff, centres).
 *
 * Initial values are PyTorch's defaults, drawn from a seeded Rng in a fixed order (the same network
 * on every backend): nn.Linear U(±1/sqrt(fan_in)) (rl/networks' linearInit), nn.Embedding N(0, 1),
 * nn.LSTM U(±1/sqrt(hidden)) with its two bias vectors.
 *
 * Speed: dense layers are rl/networks' `dense` (explicit-transpose gradients, see there). Inputs of
 * an update MLP that are gathered from nodes or graphs (v_src, v_dst, u) are projected first and
 * gathered after (gather(v) W = gather(v W)): the projection runs on the few node/graph rows instead
 * of the edge rows. Concatenations are split into one kernel per part (the same function).
 *
 * @example
 * const factory = megnet({ vocabulary: 18 });
 * const q = factory(18, 1);                 // Q-network: 18 outputs, seed 1
 * const out = q.apply([graph1, graph2]);    // [2, 18]
 */
import * as tf from "@tensorflow/tfjs";
import type { CrystalGraph } from "../envs/crystal-gym/types.js";
import { Rng } from "../structure/random-source.js";
import { transpose2d } from "../tensor/ops.js";
import type { ObservationNetwork } from "./discrete.js";
import { STATE_SIZE, gatherRows, graphTensors, packGraphs, segmentSoftmax, segmentSum, type GraphTensors } from "./graph-batch.js";
import { dense, linearInit, newVariable } from "./networks.js";

/** Layer widths of MEGNetRL (spec §6.1). */
export const MEGNET_SIZES = {
  /** nn.Embedding(vocab + 1, 16). */
  nodeEmbedding: 16,
  /** Node, edge and state encoders: input -> 64 -> 32. */
  encoder: [64, 32],
  /** Blocks 2..: e, v, u each through 32 -> 64 -> 32 before the convolution. */
  blockDense: [64, 32],
  /** Edge, node and state update MLPs: input -> 64 -> 64 -> 32. */
  conv: [64, 64, 32],
  /** Head: 160 -> 32 -> 16 -> outputs. */
  head: [32, 16],
} as const;

/** Edge Gaussian basis: exp(-width (d - μ_k)²), μ = linspace(0, cutoff, centres) (matgl's GaussianExpansion). */
export interface EdgeBasis {
  /** Number of Gaussians. */
  centres: number;
  /** The last centre, Å (the first is 0). Default 5 (matgl: MEGNet's cutoff 4 + 1). */
  cutoff?: number;
  /** The coefficient in the exponent (matgl's `width`). Default 0.5. */
  width?: number;
}

/** The released edge input (spec §1.2): one Gaussian at 0 Å, exp(-0.5 d²). */
export const RELEASED_EDGE_BASIS: Readonly<Required<EdgeBasis>> = Object.freeze({ centres: 1, cutoff: 5, width: 0.5 });

export interface MegnetOptions {
  /** Number of element tokens (spec §3: 18, 30 or 50); the graphs' blank token must equal it. */
  vocabulary: number;
  /** Edge basis; default `RELEASED_EDGE_BASIS`. */
  edgeBasis?: EdgeBasis;
  /** Global state input: "scaled" (default, see the module comment) or "raw" (as released). */
  state?: "scaled" | "raw";
  /** MEGNet blocks (§6.1: 3). */
  blocks?: number;
  /** Set2Set iterations (§6.1: 2). */
  set2setIterations?: number;
  /** Prefix of the variables' names. Default "megnet". */
  name?: string;
}

/**
 * softplus2(x) = softplus(x) - ln 2, computed as relu(x) - log(sigmoid(|x|)) - ln 2 (the same value:
 * softplus(x) = relu(x) + log(1 + exp(-|x|))), because the wasm backend's Softplus kernel is scalar
 * code: [6784, 64] takes 5.0 ms against 2.0 ms this way (XNNPACK's vectorised sigmoid); the
 * gradient, dy * sigmoid(x), is written out.
 */
function softplus2(z: tf.Tensor2D): tf.Tensor2D {
  const f = tf.customGrad((x, save) => {
    const a = x as tf.Tensor;
    (save as tf.GradSaveFunc)([a]);
    return {
      value: tf.sub(tf.sub(tf.relu(a), tf.log(tf.sigmoid(tf.abs(a)))), Math.LN2),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.mul(dy, tf.sigmoid(saved[0]!)),
    };
  });
  return f(z) as tf.Tensor2D;
}

/** x W without a bias, with explicit-transpose gradients (see rl/networks' `dense`). */
function project(x: tf.Tensor2D, w: tf.Variable<tf.Rank.R2>): tf.Tensor2D {
  const f = tf.customGrad((a, b, save) => {
    (save as tf.GradSaveFunc)([a as tf.Tensor]);
    return {
      value: tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => [
        tf.matMul(dy as tf.Tensor2D, transpose2d(w)),
        tf.matMul(transpose2d(saved[0] as tf.Tensor2D), dy as tf.Tensor2D),
      ],
    };
  });
  return f(x, w) as tf.Tensor2D;
}

/** A dense layer whose input comes in parts (one kernel each), plus parts gathered from other rows. */
interface Layer {
  /** Kernels of the parts that come on the layer's own rows. */
  kernels: tf.Variable<tf.Rank.R2>[];
  bias: tf.Variable<tf.Rank.R1>;
  /** Kernels of the parts that are projected on their own rows and gathered (no bias). */
  gathered: tf.Variable<tf.Rank.R2>[];
}

/** A part that is projected on its own rows, then gathered to the layer's rows by `idx` ([rows, 1]). */
interface GatheredPart {
  x: tf.Tensor2D;
  idx: tf.Tensor2D;
}

/** Builds the network's variables in a fixed order from one Rng. */
class Builder {
  readonly variables: tf.Variable[] = [];
  constructor(
    readonly prefix: string,
    readonly rng: Rng,
  ) {}

  variable<R extends tf.Rank>(t: tf.Tensor<R>, name: string): tf.Variable<R> {
    const v = newVariable(t, `${this.prefix}/${name}`);
    this.variables.push(v);
    return v;
  }

  /**
   * One nn.Linear(Σ widths, out) whose input is split into parts, in the order of the original
   * concatenation; `gathered[p]` marks the parts projected on their own rows and gathered.
   */
  layer(name: string, widths: readonly number[], out: number, gathered: readonly boolean[] = []): Layer {
    const fanIn = widths.reduce((a, b) => a + b, 0);
    const { kernel, bias } = linearInit(fanIn, out, this.rng);
    const rows: tf.Variable<tf.Rank.R2>[] = [];
    const projected: tf.Variable<tf.Rank.R2>[] = [];
    let row = 0;
    widths.forEach((w, p) => {
      const values = tf.tensor2d(kernel.subarray(row * out, (row + w) * out), [w, out]);
      const k = this.variable(values, `${name}/kernel${widths.length > 1 ? `_${p}` : ""}`);
      (gathered[p] ? projected : rows).push(k);
      row += w;
    });
    return { kernels: rows, bias: this.variable(tf.tensor1d(bias), `${name}/bias`), gathered: projected };
  }

  /** An MLP widths → sizes..., its first layer's input in parts (see `layer`). */
  mlp(name: string, widths: readonly number[], sizes: readonly number[], gathered: readonly boolean[] = []): Layer[] {
    const layers = [this.layer(`${name}/dense0`, widths, sizes[0]!, gathered)];
    for (let l = 1; l < sizes.length; l++) layers.push(this.layer(`${name}/dense${l}`, [sizes[l - 1]!], sizes[l]!));
    return layers;
  }
}

/**
 * One layer: Σ_i x_i W_i + b + Σ_j gather(g_j W'_j) with softplus2 (or none). `needs[i]`: whether
 * row part i carries a gradient (false for raw inputs: edge basis, flags, the state).
 */
function forwardLayer(layer: Layer, xs: readonly tf.Tensor2D[], needs: readonly boolean[], gathered: readonly GatheredPart[], activate: boolean): tf.Tensor2D {
  let z = dense(xs, layer.kernels, layer.bias, false, { inputs: needs, weights: true });
  gathered.forEach((g, j) => {
    z = tf.add(z, gatherRows(project(g.x, layer.gathered[j]!), g.idx));
  });
  return activate ? softplus2(z) : z;
}

/**
 * An MLP with softplus2 after every layer but (optionally) the last; the first layer takes row parts
 * `xs` (gradient flags `needs`) and gathered parts, the hidden layers carry gradients.
 */
function forwardMlp(
  layers: readonly Layer[],
  xs: readonly tf.Tensor2D[],
  needs: readonly boolean[],
  gathered: readonly GatheredPart[] = [],
  activateLast = true,
): tf.Tensor2D {
  const last = layers.length - 1;
  let h = forwardLayer(layers[0]!, xs, needs, gathered, activateLast || last > 0);
  for (let l = 1; l <= last; l++) h = forwardLayer(layers[l]!, [h], [true], [], activateLast || l < last);
  return h;
}

/** A MEGNet block (matgl MEGNetBlock + MEGNetGraphConv). */
interface Block {
  /** Blocks 2..: 32-64-32 MLPs on e, v, u before the convolution (§6.1). */
  dense?: { edge: Layer[]; node: Layer[]; state: Layer[] };
  /** e' = MLP([v_src, v_dst, e, u]): first layer [e] row part, [v_src, v_dst, u] gathered. */
  edge: Layer[];
  /** v' = MLP([v, mean_in(e'), u]): [v, mean_in e'] row parts, [u] gathered. */
  node: Layer[];
  /** u' = MLP([u, mean e', mean v']). */
  state: Layer[];
}

/** nn.LSTM(2H, H) of a Set2Set, with W_ih split by input half (q, r); H = 32. */
interface Set2Set {
  wq: tf.Variable<tf.Rank.R2>;
  wr: tf.Variable<tf.Rank.R2>;
  wh: tf.Variable<tf.Rank.R2>;
  bih: tf.Variable<tf.Rank.R1>;
  bhh: tf.Variable<tf.Rank.R1>;
}

let megnetCounter = 0;

/** MEGNetRL over CrystalGraph observations (see the module comment). */
export class Megnet implements ObservationNetwork<CrystalGraph> {
  readonly name: string;
  readonly outputs: number;
  readonly vocabulary: number;
  readonly edgeBasis: Readonly<Required<EdgeBasis>>;
  readonly stateInput: "scaled" | "raw";
  readonly blockCount: number;
  readonly set2setIterations: number;
  /** Trainable variables in creation order (stable: target copies and checkpoints pair them by index). */
  readonly variables: readonly tf.Variable[];

  private readonly embedding: tf.Variable<tf.Rank.R2>;
  private readonly nodeEncoder: Layer[];
  private readonly edgeEncoder: Layer[];
  private readonly stateEncoder: Layer[];
  private readonly blocks: Block[] = [];
  private readonly nodeSet2Set: Set2Set;
  private readonly edgeSet2Set: Set2Set;
  private readonly head: Layer[];
  private readonly centres: Float32Array;

  constructor(options: MegnetOptions, outputs: number, seed: number) {
    const { vocabulary } = options;
    if (!Number.isInteger(vocabulary) || vocabulary < 1) throw new RangeError(`megnet: vocabulary must be a positive integer, got ${vocabulary}`);
    if (!Number.isInteger(outputs) || outputs < 1) throw new RangeError(`megnet: outputs must be a positive integer, got ${outputs}`);
    const basis = { ...RELEASED_EDGE_BASIS, ...options.edgeBasis };
    if (!Number.isInteger(basis.centres) || basis.centres < 1 || !(basis.cutoff >= 0) || !(basis.width > 0)) {
      throw new RangeError(`megnet: bad edgeBasis ${JSON.stringify(options.edgeBasis)}`);
    }
    this.blockCount = options.blocks ?? 3;
    this.set2setIterations = options.set2setIterations ?? 2;
    if (!Number.isInteger(this.blockCount) || this.blockCount < 1) throw new RangeError(`megnet: blocks must be a positive integer`);
    if (!Number.isInteger(this.set2setIterations) || this.set2setIterations < 1) throw new RangeError(`megnet: set2setIterations must be a positive integer`);
    this.name = options.name ?? "megnet";
    this.outputs = outputs;
    this.vocabulary = vocabulary;
    this.edgeBasis = Object.freeze(basis);
    this.stateInput = options.state ?? "scaled";
    // μ = linspace(0, cutoff, centres); torch.linspace(0, c, 1) is [0].
    this.centres = Float32Array.from({ length: basis.centres }, (_, k) => (basis.centres === 1 ? 0 : (basis.cutoff * k) / (basis.centres - 1)));

    const b = new Builder(`${this.name}#${megnetCounter++}`, new Rng(seed));
    const [h1, h2] = MEGNET_SIZES.encoder; // 64, 32
    const d = h2;
    const emb = new Float32Array((vocabulary + 1) * MEGNET_SIZES.nodeEmbedding);
    for (let i = 0; i < emb.length; i++) emb[i] = b.rng.normal();
    this.embedding = b.variable(tf.tensor2d(emb, [vocabulary + 1, MEGNET_SIZES.nodeEmbedding]), "embedding");
    this.nodeEncoder = b.mlp("node_encoder", [MEGNET_SIZES.nodeEmbedding, 1], [h1, h2]);
    this.edgeEncoder = b.mlp("edge_encoder", [basis.centres], [h1, h2]);
    this.stateEncoder = b.mlp("state_encoder", [STATE_SIZE], [h1, h2]);
    const conv = MEGNET_SIZES.conv;
    for (let k = 0; k < this.blockCount; k++) {
      const p = `block${k}`;
      const block: Block = {
        ...(k > 0
          ? {
              dense: {
                edge: b.mlp(`${p}/edge_dense`, [d], MEGNET_SIZES.blockDense),
                node: b.mlp(`${p}/node_dense`, [d], MEGNET_SIZES.blockDense),
                state: b.mlp(`${p}/state_dense`, [d], MEGNET_SIZES.blockDense),
              },
            }
          : {}),
        // matgl's concatenation orders; v_src, v_dst and u are gathered to the edges / nodes.
        edge: b.mlp(`${p}/edge_update`, [d, d, d, d], conv, [true, true, false, true]), // [v_src, v_dst, e, u]
        node: b.mlp(`${p}/node_update`, [d, d, d], conv, [false, false, true]), // [v, mean_in e', u]
        state: b.mlp(`${p}/state_update`, [d, d, d], conv), // [u, mean e', mean v']
      };
      this.blocks.push(block);
    }
    this.nodeSet2Set = this.set2set(b, "node_set2set", d);
    this.edgeSet2Set = this.set2set(b, "edge_set2set", d);
    this.head = b.mlp("head", [4 * d + d], [...MEGNET_SIZES.head, outputs]);
    this.variables = Object.freeze(b.variables);
  }

  /** nn.LSTM(2H, H): weight_ih, weight_hh, bias_ih, bias_hh, all U(±1/sqrt(H)), PyTorch's order. */
  private set2set(b: Builder, name: string, hidden: number): Set2Set {
    const bound = 1 / Math.sqrt(hidden);
    const uniform = (n: number) => Float32Array.from({ length: n }, () => b.rng.uniform(-bound, bound));
    const g = 4 * hidden;
    // weight_ih is [4H, 2H] in PyTorch; stored transposed and split into its q and r input halves.
    const wih = uniform(g * 2 * hidden);
    const wihT = new Float32Array(2 * hidden * g);
    for (let o = 0; o < g; o++) for (let i = 0; i < 2 * hidden; i++) wihT[i * g + o] = wih[o * 2 * hidden + i]!;
    const whh = uniform(g * hidden);
    const whhT = new Float32Array(hidden * g);
    for (let o = 0; o < g; o++) for (let i = 0; i < hidden; i++) whhT[i * g + o] = whh[o * hidden + i]!;
    return {
      wq: b.variable(tf.tensor2d(wihT.subarray(0, hidden * g), [hidden, g]), `${name}/lstm/weight_ih_q`),
      wr: b.variable(tf.tensor2d(wihT.subarray(hidden * g), [hidden, g]), `${name}/lstm/weight_ih_r`),
      wh: b.variable(tf.tensor2d(whhT, [hidden, g]), `${name}/lstm/weight_hh`),
      bih: b.variable(tf.tensor1d(uniform(g)), `${name}/lstm/bias_ih`),
      bhh: b.variable(tf.tensor1d(uniform(g)), `${name}/lstm/bias_hh`),
    };
  }

  /** Number of scalar weights. */
  get parameterCount(): number {
    return this.variables.reduce((n, v) => n + v.size, 0);
  }

  /** [graphs, outputs] for a batch of graphs (packed and run inside a tidy). */
  apply(observations: readonly CrystalGraph[]): tf.Tensor2D {
    const packed = packGraphs(observations, { vocabulary: this.vocabulary });
    return tf.tidy(() => this.applyTensors(graphTensors(packed)));
  }

  /**
   * [graphs, outputs] for a batch already made into tensors, so that several networks can share one
   * packing (e.g. online and target networks). Call inside a tidy.
   */
  applyTensors(t: GraphTensors): tf.Tensor2D {
    const { graphs: B, nodes: N, blank } = t.packed;
    if (blank !== this.vocabulary) throw new RangeError(`megnet: graphs have blank token ${blank}, the network's vocabulary is ${this.vocabulary}`);

    // Inputs and encoders.
    const tokens = gatherRows(this.embedding, t.nodeTokens);
    let v = forwardMlp(this.nodeEncoder, [tokens, t.current], [true, false]);
    let e = forwardMlp(this.edgeEncoder, [this.expandDistances(t.distance)], [false]);
    let u = forwardMlp(this.stateEncoder, [this.stateFeatures(t.state)], [false]);

    for (const block of this.blocks) {
      const [e0, v0, u0] = [e, v, u];
      if (block.dense) {
        e = forwardMlp(block.dense.edge, [e], [true]);
        v = forwardMlp(block.dense.node, [v], [true]);
        u = forwardMlp(block.dense.state, [u], [true]);
      }
      // Edge update from [v_src, v_dst, e, u].
      const e1 = forwardMlp(block.edge, [e], [true], [
        { x: v, idx: t.edgeSrc },
        { x: v, idx: t.edgeDst },
        { x: u, idx: t.edgeGraph },
      ]);
      // Node update from [v, mean of incoming e', u] (DGL copy_e + mean onto the destination).
      const incoming = tf.mul(segmentSum(e1, t.edgeDst, N), t.invInDegree) as tf.Tensor2D;
      const v1 = forwardMlp(block.node, [v, incoming], [true, true], [{ x: u, idx: t.nodeGraph }]);
      // State update from [u, mean e', mean v'] (per graph).
      const edgeMean = tf.mul(segmentSum(e1, t.edgeGraph, B), t.invEdgeCount) as tf.Tensor2D;
      const nodeMean = tf.mul(segmentSum(v1, t.nodeGraph, B), t.invNodeCount) as tf.Tensor2D;
      const u1 = forwardMlp(block.state, [u, edgeMean, nodeMean], [true, true, true]);
      // Residuals.
      e = tf.add(e1, e0);
      v = tf.add(v1, v0);
      u = tf.add(u1, u0);
    }

    const nodeRead = this.readout(this.nodeSet2Set, v, t.nodeGraph, t.nodePad, B);
    const edgeRead = this.readout(this.edgeSet2Set, e, t.edgeGraph, t.edgePad, B);
    return forwardMlp(this.head, [tf.concat([nodeRead, edgeRead, u], 1)], [true], [], false);
  }

  /** Gaussian basis of the distances [E, 1] -> [E, centres]. */
  private expandDistances(d: tf.Tensor2D): tf.Tensor2D {
    const mu = tf.tensor2d(this.centres, [1, this.centres.length]);
    return tf.exp(tf.mul(tf.square(tf.sub(d, mu)), -this.edgeBasis.width)) as tf.Tensor2D;
  }

  /** The state input: raw, or a, b, c / 10 Å, angles / 180°, sign(p̂) ln(1 + |p̂|) (module comment). */
  private stateFeatures(s: tf.Tensor2D): tf.Tensor2D {
    if (this.stateInput === "raw") return s;
    const B = s.shape[0];
    const scale = tf.tensor2d([[0.1, 0.1, 0.1, 1 / 180, 1 / 180, 1 / 180]]);
    const geometry = tf.mul(tf.slice(s, [0, 0], [B, 6]), scale);
    const p = tf.slice(s, [0, 6], [B, 1]);
    return tf.concat([geometry, tf.mul(tf.sign(p), tf.log1p(tf.abs(p)))], 1) as tf.Tensor2D;
  }

  /**
   * Set2Set (DGL, as matgl's Set2SetReadOut uses it): q* = 0, h = c = 0; per iteration
   * q, (h, c) = LSTM(q*, (h, c)); α = softmax over the graph's rows of <x_i, q>; r = Σ α_i x_i;
   * q* = [q, r]. Returns q* [graphs, 2H].
   */
  private readout(s: Set2Set, x: tf.Tensor2D, idx: tf.Tensor2D, pad: tf.Tensor2D, B: number): tf.Tensor2D {
    const H = x.shape[1];
    const bias = tf.add(s.bih, s.bhh) as tf.Tensor1D;
    let h = tf.zeros([B, H]) as tf.Tensor2D; // also q: the LSTM's output is its hidden state
    let c = tf.zeros([B, H]) as tf.Tensor2D;
    let r = tf.zeros([B, H]) as tf.Tensor2D;
    for (let it = 0; it < this.set2setIterations; it++) {
      const first = it === 0; // q* and h are zeros: no input gradient
      const gates = dense([h, r, h], [s.wq, s.wr, s.wh], bias, false, { inputs: [!first, !first, !first], weights: true });
      const [gi, gf, gg, go] = tf.split(gates, 4, 1) as tf.Tensor2D[]; // PyTorch's gate order i, f, g, o
      c = tf.add(tf.mul(tf.sigmoid(gf!), c), tf.mul(tf.sigmoid(gi!), tf.tanh(gg!)));
      h = tf.mul(tf.sigmoid(go!), tf.tanh(c));
      const score = tf.sum(tf.mul(x, gatherRows(h, idx)), 1, true) as tf.Tensor2D;
      const alpha = segmentSoftmax(score, idx, pad, B);
      r = segmentSum(tf.mul(x, alpha) as tf.Tensor2D, idx, B);
    }
    return tf.concat([h, r], 1) as tf.Tensor2D;
  }

  dispose(): void {
    for (const v of this.variables) v.dispose();
  }
}

/**
 * The MEGNetRL factory for the discrete algorithms (an ObservationNetworkFactory<CrystalGraph>):
 * `megnet({ vocabulary: 18 })(outputs, seed)`.
 */
export function megnet(options: MegnetOptions): (outputs: number, seed: number) => Megnet {
  return (outputs, seed) => new Megnet(options, outputs, seed);
}

