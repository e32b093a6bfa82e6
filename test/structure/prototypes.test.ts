import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Crystal } from "../../src/structure/crystal.js";
import { brutePairs } from "../helpers/brute.js";
import {
  cesiumChloride,
  fluorite,
  perovskite,
  prototype,
  PROTOTYPES,
  rocksalt,
  rutile,
  spinel,
  zincblende,
} from "../../src/structure/prototypes.js";

/**
 * Reference values: atom count, volume (Å³), composition and, for each ordered species pair A-B, the
 * shortest A–B distance (Å) and the smallest and largest number of B neighbours of an A atom within
 * that distance + 0.01 Å. Printed by Debian's `/usr/bin/python3` (ASE 3.22.1, pymatgen 2022.11.7):
 *
 *   from ase.build import bulk, make_supercell
 *   from pymatgen.core import Structure, Lattice
 *   from pymatgen.io.ase import AseAtomsAdaptor
 *   def sig(s, order):
 *       out, nbrs = {}, s.get_all_neighbors(6.0)
 *       for A in order:
 *           for B in order:
 *               ds = [n.nn_distance for i, site in enumerate(s) if site.specie.symbol == A
 *                     for n in nbrs[i] if n.specie.symbol == B and n.nn_distance > 1e-6]
 *               dmin = min(ds)
 *               cn = [sum(1 for n in nbrs[i] if n.specie.symbol == B and 1e-6 < n.nn_distance < dmin + 0.01)
 *                     for i, site in enumerate(s) if site.specie.symbol == A]
 *               out[f"{A}-{B}"] = [round(dmin, 6), min(cn), max(cn)]
 *       return len(s), round(s.volume, 6), s.composition, out
 *   A = AseAtomsAdaptor.get_structure
 *   sig(A(bulk("NaCl", "rocksalt", a=5.64, cubic=True)), ["Na", "Cl"])
 *   sig(A(bulk("CsCl", "cesiumchloride", a=4.123)), ["Cs", "Cl"])
 *   # ASE cannot build a cubic fluorite cell: the conventional cell from the primitive one
 *   sig(A(make_supercell(bulk("CaF2", "fluorite", a=5.463), [[-1,1,1],[1,-1,1],[1,1,-1]])), ["Ca", "F"])
 *   sig(A(bulk("ZnS", "zincblende", a=5.409, cubic=True)), ["Zn", "S"])
 *   sig(Structure.from_spacegroup("Pm-3m", Lattice.cubic(3.905), ["Sr","Ti","O"], [[0,0,0],[.5,.5,.5],[.5,.5,0]]), ["Sr","Ti","O"])
 *   sig(Structure.from_spacegroup("P4_2/mnm", Lattice.tetragonal(4.594, 2.959), ["Ti","O"], [[0,0,0],[.305,.305,0]]), ["Ti","O"])
 *   # pymatgen's plain "Fd-3m" is origin choice 1; ":2" selects origin choice 2, the setting of spinel()
 *   sig(Structure.from_spacegroup("Fd-3m:2", Lattice.cubic(8.08), ["Mg","Al","O"], [[1/8]*3,[.5]*3,[u]*3]), ["Mg","Al","O"])  # u = 0.262, 0.263
 *
 * The spinel's 32e orbit written out in prototypes.ts was also checked site by site against
 * pymatgen's "Fd-3m:2" orbit (the same 56 fractional coordinates).
 */
interface Reference {
  atoms: number;
  volume: number;
  composition: Record<string, number>;
  pairs: Record<string, [number, number, number]>;
}

const REFERENCE: Record<string, Reference> = {
  "rocksalt NaCl 5.64": {
    atoms: 8,
    volume: 179.406144,
    composition: { Na: 4, Cl: 4 },
    pairs: { "Na-Na": [3.988082, 12, 12], "Na-Cl": [2.82, 6, 6], "Cl-Na": [2.82, 6, 6], "Cl-Cl": [3.988082, 12, 12] },
  },
  "cesiumchloride CsCl 4.123": {
    atoms: 2,
    volume: 70.087409,
    composition: { Cs: 1, Cl: 1 },
    pairs: { "Cs-Cs": [4.123, 6, 6], "Cs-Cl": [3.570623, 8, 8], "Cl-Cs": [3.570623, 8, 8], "Cl-Cl": [4.123, 6, 6] },
  },
  "fluorite CaF2 5.463": {
    atoms: 12,
    volume: 163.039788,
    composition: { Ca: 4, F: 8 },
    pairs: { "Ca-Ca": [3.862924, 12, 12], "Ca-F": [2.365548, 8, 8], "F-Ca": [2.365548, 4, 4], "F-F": [2.7315, 6, 6] },
  },
  "zincblende ZnS 5.409": {
    atoms: 8,
    volume: 158.252633,
    composition: { Zn: 4, S: 4 },
    pairs: { "Zn-Zn": [3.824741, 12, 12], "Zn-S": [2.342166, 4, 4], "S-Zn": [2.342166, 4, 4], "S-S": [3.824741, 12, 12] },
  },
  "perovskite SrTiO3 3.905": {
    atoms: 5,
    volume: 59.547443,
    composition: { Sr: 1, Ti: 1, O: 3 },
    pairs: {
      "Sr-Sr": [3.905, 6, 6],
      "Sr-Ti": [3.381829, 8, 8],
      "Sr-O": [2.761252, 12, 12],
      "Ti-Sr": [3.381829, 8, 8],
      "Ti-Ti": [3.905, 6, 6],
      "Ti-O": [1.9525, 6, 6],
      "O-Sr": [2.761252, 4, 4],
      "O-Ti": [1.9525, 2, 2],
      "O-O": [2.761252, 8, 8],
    },
  },
  "rutile TiO2 4.594 2.959 0.305": {
    atoms: 6,
    volume: 62.44921,
    composition: { Ti: 2, O: 4 },
    pairs: { "Ti-Ti": [2.959, 2, 2], "Ti-O": [1.947805, 4, 4], "O-Ti": [1.947805, 2, 2], "O-O": [2.53379, 1, 1] },
  },
  "spinel MgAl2O4 8.08 0.262": {
    atoms: 56,
    volume: 527.514112,
    composition: { Mg: 8, Al: 16, O: 32 },
    pairs: {
      "Mg-Mg": [3.498743, 4, 4],
      "Mg-Al": [3.349791, 12, 12],
      "Mg-O": [1.917311, 4, 4],
      "Al-Mg": [3.349791, 6, 6],
      "Al-Al": [2.856711, 6, 6],
      "Al-O": [1.927923, 6, 6],
      "O-Mg": [1.917311, 1, 1],
      "O-Al": [1.927923, 3, 3],
      "O-O": [2.582467, 3, 3],
    },
  },
  "spinel MgAl2O4 8.08 0.263": {
    atoms: 56,
    volume: 527.514112,
    composition: { Mg: 8, Al: 16, O: 32 },
    pairs: {
      "Mg-Mg": [3.498743, 4, 4],
      "Mg-Al": [3.349791, 12, 12],
      "Mg-O": [1.931306, 4, 4],
      "Al-Mg": [3.349791, 6, 6],
      "Al-Al": [2.856711, 6, 6],
      "Al-O": [1.920713, 6, 6],
      "O-Mg": [1.931306, 1, 1],
      "O-Al": [1.920713, 3, 3],
      "O-O": [2.559613, 3, 3],
    },
  },
};

/** Every neighbour of every atom within `cutoff` as [j, distance, j, distance, ...], by brute force. */
function neighbourDistances(crystal: Crystal, cutoff: number): number[][] {
  const out: number[][] = Array.from({ length: crystal.natoms }, () => []);
  for (const b of brutePairs(crystal, cutoff, 1)) out[b.i]!.push(b.j, b.distance);
  return out;
}

function signature(crystal: Crystal, order: readonly string[]): Record<string, [number, number, number]> {
  const symbols = crystal.symbols;
  const nbrs = neighbourDistances(crystal, 6);
  const out: Record<string, [number, number, number]> = {};
  for (const A of order)
    for (const B of order) {
      let dmin = Infinity;
      const counts: number[] = [];
      symbols.forEach((s, i) => {
        if (s !== A) return;
        const row = nbrs[i]!;
        for (let k = 0; k < row.length; k += 2) if (symbols[row[k]!] === B) dmin = Math.min(dmin, row[k + 1]!);
      });
      symbols.forEach((s, i) => {
        if (s !== A) return;
        const row = nbrs[i]!;
        let n = 0;
        for (let k = 0; k < row.length; k += 2) if (symbols[row[k]!] === B && row[k + 1]! < dmin + 0.01) n++;
        counts.push(n);
      });
      out[`${A}-${B}`] = [dmin, Math.min(...counts), Math.max(...counts)];
    }
  return out;
}

function checkAgainst(crystal: Crystal, key: string): void {
  const ref = REFERENCE[key]!;
  assert.equal(crystal.natoms, ref.atoms, `${key}: atoms`);
  assert.ok(Math.abs(crystal.volume - ref.volume) < 1e-5, `${key}: volume ${crystal.volume}`);
  assert.deepEqual(Object.fromEntries(crystal.composition), ref.composition, `${key}: composition`);
  const order = Object.keys(ref.composition);
  const got = signature(crystal, order);
  for (const [pair, [d, lo, hi]] of Object.entries(ref.pairs)) {
    const g = got[pair]!;
    assert.ok(Math.abs(g[0] - d) < 2e-6, `${key} ${pair}: shortest ${g[0]} vs ${d}`);
    assert.deepEqual([g[1], g[2]], [lo, hi], `${key} ${pair}: coordination`);
  }
  const frac = crystal.fractional();
  for (const x of frac) assert.ok(x >= -1e-12 && x < 1, `${key}: fractional ${x} outside [0, 1)`);
}

describe("prototypes against ASE / pymatgen", () => {
  it("rocksalt NaCl", () => checkAgainst(rocksalt("Na", "Cl", 5.64), "rocksalt NaCl 5.64"));
  it("caesium chloride CsCl", () => checkAgainst(cesiumChloride("Cs", "Cl", 4.123), "cesiumchloride CsCl 4.123"));
  it("fluorite CaF2", () => checkAgainst(fluorite("Ca", "F", 5.463), "fluorite CaF2 5.463"));
  it("zincblende ZnS", () => checkAgainst(zincblende("Zn", "S", 5.409), "zincblende ZnS 5.409"));
  it("perovskite SrTiO3, Ti at the body centre", () => {
    const x = perovskite("Sr", "Ti", "O", 3.905);
    checkAgainst(x, "perovskite SrTiO3 3.905");
    assert.deepEqual(x.position(1), [3.905 / 2, 3.905 / 2, 3.905 / 2]);
    assert.equal(x.symbols[1], "Ti");
  });
  it("rutile TiO2 (4 Ti–O at 1.948 Å, 2 at 1.982 Å)", () => {
    const x = rutile("Ti", "O", 4.594, 2.959);
    checkAgainst(x, "rutile TiO2 4.594 2.959 0.305");
    const tiO = neighbourDistances(x, 2.1)[0]!.filter((_, k) => k % 2 === 1).sort((a, b) => a - b);
    assert.equal(tiO.length, 6);
    assert.ok(Math.abs(tiO[3]! - 1.947805) < 1e-6 && tiO[4]! - tiO[3]! > 0.03);
    // Apical Ti–O = u·a·√2.
    assert.ok(Math.abs(tiO[5]! - 0.305 * 4.594 * Math.SQRT2) < 1e-9);
  });
  it("spinel MgAl2O4, u = 0.262 and the default u = 0.263", () => {
    const x = spinel("Mg", "Al", "O", 8.08, 0.262);
    checkAgainst(x, "spinel MgAl2O4 8.08 0.262");
    checkAgainst(spinel("Mg", "Al", "O", 8.08), "spinel MgAl2O4 8.08 0.263");
    // Closed forms, origin choice 2: A–X = a√3(u − 1/8), B–X = a√(3u² − 2u + 3/8).
    const sig = signature(x, ["Mg", "Al", "O"]);
    assert.ok(Math.abs(sig["Mg-O"]![0] - 8.08 * Math.sqrt(3) * (0.262 - 0.125)) < 1e-9);
    assert.ok(Math.abs(sig["Al-O"]![0] - 8.08 * Math.sqrt(3 * 0.262 ** 2 - 2 * 0.262 + 0.375)) < 1e-9);
    // No two atoms closer than the Mg–O bond: nothing unphysical in the 56-atom cell.
    const all = neighbourDistances(x, 6).flatMap((row) => row.filter((_, k) => k % 2 === 1));
    assert.ok(Math.abs(Math.min(...all) - 1.917311) < 1e-6);
  });
});

describe("prototype() and PROTOTYPES", () => {
  it("builds every listed prototype from its example with the listed counts", () => {
    assert.equal(PROTOTYPES.length, 7);
    for (const p of PROTOTYPES) {
      const x = prototype(p.name, p.example.species, p.example.params);
      assert.equal(x.natoms, p.atoms, p.name);
      const comp = x.composition;
      p.example.species.forEach((s, i) => assert.equal(comp.get(s), p.counts[i], `${p.name} ${s}`));
      assert.equal(p.roles.length, p.example.species.length);
      assert.equal(p.counts.reduce((a, b) => a + b, 0), p.atoms);
    }
  });

  it("agrees with the direct functions and fills defaults", () => {
    assert.ok(prototype("rutile", ["Ti", "O"], { a: 4.594, c: 2.959 }).equals(rutile("Ti", "O", 4.594, 2.959, 0.305)));
    assert.ok(prototype("spinel", ["Mg", "Al", "O"], { a: 8.08 }).equals(spinel("Mg", "Al", "O", 8.08, 0.263)));
    assert.ok(prototype("rocksalt", ["Mg", "O"], { a: 4.21 }).equals(rocksalt("Mg", "O", 4.21)));
  });

  it("explains bad input", () => {
    assert.throws(() => prototype("wurtzite", ["Zn", "O"], { a: 3.25 }), /unknown prototype "wurtzite"; known: rocksalt/);
    assert.throws(() => prototype("perovskite", ["Sr", "Ti"], { a: 3.9 }), /perovskite takes 3 species \(A, B, X\), got 2/);
    assert.throws(() => prototype("rutile", ["Ti", "O"], { a: 4.6 }), /rutile needs parameter "c"/);
    assert.throws(() => prototype("rocksalt", ["Na", "Cl"], { a: 5.64, b: 1 }), /rocksalt has no parameter "b"/);
    assert.throws(() => rocksalt("Na", "Xx", 5.64), /anion "Xx" is not an element symbol/);
    assert.throws(() => rocksalt("Na", "Cl", -1), /lattice constant a must be a positive/);
    assert.throws(() => spinel("Mg", "Al", "O", 8.08, 0.387), /u must lie in \(0.125, 0.375\)/);
    assert.throws(() => rutile("Ti", "O", 4.6, 3, 0.6), /u must lie in/);
  });
});
