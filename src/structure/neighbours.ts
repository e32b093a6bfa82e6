import type { Crystal } from "./crystal.js";
import type { Lattice } from "./lattice.js";

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

export type { Crystal };
