/**
 * Lennard-Jones for a batch of crystals of different sizes in one TensorFlow.js pass: the model of
 * ../lj.ts (one species pair, ASE 3.22's cut-off conventions: shifted at rc, or switched smoothly
 * between ro and rc) with the same options and defaults, so energies and forces agree with
 * `lj().computeSync` per structure to float32. One candidate list to rc (lists.ts); an atom's
 * interaction with its own images is position-independent at fixed cell and summed once in float64.
 *
 * @example
 * const model = batchedLennardJones(crystals, { epsilon: 0.0104, sigma: 3.4, rc: 8.5 });
 * const { energies, forces } = model.compute(positionsPerStructure);
 */
import * as tf from "@tensorflow/tfjs";
import type { Crystal } from "../../structure/crystal.js";
import { LennardJones, type LennardJonesOptions } from "../lj.js";
import { BatchedModel, selfShifts, type BatchOptions, type PairTerm, type StructureSetup } from "./batch.js";

export interface BatchedLennardJonesOptions extends LennardJonesOptions, BatchOptions {}

/** 4ε((σ/r)¹² − (σ/r)⁶), switched or shifted as `lj` does, in float64. */
function pairEnergy(m: LennardJones, r: number): number {
  const { epsilon: eps, sigma, rc, ro, smooth } = m;
  if (r >= rc) return 0;
  const c6 = (sigma / r) ** 6;
  const e = 4 * eps * (c6 * c6 - c6);
  if (!smooth) return e - 4 * eps * ((sigma / rc) ** 12 - (sigma / rc) ** 6);
  const r2 = r * r;
  if (r2 < ro * ro) return e;
  const rc2 = rc * rc;
  const ro2 = ro * ro;
  return (e * (rc2 - r2) ** 2 * (rc2 + 2 * r2 - 3 * ro2)) / (rc2 - ro2) ** 3;
}

/** Lennard-Jones over a batch of crystals on the TensorFlow.js backend in use. */
export class BatchedLennardJones extends BatchedModel {
  readonly name = "lj-batched";
  /** The TypeScript model whose parameters this one uses. */
  readonly model: LennardJones;
  protected readonly terms: readonly PairTerm[];

  constructor(crystals: readonly Crystal[], options: BatchedLennardJonesOptions = {}) {
    const { blockSize, chunkSize, maxMemory, neighbours, skin, ...ljOptions } = options;
    super("batchedLennardJones", { blockSize, chunkSize, maxMemory, neighbours, skin });
    const model = new LennardJones(ljOptions);
    this.model = model;
    const { epsilon: eps, sigma, rc, ro, smooth } = model;
    const e0 = 4 * eps * ((sigma / rc) ** 12 - (sigma / rc) ** 6);
    const rc2 = rc * rc;
    const ro2 = ro * ro;
    const den = (rc2 - ro2) ** 3;
    const params: readonly (readonly number[] | null)[] = [[]];
    this.terms = [
      {
        name: "Lennard-Jones",
        nParams: 0,
        table: (s) => ({ cutoff: rc, classes: new Int32Array(this.batch.counts[s]!), n: 1, params }),
        evaluate: (geo) => {
          // e = 4ε(c12 − c6), c6 = (σ²/r²)³; g = (de/dr)/r = −24ε(2 c12 − c6)/r².
          const s2 = tf.mul(geo.ir2, sigma * sigma);
          const c6 = tf.mul(tf.square(s2), s2);
          const c12 = tf.square(c6);
          let e: tf.Tensor = tf.mul(tf.sub(c12, c6), 4 * eps);
          let g: tf.Tensor = tf.mul(tf.sub(tf.mul(c12, 2), c6), tf.mul(geo.ir2, -24 * eps));
          if (smooth) {
            // ASE's switch in r² (from Jax-MD): w = (rc² − r²)² (rc² + 2r² − 3ro²)/(rc² − ro²)³ for r² >= ro²,
            // dw/d(r²) = 6 (rc² − r²)(ro² − r²)/(rc² − ro²)³; g' = w g + 2 (dw/dr²) e, e' = w e.
            const on = tf.step(tf.sub(geo.r2, ro2)); // 1 where r² > ro² (w = 1 at r² = ro² anyway)
            const a = tf.sub(rc2, geo.r2);
            const w = tf.div(tf.mul(tf.square(a), tf.sub(tf.add(tf.mul(geo.r2, 2), rc2), 3 * ro2)), den);
            const dw = tf.div(tf.mul(tf.mul(a, tf.sub(ro2, geo.r2)), 6), den);
            const ws = tf.add(1, tf.mul(on, tf.sub(w, 1)));
            g = tf.add(tf.mul(ws, g), tf.mul(tf.mul(on, dw), tf.mul(e, 2)));
            e = tf.mul(e, ws);
          } else {
            e = tf.sub(e, e0);
          }
          const mask = tf.step(tf.sub(rc, geo.r));
          return { e: tf.mul(e, mask) as tf.Tensor2D, g: tf.mul(g, mask) as tf.Tensor2D };
        },
      },
    ];
    this.init(crystals);
  }

  protected prepare(crystal: Crystal): StructureSetup {
    const { distances } = selfShifts(crystal.cell, this.model.rc);
    let e = 0;
    for (const r of distances) e += pairEnergy(this.model, r);
    return { constant: crystal.natoms * e };
  }
}

/** `new BatchedLennardJones(crystals, options)`. */
export const batchedLennardJones = (crystals: readonly Crystal[], options?: BatchedLennardJonesOptions): BatchedLennardJones =>
  new BatchedLennardJones(crystals, options);
