/**
 * Limited-memory BFGS (Nocedal's two-loop recursion), as ASE 3.22's ase/optimize/lbfgs.py without
 * its line search: the inverse Hessian starts as I/alpha, the last `memory` moves update it, and
 * the step is scaled down as a whole so that no row moves more than maxstep.
 */
import { capLongestRow, dot, Optimizer, type OptimizerOptions } from "./optimizer.js";

export interface LBFGSOptions extends OptimizerOptions {
  /** Longest move of one row (atom) per step, Å. Default 0.2; above 1 is refused, as in ASE. */
  maxstep?: number;
  /** Number of past steps kept. Default 100. */
  memory?: number;
  /** The step is multiplied by this. Default 1. */
  damping?: number;
  /** Initial Hessian alpha·I (eV/Å²); the inverse starts as I/alpha. Default 70. */
  alpha?: number;
}

export class LBFGS extends Optimizer<LBFGSOptions> {
  readonly maxstep = checkMaxstep(this.options.maxstep ?? 0.2);
  readonly memory = this.options.memory ?? 100;
  readonly damping = this.options.damping ?? 1;
  readonly H0 = 1 / (this.options.alpha ?? 70);
  private iteration = 0;
  /** Past moves s, changes of the gradient y, and 1/(y·s). */
  private readonly s: Float64Array[] = [];
  private readonly y: Float64Array[] = [];
  private readonly rho: number[] = [];
  private r0?: Float64Array;
  private f0?: Float64Array;

  protected takeStep(f: Float64Array): void {
    const r = this.target.getPositions();
    this.update(r, f);
    const { s, y, rho } = this;
    const m = s.length;
    const a = new Float64Array(m);
    const q = new Float64Array(f.length);
    for (let k = 0; k < q.length; k++) q[k] = -f[k]!;
    for (let i = m - 1; i >= 0; i--) {
      a[i] = rho[i]! * dot(s[i]!, q);
      const yi = y[i]!;
      for (let k = 0; k < q.length; k++) q[k]! -= a[i]! * yi[k]!;
    }
    const z = q.map((x) => this.H0 * x);
    for (let i = 0; i < m; i++) {
      const b = rho[i]! * dot(y[i]!, z);
      const si = s[i]!;
      for (let k = 0; k < z.length; k++) z[k]! += si[k]! * (a[i]! - b);
    }
    const dr = capLongestRow(z.map((x) => -x), this.maxstep);
    const x = new Float64Array(r.length);
    for (let k = 0; k < r.length; k++) x[k] = r[k]! + dr[k]! * this.damping;
    this.target.setPositions(x);
    this.iteration++;
    this.r0 = r;
    this.f0 = f.slice();
  }

  private update(r: Float64Array, f: Float64Array): void {
    if (this.iteration > 0) {
      const s0 = r.map((x, k) => x - this.r0![k]!);
      const y0 = f.map((x, k) => this.f0![k]! - x); // the gradient is minus the force
      this.s.push(s0);
      this.y.push(y0);
      this.rho.push(1 / dot(y0, s0));
    }
    if (this.s.length > this.memory) {
      this.s.shift();
      this.y.shift();
      this.rho.shift();
    }
  }
}

function checkMaxstep(maxstep: number): number {
  if (!(maxstep > 0) || maxstep > 1) throw new RangeError(`LBFGS: maxstep must lie in (0, 1] Å, got ${maxstep}`);
  return maxstep;
}
