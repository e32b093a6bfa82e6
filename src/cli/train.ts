import { exportMacsPolicy, MACS_DEFAULT_CONFIG, trainMacs, parseCompositions, type MacsConfig } from "../rl/macs.js";
import { BACKEND_CHOICES, deviceReport, formatDeviceReport, isBackendChoice } from "../tensor/backend.js";
import type { TrainRecord } from "../experiment/method.js";
import { numberOption, parse, positionals, UsageError } from "./usage.js";

export const summary = "train a MACS policy (shared-parameter SAC) on random structures, with resumable checkpoints";

const help = () => `crystal-rl train macs [--compositions SrTiO3:40,Ca3Ti2O7:36,Ca3Al2Si3O12:40,MgO:40]
                      [--steps N] [--parallel K] [--batch-size B] [--learning-starts N]
                      [--updates-per-step U] [--checkpoint-every N] [--no-buffer] [--seed S]
                      [--backend auto|tensorflow|webgpu|wasm|cpu] [--out DIR] [--resume] [--every N]
                      [--set alpha=0.01,gamma=0.99,...] [--init DIR]
crystal-rl train export FROM TO [--note TEXT]

  ${summary}.
  --steps is env steps summed over the K parallel structures (CleanRL's global_step; the paper ~80,000).
  --out DIR holds config.json, metrics.jsonl (every record), latest.json and
  checkpoints/step-N/{agent,policy,buffer,progress.json};
  --resume continues from it after the process was killed (--no-buffer: the replay buffer is not saved,
  and is lost on resume). A progress line is printed every --every batch steps (default 10).
  --init DIR starts a new run from the networks and normaliser of another (training folder, step folder
  or exported policy; e.g. SAC proper after an imitation run).
  --set overrides any numeric or true/false field of the config (MacsConfig: SacConfig's alpha, alphaLr,
  gamma, tau, policyLr, qLr, targetEntropy, maxEpisodeSteps, imitationSteps, ... and the game's gMax,
  cMax, fmax, blowUpFmax, rewardGMax).
  export copies the policy of a training folder (its newest checkpoint) or of one step folder to TO,
  with training.json (config, steps, updates, wall time, backend, machine); loadMacsPolicy(TO) reads it.`;

export async function train(argv: string[]): Promise<string> {
  const { values, positionals: pos } = parse("train", argv, {
    compositions: { type: "string" },
    steps: { type: "string" },
    parallel: { type: "string" },
    "batch-size": { type: "string" },
    "learning-starts": { type: "string" },
    "updates-per-step": { type: "string" },
    "checkpoint-every": { type: "string" },
    "no-buffer": { type: "boolean", default: false },
    seed: { type: "string" },
    backend: { type: "string" },
    out: { type: "string", default: "runs/macs" },
    resume: { type: "boolean", default: false },
    every: { type: "string" },
    set: { type: "string", multiple: true },
    quiet: { type: "boolean", default: false },
    note: { type: "string" },
    init: { type: "string" },
    help: { type: "boolean", short: "h" },
  });
  if (values.help) return help();
  if (pos[0] === "export") {
    const [, from, to] = positionals("train", pos, ["export", "FROM", "TO"]);
    const r = await exportMacsPolicy(from!, to!, values.note);
    return `exported ${r.from} -> ${to}: ${r.progress.step} env steps, ${r.progress.updates} updates, ${(r.progress.wallSeconds / 60).toFixed(1)} min on ${r.progress.backend}`;
  }
  const [algo] = positionals("train", pos, ["algorithm"]);
  if (algo !== "macs") throw new UsageError(`train: unknown algorithm "${algo}" (only "macs")`);
  const int = (name: string, v: string | undefined, min = 0) => numberOption("train", name, v, { integer: true, min });
  const config: Partial<MacsConfig> = {};
  if (values.compositions) config.compositions = parseCompositions(values.compositions);
  const set = <K extends keyof MacsConfig>(k: K, v: MacsConfig[K] | undefined) => {
    if (v !== undefined) config[k] = v;
  };
  set("totalTimesteps", int("steps", values.steps));
  set("numEnvs", int("parallel", values.parallel, 1));
  set("batchSize", int("batch-size", values["batch-size"], 1));
  set("learningStarts", int("learning-starts", values["learning-starts"]));
  set("gradientSteps", int("updates-per-step", values["updates-per-step"], 1));
  set("checkpointInterval", int("checkpoint-every", values["checkpoint-every"]));
  set("seed", int("seed", values.seed));
  set("logInterval", int("every", values.every, 1));
  if (values["no-buffer"]) config.saveReplayBuffer = false;
  if (values.backend) {
    if (!isBackendChoice(values.backend)) throw new UsageError(`--backend must be one of ${BACKEND_CHOICES.join(", ")}, got "${values.backend}"`);
    config.backend = values.backend;
  }
  for (const text of values.set ?? []) Object.assign(config, parseSettings(text));

  const print = (line: string) => {
    if (!values.quiet) process.stdout.write(line + "\n");
  };
  let backend = "";
  // The last 50 episodes: return, length, and how they ended.
  const recent: { ret: number; len: number; ok: number; blown: number }[] = [];
  const fmt = (x: unknown, d = 3) => (typeof x === "number" && Number.isFinite(x) ? x.toFixed(d) : "-");
  const mean = (f: (e: (typeof recent)[number]) => number) => (recent.length ? recent.reduce((a, e) => a + f(e), 0) / recent.length : NaN);
  const onMetrics = (m: TrainRecord) => {
    if (typeof m.backend === "string") {
      backend = m.backend;
      if (m.note) print(`note: ${m.note}`);
      return;
    }
    if (typeof m["charts/episodic_return"] === "number") {
      recent.push({ ret: m["charts/episodic_return"], len: Number(m["charts/episode_length"]), ok: Number(m["charts/episode_converged"]), blown: Number(m["charts/episode_blown_up"] ?? 0) });
      if (recent.length > 50) recent.shift();
      return;
    }
    if (typeof m["charts/atom_transitions_per_s"] !== "number") return;
    print(
      `step ${m.step}  episodes ${m["charts/episodes"]}  last ${recent.length}: return ${fmt(mean((e) => e.ret))} length ${fmt(mean((e) => e.len), 0)}` +
        ` converged ${fmt(mean((e) => e.ok), 2)} blown up ${fmt(mean((e) => e.blown), 2)}` +
        `  fmax med ${fmt(m["charts/fmax_median"])}  transitions/s ${fmt(m["charts/atom_transitions_per_s"], 0)}  updates/s ${fmt(m["charts/updates_per_s"], 2)}` +
        `  qf_loss ${fmt(m["losses/qf_loss"])}  imitation ${fmt(m["losses/imitation_loss"], 4)}  log_pi ${fmt(m["losses/log_pi"], 2)}  alpha ${fmt(m["losses/alpha"], 4)}  [${backend}]`,
    );
  };
  const controller = new AbortController();
  const stop = () => controller.abort();
  process.once("SIGINT", stop);
  try {
    const r = await trainMacs(config, { checkpointDir: values.out, resume: values.resume, init: values.init, onMetrics, signal: controller.signal });
    const device = formatDeviceReport(await deviceReport());
    return [
      `${r.stopped ? "stopped" : "done"}: step ${r.step} of ${r.config.totalTimesteps}, ${r.episodes} episodes (${r.converged} converged), ${r.updates} updates, ${r.transitions} atom-transitions`,
      `wall ${r.wallSeconds.toFixed(1)} s over ${r.resumes + 1} segment(s); ${device}`,
      `checkpoint: ${r.checkpoint ?? "(none)"}${r.bufferSaved ? "" : " (replay buffer not saved)"}`,
    ].join("\n");
  } finally {
    process.off("SIGINT", stop);
  }
}

/** "alpha=0.01,gamma=0.99" -> { alpha: 0.01, gamma: 0.99 }: numeric and true/false fields of MacsConfig only. */
export function parseSettings(text: string): Partial<MacsConfig> {
  const out: Record<string, number | boolean> = {};
  for (const part of text.split(",")) {
    const [key, raw, extra] = part.trim().split("=");
    if (!key || raw === undefined || extra !== undefined) throw new UsageError(`train: --set "${part}" must look like name=value`);
    const current = (MACS_DEFAULT_CONFIG as unknown as Record<string, unknown>)[key];
    if (typeof current === "number") {
      const v = Number(raw);
      if (raw.trim() === "" || !Number.isFinite(v)) throw new UsageError(`train: --set ${key} needs a number, got "${raw}"`);
      out[key] = v;
    } else if (typeof current === "boolean") {
      if (raw !== "true" && raw !== "false") throw new UsageError(`train: --set ${key} needs true or false, got "${raw}"`);
      out[key] = raw === "true";
    } else {
      throw new UsageError(`train: --set ${key}: not a numeric or true/false setting of the MACS config`);
    }
  }
  return out as Partial<MacsConfig>;
}
