/**
 * CIF 1.1 reading and P1 writing.
 * Syntax: https://www.iucr.org/resources/cif/spec/version1.1/cifsyntax
 * Core dictionary (cell, atom_site, symmetry tags): https://www.iucr.org/resources/cif/dictionaries/cif_core
 *
 * Reading, in short: every data block with an atom-site table becomes one Crystal, with the cell built
 * by Lattice.fromParameters (a along x, b in the xy plane, as ASE does) and the sites expanded by the
 * block's symmetry operations. Decisions a user should know:
 * - Partial occupancy: symmetry images that land within 1e-3 (fractional, per axis, periodic) of each
 *   other form one site. The site is kept when its total occupancy is >= 0.5 and is then given the
 *   species with the largest occupancy (the first listed on a tie); otherwise it is dropped.
 *   So Sr0.3 disappears, Fe0.6Mn0.4 becomes Fe, and Fe0.4Mn0.4 becomes Fe.
 * - With symmetry operations other than the identity, every atom is wrapped into [0, 1); a file with
 *   only the identity (P1, or no operations) keeps its coordinates exactly as written.
 * - A CIF stores only cell parameters, so a cell that is not in the a-along-x orientation comes back
 *   rotated (same parameters, same fractional coordinates).
 */
import { elementBySymbol, isElementSymbol } from "../structure/elements.js";
import { Crystal } from "../structure/crystal.js";
import { Lattice } from "../structure/lattice.js";
import { ParseError, parseDecimal, wrapErrors } from "./errors.js";

// ---------------------------------------------------------------------------------------------
// Tokens and blocks

interface Token {
  kind: "data" | "loop" | "tag" | "value" | "reserved";
  text: string;
  line: number;
  /** Quoted or text-field values are strings: "?" in quotes is not "unknown". */
  quoted: boolean;
}

interface Loop {
  tags: string[];
  rows: Token[][];
}

interface Block {
  name: string;
  line: number;
  /** Tag (normalised) -> its column: one token for a plain item, one per row for a loop. */
  columns: Map<string, { values: Token[]; line: number; loop?: Loop }>;
}

/** Tags are case-insensitive, and DDLm/mmCIF spell `_atom_site.fract_x` for `_atom_site_fract_x`. */
const normTag = (tag: string): string => tag.toLowerCase().replace(/\./g, "_");

function tokenize(text: string, file: string): Token[] {
  const lines = text.split(/\r\n|\r|\n/);
  const tokens: Token[] = [];
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i]!;
    const lineNo = i + 1;
    if (line.startsWith(";")) {
      // A text field runs from a line starting with ';' to the next line starting with ';'.
      const parts = [line.slice(1)];
      let j = i + 1;
      while (j < lines.length && !lines[j]!.startsWith(";")) parts.push(lines[j++]!);
      if (j >= lines.length) throw new ParseError("text field opened with ';' is never closed", { file, line: lineNo });
      tokens.push({ kind: "value", text: parts.join("\n"), line: lineNo, quoted: true });
      i = j;
      line = lines[j]!.slice(1); // the rest of the closing line is ordinary CIF
    }
    tokenizeLine(line, i + 1, file, tokens);
  }
  return tokens;
}

function tokenizeLine(line: string, lineNo: number, file: string, out: Token[]): void {
  const n = line.length;
  let p = 0;
  const isSpace = (c: string | undefined): boolean => c === " " || c === "\t" || c === undefined;
  while (p < n) {
    while (p < n && isSpace(line[p])) p++;
    if (p >= n || line[p] === "#") return; // comments start only where a token could
    const c = line[p]!;
    if (c === "'" || c === '"') {
      // A quote closes only when followed by whitespace or the end of line (CIF 1.1, paragraph 15).
      let q = p + 1;
      while (q < n && !(line[q] === c && isSpace(line[q + 1]))) q++;
      if (q >= n) throw new ParseError(`unterminated ${c}-quoted string`, { file, line: lineNo });
      out.push({ kind: "value", text: line.slice(p + 1, q), line: lineNo, quoted: true });
      p = q + 1;
      continue;
    }
    let q = p;
    while (q < n && !isSpace(line[q])) q++;
    const text = line.slice(p, q);
    const lower = text.toLowerCase();
    const kind: Token["kind"] = lower.startsWith("data_")
      ? "data"
      : lower === "loop_"
        ? "loop"
        : text.startsWith("_")
          ? "tag"
          : lower.startsWith("save_") || lower === "global_" || lower === "stop_"
            ? "reserved"
            : "value";
    out.push({ kind, text, line: lineNo, quoted: false });
    p = q;
  }
}

function parseBlocks(tokens: Token[], file: string): Block[] {
  const blocks: Block[] = [];
  let block: Block | undefined;
  const fail = (reason: string, t: Token): never => {
    throw new ParseError(reason, { file, line: t.line });
  };
  const addColumn = (t: Token, values: Token[], loop?: Loop): void => {
    const tag = normTag(t.text);
    if (block!.columns.has(tag)) fail(`tag ${t.text} appears twice in data block ${block!.name}`, t);
    block!.columns.set(tag, loop ? { values, line: t.line, loop } : { values, line: t.line });
  };
  let k = 0;
  while (k < tokens.length) {
    const t = tokens[k]!;
    if (t.kind === "data") {
      block = { name: t.text.slice(5), line: t.line, columns: new Map() };
      blocks.push(block);
      k++;
      continue;
    }
    if (t.kind === "reserved") fail(`${t.text} (save frames, global blocks) is not supported`, t);
    if (!block) fail(`${t.text} before the first data_ block`, t);
    if (t.kind === "value") fail(`value ${JSON.stringify(t.text.slice(0, 40))} without a tag`, t);
    if (t.kind === "tag") {
      const v = tokens[k + 1];
      if (!v || v.kind !== "value") fail(`tag ${t.text} has no value`, t);
      addColumn(t, [v!]);
      k += 2;
      continue;
    }
    // loop_: tags, then values row by row until the next keyword or tag.
    const tags: Token[] = [];
    k++;
    while (k < tokens.length && tokens[k]!.kind === "tag") tags.push(tokens[k++]!);
    if (tags.length === 0) fail("loop_ without tags", t);
    const values: Token[] = [];
    while (k < tokens.length && tokens[k]!.kind === "value") values.push(tokens[k++]!);
    if (values.length % tags.length !== 0) {
      fail(`loop has ${tags.length} tags but ${values.length} values, not a whole number of rows`, t);
    }
    const loop: Loop = { tags: tags.map((x) => normTag(x.text)), rows: [] };
    for (let r = 0; r < values.length; r += tags.length) loop.rows.push(values.slice(r, r + tags.length));
    tags.forEach((tag, c) => addColumn(tag, loop.rows.map((row) => row[c]!), loop));
  }
  return blocks;
}

// ---------------------------------------------------------------------------------------------
// Values

const isMissing = (t: Token): boolean => !t.quoted && (t.text === "?" || t.text === ".");

/** A CIF number, "5.4307(2)" included; undefined for "?" and "."; ParseError for anything else. */
function cifNumber(t: Token, what: string, file: string): number | undefined {
  if (isMissing(t)) return undefined;
  const x = parseDecimal(t.text.replace(/\(\d+\)$/, ""));
  if (x === undefined) throw new ParseError(`${what}: ${JSON.stringify(t.text.slice(0, 40))} is not a number`, { file, line: t.line });
  return x;
}

/**
 * The element of a type symbol or label: "Sr2+" -> Sr, "O2-" -> O, "Fe3+" -> Fe, "Sr1" -> Sr,
 * "OW1" -> O. Like pymatgen, try the first two letters (as "Ab"), then the first one.
 */
export function elementOfLabel(label: string): string | undefined {
  const letters = /^[A-Za-z]+/.exec(label)?.[0] ?? "";
  const two = letters.slice(0, 1).toUpperCase() + letters.slice(1, 2).toLowerCase();
  if (two.length === 2 && isElementSymbol(two)) return two;
  const one = letters.slice(0, 1).toUpperCase();
  return one && isElementSymbol(one) ? one : undefined;
}

// ---------------------------------------------------------------------------------------------
// Symmetry operations

export interface SymOp {
  /** Row-major 3x3 acting on fractional coordinates: x' = rot · x + trans. */
  rot: number[];
  trans: number[];
}

// One term of a component: [sign] (number [/ number] [*] [variable] | variable). Sticky: read in place.
const TERM = /([+-]?)(?:(\d+(?:\.\d*)?|\.\d+)(?:\/(\d+(?:\.\d*)?|\.\d+))?\*?([xyz])?|([xyz]))/y;

/**
 * Parses an operation such as "-x+1/2, y, z+0.25" or "x-y,x,z+1/2" (fractional coordinates).
 * Throws a RangeError describing what is wrong; the CIF reader wraps it with the line.
 */
export function parseSymop(text: string): SymOp {
  const parts = text.toLowerCase().replace(/\s+/g, "").split(",");
  if (parts.length !== 3) throw new RangeError(`symmetry operation "${text}" needs 3 comma-separated parts`);
  const rot = new Array<number>(9).fill(0);
  const trans = [0, 0, 0];
  parts.forEach((part, i) => {
    if (!part) throw new RangeError(`symmetry operation "${text}" has an empty part`);
    let first = true;
    TERM.lastIndex = 0;
    while (TERM.lastIndex < part.length) {
      const m = TERM.exec(part);
      // Every term after the first needs its sign: "x y" or "xy" is not an operation.
      if (!m || m[0].length === 0 || (!first && !m[1])) throw new RangeError(`cannot read "${part}" in symmetry operation "${text}"`);
      const sign = m[1] === "-" ? -1 : 1;
      const variable = m[4] ?? m[5];
      let value = 1;
      if (m[2] !== undefined) {
        value = Number(m[2]) / (m[3] !== undefined ? Number(m[3]) : 1);
        if (!Number.isFinite(value)) throw new RangeError(`bad number in symmetry operation "${text}"`);
      }
      if (variable) rot[3 * i + "xyz".indexOf(variable)]! += sign * value;
      else trans[i]! += sign * value;
      first = false;
    }
  });
  // A crystallographic operation maps the lattice onto itself: integer matrix with determinant ±1.
  if (!rot.every((r) => Number.isInteger(r))) throw new RangeError(`symmetry operation "${text}" has a non-integer rotation`);
  const det =
    rot[0]! * (rot[4]! * rot[8]! - rot[5]! * rot[7]!) -
    rot[1]! * (rot[3]! * rot[8]! - rot[5]! * rot[6]!) +
    rot[2]! * (rot[3]! * rot[7]! - rot[4]! * rot[6]!);
  if (Math.abs(det) !== 1) throw new RangeError(`symmetry operation "${text}" has determinant ${det}, not ±1`);
  return { rot, trans };
}

const SYMOP_TAGS = ["_space_group_symop_operation_xyz", "_symmetry_equiv_pos_as_xyz"];

// ---------------------------------------------------------------------------------------------
// Sites

/** Images closer than this in every fractional component (with wrap-around) are one site. */
const SITE_TOL = 1e-3;
const BINS = 100; // hash grid for the duplicate search: bins (0.01) much wider than SITE_TOL

interface Site {
  frac: [number, number, number];
  /** Source row -> [atomic number, occupancy]; images of one row count once. */
  sources: Map<number, [number, number]>;
}

/** Expands the asymmetric unit with `ops` and merges images that coincide (see the header). */
function expandSites(
  rows: { frac: [number, number, number]; z: number; occ: number }[],
  ops: SymOp[],
): { frac: number[]; numbers: number[] } {
  const onlyIdentity = ops.every((op) => op.rot.every((r, i) => r === (i % 4 === 0 ? 1 : 0)) && op.trans.every((t) => t === 0));
  const sites: Site[] = [];
  const grid = new Map<number, Site[]>();
  const wrap = (x: number): number => {
    const w = x - Math.floor(x);
    return w >= 1 ? 0 : w;
  };
  const bin = (x: number): number => Math.min(BINS - 1, Math.floor(x * BINS));
  const key = (a: number, b: number, c: number): number =>
    (((a + BINS) % BINS) * BINS + ((b + BINS) % BINS)) * BINS + ((c + BINS) % BINS);
  const close = (p: readonly number[], q: readonly number[]): boolean =>
    [0, 1, 2].every((d) => {
      const x = p[d]! - q[d]!;
      return Math.abs(x - Math.round(x)) < SITE_TOL;
    });

  rows.forEach((row, r) => {
    for (const op of ops) {
      const f = row.frac;
      const image = [0, 1, 2].map(
        (i) => op.rot[3 * i]! * f[0] + op.rot[3 * i + 1]! * f[1] + op.rot[3 * i + 2]! * f[2] + op.trans[i]!,
      ) as [number, number, number];
      const w = image.map(wrap) as [number, number, number];
      const b = w.map(bin) as [number, number, number];
      let found: Site | undefined;
      for (let i = -1; i <= 1 && !found; i++)
        for (let j = -1; j <= 1 && !found; j++)
          for (let k = -1; k <= 1 && !found; k++) {
            found = grid.get(key(b[0] + i, b[1] + j, b[2] + k))?.find((s) => close(s.frac, w));
          }
      if (!found) {
        found = { frac: onlyIdentity ? image : w, sources: new Map() };
        sites.push(found);
        const kk = key(...b);
        const list = grid.get(kk);
        if (list) list.push(found);
        else grid.set(kk, [found]);
      }
      found.sources.set(r, [row.z, row.occ]);
    }
  });

  const frac: number[] = [];
  const numbers: number[] = [];
  for (const site of sites) {
    const bySpecies = new Map<number, number>();
    let total = 0;
    for (const [z, occ] of site.sources.values()) {
      bySpecies.set(z, (bySpecies.get(z) ?? 0) + occ);
      total += occ;
    }
    if (total < 0.5) continue;
    let best = -1;
    let bestOcc = -Infinity;
    for (const [z, occ] of bySpecies) if (occ > bestOcc) [best, bestOcc] = [z, occ];
    frac.push(...site.frac);
    numbers.push(best);
  }
  return { frac, numbers };
}

// ---------------------------------------------------------------------------------------------
// Blocks to crystals

function blockToCrystal(block: Block, file: string): Crystal | undefined {
  const col = (tag: string) => block.columns.get(tag);
  const coordTags = col("_atom_site_fract_x")
    ? ["_atom_site_fract_x", "_atom_site_fract_y", "_atom_site_fract_z"]
    : col("_atom_site_cartn_x")
      ? ["_atom_site_cartn_x", "_atom_site_cartn_y", "_atom_site_cartn_z"]
      : undefined;
  const label = col("_atom_site_label");
  const type = col("_atom_site_type_symbol");
  if (!coordTags) {
    if (label || type) {
      throw new ParseError(`data block ${block.name} lists atom sites without coordinates`, { file, line: (label ?? type)!.line });
    }
    return undefined; // a block without atoms (a dictionary part, a publication block)
  }
  const coords = coordTags.map((tag) => {
    const c = col(tag);
    if (!c) throw new ParseError(`data block ${block.name} has ${coordTags[0]} but no ${tag}`, { file, line: block.line });
    return c;
  });
  const occupancy = col("_atom_site_occupancy");
  const table = [...coords, label, type, occupancy].filter((c) => c !== undefined);
  const n = coords[0]!.values.length;
  const atomLine = coords[0]!.line;
  for (const c of table) {
    if (c.values.length !== n || c.loop !== coords[0]!.loop) {
      throw new ParseError("atom-site columns must come from one loop (or all be single items)", { file, line: c.line });
    }
  }

  // Cell: lengths and angles, all required.
  const cellTags = ["a", "b", "c"].map((x) => `_cell_length_${x}`).concat(["alpha", "beta", "gamma"].map((x) => `_cell_angle_${x}`));
  const params = cellTags.map((tag) => {
    const c = col(tag);
    if (!c) throw new ParseError(`data block ${block.name} has atoms but no ${tag}`, { file, line: block.line });
    if (c.values.length !== 1) throw new ParseError(`${tag} must have one value`, { file, line: c.line });
    const x = cifNumber(c.values[0]!, tag, file);
    if (x === undefined) throw new ParseError(`${tag} is unknown ("?" or ".")`, { file, line: c.line });
    return x;
  });
  const cellLine = col("_cell_length_a")!.values[0]!.line;
  const lattice = wrapErrors(() => Lattice.fromParameters(...(params as [number, number, number, number, number, number])), {
    file,
    line: cellLine,
  });

  // Symmetry operations (identity when none are given).
  const symCol = SYMOP_TAGS.map(col).find((c) => c !== undefined);
  const ops: SymOp[] = symCol
    ? symCol.values.map((t) => {
        if (isMissing(t)) throw new ParseError("symmetry operation is unknown", { file, line: t.line });
        return wrapErrors(() => parseSymop(t.text), { file, line: t.line });
      })
    : [];
  if (ops.length === 0) ops.push({ rot: [1, 0, 0, 0, 1, 0, 0, 0, 1], trans: [0, 0, 0] });

  // Sites of the asymmetric unit.
  const rows: { frac: [number, number, number]; z: number; occ: number }[] = [];
  for (let r = 0; r < n; r++) {
    const typeTok = type?.values[r];
    const labelTok = label?.values[r];
    const nameTok = typeTok && !isMissing(typeTok) ? typeTok : labelTok && !isMissing(labelTok) ? labelTok : undefined;
    const line = nameTok?.line ?? coords[0]!.values[r]!.line;
    if (!nameTok) throw new ParseError("atom site has neither a type symbol nor a label", { file, line });
    const symbol = elementOfLabel(nameTok.text);
    if (!symbol) throw new ParseError(`no element in atom site name ${JSON.stringify(nameTok.text.slice(0, 40))}`, { file, line });
    const xyz = coords.map((c, d) => {
      const t = c.values[r]!;
      const x = cifNumber(t, coordTags[d]!, file);
      if (x === undefined) throw new ParseError(`${coordTags[d]} is unknown`, { file, line: t.line });
      return x;
    });
    const frac = (coordTags[0] === "_atom_site_fract_x" ? xyz : Array.from(lattice.toFractional(xyz))) as [number, number, number];
    const occTok = occupancy?.values[r];
    const occ = occTok ? (cifNumber(occTok, "_atom_site_occupancy", file) ?? 1) : 1;
    if (occ < 0) throw new ParseError(`negative occupancy ${occ}`, { file, line: occTok!.line });
    rows.push({ frac, z: elementBySymbol(symbol).z, occ });
  }

  const { frac, numbers } = expandSites(rows, ops);
  if (numbers.length === 0) return undefined;
  return wrapErrors(() => Crystal.fromFractional(lattice, frac, numbers), { file, line: atomLine });
}

/**
 * Every structure in a CIF: one Crystal per data block with atom sites, in file order.
 * Throws ParseError (naming file and line) for malformed input or when no block has atoms.
 */
export function parseCif(text: string, opts: { file?: string } = {}): Crystal[] {
  const file = opts.file ?? "<input>";
  const blocks = parseBlocks(tokenize(text, file), file);
  const crystals: Crystal[] = [];
  for (const block of blocks) {
    const c = blockToCrystal(block, file);
    if (c) crystals.push(c);
  }
  if (crystals.length === 0) throw new ParseError("no data block with atom sites", { file });
  return crystals;
}

// ---------------------------------------------------------------------------------------------
// Writing

/** Fixed-point with trailing zeros trimmed: 12 decimals keep a 100 Å cell's positions to 1e-10 Å. */
function fmt(x: number, decimals = 12): string {
  const s = x.toFixed(decimals).replace(/(\.\d*?)0+$/, "$1").replace(/\.$/, ".0");
  return Number(s) === 0 ? "0.0" : s;
}

/**
 * A P1 CIF of `crystal` with fractional coordinates (as written, not wrapped), type symbols and
 * labels Sr1, Ti1, O1, O2, ... The block is named `name` (whitespace removed), else the reduced formula.
 */
export function formatCif(crystal: Crystal, opts: { name?: string } = {}): string {
  const name = (opts.name ?? crystal.reducedFormula).replace(/\s+/g, "_") || "structure";
  const p = crystal.lattice.parameters;
  const counts = new Map<string, number>();
  const frac = crystal.fractional();
  const lines = [
    "# generated by crystal-rl",
    `data_${name}`,
    "_symmetry_space_group_name_H-M   'P 1'",
    "_symmetry_Int_Tables_number      1",
    `_cell_length_a     ${fmt(p.a)}`,
    `_cell_length_b     ${fmt(p.b)}`,
    `_cell_length_c     ${fmt(p.c)}`,
    `_cell_angle_alpha  ${fmt(p.alpha)}`,
    `_cell_angle_beta   ${fmt(p.beta)}`,
    `_cell_angle_gamma  ${fmt(p.gamma)}`,
    `_cell_volume       ${fmt(crystal.volume, 6)}`,
    `_chemical_formula_sum  '${[...crystal.composition].map(([s, n]) => s + n).join(" ")}'`,
    "loop_",
    "  _symmetry_equiv_pos_site_id",
    "  _symmetry_equiv_pos_as_xyz",
    "  1  'x, y, z'",
    "loop_",
    "  _atom_site_type_symbol",
    "  _atom_site_label",
    "  _atom_site_fract_x",
    "  _atom_site_fract_y",
    "  _atom_site_fract_z",
    "  _atom_site_occupancy",
  ];
  crystal.symbols.forEach((s, i) => {
    const k = (counts.get(s) ?? 0) + 1;
    counts.set(s, k);
    const xyz = [0, 1, 2].map((d) => fmt(frac[3 * i + d]!).padStart(16));
    lines.push(`  ${s.padEnd(3)} ${(s + k).padEnd(6)} ${xyz.join(" ")}  1.0`);
  });
  return lines.join("\n") + "\n";
}
