import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Crystal } from "../../src/structure/crystal.js";
import { Lattice } from "../../src/structure/lattice.js";
import {
  kNearest,
  minimumDistance,
  neighbourList,
  periodicDistance,
  shortestLatticeVector,
} from "../../src/structure/neighbours.js";
import { brutePairs } from "../helpers/brute.js";
import { Rng } from "../../src/structure/random-source.js";

/** Uniform numbers in [0, 1) from the project's seeded generator. */
function rng(seed: number): () => number {
  const r = new Rng(seed);
  return () => r.next();
}

/** A random cell, possibly very skewed, with atoms at fractional coordinates in [-0.5, 1.5). */
function randomCrystal(seed: number, natoms: number): Crystal {
  const r = rng(seed);
  for (;;) {
    const ang = () => 25 + 130 * r();
    try {
      const lattice = Lattice.fromParameters(2 + 6 * r(), 2 + 6 * r(), 2 + 6 * r(), ang(), ang(), ang());
      if (lattice.volume < 4) continue;
      const frac = Array.from({ length: 3 * natoms }, () => -0.5 + 2 * r());
      return Crystal.fromFractional(lattice, frac, Array.from({ length: natoms }, () => 1 + Math.floor(r() * 30)));
    } catch {
      // angles that do not form a cell: draw again
    }
  }
}

const key = (i: number, j: number, s: ArrayLike<number>) => `${i},${j},${s[0]},${s[1]},${s[2]}`;

describe("neighbourList", () => {
  it("matches a brute-force all-images search on random skewed cells", () => {
    for (let seed = 1; seed <= 40; seed++) {
      const c = randomCrystal(seed, 1 + (seed % 9));
      const cutoff = 1.5 + (seed % 7);
      const list = neighbourList(c, cutoff);
      const brute = brutePairs(c, cutoff);
      assert.equal(list.count, brute.length, `seed ${seed}: pair count`);
      const ours = new Map<string, number>();
      for (let p = 0; p < list.count; p++) ours.set(key(list.i[p]!, list.j[p]!, list.shifts.subarray(3 * p)), list.distances[p]!);
      for (const b of brute) {
        const d = ours.get(key(b.i, b.j, b.shift));
        assert.ok(d !== undefined, `seed ${seed}: missing pair ${key(b.i, b.j, b.shift)}`);
        assert.ok(Math.abs(d - b.distance) < 1e-9);
      }
    }
  });

  it("vectors equal positions[j] - positions[i] + S · cell", () => {
    const c = randomCrystal(7, 6);
    const list = neighbourList(c, 4);
    const m = c.cell;
    for (let p = 0; p < list.count; p++) {
      const [i, j] = [list.i[p]!, list.j[p]!];
      const s = list.shifts.subarray(3 * p, 3 * p + 3);
      for (let d = 0; d < 3; d++) {
        const v = c.positions[3 * j + d]! - c.positions[3 * i + d]! + s[0]! * m[d]! + s[1]! * m[3 + d]! + s[2]! * m[6 + d]!;
        assert.ok(Math.abs(v - list.vectors[3 * p + d]!) < 1e-9);
      }
    }
  });

  it("groups pairs by atom (CSR) and is symmetric", () => {
    const c = randomCrystal(3, 8);
    const list = neighbourList(c, 3.5);
    for (let a = 0; a < c.natoms; a++)
      for (let p = list.start[a]!; p < list.start[a + 1]!; p++) assert.equal(list.i[p], a);
    const set = new Set<string>();
    for (let p = 0; p < list.count; p++) set.add(key(list.i[p]!, list.j[p]!, list.shifts.subarray(3 * p)));
    for (let p = 0; p < list.count; p++) {
      const s = list.shifts.subarray(3 * p);
      assert.ok(set.has(key(list.j[p]!, list.i[p]!, [-s[0]!, -s[1]!, -s[2]!])));
    }
  });

  it("counts the 12 nearest neighbours of fcc and the 6 of simple cubic, one atom per cell", () => {
    const sc = new Crystal({ cell: Lattice.cubic(2), positions: [0, 0, 0], numbers: [29] });
    assert.equal(neighbourList(sc, 2.1).count, 6);
    assert.equal(neighbourList(sc, 2.9).count, 18);
    const a = 3.6;
    const fcc = new Crystal({ cell: [[0, a / 2, a / 2], [a / 2, 0, a / 2], [a / 2, a / 2, 0]], positions: [0, 0, 0], numbers: [29] });
    assert.equal(neighbourList(fcc, a / Math.SQRT2 + 0.01).count, 12);
  });

  it("rejects a non-positive cutoff", () => {
    const sc = new Crystal({ cell: Lattice.cubic(2), positions: [0, 0, 0], numbers: [29] });
    assert.throws(() => neighbourList(sc, 0), /cutoff/);
    assert.throws(() => neighbourList(sc, Number.NaN), /cutoff/);
  });
});

describe("kNearest", () => {
  it("returns the atom's own images for a 1-atom cell", () => {
    const c = new Crystal({ cell: Lattice.fromParameters(2, 3, 4, 90, 90, 90), positions: [0.3, 0.1, 0.2], numbers: [8] });
    const knn = kNearest(c, 12);
    assert.deepEqual([...knn.indices], new Array(12).fill(0));
    assert.deepEqual([...knn.distances].map((d) => +d.toFixed(9)), [2, 2, 3, 3, 3.605551275, 3.605551275, 3.605551275, 3.605551275, 4, 4, 4, 4]); // ±a, ±b, ±a±b, then ±c and ±2a tie at 4 Å
  });

  it("agrees with brute force on random skewed cells, nearest first", () => {
    for (let seed = 100; seed < 130; seed++) {
      const c = randomCrystal(seed, 1 + (seed % 5));
      const knn = kNearest(c, 12);
      for (let a = 0; a < c.natoms; a++) {
        const row = [...knn.distances.subarray(12 * a, 12 * a + 12)];
        for (let t = 1; t < 12; t++) assert.ok(row[t]! >= row[t - 1]!);
        const cutoff = row[11]! + 1e-6;
        const brute = brutePairs(c, cutoff).filter((b) => b.i === a).map((b) => b.distance).sort((x, y) => x - y);
        const expected = brute.slice(0, 12);
        for (let t = 0; t < 12; t++) assert.ok(Math.abs(row[t]! - expected[t]!) < 1e-9, `seed ${seed} atom ${a} slot ${t}`);
      }
    }
  });

  it("is deterministic under ties", () => {
    const c = randomCrystal(5, 4);
    assert.deepEqual(kNearest(c, 12), kNearest(c, 12));
  });
});

describe("distances", () => {
  it("periodicDistance finds the shortest image in a skewed cell where the naive wrap fails", () => {
    const lattice = Lattice.fromParameters(3, 3, 3, 30, 30, 30);
    const r = rng(9);
    for (let t = 0; t < 200; t++) {
      const p = lattice.toCartesian([r(), r(), r()]);
      const q = lattice.toCartesian([r(), r(), r()]);
      const c = new Crystal({ cell: lattice, positions: [...p, ...q], numbers: [1, 1] });
      const brute = Math.min(...brutePairs(c, 10, 1).filter((b) => b.i === 0 && b.j === 1).map((b) => b.distance));
      assert.ok(Math.abs(periodicDistance(lattice, p, q) - brute) < 1e-9);
    }
  });

  it("shortestLatticeVector and minimumDistance see self images", () => {
    const lattice = Lattice.fromParameters(5, 5, 5, 20, 20, 20);
    const c = new Crystal({ cell: lattice, positions: [0, 0, 0], numbers: [1] });
    const brute = Math.min(...brutePairs(c, 6).map((b) => b.distance));
    assert.ok(Math.abs(shortestLatticeVector(lattice) - brute) < 1e-9);
    assert.ok(Math.abs(minimumDistance(c) - brute) < 1e-9);
  });
});
