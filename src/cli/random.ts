import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { writeStructures } from "../io/index.js";
import { minimumDistance } from "../structure/neighbours.js";
import { randomCrystals } from "../structure/random.js";
import { numberOption, parse, positionals, UsageError } from "./usage.js";

export const summary = "generate random crystals (AIRSS buildcell-like, as MACS uses them)";

const HELP = `crystal-rl random --composition SrTiO3 --atoms 40 [--count 10] [--seed 1] --out DIR
                   [--format cif|poscar|extxyz] [--volume-per-atom V] [--min-distance 1] [--json]

  ${summary}: a random cell of volume N·V ± 5 %, angles in [60, 120]°,
  atoms placed at least --min-distance Å apart over all periodic images.
  Writes DIR/<formula>-<seed>-<k>.<ext>, one file per structure.`;

const EXT = { cif: "cif", poscar: "vasp", extxyz: "extxyz" } as const;

export async function random(argv: string[]): Promise<string> {
  const { values, positionals: pos } = parse("random", argv, {
    composition: { type: "string" },
    atoms: { type: "string" },
    count: { type: "string", default: "1" },
    seed: { type: "string", default: "1" },
    out: { type: "string" },
    format: { type: "string", default: "cif" },
    "volume-per-atom": { type: "string" },
    "min-distance": { type: "string" },
    json: { type: "boolean", default: false },
    help: { type: "boolean", short: "h" },
  });
  if (values.help) return HELP;
  positionals("random", pos, []);
  if (!values.composition) throw new UsageError("random: --composition is required (e.g. --composition SrTiO3)");
  if (!values.out) throw new UsageError("random: --out DIR is required");
  const format = values.format as keyof typeof EXT;
  if (!(format in EXT)) throw new UsageError(`random: --format must be cif, poscar or extxyz, got "${values.format}"`);
  const atoms = numberOption("random", "atoms", values.atoms, { integer: true, min: 1 });
  if (atoms === undefined) throw new UsageError("random: --atoms is required (a whole number of formula units)");
  const count = numberOption("random", "count", values.count, { integer: true, min: 1 })!;
  const seed = numberOption("random", "seed", values.seed, { integer: true })!;
  const volumePerAtom = numberOption("random", "volume-per-atom", values["volume-per-atom"], { min: 0 });
  const minDistance = numberOption("random", "min-distance", values["min-distance"], { min: 0 });

  const crystals = randomCrystals({
    composition: values.composition,
    atoms,
    count,
    seed,
    ...(volumePerAtom !== undefined ? { volumePerAtom } : {}),
    ...(minDistance !== undefined ? { minDistance } : {}),
  });
  await mkdir(values.out, { recursive: true });
  const rows = [];
  for (const [k, c] of crystals.entries()) {
    const file = join(values.out, `${c.reducedFormula}-${seed}-${String(k).padStart(4, "0")}.${EXT[format]}`);
    await writeStructures(file, [c]);
    rows.push({ file, formula: c.formula, natoms: c.natoms, volume: c.volume, density: c.density, minDistance: minimumDistance(c) });
  }
  if (values.json) return JSON.stringify(rows, null, 2);
  return rows
    .map((r) => `${r.file}  ${r.formula}  V=${r.volume.toFixed(2)} Å³  ρ=${r.density.toFixed(3)} g/cm³  dmin=${r.minDistance.toFixed(3)} Å`)
    .join("\n");
}
