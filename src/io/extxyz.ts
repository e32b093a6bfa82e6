/**
 * Extended XYZ, as ASE (ase.io.extxyz) and libAtoms write it.
 * Format: https://github.com/libAtoms/extxyz#extended-xyz-specification
 *
 * Each frame: a line with the atom count, a comment line of key=value pairs (values may be quoted
 * "..." with backslash escapes, or bracketed {...} / [...]), then one line per atom whose columns are
 * described by Properties=name:type:count:... (types S string, R real, I integer, L logical).
 * Only periodic crystals are read: a frame without Lattice is an error. A pbc other than "T T T"
 * (a slab, say) is accepted, kept in `info.pbc`, and the crystal is treated as periodic anyway.
 */
import { atomicNumber, elementByNumber, isElementSymbol } from "../structure/elements.js";
import { Crystal } from "../structure/crystal.js";
import { Lattice } from "../structure/lattice.js";
import { ParseError, parseDecimal, parseInteger, wrapErrors } from "./errors.js";

export type InfoValue = string | number | boolean | number[];

export interface Frame {
  crystal: Crystal;
  /** Every comment-line key except Lattice, Properties, energy and stress. */
  info: Record<string, InfoValue>;
  /** eV. */
  energy?: number;
  /** eV/Å, 3N. */
  forces?: Float64Array;
  /** Voigt 6 (xx yy zz yz xz xy), eV/Å³. */
  stress?: Float64Array;
}

// ---------------------------------------------------------------------------------------------
// The comment line

const BOOLS: Record<string, boolean> = { T: true, F: false, True: true, False: false, true: true, false: false };

/**
 * Splits a comment line into raw key -> value strings (quotes and brackets removed, escapes
 * resolved); a bare key means true. Throws a RangeError on an unterminated quote or bracket.
 */
export function splitKeyValues(line: string): Map<string, string | true> {
  const out = new Map<string, string | true>();
  const n = line.length;
  let p = 0;
  const space = (c: string | undefined): boolean => c === " " || c === "\t";
  const readWord = (): string => {
    if (line[p] === '"') {
      let s = "";
      p++;
      while (p < n && line[p] !== '"') {
        if (line[p] === "\\" && p + 1 < n) p++;
        s += line[p++];
      }
      if (p >= n) throw new RangeError("unterminated quoted value");
      p++;
      return s;
    }
    const close = line[p] === "{" ? "}" : line[p] === "[" ? "]" : undefined;
    if (close) {
      const end = line.indexOf(close, p);
      if (end < 0) throw new RangeError(`unterminated ${line[p]}`);
      const s = line.slice(p + 1, end);
      p = end + 1;
      return s;
    }
    const start = p;
    while (p < n && !space(line[p]) && line[p] !== "=") p++;
    return line.slice(start, p);
  };
  while (p < n) {
    while (p < n && space(line[p])) p++;
    if (p >= n) break;
    const key = readWord();
    if (!key) throw new RangeError(`expected a key at column ${p + 1}`);
    while (p < n && space(line[p])) p++;
    if (line[p] === "=") {
      p++;
      while (p < n && space(line[p])) p++;
      out.set(key, readWord());
    } else {
      out.set(key, true);
    }
  }
  return out;
}

/** ASE's conversion of a value string: numbers, a number array, a boolean, else the string itself. */
function infoValue(raw: string | true): InfoValue {
  if (raw === true) return true;
  const parts = raw.split(/[\s,]+/).filter(Boolean);
  if (parts.length > 0) {
    const nums = parts.map(parseDecimal);
    if (nums.every((x) => x !== undefined)) return nums.length === 1 ? nums[0]! : (nums as number[]);
    if (parts.length === 1 && parts[0]! in BOOLS) return BOOLS[parts[0]!]!;
  }
  return raw;
}

// ---------------------------------------------------------------------------------------------
// Reading

interface Column {
  name: string;
  type: "S" | "R" | "I" | "L";
  count: number;
  start: number;
}

function parseProperties(spec: string): Column[] | string {
  const parts = spec.split(":");
  if (parts.length % 3 !== 0 || parts.length === 0) return "Properties must be name:type:count triples";
  const cols: Column[] = [];
  let start = 0;
  for (let k = 0; k < parts.length; k += 3) {
    const [name, type, countText] = [parts[k]!, parts[k + 1]!, parts[k + 2]!];
    const count = parseInteger(countText);
    if (!name || !["S", "R", "I", "L"].includes(type) || count === undefined || count < 1 || count > 1000) {
      return `bad Properties entry ${name}:${type}:${countText}`;
    }
    if (cols.some((c) => c.name === name)) return `Properties lists ${name} twice`;
    cols.push({ name, type: type as Column["type"], count, start });
    start += count;
  }
  return cols;
}

/** Every frame of an extended XYZ text. Blank lines between frames are skipped. */
export function parseExtxyz(text: string, opts: { file?: string } = {}): Frame[] {
  const file = opts.file ?? "<input>";
  const lines = text.split(/\r\n|\r|\n/);
  while (lines.length > 0 && lines[lines.length - 1]!.trim() === "") lines.pop(); // so a short frame reads as cut short
  const frames: Frame[] = [];
  let i = 0;
  while (i < lines.length) {
    if (lines[i]!.trim() === "") {
      i++;
      continue;
    }
    const frame = readFrame(lines, i, file);
    frames.push(frame.frame);
    i = frame.next;
  }
  if (frames.length === 0) throw new ParseError("no frames", { file });
  return frames;
}

function readFrame(lines: string[], start: number, file: string): { frame: Frame; next: number } {
  const fail = (reason: string, line: number): never => {
    throw new ParseError(reason, { file, line });
  };
  const countText = lines[start]!.trim();
  const natoms = parseInteger(countText);
  if (natoms === undefined || natoms < 0) fail(`expected the number of atoms, got ${JSON.stringify(countText.slice(0, 40))}`, start + 1);
  const commentLine = start + 2;
  const available = Math.max(0, lines.length - start - 2);
  if (available < natoms!) fail(`frame of ${natoms} atoms is cut short: ${available} atom lines follow`, start + 1);

  const kv = wrapErrors(() => splitKeyValues(lines[start + 1]!), { file, line: commentLine });
  const info: Record<string, InfoValue> = {};
  const frame: Partial<Frame> & { info: typeof info } = { info };
  let cell: number[] | undefined;
  let cols: Column[] = [
    { name: "species", type: "S", count: 1, start: 0 },
    { name: "pos", type: "R", count: 3, start: 1 },
  ];
  for (const [key, raw] of kv) {
    const value = infoValue(raw);
    if (key === "Lattice") {
      if (!Array.isArray(value) || value.length !== 9) fail("Lattice must be 9 numbers", commentLine);
      cell = value as number[];
    } else if (key === "Properties") {
      const parsed = typeof raw === "string" ? parseProperties(raw) : "Properties has no value";
      if (typeof parsed === "string") fail(parsed, commentLine);
      cols = parsed as Column[];
    } else if (key === "energy") {
      if (typeof value !== "number") fail("energy must be a number", commentLine);
      frame.energy = value as number;
    } else if (key === "stress") {
      // ASE writes the full 3x3 (symmetric, so row/column order does not matter); accept Voigt 6 too.
      if (!Array.isArray(value) || (value.length !== 9 && value.length !== 6)) fail("stress must be 9 or 6 numbers", commentLine);
      const s = value as number[];
      frame.stress = Float64Array.from(
        s.length === 6 ? s : [s[0]!, s[4]!, s[8]!, (s[5]! + s[7]!) / 2, (s[2]! + s[6]!) / 2, (s[1]! + s[3]!) / 2],
      );
    } else {
      info[key] = value;
    }
  }
  if (!cell) fail("frame has no Lattice (only periodic crystals are read)", commentLine);
  const lattice = wrapErrors(() => new Lattice(cell!), { file, line: commentLine });

  const byName = new Map(cols.map((c) => [c.name, c]));
  const speciesCol = byName.get("species") ?? byName.get("Z");
  const posCol = byName.get("pos");
  if (!speciesCol || !posCol) fail("Properties must have species (or Z) and pos columns", commentLine);
  if (speciesCol!.count !== 1 || speciesCol!.type !== (speciesCol!.name === "Z" ? "I" : "S")) {
    fail("species must be S:1 (or Z I:1)", commentLine);
  }
  if (posCol!.type !== "R" || posCol!.count !== 3) fail("pos must be R:3", commentLine);
  const forcesCol = byName.get("forces");
  if (forcesCol && (forcesCol.type !== "R" || forcesCol.count !== 3)) fail("forces must be R:3", commentLine);
  const width = cols.reduce((s, c) => s + c.count, 0);

  const numbers = new Int32Array(natoms!);
  const positions = new Float64Array(3 * natoms!);
  const forces = forcesCol ? new Float64Array(3 * natoms!) : undefined;
  for (let a = 0; a < natoms!; a++) {
    const lineNo = start + 3 + a;
    const t = lines[lineNo - 1]!.trim().split(/\s+/).filter(Boolean);
    if (t.length !== width) fail(`atom ${a + 1}: expected ${width} columns, got ${t.length}`, lineNo);
    for (const c of cols) {
      for (let k = 0; k < c.count; k++) {
        const s = t[c.start + k]!;
        const ok =
          c.type === "S" ||
          (c.type === "R" && parseDecimal(s) !== undefined) ||
          (c.type === "I" && parseInteger(s) !== undefined) ||
          (c.type === "L" && s in BOOLS);
        if (!ok) fail(`atom ${a + 1}: ${c.name} value ${JSON.stringify(s.slice(0, 40))} is not of type ${c.type}`, lineNo);
      }
    }
    const sp = t[speciesCol!.start]!;
    if (speciesCol!.name === "Z") numbers[a] = wrapErrors(() => elementByNumber(parseInteger(sp)!).z, { file, line: lineNo });
    else if (isElementSymbol(sp)) numbers[a] = atomicNumber(sp);
    else fail(`atom ${a + 1}: unknown element ${JSON.stringify(sp.slice(0, 40))}`, lineNo);
    for (let d = 0; d < 3; d++) {
      positions[3 * a + d] = parseDecimal(t[posCol!.start + d]!)!;
      if (forces) forces[3 * a + d] = parseDecimal(t[forcesCol!.start + d]!)!;
    }
  }
  frame.crystal = wrapErrors(() => new Crystal({ cell: lattice, positions, numbers }), { file, line: start + 3 });
  if (forces) frame.forces = forces;
  return { frame: frame as Frame, next: start + 2 + natoms! };
}

// ---------------------------------------------------------------------------------------------
// Writing

/** Shortest text that reads back as the same double (JavaScript's own number printing). */
const num = (x: number): string => String(x + 0);
const RESERVED = new Set(["Lattice", "Properties", "energy", "stress", "pbc"]);

function infoText(value: InfoValue): string {
  if (typeof value === "number") return num(value);
  if (typeof value === "boolean") return value ? "T" : "F";
  if (Array.isArray(value)) return `"${value.map(num).join(" ")}"`;
  return /^[^\s"'=\\{}[\]]+$/.test(value) ? value : `"${value.replace(/[\\"]/g, "\\$&").replace(/[\r\n]+/g, " ")}"`;
}

/**
 * Extended XYZ text of one or more frames (or bare crystals, or a mix), as ASE writes it: Lattice,
 * Properties=species:S:1:pos:R:3[:forces:R:3], energy, stress (full 3x3), the info keys, pbc="T T T".
 * Numbers are written in full precision.
 */
export function formatExtxyz(frames: Frame | Crystal | readonly (Frame | Crystal)[]): string {
  const items: readonly (Frame | Crystal)[] = Array.isArray(frames) ? frames : [frames as Frame | Crystal];
  const list = items.map((f): Frame => (f instanceof Crystal ? { crystal: f, info: {} } : f));
  const out: string[] = [];
  for (const frame of list) {
    const c = frame.crystal;
    const n = c.natoms;
    if (frame.forces && frame.forces.length !== 3 * n) throw new RangeError(`forces need ${3 * n} numbers, got ${frame.forces.length}`);
    if (frame.stress && frame.stress.length !== 6) throw new RangeError(`stress needs 6 (Voigt) numbers, got ${frame.stress.length}`);
    // Refuse to store what could not be read back (a NaN force from a failed calculation, say).
    if (frame.energy !== undefined && !Number.isFinite(frame.energy)) throw new RangeError(`energy is ${frame.energy}`);
    const badForce = frame.forces?.findIndex((x) => !Number.isFinite(x)) ?? -1;
    if (badForce >= 0) throw new RangeError(`force on atom ${Math.floor(badForce / 3)} is not finite`);
    if (frame.stress && !frame.stress.every(Number.isFinite)) throw new RangeError("stress is not finite");
    const head = [`Lattice="${Array.from(c.cell, num).join(" ")}"`];
    head.push(`Properties=species:S:1:pos:R:3${frame.forces ? ":forces:R:3" : ""}`);
    if (frame.energy !== undefined) head.push(`energy=${num(frame.energy)}`);
    if (frame.stress) {
      const [xx, yy, zz, yz, xz, xy] = Array.from(frame.stress) as [number, number, number, number, number, number];
      head.push(`stress="${[xx, xy, xz, xy, yy, yz, xz, yz, zz].map(num).join(" ")}"`);
    }
    for (const [key, value] of Object.entries(frame.info ?? {})) {
      if (RESERVED.has(key)) continue;
      if (!/^[A-Za-z_][\w.-]*$/.test(key)) throw new RangeError(`info key ${JSON.stringify(key)} cannot be written in extxyz`);
      head.push(`${key}=${infoText(value)}`);
    }
    head.push('pbc="T T T"');
    out.push(String(n), head.join(" "));
    const symbols = c.symbols;
    for (let a = 0; a < n; a++) {
      const cols = [symbols[a]!.padEnd(2)];
      for (let d = 0; d < 3; d++) cols.push(num(c.positions[3 * a + d]!).padStart(22));
      if (frame.forces) for (let d = 0; d < 3; d++) cols.push(num(frame.forces[3 * a + d]!).padStart(22));
      out.push(cols.join(" "));
    }
  }
  return out.join("\n") + "\n";
}

