/**
 * Gather and segment-sum ops for the batched calculators on an `Index` kept in both shapes the fast ops
 * take (tensor/ops.ts: `takeRows`, `segmentSumRows`, and why they are what they are): `flat` [M]
 * (GatherV2) and `column` [M, 1] (GatherND, ScatterND), one buffer (a reshape shares the data). Forces
 * here are analytic, so nothing needs a gradient.
 */
import * as tf from "@tensorflow/tfjs";
import { segmentSumRows, takeRows } from "../../tensor/ops.js";

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

/** x[idx] along the first axis: [R, ...] -> [M, ...] (tensor/ops' takeRows, the fast op per backend). */
export function gatherRows<T extends tf.Tensor>(x: T, idx: Index): T {
  return takeRows(x, idx.column, idx.flat);
}

/** out[r] = Σ_{i: idx[i] = r} x[i] along the first axis, `rows` segments (0 where empty). */
export function segmentSum<T extends tf.Tensor>(x: T, idx: Index, rows: number): T {
  return segmentSumRows(x, idx.column, rows);
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
