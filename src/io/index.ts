/**
 * Structure files by path: the format follows the file name, reads return Crystals, and writes are
 * atomic (a temp file in the same folder, then a rename), so an interrupted write never leaves half a
 * file where a run's data should be.
 */
import { randomBytes } from "node:crypto";
import { open, readFile, rename, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import type { Crystal } from "../structure/crystal.js";
import { formatCif, parseCif } from "./cif.js";
import { formatExtxyz, parseExtxyz } from "./extxyz.js";
import { formatPoscar, parsePoscar } from "./poscar.js";

export * from "./errors.js";
export * from "./cif.js";
export * from "./poscar.js";
export * from "./extxyz.js";

export type StructureFormat = "cif" | "poscar" | "extxyz";

/**
 * The format of `path`: .cif; .vasp, .poscar or a name starting with POSCAR/CONTCAR; .xyz, .extxyz.
 * Throws an Error naming the path and the supported names otherwise.
 */
export function formatOf(path: string): StructureFormat {
  const name = basename(path);
  const ext = name.includes(".") ? name.slice(name.lastIndexOf(".") + 1).toLowerCase() : "";
  if (ext === "cif") return "cif";
  if (ext === "vasp" || ext === "poscar") return "poscar";
  if (ext === "xyz" || ext === "extxyz") return "extxyz";
  if (/^(POSCAR|CONTCAR)/i.test(name)) return "poscar";
  throw new RangeError(
    `cannot tell the structure format of ${path}: supported are .cif, .vasp, .poscar, POSCAR*, CONTCAR*, .xyz and .extxyz`,
  );
}

/** Every structure in `text`, read in the format of `path` (which also names the file in errors). */
export function parseStructures(text: string, path: string): Crystal[] {
  switch (formatOf(path)) {
    case "cif":
      return parseCif(text, { file: path });
    case "poscar":
      return [parsePoscar(text, { file: path })];
    case "extxyz":
      return parseExtxyz(text, { file: path }).map((f) => f.crystal);
  }
}

export async function readStructures(path: string): Promise<Crystal[]> {
  formatOf(path); // a bad name fails before the file is read
  return parseStructures(await readFile(path, "utf8"), path);
}

/** The first structure of `path`. */
export async function readStructure(path: string): Promise<Crystal> {
  return (await readStructures(path))[0]!;
}

/** Text of `crystals` in the format of `path`. A POSCAR holds exactly one crystal. */
export function formatStructures(crystals: readonly Crystal[], path: string): string {
  if (crystals.length === 0) throw new RangeError(`no structures to write to ${path}`);
  switch (formatOf(path)) {
    case "cif": {
      // Block names must differ within one file.
      return crystals
        .map((c, i) => formatCif(c, crystals.length > 1 ? { name: `${c.reducedFormula || "structure"}_${i + 1}` } : {}))
        .join("\n");
    }
    case "poscar":
      if (crystals.length !== 1) throw new RangeError(`a POSCAR holds one structure, got ${crystals.length} for ${path}`);
      return formatPoscar(crystals[0]!);
    case "extxyz":
      return formatExtxyz([...crystals]);
  }
}

/** Writes `crystals` to `path` atomically: the file is either the old one or the whole new one. */
export async function writeStructures(path: string, crystals: readonly Crystal[]): Promise<void> {
  const text = formatStructures(crystals, path);
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`);
  try {
    const handle = await open(tmp, "wx");
    try {
      await handle.writeFile(text, "utf8");
      await handle.sync(); // on disk before the rename makes it visible
    } finally {
      await handle.close();
    }
    await rename(tmp, path);
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
}
export * from "./espresso.js";
