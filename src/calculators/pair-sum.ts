import type { Crystal } from "../structure/crystal.js";
import { neighbourList } from "../structure/neighbours.js";
import type { Computed, ComputeRequest } from "./calculator.js";

/**
 * A pair term: writes the pair energy e(r) and its derivative de/dr into `out[0]`, `out[1]` for
 * atoms of atomic numbers zi, zj at distance r (< cutoff). Writing into `out` keeps the hot loop
 * free of allocations.
 */
export type PairTerm = (zi: number, zj: number, r: number, out: Float64Array) => void;

/**
 * Energy, forces and stress of a sum of pair terms over all pairs closer than `cutoff`, every
 * periodic image included: E = ½ Σ_{i≠j} e(r_ij); F_i = Σ_j e'(r) r̂_ij; σ = (1/2V) Σ e'(r) r̂ ⊗ r.
 * The full neighbour list visits each pair twice, hence the halves.
 */
export function pairSum(crystal: Crystal, cutoff: number, term: PairTerm, request: Required<ComputeRequest>): Computed {
  const n = crystal.natoms;
  const list = neighbourList(crystal, cutoff);
  const z = crystal.numbers;
  const energies = new Float64Array(n);
  const forces = request.forces ? new Float64Array(3 * n) : undefined;
  const s = request.stress ? new Float64Array(9) : undefined;
  const out = new Float64Array(2);
  const { i: I, j: J, vectors: V, distances: D } = list;
  for (let p = 0; p < list.count; p++) {
    const i = I[p]!;
    const r = D[p]!;
    term(z[i]!, z[J[p]!]!, r, out);
    energies[i]! += 0.5 * out[0]!;
    if (!forces && !s) continue;
    const g = out[1]! / r; // de/dr · r̂ / r per component of the vector
    const vx = V[3 * p]!;
    const vy = V[3 * p + 1]!;
    const vz = V[3 * p + 2]!;
    if (forces) {
      forces[3 * i]! += g * vx;
      forces[3 * i + 1]! += g * vy;
      forces[3 * i + 2]! += g * vz;
    }
    if (s) {
      const h = 0.5 * g;
      s[0]! += h * vx * vx;
      s[1]! += h * vx * vy;
      s[2]! += h * vx * vz;
      s[4]! += h * vy * vy;
      s[5]! += h * vy * vz;
      s[8]! += h * vz * vz;
    }
  }
  let energy = 0;
  for (let a = 0; a < n; a++) energy += energies[a]!;
  const result: Computed = { energy, energies };
  if (forces) result.forces = forces;
  if (s) result.stress = voigt(s, crystal.volume);
  return result;
}

/** Voigt 6 (xx yy zz yz xz xy) of the upper triangle of a 3x3 row-major tensor, divided by `volume`. */
export function voigt(t: ArrayLike<number>, volume: number): Float64Array {
  return new Float64Array([t[0]! / volume, t[4]! / volume, t[8]! / volume, t[5]! / volume, t[2]! / volume, t[1]! / volume]);
}
