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

/** Adds a symmetric tensor given by its upper triangle into a row-major 3x3. */
export function addSymmetric(W: Float64Array, w00: number, w01: number, w02: number, w11: number, w12: number, w22: number): void {
  W[0]! += w00;
  W[1]! += w01;
  W[2]! += w02;
  W[3]! += w01;
  W[4]! += w11;
  W[5]! += w12;
  W[6]! += w02;
  W[7]! += w12;
  W[8]! += w22;
}

/**
 * Energy, forces and virial of central pair terms, one unordered pair at a time: the tail that the
 * pair loops of the half-list calculators (Ewald's real space, Ionic, EMT) share. For the pair (i, j)
 * with vector v from i to (the image of) j and g = (de/dr)/r, `add` does F_i += g v, F_j −= g v when
 * `forces` is given, and W += g v ⊗ v (the virial ∂E/∂ε, upper triangle) when `virial` is true; the
 * caller adds the pair energy to `energy`. Fields rather than variables captured by the pair callback:
 * V8 boxes every double written to a captured `let`, one allocation per pair, while a field is updated
 * in place, so the hot loop allocates nothing. Read the virial with `addVirialTo` or `stress`.
 */
export class PairAccumulator {
  energy = 0;
  xx = 0;
  xy = 0;
  xz = 0;
  yy = 0;
  yz = 0;
  zz = 0;

  constructor(
    readonly forces: Float64Array | undefined,
    readonly virial: boolean,
  ) {}

  add(i: number, j: number, g: number, vx: number, vy: number, vz: number): void {
    const F = this.forces;
    if (F) {
      const fx = g * vx;
      const fy = g * vy;
      const fz = g * vz;
      F[3 * i]! += fx;
      F[3 * i + 1]! += fy;
      F[3 * i + 2]! += fz;
      F[3 * j]! -= fx;
      F[3 * j + 1]! -= fy;
      F[3 * j + 2]! -= fz;
    }
    if (this.virial) {
      this.xx += g * vx * vx;
      this.xy += g * vx * vy;
      this.xz += g * vx * vz;
      this.yy += g * vy * vy;
      this.yz += g * vy * vz;
      this.zz += g * vz * vz;
    }
  }

  /** Adds the virial into a row-major 3x3. */
  addVirialTo(W: Float64Array): void {
    addSymmetric(W, this.xx, this.xy, this.xz, this.yy, this.yz, this.zz);
  }

  /** The stress, Voigt xx yy zz yz xz xy: the virial divided by `volume` (eV/Å³, ASE's sign). */
  stress(volume: number): Float64Array {
    return new Float64Array([this.xx / volume, this.yy / volume, this.zz / volume, this.yz / volume, this.xz / volume, this.xy / volume]);
  }
}
