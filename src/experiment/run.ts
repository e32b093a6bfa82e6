/**
 * A run handle: the same API for a run just executed and for one loaded from the store tomorrow.
 * Everything it shows is read from `runs/<id>/`, so a handle of a killed run works too, and
 * `resume()` finishes it.
 *
 * @example
 * const run = loadRun("runs", "latest");        // or an id, or a unique prefix of one
 * run.status().state;                           // "done", "interrupted", ...
 * run.table().view();
 * run.summary().view();
 * run.plot("convergence");
 * await run.resume();                           // the relaxations not yet in results.jsonl
 * const bench = await run.benchmark([fire(), bfgs()], { count: 100, seed: 7 });
 */
import * as aq from "arquero";
import type { ColumnTable } from "arquero";
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Calculator } from "../calculators/calculator.js";
import type { Crystal } from "../structure/crystal.js";
import { describeCalculator, makeCalculator, type CalculatorChoice } from "./calculator-choice.js";
import { displaySink, type Figure } from "./display-sink.js";
import { learningCurveFigure, type LearningCurveOptions } from "./figures.js";
import { readJson, readJsonl, writeJsonAtomic } from "../io/jsonl.js";
import { checkWorkers } from "./workers.js";
import { asMethod, rebuildMethod, type Method, type MethodLike } from "./method.js";
import { ResultTable, relaxationTable, type DataTable, type PlotKind, type SummaryOptions } from "./results.js";
import {
  createRunDir,
  FMAX_DEFINITION,
  machine,
  readConfig,
  readMetrics,
  readResults,
  readStatus,
  readTrain,
  resolveRunId,
  runPaths,
  versions,
  type MetricRecord,
  type ResultRecord,
  type RunConfig,
  type RunPaths,
  type RunStatus,
} from "./run-store.js";
import { execute, type LabelledMethod } from "./runner.js";
import { crystalFromJSON, crystalToJSON, describeSource, resolveStructures, type CrystalJSON, type StructuresInput } from "./structures.js";

/** What a handle of a run started in this session still holds (a loaded run rebuilds them). */
interface LiveParts {
  calculator?: CalculatorChoice;
  methods?: readonly LabelledMethod[];
}

export interface ExecuteOptions {
  /** Stop between steps: the run's status becomes "aborted" and `resume()` continues it. */
  signal?: AbortSignal;
  /** Draw live plots (when the display sink is interactive). Default: the run's setting. */
  live?: boolean;
  /** Worker threads for the relaxations (1: in this thread). Default: the run's setting, else 1. */
  workers?: number;
}

export interface ResumeOptions extends ExecuteOptions {
  /** The calculator, when it cannot be rebuilt from config.json (an instance with settings it does not show). */
  calculator?: Calculator;
  /** Methods that cannot be rebuilt from config.json (learning methods), matched by label or name. */
  methods?: readonly Method[];
}

export interface BenchmarkOptions extends ExecuteOptions {
  /** Structures to relax. Default: as many as this run had. */
  count?: number;
  /** Seed of the structures, when this run's came from a random source. Default: this run's seed. */
  seed?: number;
  fmax?: number;
  steps?: number;
  /** Name of the benchmark run. Default `<name>-benchmark`. */
  name?: string;
  trajectories?: boolean;
}

/** The table of a benchmark, with the run that holds it. */
export class BenchmarkTable extends ResultTable {
  constructor(
    readonly run: Run,
    base: ResultTable,
  ) {
    super(base.table, { metrics: () => base.metrics(), fmax: base.fmax });
  }
}

export class Run {
  /** The run's folder. */
  readonly dir: string;
  private readonly paths: RunPaths;
  private cachedConfig?: RunConfig;

  constructor(
    /** The store folder (`runs`). */
    readonly store: string,
    readonly id: string,
    private parts: LiveParts = {},
  ) {
    this.dir = join(store, id);
    this.paths = runPaths(this.dir);
  }

  /** config.json. */
  get config(): RunConfig {
    return (this.cachedConfig ??= readConfig(this.paths));
  }

  get name(): string {
    return this.config.name;
  }

  /** Method labels, in order. */
  get methods(): string[] {
    return this.config.methods.map((m) => m.label);
  }

  /** status.json (a run whose process died reads as "interrupted"). */
  status(): RunStatus {
    return readStatus(this.paths, this.id);
  }

  /** The structures, exactly as relaxed. */
  structures(): Crystal[] {
    return readJson<CrystalJSON[]>(this.paths.structures).map(crystalFromJSON);
  }

  /** results.jsonl, one record per finished relaxation, by method then structure. */
  results(): ResultRecord[] {
    return readResults(this.paths, this.methods);
  }

  /** The step records (a restarted relaxation's latest attempt only), by method, structure, step. */
  metricRecords(): MetricRecord[] {
    return readMetrics(this.paths, this.methods);
  }

  /** One row per relaxation: method, structure, formula, natoms, steps, forceCalls, seconds, converged, energy, fmax. */
  table(): ResultTable {
    const rows = this.results().map(({ attempt: _a, ...r }) => r);
    return new ResultTable(relaxationTable(rows), { metrics: () => this.metrics(), fmax: this.config.settings.fmax });
  }

  /** The step records as an arquero table. */
  metrics(): ColumnTable {
    const rows = this.metricRecords().map(({ attempt: _a, ...r }) => r);
    return rows.length ? aq.from(rows) : aq.table({ method: [], structure: [], step: [], energy: [], fmax: [], forceCalls: [], seconds: [] });
  }

  /** Training metrics of the learning methods (train.jsonl) as an arquero table. */
  training(): ColumnTable {
    const rows = readTrain(this.paths).map(({ attempt: _a, ...r }) => r);
    return rows.length ? aq.from(rows) : aq.table({ method: [], step: [] });
  }

  /** N_mean, C_mean, T_mean over converged relaxations and failure % per method. */
  summary(options: SummaryOptions = {}): DataTable {
    return this.table().summary(options);
  }

  /** "forceCalls", "convergence", or "learning" (the training curve) as plotly JSON. */
  figure(kind: PlotKind | "learning" = "convergence", options: LearningCurveOptions = {}): Figure {
    if (kind === "learning") return learningCurveFigure(this.training().objects() as Record<string, unknown>[], options);
    return this.table().figure(kind);
  }

  plot(kind: PlotKind | "learning" = "convergence", options: LearningCurveOptions = {}): void {
    displaySink().figure(this.figure(kind, options));
  }

  /** Shows the results table. */
  view(): void {
    const s = this.status();
    this.table().view({ caption: `${this.name} (${this.id}): ${s.state}, ${s.done}/${s.total} relaxations` });
  }

  toString(): string {
    const s = this.status();
    return `Run ${this.id} (${this.name}): ${s.state}, ${s.done}/${s.total} relaxations`;
  }

  /** What a notebook or the REPL prints for the handle. */
  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return this.toString();
  }

  /**
   * Continues the run: relaxations not yet in results.jsonl are done (a relaxation the kill cut short
   * starts again), training is redone unless finished and loadable. The calculator and optimisers are
   * rebuilt from config.json; a rebuilt calculator must reproduce a stored step-0 energy.
   */
  async resume(options: ResumeOptions = {}): Promise<Run> {
    const status = this.status();
    if (status.state === "done") return this;
    if (status.state === "running") {
      throw new Error(`run ${this.id} is still running (pid ${status.pid} on ${status.hostname}); it cannot be resumed twice`);
    }
    const config = this.config;
    const structures = this.structures();
    const { calculator, owned } = await this.calculatorFor(options.calculator, structures);
    const methods = this.methodsFor(options.methods);
    try {
      await execute({
        id: this.id,
        paths: this.paths,
        config,
        structures,
        calculator,
        methods,
        attempt: status.attempt + 1,
        trained: status.trained,
        started: status.started,
        live: options.live ?? config.settings.live,
        signal: options.signal,
        workers: options.workers,
      });
    } finally {
      if (owned) await calculator.close?.();
    }
    this.parts = { calculator: options.calculator ? { instance: options.calculator } : this.parts.calculator, methods };
    return this;
  }

  /**
   * Relaxes a fresh set of structures with `methods` (plus this run's trained methods, when this
   * handle holds them) in a new run of the same store, and returns its table. Random structures are
   * redrawn from this run's source with `seed`; other sources take this run's first `count` structures.
   */
  async benchmark(methods: readonly MethodLike[], options: BenchmarkOptions = {}): Promise<BenchmarkTable> {
    const config = this.config;
    const count = options.count ?? config.structures.count;
    const seed = options.seed ?? config.settings.seed;
    let structures: StructuresInput;
    const source = config.structures.source;
    if (source.kind === "random") {
      const { composition, ...rest } = source.options as Record<string, unknown> & { composition: string | Record<string, number> };
      const comp = typeof composition === "string" ? composition : new Map(Object.entries(composition));
      structures = { random: { ...(rest as object), composition: comp, count, seed } as never };
    } else {
      const all = this.structures();
      if (count > all.length) throw new RangeError(`benchmark count ${count} exceeds the ${all.length} structures of run ${this.id}`);
      structures = all.slice(0, count);
    }
    const trained = (await this.trainedMethods()).map((m) => ({ ...m, train: false }));
    const labels = new Set(trained.map((m) => m.label));
    const extra = methods.map(asMethod).map((method) => ({ label: method.name, method, train: false }));
    for (const m of extra) {
      if (labels.has(m.label)) throw new RangeError(`benchmark: method "${m.label}" appears twice`);
      labels.add(m.label);
    }
    const calculator: CalculatorChoice = this.parts.calculator ?? this.rebuiltChoice();
    const run = await startRun({
      store: this.store,
      name: options.name ?? `${config.name}-benchmark`,
      structures,
      calculator,
      methods: [...trained, ...extra],
      fmax: options.fmax ?? config.settings.fmax,
      steps: options.steps ?? config.settings.steps,
      seed,
      live: options.live ?? config.settings.live,
      trajectories: options.trajectories ?? false,
      parent: this.id,
      signal: options.signal,
    });
    return new BenchmarkTable(run, run.table());
  }

  /**
   * The learning methods this run trained: held by this handle, or (for a loaded run) rebuilt through
   * `registerMethodKind` and restored with `load()` from their checkpoints. Others are left out.
   */
  private async trainedMethods(): Promise<LabelledMethod[]> {
    const out: LabelledMethod[] = [];
    const status = this.status();
    for (const d of this.config.methods) {
      if (!d.train || !status.trained.includes(d.label)) continue;
      const held = this.parts.methods?.find((m) => m.label === d.label);
      if (held) {
        out.push(held);
        continue;
      }
      const rebuilt = rebuildMethod(d.kind, d.name, d.options);
      const dir = this.paths.checkpoint(d.label);
      if (rebuilt?.load && existsSync(dir)) {
        await rebuilt.load(dir);
        out.push({ label: d.label, method: rebuilt, train: true });
      }
    }
    return out;
  }

  private rebuiltChoice(): CalculatorChoice {
    const c = this.config.calculator;
    return { name: c.name, options: c.options };
  }

  private async calculatorFor(given: Calculator | undefined, structures: readonly Crystal[]): Promise<{ calculator: Calculator; owned: boolean }> {
    if (given) return { calculator: given, owned: false };
    if (this.parts.calculator) {
      const choice = this.parts.calculator;
      return { calculator: makeCalculator(choice), owned: !("instance" in choice) };
    }
    const described = this.config.calculator;
    let calculator: Calculator;
    try {
      calculator = makeCalculator(this.rebuiltChoice());
    } catch (e) {
      throw new Error(
        `run ${this.id}: cannot rebuild calculator "${described.name}" from config.json (${(e as Error).message}); pass it: run.resume({ calculator })`,
        { cause: e },
      );
    }
    if (!described.byName) {
      try {
        await checkRebuilt(calculator, described.name, structures, this.paths, this.id);
      } catch (e) {
        await calculator.close?.();
        throw e;
      }
    }
    return { calculator, owned: true };
  }

  private methodsFor(given: readonly Method[] = []): LabelledMethod[] {
    return this.config.methods.map((d) => {
      const byLabel = given.find((m) => m.name === d.label) ?? given.find((m) => m.name === d.name);
      if (byLabel) return { label: d.label, method: byLabel, train: d.train };
      const held = this.parts.methods?.find((m) => m.label === d.label);
      if (held) return held;
      const rebuilt = rebuildMethod(d.kind, d.name, d.options);
      if (!rebuilt) {
        throw new Error(
          `run ${this.id}: method "${d.label}" (kind ${d.kind}) cannot be rebuilt from config.json; pass it: run.resume({ methods: [...] })`,
        );
      }
      return { label: d.label, method: rebuilt, train: d.train };
    });
  }
}

/** A calculator rebuilt from an instance's visible settings must reproduce a stored step-0 energy. */
async function checkRebuilt(calculator: Calculator, name: string, structures: readonly Crystal[], paths: RunPaths, id: string): Promise<void> {
  const first = readJsonl<MetricRecord>(paths.metrics).find((r) => r.step === 0 && Number.isFinite(r.energy));
  if (!first) return;
  const crystal = structures[first.structure];
  if (!crystal) return;
  const { energy } = await calculator.compute(crystal, { forces: false });
  calculator.resetCounts();
  if (!(Math.abs(energy - first.energy) <= 1e-9 * Math.max(1, Math.abs(first.energy)))) {
    throw new Error(
      `run ${id}: calculator "${name}" rebuilt from config.json gives ${energy} eV for structure ${first.structure}, ` +
        `but the run recorded ${first.energy} eV; pass the calculator: run.resume({ calculator })`,
    );
  }
}

/** What `startRun` needs: the builder's settings, resolved. */
export interface StartSpec {
  store: string;
  name: string;
  structures: StructuresInput;
  calculator: CalculatorChoice;
  methods: readonly LabelledMethod[];
  fmax: number;
  steps: number;
  seed: number;
  live: boolean;
  trajectories: boolean;
  parent?: string;
  signal?: AbortSignal;
  /** Worker threads for the relaxations (default 1: in this thread); stored in config.json. */
  workers?: number;
}

/** Creates `store/<id>/`, writes config.json and structures.json, and executes the run. */
export async function startRun(spec: StartSpec): Promise<Run> {
  const structures = await resolveStructures(spec.structures, spec.seed);
  const id = createRunDir(spec.store, spec.name);
  const paths = runPaths(join(spec.store, id));
  const config: RunConfig = {
    format: 1,
    id,
    name: spec.name,
    created: new Date().toISOString(),
    settings: {
      fmax: spec.fmax,
      steps: spec.steps,
      seed: spec.seed,
      live: spec.live,
      trajectories: spec.trajectories,
      ...(spec.workers !== undefined && checkWorkers(spec.workers) > 1 ? { workers: spec.workers } : {}),
    },
    fmaxDefinition: FMAX_DEFINITION,
    structures: {
      source: describeSource(spec.structures, spec.seed),
      count: structures.length,
      formulas: structures.map((c) => c.formula),
      natoms: structures.map((c) => c.natoms),
    },
    calculator: describeCalculator(spec.calculator),
    methods: spec.methods.map(({ label, method, train }) => ({
      label,
      name: method.name,
      kind: method.kind,
      options: JSON.parse(JSON.stringify(method.options ?? {})) as Record<string, unknown>,
      train,
    })),
    ...(spec.parent ? { parent: spec.parent } : {}),
    versions: versions(),
    machine: { ...machine(), cwd: resolve(".") },
  };
  writeJsonAtomic(paths.structures, structures.map(crystalToJSON));
  writeJsonAtomic(paths.config, config);
  const calculator = makeCalculator(spec.calculator);
  try {
    await execute({ id, paths, config, structures, calculator, methods: spec.methods, attempt: 0, live: spec.live, signal: spec.signal });
  } finally {
    if (!("instance" in spec.calculator)) await calculator.close?.();
  }
  return new Run(spec.store, id, { calculator: spec.calculator, methods: spec.methods });
}

/** Resumes run `id` of `store` with this session's calculator and methods (what `.resume(id)` on a builder does). */
export async function resumeRun(store: string, id: string, parts: LiveParts, options: ExecuteOptions = {}): Promise<Run> {
  const run = new Run(store, resolveRunId(store, id), parts);
  return run.resume(options);
}

/**
 * A handle of a stored run: `id` is an id, a unique prefix of one, or "latest" (default).
 * Throws an Error naming the store when there is no such run.
 */
export function loadRun(store = process.env["CRYSTAL_RL_RUNS"] ?? "runs", id = "latest"): Run {
  const run = new Run(store, resolveRunId(store, id));
  run.config; // reads config.json now, so a broken store fails here
  return run;
}

