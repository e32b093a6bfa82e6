import { kNearest, minimumDistance, neighbourList } from "../structure/neighbours.js";
import { perovskite } from "../structure/prototypes.js";
import { randomCrystals } from "../structure/random.js";
import type { Crystal } from "../structure/crystal.js";
import { numberOption, parse, positionals } from "./usage.js";

export const summary = "the main job on the embedded default: MACS's random SrTiO3 starting structures, analysed";

const HELP = `crystal-rl demo [--count 8] [--seed 1]

  Generates MACS's starting structures (40-atom SrTiO3, AIRSS-like, ±5 % volume, 1 Å minimum
  distance) and compares them with the relaxed perovskite: shortest contact, mean distance to the
  12 nearest periodic images (MACS's observation), and the Ti–O coordination within 2.4 Å that a
  relaxation has to restore. The energy models and optimisers will turn this into a relaxation.`;

interface Row {
  structure: string;
  natoms: number;
  volumePerAtom: number;
  minDistance: number;
  meanKnn12: number;
  tiO: number;
  ms: number;
}

/** Mean number of O within `cutoff` of each Ti. */
function coordination(c: Crystal, centre: number, ligand: number, cutoff: number): number {
  const list = neighbourList(c, cutoff);
  let n = 0;
  let centres = 0;
  for (let a = 0; a < c.natoms; a++) {
    if (c.numbers[a] !== centre) continue;
    centres++;
    for (let p = list.start[a]!; p < list.start[a + 1]!; p++) if (c.numbers[list.j[p]!] === ligand) n++;
  }
  return centres ? n / centres : 0;
}

function analyse(name: string, c: Crystal): Row {
  const t0 = performance.now();
  const knn = kNearest(c, 12);
  const ms = performance.now() - t0;
  return {
    structure: name,
    natoms: c.natoms,
    volumePerAtom: c.volume / c.natoms,
    minDistance: minimumDistance(c),
    meanKnn12: knn.distances.reduce((s, d) => s + d, 0) / knn.distances.length,
    tiO: coordination(c, 22, 8, 2.4),
    ms,
  };
}

export async function demo(argv: string[]): Promise<string> {
  const { values, positionals: pos } = parse("demo", argv, {
    count: { type: "string", default: "8" },
    seed: { type: "string", default: "1" },
    help: { type: "boolean", short: "h" },
  });
  if (values.help) return HELP;
  positionals("demo", pos, []);
  const count = numberOption("demo", "count", values.count, { integer: true, min: 1 })!;
  const seed = numberOption("demo", "seed", values.seed, { integer: true })!;

  // SrTiO3, cubic perovskite a = 3.905 Å (room temperature, e.g. Abramov et al., Acta Cryst. B 51, 942 (1995)).
  const reference = perovskite("Sr", "Ti", "O", 3.905).supercell([2, 2, 2]);
  const rows = [analyse("perovskite 2x2x2", reference)];
  const randoms = randomCrystals({ composition: "SrTiO3", atoms: 40, count, seed });
  randoms.forEach((c, k) => rows.push(analyse(`random ${seed}-${k}`, c)));

  const header = ["structure", "atoms", "V/atom Å³", "dmin Å", "12-NN mean Å", "Ti–O CN", "kNN ms"];
  const cells = rows.map((r) => [
    r.structure,
    String(r.natoms),
    r.volumePerAtom.toFixed(2),
    r.minDistance.toFixed(3),
    r.meanKnn12.toFixed(3),
    r.tiO.toFixed(2),
    r.ms.toFixed(2),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) => c.map((x, i) => (i === 0 ? x.padEnd(widths[i]!) : x.padStart(widths[i]!))).join("  ");
  return [
    `MACS starting structures: ${count} random SrTiO3 (40 atoms, seed ${seed}) against the perovskite`,
    "",
    line(header),
    line(widths.map((w) => "-".repeat(w))),
    ...cells.map(line),
  ].join("\n");
}
