/**
 * Plain (gradient-free) gather and segment-sum ops for the batched calculators, each written the way
 * that is fast on the backend in use. Forces here are analytic, so nothing needs a gradient; the
 * differentiable versions MEGNet trains through live in rl/graph-batch.ts, whose measurements this
 * mirrors: the wasm backend has no UnsortedSegmentSum kernel (and cpu's loops over segments), while
 * ScatterND sums duplicate indices on every backend and is fast; on wasm GatherND is far faster than
 * GatherV2 for the same elements, on cpu GatherV2 is the faster (this machine, tfjs 4.22, 2^20 indices
 * into 2560 values: wasm GatherND 3 ms, GatherV2 46 ms; cpu GatherV2 83 ms, GatherND 540 ms).
 *
 * An index is kept in both shapes the ops want: `flat` [M] (GatherV2) and `column` [M, 1] (GatherND,
 * ScatterND), one buffer (a reshape shares the data).
 */
import * as tf from "@tensorflow/tfjs";

/** An int32 index tensor in the two shapes the ops take. */
export interface Index {
  /** [M] int32. */
  flat: tf.Tensor1D;
  /** [M, 1] int32, the same data. */
  column: tf.Tensor2D;
}

/** An `Index` of `values` (kept until `disposeIndex`). */
export function makeIndex(values: Int32Array): Index {
  const flat = tf.tensor1d(values, "int32");
  return { flat, column: tf.reshape(flat, [values.length, 1]) };
}

export function disposeIndex(index: Index): void {
  index.flat.dispose();
  index.column.dispose();
}

/** x[idx] along the first axis: [R, ...] -> [M, ...]. */
export function gatherRows<T extends tf.Tensor>(x: T, idx: Index): T {
  if (tf.getBackend() === "wasm") return tf.gatherND(x, idx.column) as T;
  return tf.gather(x, idx.flat) as T;
}

/** out[r] = Σ_{i: idx[i] = r} x[i] along the first axis, `rows` segments (0 where empty). */
export function segmentSum<T extends tf.Tensor>(x: T, idx: Index, rows: number): T {
  return tf.scatterND(idx.column, x, [rows, ...x.shape.slice(1)]) as T;
}

/**
 * Column sums of a slot-major chunk [slots, blocks] -> [blocks] (a reshape for one slot). On cpu as ones[1, slots] @ x (its
 * Sum over the first axis is slow: [8, 131072] 28 ms against 2.7 ms); elsewhere `tf.sum(x, 0)`, since
 * the wasm backend's matmul re-packs a fresh right operand each call (measured inside a force call:
 * ~4 ns per element, against ~1 ns for the Sum).
 */
export function blockSums(x: tf.Tensor2D): tf.Tensor1D {
  if (x.shape[0] === 1) return tf.reshape(x, [x.shape[1]]); // one slot per block (Verlet lists)
  if (tf.getBackend() === "cpu") return tf.reshape(tf.matMul(tf.ones([1, x.shape[0]]), x), [x.shape[1]]);
  return tf.sum(x, 0);
}
