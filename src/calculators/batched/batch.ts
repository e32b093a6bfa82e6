/**
 * Batches of crystals on one tensor axis, TorchSim-style: the atoms of S structures of any sizes are
 * laid end to end ([A] atoms, structure s owning [offsets[s], offsets[s + 1])), each with its structure
 * index, so one tensor pass serves the whole batch. This file holds what the batched models share:
 *
 * - `StructureBatch`: counts, offsets, per-atom structure index, cells; packs and checks positions.
 * - `BatchedModel`: the call protocol (positions in; energies and forces out, read back once), the
 *   fractional coordinates and displacements, the candidate lists of the model's pair terms (lists.ts)
 *   in groups, their Verlet checks and rebuilds, and `replace` (new structures in some slots).
 *
 * Candidate lists (lists.ts): per structure either "all" (every pair × image that can come inside the
 * cut-off for any positions: built once per cell, N² per structure, for small cells) or "verlet" (the
 * pairs inside cut-off + `skin` at reference positions, from the cell list: N × neighbours, for large
 * cells; rebuilt when two atoms of the structure moved more than `skin` together since the build).
 * `neighbours: "auto"` (default) picks per structure by estimated work per call (`kindCosts`,
 * `VERLET_MARGIN`): 40-atom random SrTiO3 cells take "all", a 1000-atom perovskite "verlet".
 * Measured on wasm (2 shared cores, bench/batched-forces.ts): the 1000-atom perovskite went from 10.7 M
 * all-candidates (381 ms a call) to 1.1 M Verlet candidates (70 ms; TypeScript ionic() 42-71 ms);
 * 10 000 atoms, refused before (~4 GiB), take 14.5 M candidates, 580 MiB, 1.6 s of set-up and 1.2 s a
 * call (TypeScript 0.74 s).
 *
 * Groups. Consecutive structures whose lists hold about `chunkSize` candidates together form a group:
 * its lists use group-local atom and structure indices, so that `replace` (MACS's auto-reset) and a
 * Verlet rebuild rebuild the groups they touch and nothing else. A call evaluates group by group (each
 * on its slice of the atoms) and concatenates the results; a model's extra terms (the ionic model's
 * reciprocal space) are per group too.
 *
 * An atom and its own images are at fixed distances |S · cell| and give a constant energy and no
 * force: each model sums them once, in float64, at set-up.
 *
 * Float32: tfjs computes in float32 on every backend. Positions given as arrays are turned into
 * fractional coordinates and wrapped into [0, 1) in float64 on the host, then rounded once to float32
 * (on the device, from a positions tensor, the product with the inverse cell is float32 too), so an
 * "all" pair vector carries an error of about 1e-7 × the cell length; Verlet displacements are
 * computed in float64 on the host, and a Verlet pair vector carries float32 of its own length.
 * Measured on 40-atom random SrTiO3 with 1 Å contacts: computing the fractional coordinates on the
 * device instead took the Lennard-Jones energy error from 2e-7 to 7e-6 relative (the r⁻¹² wall
 * multiplies a distance error twelve-fold).
 *
 * Memory: `maxMemory` bounds the device memory of everything a model keeps (lists, per-atom and
 * reciprocal constants), checked before each list is stored (and while a Verlet list streams in); a
 * list past it is refused with a RangeError that states its size. `bytes` reports what a model holds.
 */
import * as tf from "@tensorflow/tfjs";
import { CalculatorError } from "../calculator.js";
import type { Crystal } from "../../structure/crystal.js";
import { inv3 } from "../../structure/lattice.js";
import { blockSums, disposeIndex, gatherRows, makeIndex, segmentSum, type Index } from "./ops.js";
import {
  buildTerm,
  disposeChunks,
  kindCosts,
  ListMemoryError,
  VERLET_MARGIN,
  verletEstimate,
  type Budget,
  type GroupInput,
  type ListKind,
  type PairChunk,
  type PairTerm,
  type TermChunks,
} from "./lists.js";

export { imageShifts, selfShifts, type PairTerm, type PairTable, type ListKind } from "./lists.js";

/** Options shared by the batched models. */
export interface BatchOptions {
  /**
   * Candidates per block of an "all" list (one atom pair's image shifts, padded to a multiple of it).
   * Default 0: per list, the size with the least work for its shift counts.
   */
  blockSize?: number;
  /** Candidate pairs evaluated per tensor pass; bounds the memory of one call. Default 2^19. */
  chunkSize?: number;
  /**
   * Refuse to keep more device memory than this (bytes): lists (all-candidates: 12 per candidate and
   * 48-68 per block; Verlet: 32-48 per pair), per-atom and reciprocal-space constants. Default 2^30
   * (1 GiB).
   */
  maxMemory?: number;
  /**
   * Candidate lists per structure: "all" (every pair × image, built once per cell), "verlet" (pairs
   * inside cut-off + skin, rebuilt when atoms move past the skin), "auto" (by estimated work per call;
   * the default).
   */
  neighbours?: "auto" | ListKind;
  /**
   * Verlet skin (Å): the list's reach beyond the cut-off; a structure's lists are rebuilt when two of
   * its atoms moved more than this together since the build. Default 1.5: 10 000-atom SrTiO3 at 15 Å
   * holds 14.5 M candidates (580 MiB; 1 Å: 13.3 M, 2 Å: 16 M), and a rebuild (~1.3 s on the host) is
   * rare in a relaxation.
   */
  skin?: number;
}

/** Positions: one array of 3N_s Cartesian components (Å) per structure, or all of them packed (3A). */
export type PositionsInput = ArrayLike<number> | readonly ArrayLike<number>[];

/** Energies (eV, one per structure) and forces (eV/Å, 3A, packed in structure order). */
export interface BatchResult {
  energies: Float64Array;
  forces: Float64Array;
}

/** The same on the device: caller disposes both. */
export interface BatchTensors {
  /** [S] eV. */
  energies: tf.Tensor1D;
  /** [A, 3] eV/Å. */
  forces: tf.Tensor2D;
}

// ---------------------------------------------------------------------------------------------------
// Structures and positions
// ---------------------------------------------------------------------------------------------------

/** The structures of a batch: atom counts, offsets and per-atom structure index, cells. Immutable. */
export class StructureBatch {
  readonly structures: number;
  readonly atoms: number;
  /** Atoms per structure. */
  readonly counts: Int32Array;
  /** [S + 1]: structure s owns atoms [offsets[s], offsets[s + 1]). */
  readonly offsets: Int32Array;
  /** [A]: the structure of each atom. */
  readonly structureIndex: Int32Array;

  constructor(
    readonly crystals: readonly Crystal[],
    readonly who: string,
  ) {
    const S = crystals.length;
    if (S === 0) throw new RangeError(`${who}: empty batch (no structures)`);
    this.structures = S;
    this.counts = new Int32Array(S);
    this.offsets = new Int32Array(S + 1);
    for (let s = 0; s < S; s++) {
      const n = crystals[s]!.natoms;
      if (n === 0) throw new RangeError(`${who}: structure ${s} has no atoms`);
      this.counts[s] = n;
      this.offsets[s + 1] = this.offsets[s]! + n;
    }
    this.atoms = this.offsets[S]!;
    this.structureIndex = new Int32Array(this.atoms);
    for (let s = 0; s < S; s++) this.structureIndex.fill(s, this.offsets[s]!, this.offsets[s + 1]!);
  }

  /** The same batch with `crystals[k]` in slot `slots[k]`. */
  with(slots: readonly number[], crystals: readonly Crystal[]): StructureBatch {
    const next = [...this.crystals];
    slots.forEach((s, k) => (next[s] = crystals[k]!));
    return new StructureBatch(next, this.who);
  }

  /** "structure s, atom k" for packed atom a. */
  describeAtom(a: number): string {
    const s = this.structureIndex[a]!;
    const k = a - this.offsets[s]!;
    return `structure ${s}, atom ${k} (${this.crystals[s]!.symbols[k]})`;
  }

  /**
   * Positions as packed components, x y z per atom in structure order (3A); a RangeError
   * naming the structure (and atom) for a wrong length or a non-finite coordinate. Without
   * `positions`, the crystals' own.
   */
  pack(positions?: PositionsInput): Float64Array {
    const { who, structures: S, offsets } = this;
    const out = new Float64Array(3 * this.atoms);
    if (positions === undefined) {
      for (let s = 0; s < S; s++) out.set(this.crystals[s]!.positions, 3 * offsets[s]!);
      return out;
    }
    const perStructure = Array.isArray(positions) && positions.length > 0 && typeof positions[0] !== "number";
    if (perStructure) {
      const list = positions as readonly ArrayLike<number>[];
      if (list.length !== S) throw new RangeError(`${who}: positions for ${list.length} structures given, the batch has ${S}`);
      for (let s = 0; s < S; s++) {
        const p = list[s]!;
        const need = 3 * this.counts[s]!;
        if (p.length !== need) {
          throw new RangeError(`${who}: structure ${s} has ${this.counts[s]} atoms and needs ${need} position components, got ${p.length}`);
        }
        const base = 3 * offsets[s]!;
        for (let k = 0; k < need; k++) out[base + k] = p[k]!;
      }
    } else {
      const p = positions as ArrayLike<number>;
      if (p.length !== 3 * this.atoms) {
        throw new RangeError(`${who}: packed positions need 3 × ${this.atoms} = ${3 * this.atoms} components (${S} structures), got ${p.length}`);
      }
      for (let k = 0; k < p.length; k++) out[k] = p[k]!;
    }
    for (let k = 0; k < out.length; k++) {
      if (!Number.isFinite(out[k]!)) throw new RangeError(`${who}: ${this.describeAtom(Math.floor(k / 3))} has a non-finite coordinate (${out[k]})`);
    }
    return out;
  }
}

// ---------------------------------------------------------------------------------------------------
// Pair geometry and sums (per chunk, on the tensors)
// ---------------------------------------------------------------------------------------------------

/** Distances of one chunk, each [blockSize, blocks]. */
export interface PairGeometry {
  dx: tf.Tensor2D;
  dy: tf.Tensor2D;
  dz: tf.Tensor2D;
  r2: tf.Tensor2D;
  r: tf.Tensor2D;
  /** 1 / r and 1 / r². */
  ir: tf.Tensor2D;
  ir2: tf.Tensor2D;
}

/**
 * Per-atom inputs of a call ([A] each, or a group's slice): fractional coordinates wrapped into
 * [0, 1), and, when the model has Verlet lists, each atom's Cartesian displacement since its
 * structure's reference (0 for atoms of "all" structures).
 */
export interface Fractional {
  fx: tf.Tensor1D;
  fy: tf.Tensor1D;
  fz: tf.Tensor1D;
  vx?: tf.Tensor1D;
  vy?: tf.Tensor1D;
  vz?: tf.Tensor1D;
}

/**
 * Pair vectors and distances of a chunk (call inside a tidy). "all": per block, the wrapped fractional
 * difference of its pair and its Cartesian form u · cell ([blocks]); per candidate, that plus the
 * candidate's translation ([blockSize, blocks], the per-block vector broadcast along the slots).
 * "verlet": per pair, the reference vector plus the difference of the two displacements.
 */
export function pairGeometry(chunk: PairChunk, f: Fractional): PairGeometry {
  let dx: tf.Tensor2D;
  let dy: tf.Tensor2D;
  let dz: tf.Tensor2D;
  if (chunk.kind === "verlet") {
    const moved = (v: tf.Tensor1D | undefined, t: tf.Tensor2D): tf.Tensor2D => tf.add(t, tf.sub(gatherRows(v!, chunk.j), gatherRows(v!, chunk.i)));
    dx = moved(f.vx, chunk.tx);
    dy = moved(f.vy, chunk.ty);
    dz = moved(f.vz, chunk.tz);
  } else {
    const wrapped = (x: tf.Tensor1D): tf.Tensor1D => {
      const d = tf.sub(gatherRows(x, chunk.j), gatherRows(x, chunk.i));
      return tf.sub(d, tf.round(d));
    };
    const ux = wrapped(f.fx);
    const uy = wrapped(f.fy);
    const uz = wrapped(f.fz);
    const c = chunk.cell;
    const cart = (k: number, t: tf.Tensor2D): tf.Tensor2D => tf.add(t, tf.addN([tf.mul(ux, c[k]!), tf.mul(uy, c[3 + k]!), tf.mul(uz, c[6 + k]!)]));
    dx = cart(0, chunk.tx);
    dy = cart(1, chunk.ty);
    dz = cart(2, chunk.tz);
  }
  const r2 = tf.addN([tf.square(dx), tf.square(dy), tf.square(dz)]) as tf.Tensor2D;
  const r = tf.sqrt(r2);
  const ir = tf.reciprocal(r);
  return { dx, dy, dz, r2, r, ir, ir2: tf.square(ir) };
}

/** Running sums of a call: energies [S] (the part that depends on positions), forces per component [A]. */
export type Accumulators = {
  energy: tf.Tensor1D;
  fx: tf.Tensor1D;
  fy: tf.Tensor1D;
  fz: tf.Tensor1D;
};

/**
 * Adds one chunk's pair energies e and g = (de/dr)/r ([blockSize, blocks], zero for masked pairs) into
 * the sums: E_s += Σ e, F_i += Σ g d, F_j −= Σ g d (d from i to the image of j), summed over each
 * block's slots first (one pair per block) and then scattered to the atoms. Call inside a tidy.
 * Energies of a group of one structure are summed in two levels (`sumInTwo`); those of a Verlet chunk
 * of several structures per atom first (`atomStructure`: the group's atom → structure index), then per
 * structure, since a scatter adds in one loop (forced Verlet lists of 5-40-atom cells at 16.5 Å:
 * 1.9e-5 of |E| + N eV lost, against 2e-6 per atom first).
 */
export function addPairs(
  chunk: PairChunk,
  geometry: PairGeometry,
  e: tf.Tensor2D,
  g: tf.Tensor2D,
  acc: Accumulators,
  S: number,
  A: number,
  atomStructure?: Index,
): Accumulators {
  let sums: tf.Tensor1D;
  if (!chunk.structure) sums = sumInTwo(blockSums(e));
  else if (chunk.kind === "verlet" && atomStructure) sums = segmentSum(segmentSum(blockSums(e), chunk.i, A), atomStructure, S);
  else sums = segmentSum(blockSums(e), chunk.structure, S);
  const energy = tf.add(acc.energy, sums) as tf.Tensor1D;
  const force = (d: tf.Tensor2D, f: tf.Tensor1D): tf.Tensor1D => {
    const gd = blockSums(tf.mul(g, d)); // [blocks]
    return tf.add(f, tf.sub(segmentSum(gd, chunk.i, A), segmentSum(gd, chunk.j, A))) as tf.Tensor1D;
  };
  return { energy, fx: force(geometry.dx, acc.fx), fy: force(geometry.dy, acc.fy), fz: force(geometry.dz, acc.fz) };
}

/**
 * Σ x as [1], summed in two levels (rows of about √n, then the row sums): a float32 sum in one loop
 * over a chunk of 2^19 pair energies (the backends' Sum kernels) lost up to 3e-5 of a 1000-atom
 * structure's energy, the Ewald terms being large and of both signs.
 */
export function sumInTwo(x: tf.Tensor1D): tf.Tensor1D {
  const n = x.shape[0];
  if (n <= 4096) return tf.reshape(tf.sum(x), [1]);
  const cols = Math.ceil(Math.sqrt(n));
  const rows = Math.ceil(n / cols);
  const padded = rows * cols === n ? x : tf.pad(x, [[0, rows * cols - n]]);
  return tf.reshape(tf.sum(tf.sum(tf.reshape(padded, [rows, cols]), 1)), [1]);
}

/** Zero accumulators for a call. */
export function zeroAccumulators(S: number, A: number): Accumulators {
  return { energy: tf.zeros([S]), fx: tf.zeros([A]), fy: tf.zeros([A]), fz: tf.zeros([A]) };
}

// ---------------------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------------------

/** `blockSize` 0: chosen per list. */
const AUTO = 0;

export const DEFAULT_BATCH_OPTIONS: Readonly<Required<BatchOptions>> = Object.freeze({
  blockSize: AUTO,
  chunkSize: 1 << 19,
  maxMemory: 2 ** 30,
  neighbours: "auto",
  skin: 1.5,
});

/** Checks and completes `BatchOptions`. */
export function batchOptions(who: string, o: BatchOptions): Required<BatchOptions> {
  const r: Required<BatchOptions> = { ...DEFAULT_BATCH_OPTIONS };
  for (const k of ["blockSize", "chunkSize", "maxMemory"] as const) {
    const v = o[k];
    if (v === undefined) continue;
    if (!(Number.isInteger(v) && (v > 0 || (k === "blockSize" && v === AUTO)))) {
      throw new RangeError(`${who}: ${k} must be a positive whole number${k === "blockSize" ? " (or 0: automatic)" : ""}, got ${v}`);
    }
    r[k] = v;
  }
  if (o.neighbours !== undefined) {
    if (!["auto", "all", "verlet"].includes(o.neighbours)) throw new RangeError(`${who}: neighbours must be "auto", "all" or "verlet", got ${String(o.neighbours)}`);
    r.neighbours = o.neighbours;
  }
  if (o.skin !== undefined) {
    if (!(o.skin > 0 && Number.isFinite(o.skin))) throw new RangeError(`${who}: skin must be a positive number of Å, got ${o.skin}`);
    r.skin = o.skin;
  }
  return r;
}

const mib = (x: number): string => (x / 2 ** 20).toFixed(x < 2 ** 20 ? 2 : 0);

// ---------------------------------------------------------------------------------------------------
// The model
// ---------------------------------------------------------------------------------------------------

/** A run of consecutive structures whose lists (and extra terms) are built and evaluated together. */
interface Group<X> {
  s0: number;
  s1: number;
  terms: TermChunks[];
  /** Group-local structure of each atom (groups of several structures with Verlet lists). */
  atomStructure: Index | null;
  extra: X | null;
  extraBytes: number;
}

/** Per-call inputs prepared on the host: wrapped fractional coordinates, Verlet displacements (3 x [A]). */
interface HostInputs {
  f: Float32Array[];
  v: Float32Array[] | null;
}

/** What a model's per-structure set-up must hold. */
export interface StructureSetup {
  /** eV, float64: the energy terms that do not depend on positions at fixed cell. */
  constant: number;
}

/**
 * Base of the batched models. A model gives its pair terms (`terms`: cut-off, classes and parameters
 * per structure, and the energy and g of a chunk), a per-structure set-up (`prepare`: checks and
 * float64 constants), and optionally per-group extra terms (`buildExtra` / `evaluateExtra`); this
 * class builds the lists, keeps them valid (Verlet checks, `replace`) and runs the calls (`compute`,
 * `computeAsync`, `computeTensors`).
 */
export abstract class BatchedModel<Setup extends StructureSetup = StructureSetup, Extra = unknown> {
  abstract readonly name: string;
  /** Calls, and structures evaluated (each one force call in MACS's currency). */
  readonly counts = { calls: 0, forceCalls: 0 };
  /** Verlet list rebuilds so far (one per structure rebuilt), and the host time they took (ms). */
  readonly verlet = { rebuilds: 0, ms: 0 };
  protected readonly options: Required<BatchOptions>;
  protected readonly who: string;
  /** Per structure, the model's set-up. */
  protected setups: Setup[] = [];
  /** The model's pair terms; set by the subclass before `init`. */
  protected abstract readonly terms: readonly PairTerm[];
  private current: StructureBatch | null = null;
  private groups: Group<Extra>[] = [];
  /** Per structure: 0 "all", 1 "verlet". */
  private kinds = new Uint8Array(0);
  /** Per structure: the Verlet reference (positions at the list's build), or null ("all"). */
  private references: (Crystal | null)[] = [];
  /** 3A: fractional coordinates (not wrapped) of each Verlet atom at its reference. */
  private refFrac = new Float64Array(0);
  private energyConstant = new Float64Array(0);
  /** 9 x [A]: inv(cell)[3k + c] of each atom's structure (for positions given as a tensor). */
  private inverse: tf.Tensor1D[] = [];
  /** 9S: inv(cell) of each structure, float64 (for positions given as arrays). */
  private inverse64 = new Float64Array(0);
  private constantTensor: tf.Tensor1D | null = null;
  private disposed = false;

  protected constructor(who: string, options: BatchOptions) {
    this.who = who;
    this.options = batchOptions(who, options);
  }

  /** Checks a structure and computes its set-up (no device work; may throw for bad input). */
  protected abstract prepare(crystal: Crystal, s: number): Setup;

  /** Extra per-group terms on the device (the ionic model's reciprocal space), with their bytes. */
  protected buildExtra(_s0: number, _s1: number, _batch: StructureBatch): { extra: Extra; bytes: number } | null {
    return null;
  }

  /** Adds the extra terms of a group (call inside a tidy); `f` is the group's slice. */
  protected evaluateExtra(_extra: Extra, _f: Fractional, acc: Accumulators, _S: number): Accumulators {
    return acc;
  }

  protected disposeExtra(_extra: Extra): void {}

  /** The batch's structures, counts and offsets. */
  get batch(): StructureBatch {
    if (!this.current) throw new Error(`${this.who}: not set up`);
    return this.current;
  }

  get structures(): number {
    return this.batch.structures;
  }

  get atoms(): number {
    return this.batch.atoms;
  }

  /** Candidate pairs held on the device (all lists, padding included). */
  get candidates(): number {
    let n = 0;
    for (const g of this.groups) for (const t of g.terms) n += t.candidates;
    return n;
  }

  /** Device memory the model holds (bytes): lists, extra terms, per-atom constants. */
  get bytes(): number {
    let n = this.atomBytes();
    for (const g of this.groups) {
      n += g.extraBytes;
      for (const t of g.terms) n += t.bytes;
    }
    return n;
  }

  /** The list kind of structure s. */
  kind(s: number): ListKind {
    return this.kinds[s] ? "verlet" : "all";
  }

  /** Candidates per list kind, and the groups. */
  describe(): { all: number; verlet: number; groups: number; bytes: number } {
    let all = 0;
    let verlet = 0;
    for (const g of this.groups) for (const t of g.terms) for (const c of t.chunks) (c.kind === "all" ? (all += c.size) : (verlet += c.size));
    return { all, verlet, groups: this.groups.length, bytes: this.bytes };
  }

  private atomBytes(): number {
    return this.current ? 4 * (9 * this.current.atoms + this.current.structures) : 0;
  }

  // ---- set-up -----------------------------------------------------------------------------------

  /** Sets the model up on `crystals` (the subclass calls it once its terms exist). */
  protected init(crystals: readonly Crystal[]): void {
    const batch = new StructureBatch(crystals, this.who);
    // Every structure's set-up first: bad input fails before anything reaches the device.
    this.setups = crystals.map((c, s) => this.prepare(c, s));
    this.current = batch;
    this.kinds = Uint8Array.from(crystals, (c, s) => this.chooseKind(c, s));
    this.references = crystals.map((c, s) => (this.kinds[s] ? c : null));
    try {
      this.atomSetup();
      const budget: Budget = { left: this.options.maxMemory - this.atomBytes(), maxMemory: this.options.maxMemory };
      for (const [s0, s1] of this.partition()) this.groups.push(this.buildGroup(s0, s1, budget, (s) => this.references[s]!));
    } catch (e) {
      this.dispose(); // what was already on the device
      throw e;
    }
  }

  /** "all" or "verlet" for structure s (its set-up in place). */
  private chooseKind(crystal: Crystal, s: number): number {
    const o = this.options;
    if (o.neighbours !== "auto") return o.neighbours === "verlet" ? 1 : 0;
    const cutoffs = this.terms.map((t) => t.table(s).cutoff);
    const { all, verlet } = kindCosts(crystal.cell, cutoffs, o.skin);
    return verlet * VERLET_MARGIN < all ? 1 : 0;
  }

  /** Estimated candidates of structure s (for grouping). */
  private estimate(s: number): number {
    const c = this.batch.crystals[s]!;
    const n = c.natoms;
    let est = 0;
    for (const t of this.terms) {
      const rc = t.table(s).cutoff;
      if (this.kinds[s]) est += verletEstimate(c, rc + this.options.skin);
      else est += ((n * (n - 1)) / 2) * kindCosts(c.cell, [rc], this.options.skin).all;
    }
    return est;
  }

  /** Consecutive runs of structures of one kind, about `chunkSize` candidates per run. */
  private partition(): [number, number][] {
    const S = this.batch.structures;
    const out: [number, number][] = [];
    let s0 = 0;
    let load = 0;
    for (let s = 0; s < S; s++) {
      const est = this.estimate(s);
      if (s > s0 && (this.kinds[s] !== this.kinds[s0] || load + est > this.options.chunkSize)) {
        out.push([s0, s]);
        s0 = s;
        load = 0;
      }
      load += est;
    }
    out.push([s0, S]);
    return out;
  }

  private groupInput(s0: number, s1: number, reference: (s: number) => Crystal): GroupInput {
    const b = this.batch;
    return {
      who: this.who,
      s0,
      s1,
      offsets: b.offsets,
      counts: b.counts,
      crystals: b.crystals,
      kinds: this.kinds,
      reference,
      skin: this.options.skin,
      blockSize: this.options.blockSize,
      chunkSize: this.options.chunkSize,
    };
  }

  /** Lists of every term for a group (and its extra terms); all or nothing. */
  private buildTerms(s0: number, s1: number, budget: Budget, reference: (s: number) => Crystal): TermChunks[] {
    const input = this.groupInput(s0, s1, reference);
    const out: TermChunks[] = [];
    try {
      for (const term of this.terms) out.push(buildTerm(input, term, budget));
    } catch (e) {
      for (const t of out) disposeChunks(t.chunks);
      throw e;
    }
    return out;
  }

  private buildGroup(s0: number, s1: number, budget: Budget, reference: (s: number) => Crystal): Group<Extra> {
    const terms = this.buildTerms(s0, s1, budget, reference);
    let extra: { extra: Extra; bytes: number } | null = null;
    try {
      extra = this.buildExtra(s0, s1, this.batch);
      if (extra && extra.bytes > budget.left) {
        throw new ListMemoryError(
          `${this.who}: the extra terms of structures ${s0}-${s1 - 1} would take ${mib(extra.bytes)} MiB on the device, over maxMemory = ${mib(budget.maxMemory)} MiB (${mib(budget.left)} MiB left)`,
        );
      }
      if (extra) budget.left -= extra.bytes;
    } catch (e) {
      if (extra) this.disposeExtra(extra.extra);
      for (const t of terms) disposeChunks(t.chunks);
      throw e;
    }
    return { s0, s1, terms, atomStructure: this.atomStructureOf(s0, s1), extra: extra?.extra ?? null, extraBytes: extra?.bytes ?? 0 };
  }

  /** The atom → structure index of a group of several structures, one of them Verlet (else null). */
  private atomStructureOf(s0: number, s1: number): Index | null {
    if (s1 - s0 < 2 || !this.kinds.subarray(s0, s1).some((k) => k === 1)) return null;
    const { offsets } = this.batch;
    const a0 = offsets[s0]!;
    const local = new Int32Array(offsets[s1]! - a0);
    for (let s = s0; s < s1; s++) local.fill(s - s0, offsets[s]! - a0, offsets[s + 1]! - a0);
    return makeIndex(local);
  }

  private disposeGroup(g: Group<Extra>, lists = true, extra = true): void {
    if (lists) for (const t of g.terms) disposeChunks(t.chunks);
    if (lists && g.atomStructure) disposeIndex(g.atomStructure);
    if (extra && g.extra) this.disposeExtra(g.extra);
  }

  /** Per-atom device constants, float64 energy constants and Verlet reference coordinates (O(A)). */
  private atomSetup(): void {
    const batch = this.batch;
    const { crystals, offsets } = batch;
    const A = batch.atoms;
    const S = batch.structures;
    this.energyConstant = Float64Array.from(this.setups, (x) => x.constant);
    const inv = Array.from({ length: 9 }, () => new Float32Array(A));
    this.inverse64 = new Float64Array(9 * S);
    this.refFrac = new Float64Array(3 * A);
    crystals.forEach((c, s) => {
      const m = inv3(c.cell);
      this.inverse64.set(m, 9 * s);
      for (let k = 0; k < 9; k++) inv[k]!.fill(m[k]!, offsets[s]!, offsets[s + 1]!);
      const ref = this.references[s];
      if (ref) this.setReference(s, ref.positions);
    });
    tf.dispose([...this.inverse, ...(this.constantTensor ? [this.constantTensor] : [])]);
    this.inverse = [];
    this.constantTensor = null;
    this.inverse = inv.map((x) => tf.tensor1d(x));
    this.constantTensor = tf.tensor1d(Float32Array.from(this.energyConstant));
  }

  /** Fractional reference coordinates of structure s's atoms from Cartesian `positions` (3N_s). */
  private setReference(s: number, positions: ArrayLike<number>): void {
    const o = 9 * s;
    const inv = this.inverse64;
    const base = this.batch.offsets[s]!;
    const n = this.batch.counts[s]!;
    for (let k = 0; k < n; k++) {
      const x = positions[3 * k]!;
      const y = positions[3 * k + 1]!;
      const z = positions[3 * k + 2]!;
      for (let c = 0; c < 3; c++) this.refFrac[3 * (base + k) + c] = x * inv[o + c]! + y * inv[o + 3 + c]! + z * inv[o + 6 + c]!;
    }
  }

  /** Bytes held outside the groups in `skip`, for a budget that rebuilds them. */
  private budgetWithout(skip: ReadonlySet<Group<Extra>>, lists: boolean, extra: boolean): Budget {
    let held = this.atomBytes();
    for (const g of this.groups) {
      if (!(skip.has(g) && extra)) held += g.extraBytes;
      if (!(skip.has(g) && lists)) for (const t of g.terms) held += t.bytes;
    }
    return { left: this.options.maxMemory - held, maxMemory: this.options.maxMemory };
  }

  private groupsOf(slots: readonly number[]): Group<Extra>[] {
    return this.groups.filter((g) => slots.some((s) => s >= g.s0 && s < g.s1));
  }

  /**
   * Puts `crystals[k]` in slot `slots[k]` (any cell, any number of atoms; MACS's auto-reset): the
   * groups holding those slots are rebuilt, the others kept. The new structures are checked first; on
   * any failure (bad input, memory) the model is left as it was.
   */
  replace(slots: readonly number[], crystals: readonly Crystal[]): void {
    this.check();
    if (slots.length !== crystals.length) throw new RangeError(`${this.who}: ${slots.length} slots but ${crystals.length} structures`);
    const S = this.batch.structures;
    const seen = new Set<number>();
    for (const s of slots) {
      if (!Number.isInteger(s) || s < 0 || s >= S || seen.has(s)) throw new RangeError(`${this.who}: slot ${s} is not a distinct slot of 0..${S - 1}`);
      seen.add(s);
    }
    if (slots.length === 0) return;
    const prepared = crystals.map((c, k) => this.prepare(c, slots[k]!));
    const old = { batch: this.batch, setups: this.setups, kinds: this.kinds, references: this.references };
    const affected = this.groupsOf(slots);
    const built: Group<Extra>[] = [];
    try {
      this.current = old.batch.with(slots, crystals);
      this.setups = [...old.setups];
      slots.forEach((s, k) => (this.setups[s] = prepared[k]!));
      this.kinds = Uint8Array.from(old.kinds);
      this.references = [...old.references];
      slots.forEach((s, k) => {
        this.kinds[s] = this.chooseKind(crystals[k]!, s);
        this.references[s] = this.kinds[s] ? crystals[k]! : null;
      });
      const budget = this.budgetWithout(new Set(affected), true, true); // per-atom bytes of the new batch
      for (const g of affected) built.push(this.buildGroup(g.s0, g.s1, budget, (s) => this.references[s]!));
    } catch (e) {
      for (const g of built) this.disposeGroup(g);
      this.current = old.batch;
      this.setups = old.setups;
      this.kinds = old.kinds;
      this.references = old.references;
      throw e;
    }
    for (const g of affected) this.disposeGroup(g);
    this.groups = this.groups.map((g) => {
      const k = affected.indexOf(g);
      return k >= 0 ? built[k]! : g;
    });
    this.atomSetup();
  }

  // ---- calls ------------------------------------------------------------------------------------

  private check(): void {
    if (this.disposed) throw new Error(`${this.who}: the model was disposed`);
  }

  private get hasVerlet(): boolean {
    return this.kinds.some((k) => k === 1);
  }

  /** Fractional coordinates of positions [A] per component, wrapped into [0, 1), on the device. */
  private fractional(px: tf.Tensor1D, py: tf.Tensor1D, pz: tf.Tensor1D): Fractional {
    const m = this.inverse;
    const comp = (c: number): tf.Tensor1D => {
      const f = tf.addN([tf.mul(px, m[c]!), tf.mul(py, m[3 + c]!), tf.mul(pz, m[6 + c]!)]);
      return tf.sub(f, tf.floor(f)) as tf.Tensor1D;
    };
    return { fx: comp(0), fy: comp(1), fz: comp(2) };
  }

  /** The whole call on the device, group by group; energies without the constants. */
  private run(f: Fractional): Accumulators {
    this.check();
    this.counts.calls++;
    this.counts.forceCalls += this.batch.structures;
    const { offsets } = this.batch;
    if (this.groups.length === 1) return this.evaluateGroup(this.groups[0]!, f, this.batch.structures, this.batch.atoms);
    const parts = this.groups.map((g) => {
      const a0 = offsets[g.s0]!;
      const n = offsets[g.s1]! - a0;
      const cut = (x: tf.Tensor1D | undefined): tf.Tensor1D | undefined => (x ? tf.slice(x, a0, n) : undefined);
      const fg: Fractional = { fx: cut(f.fx)!, fy: cut(f.fy)!, fz: cut(f.fz)!, vx: cut(f.vx), vy: cut(f.vy), vz: cut(f.vz) };
      return this.evaluateGroup(g, fg, g.s1 - g.s0, n);
    });
    const join = (k: keyof Accumulators): tf.Tensor1D => tf.concat(parts.map((p) => p[k])) as tf.Tensor1D;
    return { energy: join("energy"), fx: join("fx"), fy: join("fy"), fz: join("fz") };
  }

  private evaluateGroup(g: Group<Extra>, f: Fractional, S: number, A: number): Accumulators {
    let acc = zeroAccumulators(S, A);
    this.terms.forEach((term, k) => {
      for (const chunk of g.terms[k]!.chunks) {
        const prev = acc;
        acc = tf.tidy(() => {
          const geometry = pairGeometry(chunk, f);
          const { e, g: gr } = term.evaluate(geometry, chunk.params);
          return addPairs(chunk, geometry, e, gr, prev, S, A, g.atomStructure ?? undefined);
        });
        tf.dispose([prev.energy, prev.fx, prev.fy, prev.fz]);
      }
    });
    if (g.extra) acc = this.evaluateExtra(g.extra, f, acc, S);
    return acc;
  }

  /**
   * Cartesian displacements (float32, 3 x [A]) of the Verlet atoms since their reference, after
   * rebuilding the lists of any structure two of whose atoms moved more than `skin` together.
   */
  private displacements(packed: Float64Array): Float32Array[] {
    const { crystals, offsets, atoms: A } = this.batch;
    const out = [new Float32Array(A), new Float32Array(A), new Float32Array(A)];
    const inv = this.inverse64;
    const skin = this.options.skin;
    const stale: number[] = [];
    const d = new Float64Array(3);
    for (let s = 0; s < crystals.length; s++) {
      if (!this.kinds[s]) continue;
      const cell = crystals[s]!.cell;
      const o = 9 * s;
      let m1 = 0;
      let m2 = 0;
      for (let a = offsets[s]!; a < offsets[s + 1]!; a++) {
        const x = packed[3 * a]!;
        const y = packed[3 * a + 1]!;
        const z = packed[3 * a + 2]!;
        for (let c = 0; c < 3; c++) {
          const f = x * inv[o + c]! + y * inv[o + 3 + c]! + z * inv[o + 6 + c]! - this.refFrac[3 * a + c]!;
          d[c] = f - Math.round(f);
        }
        let q = 0;
        for (let c = 0; c < 3; c++) {
          const v = d[0]! * cell[c]! + d[1]! * cell[3 + c]! + d[2]! * cell[6 + c]!;
          out[c]![a] = v;
          q += v * v;
        }
        if (q > m2) {
          if (q > m1) {
            m2 = m1;
            m1 = q;
          } else m2 = q;
        }
      }
      if (Math.sqrt(m1) + Math.sqrt(m2) > skin) stale.push(s);
    }
    if (stale.length > 0) {
      this.rebuildVerlet(stale, packed);
      for (const s of stale) for (const v of out) v.fill(0, offsets[s]!, offsets[s + 1]!);
    }
    return out;
  }

  /** New Verlet references at `packed` for structures `slots`, and their groups' lists rebuilt. */
  private rebuildVerlet(slots: readonly number[], packed: Float64Array): void {
    const t0 = performance.now();
    const { crystals, offsets } = this.batch;
    const fresh = new Map<number, Crystal>();
    for (const s of slots) fresh.set(s, crystals[s]!.withPositions(packed.subarray(3 * offsets[s]!, 3 * offsets[s + 1]!)));
    const affected = this.groupsOf(slots);
    const budget = this.budgetWithout(new Set(affected), true, false);
    const built: TermChunks[][] = [];
    try {
      for (const g of affected) built.push(this.buildTerms(g.s0, g.s1, budget, (s) => fresh.get(s) ?? this.references[s]!));
    } catch (e) {
      for (const terms of built) for (const t of terms) disposeChunks(t.chunks);
      throw e;
    }
    affected.forEach((g, k) => {
      this.disposeGroup(g, true, false);
      g.terms = built[k]!;
      g.atomStructure = this.atomStructureOf(g.s0, g.s1);
    });
    for (const [s, c] of fresh) {
      this.references[s] = c;
      this.setReference(s, c.positions);
    }
    this.verlet.rebuilds += slots.length;
    this.verlet.ms += performance.now() - t0;
  }

  /**
   * Positions given as arrays: checked, turned into fractional coordinates and wrapped into [0, 1) in
   * float64 here (one rounding to float32 instead of a float32 product), with the Verlet
   * displacements (and any rebuild: outside every tidy, since the rebuilt lists must outlive the call).
   */
  private hostInputs(positions?: PositionsInput): HostInputs {
    const packed = this.batch.pack(positions);
    const { atoms: A, structureIndex } = this.batch;
    const inv = this.inverse64;
    const out = [new Float32Array(A), new Float32Array(A), new Float32Array(A)];
    for (let a = 0; a < A; a++) {
      const o = 9 * structureIndex[a]!;
      const x = packed[3 * a]!;
      const y = packed[3 * a + 1]!;
      const z = packed[3 * a + 2]!;
      for (let c = 0; c < 3; c++) {
        const f = x * inv[o + c]! + y * inv[o + 3 + c]! + z * inv[o + 6 + c]!;
        const w = Math.fround(f - Math.floor(f));
        out[c]![a] = w < 1 ? w : 0; // f just below an integer can round to 1
      }
    }
    return { f: out, v: this.hasVerlet ? this.displacements(packed) : null };
  }

  /** The host inputs as tensors (inside a tidy). */
  private upload(h: HostInputs): Fractional {
    const f: Fractional = { fx: tf.tensor1d(h.f[0]!), fy: tf.tensor1d(h.f[1]!), fz: tf.tensor1d(h.f[2]!) };
    if (h.v) {
      f.vx = tf.tensor1d(h.v[0]!);
      f.vy = tf.tensor1d(h.v[1]!);
      f.vz = tf.tensor1d(h.v[2]!);
    }
    return f;
  }

  /** One packed tensor [S + 3A]: energies (without constants), then forces x, y, z per component. */
  private packedResult(positions?: PositionsInput): tf.Tensor1D {
    this.check();
    const h = this.hostInputs(positions);
    return tf.tidy(() => {
      const r = this.run(this.upload(h));
      return tf.concat([r.energy, r.fx, r.fy, r.fz]) as tf.Tensor1D;
    });
  }

  private unpack(data: Float32Array | Int32Array | Uint8Array): BatchResult {
    const { structures: S, atoms: A } = this.batch;
    const energies = new Float64Array(S);
    for (let s = 0; s < S; s++) energies[s] = data[s]! + this.energyConstant[s]!;
    const forces = new Float64Array(3 * A);
    for (let a = 0; a < A; a++) {
      forces[3 * a] = data[S + a]!;
      forces[3 * a + 1] = data[S + A + a]!;
      forces[3 * a + 2] = data[S + 2 * A + a]!;
    }
    for (let s = 0; s < S; s++) {
      if (!Number.isFinite(energies[s]!)) throw new CalculatorError(`${this.who}: the energy of structure ${s} is ${energies[s]}`, this.name);
    }
    for (let k = 0; k < forces.length; k++) {
      if (!Number.isFinite(forces[k]!)) {
        const a = Math.floor(k / 3);
        throw new CalculatorError(`${this.who}: the force on ${this.batch.describeAtom(a)} is not finite (${forces[k]})`, this.name, a);
      }
    }
    return { energies, forces };
  }

  /**
   * Energies (eV, per structure) and forces (eV/Å, 3A packed in structure order) at `positions`
   * (default: the crystals' own), read back from the device once.
   */
  compute(positions?: PositionsInput): BatchResult {
    const t = this.packedResult(positions);
    try {
      return this.unpack(t.dataSync());
    } finally {
      t.dispose();
    }
  }

  /** `compute`, reading back without blocking (for GPU backends). */
  async computeAsync(positions?: PositionsInput): Promise<BatchResult> {
    const t = this.packedResult(positions);
    try {
      return this.unpack(await t.data());
    } finally {
      t.dispose();
    }
  }

  /**
   * The same on the device, for callers that stay there: `positions` as an [A, 3] tensor (Å, packed in
   * structure order; not disposed) or as arrays. The caller disposes the result. Nothing is checked
   * for finiteness (that would need a read-back). A model with Verlet lists reads a positions tensor
   * back (dataSync, 3A numbers) for its skin check and takes the array path.
   */
  computeTensors(positions?: tf.Tensor2D | PositionsInput): BatchTensors {
    this.check();
    if (positions instanceof tf.Tensor) {
      if (positions.rank !== 2 || positions.shape[0] !== this.batch.atoms || positions.shape[1] !== 3) {
        throw new RangeError(`${this.who}: positions tensor must be [${this.batch.atoms}, 3], got [${positions.shape.join(", ")}]`);
      }
      if (this.hasVerlet) positions = positions.dataSync() as Float32Array;
    }
    const input = positions;
    const host = input instanceof tf.Tensor ? null : this.hostInputs(input);
    return tf.tidy(() => {
      let f: Fractional;
      if (input instanceof tf.Tensor) {
        const [px, py, pz] = tf.unstack(tf.cast(input, "float32"), 1) as [tf.Tensor1D, tf.Tensor1D, tf.Tensor1D];
        f = this.fractional(px, py, pz);
      } else {
        f = this.upload(host!);
      }
      const r = this.run(f);
      return {
        energies: tf.add(r.energy, this.constantTensor!) as tf.Tensor1D,
        forces: tf.stack([r.fx, r.fy, r.fz], 1) as tf.Tensor2D,
      };
    });
  }

  /** Frees the device memory the model holds; it cannot be called afterwards. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    tf.dispose([...this.inverse, ...(this.constantTensor ? [this.constantTensor] : [])]);
    for (const g of this.groups) this.disposeGroup(g);
    this.groups = [];
  }
}
