/**
 * MDMin: velocity Verlet with unit masses, keeping only the velocity's projection on the force
 * and zeroing it when it points uphill; as ASE's ase/optimize/mdmin.py. ASE 3.23 added `maxstep`
 * (no row moves further than it per step); ASE 3.22 had no cap: `maxstep: Infinity` reproduces it.
 */
import { dot, maxRowNorm2, Optimizer, type OptimizerOptions } from "./optimizer.js";

export interface MDMinOptions extends OptimizerOptions {
  /** Time step. Default 0.2. */
  dt?: number;
  /** Longest move of one row per step, Å (ASE >= 3.23). Default 0.2; Infinity for ASE 3.22. */
  maxstep?: number;
}

export class MDMin extends Optimizer<MDMinOptions> {
  readonly dt = this.options.dt ?? 0.2;
  readonly maxstep = this.options.maxstep ?? 0.2;
  private v?: Float64Array;

  protected takeStep(f: Float64Array): void {
    const n = f.length;
    const half = 0.5 * this.dt;
    let v = this.v;
    if (!v) {
      v = this.v = new Float64Array(n);
    } else {
      for (let k = 0; k < n; k++) v[k]! += half * f[k]!;
      const vf = dot(v, f);
      if (vf < 0) v.fill(0);
      else {
        const ff = dot(f, f);
        for (let k = 0; k < n; k++) v[k] = (f[k]! * vf) / ff;
      }
    }
    const dr = new Float64Array(n);
    for (let k = 0; k < n; k++) {
      v[k]! += half * f[k]!;
      dr[k] = this.dt * v[k]!;
    }
    // ASE 3.23: scale by maxstep / (1e-6 + longest row), clipped to [0, 1].
    const scale = Math.min(1, Math.max(0, this.maxstep / (1e-6 + Math.sqrt(maxRowNorm2(dr)))));
    const x = this.target.getPositions();
    for (let k = 0; k < n; k++) x[k]! += dr[k]! * scale;
    this.target.setPositions(x);
  }
}
