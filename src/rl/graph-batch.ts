/**
 * Batching CrystalGym graphs (spec §1.2) for the MEGNet policy, TorchSim-style: the graphs of a batch
 * are laid end to end on one node axis and one edge axis, with a per-node and a per-edge graph index,
 * so one network call serves graphs of different sizes.
 *
 * `packGraphs` is plain JavaScript (one pass, typed arrays, no per-node objects) and checks its input;
 * `graphTensors` turns the result into tensors, to be called inside the caller's `tf.tidy`.
 *
 * Every graph's nodes and edges are contiguous on their axes, in graph order, so a per-graph maximum
 * can be taken over a padded [graphs, maxCount] view (`nodePad`, `edgePad`): slots past a graph's
 * count repeat its last element, which leaves the maximum unchanged.
 *
 * @example
 * const packed = packGraphs([g1, g2], { vocabulary: 18 });
 * tf.tidy(() => { const t = graphTensors(packed); ... });
 */
import * as tf from "@tensorflow/tfjs";
import type { CrystalGraph } from "../envs/crystal-gym/types.js";
import { segmentSumRows, takeRows } from "../tensor/ops.js";

/** Width of the global state: a, b, c (Å), α, β, γ (degrees), p̂ (spec §1.2). */
export const STATE_SIZE = 7;

/** A batch of graphs as typed arrays; node and edge indices are offsets into the packed node axis. */
export interface PackedGraphs {
  graphs: number;
  nodes: number;
  edges: number;
  /** [nodes] species tokens in [0, blank]. */
  nodeTokens: Int32Array;
  /** [nodes] the graph each node belongs to. */
  nodeGraph: Int32Array;
  /** [nodes] 1 at each graph's current site, else 0. */
  current: Float32Array;
  /** [edges] source and destination nodes (packed offsets). */
  edgeSrc: Int32Array;
  edgeDst: Int32Array;
  /** [edges] the graph each edge belongs to. */
  edgeGraph: Int32Array;
  /** [edges] distances in Å. */
  edgeDistance: Float32Array;
  /** [graphs x 7] raw global states, row-major. */
  state: Float32Array;
  /** [graphs] nodes and edges per graph. */
  nodeCounts: Int32Array;
  edgeCounts: Int32Array;
  /** [graphs + 1] where each graph's nodes and edges start. */
  nodeOffsets: Int32Array;
  edgeOffsets: Int32Array;
  /** [nodes] incoming edges per node (for the mean over incoming edges). */
  inDegree: Int32Array;
  /** Largest node and edge count. */
  maxNodes: number;
  maxEdges: number;
  /** The blank token shared by every graph (= the vocabulary size). */
  blank: number;
}

/** Options of `packGraphs`. */
export interface PackOptions {
  /** The network's vocabulary: every graph's blank token must equal it. Default: the first graph's. */
  vocabulary?: number;
}

/** Packs a batch of graphs; throws a clear error naming the graph and index on bad input. */
export function packGraphs(graphs: readonly CrystalGraph[], options: PackOptions = {}): PackedGraphs {
  const B = graphs.length;
  if (B === 0) throw new RangeError("packGraphs: empty batch");
  const blank = options.vocabulary ?? graphs[0]!.blank;
  let N = 0;
  let E = 0;
  let maxNodes = 0;
  let maxEdges = 0;
  for (let g = 0; g < B; g++) {
    const graph = graphs[g]!;
    const n = graph.nodeTokens.length;
    const e = graph.edgeSrc.length;
    if (graph.blank !== blank) throw new RangeError(`packGraphs: graph ${g} has blank token ${graph.blank}, expected ${blank} (the vocabulary size)`);
    if (n === 0) throw new RangeError(`packGraphs: graph ${g} has no nodes`);
    // As the environment's builder: a crystal graph always has edges (a site's own images at least).
    if (e === 0) throw new RangeError(`packGraphs: graph ${g} has no edges`);
    if (graph.edgeDst.length !== e || graph.edgeDistance.length !== e) {
      throw new RangeError(
        `packGraphs: graph ${g} has ${e} edge sources, ${graph.edgeDst.length} destinations and ${graph.edgeDistance.length} distances`,
      );
    }
    if (graph.state.length !== STATE_SIZE) throw new RangeError(`packGraphs: graph ${g} has a state of ${graph.state.length} values, expected ${STATE_SIZE}`);
    if (!(Number.isInteger(graph.current) && graph.current >= -1 && graph.current < n)) {
      throw new RangeError(`packGraphs: graph ${g} has current site ${graph.current}, outside [-1, ${n})`);
    }
    N += n;
    E += e;
    maxNodes = Math.max(maxNodes, n);
    maxEdges = Math.max(maxEdges, e);
  }

  const p: PackedGraphs = {
    graphs: B,
    nodes: N,
    edges: E,
    nodeTokens: new Int32Array(N),
    nodeGraph: new Int32Array(N),
    current: new Float32Array(N),
    edgeSrc: new Int32Array(E),
    edgeDst: new Int32Array(E),
    edgeGraph: new Int32Array(E),
    edgeDistance: new Float32Array(E),
    state: new Float32Array(B * STATE_SIZE),
    nodeCounts: new Int32Array(B),
    edgeCounts: new Int32Array(B),
    nodeOffsets: new Int32Array(B + 1),
    edgeOffsets: new Int32Array(B + 1),
    inDegree: new Int32Array(N),
    maxNodes,
    maxEdges,
    blank,
  };
  let n0 = 0;
  let e0 = 0;
  for (let g = 0; g < B; g++) {
    const graph = graphs[g]!;
    const n = graph.nodeTokens.length;
    const e = graph.edgeSrc.length;
    for (let i = 0; i < n; i++) {
      const t = graph.nodeTokens[i]!;
      if (!(t >= 0 && t <= blank)) throw new RangeError(`packGraphs: graph ${g}, node ${i}: token ${t} outside [0, ${blank}] (blank = ${blank})`);
      p.nodeTokens[n0 + i] = t;
      p.nodeGraph[n0 + i] = g;
    }
    if (graph.current >= 0) p.current[n0 + graph.current] = 1;
    for (let k = 0; k < e; k++) {
      const s = graph.edgeSrc[k]!;
      const d = graph.edgeDst[k]!;
      const r = graph.edgeDistance[k]!;
      if (!(s >= 0 && s < n)) throw new RangeError(`packGraphs: graph ${g}, edge ${k}: source ${s} outside [0, ${n})`);
      if (!(d >= 0 && d < n)) throw new RangeError(`packGraphs: graph ${g}, edge ${k}: destination ${d} outside [0, ${n})`);
      if (!(Number.isFinite(r) && r >= 0)) throw new RangeError(`packGraphs: graph ${g}, edge ${k}: distance ${r} is not a finite length`);
      p.edgeSrc[e0 + k] = n0 + s;
      p.edgeDst[e0 + k] = n0 + d;
      p.edgeGraph[e0 + k] = g;
      p.edgeDistance[e0 + k] = r;
      p.inDegree[n0 + d]!++;
    }
    for (let j = 0; j < STATE_SIZE; j++) {
      const v = graph.state[j]!;
      if (!Number.isFinite(v)) throw new RangeError(`packGraphs: graph ${g}: state[${j}] is ${v}`);
      p.state[g * STATE_SIZE + j] = v;
    }
    p.nodeCounts[g] = n;
    p.edgeCounts[g] = e;
    n0 += n;
    e0 += e;
    p.nodeOffsets[g + 1] = n0;
    p.edgeOffsets[g + 1] = e0;
  }
  return p;
}

/** The tensors of a packed batch. Index tensors are int32 [rows, 1] (scatterND/gatherND's layout). */
export interface GraphTensors {
  packed: PackedGraphs;
  /** [nodes, 1] species tokens. */
  nodeTokens: tf.Tensor2D;
  /** [nodes, 1] 1 at the current sites. */
  current: tf.Tensor2D;
  /** [nodes, 1] / [edges, 1] graph of each node / edge. */
  nodeGraph: tf.Tensor2D;
  edgeGraph: tf.Tensor2D;
  /** [edges, 1] packed source and destination nodes. */
  edgeSrc: tf.Tensor2D;
  edgeDst: tf.Tensor2D;
  /** [edges, 1] distances (Å). */
  distance: tf.Tensor2D;
  /** [graphs, 7] raw global states. */
  state: tf.Tensor2D;
  /** [graphs, 1] 1 / nodes and 1 / edges per graph; [nodes, 1] 1 / in-degree (0 for none). */
  invNodeCount: tf.Tensor2D;
  invEdgeCount: tf.Tensor2D;
  invInDegree: tf.Tensor2D;
  /** [graphs * maxNodes, 1] / [graphs * maxEdges, 1]: padded per-graph views (see the module comment). */
  nodePad: tf.Tensor2D;
  edgePad: tf.Tensor2D;
}

/** Reciprocals of counts, with 1 / 0 taken as 0 (an empty mean is 0, as DGL's). */
function reciprocals(counts: Int32Array): Float32Array {
  return Float32Array.from(counts, (c) => (c > 0 ? 1 / c : 0));
}

/** Padded per-graph index: slot k of graph g holds element offsets[g] + min(k, count - 1). */
function padIndex(offsets: Int32Array, width: number): Int32Array {
  const B = offsets.length - 1;
  const out = new Int32Array(B * width);
  for (let g = 0; g < B; g++) {
    const start = offsets[g]!;
    const last = offsets[g + 1]! - 1;
    for (let k = 0; k < width; k++) out[g * width + k] = Math.min(start + k, last);
  }
  return out;
}

/** Makes the tensors of a packed batch; call inside a `tf.tidy`. */
export function graphTensors(p: PackedGraphs): GraphTensors {
  const column = (a: Int32Array | Float32Array, dtype: "int32" | "float32"): tf.Tensor2D => tf.tensor2d(a, [a.length, 1], dtype);
  return {
    packed: p,
    nodeTokens: column(p.nodeTokens, "int32"),
    current: column(p.current, "float32"),
    nodeGraph: column(p.nodeGraph, "int32"),
    edgeGraph: column(p.edgeGraph, "int32"),
    edgeSrc: column(p.edgeSrc, "int32"),
    edgeDst: column(p.edgeDst, "int32"),
    distance: column(p.edgeDistance, "float32"),
    state: tf.tensor2d(p.state, [p.graphs, STATE_SIZE]),
    invNodeCount: column(reciprocals(p.nodeCounts), "float32"),
    invEdgeCount: column(reciprocals(p.edgeCounts), "float32"),
    invInDegree: column(reciprocals(p.inDegree), "float32"),
    nodePad: column(padIndex(p.nodeOffsets, p.maxNodes), "int32"),
    edgePad: column(padIndex(p.edgeOffsets, p.maxEdges), "int32"),
  };
}

// ---- Segment operations over the packed axes -------------------------------------------------------
//
// Why not tf.gather / tf.unsortedSegmentSum: the wasm backend has no UnsortedSegmentSum kernel, and
// tf.gather's gradient is an unsorted segment sum, which the wasm backend lacks (tensor/ops.ts says
// why takeRows and segmentSumRows are ScatterND and GatherND/GatherV2). Each op below carries its own
// gradient (a gather's is a segment sum and vice versa); the index tensors are saved with the op
// because the caller's tidy disposes them before the backward pass runs.

/** Rows `idx` ([M, 1] int32, values < x.shape[0]) of x [R, D]: [M, D]. Differentiable in x. */
export function gatherRows(x: tf.Tensor2D, idx: tf.Tensor2D): tf.Tensor2D {
  const rows = x.shape[0];
  const f = tf.customGrad((a, save) => {
    (save as tf.GradSaveFunc)([idx]);
    return {
      value: takeRows(a as tf.Tensor2D, idx),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => segmentSumRows(dy as tf.Tensor2D, saved[0] as tf.Tensor2D, rows),
    };
  });
  return f(x) as tf.Tensor2D;
}

/** Segment sums: out[r] = Σ_{i: idx[i] = r} x[i], [rows, D] (0 for empty segments). Differentiable in x. */
export function segmentSum(x: tf.Tensor2D, idx: tf.Tensor2D, rows: number): tf.Tensor2D {
  const f = tf.customGrad((a, save) => {
    (save as tf.GradSaveFunc)([idx]);
    return {
      value: segmentSumRows(a as tf.Tensor2D, idx, rows),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => takeRows(dy as tf.Tensor2D, saved[0] as tf.Tensor2D),
    };
  });
  return f(x) as tf.Tensor2D;
}

/**
 * Each row's segment maximum of x [M, 1], broadcast back to the rows ([M, 1]); `pad` is the padded
 * per-segment view ([segments * width, 1], see `graphTensors`). Its gradient is taken as zero: it is
 * only the shift that keeps a softmax finite, and a softmax does not depend on the shift.
 */
function segmentMaxShift(x: tf.Tensor2D, idx: tf.Tensor2D, pad: tf.Tensor2D, segments: number): tf.Tensor2D {
  const width = pad.shape[0] / segments;
  const f = tf.customGrad((a) => ({
    value: tf.tidy(() => {
      const padded = tf.reshape(takeRows(a as tf.Tensor2D, pad), [segments, width]);
      return takeRows(tf.max(padded, 1, true) as tf.Tensor2D, idx);
    }),
    gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy),
  }));
  return f(x) as tf.Tensor2D;
}

/**
 * Softmax of the scores x [M, 1] within each segment (a graph's nodes or edges, as DGL's
 * softmax_nodes / softmax_edges): exp(x_i - max_g) / Σ_{j in g} exp(x_j - max_g).
 */
export function segmentSoftmax(x: tf.Tensor2D, idx: tf.Tensor2D, pad: tf.Tensor2D, segments: number): tf.Tensor2D {
  const a = tf.exp(tf.sub(x, segmentMaxShift(x, idx, pad, segments))) as tf.Tensor2D;
  return tf.div(a, gatherRows(segmentSum(a, idx, segments), idx));
}
