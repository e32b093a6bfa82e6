/**
 * Parity with pymatgen and ASE: data/reference/structures.json is made by scripts/make_reference.py
 * from Debian's /usr/bin/python3 (pymatgen 2022.11.7, ASE 3.22.1). Tolerance: 1e-6 relative.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { Crystal } from "../../src/structure/crystal.js";
import { kNearest, neighbourList } from "../../src/structure/neighbours.js";

interface Reference {
  name: string;
  cell: number[][];
  positions: number[][];
  numbers: number[];
  pymatgen: {
    abc: number[];
    angles: number[];
    volume: number;
    density: number;
    natoms: number;
    formula: string;
    reducedFormula: string;
    reciprocal: number[][];
    fractional: number[][];
    mass: number;
  };
  ase: {
    cutoff: number;
    pairs: number;
    distanceSum: number;
    distances: number[] | null;
    pairsPerAtom: number[];
    knn12: number[][];
  };
}

const refs: Reference[] = JSON.parse(
  readFileSync(new URL("../../data/reference/structures.json", import.meta.url), "utf8"),
).structures;

const REL = 1e-6;
function close(actual: number, expected: number, what: string): void {
  const tol = REL * Math.max(1, Math.abs(expected));
  assert.ok(Math.abs(actual - expected) <= tol, `${what}: ${actual} vs ${expected}`);
}

const crystalOf = (r: Reference) => new Crystal({ cell: r.cell, positions: r.positions.flat(), numbers: r.numbers });

describe("parity with pymatgen", () => {
  it("covers tiny, skewed and large structures", () => {
    const sizes = refs.map((r) => r.numbers.length);
    assert.ok(Math.min(...sizes) === 1 && Math.max(...sizes) >= 500);
  });

  for (const r of refs) {
    it(r.name, () => {
      const c = crystalOf(r);
      const p = r.pymatgen;
      const lat = c.lattice;
      close(lat.a, p.abc[0]!, "a");
      close(lat.b, p.abc[1]!, "b");
      close(lat.c, p.abc[2]!, "c");
      close(lat.alpha, p.angles[0]!, "alpha");
      close(lat.beta, p.angles[1]!, "beta");
      close(lat.gamma, p.angles[2]!, "gamma");
      close(c.volume, p.volume, "volume");
      close(c.density, p.density, "density");
      close(c.mass, p.mass, "mass");
      assert.equal(c.natoms, p.natoms);
      assert.equal(c.formula, p.formula);
      assert.equal(c.reducedFormula, p.reducedFormula);
      const rec = c.lattice.reciprocal().matrix;
      p.reciprocal.flat().forEach((x, k) => close(rec[k]!, x, `reciprocal[${k}]`));
      const frac = c.fractional();
      p.fractional.flat().forEach((x, k) => close(frac[k]!, x, `fractional[${k}]`));
    });
  }
});

describe("parity with ASE's neighbor_list", () => {
  for (const r of refs) {
    it(r.name, () => {
      const c = crystalOf(r);
      const a = r.ase;
      const list = neighbourList(c, a.cutoff);
      assert.equal(list.count, a.pairs, "pair count");
      close(list.distances.reduce((s, d) => s + d, 0), a.distanceSum, "sum of distances");
      for (let i = 0; i < c.natoms; i++) assert.equal(list.start[i + 1]! - list.start[i]!, a.pairsPerAtom[i], `pairs of atom ${i}`);
      if (a.distances) {
        // Sorted by atom, then distance, as the script sorts them.
        const ours: number[] = [];
        for (let i = 0; i < c.natoms; i++) ours.push(...[...list.distances.subarray(list.start[i]!, list.start[i + 1]!)].sort((x, y) => x - y));
        a.distances.forEach((d, k) => close(ours[k]!, d, `distance ${k}`));
      }
      const knn = kNearest(c, 12);
      a.knn12.forEach((row, i) => row.forEach((d, t) => close(knn.distances[12 * i + t]!, d, `atom ${i} neighbour ${t}`)));
    });
  }
});
