/**
 * What an experiment relaxes structures with. A `Method` is anything that, given a crystal, a
 * calculator and a budget, yields one record per step and returns a final outcome: a classical
 * optimiser through `fromOptimizer`, and later a trained RL policy (MACS) that implements the same
 * interface itself, with `train` (and optionally `save`/`load`) on top.
 *
 * @example
 * const m = fromOptimizer(fire());                       // what `.method(fire())` does for you
 * const run = m.evaluate(crystal, ionic(), { fmax: 0.05, steps: 1000, seed: 0, index: 0 });
 * for (let r = await run.next(); !r.done; r = await run.next()) console.log(r.value.step, r.value.fmax);
 *
 * // A learning method (sketch):
 * const macsMethod: Method = {
 *   name: "macs", kind: "policy", options: { steps: 20_000 },
 *   async *train(ctx) { ... yield { step, "charts/episodic_return": g }; },
 *   async *evaluate(crystal, calculator, budget) { ... yield record; ... return outcome; },
 * };
 */
import type { Calculator } from "../calculators/calculator.js";
import { optimizerFromName, type OptimizerSpec } from "../optimizers/index.js";
import { maxRowNorm2, TrajectoryWriter, type StepRecord } from "../optimizers/optimizer.js";
import type { TrainRecord } from "../rl/record.js";
import type { Crystal } from "../structure/crystal.js";

export type { TrainRecord };

/** One step of a relaxation: the optimisers' record, plus whatever else a method reports (a reward, say). */
export interface MethodStep extends StepRecord {
  /** Extra numbers for the metrics log (`reward`, ...): each becomes a column of metrics.jsonl. */
  info?: Readonly<Record<string, number | string | boolean>>;
}

/** How a relaxation ended. `seconds` is measured by the runner. */
export interface MethodOutcome {
  /** fmax fell below the threshold within the budget. */
  converged: boolean;
  /** Steps taken. */
  steps: number;
  /** Calculator calls, the initial one included. */
  forceCalls: number;
  /** Final energy (eV). */
  energy: number;
  /** Final largest per-atom force norm (eV/Å). */
  fmax: number;
  /** The final structure, when the method has it. */
  crystal?: Crystal;
}

/** What one relaxation may spend, and where it writes. */
export interface Budget {
  /** Convergence threshold on the largest per-atom force norm (eV/Å). */
  fmax: number;
  /** Step cap: reaching it unconverged is a failure (macs-spec §5). */
  steps: number;
  /** The experiment's seed (stochastic methods derive their stream from it and `index`). */
  seed: number;
  /** Index of the structure in the experiment. */
  index: number;
  /** Extended XYZ file to write frame by frame, when the experiment keeps trajectories. */
  trajectory?: string;
  /** Stop between steps when aborted. */
  signal?: AbortSignal;
}

/** One relaxation in progress: a generator of step records whose return value is the outcome. */
export type Relaxation = AsyncGenerator<MethodStep, MethodOutcome, void>;

/** How one driven relaxation ended (see `drive`). */
export interface Driven {
  outcome?: MethodOutcome;
  /** The last step record. */
  last?: MethodStep;
  /** The message of what the relaxation threw. */
  error?: string;
  /** Wall time from `start()` to the end (s). */
  seconds: number;
  /** Stopped by the signal before it ended (the generator has been closed). */
  stopped: boolean;
}

/**
 * Drives the relaxation `start()` makes to its end, handing each step record and the seconds since
 * the start to `onStep`; what it throws becomes `error`. With `signal`, stops between steps. The one
 * loop of the in-process runner and of the worker threads.
 */
export async function drive(start: () => Relaxation, onStep: (r: MethodStep, seconds: number) => void, signal?: AbortSignal): Promise<Driven> {
  const t0 = performance.now();
  const relaxation = start();
  const out: Driven = { seconds: 0, stopped: false };
  try {
    for (;;) {
      const next = await relaxation.next();
      if (next.done) {
        out.outcome = next.value;
        break;
      }
      out.last = next.value;
      onStep(next.value, (performance.now() - t0) / 1000);
      if (signal?.aborted) break;
    }
  } catch (e) {
    out.error = e instanceof Error ? e.message : String(e);
  }
  out.seconds = (performance.now() - t0) / 1000;
  if (signal?.aborted && !out.outcome && out.error === undefined) {
    await relaxation.return(undefined as never).catch(() => undefined);
    out.stopped = true;
  }
  return out;
}


/** What a learning method gets to train on. */
export interface TrainContext {
  /** The experiment's structures. */
  structures: readonly Crystal[];
  calculator: Calculator;
  /** The experiment's seed. */
  seed: number;
  /** A folder of the run where the method may keep checkpoints. */
  checkpointDir: string;
  signal?: AbortSignal;
}

/**
 * A way to relax a crystal. `name` is the factory name ("fire", "macs"), `kind` says how to rebuild it
 * from `options` (see `registerMethodKind`), and `options` must be JSON (it goes to config.json).
 */
export interface Method {
  readonly name: string;
  readonly kind: string;
  readonly options: Readonly<Record<string, unknown>>;
  /** Relaxes `crystal` under `calculator` within `budget`, one record per step (step 0, the start, first). */
  evaluate(crystal: Crystal, calculator: Calculator, budget: Budget): Relaxation;
  /** Learning methods: trains in place, yielding metric records. */
  train?(context: TrainContext): AsyncIterable<TrainRecord>;
  /** Learning methods: writes what `load` needs into `dir` after training. */
  save?(dir: string): Promise<void>;
  /** Learning methods: restores a trained state from `dir` (so a resumed run skips training). */
  load?(dir: string): Promise<void>;
}

/** An optimiser spec seen as a Method (kind "optimizer"); `spec` keeps the original. */
export interface OptimizerMethod extends Method {
  readonly kind: "optimizer";
  readonly spec: OptimizerSpec;
}

/** Options as JSON: functions (a `log` callback) and trajectory paths dropped. */
export function jsonOptions(options: object): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(options)) {
    if (k === "trajectory" || k === "appendTrajectory" || k === "log") continue;
    if (typeof v === "function" || v === undefined) continue;
    out[k] = JSON.parse(JSON.stringify(v)) as unknown;
  }
  return out;
}

/** The Method of an optimiser spec: `irun` records as steps, ASE's result as the outcome. */
export function fromOptimizer(spec: OptimizerSpec): OptimizerMethod {
  return {
    name: spec.name,
    kind: "optimizer",
    options: jsonOptions(spec.options),
    spec,
    async *evaluate(crystal, calculator, budget) {
      const optimizer = spec.create(crystal, calculator);
      if (budget.trajectory) {
        const writer = new TrajectoryWriter(budget.trajectory);
        optimizer.attach(async (record, opt) => {
          const ev = await opt.target.evaluate(); // cached: no extra force call
          await writer.write({ ...ev.frame, info: { ...ev.frame.info, step: record.step } });
        });
      }
      const converged: boolean = yield* optimizer.irun({ fmax: budget.fmax, steps: budget.steps });
      const ev = await optimizer.target.evaluate();
      return {
        converged,
        steps: optimizer.nsteps,
        forceCalls: optimizer.target.forceCalls,
        energy: ev.energy,
        fmax: Math.sqrt(maxRowNorm2(ev.forces)),
        crystal: optimizer.target.crystal,
      };
    },
  };
}

function isMethod(x: unknown): x is Method {
  return typeof x === "object" && x !== null && typeof (x as Method).evaluate === "function" && typeof (x as Method).name === "string";
}

function isOptimizerSpec(x: unknown): x is OptimizerSpec {
  return typeof x === "object" && x !== null && typeof (x as OptimizerSpec).create === "function" && typeof (x as OptimizerSpec).name === "string";
}

/** What `.method()` takes: a Method, an optimiser spec (`fire()`), or an optimiser's registry name. */
export type MethodLike = Method | OptimizerSpec | string;

/** A Method from a method, an optimiser spec or a name; a TypeError (or the registry's RangeError) otherwise. */
export function asMethod(x: MethodLike): Method {
  if (typeof x === "string") return fromOptimizer(optimizerFromName(x));
  if (isMethod(x)) return x;
  if (isOptimizerSpec(x)) return fromOptimizer(x);
  throw new TypeError(`method must be an optimizer (fire(), bfgs(), "bfgsls", ...) or a Method with evaluate(), got ${describe(x)}`);
}

export function describe(x: unknown): string {
  if (x === null) return "null";
  if (Array.isArray(x)) return "an array";
  if (typeof x === "object") return `an object with keys ${Object.keys(x as object).slice(0, 5).join(", ") || "(none)"}`;
  if (typeof x === "string") return JSON.stringify(x);
  return `${typeof x} ${String(x)}`;
}

/** Rebuilds a method of some kind from its name and options (what config.json holds). */
export type MethodFactory = (name: string, options: Record<string, unknown>) => Method;

const KINDS = new Map<string, MethodFactory>([["optimizer", (name, options) => fromOptimizer(optimizerFromName(name, options))]]);

/** Lets `loadRun(...).resume()` rebuild methods of `kind` (an RL module registers its policies here). */
export function registerMethodKind(kind: string, factory: MethodFactory): void {
  KINDS.set(kind, factory);
}

/** The method config.json describes, or undefined when no factory knows its kind. */
export function rebuildMethod(kind: string, name: string, options: Record<string, unknown>): Method | undefined {
  const f = KINDS.get(kind);
  return f ? f(name, options) : undefined;
}
