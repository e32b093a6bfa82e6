/**
 * The MACS paper's benchmark (macs-spec §8.2, §10) on the ionic model: fixed test sets from a seed —
 * K, 1.5K and 2K atoms (whole formula units) for every training composition, K and 2K for the three
 * zero-shot Sr–Ti–O compositions — every method on the same structures, fmax 0.05 eV/Å, 1000 steps.
 * Per set and method: N_mean (steps), C_mean (force calls), T_mean (s) over converged runs, and P_F
 * (failure %); then the AVERAGE row over sets (unweighted, as the paper) and each method's C_mean
 * relative to BFGSLineSearch. Writes CSV, Markdown and JSON under --out.
 *
 *   node --import tsx bench/macs.ts [--count 10] [--seed 1] [--policy data/policies/macs-ionic]
 *        [--methods macs,fire,bfgs,bfgsls,fire+bfgsls,mdmin,cg] [--sets all|training|zero-shot]
 *        [--workers 2] [--out bench/results] [--with earlier.json]
 *        [--batched | --unbatched] [--forces each|batched] [--help]
 *
 * Quickest check: `--count 1 --sets zero-shot --methods macs` (6 sets of one structure each).
 *
 * `--batched` runs the macs method through `relaxBatchWithPolicy` (src/envs/batch-relax.ts): each test
 * set relaxes in lockstep in this process, one policy call for all its atoms per step, and with
 * `--forces batched` one TensorFlow.js force call for all its structures per step (the ionic model's
 * batched twin). It is on by default when the backend in use (the automatic choice) is webgpu or
 * tfjs-node-gpu, where `--forces` then defaults to batched; `--unbatched` turns it off. The other
 * methods run as before. Batched T_mean is the set's lockstep wall time divided by its structures
 * (throughput, not the paper's one-core time per relaxation); N_mean, C_mean and P_F are as unbatched.
 *
 * Relaxations run in parallel on worker threads, one core each (T_mean is per relaxation, as the
 * paper times each optimisation on one core). `--with` adds the rows of an earlier run's JSON (same
 * count and seed, so the same structures) for methods not run now: e.g. the baselines once, then
 * each new policy; `--methods none --with a.json --with b.json` only merges.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { availableParallelism, cpus } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { SHIPPED_POLICY } from "../src/cli/demo.js";
import { ionic } from "../src/calculators/ionic.js";
import { relaxBatchWithPolicy } from "../src/envs/batch-relax.js";
import { experiment, random, type MethodLike } from "../src/experiment/index.js";
import type { ReportSummaryRow } from "../src/notebook/report.js";
import { optimizerFromName } from "../src/optimizers/index.js";
import { macs } from "../src/experiment/macs-method.js";
import { loadMacsPolicy, MACS_TRAINING_COMPOSITIONS, MACS_ZERO_SHOT, type MacsPolicy } from "../src/rl/macs.js";
import { parseFormula } from "../src/structure/formula.js";
import { randomCrystals } from "../src/structure/random.js";
import { currentBackend, useBackend } from "../src/tensor/backend.js";

const { values } = parseArgs({
  options: {
    count: { type: "string", default: "10" },
    seed: { type: "string", default: "1" },
    policy: { type: "string", default: SHIPPED_POLICY },
    methods: { type: "string", default: "macs,fire,bfgs,bfgsls,fire+bfgsls,mdmin,cg" },
    sets: { type: "string", default: "all" },
    workers: { type: "string", default: String(availableParallelism()) },
    out: { type: "string", default: "bench/results" },
    with: { type: "string", multiple: true },
    batched: { type: "boolean" },
    unbatched: { type: "boolean" },
    forces: { type: "string" },
    help: { type: "boolean", short: "h" },
  },
});
if (values.help) {
  const text = readFileSync(new URL(import.meta.url), "utf8");
  console.log(text.slice(text.indexOf("/**") + 3, text.indexOf("*/")).replace(/^ \* ?/gm, "").trim());
  process.exit(0);
}
if (values.batched && values.unbatched) throw new RangeError("--batched and --unbatched: give one");
if (values.forces !== undefined && values.forces !== "each" && values.forces !== "batched") throw new RangeError(`--forces must be each or batched, got ${values.forces}`);
const count = Number(values.count);
const seed = Number(values.seed);
const workers = Number(values.workers);
// "none": run nothing, only merge the --with files into one table.
const names = values.methods === "none" ? [] : values.methods!.split(",");
const ran = [...names];

// The batched path (macs only): on by default on a GPU backend.
const onGpu = async (): Promise<boolean> => {
  const backend = currentBackend() ?? (await useBackend());
  return backend === "webgpu" || backend === "tfjs-node-gpu";
};
const gpu = ran.includes("macs") && !values.unbatched && (values.batched === undefined || values.forces === undefined) ? await onGpu() : false;
const batched = ran.includes("macs") && !values.unbatched && (values.batched ?? gpu);
const forces = (values.forces as "each" | "batched" | undefined) ?? (gpu ? "batched" : "each");
let batchPolicy: MacsPolicy | null = null;
if (batched) {
  batchPolicy = await loadMacsPolicy(values.policy!);
  process.stderr.write(`macs: batched over each test set, forces ${forces}, backend ${currentBackend()}\n`);
}
/** Methods that run through the experiment (macs is not one of them when batched). */
const viaExperiment = batched ? ran.filter((n) => n !== "macs") : ran;

/** Atoms per formula unit. */
const unit = (formula: string): number => [...parseFormula(formula).values()].reduce((a, b) => a + b, 0);
/** The whole number of formula units closest to `atoms` (at least one). */
const whole = (formula: string, atoms: number): number => Math.max(1, Math.round(atoms / unit(formula))) * unit(formula);

interface TestSet {
  composition: string;
  atoms: number;
  zeroShot: boolean;
}
// Zero-shot sizes are the paper's (Table 1): Sr2TiO4 56/112, Sr3Ti2O7 48/96, Sr4Ti3O10 34/68.
const ZERO_SHOT_K: Record<string, number> = { Sr2TiO4: 56, Sr3Ti2O7: 48, Sr4Ti3O10: 34 };
const sets: TestSet[] = [];
if (values.sets !== "zero-shot") {
  for (const { composition, atoms } of MACS_TRAINING_COMPOSITIONS) {
    for (const f of [1, 1.5, 2]) sets.push({ composition, atoms: whole(composition, f * atoms), zeroShot: false });
  }
}
if (values.sets !== "training") {
  for (const composition of MACS_ZERO_SHOT) for (const f of [1, 2]) sets.push({ composition, atoms: f * ZERO_SHOT_K[composition]!, zeroShot: true });
}

const methods = (): MethodLike[] => viaExperiment.map((n) => (n === "macs" ? macs({ policy: values.policy }) : optimizerFromName(n)));

interface Row extends ReportSummaryRow {
  set: string;
  composition: string;
  atoms: number;
  zeroShot: boolean;
}
const rows: Row[] = [];
const started = Date.now();
for (const s of ran.length > 0 ? sets : []) {
  const t0 = Date.now();
  const num = (x: unknown): number | null => (typeof x === "number" && Number.isFinite(x) ? x : null);
  const set = `${s.composition} ${s.atoms}${s.zeroShot ? "*" : ""}`;
  if (batchPolicy) {
    // The experiment's structures: random({ ..., count, seed }) draws randomCrystals with the same seed.
    const crystals = randomCrystals({ composition: s.composition, atoms: s.atoms, count, seed });
    const tb = performance.now();
    const out = await relaxBatchWithPolicy(crystals, ionic(), batchPolicy, { forces, fmax: 0.05, steps: 1000 });
    const perStructure = (performance.now() - tb) / 1000 / crystals.length;
    const ok = out.filter((o) => o.converged);
    const avg = (xs: number[]): number | null => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null);
    rows.push({
      set,
      composition: s.composition,
      atoms: s.atoms,
      zeroShot: s.zeroShot,
      method: "macs",
      n: out.length,
      N_mean: avg(ok.map((o) => o.steps)),
      C_mean: avg(ok.map((o) => o.forceCalls)),
      T_mean: ok.length ? perStructure : null,
      P_F: (100 * (out.length - ok.length)) / out.length,
    });
  }
  if (viaExperiment.length > 0) {
    const run = await experiment(`bench-macs-${s.composition}-${s.atoms}`)
      .structures(random({ composition: s.composition, atoms: s.atoms, count, seed }))
      .calculator("ionic")
      .methods(methods())
      .fmax(0.05)
      .steps(1000)
      .seed(seed)
      .workers(workers)
      .store(join(values.out!, "runs"))
      .run();
    for (const r of run.summary().objects() as Record<string, unknown>[]) {
      rows.push({
        set,
        composition: s.composition,
        atoms: s.atoms,
        zeroShot: s.zeroShot,
        method: String(r["method"]),
        n: Number(r["count"]),
        N_mean: num(r["N_mean"]),
        C_mean: num(r["C_mean"]),
        T_mean: num(r["T_mean"]),
        P_F: Number(r["P_F"]),
      });
    }
  }
  process.stderr.write(`${s.composition} ${s.atoms}: ${((Date.now() - t0) / 1000).toFixed(0)} s\n`);
}

for (const file of values.with ?? []) {
  const earlier = JSON.parse(readFileSync(file, "utf8")) as { count: number; seed: number; rows: Row[] };
  if (earlier.count !== count || earlier.seed !== seed) throw new Error(`--with ${file}: count ${earlier.count}, seed ${earlier.seed}; this run has ${count}, ${seed}`);
  const methodsThere = [...new Set(earlier.rows.map((r) => r.method))].filter((m) => !names.includes(m));
  for (const r of earlier.rows) {
    if (methodsThere.includes(r.method) && sets.some((s) => s.composition === r.composition && s.atoms === r.atoms)) rows.push(r);
  }
  names.push(...methodsThere);
}

// The paper's AVERAGE row: unweighted means over the sets (of the sets where the method converged at all).
const mean = (xs: (number | null)[]): number | null => {
  const ok = xs.filter((x): x is number => x !== null);
  return ok.length ? ok.reduce((a, b) => a + b, 0) / ok.length : null;
};
const average = names.map((method) => {
  const mine = rows.filter((r) => r.method === method);
  return { method, N_mean: mean(mine.map((r) => r.N_mean)), C_mean: mean(mine.map((r) => r.C_mean)), T_mean: mean(mine.map((r) => r.T_mean)), P_F: mean(mine.map((r) => r.P_F)) ?? 100 };
});
const ref = average.find((a) => a.method === "bfgsls")?.C_mean ?? null;

const f = (x: number | null, d: number): string => (x === null ? "-" : x.toFixed(d));
const cell = (r: { N_mean: number | null; C_mean: number | null; T_mean: number | null; P_F: number }) => `${f(r.N_mean, 0)} / ${f(r.C_mean, 0)} / ${f(r.T_mean, 3)} / ${f(r.P_F, 0)}`;
const setNames = [...new Set(rows.map((r) => r.set))];
const md = [
  `| set (atoms) | ${names.join(" | ")} |`,
  `| --- | ${names.map(() => "---").join(" | ")} |`,
  ...setNames.map((s) => `| ${s} | ${names.map((m) => {
    const r = rows.find((x) => x.set === s && x.method === m);
    return r ? cell(r) : "-";
  }).join(" | ")} |`),
  `| **AVERAGE** | ${average.map(cell).join(" | ")} |`,
  ...(ref ? [`| C_mean / BFGSLS | ${average.map((a) => (a.C_mean === null ? "-" : (a.C_mean / ref).toFixed(2))).join(" | ")} |`] : []),
].join("\n");
const machine = `${cpus()[0]?.model ?? "?"}, ${availableParallelism()} cores`;
const header = `MACS benchmark (ionic model, fmax 0.05 eV/Å, 1000 steps): ${count} structures per set, seed ${seed}, ${workers} workers; ` +
  `${new Date().toISOString().slice(0, 10)}, ${machine}; policy ${values.policy}${batched ? ` (batched, forces ${forces}, ${currentBackend()}; T_mean = set wall / structures)` : ""}; cells are N_mean / C_mean / T_mean (s) / P_F (%); * = zero-shot composition`;
console.log(header + "\n\n" + md + `\n\nwall ${((Date.now() - started) / 1000).toFixed(0)} s`);

mkdirSync(values.out!, { recursive: true });
const stem = join(values.out!, `macs-${new Date().toISOString().slice(0, 10)}`);
writeFileSync(`${stem}.md`, header + "\n\n" + md + "\n");
const cols = ["set", "composition", "atoms", "zeroShot", "method", "n", "N_mean", "C_mean", "T_mean", "P_F"] as const;
writeFileSync(`${stem}.csv`, [cols.join(","), ...rows.map((r) => cols.map((c) => String(r[c] ?? "")).join(","))].join("\n") + "\n");
writeFileSync(`${stem}.json`, JSON.stringify({ date: new Date().toISOString(), machine, count, seed, workers, policy: values.policy, batched: batched ? { forces, backend: currentBackend() } : false, rows, average }, null, 1) + "\n");
console.log(`wrote ${stem}.{md,csv,json}`);
batchPolicy?.dispose();
