/**
 * `crystal-rl demo` (= `npm run demo`): the project's main job on the embedded default. A few fresh
 * random structures relaxed on the ionic force field by the shipped MACS policy, FIRE and
 * BFGSLineSearch; a comparison table in the terminal and a standalone HTML report.
 */
import { randomInt } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { experiment, EXPERIMENT_DEFAULTS, random, type Method } from "../experiment/index.js";
import { saveRunReport } from "../notebook/report.js";
import { optimizerFromName, type OptimizerSpec } from "../optimizers/index.js";
import type { MacsTrainingRecord } from "../rl/macs.js";
import { benchRows, macsMethod, markdownTable } from "./bench.js";
import { numberOption, parse, positionals } from "./usage.js";

export const summary = "the main job: relax fresh random SrTiO3 with the shipped MACS policy, FIRE and BFGSLineSearch; table and HTML report";

/**
 * The MACS policy shipped with the package (a policy-only Sac checkpoint plus training.json). Two
 * folders up from this file is the package root both for src/cli (tsx) and dist/cli (built).
 */
export const SHIPPED_POLICY = fileURLToPath(new URL("../../data/policies/macs-ionic", import.meta.url));

const DEFAULTS = { count: 6, composition: "SrTiO3", atoms: 40 } as const;
const FMAX = 0.05;
const STEPS = 1000;

const help = (shipped: string) => `crystal-rl demo [--count ${DEFAULTS.count}] [--composition ${DEFAULTS.composition}] [--atoms ${DEFAULTS.atoms}] [--seed N]
                 [--policy PATH] [--out FILE] [--store DIR] [--json]

  ${summary}.
  Draws --count random structures of --composition with --atoms atoms (AIRSS-like, as MACS's test
  sets) from --seed (default: a fresh one, printed so the run can be repeated), and relaxes each
  (fixed cell) with MACS, FIRE and BFGSLineSearch on the ionic model (Ewald + short range) until
  fmax ${FMAX} eV/Å or ${STEPS} steps. Well under a minute on two cores at the defaults.
  --policy      a MACS policy (training folder or checkpoint) instead of the shipped one:
                ${shipped}
                (without either, MACS is skipped with a note and the optimisers still run)
  --out FILE    the HTML report (plotly inlined, opens offline); default report.html in the run folder
  --store DIR   the run store (default ${EXPERIMENT_DEFAULTS.store}, or $CRYSTAL_RL_RUNS)
  --json        { seed, rows: [{ method, n, steps, forceCalls, seconds, failureRate }], report, policy,
                run, note } (policy null when MACS was skipped; note null or the reason)`;

export interface DemoOptions {
  /** Where the shipped policy is looked for (tests point it elsewhere). Default `SHIPPED_POLICY`. */
  shippedPolicy?: string;
}

/** How the policy was trained, from its training.json (`exportMacsPolicy`'s record), or null when there is none. */
function trainingRecord(policy: string): string | null {
  const file = join(policy, "training.json");
  if (!existsSync(file)) return null;
  try {
    const { progress: p, machine: m, exported } = JSON.parse(readFileSync(file, "utf8")) as MacsTrainingRecord;
    return `${p.step} env steps, ${p.updates} updates, ${(p.wallSeconds / 60).toFixed(1)} min on ${p.backend}, ${m.cpu} (${m.cores} cores); exported ${exported}`;
  } catch {
    return null;
  }
}

export async function demo(argv: string[], options: DemoOptions = {}): Promise<string> {
  const shipped = options.shippedPolicy ?? SHIPPED_POLICY;
  const { values, positionals: pos } = parse("demo", argv, {
    count: { type: "string", default: String(DEFAULTS.count) },
    composition: { type: "string", default: DEFAULTS.composition },
    atoms: { type: "string", default: String(DEFAULTS.atoms) },
    seed: { type: "string" },
    policy: { type: "string" },
    out: { type: "string" },
    store: { type: "string" },
    json: { type: "boolean", default: false },
    help: { type: "boolean", short: "h" },
  });
  if (values.help) return help(shipped);
  positionals("demo", pos, []);
  const count = numberOption("demo", "count", values.count, { integer: true, min: 1 })!;
  const atoms = numberOption("demo", "atoms", values.atoms, { integer: true, min: 1 })!;
  // A fresh seed each run unless given; six digits, easy to retype.
  const seed = numberOption("demo", "seed", values.seed, { integer: true, min: 0 }) ?? randomInt(1_000_000);
  const composition = values.composition!;
  const store = values.store ?? process.env["CRYSTAL_RL_RUNS"] ?? EXPERIMENT_DEFAULTS.store;

  // MACS: --policy must load (a UsageError otherwise); the shipped one may be absent or unreadable,
  // and then the optimisers still run, so a checkout without a policy still demos.
  const methods: (Method | OptimizerSpec)[] = [];
  let policy: string | null = null;
  let note: string | null = null;
  if (values.policy) {
    methods.push(await macsMethod("demo", values.policy));
    policy = resolve(values.policy);
  } else if (!existsSync(shipped)) {
    note = `no MACS policy at ${shipped} (not in this checkout; train one with crystal-rl train, or pass --policy PATH): running FIRE and BFGSLineSearch only`;
  } else {
    try {
      methods.push(await macsMethod("demo", shipped));
      policy = shipped;
    } catch (e) {
      note = `the shipped MACS policy cannot be used (${(e as Error).message.replace(/^demo: /, "")}): running FIRE and BFGSLineSearch only`;
    }
  }
  methods.push(optimizerFromName("fire"), optimizerFromName("bfgsls"));
  const names = methods.map((m) => m.name);

  if (process.stderr.isTTY) {
    process.stderr.write(`crystal-rl demo: relaxing ${count} random ${composition} (${atoms} atoms, seed ${seed}) with ${names.join(", ")}...\n`);
  }
  const t0 = performance.now();
  const run = await experiment(`demo-${composition}-${atoms}`)
    .structures(random({ composition, atoms, count, seed }))
    .calculator("ionic")
    .methods(methods)
    .fmax(FMAX)
    .steps(STEPS)
    .seed(seed)
    .store(store)
    .run();
  const wall = (performance.now() - t0) / 1000;
  const status = run.status();
  if (status.state !== "done") throw new Error(`demo: run ${run.id} ended ${status.state}${status.error ? `: ${status.error}` : ""}`);

  const facts: [string, string][] = [];
  if (policy) {
    facts.push(["MACS policy", policy]);
    const training = trainingRecord(policy);
    if (training) facts.push(["policy training", training]);
  }
  facts.push(["wall time", `${wall.toFixed(1)} s`]);
  const report = resolve(values.out ?? join(run.dir, "report.html"));
  saveRunReport(report, run, {
    title: `crystal-rl demo: ${names.join(" vs ")} on ${count} random ${composition}`,
    facts,
    notes: note ? [note] : [],
  });

  const rows = benchRows(run.summary(), names);
  if (values.json) return JSON.stringify({ seed, rows, report, policy, run: run.id, note }, null, 2);

  const again = [
    "crystal-rl demo",
    composition !== DEFAULTS.composition ? `--composition ${composition}` : "",
    atoms !== DEFAULTS.atoms ? `--atoms ${atoms}` : "",
    count !== DEFAULTS.count ? `--count ${count}` : "",
    `--seed ${seed}`,
  ].filter(Boolean);
  return [
    `${count} random ${composition} (${atoms} atoms, seed ${seed}) on the ionic model, fmax ${FMAX} eV/Å, at most ${STEPS} steps`,
    ...(note ? [`note: ${note}`] : [`MACS policy: ${policy}`]),
    "",
    ...markdownTable(rows),
    "",
    "N_mean, C_mean, T_mean: means over converged relaxations; P_F: failure rate.",
    `same structures again: ${again.join(" ")}`,
    `run ${run.id} in ${store} (${wall.toFixed(1)} s)`,
    `report: ${report}`,
  ].join("\n");
}
