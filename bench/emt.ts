/**
 * EMT benchmark: one energy + forces call of crystal-rl's EMT against ASE 3.22.1's (pure Python)
 * EMT on the same structures, rattled fcc Cu (a = 3.61 Å, 0.1 Å) of 108 atoms (3x3x3 conventional
 * cells) and 4000 atoms (10x10x10), measured in the same run: best of several repeats after a
 * warm-up, the neighbour list included on both sides. Prints the ratio ASE / crystal-rl and checks
 * that both give the same energy.
 *
 *   node --import tsx bench/emt.ts      (needs /usr/bin/python3 with python3-ase for the peer column)
 */
import { emt } from "../src/calculators/emt.js";
import { Crystal } from "../src/structure/crystal.js";
import { Lattice } from "../src/structure/lattice.js";
import { neighbourList } from "../src/structure/neighbours.js";
import { best, rattle, runPeer, structureJson } from "./common.js";

const A = 3.61;
const REPEATS: [number, number, number][] = [
  [3, 3, 3],
  [10, 10, 10],
];
/** Timed repeats per size, crystal-rl and ASE (ASE takes seconds per call at 4000 atoms). */
const RUNS = [50, 5];
const ASE_RUNS = [5, 3];
const WARMUP = 10;

/** Conventional fcc Cu repeated `repeat`, every coordinate moved by a seeded normal of 0.1 Å. */
function rattledCu(repeat: [number, number, number], seed: number): Crystal {
  const fcc = [0, 0, 0, 0, 0.5, 0.5, 0.5, 0, 0.5, 0.5, 0.5, 0];
  return rattle(Crystal.fromFractional(Lattice.cubic(A), fcc, ["Cu", "Cu", "Cu", "Cu"]).supercell(repeat), 0.1, seed);
}

const crystals = REPEATS.map((r, k) => rattledCu(r, k + 1));
const peer = runPeer<{ natoms: number; energy: number; ms: number }>("ASE", "bench/emt_ase.py", crystals.map(structureJson), (files) => [
  ASE_RUNS.join(","),
  ...files,
]);
const calc = emt();
console.log(
  `EMT energy + forces, rattled fcc Cu, best of ${RUNS.join("/")} (ASE ${ASE_RUNS.join("/")}) after warm-up; ` +
    `${new Date().toISOString().slice(0, 10)}, node ${process.version}`,
);
console.log("natoms  pairs     crystal-rl ms  of which nlist ms  µs/atom  ASE ms     ASE/crystal-rl");
for (let k = 0; k < crystals.length; k++) {
  const c = crystals[k]!;
  for (let w = 0; w < WARMUP; w++) calc.computeSync(c);
  let energy = 0;
  const ms = best(RUNS[k]!, () => (energy = calc.computeSync(c).energy));
  let pairs = 0;
  const nl = best(RUNS[k]!, () => (pairs = neighbourList(c, calc.cutoff()).count));
  const p = peer[k];
  if (p && Math.abs(p.energy - energy) > 1e-6) throw new Error(`energy differs from ASE at ${c.natoms} atoms: ${energy} vs ${p.energy}`);
  console.log(
    [
      String(c.natoms).padEnd(7),
      String(pairs).padEnd(9),
      ms.toFixed(2).padStart(13),
      nl.toFixed(2).padStart(18),
      ((1000 * ms) / c.natoms).toFixed(2).padStart(8),
      (p ? p.ms.toFixed(1) : "-").padStart(7),
      (p ? (p.ms / ms).toFixed(1) + "x" : "-").padStart(17),
    ].join(" "),
  );
}
