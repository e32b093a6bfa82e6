/**
 * Cost of one MACS game step apart from the force call (moving the atoms, clipping, rewards,
 * features, the periodic 12-nearest-neighbour list and the 204-number observations), next to the
 * ionic force call itself, for random SrTiO3 structures of 40, 80 and 1000 atoms, and for a training
 * batch of 40 structures of 40 atoms (spec §6.4: 40 environments). Medians over the steps timed;
 * the policy forward is not included (src/rl measures it).
 *
 *   node --import tsx bench/macs-step.ts
 */
import { ionic } from "../src/calculators/ionic.js";
import { RelaxationBatch } from "../src/envs/batch.js";
import { macsParameters } from "../src/envs/features.js";
import { RelaxationState } from "../src/envs/state.js";
import { kNearest } from "../src/structure/neighbours.js";
import { randomCrystal } from "../src/structure/random.js";
import { Rng } from "../src/structure/random-source.js";

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};

/** Median ms of `f` over `runs` calls after `warm` untimed ones. */
function time(runs: number, f: () => unknown, warm = 3): number {
  for (let k = 0; k < warm; k++) f();
  const t: number[] = [];
  for (let k = 0; k < runs; k++) {
    const t0 = performance.now();
    f();
    t.push(performance.now() - t0);
  }
  return median(t);
}

function row(label: string, structures: number, atoms: number, steps: number): void {
  const calc = ionic();
  const xs = Array.from({ length: structures }, (_, s) => randomCrystal({ composition: "SrTiO3", atoms }, 100 * atoms + s));
  const batch = RelaxationBatch.createSync({ calculator: calc, structures: xs, maxSteps: 1_000_000 });
  const rng = new Rng(1);
  const env: number[] = [];
  const force: number[] = [];
  for (let t = 0; t < steps + 3; t++) {
    const u = Float32Array.from({ length: 3 * batch.totalAtoms }, () => rng.uniform(-1, 1));
    const r = batch.stepSync(u);
    if (t < 3) continue; // warm-up
    env.push(r.timing.totalMs - r.timing.forceMs);
    force.push(r.timing.forceMs);
  }
  // Parts, on the first structure: kNN alone, and features + observation assembly alone.
  const state = new RelaxationState(batch.crystal(0), macsParameters());
  state.start(calc.computeSync(state.crystal));
  const knnMs = time(steps, () => kNearest(state.crystal, 12)) * structures;
  const out = new Float32Array(atoms * 204);
  const obsMs = time(steps, () => state.observe(out)) * structures;
  const e = median(env);
  const f = median(force);
  console.log(
    [
      label.padEnd(22),
      String(structures * atoms).padStart(6),
      e.toFixed(3).padStart(9),
      knnMs.toFixed(3).padStart(9),
      obsMs.toFixed(3).padStart(9),
      f.toFixed(2).padStart(9),
      `${((100 * e) / f).toFixed(0)} %`.padStart(8),
    ].join(" "),
  );
}

console.log(`MACS step cost, ionic (Pedone) forces; ${new Date().toISOString().slice(0, 10)}, node ${process.version}`);
console.log("batch                   atoms    env ms    kNN ms    obs ms  force ms env/force");
console.log("(env ms: the whole step less the force calls; kNN ms and obs ms: those parts alone, timed apart)");
row("1 × SrTiO3 40", 1, 40, 200);
row("1 × SrTiO3 80", 1, 80, 100);
row("1 × SrTiO3 1000", 1, 1000, 15);
row("40 × SrTiO3 40", 40, 40, 20);
