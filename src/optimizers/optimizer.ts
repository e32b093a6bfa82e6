/**
 * The optimiser loop, written once (ASE's ase/optimize/optimize.py): `irun` checks convergence,
 * takes a step, logs it, calls the observers; each algorithm implements only `takeStep`.
 *
 * Optimisers move an `Optimizable`: a point in generalised coordinates (rows of three numbers) with
 * an energy and generalised forces. `OptimizableAtoms` is a crystal with a fixed cell (the rows are
 * the atoms); `FrechetCellFilter` (cell-filter.ts) adds three rows for the cell, so the same
 * optimisers relax positions and cell together.
 */
import { appendFile, writeFile } from "node:fs/promises";
import { assertFinite, CalculatorError, type Calculator, type Computed } from "../calculators/calculator.js";
import { formatExtxyz, type Frame } from "../io/extxyz.js";
import { Crystal } from "../structure/crystal.js";

// ---------------------------------------------------------------------------------------------
// What an optimiser moves

/** Energy and generalised forces at one configuration, and what a trajectory stores of it. */
export interface Evaluation {
  /** The energy the optimiser minimises (eV; includes p·V under a cell filter's pressure). */
  energy: number;
  /** Generalised forces, 3 per row: minus the gradient of `energy` in the generalised coordinates. */
  forces: Float64Array;
  /** The real structure with its energy, atomic forces (and stress): a trajectory frame. */
  frame: Frame;
}

/** A point in generalised coordinates with an energy and forces (newer ASE's `Optimizable`). */
export interface Optimizable {
  /** Rows of three generalised coordinates: one per atom, plus three for a cell filter. */
  readonly rows: number;
  /** A copy of the generalised positions (3·rows). */
  getPositions(): Float64Array;
  /** Moves to `x` (copied). Throws a RangeError naming the row when a coordinate is not finite. */
  setPositions(x: ArrayLike<number>): void;
  /** Energy and forces at the current positions; computed once per configuration and cached. */
  evaluate(): Promise<Evaluation>;
  /** The crystal at the current positions. */
  readonly crystal: Crystal;
  /** Calculator calls made so far: one per new configuration. */
  readonly forceCalls: number;
}

/**
 * Shared by the optimizables that drive a Calculator: caches the last evaluation as an ASE
 * calculator does (a configuration within 1e-15 of the last one computed is the same one), counts
 * force calls, and checks every result: a non-finite energy, force or stress from any calculator,
 * embedded or external, is a CalculatorError naming the atom.
 */
export abstract class CalculatorOptimizable implements Optimizable {
  protected x: Float64Array;
  private last?: { x: Float64Array; evaluation: Evaluation };
  private calls = 0;

  protected constructor(
    readonly calculator: Calculator,
    x0: Float64Array,
    /** Whether `generalise` needs the stress. */
    private readonly needsStress: boolean,
  ) {
    this.x = x0;
  }

  get rows(): number {
    return this.x.length / 3;
  }

  get forceCalls(): number {
    return this.calls;
  }

  getPositions(): Float64Array {
    return this.x.slice();
  }

  setPositions(x: ArrayLike<number>): void {
    if (x.length !== this.x.length) throw new RangeError(`expected ${this.x.length} generalised coordinates, got ${x.length}`);
    for (let k = 0; k < x.length; k++) {
      if (!Number.isFinite(x[k]!)) throw new RangeError(`${this.rowName(Math.floor(k / 3))} would move to a non-finite position (${x[k]})`);
    }
    this.x = Float64Array.from(x);
  }

  get crystal(): Crystal {
    return this.isCached() ? this.last!.evaluation.frame.crystal : this.crystalAt(this.x);
  }

  async evaluate(): Promise<Evaluation> {
    if (this.isCached()) return this.last!.evaluation;
    const x = this.x.slice();
    const crystal = this.crystalAt(x);
    this.calls++;
    const computed = await this.calculator.compute(crystal, { forces: true, stress: this.needsStress });
    checkComputed(computed, this.calculator.name, crystal, this.needsStress);
    const evaluation = this.generalise(x, crystal, computed);
    this.last = { x, evaluation };
    return evaluation;
  }

  /** The crystal at generalised positions `x`. */
  protected abstract crystalAt(x: Float64Array): Crystal;
  /** Generalised energy and forces from what the calculator computed at `crystalAt(x)`. */
  protected abstract generalise(x: Float64Array, crystal: Crystal, computed: Computed): Evaluation;

  /** How errors name row `r`. */
  protected rowName(r: number): string {
    return `atom ${r}`;
  }

  private isCached(): boolean {
    const last = this.last;
    if (!last) return false;
    for (let k = 0; k < this.x.length; k++) if (!(Math.abs(this.x[k]! - last.x[k]!) <= 1e-15)) return false;
    return true;
  }
}

/** Throws a CalculatorError when a result lacks forces (or a requested stress) or holds a non-finite number. */
function checkComputed(c: Computed, name: string, crystal: Crystal, stress: boolean): void {
  if (!c.forces || c.forces.length !== 3 * crystal.natoms) {
    throw new CalculatorError(`${name}: returned ${c.forces ? c.forces.length : "no"} force components for ${crystal.natoms} atoms`, name);
  }
  if (stress && (!c.stress || c.stress.length !== 6)) throw new CalculatorError(`${name}: returned no stress`, name);
  assertFinite(c, name, crystal);
}

/** The atoms of a crystal in a fixed cell: the generalised positions are the Cartesian ones. */
export class OptimizableAtoms extends CalculatorOptimizable {
  /** The crystal the atoms start from: its cell and species stay. */
  private readonly start: Crystal;

  constructor(crystal: Crystal, calculator: Calculator) {
    super(calculator, crystal.positions.slice(), false);
    this.start = crystal;
  }

  protected crystalAt(x: Float64Array): Crystal {
    return this.start.withPositions(x);
  }

  protected generalise(_x: Float64Array, crystal: Crystal, c: Computed): Evaluation {
    const forces = c.forces!;
    return { energy: c.energy, forces, frame: { crystal, info: {}, energy: c.energy, forces } };
  }
}

// ---------------------------------------------------------------------------------------------
// Records, results, errors

/** One line of the log: ASE's Step, Energy and fmax, plus the force calls so far. */
export interface StepRecord {
  step: number;
  /** eV. */
  energy: number;
  /** Largest per-row norm of the generalised forces (eV/Å): ASE's fmax. */
  fmax: number;
  forceCalls: number;
}

export interface RelaxResult {
  /** fmax fell below the threshold. */
  converged: boolean;
  /** Steps taken (ASE's nsteps). */
  steps: number;
  /** Calculator calls, the initial one included. */
  forceCalls: number;
  energy: number;
  fmax: number;
  crystal: Crystal;
  /** Wall-clock seconds of this run. */
  seconds: number;
}

export interface RunOptions {
  /** Convergence threshold on the largest per-row force norm (eV/Å). Default 0.05. */
  fmax?: number;
  /**
   * Largest step number (ASE 3.22's max_steps: counted from the optimiser's creation, so a second
   * `run` on the same optimiser continues the count). Default 1000.
   */
  steps?: number;
}

/** Options every optimiser takes. */
export interface OptimizerOptions {
  /** Extended XYZ file written frame by frame (step 0 first): structure, energy, forces. */
  trajectory?: string;
  /** Append to `trajectory` instead of truncating it on the first frame. */
  appendTrajectory?: boolean;
  /** Receives ASE-style log lines (`console.log` prints them). */
  log?: (line: string) => void;
}

/** An optimiser stopped: a non-finite force (`atom` names it), a failed line search, a bad step. */
export class OptimizerError extends Error {
  override name = "OptimizerError";
  constructor(
    message: string,
    readonly optimizer: string,
    readonly step: number,
    readonly atom?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export type Observer = (record: StepRecord, optimizer: Optimizer) => void | Promise<void>;

// ---------------------------------------------------------------------------------------------
// Trajectory

/** Appends extended XYZ frames to a file, one write per frame; a frame holding a NaN is refused whole. */
export class TrajectoryWriter {
  private started: boolean;

  constructor(
    readonly path: string,
    { append = false }: { append?: boolean } = {},
  ) {
    this.started = append;
  }

  async write(frame: Frame): Promise<void> {
    const text = formatExtxyz(frame); // throws on a non-finite number before anything is written
    if (this.started) await appendFile(this.path, text, "utf8");
    else await writeFile(this.path, text, "utf8");
    this.started = true;
  }
}

// ---------------------------------------------------------------------------------------------
// The base class

/**
 * Base of every optimiser. Construct with a crystal and a calculator (positions relax, the cell is
 * fixed) or with any Optimizable (a `FrechetCellFilter` to relax the cell too):
 *
 * ```ts
 * const result = await new FIRE(crystal, lj()).run({ fmax: 0.05, steps: 1000 });
 * const withCell = await new BFGS(new FrechetCellFilter(crystal, emt())).run();
 * for await (const r of new LBFGS(crystal, emt()).irun()) console.log(r.step, r.energy, r.fmax);
 * ```
 */
export abstract class Optimizer<O extends OptimizerOptions = OptimizerOptions> {
  readonly target: Optimizable;
  readonly options: O;
  /** Steps taken so far (ASE's nsteps). */
  nsteps = 0;
  /** The threshold of the current run. */
  fmax = 0.05;
  private maxSteps = 1000;
  private readonly observers: { fn: Observer; interval: number }[] = [];
  private readonly trajectory?: TrajectoryWriter;

  constructor(target: Optimizable, options?: O);
  constructor(crystal: Crystal, calculator: Calculator, options?: O);
  constructor(system: Crystal | Optimizable, second?: Calculator | O, third?: O) {
    if (system instanceof Crystal) {
      if (!isCalculator(second)) throw new TypeError(`${this.constructor.name} needs a calculator with a crystal`);
      this.target = new OptimizableAtoms(system, second);
      this.options = third ?? ({} as O);
    } else {
      if (isCalculator(second)) throw new TypeError(`${this.constructor.name}: an Optimizable carries its own calculator`);
      this.target = system;
      this.options = second ?? ({} as O);
    }
    const { trajectory, appendTrajectory } = this.options;
    if (trajectory) this.trajectory = new TrajectoryWriter(trajectory, { append: appendTrajectory ?? false });
  }

  /** The class name, as ASE logs it. */
  get name(): string {
    return this.constructor.name;
  }

  /**
   * Calls `fn(record, optimizer)` after the steps whose number is a multiple of `interval`, or,
   * for `interval <= 0`, only after step `-interval` (ASE's `attach`). The trajectory is written first.
   */
  attach(fn: Observer, interval = 1): this {
    this.observers.push({ fn, interval });
    return this;
  }

  /** One step from the current point (ASE's `step`); `irun` counts it. */
  async step(forces?: Float64Array): Promise<void> {
    await this.takeStep(forces ?? (await this.target.evaluate()).forces);
  }

  /** The algorithm: move `target` from the current point, whose forces are `forces`. */
  protected abstract takeStep(forces: Float64Array): void | Promise<void>;

  /** ASE's criterion: the largest squared row norm of the forces below fmax². */
  converged(forces: Float64Array): boolean {
    return maxRowNorm2(forces) < this.fmax * this.fmax;
  }

  /**
   * Relaxes step by step, yielding a record after step 0 (the start, when `nsteps` is 0) and after
   * every step; convergence is checked before each step, as in ASE. Returns whether it converged.
   */
  async *irun({ fmax = 0.05, steps = 1000 }: RunOptions = {}): AsyncGenerator<StepRecord, boolean, void> {
    this.fmax = fmax;
    this.maxSteps = steps;
    try {
      let ev = await this.target.evaluate();
      if (this.nsteps === 0) yield await this.record(ev);
      while (!this.converged(ev.forces) && this.nsteps < this.maxSteps) {
        await this.takeStep(ev.forces);
        this.nsteps++;
        ev = await this.target.evaluate();
        yield await this.record(ev);
      }
      return this.converged(ev.forces);
    } catch (e) {
      throw this.stopped(e);
    }
  }

  /** Runs `irun` to the end. */
  async run(options: RunOptions = {}): Promise<RelaxResult> {
    const t0 = performance.now();
    const it = this.irun(options);
    let next = await it.next();
    while (!next.done) next = await it.next();
    const ev = await this.target.evaluate();
    return {
      converged: next.value,
      steps: this.nsteps,
      forceCalls: this.target.forceCalls,
      energy: ev.energy,
      fmax: Math.sqrt(maxRowNorm2(ev.forces)),
      crystal: this.target.crystal,
      seconds: (performance.now() - t0) / 1000,
    };
  }

  /** Logs the step, writes the trajectory frame, calls the observers. */
  private async record(ev: Evaluation): Promise<StepRecord> {
    const record: StepRecord = {
      step: this.nsteps,
      energy: ev.energy,
      fmax: Math.sqrt(maxRowNorm2(ev.forces)),
      forceCalls: this.target.forceCalls,
    };
    const log = this.options.log;
    if (log) {
      const name = this.name;
      if (this.nsteps === 0) log(`${" ".repeat(name.length)}  Step[ FC]     Time          Energy          fmax`);
      const time = new Date().toTimeString().slice(0, 8);
      log(`${name}:  ${pad(record.step, 3)}[${pad(record.forceCalls, 3)}] ${time} ${record.energy.toFixed(6).padStart(15)} ${record.fmax.toFixed(4).padStart(12)}`);
    }
    if (this.trajectory) await this.trajectory.write({ ...ev.frame, info: { ...ev.frame.info, step: this.nsteps } });
    for (const { fn, interval } of this.observers) {
      if (interval > 0 ? this.nsteps % interval === 0 : this.nsteps === -interval) await fn(record, this);
    }
    return record;
  }

  /** An OptimizerError saying where the run stopped, the calculator's message and atom kept. */
  private stopped(e: unknown): unknown {
    if (e instanceof OptimizerError) return e;
    if (!(e instanceof Error)) return e;
    const atom = e instanceof CalculatorError ? e.atom : undefined;
    return new OptimizerError(`${this.name} stopped at step ${this.nsteps}: ${e.message}`, this.name, this.nsteps, atom, { cause: e });
  }
}

function isCalculator(x: unknown): x is Calculator {
  return typeof x === "object" && x !== null && typeof (x as Calculator).compute === "function";
}

const pad = (n: number, w: number): string => String(n).padStart(w);

// ---------------------------------------------------------------------------------------------
// Vector helpers shared by the algorithms (3N vectors as Float64Array)

export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let k = 0; k < a.length; k++) s += a[k]! * b[k]!;
  return s;
}

/** Largest squared norm of a row of three. */
export function maxRowNorm2(v: ArrayLike<number>): number {
  let m = 0;
  for (let k = 0; k < v.length; k += 3) {
    const s = v[k]! * v[k]! + v[k + 1]! * v[k + 1]! + v[k + 2]! * v[k + 2]!;
    if (s > m || Number.isNaN(s)) m = s;
  }
  return m;
}

/** Scales `dr` in place so that no row is longer than `maxstep` (ASE's determine_step: whole step scaled). */
export function capLongestRow(dr: Float64Array, maxstep: number): Float64Array {
  const longest = Math.sqrt(maxRowNorm2(dr));
  if (longest >= maxstep) {
    const scale = maxstep / longest;
    for (let k = 0; k < dr.length; k++) dr[k]! *= scale;
  }
  return dr;
}
