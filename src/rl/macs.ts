/**
 * MACS training, CleanRL-style (`sac_continuous_action.py`), top to bottom: many random structures
 * relax together in one `RelaxationBatch` (auto-reset draws a fresh structure of a training
 * composition when one converges or hits the step cap), every atom acts through ONE shared SAC actor,
 * every atom-transition goes into ONE replay buffer, and SAC updates start after `learningStarts`
 * transitions. Spec: shared/reference/macs-spec.md §4-§6.
 *
 * Metrics carry CleanRL's names (`charts/episodic_return`, `charts/episode_length`, `losses/qf_loss`,
 * `charts/atom_transitions_per_s`, `charts/updates_per_s`, ...) and go out through `onMetrics` or the
 * async generator `macsTraining`, so the experiment layer or the CLI prints or stores them.
 *
 * Checkpoint folder (`checkpointDir`), written atomically as a whole:
 *   config.json                       the MacsConfig (written at the start)
 *   metrics.jsonl                     every record, one line each (a resume cuts the steps it redoes)
 *   latest.json                       { path, step }: the newest COMPLETE checkpoint (replaced by rename)
 *   checkpoints/step-<n>/agent/       actor, critics, targets, log α, Adam states, normaliser, counters
 *   checkpoints/step-<n>/policy/      actor + frozen normaliser only (what `loadMacsPolicy` reads)
 *   checkpoints/step-<n>/buffer/      the replay buffer (only with `saveReplayBuffer`)
 *   checkpoints/step-<n>/progress.json  counters: step, iterations, episodes, updates, transitions, ...
 * A new checkpoint is a new step folder; `latest.json` moves to it only once it is complete, then older
 * folders are removed, so a process killed at any moment leaves the previous or the new checkpoint.
 *
 * On resume: networks, optimisers, normaliser, noise and sampling streams and counters continue. The
 * structures that were mid-episode are lost (fresh ones are drawn from a new seed stream), and so is
 * the replay buffer when `saveReplayBuffer` is false (the trainer says how many transitions that was).
 *
 * @example
 * const result = await trainMacs({ totalTimesteps: 2000, numEnvs: 8 }, {
 *   checkpointDir: "runs/macs", onMetrics: (m) => console.log(m),
 * });
 * const policy = await loadMacsPolicy("runs/macs");
 * for await (const r of relaxWithPolicy(crystal, ionic(), policy)) console.log(r.step, r.fmax); // uses policy.actAsync
 *
 * Tensors are read back asynchronously in the loop (`Sac.actAsync`, one `updateDeferred` read per batch
 * step), so training runs on the webgpu backend too, where Node cannot read a GPU tensor synchronously.
 */
import { cp, mkdir, open, readFile, readdir, rename, rm, stat } from "node:fs/promises";
import { availableParallelism, cpus } from "node:os";
import { join } from "node:path";
import type { Calculator } from "../calculators/calculator.js";
import { hasBatchedTwin } from "../calculators/batched/index.js";
import { ionic } from "../calculators/ionic.js";
import { perAtom, RelaxationBatch } from "../envs/batch.js";
import { MACS_DEFAULTS } from "../envs/features.js";
import { observationSize } from "../envs/observation.js";
import { randomSource } from "../envs/sources.js";
import { barzilaiBorweinPolicy } from "../envs/teacher.js";
import { Rng } from "../structure/random-source.js";
import type { TrainRecord } from "./record.js";
import { JsonlAppender, readJsonl, writeJsonlAtomic } from "../io/jsonl.js";
import type { RandomCrystalOptions } from "../structure/random.js";
import { ensureBackend, type BackendChoice } from "../tensor/backend.js";
import { ReplayBuffer } from "./replay-buffer.js";
import { SAC_SMALL_CONFIG, Sac, type PendingSacMetrics, type SacConfig, type SacUpdateMetrics } from "./sac.js";

/** A training composition and its atom count (a whole number of formula units). */
export interface MacsComposition {
  composition: string;
  atoms: number;
}

/**
 * The default training set (spec §8.1 with the ionic model standing in for CHGNet): the paper's three
 * training compositions plus one binary oxide, each near 40 atoms. Sr2TiO4, Sr3Ti2O7 and Sr4Ti3O10
 * are never trained on (zero-shot test).
 */
export const MACS_TRAINING_COMPOSITIONS: readonly MacsComposition[] = Object.freeze([
  { composition: "SrTiO3", atoms: 40 },
  { composition: "Ca3Ti2O7", atoms: 36 },
  { composition: "Ca3Al2Si3O12", atoms: 40 },
  { composition: "MgO", atoms: 40 },
]);

/** Compositions kept for the zero-shot test: training on them is refused. */
export const MACS_ZERO_SHOT: readonly string[] = Object.freeze(["Sr2TiO4", "Sr3Ti2O7", "Sr4Ti3O10"]);

/**
 * Hyper-parameters of a training run: SAC's (`SAC_SMALL_CONFIG` defaults; `totalTimesteps` is env steps
 * summed over structures, CleanRL's global_step; `numEnvs` the structures relaxing together;
 * `learningStarts` atom-transitions before the first update; `gradientSteps` updates per batch step;
 * `maxEpisodeSteps` the truncation) plus the game's and the loop's own.
 */
export interface MacsConfig extends SacConfig {
  compositions: MacsComposition[];
  /** Game: per-atom gradient clip g_max (Å⁻¹·eV), eq. 14. */
  gMax: number;
  /** Game: largest displacement scale c_max (Å). */
  cMax: number;
  /** Game: success threshold on the largest per-atom force norm (eV/Å). */
  fmax: number;
  /** Game, training only: an episode whose fmax passes this (eV/Å) ends as a terminal failure (see MacsParameters). */
  blowUpFmax: number;
  /** Game, training only: the gradient clip inside the reward (eV/Å; the paper: g_max; see MacsParameters). */
  rewardGMax: number;
  /**
   * Not in the paper: global env steps of an imitation phase before SAC proper (0: SAC from scratch, as
   * the paper). In it the structures are moved by the per-atom Barzilai–Borwein teacher
   * (src/envs/teacher.ts) plus Gaussian noise, every transition goes into the replay buffer, the critics
   * learn from them as usual, and the actor is cloned towards the teacher's actions instead of its SAC
   * loss (α frozen). Why: within this project's budget SAC from scratch learned a bang-bang policy that
   * never converged (see the README's MACS section).
   */
  imitationSteps: number;
  /** Imitation phase: the largest std of the Gaussian noise on the teacher's actions (state coverage; structure s of K gets s/(K−1) of it). */
  imitationNoise: number;
  /** Imitation phase: the log std the cloned actor is pulled to (per action component). */
  imitationLogStd: number;
  /**
   * Imitation phase: 0 clones with a plain squared error; ε > 0 divides each atom's squared error by
   * |u_teacher|² + ε², a relative error. Why: near convergence the teacher's |u| is its step length
   * (0.005–0.1), so a plain-MSE clone with ~0.05 error per component is a random walk there.
   */
  imitationRelative: number;
  /**
   * After the imitation phase: weight of the clone loss kept as a regulariser beside SAC's actor loss
   * (one extra actor step per update, towards the teacher; 0: none). TD3+BC's idea (Fujimoto & Gu,
   * NeurIPS 2021): SAC from a clone alone collapsed into blow-ups here within 5,000 steps.
   */
  imitationWeight: number;
  /** Global env steps between checkpoints (0: only at the end). */
  checkpointInterval: number;
  /** Save the replay buffer with each checkpoint (else it is lost on resume, and progress.json says so). */
  saveReplayBuffer: boolean;
  /** Batch steps between metric records of losses and throughput. */
  logInterval: number;
  /** TensorFlow.js backend: a name `useBackend` takes (null: the one in use, else the best available). */
  backend: BackendChoice | null;
  /**
   * Force calls of the batch: "each" structure by the calculator itself, "batched" as one call on the
   * TensorFlow.js backend (the ionic and LJ models' twins in calculators/batched), "auto": batched on
   * a GPU backend (webgpu, tfjs-node-gpu), each on wasm and cpu, where the batched twin is slower
   * (64 × 40 atoms on wasm: 174 ms against 84 ms, bench/batched-forces.ts).
   */
  forces: "each" | "batched" | "auto";
  /** The calculator, by name, for the record (the trainer uses `ionic()` unless given another). */
  calculator: string;
}

export const MACS_DEFAULT_CONFIG: Readonly<MacsConfig> = Object.freeze({
  ...SAC_SMALL_CONFIG,
  compositions: MACS_TRAINING_COMPOSITIONS.map((c) => ({ ...c })),
  gMax: MACS_DEFAULTS.gMax,
  cMax: MACS_DEFAULTS.cMax,
  fmax: MACS_DEFAULTS.fmax,
  blowUpFmax: 5e3,
  rewardGMax: 1e4,
  imitationSteps: 0,
  imitationNoise: 0.1,
  imitationLogStd: -2.5,
  imitationRelative: 0,
  imitationWeight: 0,
  checkpointInterval: 2000,
  saveReplayBuffer: true,
  logInterval: 10,
  backend: null,
  forces: "auto",
  calculator: "ionic",
});

/** What the loop has done: saved in every checkpoint's progress.json. */
export interface MacsProgress {
  /** Env steps summed over structures (CleanRL's global_step). */
  step: number;
  /** Steps of the whole batch. */
  iterations: number;
  /** Finished episodes (converged or truncated). */
  episodes: number;
  converged: number;
  /** Episodes ended by a blow-up (fmax past blowUpFmax). */
  blownUp: number;
  /** SGD updates. */
  updates: number;
  /** Atom-transitions added to the replay buffer. */
  transitions: number;
  /** Times the run was resumed. */
  resumes: number;
  /** Training wall time over all segments (s). */
  wallSeconds: number;
  /** Whether the checkpoint holds the replay buffer. */
  bufferSaved: boolean;
  /** Transitions held by the buffer when saved (lost on resume when `bufferSaved` is false). */
  bufferSize: number;
  backend: string;
}

export interface TrainMacsOptions {
  /** Folder of the checkpoints (required for `resume`). */
  checkpointDir?: string;
  /** Continue from the newest checkpoint in `checkpointDir` (its config wins over the given one, except `totalTimesteps`). */
  resume?: boolean;
  /** Every metric record. */
  onMetrics?: (record: TrainRecord) => void;
  /** Stop between steps (a final checkpoint is written). */
  signal?: AbortSignal;
  /** Default `ionic()`. */
  calculator?: Calculator;
  /**
   * A warm start for a new run: the networks and normaliser of another run (a training folder, a step
   * folder, or a Sac checkpoint; critics only where it holds trained ones). The config is this run's.
   */
  init?: string;
}

export interface TrainMacsResult extends MacsProgress {
  /** Stopped by the signal before `totalTimesteps`. */
  stopped: boolean;
  /** The newest checkpoint folder, when there is a checkpointDir. */
  checkpoint?: string;
  config: MacsConfig;
}

const PROGRESS_FORMAT = "crystal-rl/macs-progress@1";
const METRICS_FILE = "metrics.jsonl";

/** A full config from overrides, checked (a RangeError names the problem). */
export function macsConfig(overrides: Partial<MacsConfig> = {}): MacsConfig {
  const c: MacsConfig = {
    ...MACS_DEFAULT_CONFIG,
    ...overrides,
    hiddenSizes: [...(overrides.hiddenSizes ?? MACS_DEFAULT_CONFIG.hiddenSizes)],
    compositions: (overrides.compositions ?? MACS_DEFAULT_CONFIG.compositions).map((x) => ({ ...x })),
  };
  if (c.compositions.length === 0) throw new RangeError("MacsConfig.compositions is empty");
  for (const { composition, atoms } of c.compositions) {
    if (MACS_ZERO_SHOT.includes(composition)) throw new RangeError(`${composition} is kept for the zero-shot test and must not be trained on`);
    if (!Number.isInteger(atoms) || atoms < 1) throw new RangeError(`MacsConfig: ${composition} needs a positive whole atom count, got ${atoms}`);
  }
  if (c.obsDim !== observationSize(MACS_DEFAULTS.k)) throw new RangeError(`MacsConfig.obsDim must be 204, got ${c.obsDim}`);
  if (c.actionDim !== 3) throw new RangeError(`MacsConfig.actionDim must be 3, got ${c.actionDim}`);
  for (const k of ["totalTimesteps", "checkpointInterval", "learningStarts"] as const) {
    if (!Number.isSafeInteger(c[k]) || c[k] < 0) throw new RangeError(`MacsConfig.${k} must be a whole number >= 0, got ${c[k]}`);
  }
  if (!Number.isSafeInteger(c.logInterval) || c.logInterval < 1) throw new RangeError(`MacsConfig.logInterval must be a positive integer`);
  return c;
}

/** "SrTiO3:40,MgO:40" -> compositions. */
export function parseCompositions(text: string): MacsComposition[] {
  return text.split(",").map((part) => {
    const [composition, atoms] = part.trim().split(":");
    const n = Number(atoms);
    if (!composition || !Number.isInteger(n) || n < 1) throw new RangeError(`composition "${part}" must look like SrTiO3:40`);
    return { composition, atoms: n };
  });
}

/**
 * The training loop as an async generator of metric records; returns the final progress. Use
 * `trainMacs` for a callback instead.
 */
export async function* macsTraining(overrides: Partial<MacsConfig> = {}, options: TrainMacsOptions = {}): AsyncGenerator<TrainRecord, TrainMacsResult, void> {
  const { checkpointDir: dir, signal } = options;
  if (options.resume && !dir) throw new RangeError("resume needs a checkpointDir");

  // ---- 0. config, backend, and (on resume) the saved state
  const previous = options.resume && dir ? await latestCheckpoint(dir) : null;
  const config = previous
    ? macsConfig({ ...previous.config, ...(overrides.totalTimesteps !== undefined ? { totalTimesteps: overrides.totalTimesteps } : {}) })
    : macsConfig(overrides);
  const backend = await ensureBackend(config.backend);
  const calculator: Calculator = options.calculator ?? ionic();
  const ownCalculator = !options.calculator;

  let sac: Sac;
  let buffer: ReplayBuffer;
  let progress: MacsProgress;
  const notes: string[] = [];
  if (previous) {
    sac = await Sac.load(join(previous.path, "agent"));
    if (previous.progress.bufferSaved) {
      buffer = await ReplayBuffer.load(join(previous.path, "buffer"));
    } else {
      buffer = new ReplayBuffer({ capacity: config.bufferSize, obsDim: config.obsDim, actionDim: config.actionDim, seed: config.seed + 7919 * (previous.progress.resumes + 1) });
      notes.push(`replay buffer not saved: ${previous.progress.bufferSize} transitions lost`);
    }
    progress = { ...previous.progress, blownUp: previous.progress.blownUp ?? 0, resumes: previous.progress.resumes + 1, backend };
  } else {
    sac = new Sac(config);
    if (options.init) {
      const from = await Sac.load(await agentFolder(options.init));
      try {
        sac.warmStart(from);
      } finally {
        from.dispose();
      }
      notes.push(`warm start from ${options.init}${from.policyOnly ? " (actor only)" : ""}`);
    }
    buffer = new ReplayBuffer({ capacity: config.bufferSize, obsDim: config.obsDim, actionDim: config.actionDim, seed: config.seed });
    progress = { step: 0, iterations: 0, episodes: 0, converged: 0, blownUp: 0, updates: 0, transitions: 0, resumes: 0, wallSeconds: 0, bufferSaved: false, bufferSize: 0, backend };
    if (dir) {
      await mkdir(dir, { recursive: true });
      await writeJsonAtomic(join(dir, "config.json"), config);
    }
  }
  sac.normaliser?.unfreeze();

  // ---- 1. the batch of structures; each segment (first run, each resume) draws from its own stream
  const gpu = backend === "webgpu" || backend === "tfjs-node-gpu";
  const forces = config.forces === "auto" || config.forces === undefined ? (gpu && hasBatchedTwin(calculator) ? "batched" : "each") : config.forces;
  // batched force calls run asynchronously (a GPU tensor is read back with await); "each" stays synchronous
  const batchOptions = {
    calculator,
    forces,
    source: randomSource(config.compositions),
    size: config.numEnvs,
    seed: config.seed * 1_000_003 + progress.resumes,
    gMax: config.gMax,
    cMax: config.cMax,
    fmax: config.fmax,
    blowUpFmax: config.blowUpFmax,
    rewardGMax: config.rewardGMax,
    maxSteps: config.maxEpisodeSteps,
  } as const;
  const batch = forces === "batched" ? await RelaxationBatch.create(batchOptions) : RelaxationBatch.createSync(batchOptions);
  // Every record also goes to dir/metrics.jsonl; a resume first cuts the lines of the steps it redoes.
  const log = dir ? openMetricsLog(dir, previous ? progress.step : -1) : undefined;
  const logged = (r: TrainRecord): TrainRecord => {
    log?.append(r);
    return r;
  };
  yield logged({
    step: progress.step,
    "charts/resumed": progress.resumes,
    "charts/buffer_size": buffer.size,
    "config/imitation_steps": config.imitationSteps,
    backend,
    note: notes.join("; ") || undefined,
  });

  const teacher = barzilaiBorweinPolicy();
  const noiseRng = new Rng(config.seed * 7_368_787 + progress.resumes);
  const segmentStart = performance.now();
  const wallBefore = progress.wallSeconds;
  let window = { t: performance.now(), transitions: 0, updates: 0, envMs: 0, learnMs: 0 };
  let lastLosses: SacUpdateMetrics | null = null;
  // The newest update's metrics, still on the device: read once per batch step (after its last
  // gradient step; earlier ones are dropped unread), asynchronously, so the loop runs on webgpu too.
  // That read also waits for the GPU's work, so learn_ms_per_update counts it there.
  let pending: PendingSacMetrics | null = null;
  let lastCheckpointStep = progress.step;
  let checkpoint: string | undefined;
  const save = async (): Promise<void> => {
    if (!dir) return;
    progress.wallSeconds = wallBefore + (performance.now() - segmentStart) / 1000;
    checkpoint = await writeMacsCheckpoint(dir, sac, buffer, config, progress);
    lastCheckpointStep = progress.step;
  };

  try {
    let obs = batch.obs;
    while (progress.step < config.totalTimesteps && !signal?.aborted) {
      // ---- 2. act: normaliser statistics from the new observations, then a stochastic action per atom
      const tEnv = performance.now();
      sac.normaliser?.update(obs);
      const imitating = progress.step < config.imitationSteps;
      // (read back asynchronously: the webgpu backend cannot read synchronously in Node; same cost on wasm/cpu)
      const actions = imitating ? noisy(teacher(obs, obs.length / config.obsDim), batch.system, config.imitationNoise / Math.max(1, config.numEnvs - 1), noiseRng) : await sac.actAsync(obs);

      // ---- 3. step every structure (auto-reset replaces finished ones)
      const r = forces === "batched" ? await batch.step(actions) : batch.stepSync(actions);

      // ---- 4. every atom-transition into the buffer; done = converged or blown up (truncation bootstraps)
      buffer.add({ obs, actions, rewards: r.reward, nextObs: r.nextObs, terminated: perAtom(r.terminated, r.system) });
      const n = r.reward.length;
      progress.transitions += n;
      progress.step += config.numEnvs;
      progress.iterations++;
      window.transitions += n;
      window.envMs += performance.now() - tEnv;
      for (const s of r.reset) {
        const info = r.info[s]!;
        progress.episodes++;
        if (info.converged) progress.converged++;
        if (info.blownUp) progress.blownUp++;
        yield logged({
          step: progress.step,
          "charts/episodic_return": info.episodeReturn,
          "charts/episode_length": info.step,
          "charts/episode_converged": info.converged ? 1 : 0,
          "charts/episode_blown_up": info.blownUp ? 1 : 0,
          "charts/episode_fmax": info.fmax,
          "charts/episode_atoms": info.natoms,
        });
      }
      obs = r.obs;

      // ---- 5. learn
      if (buffer.size >= config.learningStarts) {
        const tLearn = performance.now();
        for (let g = 0; g < config.gradientSteps; g++) {
          const sample = buffer.sample(config.batchSize);
          const labels = imitating || config.imitationWeight > 0 ? teacher(sample.obs.subarray(0, sample.size * config.obsDim), sample.size) : null;
          const regulariser = !imitating && labels ? { targets: labels, weight: config.imitationWeight, relative: config.imitationRelative } : undefined;
          // imitating: critics only, then the actor's cloning step towards the teacher (`clone`), in the same read
          const clone = imitating ? { targets: labels!, logStd: config.imitationLogStd, relative: config.imitationRelative } : undefined;
          pending?.dispose();
          pending = sac.updateDeferred(sample, { actor: !imitating, imitation: regulariser, clone });
          progress.updates++;
          window.updates++;
        }
        lastLosses = await pending!.read();
        pending = null;
        window.learnMs += performance.now() - tLearn;
      }

      // ---- 6. log
      if (progress.iterations % config.logInterval === 0) {
        const seconds = (performance.now() - window.t) / 1000;
        const fmaxes = Array.from({ length: batch.size }, (_, s) => batch.info(s).fmax).sort((a, b) => a - b);
        const record: TrainRecord = {
          step: progress.step,
          "charts/episodes": progress.episodes,
          "charts/success_rate": progress.episodes > 0 ? progress.converged / progress.episodes : 0,
          "charts/blow_up_rate": progress.episodes > 0 ? progress.blownUp / progress.episodes : 0,
          "charts/fmax_median": fmaxes[Math.floor(fmaxes.length / 2)]!,
          "charts/fmax_min": fmaxes[0]!,
          "charts/fmax_max": fmaxes[fmaxes.length - 1]!,
          "charts/atom_transitions_per_s": window.transitions / seconds,
          "charts/updates_per_s": window.updates / seconds,
          "charts/SPS": (config.numEnvs * config.logInterval) / seconds,
          "charts/env_ms_per_step": window.envMs / config.logInterval,
          "charts/learn_ms_per_update": window.updates > 0 ? window.learnMs / window.updates : 0,
          "charts/buffer_size": buffer.size,
          "charts/updates": progress.updates,
        };
        if (lastLosses) for (const [k, v] of Object.entries(lastLosses)) if (Number.isFinite(v)) record[k] = v;
        yield logged(record);
        window = { t: performance.now(), transitions: 0, updates: 0, envMs: 0, learnMs: 0 };
      }

      // ---- 7. checkpoint
      if (dir && config.checkpointInterval > 0 && progress.step - lastCheckpointStep >= config.checkpointInterval) await save();
    }
    if (dir && (progress.step !== lastCheckpointStep || !checkpoint)) await save();
    progress.wallSeconds = wallBefore + (performance.now() - segmentStart) / 1000;
    return { ...progress, stopped: progress.step < config.totalTimesteps, checkpoint, config };
  } finally {
    log?.close();
    pending?.dispose();
    batch.dispose();
    sac.dispose();
    if (ownCalculator) await calculator.close?.();
  }
}

/**
 * `actions` plus Gaussian noise, clipped to [−1, 1] (in place). Structure s gets sd = s·step: noise
 * breaks the teacher's curvature estimates, so slot 0 runs clean and reaches the converged states the
 * actor must also learn, while the others cover states off the teacher's path.
 */
function noisy(actions: Float32Array, system: Int32Array, step: number, rng: Rng): Float32Array {
  for (let k = 0; k < actions.length; k++) {
    const sd = step * system[Math.floor(k / 3)]!;
    if (sd > 0) actions[k] = Math.max(-1, Math.min(1, actions[k]! + sd * rng.normal()));
  }
  return actions;
}

/** Runs `macsTraining` to the end, handing each record to `onMetrics`. */
export async function trainMacs(config: Partial<MacsConfig> = {}, options: TrainMacsOptions = {}): Promise<TrainMacsResult> {
  const run = macsTraining(config, options);
  for (;;) {
    const r = await run.next();
    if (r.done) return r.value;
    options.onMetrics?.(r.value);
  }
}

// -------------------------------------------------------------------------------------------------
// Checkpoints

async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  const fh = await open(tmp, "w");
  try {
    await fh.writeFile(JSON.stringify(value, null, 1));
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
}

async function writeMacsCheckpoint(dir: string, sac: Sac, buffer: ReplayBuffer, config: MacsConfig, progress: MacsProgress): Promise<string> {
  const rel = join("checkpoints", `step-${String(progress.step).padStart(10, "0")}`);
  const path = join(dir, rel);
  await rm(path, { recursive: true, force: true }); // a half-written folder of a killed save
  await sac.save(join(path, "agent"));
  sac.normaliser?.freeze();
  try {
    await sac.save(join(path, "policy"), { policyOnly: true });
  } finally {
    sac.normaliser?.unfreeze();
  }
  progress.bufferSaved = config.saveReplayBuffer;
  progress.bufferSize = buffer.size;
  if (config.saveReplayBuffer) await buffer.save(join(path, "buffer"));
  await writeJsonAtomic(join(path, "progress.json"), { format: PROGRESS_FORMAT, config, progress, savedAt: new Date().toISOString() });
  await writeJsonAtomic(join(dir, "latest.json"), { path: rel, step: progress.step });
  for (const f of await readdir(join(dir, "checkpoints"))) {
    if (join("checkpoints", f) !== rel) await rm(join(dir, "checkpoints", f), { recursive: true, force: true });
  }
  return path;
}

/** dir/metrics.jsonl for appending, first cut to the records of steps ≤ `keepTo` (−1: none, a fresh run). */
function openMetricsLog(dir: string, keepTo: number): JsonlAppender {
  const path = join(dir, METRICS_FILE);
  writeJsonlAtomic(path, readJsonl<TrainRecord>(path).filter((r) => r.step <= keepTo));
  return new JsonlAppender(path);
}

/**
 * The metric records of the training run in `dir` (its metrics.jsonl) up to its newest checkpoint: the
 * history a resumed run continues, e.g. to redraw `macsTrainingFigure` before resuming. [] when none.
 */
export async function macsHistory(dir: string): Promise<TrainRecord[]> {
  const upTo = (await exists(join(dir, "latest.json"))) ? (await latestCheckpoint(dir)).progress.step : -1;
  return readJsonl<TrainRecord>(join(dir, METRICS_FILE)).filter((r) => r.step <= upTo);
}

/** The newest complete checkpoint under `dir`: its folder, config and progress. */
export async function latestCheckpoint(dir: string): Promise<{ path: string; config: MacsConfig; progress: MacsProgress }> {
  let latest: { path: string };
  try {
    latest = JSON.parse(await readFile(join(dir, "latest.json"), "utf8")) as { path: string };
  } catch (e) {
    throw new Error(`no MACS checkpoint in ${dir}: ${(e as Error).message}`);
  }
  return readStep(join(dir, latest.path));
}

/** One checkpoint's step folder: its config and progress (progress.json, format checked). */
async function readStep(path: string): Promise<{ path: string; config: MacsConfig; progress: MacsProgress }> {
  const saved = JSON.parse(await readFile(join(path, "progress.json"), "utf8")) as { format: string; config: MacsConfig; progress: MacsProgress };
  if (saved.format !== PROGRESS_FORMAT) throw new Error(`${path}/progress.json: format "${saved.format}", expected "${PROGRESS_FORMAT}"`);
  return { path, config: saved.config, progress: saved.progress };
}

// -------------------------------------------------------------------------------------------------
// A trained policy

/** What `training.json` beside an exported policy says about how it was trained. */
export interface MacsTrainingRecord {
  format: "crystal-rl/macs-training@1";
  exported: string;
  /** The checkpoint folder it came from. */
  from: string;
  config: MacsConfig;
  progress: MacsProgress;
  machine: { cpu: string; cores: number; node: string; platform: string };
  note?: string;
}

/**
 * Copies the policy of `from` (a training folder: its newest checkpoint; or one checkpoint's step
 * folder, which holds policy/ and progress.json) to `to`, with a training.json record (config,
 * steps, updates, wall time, backend, machine). `to` is replaced as a whole (written beside it, then
 * renamed), so a killed export never leaves half a policy. `loadMacsPolicy(to)` reads it.
 */
export async function exportMacsPolicy(from: string, to: string, note?: string): Promise<MacsTrainingRecord> {
  const saved = (await exists(join(from, "latest.json"))) ? await latestCheckpoint(from) : await readStep(from);
  const step = saved.path;
  if (!(await exists(join(step, "policy", "header.json")))) throw new Error(`${step} has no policy/ folder`);
  const cpu = cpus();
  const record: MacsTrainingRecord = {
    format: "crystal-rl/macs-training@1",
    exported: new Date().toISOString(),
    from: step,
    config: saved.config,
    progress: saved.progress,
    machine: { cpu: cpu[0]?.model ?? "unknown", cores: availableParallelism(), node: process.version, platform: `${process.platform}-${process.arch}` },
    ...(note ? { note } : {}),
  };
  const tmp = `${to.replace(/\/+$/, "")}.tmp-${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  await cp(join(step, "policy"), tmp, { recursive: true });
  await writeJsonAtomic(join(tmp, "training.json"), record);
  await rm(to, { recursive: true, force: true });
  await rename(tmp, to);
  return record;
}

/**
 * A deterministic MACS policy: frozen normaliser, then tanh(mean) of the actor. Calling it reads the
 * actions synchronously (wasm, cpu, tfjs-node); `actAsync` reads them asynchronously and works on every
 * backend, webgpu included. `relaxWithPolicy` and the `macs` Method (experiment/macs-method.ts) use `actAsync`.
 */
export interface MacsPolicy {
  (obs: Float32Array, natoms: number): Float32Array;
  /** The same actions, read back with `await t.data()` (every backend). */
  readonly actAsync: (obs: Float32Array, natoms: number) => Promise<Float32Array>;
  readonly agent: Sac;
  /** The folder it was read from. */
  readonly path: string;
  dispose(): void;
}

/**
 * The policy in `dir`: a training folder (its newest checkpoint's policy), a step folder, or a Sac
 * checkpoint folder itself (policy-only or full).
 */
export async function loadMacsPolicy(dir: string, options: { backend?: BackendChoice } = {}): Promise<MacsPolicy> {
  await ensureBackend(options.backend);
  let path = dir;
  if (await exists(join(dir, "latest.json"))) path = join((await latestCheckpoint(dir)).path, "policy");
  else if (await exists(join(dir, "policy", "header.json"))) path = join(dir, "policy");
  const agent = await Sac.load(path);
  agent.normaliser?.freeze();
  const check = (obs: Float32Array, natoms: number): void => {
    if (obs.length !== natoms * agent.config.obsDim) throw new RangeError(`MACS policy: ${obs.length} values for ${natoms} atoms of ${agent.config.obsDim}`);
  };
  const policy = ((obs: Float32Array, natoms: number): Float32Array => {
    check(obs, natoms);
    return agent.act(obs, { deterministic: true });
  }) as MacsPolicy;
  const actAsync = async (obs: Float32Array, natoms: number): Promise<Float32Array> => {
    check(obs, natoms);
    return agent.actAsync(obs, { deterministic: true });
  };
  Object.defineProperties(policy, {
    actAsync: { value: actAsync },
    agent: { value: agent },
    path: { value: path },
    dispose: { value: () => agent.dispose() },
  });
  return policy;
}

/** The full agent checkpoint behind a training folder, a step folder or a policy folder. */
async function agentFolder(dir: string): Promise<string> {
  if (await exists(join(dir, "latest.json"))) return join((await latestCheckpoint(dir)).path, "agent");
  if (await exists(join(dir, "agent", "header.json"))) return join(dir, "agent");
  if (await exists(join(dir, "policy", "header.json"))) return join(dir, "policy");
  return dir;
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}
