/**
 * One structure in the MACS relaxation game (macs-spec §1–§5): its positions, the raw and scaled
 * gradients, the history features, the features of every atom and its periodic k nearest
 * neighbours. `RelaxationGame` (one structure) and `RelaxationBatch` (many) both drive this class, so
 * they compute the same numbers.
 *
 * Order of operations (spec pitfall 2): evaluate forces → convergence → clip to g → c and the reward of
 * the previous transition → features of *all* atoms → kNN → observations; the policy then gives u,
 * d = c·u moves the atoms (wrapped into the cell), and d and g become next step's d^{t-1} and g^{t-1}.
 */
import { assertFinite, CalculatorError, type Calculator, type Computed, type ComputeRequest } from "../calculators/calculator.js";
import { Crystal } from "../structure/crystal.js";
import { elementByNumber } from "../structure/elements.js";
import { kNearest, type KNearest } from "../structure/neighbours.js";
import { FEATURES, logNorm, clippedGradient, clippedNorms, writeFeatures, type MacsParameters } from "./features.js";
import { observationSize, writeObservations } from "./observation.js";

/** What the game reports about one structure after a reset or a step. */
export interface RelaxationInfo {
  /** Steps taken in this episode (0 after a reset). */
  step: number;
  /** Energy of the current structure (eV). */
  energy: number;
  /** Largest per-atom norm of the real (unclipped) forces (eV/Å): ASE's fmax. */
  fmax: number;
  /** Calculator calls in this episode, the reset's included (one per step after it). */
  forceCalls: number;
  /** fmax below the threshold: the episode's success. */
  converged: boolean;
  /** fmax above `blowUpFmax` (training only): the episode ended as a failure. */
  blownUp: boolean;
  natoms: number;
  /** Sum over the steps so far of the mean per-atom reward (= mean_i log|g_i^0| − log|g_i^t|). */
  episodeReturn: number;
}

/** A calculator with the synchronous entry of the embedded models (`EmbeddedCalculator.computeSync`). */
export type SyncCalculator = Calculator & { computeSync(crystal: Crystal, request?: ComputeRequest): Computed };

export function hasComputeSync(calculator: Calculator): calculator is SyncCalculator {
  return typeof (calculator as Partial<SyncCalculator>).computeSync === "function";
}

const FORCES: ComputeRequest = { forces: true, stress: false };

/** Checks that `c` has finite forces for every atom of `crystal` (a CalculatorError otherwise). */
export function checkForces(c: Computed, calculator: Calculator, crystal: Crystal): Computed {
  if (!c.forces || c.forces.length !== 3 * crystal.natoms) {
    const got = c.forces ? c.forces.length : "no";
    throw new CalculatorError(`${calculator.name}: returned ${got} force components for ${crystal.natoms} atoms`, calculator.name);
  }
  assertFinite(c, calculator.name, crystal);
  return c;
}

/** One force call, synchronous; a TypeError when the calculator has no `computeSync`. */
export function evaluateSync(calculator: Calculator, crystal: Crystal): Computed {
  if (!hasComputeSync(calculator)) {
    throw new TypeError(`${calculator.name} has no computeSync: use the async step()/reset()`);
  }
  const c = calculator.computeSync(crystal, FORCES);
  if (!c.forces || c.forces.length !== 3 * crystal.natoms) return checkForces(c, calculator, crystal);
  return c; // computeSync has checked finiteness already
}

/** One force call: `computeSync` when the calculator has it, else `compute`. */
export async function evaluate(calculator: Calculator, crystal: Crystal): Promise<Computed> {
  if (hasComputeSync(calculator)) return evaluateSync(calculator, crystal);
  return checkForces(await calculator.compute(crystal, FORCES), calculator, crystal);
}

export class RelaxationState {
  readonly natoms: number;
  /** Covalent radius of every atom (Å), the only species descriptor (spec §2.1; Cordero's table). */
  readonly radii: Float64Array;
  /** The current structure (after the last move). */
  crystal: Crystal;
  energy = NaN;
  /** Raw forces of the current structure (3N, eV/Å). */
  forces: Float64Array;
  /** Scaled gradient g^t (3N) and its per-atom L2 norms. */
  g: Float64Array;
  gradNorms: Float64Array;
  /** d^{t-1}: the Cartesian displacement applied at the previous step (3N, Å; not affected by wrapping). */
  lastDisplacement: Float64Array;
  /** g^t − g^{t-1} (3N). */
  gradChange: Float64Array;
  /** Features f^t of every atom (N × 12). */
  readonly features: Float32Array;
  knn!: KNearest;
  step = 0;
  forceCalls = 0;
  episodeReturn = 0;
  /** Largest squared per-atom force norm. */
  private fmax2 = Infinity;
  // Scratch for the next step: the move, then the new gradient (swapped in by `advance`).
  private nextDisplacement: Float64Array;
  private nextG: Float64Array;
  private nextNorms: Float64Array;
  private pending?: Crystal;
  // Per-atom norms under the reward's own clip, only when it differs from g_max.
  private rewardNorms?: Float64Array;
  private nextRewardNorms?: Float64Array;

  constructor(
    crystal: Crystal,
    readonly params: MacsParameters,
  ) {
    const n = crystal.natoms;
    if (n === 0) throw new RangeError("the relaxation game needs at least one atom");
    this.natoms = n;
    this.crystal = crystal;
    this.radii = Float64Array.from(crystal.numbers, (z) => elementByNumber(z).covalentRadius);
    this.forces = new Float64Array(3 * n);
    this.g = new Float64Array(3 * n);
    this.gradNorms = new Float64Array(n);
    this.lastDisplacement = new Float64Array(3 * n);
    this.gradChange = new Float64Array(3 * n);
    this.features = new Float32Array(FEATURES * n);
    this.nextDisplacement = new Float64Array(3 * n);
    this.nextG = new Float64Array(3 * n);
    this.nextNorms = new Float64Array(n);
    if (params.rewardGMax !== params.gMax) {
      this.rewardNorms = new Float64Array(n);
      this.nextRewardNorms = new Float64Array(n);
    }
  }

  /** Length of one atom's observation. */
  get obsSize(): number {
    return observationSize(this.params.k);
  }

  get fmax(): number {
    return Math.sqrt(this.fmax2);
  }

  /** Success: the largest per-atom force norm below the threshold (ASE: max |F_i|² < fmax²). */
  get converged(): boolean {
    return this.fmax2 < this.params.fmax * this.params.fmax;
  }

  /** Forces past `blowUpFmax`: a terminal failure (training only). */
  get blownUp(): boolean {
    return this.fmax2 > this.params.blowUpFmax * this.params.blowUpFmax;
  }

  /** Out of steps without success (or blow-up). */
  get truncated(): boolean {
    return !this.converged && !this.blownUp && this.step >= this.params.maxSteps;
  }

  /** The episode is over (any way). */
  get finished(): boolean {
    return this.converged || this.blownUp || this.step >= this.params.maxSteps;
  }

  info(): RelaxationInfo {
    return {
      step: this.step,
      energy: this.energy,
      fmax: this.fmax,
      forceCalls: this.forceCalls,
      converged: this.converged,
      blownUp: this.blownUp,
      natoms: this.natoms,
      episodeReturn: this.episodeReturn,
    };
  }

  /** Starts the episode from the first evaluation of `crystal` (t = 0: d^{-1} = 0, Δg = 0; spec pitfall 15). */
  start(computed: Computed): void {
    this.step = 0;
    this.forceCalls = 1;
    this.episodeReturn = 0;
    this.lastDisplacement.fill(0);
    this.gradChange.fill(0);
    this.pending = undefined;
    this.take(computed);
    clippedGradient(this.forces, this.params.gMax, this.g, this.gradNorms);
    if (this.rewardNorms) clippedNorms(this.forces, this.params.rewardGMax, this.rewardNorms);
    this.refresh();
  }

  /**
   * Moves every atom by d = c·u (u clamped to [−1, 1]³, c from the current g) and wraps it into the
   * cell; returns the structure to evaluate next. `actions` holds 3N numbers from `offset`.
   */
  move(actions: ArrayLike<number>, offset = 0): Crystal {
    const n = this.natoms;
    const { cMax, wrap } = this.params;
    const p = this.crystal.positions;
    const next = new Float64Array(3 * n);
    const d = this.nextDisplacement;
    for (let i = 0; i < n; i++) {
      const norm = this.gradNorms[i]!;
      const c = norm < cMax ? norm : cMax;
      for (let q = 0; q < 3; q++) {
        const k = 3 * i + q;
        let u = actions[offset + k]!;
        if (!Number.isFinite(u)) throw new RangeError(`the action of atom ${i} is not finite (${u})`);
        // The action space is the box [−1, 1]³ (a tanh-squashed policy never leaves it; clamp anyway).
        if (u > 1) u = 1;
        else if (u < -1) u = -1;
        d[k] = c * u;
        next[k] = p[k]! + d[k]!;
      }
    }
    if (wrap) wrapInto(this.crystal, next);
    this.pending = new Crystal({ cell: this.crystal.lattice, positions: next, numbers: this.crystal.numbers });
    return this.pending;
  }

  /**
   * Takes the evaluation of the moved structure: one step more, the reward of every atom,
   * log|g_i^t| − log|g_i^{t+1}| (eq. 5), written into `rewards` from `offset`; then the new features
   * and neighbours. Returns the mean reward.
   */
  advance(computed: Computed, rewards: Float32Array, offset = 0): number {
    const crystal = this.pending;
    if (!crystal) throw new Error("advance() before move()");
    this.pending = undefined;
    this.crystal = crystal;
    this.step++;
    this.forceCalls++;
    this.take(computed);
    const n = this.natoms;
    const eps = this.params.logEpsilon;
    clippedGradient(this.forces, this.params.gMax, this.nextG, this.nextNorms);
    // The reward's norms: g's own (the paper), or those of the looser `rewardGMax` clip.
    let before = this.gradNorms;
    let after = this.nextNorms;
    if (this.rewardNorms && this.nextRewardNorms) {
      clippedNorms(this.forces, this.params.rewardGMax, this.nextRewardNorms);
      before = this.rewardNorms;
      after = this.nextRewardNorms;
      [this.rewardNorms, this.nextRewardNorms] = [this.nextRewardNorms, this.rewardNorms];
    }
    let sum = 0;
    for (let i = 0; i < n; i++) {
      const r = logNorm(before[i]!, eps) - logNorm(after[i]!, eps);
      rewards[offset + i] = r;
      sum += r;
    }
    const g0 = this.g;
    const g1 = this.nextG;
    for (let k = 0; k < 3 * n; k++) this.gradChange[k] = g1[k]! - g0[k]!;
    // Swap buffers: the move becomes d^{t-1}, the new gradient g^t.
    [this.g, this.nextG] = [g1, g0];
    [this.gradNorms, this.nextNorms] = [this.nextNorms, this.gradNorms];
    [this.lastDisplacement, this.nextDisplacement] = [this.nextDisplacement, this.lastDisplacement];
    this.refresh();
    const mean = sum / n;
    this.episodeReturn += mean;
    return mean;
  }

  /** Writes every atom's observation into `out` from float `offset` (row i at offset + i·obsSize). */
  observe(out: Float32Array, offset = 0): void {
    writeObservations(this.features, this.knn, out, offset);
  }

  /** Records energy and forces of the current structure. */
  private take(c: Computed): void {
    const f = c.forces;
    if (!f || f.length !== 3 * this.natoms) throw new RangeError(`expected ${3 * this.natoms} force components, got ${f ? f.length : "none"}`);
    this.energy = c.energy;
    this.forces = f;
    let m = 0;
    for (let k = 0; k < f.length; k += 3) {
      const s = f[k]! * f[k]! + f[k + 1]! * f[k + 1]! + f[k + 2]! * f[k + 2]!;
      if (s > m || Number.isNaN(s)) m = s;
    }
    this.fmax2 = m;
  }

  /** Features of all atoms first, then the neighbour list (spec pitfall 4). */
  private refresh(): void {
    writeFeatures(this.radii, this.g, this.gradNorms, this.lastDisplacement, this.gradChange, this.params, this.features);
    this.knn = kNearest(this.crystal, this.params.k);
  }
}

/** Wraps Cartesian positions (3N, in place) into the cell of `crystal` (fractional coordinates in [0, 1), to rounding). */
function wrapInto(crystal: Crystal, x: Float64Array): void {
  const m = crystal.lattice.matrix;
  const inv = crystal.lattice.inverse;
  for (let k = 0; k < x.length; k += 3) {
    const a = x[k]!;
    const b = x[k + 1]!;
    const c = x[k + 2]!;
    const s0 = Math.floor(a * inv[0]! + b * inv[3]! + c * inv[6]!);
    const s1 = Math.floor(a * inv[1]! + b * inv[4]! + c * inv[7]!);
    const s2 = Math.floor(a * inv[2]! + b * inv[5]! + c * inv[8]!);
    if (s0 === 0 && s1 === 0 && s2 === 0) continue; // already inside: keep the exact coordinates
    // Subtract the whole lattice vectors (exact to rounding of one product per component).
    x[k] = a - (s0 * m[0]! + s1 * m[3]! + s2 * m[6]!);
    x[k + 1] = b - (s0 * m[1]! + s1 * m[4]! + s2 * m[7]!);
    x[k + 2] = c - (s0 * m[2]! + s1 * m[5]! + s2 * m[8]!);
  }
}
