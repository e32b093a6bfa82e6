/**
 * Tensor operations that are slow in some TensorFlow.js backend, written the fast way (the same
 * values as the plain op: a transpose only moves data; column sums may round differently).
 *
 * Measured on the wasm backend (tfjs 4.22, SIMD, one thread, this machine; `bench/sac.ts`):
 * - `tf.transpose` of a 2-D [rows, cols] tensor takes a slow path: [1024, 256] 2.0 ms, [8192, 256]
 *   35 ms. Viewed as [rows/32, 32, cols], transposed per block ([0, 2, 1]) and then block-wise
 *   ([1, 0, 2]), the same result takes 0.17 ms and 1.5 ms.
 * - `tf.sum(x, 0)` over the rows of [8192, 256] takes 36 ms; ones[1, rows] @ x takes 0.23 ms.
 * On the cpu backend the plain transpose is the faster (two-pass: 3x slower) and ones @ x beats
 * `tf.sum(x, 0)` 14-fold ([8192, 256]: 3.7 ms against 53 ms).
 * - `tf.matMul` with `transposeA` or `transposeB` leaves XNNPACK: at 1024x256x256, 138 ms and 41 ms
 *   against 3 ms for the plain product (so dense-layer gradients transpose explicitly, see rl/networks).
 */
import * as tf from "@tensorflow/tfjs";

/** Block height of the two-pass transpose (the fastest of 32..512 at 1024 and 8192 rows). */
const BLOCK = 32;

/** The transpose of a 2-D tensor; on wasm via a blocked two-pass permutation when `rows` is a multiple of 32. */
export function transpose2d(x: tf.Tensor2D): tf.Tensor2D {
  const [rows, cols] = x.shape;
  if (rows === 1 || cols === 1) return tf.reshape(x, [cols, rows]); // a vector: the same data
  if (rows % BLOCK !== 0 || rows <= BLOCK || tf.getBackend() !== "wasm") return tf.transpose(x);
  return tf.tidy(() => {
    const blocks = tf.reshape(x, [rows / BLOCK, BLOCK, cols]);
    const inner = tf.transpose(blocks, [0, 2, 1]); // [rows/32, cols, 32]
    return tf.reshape(tf.transpose(inner, [1, 0, 2]), [cols, rows]) as tf.Tensor2D; // [cols, rows/32, 32]
  });
}

/** Column sums of a [rows, cols] tensor as a [cols] vector, computed as ones[1, rows] @ x. */
export function columnSums(x: tf.Tensor2D): tf.Tensor1D {
  return tf.tidy(() => tf.reshape(tf.matMul(tf.ones([1, x.shape[0]]), x), [x.shape[1]]) as tf.Tensor1D);
}

/*
 * Row gathers and segment sums, without gradients (rl/graph-batch.ts wraps them with their own; the
 * batched calculators need none). The wasm backend has no UnsortedSegmentSum kernel (and cpu's loops
 * over segments), while ScatterND sums duplicate indices on every backend and is fast (wasm, [4096, 64]
 * into 512 rows: 0.15 ms). On wasm GatherND is ~10x faster than GatherV2 for the same rows; on cpu
 * GatherV2 is the faster (2^20 indices into 2560 values: wasm GatherND 3 ms, GatherV2 46 ms; cpu
 * GatherV2 83 ms, GatherND 540 ms).
 */

/** Rows `column` ([M, 1] int32) of x along its first axis: [M, ...]; `flat` is the same index as [M], if the caller keeps one. */
export function takeRows<T extends tf.Tensor>(x: T, column: tf.Tensor2D, flat?: tf.Tensor1D): T {
  if (tf.getBackend() === "wasm") return tf.gatherND(x, column) as T;
  return tf.tidy(() => tf.gather(x, flat ?? tf.reshape(column, [column.shape[0]]))) as T;
}

/** out[r] = Σ_{i: column[i] = r} x[i] along the first axis, `rows` rows (0 where none). */
export function segmentSumRows<T extends tf.Tensor>(x: T, column: tf.Tensor2D, rows: number): T {
  return tf.scatterND(column, x, [rows, ...x.shape.slice(1)]) as T;
}
