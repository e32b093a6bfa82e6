import type { Crystal } from "../../src/structure/crystal.js";
import { imageShells } from "../../src/structure/neighbours.js";

export interface BrutePair {
  i: number;
  j: number;
  shift: [number, number, number];
  distance: number;
}

/**
 * Every pair closer than `cutoff` by enumerating all images in a generous block: the shells a sphere
 * of `cutoff` needs plus `extra` on each side, for positions that sit outside the cell.
 */
export function brutePairs(crystal: Crystal, cutoff: number, extra = 2): BrutePair[] {
  const m = crystal.cell;
  const [na, nb, nc] = imageShells(crystal.lattice, cutoff).map((x) => x + extra) as [number, number, number];
  const out: BrutePair[] = [];
  const p = crystal.positions;
  for (let i = 0; i < crystal.natoms; i++)
    for (let j = 0; j < crystal.natoms; j++)
      for (let a = -na; a <= na; a++)
        for (let b = -nb; b <= nb; b++)
          for (let c = -nc; c <= nc; c++) {
            if (i === j && a === 0 && b === 0 && c === 0) continue;
            const v = [0, 1, 2].map((d) => p[3 * j + d]! - p[3 * i + d]! + a * m[d]! + b * m[3 + d]! + c * m[6 + d]!);
            const dist = Math.hypot(v[0]!, v[1]!, v[2]!);
            if (dist < cutoff) out.push({ i, j, shift: [a, b, c], distance: dist });
          }
  return out;
}
