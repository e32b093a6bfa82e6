/**
 * The loop that executes a run into its store: train the learning methods, then relax every structure
 * with every method (structure by structure, so a live plot shows all methods advancing), writing a
 * metrics line per step and a result line per relaxation as they happen, and status.json after each
 * relaxation. The same loop resumes a run: relaxations already in results.jsonl are skipped, and
 * the lines of the new execution carry its `attempt` number.
 */
import { existsSync } from "node:fs";
import { hostname } from "node:os";
import type { Calculator } from "../calculators/calculator.js";
import type { Crystal } from "../structure/crystal.js";
import { displaySink, type LiveHandle } from "./display-sink.js";
import { convergenceFigureFromSeries, learningCurveFigure, type FmaxSeries } from "./figures.js";
import { JsonlAppender } from "./jsonl.js";
import type { Method, MethodOutcome, MethodStep } from "./method.js";
import {
  activeRuns,
  ensureDir,
  readResults,
  writeStatus,
  type MetricRecord,
  type ResultRecord,
  type RunConfig,
  type RunPaths,
  type RunStatus,
  type TrainLine,
} from "./run-store.js";

export interface LabelledMethod {
  label: string;
  method: Method;
  train: boolean;
}

export interface ExecuteContext {
  id: string;
  paths: RunPaths;
  config: RunConfig;
  structures: readonly Crystal[];
  calculator: Calculator;
  methods: readonly LabelledMethod[];
  /** 0 for a new run, the previous status's attempt + 1 for a resume. */
  attempt: number;
  /** Labels already trained (from the previous status). */
  trained?: readonly string[];
  /** When the run first started (kept across resumes). */
  started?: string;
  live: boolean;
  signal?: AbortSignal;
}

/** Redraws at most this often (ms), and once at the end. */
export const LIVE_INTERVAL_MS = 250;

/** Runs `ctx` to the end (or to an abort) and returns the final status. */
export async function execute(ctx: ExecuteContext): Promise<RunStatus> {
  const { paths, config, structures, calculator, methods, attempt } = ctx;
  const total = structures.length * methods.length;
  const labels = methods.map((m) => m.label);
  const finished = new Set(readResults(paths, labels).map((r) => `${r.method}\u0000${r.structure}`));
  const now = (): string => new Date().toISOString();
  const status: RunStatus = {
    state: "running",
    pid: process.pid,
    hostname: hostname(),
    started: ctx.started ?? now(),
    updated: now(),
    done: finished.size,
    total,
    attempt,
    trained: [...(ctx.trained ?? [])],
  };
  activeRuns.add(ctx.id);
  writeStatus(paths, status);
  const stamp = attempt > 0 ? { attempt } : {};
  const sink = displaySink();
  const live = ctx.live && sink.interactive;
  let metrics: JsonlAppender | undefined;
  let results: JsonlAppender | undefined;
  try {
    // 1. Training, for the methods that learn.
    for (const { label, method, train } of methods) {
      if (!train) continue;
      if (!method.train) throw new TypeError(`method "${label}" cannot train: it has no train()`);
      const dir = paths.checkpoint(label);
      if (status.trained.includes(label) && method.load && existsSync(dir)) {
        await method.load(dir);
        continue;
      }
      ensureDir(dir);
      const log = new JsonlAppender(paths.train);
      const records: TrainLine[] = [];
      const handle = live ? sink.live() : undefined;
      let drawn = 0;
      try {
        for await (const r of method.train({ structures, calculator, seed: config.settings.seed, checkpointDir: dir, signal: ctx.signal })) {
          const line: TrainLine = { method: label, ...r, ...stamp };
          log.append(line);
          if (handle) {
            records.push(line);
            if (performance.now() - drawn > LIVE_INTERVAL_MS) {
              drawn = performance.now();
              drawLearning(handle, records);
            }
          }
          if (ctx.signal?.aborted) break;
        }
        if (handle) {
          drawLearning(handle, records);
          handle.flush?.();
        }
      } finally {
        log.close();
      }
      if (handle && records.length) drawLearning(handle, records);
      if (ctx.signal?.aborted) return finish(ctx, status, "aborted");
      if (method.save) await method.save(dir);
      status.trained.push(label);
      status.updated = now();
      writeStatus(paths, status);
    }

    // 2. Evaluation.
    if (config.settings.trajectories) ensureDir(paths.trajectories);
    metrics = new JsonlAppender(paths.metrics);
    results = new JsonlAppender(paths.results);
    const series: FmaxSeries = new Map();
    const handle = live ? sink.live() : undefined;
    let drawn = 0;
    const draw = (): void => {
      drawn = performance.now();
      handle?.figure(
        convergenceFigureFromSeries(series, {
          fmax: config.settings.fmax,
          title: `${config.name}: ${status.done}/${total} relaxations`,
        }),
      );
    };
    for (let k = 0; k < structures.length; k++) {
      const crystal = structures[k]!;
      for (const { label, method } of methods) {
        if (finished.has(`${label}\u0000${k}`)) continue;
        let fmaxes: number[] | undefined;
        if (handle) {
          let byStructure = series.get(label);
          if (!byStructure) series.set(label, (byStructure = new Map()));
          byStructure.set(k, (fmaxes = []));
        }
        const t0 = performance.now();
        const relaxation = method.evaluate(crystal, calculator, {
          fmax: config.settings.fmax,
          steps: config.settings.steps,
          seed: config.settings.seed,
          index: k,
          trajectory: config.settings.trajectories ? paths.trajectory(label, k) : undefined,
          signal: ctx.signal,
        });
        let last: MethodStep | undefined;
        let outcome: MethodOutcome | undefined;
        let error: string | undefined;
        try {
          for (;;) {
            const next = await relaxation.next();
            if (next.done) {
              outcome = next.value;
              break;
            }
            const r = next.value;
            last = r;
            const line: MetricRecord = {
              method: label,
              structure: k,
              step: r.step,
              energy: r.energy,
              fmax: r.fmax,
              forceCalls: r.forceCalls,
              seconds: (performance.now() - t0) / 1000,
            };
            if (r.info) for (const [key, v] of Object.entries(r.info)) if (!(key in line)) line[key] = v;
            Object.assign(line, stamp);
            metrics.append(line);
            if (fmaxes) {
              fmaxes[r.step] = r.fmax;
              if (performance.now() - drawn > LIVE_INTERVAL_MS) draw();
            }
            if (ctx.signal?.aborted) break;
          }
        } catch (e) {
          error = e instanceof Error ? e.message : String(e);
        }
        if (ctx.signal?.aborted && !outcome && error === undefined) {
          await relaxation.return(undefined as never).catch(() => undefined);
          if (handle) draw();
          return finish(ctx, status, "aborted");
        }
        const seconds = (performance.now() - t0) / 1000;
        const result: ResultRecord = {
          method: label,
          structure: k,
          formula: crystal.formula,
          natoms: crystal.natoms,
          steps: outcome?.steps ?? last?.step ?? 0,
          forceCalls: outcome?.forceCalls ?? last?.forceCalls ?? 0,
          seconds,
          converged: outcome?.converged ?? false,
          energy: finiteOrNull(outcome?.energy ?? last?.energy),
          fmax: finiteOrNull(outcome?.fmax ?? last?.fmax),
          ...(error !== undefined ? { error } : {}),
          ...stamp,
        };
        results.append(result);
        status.done++;
        status.updated = now();
        writeStatus(paths, status);
      }
    }
    if (handle) {
      draw();
      handle.flush?.(); // the sink throttles too: send the final state before the cell ends
    }
    return finish(ctx, status, "done");
  } catch (e) {
    status.error = e instanceof Error ? e.message : String(e);
    finish(ctx, status, "failed");
    throw e;
  } finally {
    metrics?.close();
    results?.close();
    activeRuns.delete(ctx.id);
  }
}

const finiteOrNull = (x: number | undefined): number | null => (x !== undefined && Number.isFinite(x) ? x : null);

function finish(ctx: ExecuteContext, status: RunStatus, state: RunStatus["state"]): RunStatus {
  status.state = state;
  status.updated = status.finished = new Date().toISOString();
  writeStatus(ctx.paths, status);
  return status;
}

function drawLearning(handle: LiveHandle, records: readonly TrainLine[]): void {
  try {
    handle.figure(learningCurveFigure(records as never));
  } catch {
    // no metric a learning curve knows yet: nothing to draw
  }
}
