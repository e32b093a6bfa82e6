import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { binAtoms, forEachPair } from "../../src/structure/cell-list.js";
import { Crystal } from "../../src/structure/crystal.js";
import { Lattice } from "../../src/structure/lattice.js";
import { Rng } from "../../src/structure/random-source.js";
import { brutePairs } from "../helpers/brute.js";

/** A random, possibly very skewed cell with atoms at fractional coordinates in [-0.5, 1.5). */
function skewed(seed: number, natoms: number): Crystal {
  const r = new Rng(seed);
  for (;;) {
    const ang = () => 25 + 130 * r.next();
    try {
      const lattice = Lattice.fromParameters(2 + 6 * r.next(), 2 + 6 * r.next(), 2 + 6 * r.next(), ang(), ang(), ang());
      if (lattice.volume < 4) continue;
      const frac = Array.from({ length: 3 * natoms }, () => -0.5 + 2 * r.next());
      return Crystal.fromFractional(lattice, frac, new Array(natoms).fill(8));
    } catch {
      // angles that do not form a cell: draw again
    }
  }
}

describe("binAtoms", () => {
  it("wraps every atom into the cell and sorts the atoms by bin (CSR)", () => {
    for (let seed = 1; seed <= 10; seed++) {
      const c = skewed(seed, 1 + (seed % 7) * 3);
      const cells = binAtoms(c, 0.7 + (seed % 3));
      const { nb, bin, binStart, order, positions, wrap } = cells;
      assert.equal(binStart[nb[0] * nb[1] * nb[2]], c.natoms);
      assert.deepEqual(Array.from(order).sort((a, b) => a - b), Array.from({ length: c.natoms }, (_, a) => a));
      const m = c.cell;
      for (let b = 0; b < nb[0] * nb[1] * nb[2]; b++)
        for (let p = binStart[b]!; p < binStart[b + 1]!; p++) {
          const a = order[p]!;
          assert.equal(bin[a], b);
          const frac = c.lattice.toFractional(positions.subarray(3 * p, 3 * p + 3));
          for (let d = 0; d < 3; d++) {
            assert.ok(frac[d]! > -1e-9 && frac[d]! < 1 + 1e-9, `seed ${seed}: wrapped into the cell`);
            // wrapped = original + w · cell
            const want = c.positions[3 * a + d]! + wrap[3 * a]! * m[d]! + wrap[3 * a + 1]! * m[3 + d]! + wrap[3 * a + 2]! * m[6 + d]!;
            assert.ok(Math.abs(positions[3 * p + d]! - want) < 1e-9);
          }
        }
    }
  });
});

describe("forEachPair", () => {
  it("visits each unordered pair of a brute-force all-images search once, cut-offs beyond the cell included", () => {
    for (let seed = 1; seed <= 30; seed++) {
      const c = skewed(seed, 1 + (seed % 6));
      const cutoff = [0.8, 2.5, 6, 13][seed % 4]!;
      type Pair = [number, number, number];
      const byAtomsThenDistance = (a: Pair, b: Pair) => a[0] - b[0] || a[1] - b[1] || a[2] - b[2];
      // Brute force lists i→j and j→i (and S, −S for an atom's own images): keep one of each.
      const positive = (s: [number, number, number]) => s[0] > 0 || (s[0] === 0 && (s[1] > 0 || (s[1] === 0 && s[2] > 0)));
      const want: Pair[] = brutePairs(c, cutoff)
        .filter((p) => p.i < p.j || (p.i === p.j && positive(p.shift)))
        .map((p): Pair => [p.i, p.j, p.distance])
        .sort(byAtomsThenDistance);
      const got: Pair[] = [];
      forEachPair(c, cutoff, (b) => {
        for (let p = 0; p < b.count; p++) got.push([Math.min(b.i[p]!, b.j[p]!), Math.max(b.i[p]!, b.j[p]!), Math.sqrt(b.r2[p]!)]);
      });
      got.sort(byAtomsThenDistance);
      assert.equal(got.length, want.length, `seed ${seed}, cutoff ${cutoff}: pair count`);
      got.forEach((g, k) => {
        const w = want[k]!;
        assert.ok(g[0] === w[0] && g[1] === w[1] && Math.abs(g[2] - w[2]) < 1e-9, `seed ${seed}, cutoff ${cutoff}: pair ${k}`);
      });
    }
  });

  it("gives the same pairs for cells visited in turn (cached stencils), past the cache's size too", () => {
    const summary = (c: Crystal): string => {
      let count = 0;
      let sum = 0;
      forEachPair(c, 4, (b) => {
        count += b.count;
        for (let p = 0; p < b.count; p++) sum += Math.sqrt(b.r2[p]!);
      });
      return `${count} ${sum.toFixed(9)}`;
    };
    const cells = Array.from({ length: 300 }, (_, k) => skewed(100 + k, 2));
    const first = cells.map(summary);
    // in reverse: the newest are cached, the oldest were evicted; then one cell interleaved with others
    assert.deepEqual(cells.map((_, k) => summary(cells[cells.length - 1 - k]!)).reverse(), first);
    for (let k = 0; k < 10; k++) assert.equal(summary(cells[k % 3]!), first[k % 3]);
  });
});
