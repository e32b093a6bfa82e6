/**
 * Candidate pair lists of the batched models, built on the host and kept on the device in chunks. Two
 * kinds, chosen per structure (`BatchOptions.neighbours`, rule in `chooseKind`):
 *
 * - "all": every atom pair × every image shift through which the pair can come inside the cut-off for
 *   ANY positions in the cell. For atoms i < j the pair vector is taken per call as
 *     d = (Δf − round(Δf)) · cell + S · cell,   Δf = f_j − f_i (wrapped fractional),
 *   and S runs over every integer shift for which some point of the box [−½, ½]³, shifted by S, lies
 *   within the cut-off (`imageShifts`). Depends on the cell and the atom count only: built once, never
 *   rebuilt at fixed cell. Grows as N² × shifts per structure (40-atom SrTiO3 at 15 Å: ~60 000; 1000
 *   atoms: ~10⁷): for small cells, where shifts are many and pairs few.
 *   Layout: one block per atom pair (or several for a pair with more shifts than `blockSize`), stored
 *   slot-major [blockSize, blocks]; per block the two atoms, its cell and parameters, per slot the
 *   constant translation S · cell (padding slots: a translation past the cut-off). Forces are summed
 *   over a block's slots before they are scattered to the two atoms. (Slot-major: the cpu backend's
 *   binary ops take their fast path only for a [blocks] broadcast along the last axis; measured
 *   [64, 16384] x [16384] 18 ms, [16384, 64] x [16384, 1] 69 ms.)
 *
 * - "verlet": the pairs (with their images) closer than cut-off + skin at reference positions, found
 *   with the project's cell list (`forEachPair`, linear in N), each stored with its reference vector
 *   d_ref (Cartesian, float32). Per call
 *     d = d_ref + Δ_j − Δ_i,   Δ_a = (δf − round(δf)) · cell,  δf = f_a − f_a,ref,
 *   the displacement of each atom since the reference (minimum image in fractional space, so a move
 *   by a whole lattice vector is no move). Exact while no two atoms of the structure moved more than
 *   `skin` together (|Δ_i| + |Δ_j| ≤ skin keeps every pair now inside the cut-off in the list); the
 *   model checks that on every call and rebuilds the structure's list when it fails (batch.ts). Grows
 *   as N × neighbours: a 10 000-atom SrTiO3 perovskite at 15 Å + 1.5 Å skin holds 14.5 M candidates in
 *   the ionic model's two lists (Ewald real space, all pairs; Morse, cation–O and O–O only): 580 MiB.
 *   One slot per block (blockSize 1); the pair vector's error is float32 of |d| (not of the cell
 *   length, as in "all": a 78 Å cell's fractional coordinates carry ~5e-6 Å).
 *
 * Chunk indices (atoms, structures) are local to a group: a run of consecutive structures whose lists
 * are built, rebuilt and evaluated together (batch.ts), so that replacing or rebuilding one structure
 * rebuilds its group only.
 */
import * as tf from "@tensorflow/tfjs";
import { forEachPair } from "../../structure/cell-list.js";
import type { Crystal } from "../../structure/crystal.js";
import { inv3 } from "../../structure/lattice.js";
import type { PairGeometry } from "./batch.js";
import { disposeIndex, makeIndex, type Index } from "./ops.js";

// ---------------------------------------------------------------------------------------------------
// What a model puts in a list
// ---------------------------------------------------------------------------------------------------

/** The pair table of one structure for one term. */
export interface PairTable {
  /** Cut-off (Å): pairs at this distance or beyond contribute nothing (the term masks them). */
  cutoff: number;
  /** Class of each atom of the structure (0 ≤ class < n). */
  classes: ArrayLike<number>;
  /** Number of classes. */
  n: number;
  /**
   * Per class pair (a · n + b, symmetric): the term's `nParams` parameters, or null to leave such
   * pairs out of the list.
   */
  params: readonly (readonly number[] | null)[];
}

/** One pair term of a model (the Ewald real-space sum, Morse + C/r¹², Lennard-Jones). */
export interface PairTerm {
  /** Its name in messages ("Ewald real-space"). */
  name: string;
  nParams: number;
  /** Its table for structure s. */
  table(s: number): PairTable;
  /**
   * e and g = (de/dr)/r of a chunk's candidates ([blockSize, blocks]), zero at and beyond the cut-off
   * (call inside a tidy); `params` are the chunk's per-block parameters.
   */
  evaluate(geometry: PairGeometry, params: tf.Tensor1D[]): { e: tf.Tensor2D; g: tf.Tensor2D };
}

export type ListKind = "all" | "verlet";

/** One chunk of a list on the device: `size` = blockSize × `blocks` candidates, slot-major. */
export interface PairChunk {
  kind: ListKind;
  blocks: number;
  blockSize: number;
  size: number;
  /** [blocks] group-local indices of the two atoms of each block's pair. */
  i: Index;
  j: Index;
  /**
   * [blockSize, blocks] per component (Å): "all", each candidate's image translation S · cell;
   * "verlet", its reference pair vector d_ref.
   */
  tx: tf.Tensor2D;
  ty: tf.Tensor2D;
  tz: tf.Tensor2D;
  /** "all": 9 x [blocks], cell[3k + c] of each block's structure; "verlet": empty. */
  cell: tf.Tensor1D[];
  /** nParams x [blocks]. */
  params: tf.Tensor1D[];
  /** [blocks] group-local structure of each block; null in a group of one structure. */
  structure: Index | null;
}

export function disposeChunks(chunks: readonly PairChunk[]): void {
  for (const c of chunks) {
    disposeIndex(c.i);
    disposeIndex(c.j);
    if (c.structure) disposeIndex(c.structure);
    tf.dispose([c.tx, c.ty, c.tz, ...c.cell, ...c.params]);
  }
}

// ---------------------------------------------------------------------------------------------------
// Image shifts
// ---------------------------------------------------------------------------------------------------

/**
 * min of wᵀ G w over the box lo_d <= w_d <= hi_d (G positive definite, row-major 3x3). At the minimum
 * each w_d sits at a bound or is free (KKT): the 27 patterns are tried, the free components solved for,
 * and the feasible minimum kept.
 */
function boxMinNorm2(G: Float64Array, lo: readonly number[], hi: readonly number[]): number {
  let best = Infinity;
  const w = [0, 0, 0];
  for (let pattern = 0; pattern < 27; pattern++) {
    const free: number[] = [];
    let code = pattern;
    for (let d = 0; d < 3; d++) {
      const st = code % 3; // 0: lower bound, 1: upper bound, 2: free
      code = Math.floor(code / 3);
      if (st === 2) free.push(d);
      else w[d] = st === 0 ? lo[d]! : hi[d]!;
    }
    if (free.length === 3) {
      w[0] = w[1] = w[2] = 0;
    } else if (free.length > 0) {
      // G_FF w_F = −G_FX w_X, Gaussian elimination on at most 2 unknowns.
      const f = free.length;
      const M = free.map((a) => free.map((b) => G[3 * a + b]!));
      const rhs = free.map((a) => {
        let v = 0;
        for (let d = 0; d < 3; d++) if (!free.includes(d)) v -= G[3 * a + d]! * w[d]!;
        return v;
      });
      let sol: number[];
      if (f === 1) sol = [rhs[0]! / M[0]![0]!];
      else {
        const det = M[0]![0]! * M[1]![1]! - M[0]![1]! * M[1]![0]!;
        sol = [(rhs[0]! * M[1]![1]! - M[0]![1]! * rhs[1]!) / det, (M[0]![0]! * rhs[1]! - rhs[0]! * M[1]![0]!) / det];
      }
      for (let t = 0; t < f; t++) w[free[t]!] = sol[t]!;
    }
    let ok = true;
    for (let d = 0; d < 3; d++) if (!(w[d]! >= lo[d]! - 1e-12 && w[d]! <= hi[d]! + 1e-12)) ok = false;
    if (!ok) continue;
    let q = 0;
    for (let a = 0; a < 3; a++) for (let b = 0; b < 3; b++) q += w[a]! * G[3 * a + b]! * w[b]!;
    best = Math.min(best, q);
  }
  return Math.max(0, best);
}

function gram(cell: ArrayLike<number>): Float64Array {
  const G = new Float64Array(9);
  for (let a = 0; a < 3; a++)
    for (let b = 0; b < 3; b++) G[3 * a + b] = cell[3 * a]! * cell[3 * b]! + cell[3 * a + 1]! * cell[3 * b + 1]! + cell[3 * a + 2]! * cell[3 * b + 2]!;
  return G;
}

/** Heights of the cell (distance between opposite faces) along each reciprocal direction (Å). */
export function heights(cell: ArrayLike<number>): [number, number, number] {
  const inv = inv3(cell);
  // Row d of the reciprocal (without 2π) is column d of the inverse; the height is 1 / its length.
  const h = (d: number): number => 1 / Math.hypot(inv[d]!, inv[3 + d]!, inv[6 + d]!);
  return [h(0), h(1), h(2)];
}

/** Cell volume (Å³). */
function volume(c: ArrayLike<number>): number {
  return Math.abs(c[0]! * (c[4]! * c[8]! - c[5]! * c[7]!) - c[1]! * (c[3]! * c[8]! - c[5]! * c[6]!) + c[2]! * (c[3]! * c[7]! - c[4]! * c[6]!));
}

/**
 * Integer shifts S (3 per entry) such that a point (u + S) · cell with u in [−½, ½]³ can lie closer
 * than `cutoff` to the origin: every image through which a pair of atoms, its fractional difference
 * wrapped into [−½, ½], can come within the cut-off.
 */
export function imageShifts(cell: ArrayLike<number>, cutoff: number): Int32Array {
  const G = gram(cell);
  const h = heights(cell);
  const c2 = cutoff * cutoff;
  // |w_d| <= |x| / h_d for x = w · cell, so |S_d| − ½ < cutoff / h_d.
  const m = h.map((hd) => Math.floor(cutoff / hd + 0.5));
  const out: number[] = [];
  for (let a = -m[0]!; a <= m[0]!; a++)
    for (let b = -m[1]!; b <= m[1]!; b++)
      for (let c = -m[2]!; c <= m[2]!; c++) {
        if (boxMinNorm2(G, [a - 0.5, b - 0.5, c - 0.5], [a + 0.5, b + 0.5, c + 0.5]) < c2) out.push(a, b, c);
      }
  return Int32Array.from(out);
}

/** Lattice translations S ≠ 0, one of each ±S, with |S · cell| < cutoff: an atom's own images. */
export function selfShifts(cell: ArrayLike<number>, cutoff: number): { shifts: Int32Array; distances: Float64Array } {
  const h = heights(cell);
  const m = h.map((hd) => Math.floor(cutoff / hd));
  const shifts: number[] = [];
  const distances: number[] = [];
  for (let a = 0; a <= m[0]!; a++)
    for (let b = a === 0 ? 0 : -m[1]!; b <= m[1]!; b++)
      for (let c = a === 0 && b === 0 ? 1 : -m[2]!; c <= m[2]!; c++) {
        const x = a * cell[0]! + b * cell[3]! + c * cell[6]!;
        const y = a * cell[1]! + b * cell[4]! + c * cell[7]!;
        const z = a * cell[2]! + b * cell[5]! + c * cell[8]!;
        const r = Math.hypot(x, y, z);
        if (r < cutoff) {
          shifts.push(a, b, c);
          distances.push(r);
        }
      }
  return { shifts: Int32Array.from(shifts), distances: Float64Array.from(distances) };
}

// ---------------------------------------------------------------------------------------------------
// Costs: which kind for which structure
// ---------------------------------------------------------------------------------------------------

/** Relative cost of one block's own work (gathers, scatters, per-pair vector) in candidate evaluations. */
export const BLOCK_COST = 3;

/**
 * "auto" takes the Verlet list for a structure when the all-candidates list would hold more than this
 * many times its candidates (estimated by `kindCosts`, within 10 % of the built lists). Measured on
 * wasm (tfjs 4.22, 2 shared cores; ionic model, 15 Å, skin 1.5 Å; `bench/batched-forces.ts --kinds`):
 * a candidate costs about the same per call in either kind (the pair terms dominate; a Verlet list's
 * per-candidate gathers and scatters add little), so per-call time all / Verlet was 1.4x for 16
 * random 40-atom SrTiO3 cells (candidates 2.5x), 1.9x for 4 x 100 atoms (3.5x), 2.4x for a 320-atom
 * perovskite (6x) and 4.5x for 625 atoms (8.6x), the rest being per-call work both share (reciprocal
 * space). A Verlet rebuild (cell list on the host, upload) cost 2-5 calls' worth, so with a rebuild
 * every R calls the Verlet list wins when the time ratio passes 1 + (2..5)/R: 4 keeps MACS's small
 * cells (atoms move up to cMax = 0.4 Å per component a step: a rebuild every 1-3 steps) on "all",
 * and gives cells of a few hundred atoms and more (10 000-atom perovskite: 6.3x) Verlet lists.
 */
export const VERLET_MARGIN = 4;

/** Device bytes per candidate and per block of a list (index columns share their buffers). */
export function listBytes(kind: ListKind, candidates: number, blocks: number, nParams: number, oneStructure: boolean): number {
  const perBlock = 4 * (2 + (oneStructure ? 0 : 1) + (kind === "all" ? 9 : 0) + nParams);
  return 12 * candidates + perBlock * blocks;
}

/** The block size with the least work for these shift counts ([shifts, pairs] entries). */
export function bestBlockSize(shiftCounts: Iterable<[number, number]>): number {
  let best = 1;
  let bestCost = Infinity;
  for (const B of [1, 2, 4, 8, 16, 32, 64, 128]) {
    let cost = 0;
    for (const [n, pairs] of shiftCounts) cost += pairs * Math.ceil(n / B) * (B + BLOCK_COST);
    if (cost < bestCost) {
      bestCost = cost;
      best = B;
    }
  }
  return best;
}

/**
 * Estimated candidates of each kind per atom pair of a structure (`cutoffs`: one per term): "all"
 * takes every image shift (padded to its block size), "verlet" the images inside cut-off + skin (a
 * ball over the cell volume). Both scale with the N²/2 pairs, so only their ratio matters.
 */
export function kindCosts(cell: ArrayLike<number>, cutoffs: readonly number[], skin: number): { all: number; verlet: number } {
  const V = volume(cell);
  let all = 0;
  let verlet = 0;
  for (const rc of cutoffs) {
    const n = imageShifts(cell, rc * (1 + 1e-6) + 1e-6).length / 3;
    const B = bestBlockSize([[n, 1]]);
    all += Math.ceil(n / B) * B;
    const R = rc + skin;
    verlet += ((4 / 3) * Math.PI * R * R * R) / V;
  }
  return { all, verlet };
}

// ---------------------------------------------------------------------------------------------------
// Building a group's chunks
// ---------------------------------------------------------------------------------------------------

/** Raised when a list would pass the memory budget; `bytes` what it would take (at least). */
export class ListMemoryError extends RangeError {
  constructor(message: string) {
    super(message);
  }
}

/** Device memory left to the lists being built (bytes). */
export interface Budget {
  left: number;
  readonly maxMemory: number;
}

/** What a group's build needs to know about its structures. */
export interface GroupInput {
  who: string;
  /** First and past-the-last structure. */
  s0: number;
  s1: number;
  /** Batch offsets (S + 1) and counts. */
  offsets: Int32Array;
  counts: Int32Array;
  crystals: readonly Crystal[];
  kinds: Uint8Array; // 0 all, 1 verlet
  /** The reference structure of a Verlet slot (its cell, atoms, positions at the list's build). */
  reference(s: number): Crystal;
  skin: number;
  blockSize: number; // 0: automatic
  chunkSize: number;
}

export interface TermChunks {
  chunks: PairChunk[];
  bytes: number;
  candidates: number;
  pairs: number;
}

const mib = (x: number): string => (x / 2 ** 20).toFixed(x < 2 ** 20 ? 2 : 0);

/** Builds one term's chunks for a group's structures ("all" ones first, then "verlet" ones). */
export function buildTerm(g: GroupInput, term: PairTerm, budget: Budget): TermChunks {
  const out: TermChunks = { chunks: [], bytes: 0, candidates: 0, pairs: 0 };
  try {
    buildAll(g, term, budget, out);
    buildVerlet(g, term, budget, out);
  } catch (e) {
    disposeChunks(out.chunks);
    throw e;
  }
  return out;
}

function take(budget: Budget, bytes: number, message: () => string): void {
  if (bytes > budget.left) throw new ListMemoryError(message());
  budget.left -= bytes;
}

/** Atom pairs i < j of a structure that a table keeps, from its class counts. */
function keptPairs(t: PairTable, n: number): number {
  const count = new Float64Array(t.n);
  for (let a = 0; a < n; a++) count[t.classes[a]!]!++;
  let p = 0;
  for (let a = 0; a < t.n; a++)
    for (let b = a; b < t.n; b++) {
      if (!t.params[a * t.n + b]) continue;
      p += a === b ? (count[a]! * (count[a]! - 1)) / 2 : count[a]! * count[b]!;
    }
  return p;
}

function buildAll(g: GroupInput, term: PairTerm, budget: Budget, out: TermChunks): void {
  const { s0, s1, offsets, crystals } = g;
  const one = s1 - s0 === 1;
  const a0 = offsets[s0]!;
  interface Part {
    s: number;
    table: PairTable;
    t: Float64Array; // 3 per shift
    nShifts: number;
    pairs: number;
    pad: number;
  }
  const parts: Part[] = [];
  const counts = new Map<number, number>(); // shifts -> pairs
  for (let s = s0; s < s1; s++) {
    if (g.kinds[s] !== 0) continue;
    const table = term.table(s);
    const n = g.counts[s]!;
    const cell = crystals[s]!.cell;
    const shifts = imageShifts(cell, table.cutoff * (1 + 1e-6) + 1e-6);
    const nShifts = shifts.length / 3;
    const t = new Float64Array(shifts.length);
    for (let m = 0; m < nShifts; m++) {
      const a = shifts[3 * m]!;
      const b = shifts[3 * m + 1]!;
      const c = shifts[3 * m + 2]!;
      for (let x = 0; x < 3; x++) t[3 * m + x] = a * cell[x]! + b * cell[3 + x]! + c * cell[6 + x]!;
    }
    const pairs = keptPairs(table, n);
    counts.set(nShifts, (counts.get(nShifts) ?? 0) + pairs);
    // A wrapped pair vector u · cell is at most ½ Σ|a_d| long: padding slots get a translation past cut-off + Σ|a_d|.
    const diag = Math.hypot(cell[0]!, cell[1]!, cell[2]!) + Math.hypot(cell[3]!, cell[4]!, cell[5]!) + Math.hypot(cell[6]!, cell[7]!, cell[8]!);
    parts.push({ s, table, t, nShifts, pairs, pad: table.cutoff + diag + 1 });
  }
  if (parts.length === 0) return;
  const B = g.blockSize > 0 ? g.blockSize : bestBlockSize(counts);
  let blocks = 0;
  let pairs = 0;
  for (const p of parts) {
    blocks += p.pairs * Math.ceil(p.nShifts / B);
    pairs += p.pairs;
  }
  if (blocks === 0) return;
  const candidates = blocks * B;
  const bytes = listBytes("all", candidates, blocks, term.nParams, one);
  take(
    budget,
    bytes,
    () =>
      `${g.who}: the ${term.name} candidate list would take ${mib(bytes)} MiB on the device ` +
      `(${pairs} atom pairs, ${candidates} candidates), over maxMemory = ${mib(budget.maxMemory)} MiB (${mib(budget.left)} MiB left); ` +
      `the all-candidates list grows as N² per structure: use neighbours: "verlet" (or "auto") for large cells, or split the batch`,
  );
  out.bytes += bytes;
  out.candidates += candidates;
  out.pairs += pairs;

  const chunkBlocks = Math.max(1, Math.floor(g.chunkSize / B));
  let gb = 0;
  let host: { blocks: number; i: Int32Array; j: Int32Array; t: Float32Array[]; cell: Float32Array[]; params: Float32Array[]; structure: Int32Array } | null = null;
  const flush = (): void => {
    if (!host) return;
    const h = host;
    const shape: [number, number] = [B, h.blocks];
    out.chunks.push({
      kind: "all",
      blocks: h.blocks,
      blockSize: B,
      size: B * h.blocks,
      i: makeIndex(h.i),
      j: makeIndex(h.j),
      tx: tf.tensor2d(h.t[0]!, shape),
      ty: tf.tensor2d(h.t[1]!, shape),
      tz: tf.tensor2d(h.t[2]!, shape),
      cell: h.cell.map((x) => tf.tensor1d(x)),
      params: h.params.map((x) => tf.tensor1d(x)),
      structure: one ? null : makeIndex(h.structure),
    });
    host = null;
  };
  for (const part of parts) {
    const { s, table } = part;
    const cell = crystals[s]!.cell;
    const base = offsets[s]! - a0;
    const perPair = Math.ceil(part.nShifts / B);
    const n = g.counts[s]!;
    const cls = table.classes;
    for (let i = 0; i < n; i++)
      for (let j = i + 1; j < n; j++) {
        const params = table.params[cls[i]! * table.n + cls[j]!];
        if (!params) continue;
        for (let b = 0; b < perPair; b++, gb++) {
          if (!host) {
            const nb = Math.min(chunkBlocks, blocks - gb);
            host = {
              blocks: nb,
              i: new Int32Array(nb),
              j: new Int32Array(nb),
              t: [new Float32Array(nb * B), new Float32Array(nb * B), new Float32Array(nb * B)],
              cell: Array.from({ length: 9 }, () => new Float32Array(nb)),
              params: Array.from({ length: term.nParams }, () => new Float32Array(nb)),
              structure: new Int32Array(nb),
            };
          }
          const h = host;
          const lb = gb % chunkBlocks;
          h.i[lb] = base + i;
          h.j[lb] = base + j;
          h.structure[lb] = s - s0;
          for (let k = 0; k < 9; k++) h.cell[k]![lb] = cell[k]!;
          for (let k = 0; k < term.nParams; k++) h.params[k]![lb] = params[k]!;
          const [tx, ty, tz] = h.t as [Float32Array, Float32Array, Float32Array];
          for (let slot = 0; slot < B; slot++) {
            const m = b * B + slot;
            const at = slot * h.blocks + lb;
            if (m < part.nShifts) {
              tx[at] = part.t[3 * m]!;
              ty[at] = part.t[3 * m + 1]!;
              tz[at] = part.t[3 * m + 2]!;
            } else {
              tx[at] = part.pad;
              ty[at] = 0;
              tz[at] = 0;
            }
          }
          if (lb === h.blocks - 1) flush();
        }
      }
  }
  flush();
}

/** Pairs (with images) per structure a Verlet list of cut-off R holds, estimated from the density. */
export function verletEstimate(crystal: Crystal, R: number): number {
  const n = crystal.natoms;
  return (n * n * ((4 / 3) * Math.PI * R * R * R)) / (2 * crystal.volume);
}

function buildVerlet(g: GroupInput, term: PairTerm, budget: Budget, out: TermChunks): void {
  const { s0, s1, offsets } = g;
  const one = s1 - s0 === 1;
  const a0 = offsets[s0]!;
  const nParams = term.nParams;
  const perEntry = listBytes("verlet", 1, 1, nParams, one);
  const cap = Math.max(1, g.chunkSize);
  let n = 0;
  let buf: { i: Int32Array; j: Int32Array; st: Int32Array; t: Float32Array[]; params: Float32Array[] } | null = null;
  const fresh = (): NonNullable<typeof buf> => ({
    i: new Int32Array(cap),
    j: new Int32Array(cap),
    st: new Int32Array(one ? 0 : cap),
    t: [new Float32Array(cap), new Float32Array(cap), new Float32Array(cap)],
    params: Array.from({ length: nParams }, () => new Float32Array(cap)),
  });
  const flush = (): void => {
    if (!buf || n === 0) return;
    const b = buf;
    const shape: [number, number] = [1, n];
    // A full buffer goes as it is (never written again); the last, partial one is cut to size.
    const cut = <T extends Int32Array | Float32Array>(x: T): T => (n === cap ? x : (x.slice(0, n) as T));
    out.chunks.push({
      kind: "verlet",
      blocks: n,
      blockSize: 1,
      size: n,
      i: makeIndex(cut(b.i)),
      j: makeIndex(cut(b.j)),
      tx: tf.tensor2d(cut(b.t[0]!), shape),
      ty: tf.tensor2d(cut(b.t[1]!), shape),
      tz: tf.tensor2d(cut(b.t[2]!), shape),
      cell: [],
      params: b.params.map((x) => tf.tensor1d(cut(x))),
      structure: one ? null : makeIndex(cut(b.st)),
    });
    buf = null;
    n = 0;
  };
  for (let s = s0; s < s1; s++) {
    if (g.kinds[s] !== 1) continue;
    const table = term.table(s);
    const crystal = g.reference(s);
    const base = offsets[s]! - a0;
    const cls = table.classes;
    const tn = table.n;
    const R = table.cutoff + g.skin;
    const st = s - s0;
    let taken = 0;
    // Checked per batch of the cell list: the budget in entries still left.
    const room = Math.floor(budget.left / perEntry);
    forEachPair(crystal, R, (pb) => {
      for (let k = 0; k < pb.count; k++) {
        const a = pb.i[k]!;
        const b = pb.j[k]!;
        if (a === b) continue; // an atom and its own image: constant at fixed cell
        const params = table.params[cls[a]! * tn + cls[b]!];
        if (!params) continue;
        if (taken === room) {
          const estimate = verletEstimate(crystal, R) * perEntry;
          throw new ListMemoryError(
            `${g.who}: the ${term.name} Verlet list of structure ${s} (${crystal.natoms} atoms, cut-off ${table.cutoff.toFixed(2)} + skin ${g.skin} Å) ` +
              `would take more than ${mib(budget.left)} MiB on the device (about ${mib(estimate)} MiB for all pair types at this density; ${perEntry} bytes per pair), ` +
              `over maxMemory = ${mib(budget.maxMemory)} MiB: raise maxMemory, shorten the skin, or use the TypeScript model`,
          );
        }
        taken++;
        if (!buf) buf = fresh();
        const w = buf;
        w.i[n] = base + a;
        w.j[n] = base + b;
        if (!one) w.st[n] = st;
        w.t[0]![n] = pb.dx[k]!;
        w.t[1]![n] = pb.dy[k]!;
        w.t[2]![n] = pb.dz[k]!;
        for (let p = 0; p < nParams; p++) w.params[p]![n] = params[p]!;
        if (++n === cap) flush();
      }
    });
    budget.left -= taken * perEntry;
    out.bytes += taken * perEntry;
    out.candidates += taken;
    out.pairs += taken;
  }
  flush();
}
