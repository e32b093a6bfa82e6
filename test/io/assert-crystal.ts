import assert from "node:assert/strict";
import { Crystal } from "../../src/structure/crystal.js";
import { Lattice } from "../../src/structure/lattice.js";
import { Rng } from "../../src/structure/random-source.js";

/** Same cell (within `cellTol`), same numbers in the same order, same positions (within `posTol` Å). */
export function assertSameCrystal(actual: Crystal, expected: Crystal, cellTol = 1e-8, posTol = 1e-6): void {
  assert.equal(actual.natoms, expected.natoms, "atom count");
  assert.deepEqual(Array.from(actual.numbers), Array.from(expected.numbers), "atomic numbers");
  for (let i = 0; i < 9; i++) {
    assert.ok(Math.abs(actual.cell[i]! - expected.cell[i]!) <= cellTol, `cell[${i}]: ${actual.cell[i]} vs ${expected.cell[i]}`);
  }
  for (let i = 0; i < actual.positions.length; i++) {
    const d = Math.abs(actual.positions[i]! - expected.positions[i]!);
    assert.ok(d <= posTol, `position component ${i}: ${actual.positions[i]} vs ${expected.positions[i]}`);
  }
}

export function assertClose(actual: number, expected: number, tol: number, what = ""): void {
  assert.ok(Math.abs(actual - expected) <= tol, `${what} ${actual} vs ${expected} (tol ${tol})`);
}

/** Uniform numbers in [0, 1) from the project's seeded generator. */
export function rng(seed: number): () => number {
  const r = new Rng(seed);
  return () => r.next();
}

/** A triclinic cell with random fractional positions in [-0.2, 1.2) (some atoms outside the cell). */
export function triclinic(seed = 1): Crystal {
  const r = rng(seed);
  const lattice = Lattice.fromParameters(4.1234567, 5.31, 6.7777, 81.3, 97.65, 112.1);
  const n = 7;
  const frac = Array.from({ length: 3 * n }, () => -0.2 + 1.4 * r());
  return Crystal.fromFractional(lattice, frac, ["Sr", "Ti", "O", "O", "O", "Sr", "Ti"]);
}

/** One atom in a cubic cell. */
export function oneAtom(): Crystal {
  return Crystal.fromFractional(Lattice.cubic(2.87), [0.1, 0.2, 0.3], ["Fe"]);
}

/** Fractional coordinates of `c` wrapped into [0, 1) with a species symbol, sorted, for order-free comparison. */
export function sortedSites(c: Crystal): { s: string; f: number[] }[] {
  const frac = c.fractional();
  const wrap = (x: number): number => {
    const w = x - Math.floor(x);
    return w > 1 - 1e-6 ? 0 : w;
  };
  return sortSites(c.symbols.map((s, i) => ({ s, f: [0, 1, 2].map((d) => wrap(frac[3 * i + d]!)) })));
}

/** Sorted by species, then by coordinates rounded to 1e-4 (so float noise cannot reorder equal ones). */
function sortSites(x: { s: string; f: number[] }[]): { s: string; f: number[] }[] {
  const key = (v: { s: string; f: number[] }): string =>
    v.s + v.f.map((c) => String(Math.round((c - Math.floor(c + 5e-5)) * 1e4)).padStart(5, "0")).join(",");
  return [...x].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}

/** Expected site lists agree (after sorting both) within `tol` in every fractional component. */
export function assertSameSites(actual: { s: string; f: number[] }[], expected: { s: string; f: number[] }[], tol = 1e-6): void {
  const a = sortSites(actual);
  const e = sortSites(expected);
  assert.equal(a.length, e.length, "site count");
  a.forEach((site, i) => {
    assert.equal(site.s, e[i]!.s, `species of site ${i}`);
    site.f.forEach((x, d) => {
      const diff = x - e[i]!.f[d]!;
      assert.ok(Math.abs(diff - Math.round(diff)) <= tol, `site ${i} (${site.s}) component ${d}: ${x} vs ${e[i]!.f[d]}`);
    });
  });
}
