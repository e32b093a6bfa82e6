/**
 * BFGS on the inverse Hessian with a Wolfe line search, as ASE 3.22's BFGSLineSearch (alias
 * QuasiNewton, ase/optimize/bfgslinesearch.py): energy and gradient divided by alpha so that the
 * inverse Hessian can start as I, as SciPy's does; the update is skipped when the last step did not
 * reduce the slope along the previous direction, or when the line search asked so. Several force
 * calls per step.
 */
import { LineSearch, scaledEnergy, scaledGradient } from "./line-search.js";
import { dot, Optimizer, OptimizerError, type OptimizerOptions } from "./optimizer.js";

export interface BFGSLineSearchOptions extends OptimizerOptions {
  /** Longest move of one row per line-search trial, Å. Default 0.2. */
  maxstep?: number;
  /** Sufficient-decrease parameter of the Wolfe conditions. Default 0.23. */
  c1?: number;
  /** Curvature parameter of the Wolfe conditions. Default 0.46. */
  c2?: number;
  /** Energy and forces are divided by this (eV/Å²). Default 10. */
  alpha?: number;
  /** Largest step along the search direction. Default 50. */
  stpmax?: number;
}

export class BFGSLineSearch extends Optimizer<BFGSLineSearchOptions> {
  readonly maxstep = this.options.maxstep ?? 0.2;
  readonly c1 = this.options.c1 ?? 0.23;
  readonly c2 = this.options.c2 ?? 0.46;
  readonly alpha = this.options.alpha ?? 10;
  readonly stpmax = this.options.stpmax ?? 50;
  /** Inverse Hessian (of the scaled energy), n x n row-major; unset before the first step. */
  private H?: Float64Array;
  private r0?: Float64Array;
  private g0?: Float64Array;
  private e0: number | null = null;
  private p?: Float64Array;
  private alphaK: number | null = null;
  private noUpdate = false;

  protected async takeStep(f: Float64Array): Promise<void> {
    const r = this.target.getPositions();
    const n = r.length;
    const g = f.map((x) => -x / this.alpha);
    this.update(r, g, this.p);
    const e = await this.func(r);
    const H = this.H!;
    const p = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let j = 0; j < n; j++) s += H[i * n + j]! * g[j]!;
      p[i] = -s;
    }
    // A vanishing direction is stretched to a minimal length.
    const pSize = Math.sqrt(dot(p, p));
    const least = Math.sqrt(this.target.rows * 1e-10);
    if (pSize <= least) for (let i = 0; i < n; i++) p[i]! /= pSize / least;
    this.p = p;
    const ls = new LineSearch();
    const found = await ls.search(
      (x) => this.func(x),
      (x) => this.fprime(x),
      r,
      p,
      g,
      e,
      { maxstep: this.maxstep, c1: this.c1, c2: this.c2, stpmax: this.stpmax },
    );
    this.alphaK = found.stp;
    this.e0 = found.oldFval;
    this.noUpdate = found.noUpdate;
    if (found.stp === null) throw new OptimizerError(`${this.name}: the line search failed (${ls.task})`, this.name, this.nsteps);
    const x = new Float64Array(n);
    for (let i = 0; i < n; i++) x[i] = r[i]! + found.stp * p[i]!;
    this.target.setPositions(x);
    this.r0 = r;
    this.g0 = g;
  }

  /** BFGS update of the inverse Hessian: H ← (I − ρ s yᵀ) H (I − ρ y sᵀ) + ρ s sᵀ, ρ = 1/(y·s). */
  private update(r: Float64Array, g: Float64Array, p0: Float64Array | undefined): void {
    const n = r.length;
    if (!this.H) {
      this.H = new Float64Array(n * n);
      for (let i = 0; i < n; i++) this.H[i * n + i] = 1;
      return;
    }
    const g0 = this.g0!;
    if (!((this.alphaK ?? 0) > 0 && Math.abs(dot(g, p0!)) - Math.abs(dot(g0, p0!)) < 0)) return;
    if (this.noUpdate) return;
    const s = new Float64Array(n);
    const y = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      s[i] = r[i]! - this.r0![i]!;
      y[i] = g[i]! - g0[i]!;
    }
    let rho = 1 / dot(y, s);
    if (rho === Infinity || rho === -Infinity) rho = 1000; // ASE: "Divide-by-zero encountered: rhok assumed large"
    // Expanded in O(n²): H - ρ(s uᵀ + u sᵀ) + (ρ² y·u + ρ) s sᵀ with u = H y (H symmetric).
    const H = this.H;
    const u = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      let t = 0;
      for (let j = 0; j < n; j++) t += H[i * n + j]! * y[j]!;
      u[i] = t;
    }
    const c = rho * rho * dot(y, u) + rho;
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) H[i * n + j]! += -rho * (s[i]! * u[j]! + u[i]! * s[j]!) + c * s[i]! * s[j]!;
    }
  }

  /** Energy / alpha at x. */
  private func(x: Float64Array): Promise<number> {
    return scaledEnergy(this.target, x, this.alpha);
  }

  /** Gradient of energy / alpha at x. */
  private fprime(x: Float64Array): Promise<Float64Array> {
    return scaledGradient(this.target, x, this.alpha);
  }
}

/** ASE's other name for it. */
export const QuasiNewton = BFGSLineSearch;
