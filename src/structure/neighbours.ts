import type { Crystal } from "./crystal.js";
import type { Lattice } from "./lattice.js";
import { binAtoms, binReach } from "./cell-list.js";

/**
 * Periodic neighbours. Every search here covers as many image shells as the cell's face-to-face
 * heights require (ceil(r / h) along each axis), never assuming one shell is enough, so skewed and
 * tiny cells are handled like any other.
 */

/** Image shells needed along each axis so that a sphere of `radius` around any point in the cell is covered. */
export function imageShells(lattice: Lattice, radius: number): [number, number, number] {
  const h = lattice.heights;
  return [Math.ceil(radius / h[0]), Math.ceil(radius / h[1]), Math.ceil(radius / h[2])];
}

/**
 * The shortest vector q - p + n·cell over all integer n (minimum image, exact for any cell shape),
 * with its length. `p` and `q` are Cartesian (Å).
 */
export function shortestVector(
  lattice: Lattice,
  p: ArrayLike<number>,
  q: ArrayLike<number>,
): { vector: [number, number, number]; distance: number } {
  const m = lattice.matrix;
  const inv = lattice.inverse;
  const d0 = q[0]! - p[0]!;
  const d1 = q[1]! - p[1]!;
  const d2 = q[2]! - p[2]!;
  // Reduce fractional difference to [-0.5, 0.5): a good first guess, exact for near-orthogonal cells.
  const f = [0, 1, 2].map((j) => {
    const x = d0 * inv[j]! + d1 * inv[3 + j]! + d2 * inv[6 + j]!;
    return x - Math.round(x);
  });
  const r0 = [0, 1, 2].map((j) => f[0]! * m[j]! + f[1]! * m[3 + j]! + f[2]! * m[6 + j]!);
  let best = Math.hypot(r0[0]!, r0[1]!, r0[2]!);
  let bv: [number, number, number] = [r0[0]!, r0[1]!, r0[2]!];
  // Any shorter image lies within `best` of the origin: search the shells that sphere can reach.
  const [na, nb, nc] = imageShells(lattice, best);
  for (let i = -na; i <= na; i++)
    for (let j = -nb; j <= nb; j++)
      for (let k = -nc; k <= nc; k++) {
        if (i === 0 && j === 0 && k === 0) continue;
        const x = r0[0]! + i * m[0]! + j * m[3]! + k * m[6]!;
        const y = r0[1]! + i * m[1]! + j * m[4]! + k * m[7]!;
        const z = r0[2]! + i * m[2]! + j * m[5]! + k * m[8]!;
        const d = Math.hypot(x, y, z);
        if (d < best) {
          best = d;
          bv = [x, y, z];
        }
      }
  return { vector: bv, distance: best };
}

/** The shortest distance between two points of the periodic lattice (Å). */
export function periodicDistance(lattice: Lattice, p: ArrayLike<number>, q: ArrayLike<number>): number {
  return shortestVector(lattice, p, q).distance;
}

/** The shortest lattice vector length: the distance from any atom to its own nearest image (Å). */
export function shortestLatticeVector(lattice: Lattice): number {
  const m = lattice.matrix;
  let best = Math.min(lattice.a, lattice.b, lattice.c);
  const [na, nb, nc] = imageShells(lattice, best);
  for (let i = -na; i <= na; i++)
    for (let j = -nb; j <= nb; j++)
      for (let k = -nc; k <= nc; k++) {
        if (i === 0 && j === 0 && k === 0) continue;
        const d = Math.hypot(
          i * m[0]! + j * m[3]! + k * m[6]!,
          i * m[1]! + j * m[4]! + k * m[7]!,
          i * m[2]! + j * m[5]! + k * m[8]!,
        );
        if (d < best) best = d;
      }
  return best;
}


/** Pairs within a cutoff, both directions (i→j and j→i), grouped by i in increasing order. */
export interface NeighbourList {
  readonly cutoff: number;
  /** Number of atoms in the crystal. */
  readonly natoms: number;
  /** Number of pairs. */
  readonly count: number;
  readonly i: Int32Array;
  readonly j: Int32Array;
  /** Integer image shift S (3 per pair): vector = positions[j] - positions[i] + S · cell. */
  readonly shifts: Int32Array;
  /** Cartesian vector from atom i to the image of atom j (3 per pair, Å). */
  readonly vectors: Float64Array;
  readonly distances: Float64Array;
  /** CSR offsets: the pairs of atom a are [start[a], start[a + 1]). */
  readonly start: Int32Array;
}

/** Growable typed-array buffers, so the list is built in one pass without knowing its size. */
class PairBuffer {
  i: Int32Array;
  j: Int32Array;
  s: Int32Array;
  v: Float64Array;
  d: Float64Array;
  n = 0;

  constructor(capacity: number) {
    const c = Math.max(16, Math.ceil(capacity));
    this.i = new Int32Array(c);
    this.j = new Int32Array(c);
    this.s = new Int32Array(3 * c);
    this.v = new Float64Array(3 * c);
    this.d = new Float64Array(c);
  }

  push(i: number, j: number, sx: number, sy: number, sz: number, vx: number, vy: number, vz: number, d: number): void {
    if (this.n === this.i.length) this.grow();
    const n = this.n++;
    this.i[n] = i;
    this.j[n] = j;
    this.s[3 * n] = sx;
    this.s[3 * n + 1] = sy;
    this.s[3 * n + 2] = sz;
    this.v[3 * n] = vx;
    this.v[3 * n + 1] = vy;
    this.v[3 * n + 2] = vz;
    this.d[n] = d;
  }

  private grow(): void {
    const cap = this.i.length * 2;
    const resize = <T extends Int32Array | Float64Array>(a: T, size: number): T => {
      const b = new (a.constructor as { new (n: number): T })(size);
      b.set(a);
      return b;
    };
    this.i = resize(this.i, cap);
    this.j = resize(this.j, cap);
    this.s = resize(this.s, 3 * cap);
    this.v = resize(this.v, 3 * cap);
    this.d = resize(this.d, cap);
  }
}

/**
 * All pairs closer than `cutoff` (Å) over every periodic image, as ASE's `neighbor_list("ijSDd")`:
 * a cell list in fractional space (`binAtoms` of cell-list.ts, the binning `forEachPair` shares),
 * linear in N. Bins are at least `cutoff` thick along each
 * reciprocal direction, so neighbours lie within ±1 bin; when the cutoff exceeds the cell height,
 * the search reaches as many bins (and so image shells) as needed.
 */
export function neighbourList(crystal: Crystal, cutoff: number): NeighbourList {
  if (!(cutoff > 0) || !Number.isFinite(cutoff)) throw new RangeError(`cutoff must be a positive number, got ${cutoff}`);
  const n = crystal.natoms;
  const lattice = crystal.lattice;
  const m = lattice.matrix;
  const { nb, bin, binStart, order, positions: P, wrap } = binAtoms(crystal, cutoff, Math.ceil(Math.cbrt(n)) * 4 || 1);
  const [n0, n1, n2] = nb;
  const [r0, r1, r2] = binReach(lattice, nb, cutoff);
  // Slot of each atom in bin order, for its own wrapped position.
  const slot = new Int32Array(n);
  for (let p = 0; p < n; p++) slot[order[p]!] = p;

  // Expected pair count at the mean density, plus a margin, so the buffers rarely grow.
  const out = new PairBuffer(1.2 * n * Math.min(n * 27, ((4 / 3) * Math.PI * cutoff ** 3 * n) / lattice.volume) + 16);
  const start = new Int32Array(n + 1);
  const c2 = cutoff * cutoff;
  for (let a = 0; a < n; a++) {
    start[a] = out.n;
    const ba = bin[a]!;
    const bx = Math.floor(ba / (n1 * n2));
    const by = Math.floor(ba / n2) % n1;
    const bz = ba % n2;
    const sa = slot[a]!;
    const ax = P[3 * sa]!;
    const ay = P[3 * sa + 1]!;
    const az = P[3 * sa + 2]!;
    for (let ox = -r0; ox <= r0; ox++) {
      const gx = bx + ox;
      const sx = Math.floor(gx / n0);
      const cx = gx - sx * n0;
      for (let oy = -r1; oy <= r1; oy++) {
        const gy = by + oy;
        const sy = Math.floor(gy / n1);
        const cy = gy - sy * n1;
        for (let oz = -r2; oz <= r2; oz++) {
          const gz = bz + oz;
          const sz = Math.floor(gz / n2);
          const cz = gz - sz * n2;
          // Cartesian offset of this image of the bin.
          const tx = sx * m[0]! + sy * m[3]! + sz * m[6]!;
          const ty = sx * m[1]! + sy * m[4]! + sz * m[7]!;
          const tz = sx * m[2]! + sy * m[5]! + sz * m[8]!;
          const cb = (cx * n1 + cy) * n2 + cz;
          for (let p = binStart[cb]!, e = binStart[cb + 1]!; p < e; p++) {
            const vx = P[3 * p]! + tx - ax;
            const vy = P[3 * p + 1]! + ty - ay;
            const vz = P[3 * p + 2]! + tz - az;
            const d2 = vx * vx + vy * vy + vz * vz;
            if (d2 >= c2) continue;
            const b = order[p]!;
            if (b === a && sx === 0 && sy === 0 && sz === 0) continue;
            // Shift relative to the original (unwrapped) positions.
            out.push(
              a,
              b,
              sx + wrap[3 * b]! - wrap[3 * a]!,
              sy + wrap[3 * b + 1]! - wrap[3 * a + 1]!,
              sz + wrap[3 * b + 2]! - wrap[3 * a + 2]!,
              vx,
              vy,
              vz,
              Math.sqrt(d2),
            );
          }
        }
      }
    }
  }
  start[n] = out.n;
  const k = out.n;
  return {
    cutoff,
    natoms: n,
    count: k,
    i: out.i.slice(0, k),
    j: out.j.slice(0, k),
    shifts: out.s.slice(0, 3 * k),
    vectors: out.v.slice(0, 3 * k),
    distances: out.d.slice(0, k),
    start,
  };
}

/** The k nearest points of the periodic structure around every atom, nearest first. */
export interface KNearest {
  readonly k: number;
  readonly natoms: number;
  /** Atom index of each neighbour slot (N·k); an atom may fill several slots through different images. */
  readonly indices: Int32Array;
  readonly distances: Float64Array;
  /** Vector from the atom to the neighbour (N·k·3, Å). */
  readonly vectors: Float64Array;
  /** Image shift of each neighbour (N·k·3). */
  readonly shifts: Int32Array;
}

/**
 * The `k` nearest neighbours of every atom over all periodic images, the atom's own images included
 * (only the zero-shift self point is excluded), as MACS's observation needs (macs-spec §2.2, k = 12).
 * Ties are broken by atom index, then shift, so the result is deterministic.
 */
export function kNearest(crystal: Crystal, k: number): KNearest {
  if (!Number.isInteger(k) || k < 1) throw new RangeError(`k must be a positive integer, got ${k}`);
  const n = crystal.natoms;
  if (n === 0) throw new RangeError("kNearest needs at least one atom");
  // Radius of a sphere holding about 2k atoms at the mean density, at least the shortest lattice
  // vector (so a 1-atom cell finds its images); doubled until every atom has k neighbours.
  let radius = Math.max(Math.cbrt((3 * 2 * (k + 1) * crystal.volume) / (4 * Math.PI * n)), 1e-3);
  let list = neighbourList(crystal, radius);
  for (;;) {
    let min = Infinity;
    for (let a = 0; a < n; a++) min = Math.min(min, list.start[a + 1]! - list.start[a]!);
    if (min >= k) break;
    radius *= 1.5;
    list = neighbourList(crystal, radius);
  }

  const indices = new Int32Array(n * k);
  const distances = new Float64Array(n * k);
  const vectors = new Float64Array(n * k * 3);
  const shifts = new Int32Array(n * k * 3);
  const { j, shifts: S, vectors: V, distances: D, start } = list;
  const cmp = (p: number, q: number): number =>
    D[p]! - D[q]! || j[p]! - j[q]! || S[3 * p]! - S[3 * q]! || S[3 * p + 1]! - S[3 * q + 1]! || S[3 * p + 2]! - S[3 * q + 2]!;
  for (let a = 0; a < n; a++) {
    const seg: number[] = [];
    for (let p = start[a]!; p < start[a + 1]!; p++) seg.push(p);
    seg.sort(cmp);
    for (let t = 0; t < k; t++) {
      const p = seg[t]!;
      const o = a * k + t;
      indices[o] = j[p]!;
      distances[o] = D[p]!;
      for (let d = 0; d < 3; d++) {
        vectors[3 * o + d] = V[3 * p + d]!;
        shifts[3 * o + d] = S[3 * p + d]!;
      }
    }
  }
  return { k, natoms: n, indices, distances, vectors, shifts };
}

/** The shortest distance between any two points of the periodic structure (an atom's own images included). */
export function minimumDistance(crystal: Crystal): number {
  if (crystal.natoms === 0) return Infinity;
  return kNearest(crystal, 1).distances.reduce((a, b) => Math.min(a, b), Infinity);
}
