/**
 * A pool of worker threads that relax (structure, method) jobs, one job per thread at a time, so each
 * relaxation runs on one core as the MACS protocol times it (T_mean is the per-relaxation wall time,
 * measured inside the worker). Workers rebuild the calculator from its registry name and options, and
 * each method from its description (kind, name, options: `registerMethodKind`), so only what
 * config.json can describe runs here; the entry is `relax-worker.ts`.
 *
 * A method that throws while relaxing gives a result with `error`, as in the sequential runner. A
 * worker that cannot rebuild a method or the calculator, crashes or exits makes the whole call reject
 * with an Error naming the method and structure; every worker is terminated before it returns
 * (success, failure or abort), so no thread outlives the call.
 *
 * @example
 * const { aborted } = await relaxInWorkers({
 *   size: 2,
 *   setup: { calculator: { name: "ionic", options: {} }, methods: [{ label: "fire", kind: "optimizer", name: "fire", options: {} }], modules: [] },
 *   jobs: [{ id: 0, method: 0, structure: 0, crystal: crystalToJSON(c), budget: { fmax: 0.05, steps: 1000, seed: 0, index: 0 } }],
 *   onSteps: (job, steps) => console.log(job.structure, steps.length),
 *   onDone: (job, done) => console.log(done.outcome?.steps, done.seconds),
 * });
 */
import { availableParallelism } from "node:os";
import { isAbsolute } from "node:path";
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import type { MethodStep } from "./method.js";
import type { CrystalJSON } from "./structures.js";

/** A method as a worker rebuilds it: `rebuildMethod(kind, name, options)`, then `load(load)` when set. */
export interface WorkerMethod {
  label: string;
  kind: string;
  name: string;
  options: Record<string, unknown>;
  /** A folder to `load()` before the first relaxation (a trained or given policy), outside the timing. */
  load?: string;
}

/** What every worker builds its calculator and methods from. */
export interface WorkerSetup {
  /** A registry name and options (`calculatorFromName`). */
  calculator: {
    name: string;
    options: Record<string, unknown>;
    /** For a calculator rebuilt from an instance's visible settings: an energy it must reproduce. */
    check?: { crystal: CrystalJSON; energy: number };
  };
  /** Indexed by `WorkerJob.method`. */
  methods: WorkerMethod[];
  /** Module URLs each worker imports first (they register method kinds, as macs-method does for "macs"). */
  modules: string[];
}

/** One relaxation. */
export interface WorkerJob {
  id: number;
  /** Index into `WorkerSetup.methods`. */
  method: number;
  /** Index of the structure in the experiment. */
  structure: number;
  crystal: CrystalJSON;
  budget: { fmax: number; steps: number; seed: number; index: number; trajectory?: string };
}

/** A step record, with the seconds since the relaxation started (measured in the worker). */
export interface WorkerStep extends MethodStep {
  seconds: number;
}

/** How a job ended: the outcome, or the message of the error the method threw while relaxing. */
export interface WorkerDone {
  outcome?: { converged: boolean; steps: number; forceCalls: number; energy: number; fmax: number };
  /** The last step record seen (what a failed relaxation reports). */
  last?: WorkerStep;
  error?: string;
  /** Wall time of the relaxation in the worker (rebuilding and loading excluded). */
  seconds: number;
}

/** Messages from a worker. */
export type WorkerMessage =
  | { type: "steps"; job: number; steps: WorkerStep[] }
  | { type: "done"; job: number; done: WorkerDone }
  | { type: "failed"; job: number; message: string };

/** Messages to a worker. */
export type WorkerCommand = { type: "job"; job: WorkerJob } | { type: "close" };

export interface RelaxInWorkersOptions {
  /** Threads (at most one per job). Default `defaultWorkers()`. */
  size?: number;
  setup: WorkerSetup;
  /** Handed out in order, each to the next idle worker. */
  jobs: readonly WorkerJob[];
  /** Step records of a job, in order, in batches. */
  onSteps(job: WorkerJob, steps: readonly WorkerStep[]): void;
  /** A job finished (after its last `onSteps`). */
  onDone(job: WorkerJob, done: WorkerDone): void;
  /** Terminates the workers; the call resolves with `aborted: true`. */
  signal?: AbortSignal;
}

/** One worker per core the process may use. */
export function defaultWorkers(): number {
  return availableParallelism();
}

// Kinds whose factories a worker gets by importing a module; "optimizer" is built into method.ts.
const EXT = import.meta.url.endsWith(".ts") ? "ts" : "js";
const KIND_MODULES = new Map<string, string>([["macs", new URL(`./macs-method.${EXT}`, import.meta.url).href]]);

/**
 * Lets worker threads rebuild methods of `kind`: each worker imports `module` (a URL, or an absolute
 * path) before rebuilding, and that module must call `registerMethodKind(kind, ...)`. Registrations
 * made in this thread do not reach a worker, which starts with fresh modules.
 */
export function registerWorkerModule(kind: string, module: string | URL): void {
  const url = typeof module === "string" && isAbsolute(module) ? pathToFileURL(module).href : String(module);
  KIND_MODULES.set(kind, url);
}

/** Whether a method of `kind` can be rebuilt in a worker thread. */
export function workerCanRebuild(kind: string): boolean {
  return kind === "optimizer" || KIND_MODULES.has(kind);
}

/** The modules a worker must import for methods of these kinds. */
export function workerModules(kinds: Iterable<string>): string[] {
  const out = new Set<string>();
  for (const k of kinds) {
    const m = KIND_MODULES.get(k);
    if (m) out.add(m);
  }
  return [...out];
}

let live = 0;

/** Worker threads of this module alive now (0 between calls: none leaks). */
export function liveWorkers(): number {
  return live;
}

function spawn(setup: WorkerSetup): Worker {
  const here = import.meta.url;
  if (here.endsWith(".ts")) {
    // Under tsx (tests): Node 20 does not apply `--import tsx` hooks to a worker's entry, so the
    // worker registers tsx itself, then imports the TypeScript entry.
    const entry = new URL("./relax-worker.ts", here).href;
    const api = import.meta.resolve("tsx/esm/api");
    const code = `import(${JSON.stringify(api)}).then((t) => { t.register(); return import(${JSON.stringify(entry)}); });`;
    return new Worker(code, { eval: true, workerData: setup });
  }
  return new Worker(new URL("./relax-worker.js", here), { workerData: setup });
}

/** A worker and the job it is on. */
class Slot {
  readonly worker: Worker;
  private current?: { job: WorkerJob; label: string; resolve(d: WorkerDone): void; reject(e: Error): void };
  private exited = false;
  readonly exit: Promise<void>;
  /** Set when the worker died while idle; the pool fails with it. */
  fault?: Error;

  constructor(
    readonly index: number,
    private readonly labels: readonly string[],
    setup: WorkerSetup,
    private readonly onSteps: (job: WorkerJob, steps: WorkerStep[]) => void,
  ) {
    this.worker = spawn(setup);
    live++;
    this.exit = new Promise((resolve) => {
      this.worker.once("exit", (code) => {
        live--;
        this.exited = true;
        this.fail(`worker thread ${index} exited (code ${code})`);
        resolve();
      });
    });
    this.worker.on("message", (m: WorkerMessage) => this.receive(m));
    this.worker.on("error", (e) => this.fail(`worker thread ${index} crashed: ${e?.message ?? String(e)}`));
    this.worker.on("messageerror", (e) => this.fail(`worker thread ${index} sent an unreadable message: ${e.message}`));
  }

  private fail(message: string): void {
    const c = this.current;
    if (c) {
      this.current = undefined;
      c.reject(new Error(`relaxation of structure ${c.job.structure} with method "${c.label}" failed: ${message}`));
    } else {
      this.fault ??= new Error(message);
    }
  }

  private receive(m: WorkerMessage): void {
    const c = this.current;
    if (!c || c.job.id !== m.job) return; // a late message of a job already given up
    if (m.type === "steps") this.onSteps(c.job, m.steps);
    else if (m.type === "done") {
      this.current = undefined;
      c.resolve(m.done);
    } else {
      this.current = undefined;
      c.reject(new Error(`method "${c.label}" cannot relax structure ${c.job.structure} in a worker thread: ${m.message}`));
    }
  }

  run(job: WorkerJob): Promise<WorkerDone> {
    if (this.exited || this.fault) return Promise.reject(this.fault ?? new Error(`worker thread ${this.index} has exited`));
    const label = this.labels[job.method] ?? `#${job.method}`;
    return new Promise((resolve, reject) => {
      this.current = { job, label, resolve, reject };
      this.worker.postMessage({ type: "job", job } satisfies WorkerCommand);
    });
  }

  /** Asks the worker to close its calculator and exit; terminates it after `graceMs` (a busy worker reads no messages). */
  async close(graceMs: number): Promise<void> {
    if (this.exited) return;
    if (graceMs > 0) {
      this.worker.postMessage({ type: "close" } satisfies WorkerCommand);
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([this.exit, new Promise((r) => (timer = setTimeout(r, graceMs)))]);
      clearTimeout(timer);
    }
    if (!this.exited) await this.worker.terminate();
    await this.exit;
  }
}

const asError = (e: unknown): Error => (e instanceof Error ? e : new Error(String(e)));

/** Positive whole number of workers, or a RangeError naming `workers`. */
export function checkWorkers(workers: unknown): number {
  if (typeof workers !== "number" || !Number.isInteger(workers) || workers < 1) {
    throw new RangeError(`workers must be a positive whole number, got ${typeof workers === "number" ? workers : JSON.stringify(workers)}`);
  }
  return workers;
}

/**
 * Relaxes `jobs` on `size` worker threads and resolves once every job is done (`aborted: false`) or
 * the signal fired (`aborted: true`: unfinished jobs get no `onDone`). Rejects with the first failure
 * (a worker's, or a callback's). Either way every worker has exited when it settles, and no callback
 * runs afterwards.
 */
export async function relaxInWorkers(options: RelaxInWorkersOptions): Promise<{ aborted: boolean }> {
  const { setup, jobs, signal } = options;
  const size = Math.min(checkWorkers(options.size ?? defaultWorkers()), jobs.length);
  if (signal?.aborted) return { aborted: true };
  if (size === 0) return { aborted: false };

  let stop: "abort" | Error | undefined;
  let wake: () => void = () => undefined;
  const stopped = new Promise<void>((resolve) => (wake = resolve));
  const halt = (reason: "abort" | Error): void => {
    stop ??= reason;
    wake();
  };
  // Callbacks run on message events: an exception there must stop the pool, not crash the process.
  const guarded = <A extends unknown[]>(f: (...a: A) => void) => (...a: A): void => {
    if (stop instanceof Error) return;
    try {
      f(...a);
    } catch (e) {
      halt(asError(e));
    }
  };
  const onSteps = guarded(options.onSteps);
  const onDone = guarded(options.onDone);
  const onAbort = (): void => halt("abort");
  signal?.addEventListener("abort", onAbort, { once: true });

  const labels = setup.methods.map((m) => m.label);
  const slots: Slot[] = [];
  let next = 0;
  const loop = async (slot: Slot): Promise<void> => {
    while (stop === undefined && next < jobs.length) {
      const job = jobs[next++]!;
      try {
        onDone(job, await slot.run(job)); // a job that finished as an abort came in is still a whole result
      } catch (e) {
        halt(asError(e));
      }
    }
    if (stop === undefined && slot.fault) halt(slot.fault);
  };

  let loops: Promise<void[]> = Promise.resolve([]);
  try {
    for (let i = 0; i < size; i++) slots.push(new Slot(i, labels, setup, onSteps));
    loops = Promise.all(slots.map(loop));
    // On abort or failure stop at once (busy workers are terminated below), else when all jobs are done.
    await Promise.race([loops, stopped]);
  } finally {
    signal?.removeEventListener("abort", onAbort);
    await Promise.all(slots.map((s) => s.close(stop === undefined ? 5000 : 0)));
    await loops;
  }
  if (stop instanceof Error) throw stop;
  return { aborted: stop === "abort" };
}
