/**
 * Chainable experiment builders. Every call returns a new, frozen builder (the old one is unchanged,
 * so a notebook can branch a base set-up), and every argument is checked at the call with a message
 * naming the parameter. `.run()` executes into the run store and returns a `Run`.
 *
 * @example
 * const base = experiment("srtio3-showdown")
 *   .structures(random({ composition: "SrTiO3", atoms: 40, count: 64, seed: 1 }))
 *   .calculator(ionic())
 *   .fmax(0.05)
 *   .steps(1000);
 * const run = await base.methods([fire(), bfgs(), bfgsLineSearch()]).live().run();
 * run.summary().view();
 * run.plot("convergence");
 * const again = await base.method(fire({ dtmax: 0.5 }), "fire-slow").run();   // base is untouched
 * await experiment("srtio3-showdown").resume(run.id).run();                   // finish a killed run
 * await base.methods([fire(), bfgs()]).workers(4).run();                       // 4 relaxations at a time, one per thread
 */
import type { Calculator } from "../calculators/calculator.js";
import { chooseCalculator, type CalculatorChoice } from "./calculator-choice.js";
import { asMethod, describe, type Method, type MethodLike } from "./method.js";
import { readConfig, resolveRunId, runPaths } from "./run-store.js";
import { resumeRun, startRun, type ExecuteOptions, type Run } from "./run.js";
import type { LabelledMethod } from "./runner.js";
import { checkWorkers } from "./workers.js";
import { checkStructures, resolveStructures, type StructuresInput } from "./structures.js";
import { join } from "node:path";

interface Settings {
  readonly name: string;
  readonly structures?: StructuresInput;
  readonly calculator?: CalculatorChoice;
  readonly methods: readonly LabelledMethod[];
  readonly fmax: number;
  readonly steps: number;
  readonly seed: number;
  readonly live: boolean;
  readonly store: string;
  readonly trajectories: boolean;
  readonly resume?: string;
  readonly workers?: number;
}

/** What a builder holds, for inspection. */
export interface ExperimentSettings {
  name: string;
  structures: "none" | "crystals" | "function" | "random" | "file";
  calculator: string | undefined;
  methods: { label: string; name: string; kind: string; train: boolean }[];
  fmax: number;
  steps: number;
  seed: number;
  live: boolean;
  store: string;
  trajectories: boolean;
  resume: string | undefined;
  /** Worker threads set with `.workers()` (undefined: the run's own, else 1). */
  workers: number | undefined;
}

const LABEL = /^[A-Za-z0-9][A-Za-z0-9._+-]*$/;

/** Defaults of the MACS benchmark protocol: fmax 0.05 eV/Å, 1000 steps (macs-spec §5). */
export const DEFAULTS: Readonly<{ fmax: number; steps: number; seed: number; store: string }> = Object.freeze({
  fmax: 0.05,
  steps: 1000,
  seed: 0,
  // CRYSTAL_RL_RUNS moves the default store (tests and CI keep runs out of the checkout).
  store: process.env["CRYSTAL_RL_RUNS"] ?? "runs",
});

export class ExperimentBuilder {
  readonly #s: Settings;

  /** Use `experiment(name)`. */
  constructor(settings: Settings) {
    this.#s = Object.freeze({ ...settings, methods: Object.freeze([...settings.methods]) });
    Object.freeze(this);
  }

  #with(patch: Partial<Settings>): ExperimentBuilder {
    return new ExperimentBuilder({ ...this.#s, ...patch });
  }

  /** A plain description of the settings. */
  get settings(): ExperimentSettings {
    const s = this.#s;
    const st = s.structures;
    return {
      name: s.name,
      structures:
        st === undefined
          ? "none"
          : typeof st === "function"
            ? "function"
            : Array.isArray(st)
              ? "crystals"
              : "random" in (st as object)
                ? "random"
                : "file",
      calculator: s.calculator ? ("instance" in s.calculator ? s.calculator.instance.name : s.calculator.name) : undefined,
      methods: s.methods.map((m) => ({ label: m.label, name: m.method.name, kind: m.method.kind, train: m.train })),
      fmax: s.fmax,
      steps: s.steps,
      seed: s.seed,
      live: s.live,
      store: s.store,
      trajectories: s.trajectories,
      resume: s.resume,
      workers: s.workers,
    };
  }

  /** The structures: Crystals, a function returning them, `random({...})` / `{ random: {...} }`, or `{ file }`. */
  structures(input: StructuresInput): ExperimentBuilder {
    checkStructures(input);
    return this.#with({ structures: Array.isArray(input) ? Object.freeze([...input]) : input });
  }

  /** The energy model: a Calculator (`ionic()`), or a registry name with options (`"ionic", { cutoff: 12 }`). */
  calculator(calc: Calculator | string, options?: Record<string, unknown>): ExperimentBuilder {
    return this.#with({ calculator: chooseCalculator(calc, options) });
  }

  /** Adds a method (an optimiser such as `fire()`, its name, or a Method); `label` tells two of a kind apart. */
  method(method: MethodLike, label?: string): ExperimentBuilder {
    return this.#with({ methods: [...this.#s.methods, this.#labelled(method, label, false, this.#s.methods)] });
  }

  /** Replaces the methods with these. */
  methods(methods: readonly MethodLike[]): ExperimentBuilder {
    if (!Array.isArray(methods)) throw new TypeError(`methods must be an array of methods, got ${describe(methods)}`);
    if (methods.length === 0) throw new RangeError("methods must not be empty");
    const out: LabelledMethod[] = [];
    for (const m of methods) out.push(this.#labelled(m, undefined, false, out));
    return this.#with({ methods: out });
  }

  /** Adds a learning method, trained on the structures before it is evaluated on them. */
  train(method: Method, label?: string): ExperimentBuilder {
    const m = this.#labelled(method, label, true, this.#s.methods);
    if (typeof m.method.train !== "function") throw new TypeError(`train needs a method that learns (with train()); "${m.label}" has none: use .method()`);
    return this.#with({ methods: [...this.#s.methods, m] });
  }

  #labelled(method: MethodLike, label: string | undefined, train: boolean, existing: readonly LabelledMethod[]): LabelledMethod {
    const m = asMethod(method);
    const l = label ?? m.name;
    if (typeof l !== "string" || !LABEL.test(l)) {
      throw new RangeError(`method label must be letters, digits and . _ + - (it names files), got ${JSON.stringify(l)}`);
    }
    if (existing.some((e) => e.label === l)) {
      throw new RangeError(`method "${l}" is already in experiment "${this.#s.name}": give the second one a label, as in .method(${m.name}({...}), "${l}-2")`);
    }
    return Object.freeze({ label: l, method: m, train });
  }

  /** Convergence threshold on the largest per-atom force norm (eV/Å). Default 0.05. */
  fmax(fmax: number): ExperimentBuilder {
    if (typeof fmax !== "number" || !(fmax > 0)) throw new RangeError(`fmax must be positive, got ${describeNumber(fmax)}`);
    if (!Number.isFinite(fmax)) throw new RangeError(`fmax must be finite, got ${fmax}`);
    return this.#with({ fmax });
  }

  /** Step cap per relaxation; reaching it unconverged counts as a failure. Default 1000. */
  steps(steps: number): ExperimentBuilder {
    if (typeof steps !== "number" || !Number.isInteger(steps) || steps < 1) {
      throw new RangeError(`steps must be a positive whole number, got ${describeNumber(steps)}`);
    }
    return this.#with({ steps });
  }

  /** Seed of everything random (random structures without their own seed, stochastic methods). Default 0. */
  seed(seed: number): ExperimentBuilder {
    if (typeof seed !== "number" || !Number.isSafeInteger(seed)) throw new RangeError(`seed must be a safe integer, got ${describeNumber(seed)}`);
    return this.#with({ seed });
  }

  /** Redraw force-convergence (and training) plots in the cell while it runs; skipped outside a notebook. */
  live(on = true): ExperimentBuilder {
    if (typeof on !== "boolean") throw new TypeError(`live takes true or false, got ${describe(on)}`);
    return this.#with({ live: on });
  }

  /** The run store folder. Default "runs". */
  store(dir: string = DEFAULTS.store): ExperimentBuilder {
    if (typeof dir !== "string" || dir.trim() === "") throw new RangeError(`store must be a non-empty folder name, got ${describe(dir)}`);
    return this.#with({ store: dir });
  }

  /** Keep every relaxation's trajectory as `trajectories/<method>-<k>.extxyz`. Default off. */
  trajectories(on = true): ExperimentBuilder {
    if (typeof on !== "boolean") throw new TypeError(`trajectories takes true or false, got ${describe(on)}`);
    return this.#with({ trajectories: on });
  }

  /**
   * Relax `n` structures at a time, each on its own worker thread (one core per relaxation, as the
   * MACS paper times them). 1, the default, relaxes in this thread, in order, which live plots in a
   * notebook follow best. Methods and the calculator must be rebuildable from config.json (optimisers,
   * MACS with a policy, registry calculators). Stored in the run's config, so a resume uses it too.
   */
  workers(n: number): ExperimentBuilder {
    return this.#with({ workers: checkWorkers(n) });
  }

  /** `.run()` continues run `id` of the store (an id, a unique prefix, or "latest") instead of starting one. */
  resume(id: string): ExperimentBuilder {
    if (typeof id !== "string" || id.trim() === "") throw new RangeError(`resume needs a run id, got ${describe(id)}`);
    return this.#with({ resume: id });
  }

  /** Executes the experiment into `store/<id>/` and returns its Run. */
  async run(options: ExecuteOptions = {}): Promise<Run> {
    const s = this.#s;
    if (s.resume !== undefined) return this.#resume(s.resume, { ...options, workers: options.workers ?? s.workers });
    const missing: string[] = [];
    if (s.structures === undefined) missing.push("no structures (call .structures(...))");
    if (s.calculator === undefined) missing.push("no calculator (call .calculator(...))");
    if (s.methods.length === 0) missing.push("no method (call .method(...))");
    if (missing.length) throw new Error(`experiment "${s.name}" cannot run: ${missing.join(", ")}`);
    const spec = {
      store: s.store,
      name: s.name,
      structures: s.structures!,
      calculator: s.calculator!,
      methods: s.methods,
      fmax: s.fmax,
      steps: s.steps,
      seed: s.seed,
      live: options.live ?? s.live,
      trajectories: s.trajectories,
      signal: options.signal,
      workers: options.workers ?? s.workers,
    };
    return startRun(spec);
  }

  /** Resumes after checking that what this builder sets matches the stored run. */
  async #resume(idOrPrefix: string, options: ExecuteOptions): Promise<Run> {
    const s = this.#s;
    const id = resolveRunId(s.store, idOrPrefix);
    const config = readConfig(runPaths(join(s.store, id)));
    const differ: string[] = [];
    if (config.settings.fmax !== s.fmax) differ.push(`fmax ${s.fmax} (the run has ${config.settings.fmax})`);
    if (config.settings.steps !== s.steps) differ.push(`steps ${s.steps} (the run has ${config.settings.steps})`);
    if (s.methods.length) {
      const mine = s.methods.map((m) => m.label).join(", ");
      const theirs = config.methods.map((m) => m.label).join(", ");
      if (mine !== theirs) differ.push(`methods ${mine} (the run has ${theirs})`);
    }
    if (s.calculator) {
      const name = "instance" in s.calculator ? s.calculator.instance.name : s.calculator.name;
      if (name !== config.calculator.name) differ.push(`calculator ${name} (the run has ${config.calculator.name})`);
    }
    if (s.structures !== undefined) {
      const formulas = (await resolveStructures(s.structures, s.seed)).map((c) => c.formula);
      if (formulas.join(",") !== config.structures.formulas.join(",")) {
        differ.push(`structures ${formulas.length} (${formulas.slice(0, 3).join(", ")}...) differ from the run's ${config.structures.count}`);
      }
    }
    if (differ.length) throw new Error(`cannot resume run ${id} with this experiment: ${differ.join("; ")}`);
    return resumeRun(s.store, id, { calculator: s.calculator, methods: s.methods.length ? s.methods : undefined }, options);
  }

  toString(): string {
    const d = this.settings;
    return `experiment("${d.name}"): structures ${d.structures}, calculator ${d.calculator ?? "none"}, methods [${d.methods
      .map((m) => m.label)
      .join(", ")}], fmax ${d.fmax}, steps ${d.steps}, seed ${d.seed}${d.live ? ", live" : ""}${d.workers ? `, workers ${d.workers}` : ""}, store ${d.store}`;
  }

  /** What a notebook or the REPL prints for the builder. */
  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return this.toString();
  }
}

function describeNumber(x: unknown): string {
  return typeof x === "number" ? String(x) : describe(x);
}

/** A new experiment builder with the MACS defaults (fmax 0.05 eV/Å, 1000 steps, seed 0, store "runs"). */
export function experiment(name: string): ExperimentBuilder {
  if (typeof name !== "string" || name.trim() === "") throw new TypeError(`experiment name must be a non-empty string, got ${describe(name)}`);
  return new ExperimentBuilder({ name, methods: [], live: false, trajectories: false, ...DEFAULTS });
}
