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
import { experiment, random, type MethodLike } from "../src/experiment/index.js";
import type { ReportSummaryRow } from "../src/notebook/report.js";
import { optimizerFromName } from "../src/optimizers/index.js";
import { macs, MACS_TRAINING_COMPOSITIONS, MACS_ZERO_SHOT } from "../src/rl/macs.js";
import { parseFormula } from "../src/structure/formula.js";

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
  },
});
const count = Number(values.count);
const seed = Number(values.seed);
const workers = Number(values.workers);
// "none": run nothing, only merge the --with files into one table.
const names = values.methods === "none" ? [] : values.methods!.split(",");
const ran = [...names];

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

const methods = (): MethodLike[] => ran.map((n) => (n === "macs" ? macs({ policy: values.policy }) : optimizerFromName(n)));

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
  const num = (x: unknown): number | null => (typeof x === "number" && Number.isFinite(x) ? x : null);
  for (const r of run.summary().objects() as Record<string, unknown>[]) {
    rows.push({
      set: `${s.composition} ${s.atoms}${s.zeroShot ? "*" : ""}`,
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
  `${new Date().toISOString().slice(0, 10)}, ${machine}; policy ${values.policy}; cells are N_mean / C_mean / T_mean (s) / P_F (%); * = zero-shot composition`;
console.log(header + "\n\n" + md + `\n\nwall ${((Date.now() - started) / 1000).toFixed(0)} s`);

mkdirSync(values.out!, { recursive: true });
const stem = join(values.out!, `macs-${new Date().toISOString().slice(0, 10)}`);
writeFileSync(`${stem}.md`, header + "\n\n" + md + "\n");
const cols = ["set", "composition", "atoms", "zeroShot", "method", "n", "N_mean", "C_mean", "T_mean", "P_F"] as const;
writeFileSync(`${stem}.csv`, [cols.join(","), ...rows.map((r) => cols.map((c) => String(r[c] ?? "")).join(","))].join("\n") + "\n");
writeFileSync(`${stem}.json`, JSON.stringify({ date: new Date().toISOString(), machine, count, seed, workers, policy: values.policy, rows, average }, null, 1) + "\n");
console.log(`wrote ${stem}.{md,csv,json}`);
