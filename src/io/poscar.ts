/**
 * VASP POSCAR/CONTCAR reading and writing. Format: https://www.vasp.at/wiki/index.php/POSCAR
 *
 * Reading accepts VASP 5 (a species line) and VASP 4 (no species line: the species are then taken
 * from the comment line, as ASE writes it, when its tokens are all element symbols). Anything after
 * the positions (lattice velocities, velocities, predictor-corrector data) is ignored.
 */
import { isElementSymbol, symbolOf } from "../structure/elements.js";
import { Crystal } from "../structure/crystal.js";
import { Lattice } from "../structure/lattice.js";
import { ParseError, parseDecimal, parseInteger, wrapErrors } from "./errors.js";

export function parsePoscar(text: string, opts: { file?: string } = {}): Crystal {
  const file = opts.file ?? "<input>";
  const lines = text.split(/\r\n|\r|\n/);
  const fail = (reason: string, line: number | undefined): never => {
    throw new ParseError(reason, { file, line });
  };
  /** Whitespace tokens of 0-based line `i`, which must exist. */
  const tokens = (i: number, what: string): string[] => {
    const line = lines[i];
    if (line === undefined) fail(`file ends before the ${what}`, i + 1);
    return line!.trim().split(/\s+/).filter(Boolean);
  };
  /** The first `n` tokens of line `i` as numbers. */
  const numbers = (i: number, n: number, what: string): number[] => {
    const t = tokens(i, what);
    if (t.length < n) fail(`${what}: expected ${n} numbers, got ${t.length}`, i + 1);
    return t.slice(0, n).map((s) => parseDecimal(s) ?? fail(`${what}: ${JSON.stringify(s.slice(0, 40))} is not a number`, i + 1));
  };

  const comment = lines[0] ?? "";
  // Scale: one factor (negative: the target volume in Å³), or three factors for x, y and z.
  const scaleTokens = tokens(1, "scale factor");
  const scale = numbers(1, scaleTokens.length >= 3 && scaleTokens.slice(0, 3).every((s) => parseDecimal(s) !== undefined) ? 3 : 1, "scale factor");
  if (scale.length === 3 && !scale.every((s) => s > 0)) fail("three scale factors must all be positive", 2);
  if (scale.length === 1 && scale[0] === 0) fail("scale factor is zero", 2);
  const raw = [2, 3, 4].flatMap((i) => numbers(i, 3, `lattice vector ${i - 1}`));
  const unscaled = wrapErrors(() => new Lattice(raw), { file, line: 3 });
  let factor: [number, number, number];
  if (scale.length === 3) factor = scale as [number, number, number];
  else if (scale[0]! > 0) factor = [scale[0]!, scale[0]!, scale[0]!];
  else {
    const f = Math.cbrt(-scale[0]! / unscaled.volume);
    factor = [f, f, f];
  }
  const lattice = wrapErrors(() => new Lattice(raw.map((x, k) => x * factor[k % 3]!)), { file, line: 2 });

  // Species and counts. VASP 5 has a line of symbols before the counts.
  let i = 5;
  let species: string[] | undefined;
  const first = tokens(i, "atom counts");
  if (first.length === 0) fail("expected species or atom counts, got an empty line", i + 1);
  if (parseInteger(first[0]!) === undefined) {
    // "Fe_pv" and "Fe/1a2b3c" (VASP 6 POTCAR hashes) name Fe.
    species = first.map((s) => s.split(/[_/]/)[0]!);
    species.forEach((s) => isElementSymbol(s) || fail(`species ${JSON.stringify(s.slice(0, 40))} is not an element symbol`, i + 1));
    i++;
  }
  const countTokens = tokens(i, "atom counts");
  const countsLine = i + 1;
  const counts: number[] = [];
  for (const s of countTokens) {
    const c = parseInteger(s);
    if (c === undefined) break; // counts end where something else (a comment) begins
    if (c < 0) fail(`negative atom count ${c}`, countsLine);
    counts.push(c);
  }
  if (counts.length === 0) fail("expected atom counts", countsLine);
  if (!species) {
    const fromComment = comment.trim().split(/\s+/).filter(Boolean);
    if (fromComment.length !== counts.length || !fromComment.every(isElementSymbol)) {
      fail("VASP 4 POSCAR without a species line, and the comment line does not list the species", countsLine);
    }
    species = fromComment;
  }
  if (species.length !== counts.length) {
    fail(`${species.length} species but ${counts.length} atom counts`, countsLine);
  }
  const natoms = counts.reduce((a, b) => a + b, 0);
  if (natoms === 0) fail("no atoms", countsLine);
  i++;

  // Optional "Selective dynamics", then the coordinate mode: C/c/K/k is Cartesian, anything else direct.
  let mode = tokens(i, "coordinate mode")[0] ?? "";
  if (/^s/i.test(mode)) mode = tokens(++i, "coordinate mode")[0] ?? "";
  const cartesian = /^[ck]/i.test(mode);
  i++;
  // Refuse a short file before reading: never allocate for counts the file cannot hold.
  if (lines.length - i < natoms) fail(`expected ${natoms} positions, the file has ${Math.max(0, lines.length - i)} more lines`, lines.length);
  const positions = new Float64Array(3 * natoms);
  for (let a = 0; a < natoms; a++) {
    const xyz = numbers(i + a, 3, `position of atom ${a + 1}`);
    for (let d = 0; d < 3; d++) positions[3 * a + d] = cartesian ? xyz[d]! * factor[d]! : xyz[d]!;
  }
  const numbersOut = species.flatMap((s, k) => new Array<string>(counts[k]!).fill(s));
  return wrapErrors(
    () =>
      cartesian
        ? new Crystal({ cell: lattice, positions, numbers: numbersOut })
        : Crystal.fromFractional(lattice, positions, numbersOut),
    { file, line: i + 1 },
  );
}

/** 16 decimals, as ASE's %.16f: a round trip keeps positions to 1e-15 Å. */
const fmt = (x: number, width = 22): string => (x + 0).toFixed(16).padStart(width);

/**
 * A VASP 5 POSCAR. Species are listed in order of first appearance and the atoms are regrouped so
 * that each species is contiguous (VASP needs that): the atom order changes only when species are
 * interleaved, so a crystal whose species are already contiguous keeps its order.
 */
export function formatPoscar(crystal: Crystal, opts: { comment?: string; direct?: boolean } = {}): string {
  const direct = opts.direct ?? true;
  const species: number[] = [];
  for (const z of crystal.numbers) if (!species.includes(z)) species.push(z);
  const order: number[] = [];
  for (const z of species) crystal.numbers.forEach((zz, a) => zz === z && order.push(a));
  const coords = direct ? crystal.fractional() : crystal.positions;
  const lines = [
    (opts.comment ?? crystal.formula).replace(/[\r\n]+/g, " "),
    "1.0",
    ...[0, 1, 2].map((i) => crystal.lattice.vector(i).map((x) => fmt(x)).join("")),
    species.map((z) => symbolOf(z).padStart(5)).join(""),
    species.map((z) => String(crystal.numbers.filter((zz) => zz === z).length).padStart(5)).join(""),
    direct ? "Direct" : "Cartesian",
    ...order.map((a) => [0, 1, 2].map((d) => fmt(coords[3 * a + d]!)).join("")),
  ];
  return lines.join("\n") + "\n";
}
