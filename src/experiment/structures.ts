/**
 * Where an experiment's structures come from: crystals in hand, a function returning them, or a
 * source described by data (random AIRSS-like cells, files), which config.json records and a
 * benchmark can redraw with another seed.
 *
 * @example
 * experiment("x").structures(random({ composition: "SrTiO3", atoms: 40, count: 64, seed: 1 }));
 * experiment("x").structures({ file: "data/srtio3.cif" });
 * experiment("x").structures([crystalA, crystalB]);
 */
import { formatOf, readStructures } from "../io/index.js";
import { Crystal } from "../structure/crystal.js";
import { randomCrystals, type RandomCrystalOptions } from "../structure/random.js";
import { describe } from "./method.js";

/** Random crystals (structure k from `new Rng(seed).fork(k)`); `seed` defaults to the experiment's. */
export interface RandomSource {
  random: RandomCrystalOptions & { count: number; seed?: number };
}

/** Every structure in one or more files (CIF, POSCAR, extended XYZ), in order. */
export interface FileSource {
  file: string | readonly string[];
}

export type StructureSource = RandomSource | FileSource;

/** What `.structures()` takes. */
export type StructuresInput = readonly Crystal[] | (() => readonly Crystal[] | Promise<readonly Crystal[]>) | StructureSource;

/** `{ random: options }`, for chains that read like the design sketch. */
export function random(options: RandomCrystalOptions & { count: number; seed?: number }): RandomSource {
  return { random: options };
}

/** How config.json describes the source. */
export type SourceDescription =
  | { kind: "random"; options: Record<string, unknown> }
  | { kind: "file"; paths: string[] }
  | { kind: "crystals" }
  | { kind: "function" };

/** Checks `input` now (the random options, the file names, each crystal), so mistakes show at the call. */
export function checkStructures(input: unknown): void {
  if (typeof input === "function") return;
  if (Array.isArray(input)) {
    if (input.length === 0) throw new RangeError("structures must not be empty");
    input.forEach((c, k) => {
      if (!(c instanceof Crystal)) throw new TypeError(`structures[${k}] is not a Crystal, got ${describe(c)}`);
    });
    return;
  }
  if (typeof input === "object" && input !== null && "random" in input) {
    const r = (input as RandomSource).random;
    if (typeof r !== "object" || r === null) throw new TypeError(`structures.random must be random-crystal options, got ${describe(r)}`);
    if (!Number.isInteger(r.count) || r.count < 1) throw new RangeError(`structures.random.count must be a positive whole number, got ${r.count}`);
    if (r.seed !== undefined && !Number.isSafeInteger(r.seed)) throw new RangeError(`structures.random.seed must be a safe integer, got ${r.seed}`);
    const { count: _c, seed: _s, ...rest } = r;
    try {
      randomCrystals({ ...rest, count: 0, seed: 0 }); // validates the options without drawing
    } catch (e) {
      if (e instanceof Error) throw new RangeError(`structures.random: ${e.message}`, { cause: e });
      throw e;
    }
    return;
  }
  if (typeof input === "object" && input !== null && "file" in input) {
    const f = (input as FileSource).file;
    const paths = typeof f === "string" ? [f] : f;
    if (!Array.isArray(paths) || paths.length === 0) throw new RangeError("structures.file must name at least one file");
    for (const p of paths) {
      if (typeof p !== "string") throw new TypeError(`structures.file must be file names, got ${describe(p)}`);
      formatOf(p);
    }
    return;
  }
  throw new TypeError(
    `structures must be an array of Crystals, a function returning them, { random: {...} } or { file: ... }, got ${describe(input)}`,
  );
}

export function describeSource(input: StructuresInput, seed: number): SourceDescription {
  if (typeof input === "function") return { kind: "function" };
  if (Array.isArray(input)) return { kind: "crystals" };
  if ("random" in input) {
    const { composition, ...rest } = input.random;
    const comp = typeof composition === "string" ? composition : Object.fromEntries(composition);
    return { kind: "random", options: { ...rest, composition: comp, seed: input.random.seed ?? seed } };
  }
  const f = (input as FileSource).file;
  return { kind: "file", paths: typeof f === "string" ? [f] : [...f] };
}

/** The structures themselves. */
export async function resolveStructures(input: StructuresInput, seed: number): Promise<Crystal[]> {
  let out: readonly Crystal[];
  if (typeof input === "function") {
    out = await input();
    checkStructures(out);
  } else if (Array.isArray(input)) {
    out = input;
  } else if ("random" in input) {
    out = randomCrystals({ ...input.random, seed: input.random.seed ?? seed });
  } else {
    const f = (input as FileSource).file;
    const paths = typeof f === "string" ? [f] : f;
    out = (await Promise.all(paths.map((p) => readStructures(p)))).flat();
    if (out.length === 0) throw new RangeError(`no structures in ${paths.join(", ")}`);
  }
  return [...out];
}

/** A crystal as exact JSON (numbers survive JSON exactly; extended XYZ would round them). */
export interface CrystalJSON {
  cell: number[];
  positions: number[];
  numbers: number[];
}

export const crystalToJSON = (c: Crystal): CrystalJSON => ({
  cell: Array.from(c.cell),
  positions: Array.from(c.positions),
  numbers: Array.from(c.numbers),
});

export const crystalFromJSON = (j: CrystalJSON): Crystal => new Crystal(j);
