/**
 * The on-disk form of a CrystalGym experiment (see gym.ts for how it is made): config.json,
 * baseline.json, status.json, and per (algorithm, seed) `<algorithm>-s<seed>/` with checkpoint/,
 * episodes.jsonl (one line per finished episode), state.json while training and done.json after.
 * `loadGymRun` reads it back as a `GymRun`: episodes and the summary as arquero tables, the learning curves.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as aq from "arquero";
import type { PropertyName } from "../calculators/property.js";
import type { VocabularyName } from "../envs/crystal-gym/vocabulary.js";
import { displaySink, type Figure } from "./display-sink.js";
import { learningCurveFigure } from "./figures.js";
import { cutTornTail, readJsonl } from "../io/jsonl.js";
import { DataTable } from "./results.js";
import type { BackendChoice } from "../tensor/backend.js";

export type GymAlgorithmName = "ppo" | "dqn" | "rainbow" | "sac";

export const GYM_ALGORITHMS: readonly { name: GymAlgorithmName; summary: string }[] = Object.freeze([
  { name: "ppo", summary: "PPO, clipped, GAE (spec §6.2)" },
  { name: "dqn", summary: "DQN, ε-greedy, hard target copies (spec §6.2)" },
  { name: "rainbow", summary: "Rainbow: double, dueling, prioritised, n-step, C51, noisy nets" },
  { name: "sac", summary: "discrete SAC with automatic entropy tuning" },
]);

/** The task, as stored in config.json. */
export interface GymTaskSettings {
  template: string;
  property: PropertyName;
  target: number | null;
  vocabulary: VocabularyName | string[];
  engine: string;
  /** Wall-clock limit of one evaluation (s) and MPI ranks of pw.x, for the named engines. */
  engineOptions: { timeoutSeconds?: number; ranks?: number };
  /** The cache file; null for none; "auto": the default file for DFT engines, none for "analytic". */
  cache: string | null;
  cutoff: number | null;
}

export interface GymSettings {
  name: string;
  task: GymTaskSettings;
  algorithms: GymAlgorithmName[];
  seeds: number[];
  steps: number;
  /** Per-algorithm overrides of the hyper-parameters (e.g. { dqn: { learningStarts: 200 } }). */
  configs: Partial<Record<GymAlgorithmName, Record<string, unknown>>>;
  /** Episodes of the uniform random policy measured as the baseline (0: none). */
  baselineEpisodes: number;
  /** Greedy episodes run with each trained agent (0: none). */
  evaluationEpisodes: number;
  checkpointInterval: number;
  /** The TensorFlow.js backend to train on (`useBackend`'s choices); null: the one in use, else auto. */
  backend?: BackendChoice | null;
  live: boolean;
  store: string;
  resume: string | null;
}

/** One finished episode, as logged. */
export interface GymRecord {
  algorithm: GymAlgorithmName;
  seed: number;
  /** Env steps of this (algorithm, seed) when the episode ended. */
  step: number;
  return: number;
  /** The property value (null when the engine failed). */
  value: number | null;
  errorFlag: number;
  /** Engine seconds of the evaluation (its original time for a cache hit). */
  seconds: number;
  composition: string;
  /** The engine's one-line reason when it failed. */
  reason?: string;
}

export function readPairEpisodes(pairDir: string): GymRecord[] {
  const path = join(pairDir, "episodes.jsonl");
  return existsSync(path) ? readJsonl<GymRecord>(path) : [];
}

export function readPairState(pairDir: string): { wallSeconds: number; engineSeconds: number; hits: number; misses: number } | null {
  for (const f of ["done.json", "state.json"]) {
    const p = join(pairDir, f);
    if (existsSync(p)) return JSON.parse(readFileSync(p, "utf8"));
  }
  return null;
}

export function readDone(pairDir: string): { greedyReturn?: number } & Record<string, unknown> | null {
  const p = join(pairDir, "done.json");
  return existsSync(p) ? JSON.parse(readFileSync(p, "utf8")) : null;
}

export function readBaseline(dir: string): { mean: number; std: number; episodes: number } | undefined {
  const p = join(dir, "baseline.json");
  return existsSync(p) ? JSON.parse(readFileSync(p, "utf8")) : undefined;
}

/** After a resume from a checkpoint at `step`: episodes logged past it will be played again, so drop them. */
export function keepEpisodesUpTo(pairDir: string, step: number, records: GymRecord[], algorithm: string, seed: number): void {
  const path = join(pairDir, "episodes.jsonl");
  if (!existsSync(path)) return;
  cutTornTail(path);
  const kept = readJsonl<GymRecord>(path).filter((r) => r.step <= step);
  // a temp file, then a rename in the same folder: the log is either the old one or the cut one
  writeFileSync(path + ".tmp", kept.map((r) => JSON.stringify(r) + "\n").join(""));
  renameSync(path + ".tmp", path);
  for (let i = records.length - 1; i >= 0; i--) {
    const r = records[i]!;
    if (r.algorithm === algorithm && r.seed === seed && r.step > step) records.splice(i, 1);
  }
}


export function curvesFigure(records: readonly GymRecord[], baseline: number | undefined, task: GymTaskSettings): Figure {
  const fig = learningCurveFigure(
    records.map((r) => ({ method: r.algorithm, seed: r.seed, step: r.step, "charts/episodic_return": r.return })),
    { title: `${task.property} on ${task.template} (${task.engine})`, smoothing: 0.9 },
  );
  if (baseline !== undefined) {
    fig.layout = {
      ...fig.layout,
      shapes: [{ type: "line", xref: "paper", x0: 0, x1: 1, y0: baseline, y1: baseline, line: { dash: "dash", color: "#555" } }],
      annotations: [{ xref: "paper", x: 1, y: baseline, text: "random policy", showarrow: false, xanchor: "right", yanchor: "bottom" }],
    };
  }
  return fig;
}

/** A CrystalGym run read back from the store. */
export class GymRun {
  constructor(
    readonly id: string,
    readonly dir: string,
    readonly settings: GymSettings,
    readonly records: readonly GymRecord[],
    readonly baseline: { mean: number; std: number; episodes: number } | undefined,
    readonly pairs: readonly { algorithm: GymAlgorithmName; seed: number; done: boolean; wallSeconds: number; engineSeconds: number; hits: number; misses: number; greedyReturn?: number }[],
  ) {}

  /** One row per episode: algorithm, seed, step, return, value, errorFlag, seconds, composition. */
  episodes(): DataTable {
    return new DataTable(aq.from(this.records as GymRecord[]));
  }

  /**
   * Per algorithm (means over seeds): episodes, the mean return of each seed's last `last` fraction of
   * episodes (default 0.2) ± sd over seeds, the trained agents' greedy return, the random policy's mean, the best property value seen,
   * the engine failure %, the cache hit rate and the engine's share of the wall time.
   */
  summary({ last = 0.2 }: { last?: number } = {}): DataTable {
    const rows = this.settings.algorithms.map((algorithm) => {
      const finals: number[] = [];
      let episodes = 0;
      let failures = 0;
      let best: number | null = null;
      for (const seed of this.settings.seeds) {
        const eps = this.records.filter((r) => r.algorithm === algorithm && r.seed === seed);
        episodes += eps.length;
        failures += eps.filter((r) => r.errorFlag > 0).length;
        const tail = eps.slice(Math.floor(eps.length * (1 - last)));
        if (tail.length) finals.push(tail.reduce((a, r) => a + r.return, 0) / tail.length);
        for (const r of eps) if (r.value !== null && (best === null || Math.abs(r.value - this.target()) < Math.abs(best - this.target()))) best = r.value;
      }
      const mean = finals.length ? finals.reduce((a, b) => a + b, 0) / finals.length : NaN;
      const sd = finals.length > 1 ? Math.sqrt(finals.reduce((a, b) => a + (b - mean) ** 2, 0) / (finals.length - 1)) : 0;
      const pairs = this.pairs.filter((p) => p.algorithm === algorithm);
      const hits = pairs.reduce((a, p) => a + p.hits, 0);
      const misses = pairs.reduce((a, p) => a + p.misses, 0);
      const wall = pairs.reduce((a, p) => a + p.wallSeconds, 0);
      const engine = pairs.reduce((a, p) => a + p.engineSeconds, 0);
      const greedy = pairs.filter((p) => typeof p.greedyReturn === "number").map((p) => p.greedyReturn!);
      return {
        algorithm,
        seeds: finals.length,
        episodes,
        final_return: mean,
        final_sd: sd,
        greedy_return: greedy.length ? greedy.reduce((a, b) => a + b, 0) / greedy.length : NaN,
        random_return: this.baseline?.mean ?? NaN,
        best_value: best,
        failure_pct: episodes ? (100 * failures) / episodes : 0,
        cache_hit_pct: hits + misses ? (100 * hits) / (hits + misses) : NaN,
        engine_time_pct: wall > 0 ? (100 * engine) / wall : NaN,
        wall_s: wall,
      };
    });
    return new DataTable(aq.from(rows));
  }

  /** The target p̂ of the task (the spec's default when none was set). */
  target(): number {
    const t = this.settings.task.target;
    if (t !== null) return t;
    return { "band-gap": 1.12, "bulk-modulus": 300, density: 3.0 }[this.settings.task.property];
  }

  /** Learning curves (EMA-smoothed return per episode, seeds shaded, the random policy dashed). */
  figure(): Figure {
    return curvesFigure(this.records, this.baseline?.mean, this.settings.task);
  }

  plot(): void {
    displaySink().figure(this.figure());
  }
}

/** Reads a gym run (`id` or "latest") from `store`. */
export function loadGymRun(store: string, id: string): GymRun {
  const dir = join(store, id);
  const config = JSON.parse(readFileSync(join(dir, "config.json"), "utf8")) as GymSettings;
  const records: GymRecord[] = [];
  const pairs: GymRun["pairs"][number][] = [];
  for (const algorithm of config.algorithms) {
    for (const seed of config.seeds) {
      const pairDir = join(dir, `${algorithm}-s${seed}`);
      records.push(...readPairEpisodes(pairDir));
      const state = readPairState(pairDir);
      pairs.push({ algorithm, seed, done: existsSync(join(pairDir, "done.json")), ...(state ?? { wallSeconds: 0, engineSeconds: 0, hits: 0, misses: 0 }) });
    }
  }
  return new GymRun(id, dir, config, records, readBaseline(dir), pairs);
}
