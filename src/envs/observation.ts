/**
 * The MACS observation of every atom (macs-spec §2.2, eq. 2), assembled from the feature vectors of
 * all atoms (computed first: spec pitfall 4) and the periodic k-nearest-neighbour list:
 *
 *   o_i = [ f_i (12) | f_{n_i1} … f_{n_ik} (12k) | |r_i1| … |r_ik| (k) | r_i1 … r_ik (3k) ]
 *
 * neighbours nearest first, images (the atom's own ones included) as separate slots, relative
 * vectors neighbour − atom (Å). k = 12 gives 204 numbers. No absolute or fractional coordinates.
 */
import type { KNearest } from "../structure/neighbours.js";
import { FEATURES } from "./features.js";

/** Length of one atom's observation for `k` neighbours: 12 + 12k + k + 3k. */
export function observationSize(k: number): number {
  return FEATURES * (k + 1) + 4 * k;
}

/** The paper's observation length (k = 12). */
export const OBS_SIZE = observationSize(12); // 204

/** Where each block of an atom's observation starts (and the total size). */
export interface ObservationLayout {
  k: number;
  /** Own features: [self, self + 12). */
  self: number;
  /** Neighbour j's features: [neighbours + 12 j, neighbours + 12 (j + 1)). */
  neighbours: number;
  /** Distance to neighbour j: distances + j. */
  distances: number;
  /** Vector to neighbour j: [vectors + 3 j, vectors + 3 j + 3). */
  vectors: number;
  size: number;
}

export function observationLayout(k = 12): ObservationLayout {
  const neighbours = FEATURES;
  const distances = neighbours + FEATURES * k;
  const vectors = distances + k;
  return { k, self: 0, neighbours, distances, vectors, size: vectors + 3 * k };
}

/**
 * Writes the observations of one structure's atoms into `out`, starting at float `offset` (atom i's
 * row at offset + i·size). `features` is N × 12, `knn` the structure's k nearest neighbours.
 */
export function writeObservations(features: Float32Array, knn: KNearest, out: Float32Array, offset: number): void {
  const { k, natoms: n, indices, distances, vectors } = knn;
  const size = observationSize(k);
  const dOff = FEATURES * (k + 1);
  const vOff = dOff + k;
  for (let i = 0; i < n; i++) {
    const row = offset + i * size;
    const fi = FEATURES * i;
    for (let q = 0; q < FEATURES; q++) out[row + q] = features[fi + q]!;
    const base = i * k;
    for (let j = 0; j < k; j++) {
      const src = FEATURES * indices[base + j]!;
      const dst = row + FEATURES * (j + 1);
      for (let q = 0; q < FEATURES; q++) out[dst + q] = features[src + q]!;
      out[row + dOff + j] = distances[base + j]!;
      const v = 3 * (base + j);
      const w = row + vOff + 3 * j;
      out[w] = vectors[v]!;
      out[w + 1] = vectors[v + 1]!;
      out[w + 2] = vectors[v + 2]!;
    }
  }
}
