/**
 * The loop that executes a run into its store: train the learning methods, then relax every structure
 * with every method (structure by structure, so a live plot shows all methods advancing), writing a
 * metrics line per step and a result line per relaxation as they happen, and status.json after each
 * relaxation. The same loop resumes a run: relaxations already in results.jsonl are skipped, and
 * the lines of the new execution carry its `attempt` number.
 *
 * With `workers` > 1 (`.workers(n)`, stored in config.json's settings so a resume uses it too) the
 * relaxations run on a pool of worker threads instead (workers.ts), one per thread at a time; the
 * lines written are the same, interleaved across relaxations, and their seconds are measured in the
 * worker. Training always runs here, before the pool starts.
 */
import { existsSync } from "node:fs";
import { hostname } from "node:os";
import { calculatorNames } from "../calculators/registry.js";
import type { Calculator } from "../calculators/calculator.js";
import type { Crystal } from "../structure/crystal.js";
import { displaySink, type LiveHandle } from "./display-sink.js";
import { convergenceFigureFromSeries, trainingFigure, type FmaxSeries } from "./figures.js";
import { JsonlAppender, writeJsonAtomic } from "../io/jsonl.js";
import { drive, type Method, type MethodOutcome, type MethodStep, type TrainRecord } from "./method.js";
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
import { crystalToJSON } from "./structures.js";
import { checkWorkers, relaxInWorkers, workerCanRebuild, workerModules, type WorkerJob, type WorkerMethod, type WorkerSetup, type WorkerStep } from "./workers.js";

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
  /** Worker threads for the relaxations (1: in this thread). Default: config.json's, else 1. */
  workers?: number;
}

/** Redraws at most this often (ms), and once at the end. */
export const LIVE_INTERVAL_MS = 250;

/** Runs `ctx` to the end (or to an abort) and returns the final status. */
export async function execute(ctx: ExecuteContext): Promise<RunStatus> {
  const { paths, config, structures, calculator, methods, attempt } = ctx;
  const requested = ctx.workers;
  if (requested !== undefined && requested !== (config.settings.workers ?? 1)) {
    config.settings.workers = checkWorkers(requested);
    writeJsonAtomic(paths.config, config); // a resume with another count: the next resume uses it too
  }
  const workers = config.settings.workers ?? 1;
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
    const budget = (label: string, k: number) => ({
      fmax: config.settings.fmax,
      steps: config.settings.steps,
      seed: config.settings.seed,
      index: k,
      trajectory: config.settings.trajectories ? paths.trajectory(label, k) : undefined,
    });
    const seriesOf = (label: string, k: number): number[] | undefined => {
      if (!handle) return undefined;
      let byStructure = series.get(label);
      if (!byStructure) series.set(label, (byStructure = new Map()));
      const fmaxes: number[] = [];
      byStructure.set(k, fmaxes);
      return fmaxes;
    };
    const record = (label: string, k: number, r: MethodStep, seconds: number, fmaxes: number[] | undefined): void => {
      metrics!.append(metricLine(label, k, r, seconds, stamp));
      if (fmaxes) {
        fmaxes[r.step] = r.fmax;
        if (performance.now() - drawn > LIVE_INTERVAL_MS) draw();
      }
    };
    const conclude = (result: ResultRecord): void => {
      results!.append(result);
      status.done++;
      status.updated = now();
      writeStatus(paths, status);
    };

    const pending: { k: number; m: number }[] = [];
    for (let k = 0; k < structures.length; k++) {
      for (let m = 0; m < methods.length; m++) if (!finished.has(`${methods[m]!.label}\u0000${k}`)) pending.push({ k, m });
    }

    if (workers > 1 && pending.length > 0) {
      const setup = await workerSetup(ctx, pending[0]!.k);
      const lines = new Map<number, number[] | undefined>();
      const jobs: WorkerJob[] = pending.map(({ k, m }, id) => ({ id, method: m, structure: k, crystal: crystalToJSON(structures[k]!), budget: budget(methods[m]!.label, k) }));
      const { aborted } = await relaxInWorkers({
        size: workers,
        setup,
        jobs,
        signal: ctx.signal,
        onSteps(job, steps: readonly WorkerStep[]) {
          const label = methods[job.method]!.label;
          if (!lines.has(job.id)) lines.set(job.id, seriesOf(label, job.structure));
          const fmaxes = lines.get(job.id);
          for (const { seconds, ...r } of steps) record(label, job.structure, r, seconds, fmaxes);
        },
        onDone(job, done) {
          lines.delete(job.id);
          conclude(resultLine(methods[job.method]!.label, job.structure, structures[job.structure]!, done.outcome, done.last, done.seconds, done.error, stamp));
        },
      });
      if (aborted) {
        if (handle) draw();
        return finish(ctx, status, "aborted");
      }
    } else {
      for (const { k, m } of pending) {
        const crystal = structures[k]!;
        const { label, method } = methods[m]!;
        const fmaxes = seriesOf(label, k);
        const r = await drive(
          () => method.evaluate(crystal, calculator, { ...budget(label, k), signal: ctx.signal }),
          (step, seconds) => record(label, k, step, seconds, fmaxes),
          ctx.signal,
        );
        if (r.stopped) {
          if (handle) draw();
          return finish(ctx, status, "aborted");
        }
        conclude(resultLine(label, k, crystal, r.outcome, r.last, r.seconds, r.error, stamp));
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

type Stamp = { attempt?: number };

function metricLine(label: string, k: number, r: MethodStep, seconds: number, stamp: Stamp): MetricRecord {
  const line: MetricRecord = { method: label, structure: k, step: r.step, energy: r.energy, fmax: r.fmax, forceCalls: r.forceCalls, seconds };
  if (r.info) for (const [key, v] of Object.entries(r.info)) if (!(key in line)) line[key] = v;
  return Object.assign(line, stamp);
}

function resultLine(
  label: string,
  k: number,
  crystal: Crystal,
  outcome: Omit<MethodOutcome, "crystal"> | undefined,
  last: MethodStep | undefined,
  seconds: number,
  error: string | undefined,
  stamp: Stamp,
): ResultRecord {
  return {
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
}

/**
 * What each worker rebuilds: the calculator by registry name (an instance's visible settings, checked
 * against its energy for structure `k`), and every method from its description. Fails here, before
 * any thread starts, for what cannot cross.
 */
async function workerSetup(ctx: ExecuteContext, k: number): Promise<WorkerSetup> {
  const { config, methods, paths } = ctx;
  const calc = config.calculator;
  const known = calc.name.startsWith("ase:") || calculatorNames().some((c) => c.name === calc.name);
  if (!known) {
    throw new Error(`calculator "${calc.name}" is not in the registry, so worker threads cannot rebuild it: pass a registry calculator or use .workers(1)`);
  }
  const setup: WorkerSetup = { calculator: { name: calc.name, options: calc.options }, methods: [], modules: workerModules(methods.map((m) => m.method.kind)) };
  if (!calc.byName) {
    const crystal = ctx.structures[k]!;
    const { energy } = await ctx.calculator.compute(crystal, { forces: false });
    setup.calculator.check = { crystal: crystalToJSON(crystal), energy };
  }
  for (const { label, method, train } of methods) {
    if (!workerCanRebuild(method.kind)) {
      throw new Error(
        `method "${label}" (kind ${method.kind}) cannot be rebuilt in a worker thread: use .workers(1), or registerWorkerModule("${method.kind}", moduleUrl)`,
      );
    }
    const options = JSON.parse(JSON.stringify(method.options ?? {})) as Record<string, unknown>;
    const d: WorkerMethod = { label, kind: method.kind, name: method.name, options };
    // A trained method reads what it saved; a given policy is loaded before the clock starts, as the
    // in-process path does it up front (bench's macsMethod).
    if (method.load && train) d.load = paths.checkpoint(label);
    else if (method.load && typeof options["policy"] === "string") d.load = options["policy"];
    setup.methods.push(d);
  }
  return setup;
}

function finish(ctx: ExecuteContext, status: RunStatus, state: RunStatus["state"]): RunStatus {
  status.state = state;
  status.updated = status.finished = new Date().toISOString();
  writeStatus(ctx.paths, status);
  return status;
}

function drawLearning(handle: LiveHandle, records: readonly TrainLine[]): void {
  try {
    handle.figure(trainingFigure(records as readonly TrainRecord[], { title: `${records[0]!.method}: training` }));
  } catch {
    // no metric a learning curve knows yet: nothing to draw
  }
}
