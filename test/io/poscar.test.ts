import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { ParseError } from "../../src/io/errors.js";
import { formatPoscar, parsePoscar } from "../../src/io/poscar.js";
import { Crystal } from "../../src/structure/crystal.js";
import { Lattice } from "../../src/structure/lattice.js";
import { assertClose, assertSameCrystal, oneAtom, triclinic } from "./assert-crystal.js";

const fixture = (name: string): string => readFileSync(new URL(`../fixtures/${name}`, import.meta.url), "utf8");

test("ASE-written POSCAR (VASP 5, selective dynamics, interleaved species)", () => {
  // Made with /usr/bin/python3, ASE 3.22.1:
  //   a = bulk("NaCl", "rocksalt", a=5.64).repeat((2, 1, 1)); a.rattle(stdev=0.03, seed=7)
  //   a.set_constraint(FixAtoms(indices=[0]))
  //   ase.io.write("ase-nacl.vasp", a, format="vasp", direct=True, vasp5=True)
  // and a.cell, a.positions printed below.
  const c = parsePoscar(fixture("ase-nacl.vasp"), { file: "ase-nacl.vasp" });
  assert.deepEqual(c.symbols, ["Na", "Cl", "Na", "Cl"]);
  const cell = [0.0, 5.64, 5.64, 2.82, 0.0, 2.82, 2.82, 2.82, 0.0];
  cell.forEach((x, i) => assertClose(c.cell[i]!, x, 1e-14, `cell ${i}`));
  const positions = [
    [0.05071577111401068, -0.013978121116224982, 0.000984604910357532],
    [2.832225488489895, -0.023667690858772156, 6.19671871784439e-5],
    [-2.6711575737940882e-5, 2.767358270809637, 2.850529740169905],
    [2.838014955477586, 2.801237130780997, 2.814853552164128],
  ];
  positions.flat().forEach((x, i) => assertClose(c.positions[i]!, x, 1e-12, `position ${i}`));
});

const SRTIO3 = `SrTiO3 cubic
 3.905
 1.0 0.0 0.0
 0.0 1.0 0.0
 0.0 0.0 1.0
 Sr Ti O
 1 1 3
Direct
 0.0 0.0 0.0
 0.5 0.5 0.5
 0.5 0.5 0.0
 0.5 0.0 0.5
 0.0 0.5 0.5
`;

test("scale factor multiplies the cell; direct coordinates", () => {
  const c = parsePoscar(SRTIO3);
  assert.equal(c.reducedFormula, "SrTiO3");
  assertClose(c.lattice.a, 3.905, 1e-14);
  assert.deepEqual(c.position(1), [1.9525, 1.9525, 1.9525]);
});

test("negative scale factor is the target volume", () => {
  const c = parsePoscar(SRTIO3.replace(" 3.905\n", " -64.0\n"));
  assertClose(c.volume, 64, 1e-10, "volume");
  assertClose(c.position(1)[0], 2, 1e-12, "Ti x");
});

test("three scale factors scale x, y and z", () => {
  const c = parsePoscar(SRTIO3.replace(" 3.905\n", " 2 3 4\n"));
  assert.deepEqual(Array.from(c.cell), [2, 0, 0, 0, 3, 0, 0, 0, 4]);
});

test("Cartesian coordinates are scaled too; 'K' means Cartesian; selective dynamics; velocities ignored", () => {
  const text = `cartesian
 2.0
 2.0 0.0 0.0
 0.0 2.0 0.0
 0.0 0.0 2.0
 Cu
 2
Selective dynamics
kartesian
 0.0 0.0 0.0 T T F
 1.0 1.0 1.0 F F F

 0.01 0.02 0.03
 0.04 0.05 0.06
`;
  const c = parsePoscar(text);
  assert.deepEqual(Array.from(c.cell), [4, 0, 0, 0, 4, 0, 0, 0, 4]);
  assert.deepEqual(Array.from(c.positions), [0, 0, 0, 2, 2, 2]);
});

test("VASP 4: species from the comment line, else a ParseError", () => {
  const vasp4 = SRTIO3.replace("SrTiO3 cubic", "Sr Ti O").replace(" Sr Ti O\n", "");
  assert.deepEqual(parsePoscar(vasp4).symbols, ["Sr", "Ti", "O", "O", "O"]);
  assert.throws(
    () => parsePoscar(vasp4.replace("Sr Ti O", "my perovskite"), { file: "POSCAR" }),
    (e: unknown) => e instanceof ParseError && e.line === 6 && /comment line/.test(e.reason) && e.message.startsWith("POSCAR:6: "),
  );
});

test("POTCAR-style species (Fe_pv, Sr_sv/hash) name their element", () => {
  const c = parsePoscar(SRTIO3.replace(" Sr Ti O\n", " Sr_sv Ti_pv/1a2b3c O\n"));
  assert.deepEqual(c.symbols, ["Sr", "Ti", "O", "O", "O"]);
});

test("malformed POSCARs raise ParseError with the line", () => {
  const cases: [string, number, RegExp][] = [
    [SRTIO3.replace(" 3.905\n", " abc\n"), 2, /scale factor/],
    [SRTIO3.replace(" 3.905\n", " 0\n"), 2, /zero/],
    [SRTIO3.replace(" 0.0 1.0 0.0\n", " 0.0 1.0\n"), 4, /lattice vector 2/],
    [SRTIO3.replace(" 0.0 1.0 0.0\n", " 1.0 0.0 0.0\n"), 3, /linearly dependent/],
    [SRTIO3.replace(" Sr Ti O\n", " Sr Ti Xx\n"), 6, /not an element/],
    [SRTIO3.replace(" 1 1 3\n", " 1 1\n"), 7, /3 species but 2/],
    [SRTIO3.replace(" 1 1 3\n", " 1 -1 3\n"), 7, /negative/],
    [SRTIO3.replace(" 0.5 0.0 0.5\n", " 0.5 nan 0.5\n"), 12, /not a number/],
    [SRTIO3.replace(" 0.5 0.0 0.5\n", " 0.5 1e999 0.5\n"), 12, /not a number/],
    [SRTIO3.split("\n").slice(0, 11).join("\n"), 11, /expected 5 positions/],
    [SRTIO3.replace(" 1 1 3\n", " 1 1 3000000000\n"), 14, /expected 3000000002 positions/],
    ["", 2, /scale factor/],
  ];
  for (const [text, line, re] of cases) {
    assert.throws(
      () => parsePoscar(text, { file: "bad/POSCAR" }),
      (e: unknown) => {
        assert.ok(e instanceof ParseError, `not a ParseError: ${e}`);
        assert.equal(e.line, line, e.message);
        assert.match(e.reason, re);
        assert.equal(e.file, "bad/POSCAR");
        return true;
      },
    );
  }
});

test("round trip: formatPoscar then parsePoscar (triclinic, 1 atom; direct and Cartesian)", () => {
  for (const c of [triclinic(1), triclinic(5), oneAtom()]) {
    // The triclinic crystals interleave species, so compare with the regrouped order.
    const grouped = regroup(c);
    for (const direct of [true, false]) {
      const back = parsePoscar(formatPoscar(c, { direct }));
      assertSameCrystal(back, grouped, 1e-8, 1e-6);
      assertSameCrystal(back, grouped, 1e-12, 1e-12); // and in fact far closer
    }
  }
});

test("formatPoscar keeps the order of contiguous species and regroups interleaved ones", () => {
  const lattice = Lattice.cubic(4);
  const frac = [0, 0, 0, 0.5, 0.5, 0.5, 0.5, 0.5, 0, 0.5, 0, 0.5, 0, 0.5, 0.5];
  const contiguous = Crystal.fromFractional(lattice, frac, ["Sr", "Ti", "O", "O", "O"]);
  assert.ok(parsePoscar(formatPoscar(contiguous)).equals(contiguous, 1e-12));
  const interleaved = Crystal.fromFractional(lattice, frac, ["O", "Sr", "O", "Ti", "O"]);
  const text = formatPoscar(interleaved, { comment: "two\nlines" });
  assert.equal(text.split("\n")[0], "two lines");
  assert.match(text, /^\s+O\s+Sr\s+Ti\s*\n\s+3\s+1\s+1\s*$/m);
  const back = parsePoscar(text);
  assert.deepEqual(back.symbols, ["O", "O", "O", "Sr", "Ti"]);
  assert.deepEqual(back.position(3), interleaved.position(1));
});

/** The crystal with species grouped in order of first appearance (what formatPoscar writes). */
function regroup(c: Crystal): Crystal {
  const species = [...new Set(c.numbers)];
  const order = species.flatMap((z) => [...c.numbers.keys()].filter((a) => c.numbers[a] === z));
  return new Crystal({ cell: c.lattice, positions: order.flatMap((a) => c.position(a)), numbers: order.map((a) => c.numbers[a]!) });
}
