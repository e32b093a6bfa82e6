import { PROPERTY_ENGINES } from "../calculators/property-engines.js";
import type { PropertyName } from "../calculators/property.js";
import { TEMPLATES } from "../envs/crystal-gym/templates.js";
import { DEFAULT_STEPS, gym as gymExperiment, type GymBuilder } from "../experiment/gym.js";
import { GYM_ALGORITHMS, type GymAlgorithmName, type GymRecord } from "../experiment/gym-store.js";
import { BACKEND_CHOICES, isBackendChoice } from "../tensor/backend.js";
import { numberOption, parse, UsageError } from "./usage.js";

export const summary = "train PPO, DQN, Rainbow or SAC with a MEGNet policy on a CrystalGym task (site filling, DFT rewards)";

const help = () => `crystal-rl gym [--property density|band-gap|bulk-modulus] [--template perovskite] [--target X]
               [--algo dqn[,ppo,rainbow,sac]] [--steps N] [--seed S | --seeds 1,2,3]
               [--provider analytic|qe|gpaw] [--timeout SECONDS] [--ranks N] [--vocabulary small|medium|large|Li,Na,...]
               [--set ALGO.key=value,...] [--baseline EPISODES] [--evaluate EPISODES] [--cache PATH | --no-cache]
               [--backend auto|tensorflow|webgpu|wasm|cpu] [--store DIR] [--resume ID] [--every EPISODES] [--json]

  ${summary}.
  Algorithms: ${GYM_ALGORITHMS.map((a) => `${a.name} (${a.summary})`).join("; ")}.
  Providers: ${PROPERTY_ENGINES.map((e) => `${e.name} (${e.summary})`).join("; ")}.
  Templates: ${TEMPLATES.map((t) => `${t.name} (${t.species.length})`).join(", ")}.
  --steps counts sites filled per (algorithm, seed) (default ${DEFAULT_STEPS}); each episode ends with one property
  evaluation. Results of qe/gpaw are cached across runs (--cache, default ~/.cache/crystal-rl/properties.sqlite).
  --timeout caps one property evaluation (a timeout is a failure with the spec's failure reward; default
  30 min), --ranks sets pw.x's MPI ranks. The run folder (--store, default runs/) holds each agent's checkpoint; --resume ID continues a killed run.
  Prints the mean return of the last 20 % of episodes against the random policy's (--baseline episodes,
  default 200 with the analytic provider, else 0), the trained agents' greedy return (--evaluate episodes,
  default 20), the engine failure rate, cache hit rate and the
  engine's share of the wall time. --backend picks the TensorFlow.js backend (default: auto; every
  algorithm runs on webgpu too).`;

export async function gym(argv: string[]): Promise<string> {
  const { values } = parse("gym", argv, {
    property: { type: "string", default: "density" },
    template: { type: "string", default: "perovskite" },
    target: { type: "string" },
    algo: { type: "string", default: "dqn" },
    steps: { type: "string", default: String(DEFAULT_STEPS) },
    seed: { type: "string" },
    seeds: { type: "string" },
    provider: { type: "string", default: "analytic" },
    timeout: { type: "string" },
    ranks: { type: "string" },
    vocabulary: { type: "string", default: "small" },
    set: { type: "string", multiple: true },
    baseline: { type: "string" },
    evaluate: { type: "string" },
    cache: { type: "string" },
    "no-cache": { type: "boolean", default: false },
    store: { type: "string" },
    resume: { type: "string" },
    backend: { type: "string" },
    every: { type: "string", default: "25" },
    json: { type: "boolean", default: false },
    quiet: { type: "boolean", default: false },
    help: { type: "boolean", short: "h" },
  });
  if (values.help) return help();
  const int = (name: string, v: string | undefined, min = 0) => numberOption("gym", name, v, { integer: true, min });
  let b: GymBuilder = gymExperiment(`gym-${values.property}-${values.template}`);
  try {
    const timeoutSeconds = numberOption("gym", "timeout", values.timeout, { min: 1 });
    const ranks = int("ranks", values.ranks, 1);
    b = b
      .property(values.property as PropertyName)
      .template(values.template!)
      .engine(values.provider!, { ...(timeoutSeconds ? { timeoutSeconds } : {}), ...(ranks ? { ranks } : {}) });
    const algos = values.algo!.split(",").map((a) => a.trim()) as GymAlgorithmName[];
    b = b.algorithms(algos).steps(int("steps", values.steps, 1)!);
    if (values.target !== undefined) b = b.target(numberOption("gym", "target", values.target)!);
    const vocab = values.vocabulary!;
    b = b.vocabulary(vocab.includes(",") ? vocab.split(",").map((s) => s.trim()) : (vocab as "small"));
    if (values.seeds) b = b.seeds(values.seeds.split(",").map((s) => int("seeds", s.trim())!));
    else if (values.seed !== undefined) b = b.seeds([int("seed", values.seed)!]);
    for (const [algo, config] of Object.entries(parseAlgoSettings(values.set ?? []))) b = b.set(algo as GymAlgorithmName, config);
    b = b.baseline(values.baseline !== undefined ? int("baseline", values.baseline)! : values.provider === "analytic" ? 200 : 0);
    if (values.evaluate !== undefined) b = b.evaluate(int("evaluate", values.evaluate)!);
    if (values["no-cache"]) b = b.cache(false);
    else if (values.cache !== undefined) b = b.cache(values.cache);
    if (values.backend !== undefined) {
      if (!isBackendChoice(values.backend)) throw new UsageError(`gym: --backend must be one of ${BACKEND_CHOICES.join(", ")}, got "${values.backend}"`);
      b = b.backend(values.backend);
    }
    if (values.store) b = b.store(values.store);
    if (values.resume) b = b.resume(values.resume);
  } catch (e) {
    if (e instanceof RangeError || e instanceof TypeError) throw new UsageError(`gym: ${e.message}`);
    throw e;
  }
  const every = int("every", values.every, 1)!;
  const print = (line: string) => {
    if (!values.quiet && !values.json) process.stdout.write(line + "\n");
  };
  // the last 50 episodes of each (algorithm, seed), printed every `every` episodes
  const recent = new Map<string, { list: GymRecord[]; count: number }>();
  const onRecord = (r: GymRecord) => {
    const key = `${r.algorithm} seed ${r.seed}`;
    const entry = recent.get(key) ?? { list: [], count: 0 };
    entry.list.push(r);
    entry.count++;
    if (entry.list.length > 50) entry.list.shift();
    recent.set(key, entry);
    if (entry.count % every !== 0) return;
    const n = entry.list.length;
    const mean = entry.list.reduce((a, x) => a + x.return, 0) / n;
    const failed = entry.list.filter((x) => x.errorFlag > 0).length;
    print(`${key}  step ${r.step}  episodes ${entry.count}  last ${n}: return ${mean.toFixed(3)}  failed ${failed}  last ${r.composition || "-"} = ${r.value === null ? `failed (${r.reason ?? `errorFlag ${r.errorFlag}`})` : r.value.toPrecision(4)}`);
  };
  const controller = new AbortController();
  const stop = () => controller.abort();
  process.once("SIGINT", stop);
  try {
    const run = await b.run({ signal: controller.signal, onRecord });
    const table = run.summary();
    if (values.json) return JSON.stringify({ id: run.id, dir: run.dir, summary: table.objects() }, null, 2);
    return [`run ${run.id} in ${run.dir}${controller.signal.aborted ? " (stopped: resume with --resume " + run.id + ")" : ""}`, table.toMarkdown()].join("\n");
  } finally {
    process.off("SIGINT", stop);
  }
}

/** ["dqn.learningStarts=200,ppo.numSteps=64"] -> { dqn: { learningStarts: 200 }, ppo: { numSteps: 64 } } (numbers and true/false). */
export function parseAlgoSettings(texts: readonly string[]): Record<string, Record<string, number | boolean>> {
  const out: Record<string, Record<string, number | boolean>> = {};
  for (const text of texts) {
    for (const part of text.split(",")) {
      // which algorithms and keys exist is the builder's check (GymBuilder.set)
      const m = /^\s*([a-z][a-z0-9]*)\.([A-Za-z][A-Za-z0-9]*)=(.+?)\s*$/.exec(part);
      if (!m) throw new UsageError(`gym: --set "${part}" must look like ALGO.key=value (ALGO: ${GYM_ALGORITHMS.map((a) => a.name).join(", ")})`);
      const [, algo, key, raw] = m as unknown as [string, string, string, string];
      const value = raw === "true" ? true : raw === "false" ? false : Number(raw);
      if (typeof value === "number" && !Number.isFinite(value)) throw new UsageError(`gym: --set ${algo}.${key} needs a number or true/false, got "${raw}"`);
      (out[algo] ??= {})[key] = value;
    }
  }
  return out;
}
