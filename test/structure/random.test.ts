import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Crystal } from "../../src/structure/crystal.js";
import { elementBySymbol } from "../../src/structure/elements.js";
import { Rng } from "../../src/structure/random-source.js";
import {
  COVALENT_PACKING_FACTOR,
  defaultVolumePerAtom,
  EXPERIMENTAL_VOLUMES,
  randomCrystal,
  randomCrystals,
  type RandomCrystalOptions,
} from "../../src/structure/random.js";

const SRTIO3: RandomCrystalOptions = { composition: "SrTiO3", atoms: 40 };

/**
 * The shortest distance between any two atoms, an atom and its own images included, by brute force
 * over the 5x5x5 block of cells around the home cell (every atom is inside the home cell, and every
 * height is >= 1 Å, so a contact under 1 Å can only involve shifts of -1..1: the block is ample).
 */
function bruteMinDistance(x: Crystal): number {
  const m = x.cell;
  const p = x.positions;
  let best = Infinity;
  for (let i = 0; i < x.natoms; i++)
    for (let j = i; j < x.natoms; j++)
      for (let a = -2; a <= 2; a++)
        for (let b = -2; b <= 2; b++)
          for (let c = -2; c <= 2; c++) {
            if (i === j && a === 0 && b === 0 && c === 0) continue;
            const dx = p[3 * j]! - p[3 * i]! + a * m[0]! + b * m[3]! + c * m[6]!;
            const dy = p[3 * j + 1]! - p[3 * i + 1]! + a * m[1]! + b * m[4]! + c * m[7]!;
            const dz = p[3 * j + 2]! - p[3 * i + 2]! + a * m[2]! + b * m[5]! + c * m[8]!;
            best = Math.min(best, Math.hypot(dx, dy, dz));
          }
  return best;
}

describe("randomCrystal", () => {
  it("is deterministic: same seed same crystal, different seeds different crystals", () => {
    const a = randomCrystal(SRTIO3, 1);
    assert.ok(a.equals(randomCrystal(SRTIO3, 1), 0));
    assert.ok(a.equals(randomCrystal(SRTIO3, new Rng(1)), 0));
    assert.ok(!a.equals(randomCrystal(SRTIO3, 2)));
    assert.ok(Math.abs(a.volume - randomCrystal(SRTIO3, 2).volume) > 1e-9);
  });

  it("has exactly the composition, grouped by element in the composition's order", () => {
    const x = randomCrystal(SRTIO3, 3);
    assert.equal(x.natoms, 40);
    assert.deepEqual(x.symbols, [...Array(8).fill("Sr"), ...Array(8).fill("Ti"), ...Array(24).fill("O")]);
    assert.equal(x.reducedFormula, "SrTiO3");
    // A Map composition, written in another order, keeps that order.
    const y = randomCrystal({ composition: new Map([["O", 3], ["Y", 2]]), atoms: 40 }, 3);
    assert.deepEqual(y.symbols, [...Array(24).fill("O"), ...Array(16).fill("Y")]);
    // Multiples of a formula are the same composition: Cu28S16 is 4 × Cu7S4, so 66 atoms are fine.
    const z = randomCrystal({ composition: "Cu28S16", atoms: 66 }, 3);
    assert.deepEqual(Object.fromEntries(z.composition), { Cu: 42, S: 24 });
    const g = randomCrystal({ composition: "Ca3Al2Si3O12", atoms: 80 }, 3);
    assert.deepEqual(Object.fromEntries(g.composition), { Ca: 12, Al: 8, Si: 12, O: 48 });
  });

  it("keeps 50 structures inside the volume window, the angle range and the aspect ratio, atoms in the cell", () => {
    const v = defaultVolumePerAtom("SrTiO3") * 40;
    const volumes: number[] = [];
    for (const x of randomCrystals({ ...SRTIO3, count: 50, seed: 11 })) {
      volumes.push(x.volume);
      assert.ok(x.volume >= v * 0.95 - 1e-9 && x.volume <= v * 1.05 + 1e-9, `volume ${x.volume} outside ${v} ± 5 %`);
      const p = x.lattice.parameters;
      for (const ang of [p.alpha, p.beta, p.gamma]) assert.ok(ang >= 60 - 1e-9 && ang <= 120 + 1e-9, `angle ${ang}`);
      const lengths = [p.a, p.b, p.c];
      assert.ok(Math.max(...lengths) / Math.min(...lengths) <= 3 + 1e-9, `aspect ratio of ${lengths}`);
      assert.ok(Math.min(...x.lattice.heights) >= 1);
      for (const f of x.fractional()) assert.ok(f > -1e-9 && f < 1 + 1e-9, `fractional ${f}`);
    }
    // The volumes spread over the window rather than piling up in one place.
    assert.ok(Math.min(...volumes) < v * 0.97 && Math.max(...volumes) > v * 1.03);
  });

  it("respects the minimum distance over all periodic images (brute force, 50 structures)", () => {
    for (const x of randomCrystals({ ...SRTIO3, count: 50, seed: 5 })) {
      const d = bruteMinDistance(x);
      assert.ok(d >= 1 - 1e-9, `min distance ${d} < 1 Å in ${x}`);
    }
    // A stricter minimum with a tighter cell shape, and a tiny cell where self images matter.
    for (const x of randomCrystals({ composition: "Y2O3", atoms: 40, minDistance: 1.8, count: 20, seed: 6 })) {
      assert.ok(bruteMinDistance(x) >= 1.8 - 1e-9);
    }
    for (const x of randomCrystals({ composition: "NaCl", atoms: 2, volumePerAtom: 6, minDistance: 1.5, count: 50, seed: 7 })) {
      assert.ok(bruteMinDistance(x) >= 1.5 - 1e-9, `${x}`);
    }
  });

  it("honours the shape and volume options", () => {
    const xs = randomCrystals({
      ...SRTIO3,
      volumePerAtom: 15,
      volumeJitter: 0,
      angleRange: [85, 95],
      maxAspectRatio: 1.5,
      count: 20,
      seed: 8,
    });
    for (const x of xs) {
      assert.ok(Math.abs(x.volume - 600) < 1e-6);
      const p = x.lattice.parameters;
      for (const ang of [p.alpha, p.beta, p.gamma]) assert.ok(ang >= 85 - 1e-9 && ang <= 95 + 1e-9);
      assert.ok(Math.max(p.a, p.b, p.c) / Math.min(p.a, p.b, p.c) <= 1.5 + 1e-9);
    }
  });

  it("says which atom counts are allowed when the count is not a whole number of formula units", () => {
    assert.throws(
      () => randomCrystal({ composition: "SrTiO3", atoms: 42 }, 1),
      (e: unknown) =>
        e instanceof RangeError && /SrTiO3 has 5 atoms per formula unit, so atoms must be a multiple of 5: 42 is not \(40 or 45 would do\)/.test(e.message),
    );
    assert.throws(() => randomCrystal({ composition: "Cu28S16", atoms: 40 }, 1), /Cu7S4 has 11 atoms per formula unit.*40 is not \(33 or 44/);
    assert.throws(() => randomCrystal({ composition: "Y2O3", atoms: 3 }, 1), /Y2O3 has 5 atoms per formula unit.*3 is not \(5 would do\)/);
    assert.throws(() => randomCrystal({ composition: "SrTiO3", atoms: 0 }, 1), /atoms must be a positive whole number/);
    assert.throws(() => randomCrystal({ composition: "Fe0.5O", atoms: 3 }, 1), /positive whole numbers; Fe has 0.5/);
    assert.throws(() => randomCrystal({ composition: "SrTiQ3", atoms: 5 }, 1), /unknown element "Q"|bad formula/);
    assert.throws(() => randomCrystal({ ...SRTIO3, angleRange: [120, 60] }, 1), /angleRange must be/);
    assert.throws(() => randomCrystal({ ...SRTIO3, volumeJitter: 1 }, 1), /volumeJitter must lie in \[0, 1\)/);
    assert.throws(() => randomCrystal({ ...SRTIO3, maxAspectRatio: 0.5 }, 1), /maxAspectRatio must be/);
  });

  it("fails with a clear error when the volume is too small for the minimum distance", () => {
    // Far beyond random packing: refused at once.
    const t0 = performance.now();
    assert.throws(
      () => randomCrystal({ ...SRTIO3, volumePerAtom: 0.5 }, 1),
      (e: unknown) => e instanceof Error && /volume .* is too small for minDistance 1 Å/.test(e.message) && /random placement jams/.test(e.message),
    );
    // Below the jamming limit but still too tight to fill by chance: gives up after the restarts.
    assert.throws(
      () => randomCrystal({ ...SRTIO3, volumePerAtom: 1.6, maxAttempts: 200, maxRestarts: 2 }, 1),
      (e: unknown) => e instanceof Error && /no placement after 2 restarts of up to 200 attempts per atom.*too small for minDistance/.test(e.message),
    );
    assert.ok(performance.now() - t0 < 5000);
    // An angle range that can never close a cell.
    assert.throws(() => randomCrystal({ ...SRTIO3, angleRange: [125, 130] }, 1), /no acceptable cell in \d+ draws/);
  });

  it("generates a 40-atom SrTiO3 in well under a second", () => {
    randomCrystal(SRTIO3, 0); // warm-up (module JIT)
    const t0 = performance.now();
    for (let seed = 1; seed <= 10; seed++) randomCrystal(SRTIO3, seed);
    const each = (performance.now() - t0) / 10;
    assert.ok(each < 100, `${each.toFixed(1)} ms per structure`);
    const t1 = performance.now();
    randomCrystal({ composition: "Ca3Ti2O7", atoms: 96 }, 1);
    assert.ok(performance.now() - t1 < 1000);
  });
});

describe("randomCrystals", () => {
  it("gives structure k the same whatever count is, from the stream new Rng(seed).fork(k)", () => {
    const three = randomCrystals({ ...SRTIO3, count: 3, seed: 21 });
    const ten = randomCrystals({ ...SRTIO3, count: 10, seed: 21 });
    assert.equal(three.length, 3);
    assert.equal(ten.length, 10);
    for (let k = 0; k < 3; k++) assert.ok(three[k]!.equals(ten[k]!, 0), `structure ${k}`);
    assert.ok(ten[7]!.equals(randomCrystal(SRTIO3, new Rng(21).fork(7)), 0));
    assert.ok(!ten[0]!.equals(ten[1]!));
    assert.ok(!randomCrystals({ ...SRTIO3, count: 1, seed: 22 })[0]!.equals(ten[0]!));
    assert.deepEqual(randomCrystals({ ...SRTIO3, count: 0, seed: 1 }), []);
    assert.throws(() => randomCrystals({ ...SRTIO3, count: -1, seed: 1 }), /count must be/);
    assert.throws(() => randomCrystals({ ...SRTIO3, atoms: 41, count: 0, seed: 1 }), /multiple of 5/);
  });
});

describe("defaultVolumePerAtom", () => {
  it("uses the experimental volumes for the MACS compositions, for any multiple of the formula", () => {
    // macs-spec §8.3: SrTiO3 ≈ 11.9, Y2O3 ≈ 14.9, grossular ≈ 10.4 Å³ per atom.
    assert.ok(Math.abs(defaultVolumePerAtom("SrTiO3") - 11.91) < 0.01);
    assert.equal(defaultVolumePerAtom("Sr8Ti8O24"), defaultVolumePerAtom("SrTiO3"));
    assert.ok(Math.abs(defaultVolumePerAtom("Y2O3") - 14.9) < 0.05);
    assert.ok(Math.abs(defaultVolumePerAtom("Ca3Al2Si3O12") - 10.4) < 0.05);
    assert.equal(defaultVolumePerAtom("Cu28S16"), defaultVolumePerAtom("Cu7S4"));
    for (const f of ["Ca3Ti2O7", "K3Fe5F15", "Sr2TiO4", "Sr3Ti2O7", "Sr4Ti3O10", "TiO2", "MgAl2O4", "NaCl"]) {
      const v = defaultVolumePerAtom(f);
      assert.ok(v > 8 && v < 25, `${f}: ${v}`);
    }
    assert.ok(Math.abs(defaultVolumePerAtom(new Map([["O", 3], ["Ti", 1], ["Sr", 1]])) - 11.91) < 0.01);
    assert.equal(EXPERIMENTAL_VOLUMES.length, new Set(EXPERIMENTAL_VOLUMES.map((e) => e.formula)).size);
  });

  it("falls back to covalent-sphere volumes times the packing factor", () => {
    const sphere = (s: string): number => (4 / 3) * Math.PI * elementBySymbol(s).covalentRadius ** 3;
    const expected = (COVALENT_PACKING_FACTOR * (sphere("Li") + 2 * sphere("F"))) / 3;
    assert.ok(Math.abs(defaultVolumePerAtom("LiF2") - expected) < 1e-12);
    // The factor is fitted to the table: its geometric mean ratio there is close to it.
    const logs = EXPERIMENTAL_VOLUMES.map((e) => {
      const comp = [...e.formula.matchAll(/([A-Z][a-z]?)(\d*)/g)].map((m) => [m[1]!, Number(m[2] || 1)] as const);
      const n = comp.reduce((a, [, k]) => a + k, 0);
      const cov = comp.reduce((a, [s, k]) => a + k * sphere(s), 0) / n;
      return Math.log(e.volumePerAtom / cov);
    });
    const geo = Math.exp(logs.reduce((a, b) => a + b, 0) / logs.length);
    assert.ok(Math.abs(geo - COVALENT_PACKING_FACTOR) < 0.05, `geometric mean ${geo}`);
  });

  it("is what randomCrystal uses unless volumePerAtom is given", () => {
    const x = randomCrystal({ ...SRTIO3, volumeJitter: 0 }, 4);
    assert.ok(Math.abs(x.volume - 40 * defaultVolumePerAtom("SrTiO3")) < 1e-6);
    const y = randomCrystal({ composition: "LiF2", atoms: 30, volumeJitter: 0 }, 4);
    assert.ok(Math.abs(y.volume - 30 * defaultVolumePerAtom("LiF2")) < 1e-6);
  });
});
