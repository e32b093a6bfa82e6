import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Crystal } from "../../src/structure/crystal.js";
import { elementBySymbol, symbolOf } from "../../src/structure/elements.js";
import { parseFormula, reduceFormula } from "../../src/structure/formula.js";
import { Lattice, wrapFractional } from "../../src/structure/lattice.js";
import { minimumDistance } from "../../src/structure/neighbours.js";

describe("Lattice", () => {
  it("round-trips parameters for a triclinic cell", () => {
    const l = Lattice.fromParameters(4.1, 5.3, 6.2, 63, 78, 101);
    const p = l.parameters;
    for (const [k, v] of Object.entries({ a: 4.1, b: 5.3, c: 6.2, alpha: 63, beta: 78, gamma: 101 })) {
      assert.ok(Math.abs(p[k as keyof typeof p] - v) < 1e-10, k);
    }
    const again = Lattice.fromLatticeParameters(p);
    assert.ok(again.equals(l, 1e-10));
  });

  it("converts fractional <-> Cartesian and wraps into [0, 1)", () => {
    const l = Lattice.fromParameters(3, 4, 5, 80, 95, 110);
    const frac = [0.1, -0.2, 1.3, 0.999999999999999, 2, -1e-17];
    const back = l.toFractional(l.toCartesian(frac));
    frac.forEach((x, k) => assert.ok(Math.abs(back[k]! - x) < 1e-12));
    const w = wrapFractional(frac);
    assert.deepEqual([...w].map((x) => +x.toFixed(12)), [0.1, 0.8, 0.3, 0, 0, 0]);
  });

  it("has a reciprocal with a_i · b_j = 2π δ_ij and face heights of 1/|b_j|", () => {
    const l = Lattice.fromParameters(3, 4, 5, 70, 95, 115);
    const r = l.reciprocal().matrix;
    for (let i = 0; i < 3; i++)
      for (let j = 0; j < 3; j++) {
        const dot = [0, 1, 2].reduce((s, d) => s + l.matrix[3 * i + d]! * r[3 * j + d]!, 0);
        assert.ok(Math.abs(dot - (i === j ? 2 * Math.PI : 0)) < 1e-12);
      }
    const rc = l.reciprocal({ twoPi: false });
    l.heights.forEach((h, j) => assert.ok(Math.abs(h - 1 / Math.hypot(...rc.vector(j))) < 1e-12));
  });

  it("rejects degenerate cells and impossible angles with the parameter named", () => {
    assert.throws(() => new Lattice([1, 0, 0, 2, 0, 0, 0, 0, 1]), /linearly dependent/);
    assert.throws(() => Lattice.fromParameters(1, 1, 1, 10, 10, 100), /do not form a cell/);
    assert.throws(() => Lattice.fromParameters(-1, 1, 1, 90, 90, 90), /length a/);
    assert.throws(() => Lattice.fromParameters(1, 1, 1, 90, 180, 90), /angle beta/);
    assert.throws(() => new Lattice([1, 0, 0, 0, Number.NaN, 0, 0, 0, 1]), /component 4/);
  });
});

describe("Crystal", () => {
  const sto = Crystal.fromFractional(Lattice.cubic(3.905), [0, 0, 0, 0.5, 0.5, 0.5, 0.5, 0.5, 0, 0.5, 0, 0.5, 0, 0.5, 0.5], ["Sr", "Ti", "O", "O", "O"]);

  it("knows its formula, mass and density", () => {
    assert.equal(sto.formula, "SrTiO3");
    assert.equal(sto.reducedFormula, "SrTiO3");
    assert.equal(sto.natoms, 5);
    // 183.4822 amu in 59.547 Å³: 5.117 g/cm³, SrTiO3's known X-ray density.
    assert.ok(Math.abs(sto.density - 5.117) < 0.001);
  });

  it("makes diagonal supercells", () => {
    const s = sto.supercell([2, 2, 2]);
    assert.equal(s.natoms, 40);
    assert.equal(s.formula, "Sr8Ti8O24");
    assert.equal(s.reducedFormula, "SrTiO3");
    assert.equal(s.formulaUnits, 8);
    assert.ok(Math.abs(s.volume - 8 * sto.volume) < 1e-9);
    assert.ok(Math.abs(s.density - sto.density) < 1e-12);
  });

  it("makes supercells from a general integer matrix, every atom an image of an original", () => {
    const tri = Crystal.fromFractional(Lattice.fromParameters(3, 4, 5, 80, 95, 110), [0.1, 0.2, 0.3, 0.6, 0.7, 0.1], ["Mg", "O"]);
    const P = [[1, 1, 0], [-1, 1, 0], [0, 1, 2]];
    const s = tri.supercell(P);
    assert.equal(s.natoms, 8);
    assert.ok(Math.abs(s.volume - 4 * tri.volume) < 1e-9);
    const f = tri.lattice.toFractional(s.positions);
    const base = tri.fractional();
    for (let a = 0; a < s.natoms; a++) {
      const src = s.numbers[a] === 12 ? 0 : 1;
      for (let d = 0; d < 3; d++) {
        const diff = f[3 * a + d]! - base[3 * src + d]!;
        assert.ok(Math.abs(diff - Math.round(diff)) < 1e-9);
      }
    }
    assert.ok(Math.abs(minimumDistance(s) - minimumDistance(tri)) < 1e-9);
    assert.throws(() => tri.supercell([[1, 0, 0], [1, 0, 0], [0, 0, 1]]), /positive determinant/);
    assert.throws(() => tri.supercell([1.5, 1, 1]), /integers/);
  });

  it("rattles atoms with seeded Gaussian noise", () => {
    const big = sto.supercell([4, 4, 4]);
    const r = big.rattled(0.1, 7);
    assert.ok(r.equals(big.rattled(0.1, 7)));
    assert.ok(!r.equals(big.rattled(0.1, 8)));
    const d = r.positions.map((x, k) => x - big.positions[k]!);
    const sd = Math.sqrt(d.reduce((s, x) => s + x * x, 0) / d.length);
    assert.ok(Math.abs(sd - 0.1) < 0.01, `sd ${sd}`);
    assert.throws(() => big.rattled(-1), /stdev/);
  });

  it("strains cell and atoms together: fractional coordinates kept, volume times det(I + ε)", () => {
    const tri = Crystal.fromFractional(Lattice.fromParameters(3, 4, 5, 80, 95, 110), [0.1, 0.2, 0.3, 0.6, 0.7, 0.1], ["Mg", "O"]);
    const s = tri.strained([0.01, 0.002, 0, 0.002, -0.02, 0.003, 0, 0.003, 0.005]);
    const det = 1.01 * (0.98 * 1.005 - 0.003 * 0.003) - 0.002 * (0.002 * 1.005);
    assert.ok(Math.abs(s.volume - det * tri.volume) < 1e-9);
    const a = s.fractional();
    tri.fractional().forEach((x, k) => assert.ok(Math.abs(a[k]! - x) < 1e-12));
    assert.throws(() => tri.strained([0, 0, 0]), /9 components/);
  });

  it("wraps atoms without moving them in the periodic sense", () => {
    const c = Crystal.fromFractional(Lattice.cubic(4), [1.25, -0.5, 2.0], ["Cu"]);
    assert.deepEqual([...c.wrapped().fractional()].map((x) => +x.toFixed(12)), [0.25, 0.5, 0]);
  });

  it("rejects bad atoms with the atom named", () => {
    assert.throws(() => new Crystal({ cell: Lattice.cubic(3), positions: [0, 0], numbers: [1] }), /needs 3 position/);
    assert.throws(() => new Crystal({ cell: Lattice.cubic(3), positions: [0, 0, 0, 1, Number.NaN, 0], numbers: [1, 1] }), /atom 1/);
    assert.throws(() => new Crystal({ cell: Lattice.cubic(3), positions: [0, 0, 0], numbers: ["Xx"] }), /unknown element symbol "Xx"/);
    assert.throws(() => new Crystal({ cell: Lattice.cubic(3), positions: [0, 0, 0], numbers: [0] }), /atomic number 0/);
  });
});

describe("elements and formulas", () => {
  it("looks elements up both ways", () => {
    assert.equal(elementBySymbol("O").z, 8);
    assert.equal(symbolOf(38), "Sr");
    assert.ok(Math.abs(elementBySymbol("Cu").covalentRadius - 1.32) < 1e-12);
  });

  it("parses formulas with groups and fractions", () => {
    assert.deepEqual([...parseFormula("Ca3(PO4)2")], [["Ca", 3], ["P", 2], ["O", 8]]);
    assert.deepEqual([...parseFormula("Fe0.5O")], [["Fe", 0.5], ["O", 1]]);
    assert.deepEqual([...parseFormula("CoO")], [["Co", 1], ["O", 1]]);
    assert.throws(() => parseFormula("SrTiQ3"), /character 5/);
    assert.throws(() => parseFormula("Ca3(PO4"), /missing "\)"/);
    assert.throws(() => parseFormula(""), /empty/);
  });

  it("reduces formulas as pymatgen does", () => {
    assert.equal(reduceFormula(parseFormula("Ca6P4O16")).formula, "Ca3(PO4)2");
    assert.equal(reduceFormula(parseFormula("Y4O6")).formula, "Y2O3");
    assert.equal(reduceFormula(parseFormula("O24Ti8Sr8")).formula, "SrTiO3");
    assert.equal(reduceFormula(parseFormula("Ca3Al2Si3O12")).formula, "Ca3Al2(SiO4)3");
  });
});

describe("Lattice degeneracy", () => {
  it("refuses α = β = γ = 120°, a flat cell that rounding leaves barely positive", () => {
    assert.throws(() => Lattice.fromParameters(3, 3, 3, 120, 120, 120), /do not form a cell|linearly dependent/);
  });
});
