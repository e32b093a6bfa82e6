/**
 * Ionic-model benchmark: crystal-rl's `Ionic` (Pedone et al. 2006 rigid-ion model, Ewald Coulomb,
 * 15 Å short-range cut-off, accuracy 1e-6) against LAMMPS with the same model on the same SrTiO3
 * structures (40 and 80 atoms: MACS-like random cells with 1 Å contacts; 1000 and 10000 atoms: rattled
 * perovskite supercells), measured in the same run. One energy + forces call each; LAMMPS gets the
 * same Ewald splitting α and real-space cut-off and its own k-space cut-off for the same nominal
 * accuracy (bench/ionic_lammps.py says exactly how). The accuracy columns give each code's largest
 * force error against crystal-rl at accuracy 1e-12 (checked against LAMMPS in test/calculators/).
 *
 *   node --import tsx bench/ionic.ts          (needs `lmp` and /usr/bin/python3 for the LAMMPS columns)
 *   node --import tsx bench/ionic.ts 40 80    (only these sizes)
 */
import { Ionic, PEDONE_2006 } from "../src/calculators/ionic.js";
import type { Crystal } from "../src/structure/crystal.js";
import { perovskite } from "../src/structure/prototypes.js";
import { randomCrystal } from "../src/structure/random.js";
import { best, rattle, runPeer } from "./common.js";

const SIZES = process.argv.slice(2).map(Number).filter((n) => n > 0);
const ALL = SIZES.length ? SIZES : [40, 80, 1000, 10000];

function structure(n: number): Crystal {
  if (n === 40 || n === 80) return randomCrystal({ composition: "SrTiO3", atoms: n }, n === 40 ? 1 : 2);
  const reps: Record<number, [number, number, number]> = { 1000: [5, 5, 8], 10000: [10, 10, 20] };
  return rattle(perovskite("Sr", "Ti", "O", 3.905).supercell(reps[n] ?? [1, 1, n / 5]), 0.05, n);
}

/** Milliseconds per call: the best of `rounds` means over `reps` calls, after `warm` calls. */
function time(f: () => unknown, n: number): number {
  const reps = n >= 10000 ? 2 : n >= 1000 ? 10 : 200;
  const rounds = n >= 10000 ? 2 : 5;
  for (let k = 0; k < Math.min(reps, 3); k++) f();
  return (
    best(rounds, () => {
      for (let k = 0; k < reps; k++) f();
    }) / reps
  );
}

function maxError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let k = 0; k < b.length; k++) m = Math.max(m, Math.abs(a[k]! - b[k]!));
  return m;
}

const calc = new Ionic();
const tight = new Ionic({ accuracy: 1e-12 });
const crystals = ALL.map(structure);
const ours = crystals.map((c) => {
  const p = calc.ewaldParameters(c);
  const ms = time(() => calc.computeSync(c), c.natoms);
  const r = calc.computeSync(c);
  const ref = tight.computeSync(c);
  return { c, p, ms, r, ref };
});

const input = ours.map(({ c, p }) => ({
  natoms: c.natoms,
  cell: c.lattice.toArray(),
  positions: c.toJSON().positions,
  symbols: c.symbols,
  charges: Array.from(calc.charges(c)),
  pedone: Object.fromEntries(["Sr", "Ti", "O"].map((s) => [s, [PEDONE_2006[s]!.D, PEDONE_2006[s]!.a, PEDONE_2006[s]!.r0, PEDONE_2006[s]!.C]])),
  cutoff: calc.cutoff,
  alpha: p.alpha,
  rcut: p.rcut,
  accuracy: p.accuracy,
  steps: c.natoms >= 10000 ? 3 : c.natoms >= 1000 ? 20 : 200,
}));
const peer = runPeer<{ natoms: number; ms_rebuild: number; ms_reuse: number; energy: number; forces: number[][] }>(
  "LAMMPS",
  "bench/ionic_lammps.py",
  [input],
  (files) => files,
);

// Best of two: crystal-rl again after LAMMPS, in case the machine was busy the first time.
for (const o of ours) o.ms = Math.min(o.ms, time(() => calc.computeSync(o.c), o.c.natoms));

console.log(
  `Ionic (Pedone 2006) energy + forces, SrTiO3, cut-off ${calc.cutoff} Å, Ewald accuracy ${ours[0]?.p.accuracy}; ` +
    `${new Date().toISOString().slice(0, 10)}, node ${process.version}, one thread`,
);
console.log(
  "natoms  α (1/Å)  rcut (Å)  crystal-rl ms  LAMMPS ms (rebuild)  LAMMPS ms (reuse)  ratio (rebuild)  ratio (reuse)" +
    "  max|ΔF| crystal-rl  max|ΔF| LAMMPS  |ΔE/E| crystal-rl  |ΔE/E| LAMMPS",
);
for (const { c, p, ms, r, ref } of ours) {
  const l = peer.find((x) => x.natoms === c.natoms);
  const fl = l ? l.forces.flat() : undefined;
  console.log(
    [
      String(c.natoms).padEnd(7),
      p.alpha.toFixed(4).padStart(8),
      p.rcut.toFixed(2).padStart(9),
      ms.toFixed(2).padStart(14),
      (l ? l.ms_rebuild.toFixed(2) : "-").padStart(20),
      (l ? l.ms_reuse.toFixed(2) : "-").padStart(18),
      (l ? (ms / l.ms_rebuild).toFixed(2) + "x" : "-").padStart(16),
      (l ? (ms / l.ms_reuse).toFixed(2) + "x" : "-").padStart(14),
      maxError(r.forces!, ref.forces!).toExponential(1).padStart(20),
      (fl ? maxError(fl, ref.forces!).toExponential(1) : "-").padStart(15),
      (Math.abs(r.energy - ref.energy) / Math.abs(ref.energy)).toExponential(1).padStart(18),
      (l ? (Math.abs(l.energy - ref.energy) / Math.abs(ref.energy)).toExponential(1) : "-").padStart(14),
    ].join(" "),
  );
}
console.log(
  "ratio: crystal-rl / LAMMPS per force call; rebuild: LAMMPS's neighbour list rebuilt every call (a fresh call, as crystal-rl does), " +
    "reuse: its Verlet list kept between calls (skin 2 Å). Errors: against crystal-rl at accuracy 1e-12.",
);
