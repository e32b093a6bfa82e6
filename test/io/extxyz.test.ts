import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { ParseError } from "../../src/io/errors.js";
import { formatExtxyz, parseExtxyz, splitKeyValues, type Frame } from "../../src/io/extxyz.js";
import { Crystal } from "../../src/structure/crystal.js";
import { assertClose, assertSameCrystal, oneAtom, rng, triclinic } from "./assert-crystal.js";

const fixture = (name: string): string => readFileSync(new URL(`../fixtures/${name}`, import.meta.url), "utf8");

test("ASE-written extxyz: rattled Cu with EMT energy, forces and stress (2 frames)", () => {
  // Made with /usr/bin/python3, ASE 3.22.1:
  //   a = bulk("Cu", "fcc", a=3.6, cubic=True).repeat((2, 1, 1)); a.rattle(stdev=0.05, seed=42); a.calc = EMT()
  //   frame 1: a with SinglePointCalculator(energy, forces, stress) of EMT
  //   frame 2: a copy with positions[0] += [0.1, 0, 0], EMT results, info["config_type"] = "rattled"
  //   ase.io.write("ase-cu-emt.extxyz", [frame1, frame2], format="extxyz")
  // Values below are what python printed (repr) for get_potential_energy/get_forces/get_stress/positions.
  const frames = parseExtxyz(fixture("ase-cu-emt.extxyz"), { file: "ase-cu-emt.extxyz" });
  assert.equal(frames.length, 2);
  const [f1, f2] = frames as [Frame, Frame];
  assert.equal(f1.crystal.natoms, 8);
  assert.equal(f1.crystal.formula, "Cu8");
  assert.deepEqual(Array.from(f1.crystal.cell), [7.2, 0, 0, 0, 3.6, 0, 0, 0, 3.6]);
  assert.equal(f1.energy, 0.18246595365500795);
  assert.equal(f2.energy, 0.2271793257409218);
  const stress1 = [
    -0.0025210435016247263, -0.0038163125885356075, -0.0024505678469118994, 0.0018768005850693416, 0.0008880933620796701,
    -0.0019180885839304453,
  ];
  const stress2 = [
    -0.004622834285390745, -0.006130853603437297, -0.004239265365167642, 0.0018756961017857934, 0.000967681961862861,
    -0.0020962063178742722,
  ];
  assert.deepEqual(Array.from(f1.stress!), stress1);
  assert.deepEqual(Array.from(f2.stress!), stress2);
  // Forces and positions: ASE writes 8 decimals.
  [-0.10813459089285678, -0.03716645169601979, -0.19599931473155563].forEach((x, d) => assertClose(f1.forces![d]!, x, 5e-9));
  [-0.7913870011834384, -0.0724432890261063, -0.27077809403679953].forEach((x, d) => assertClose(f2.forces![d]!, x, 5e-9));
  [0.024835707650561634, -0.006913215058559233, 0.032384426905034625].forEach((x, d) =>
    assertClose(f1.crystal.positions[d]!, x, 5e-9),
  );
  [5.388711184975674, 1.8033764102343963, -0.07123740931067284].forEach((x, d) =>
    assertClose(f1.crystal.positions[21 + d]!, x, 5e-9),
  );
  assert.deepEqual(f1.info, { pbc: "T T T" });
  assert.deepEqual(f2.info, { config_type: "rattled", pbc: "T T T" });
});

test("ASE-written extxyz with extra per-atom columns (I, R, L, S) and typed info", () => {
  // /usr/bin/python3, ASE 3.22.1: b = bulk("Si", "diamond", a=5.43), cell scaled by [1, 1.02, 0.97]
  // (scale_atoms), rattle(stdev=0.02, seed=3), tags [1, 2], momenta, arrays "fixed" (bool) and
  // "label" (str), info temperature=300, name="si diamond", vec=[1.5, 2.5, 3.5], flag=True.
  const [f] = parseExtxyz(fixture("ase-si-extra.extxyz"));
  const cell = [0.0, 2.7693, 2.6335499999999996, 2.715, 0.0, 2.6335499999999996, 2.715, 2.7693, 0.0];
  assert.deepEqual(Array.from(f!.crystal.cell), cell);
  assert.deepEqual(f!.crystal.symbols, ["Si", "Si"]);
  [0.03577256946860637, 0.008730197010239788, 0.0019299493614401725, 1.3202301459327102, 1.379102235949712, 1.30967982041462].forEach(
    (x, i) => assertClose(f!.crystal.positions[i]!, x, 5e-9),
  );
  assert.deepEqual(f!.info, { temperature: 300, name: "si diamond", vec: [1.5, 2.5, 3.5], flag: true, pbc: "T T T" });
  assert.equal(f!.energy, undefined);
  assert.equal(f!.forces, undefined);
});

test("splitKeyValues: quotes, escapes, brackets, bare keys, spaces around =", () => {
  const kv = splitKeyValues(String.raw`a=1 b="x \"y\" z" c = {1 2 3} d=[4, 5] flag e=T s="back\\slash"`);
  assert.deepEqual(Object.fromEntries(kv), { a: "1", b: 'x "y" z', c: "1 2 3", d: "4, 5", flag: true, e: "T", s: "back\\slash" });
  assert.throws(() => splitKeyValues('a="open'), RangeError);
  assert.throws(() => splitKeyValues("a={1 2"), RangeError);
});

function withResults(c: Crystal, seed: number): Frame {
  const r = rng(seed);
  return {
    crystal: c,
    info: { step: 3, tag: "relax run", ok: false, vec: [1, 2.5] },
    energy: -3.2 - r(),
    forces: Float64Array.from({ length: 3 * c.natoms }, () => r() - 0.5),
    stress: Float64Array.from({ length: 6 }, () => (r() - 0.5) * 1e-3),
  };
}

test("round trip: frames with energy, forces, stress and info (triclinic, 1 atom, multi-frame)", () => {
  const frames = [withResults(triclinic(1), 1), withResults(oneAtom(), 2), withResults(triclinic(7), 3)];
  const back = parseExtxyz(formatExtxyz(frames));
  assert.equal(back.length, 3);
  back.forEach((b, k) => {
    const f = frames[k]!;
    assertSameCrystal(b.crystal, f.crystal, 1e-8, 1e-6);
    assert.ok(b.crystal.equals(f.crystal, 0), "full precision: bit-identical");
    assert.equal(b.energy, f.energy);
    assert.deepEqual(b.forces, f.forces);
    assert.deepEqual(Array.from(b.stress!), Array.from(f.stress!));
    assert.deepEqual(b.info, { ...f.info, pbc: "T T T" });
  });
});

test("formatExtxyz takes bare crystals, and writes what ASE writes", () => {
  const c = triclinic(2);
  const text = formatExtxyz(c);
  const [head, comment] = text.split("\n");
  assert.equal(head, "7");
  assert.match(comment!, /^Lattice="[^"]+" Properties=species:S:1:pos:R:3 pbc="T T T"$/);
  assert.ok(parseExtxyz(text)[0]!.crystal.equals(c, 0));
  assert.equal(parseExtxyz(formatExtxyz([c, oneAtom()])).length, 2);
  const withForces = formatExtxyz({ crystal: oneAtom(), info: {}, forces: new Float64Array([1, 2, 3]), energy: -1 });
  assert.match(withForces, /Properties=species:S:1:pos:R:3:forces:R:3 energy=-1 pbc="T T T"/);
  assert.throws(() => formatExtxyz({ crystal: oneAtom(), info: {}, forces: new Float64Array(2) }), RangeError);
  assert.throws(() => formatExtxyz({ crystal: oneAtom(), info: { "bad key": 1 } }), RangeError);
  assert.throws(() => formatExtxyz({ crystal: oneAtom(), info: {}, forces: new Float64Array([0, NaN, 0]) }), /atom 0/);
  assert.throws(() => formatExtxyz({ crystal: oneAtom(), info: {}, energy: Infinity }), /energy/);
});

test("Z column instead of species; unknown columns ignored; blank lines between frames", () => {
  const text = `2
Lattice="3 0 0 0 3 0 0 0 3" Properties=Z:I:1:pos:R:3:charge:R:1:name:S:1
29 0 0 0 0.5 a
8 1.5 1.5 1.5 -0.5 b


1
Lattice="3 0 0 0 3 0 0 0 3"
Fe 0 0 0
`;
  const frames = parseExtxyz(text);
  assert.deepEqual(frames[0]!.crystal.symbols, ["Cu", "O"]);
  assert.deepEqual(frames[1]!.crystal.symbols, ["Fe"]);
});

test("malformed extxyz raises ParseError with the line", () => {
  const good = `2
Lattice="3 0 0 0 3 0 0 0 3" Properties=species:S:1:pos:R:3:forces:R:3 energy=-1.5
Cu 0 0 0 0.1 0.2 0.3
Cu 1.5 1.5 1.5 -0.1 -0.2 -0.3
`;
  assert.equal(parseExtxyz(good)[0]!.energy, -1.5);
  const cases: [string, number | undefined, RegExp][] = [
    [good.replace(/Lattice="[^"]+" /, ""), 2, /no Lattice/],
    [good.replace('Lattice="3 0 0 0 3 0 0 0 3"', 'Lattice="3 0 0 0 3 0 0 0"'), 2, /9 numbers/],
    [good.replace('Lattice="3 0 0 0 3 0 0 0 3"', 'Lattice="3 0 0 3 0 0 0 0 3"'), 2, /linearly dependent/],
    [good.replace('Lattice="3 0 0 0 3 0 0 0 3"', 'Lattice="3 0 0 0 3 0 0 0 3'), 2, /unterminated/],
    [good.replace("energy=-1.5", "energy=low"), 2, /energy/],
    [good.replace("energy=-1.5", 'stress="1 2 3"'), 2, /stress/],
    [good.replace("forces:R:3", "forces:R:2"), 2, /forces must be R:3/],
    [good.replace("forces:R:3", "forces:X:3"), 2, /bad Properties/],
    [good.replace("Properties=species:S:1:pos:R:3", "Properties=species:S:1:xyz:R:3"), 2, /pos/],
    [good.replace("Cu 1.5", "Qq 1.5"), 4, /unknown element/],
    [good.replace("-0.2", "NaN"), 4, /forces value "NaN" is not of type R/],
    [good.replace("0.1 0.2 0.3", "0.1 0.2"), 3, /expected 7 columns/],
    [good.replace("2\n", "3\n"), 1, /cut short: 2 atom lines/],
    [good.replace("2\n", "two\n"), 1, /number of atoms/],
    [good + "\n1\n", 6, /cut short: 0 atom lines/],
    ["", undefined, /no frames/],
  ];
  for (const [text, line, re] of cases) {
    assert.throws(
      () => parseExtxyz(text, { file: "t.xyz" }),
      (e: unknown) => {
        assert.ok(e instanceof ParseError, `not a ParseError: ${e}`);
        assert.equal(e.line, line, e.message);
        assert.match(e.reason, re);
        return true;
      },
    );
  }
});
