/**
 * Mutation fuzzing of the three parsers: valid files are cut, bit-flipped, overwritten and have lines
 * deleted or duplicated. Whatever comes in, a parser either returns whole structures with finite
 * coordinates or throws a ParseError, and it does so quickly.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { test } from "node:test";
import fc from "fast-check";
import { formatCif, parseCif } from "../../src/io/cif.js";
import { ParseError } from "../../src/io/errors.js";
import { formatExtxyz, parseExtxyz } from "../../src/io/extxyz.js";
import { formatPoscar, parsePoscar } from "../../src/io/poscar.js";
import type { Crystal } from "../../src/structure/crystal.js";
import { oneAtom, triclinic } from "./assert-crystal.js";

const fixture = (name: string): string => readFileSync(new URL(`../fixtures/${name}`, import.meta.url), "utf8");
const RUNS = 300;
/** Far above any honest parse of these small files (well under a millisecond); catches runaway loops. */
const MAX_MS = 250;

type Mutation =
  | { kind: "truncate"; at: number }
  | { kind: "flip"; at: number; bit: number }
  | { kind: "replace"; at: number; char: string }
  | { kind: "deleteLine"; at: number }
  | { kind: "duplicateLine"; at: number };

// Characters that matter to at least one of the grammars.
const SPECIAL = [..."0123456789.-+eE()?'\";#_ \t\n=:/,xyzTF{}[]", "\r\n", "NaN", "Infinity", "999999999"];

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant("truncate" as const), at: fc.nat() }),
  fc.record({ kind: fc.constant("flip" as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 6 }) }),
  fc.record({ kind: fc.constant("replace" as const), at: fc.nat(), char: fc.constantFrom(...SPECIAL) }),
  fc.record({ kind: fc.constant("deleteLine" as const), at: fc.nat() }),
  fc.record({ kind: fc.constant("duplicateLine" as const), at: fc.nat() }),
);

function mutate(text: string, m: Mutation): string {
  if (m.kind === "deleteLine" || m.kind === "duplicateLine") {
    const lines = text.split("\n");
    const i = m.at % lines.length;
    lines.splice(i, m.kind === "deleteLine" ? 1 : 0, ...(m.kind === "duplicateLine" ? [lines[i]!] : []));
    return lines.join("\n");
  }
  if (text.length === 0) return text;
  const i = m.at % text.length;
  if (m.kind === "truncate") return text.slice(0, i);
  const c = m.kind === "flip" ? String.fromCharCode(text.charCodeAt(i) ^ (1 << m.bit)) : m.char;
  return text.slice(0, i) + c + text.slice(i + 1);
}

function assertWhole(c: Crystal): void {
  assert.equal(c.positions.length, 3 * c.natoms);
  assert.ok(c.positions.every(Number.isFinite), "finite positions");
  assert.ok(c.cell.every(Number.isFinite), "finite cell");
  assert.ok(c.volume > 0, "positive volume");
}

/** Runs `parse` on mutated `bases`; anything but a whole result or a ParseError fails. */
function fuzz(bases: string[], parse: (text: string) => void, seed: number): void {
  for (const base of bases) parse(base); // the unmutated inputs are valid
  fc.assert(
    fc.property(fc.constantFrom(...bases), fc.array(mutation, { minLength: 1, maxLength: 4 }), (base, mutations) => {
      const text = mutations.reduce(mutate, base);
      const t0 = performance.now();
      try {
        parse(text);
      } catch (e) {
        if (!(e instanceof ParseError)) throw e;
        assert.ok(e.message.startsWith(`${e.file}:`), e.message);
        assert.ok(e.line === undefined || (Number.isInteger(e.line) && e.line >= 1), `line ${e.line}`);
      }
      const ms = performance.now() - t0;
      assert.ok(ms < MAX_MS, `parse took ${ms.toFixed(0)} ms`);
    }),
    { seed, numRuns: RUNS },
  );
}

test("fuzz: parseCif returns whole crystals or throws ParseError", () => {
  const bases = [fixture("pymatgen-srtio3.cif"), fixture("pymatgen-zno.cif"), formatCif(triclinic(1)), formatCif(oneAtom())];
  fuzz(bases, (text) => parseCif(text, { file: "fuzz.cif" }).forEach(assertWhole), 1);
});

test("fuzz: parsePoscar returns a whole crystal or throws ParseError", () => {
  const c = triclinic(2);
  const bases = [fixture("ase-nacl.vasp"), formatPoscar(c), formatPoscar(c, { direct: false }), formatPoscar(oneAtom())];
  fuzz(bases, (text) => assertWhole(parsePoscar(text, { file: "POSCAR" })), 2);
});

test("fuzz: parseExtxyz returns whole frames or throws ParseError", () => {
  const c = triclinic(3);
  const frame = { crystal: c, info: { note: "a b" }, energy: -2, forces: new Float64Array(3 * c.natoms).fill(0.5) };
  const bases = [fixture("ase-cu-emt.extxyz"), fixture("ase-si-extra.extxyz"), formatExtxyz([frame, oneAtom()])];
  fuzz(
    bases,
    (text) => {
      for (const f of parseExtxyz(text, { file: "fuzz.xyz" })) {
        assertWhole(f.crystal);
        if (f.forces) assert.ok(f.forces.length === 3 * f.crystal.natoms && f.forces.every(Number.isFinite));
        if (f.stress) assert.ok(f.stress.length === 6 && f.stress.every(Number.isFinite));
        if (f.energy !== undefined) assert.ok(Number.isFinite(f.energy));
      }
    },
    3,
  );
});

test("adversarial inputs finish fast with a ParseError", () => {
  const long = 200_000;
  const cases: [string, (t: string) => unknown][] = [
    ["'".repeat(long), parseCif],
    ["data_x\n" + "_a '" + "x' ".repeat(long / 3), parseCif],
    ["data_x\nloop_\n" + "_t\n".repeat(long / 3), parseCif],
    ["data_x\n_symmetry_equiv_pos_as_xyz '" + "x+".repeat(long / 2) + "1,y,z'\n", parseCif],
    ["c\n1\n" + "1 0 0\n".repeat(long / 6), parsePoscar],
    ["c\n1\n1 0 0\n0 1 0\n0 0 1\nCu\n" + "9".repeat(300) + "\nDirect\n", parsePoscar],
    ["999999999999\n" + "x\n".repeat(10), parseExtxyz],
    ["1\n" + 'a="'.repeat(long / 3), parseExtxyz],
    ["1\nLattice=" + "{".repeat(long), parseExtxyz],
  ];
  for (const [text, parse] of cases) {
    const t0 = performance.now();
    assert.throws(() => parse(text), ParseError);
    const ms = performance.now() - t0;
    assert.ok(ms < 1000, `${JSON.stringify(text.slice(0, 30))}: ${ms.toFixed(0)} ms`);
  }
});
