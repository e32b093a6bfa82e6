/**
 * FIRE benchmark: one relaxation of a rattled 108-atom Cu cell under EMT (fcc 3x3x3, a = 3.61 Å,
 * rattled 0.1 Å, the start of data/reference/optimizers.json's emt-cu108 case), crystal-rl against
 * ASE 3.22's FIRE on the same start in the same run. Prints steps, force calls and seconds (best of
 * 3) of each, and the ratio of times.
 *
 *   node --import tsx bench/fire.ts       (needs /usr/bin/python3 with python3-ase for the ASE column)
 */
import { readFileSync } from "node:fs";
import { EMT } from "../src/calculators/emt.js";
import { FIRE, type RelaxResult } from "../src/optimizers/index.js";
import { Crystal } from "../src/structure/crystal.js";
import { runPeer } from "./common.js";

const FMAX = 0.05;
const REPEATS = 3;

const ref = JSON.parse(readFileSync(new URL("../data/reference/optimizers.json", import.meta.url), "utf8"));
const start: { cell: number[]; positions: number[]; numbers: number[] } = ref.cases.find((c: { name: string }) => c.name === "emt-cu108").start;
const crystal = new Crystal(start);

let ours: RelaxResult | undefined;
for (let k = 0; k < REPEATS; k++) {
  const r = await new FIRE(crystal, new EMT()).run({ fmax: FMAX, steps: 1000 });
  if (!ours || r.seconds < ours.seconds) ours = r;
}

const [ase] = runPeer<{ steps: number; forceCalls: number; energy: number; fmax: number; seconds: number }>(
  "ASE",
  "bench/fire_ase.py",
  [start],
  (files) => [...files, String(FMAX), String(REPEATS)],
);

const r = ours!;
console.log(`FIRE, Cu 108 atoms rattled 0.1 Å, EMT, fmax ${FMAX}; best of ${REPEATS}; ${new Date().toISOString().slice(0, 10)}, node ${process.version}`);
console.log("              steps  force calls  energy (eV)     seconds");
const row = (name: string, x: { steps: number; forceCalls: number; energy: number; seconds: number }): string =>
  `${name.padEnd(12)} ${String(x.steps).padStart(6)} ${String(x.forceCalls).padStart(12)} ${x.energy.toFixed(8).padStart(12)} ${x.seconds.toFixed(4).padStart(11)}`;
console.log(row("crystal-rl", r));
if (ase) {
  console.log(row("ASE 3.22", ase));
  console.log(`ASE/crystal-rl time: ${(ase.seconds / r.seconds).toFixed(2)}x; same steps: ${ase.steps === r.steps}, energy difference ${(r.energy - ase.energy).toExponential(1)} eV`);
}
