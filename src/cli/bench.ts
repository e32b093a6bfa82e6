import { calculatorNames } from "../calculators/registry.js";
import { defaultWorkers, experiment, EXPERIMENT_DEFAULTS, random, type Method, type MethodLike } from "../experiment/index.js";
import { optimizerFromName, optimizerNames } from "../optimizers/index.js";
import { macs } from "../experiment/macs-method.js";
import { calcOptions } from "./calc-options.js";
import { numberOption, parse, positionals, UsageError } from "./usage.js";

export const summary = "benchmark methods (macs and the optimisers) on one fixed set of random structures, as the MACS paper does";

const help = () => `crystal-rl bench --composition CaTiO3 --methods macs,fire,bfgsls [--atoms 40] [--count 20] [--seed 1]
                  [--policy PATH] [--calc ionic] [--calc-options JSON] [--fmax 0.05] [--steps 1000]
                  [--workers N] [--store DIR] [--json]

  ${summary}.
  The test set is --count random structures of --composition with --atoms atoms, drawn from --seed;
  every method relaxes the same structures (fixed cell) until fmax (eV/Å) or --steps. The run is
  stored under --store (default ${EXPERIMENT_DEFAULTS.store}, or $CRYSTAL_RL_RUNS).
  --workers N relaxes N structures at a time, each on its own worker thread, so each relaxation is
  timed on one core as in the paper (default: the ${defaultWorkers()} cores available; 1: one after another in
  this thread). Steps and force calls do not depend on it; T_mean is a one-core time only while the
  machine has that many idle cores.
  Per method: n structures, and over the successful (converged) relaxations the mean steps (N_mean),
  force calls (C_mean) and seconds (T_mean), null when none converged; failureRate (P_F) in percent.
  JSON: an array of { method, n, steps, forceCalls, seconds, failureRate }.
  Methods: macs (needs --policy: a training folder or a checkpoint), and the optimisers:
${optimizerNames().map((o) => `    ${o.name.padEnd(12)} ${o.summary}`).join("\n")}
  Calculators: ${calculatorNames().map((c) => c.name).join(", ")}`;

/** One row of the benchmark, as `--json` prints it. */
export interface BenchRow {
  method: string;
  n: number;
  steps: number | null;
  forceCalls: number | null;
  seconds: number | null;
  failureRate: number;
}

/** One row per method name from a run's summary table (N_mean, C_mean, T_mean, P_F per method). */
export function benchRows(summary: { objects(): object[] }, names: readonly string[]): BenchRow[] {
  const byMethod = new Map((summary.objects() as Record<string, unknown>[]).map((r) => [String(r["method"]), r]));
  const num = (x: unknown): number | null => (typeof x === "number" && Number.isFinite(x) ? x : null);
  return names.map((method) => {
    const s = byMethod.get(method);
    return {
      method,
      n: num(s?.["count"]) ?? 0,
      steps: num(s?.["N_mean"]),
      forceCalls: num(s?.["C_mean"]),
      seconds: num(s?.["T_mean"]),
      failureRate: num(s?.["P_F"]) ?? 100,
    };
  });
}

/** The rows as an aligned Markdown table (header, rule, one line per method). */
export function markdownTable(rows: readonly BenchRow[]): string[] {
  const f = (x: number | null, d: number) => (x === null ? "-" : x.toFixed(d));
  const header = ["method", "n", "N_mean", "C_mean", "T_mean (s)", "P_F (%)"];
  const cells = rows.map((r) => [r.method, String(r.n), f(r.steps, 1), f(r.forceCalls, 1), f(r.seconds, 3), f(r.failureRate, 1)]);
  const widths = header.map((h, i) => Math.max(3, h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) => `| ${c.map((x, i) => (i === 0 ? x.padEnd(widths[i]!) : x.padStart(widths[i]!))).join(" | ")} |`;
  const rule = `|${widths.map((w, i) => (i === 0 ? ` ${"-".repeat(w)} ` : ` ${"-".repeat(w - 1)}: `)).join("|")}|`;
  return [line(header), rule, ...cells.map(line)];
}

/** MACS through the experiment layer's adapter, with its policy read now (a UsageError naming --policy otherwise). */
export async function macsMethod(command: string, policy: string | undefined): Promise<Method> {
  if (!policy) throw new UsageError(`${command}: method macs needs --policy PATH (a MACS training folder or checkpoint)`);
  const method = macs({ policy });
  try {
    await method.load!(policy);
  } catch (e) {
    throw new UsageError(`${command}: --policy ${policy} cannot be read as a MACS policy: ${((e as Error)?.message ?? String(e)).split("\n")[0]}`);
  }
  return method;
}

export async function bench(argv: string[]): Promise<string> {
  const { values, positionals: pos } = parse("bench", argv, {
    composition: { type: "string" },
    atoms: { type: "string", default: "40" },
    count: { type: "string", default: "20" },
    methods: { type: "string" },
    seed: { type: "string", default: "1" },
    policy: { type: "string" },
    calc: { type: "string", default: "ionic" },
    "calc-options": { type: "string" },
    fmax: { type: "string", default: "0.05" },
    steps: { type: "string", default: "1000" },
    workers: { type: "string" },
    store: { type: "string" },
    json: { type: "boolean", default: false },
    help: { type: "boolean", short: "h" },
  });
  if (values.help) return help();
  positionals("bench", pos, []);
  if (!values.composition) throw new UsageError("bench: --composition FORMULA is required (e.g. --composition CaTiO3)");
  if (!values.methods) throw new UsageError("bench: --methods LIST is required (e.g. --methods macs,fire,bfgsls)");
  const atoms = numberOption("bench", "atoms", values.atoms, { integer: true, min: 1 })!;
  const count = numberOption("bench", "count", values.count, { integer: true, min: 1 })!;
  const seed = numberOption("bench", "seed", values.seed, { integer: true })!;
  const fmax = numberOption("bench", "fmax", values.fmax, { min: 0 })!;
  const steps = numberOption("bench", "steps", values.steps, { integer: true, min: 1 })!;
  if (!(fmax > 0)) throw new UsageError(`bench: --fmax must be positive, got "${values.fmax}"`);
  const workers = numberOption("bench", "workers", values.workers, { integer: true, min: 1 }) ?? defaultWorkers();

  const names = values.methods.split(",").map((m) => m.trim());
  if (names.some((m) => m === "")) throw new UsageError(`bench: --methods "${values.methods}" has an empty name`);
  const dup = names.find((m, i) => names.indexOf(m) !== i);
  if (dup) throw new UsageError(`bench: method "${dup}" is listed twice in --methods`);
  const known = ["macs", ...optimizerNames().map((o) => o.name)];
  const unknown = names.find((m) => !known.includes(m));
  if (unknown) throw new UsageError(`bench: unknown method "${unknown}" in --methods: use macs or one of ${known.slice(1).join(", ")}`);

  const methods: MethodLike[] = [];
  for (const name of names) methods.push(name === "macs" ? await macsMethod("bench", values.policy) : optimizerFromName(name));

  const composition = values.composition;
  const store = values.store ?? process.env["CRYSTAL_RL_RUNS"] ?? EXPERIMENT_DEFAULTS.store;
  const run = await experiment(`bench-${composition}-${atoms}`)
    .structures(random({ composition, atoms, count, seed }))
    .calculator(values.calc!, calcOptions("bench", values["calc-options"]))
    .methods(methods)
    .fmax(fmax)
    .steps(steps)
    .seed(seed)
    .workers(workers)
    .store(store)
    .run();

  const status = run.status();
  if (status.state !== "done") throw new Error(`bench: run ${run.id} ended ${status.state}${status.error ? `: ${status.error}` : ""}`);
  const rows = benchRows(run.summary(), names);
  if (values.json) return JSON.stringify(rows, null, 2);

  return [
    `${count} random ${composition} (${atoms} atoms, seed ${seed}) on ${values.calc}, fmax ${fmax} eV/Å, at most ${steps} steps${workers > 1 ? `, ${workers} worker threads` : ""}`,
    "",
    ...markdownTable(rows),
    "",
    "N_mean, C_mean, T_mean: means over converged relaxations; P_F: failure rate.",
    `run ${run.id} in ${store}`,
  ].join("\n");
}
