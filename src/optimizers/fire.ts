/**
 * FIRE, the fast inertial relaxation engine: Bitzek, Koskinen, Gähler, Moseler, Gumbsch,
 * Phys. Rev. Lett. 97, 170201 (2006); as ASE 3.22's ase/optimize/fire.py (downhill_check off).
 */
import { dot, Optimizer, type OptimizerOptions } from "./optimizer.js";

export interface FireOptions extends OptimizerOptions {
  /** Initial time step. Default 0.1. */
  dt?: number;
  /** Largest norm of the whole step (all rows together, Å). Default 0.2. */
  maxstep?: number;
  /** Largest time step. Default 1.0. */
  dtmax?: number;
  /** Downhill steps before dt may grow. Default 5. */
  Nmin?: number;
  /** Growth factor of dt. Default 1.1. */
  finc?: number;
  /** Shrink factor of dt after an uphill step. Default 0.5. */
  fdec?: number;
  /** Mixing parameter after a restart. Default 0.1. */
  astart?: number;
  /** Decay of the mixing parameter. Default 0.99. */
  fa?: number;
  /** Initial mixing parameter. Default 0.1. */
  a?: number;
}

export class FIRE extends Optimizer<FireOptions> {
  dt = this.options.dt ?? 0.1;
  readonly maxstep = this.options.maxstep ?? 0.2;
  readonly dtmax = this.options.dtmax ?? 1.0;
  readonly Nmin = this.options.Nmin ?? 5;
  readonly finc = this.options.finc ?? 1.1;
  readonly fdec = this.options.fdec ?? 0.5;
  readonly astart = this.options.astart ?? 0.1;
  readonly fa = this.options.fa ?? 0.99;
  a = this.options.a ?? 0.1;
  /** Velocities; unset before the first step. */
  private v?: Float64Array;
  /** Downhill steps since the last restart (ASE's Nsteps). */
  private downhill = 0;

  protected takeStep(f: Float64Array): void {
    const n = f.length;
    let v = this.v;
    if (!v) {
      v = this.v = new Float64Array(n);
    } else if (dot(f, v) > 0) {
      // Mix the velocity towards the force direction, keeping its length.
      const fnorm = Math.sqrt(dot(f, f));
      const vnorm = Math.sqrt(dot(v, v));
      for (let k = 0; k < n; k++) v[k] = (1 - this.a) * v[k]! + ((this.a * f[k]!) / fnorm) * vnorm;
      if (this.downhill > this.Nmin) {
        this.dt = Math.min(this.dt * this.finc, this.dtmax);
        this.a *= this.fa;
      }
      this.downhill++;
    } else {
      // Uphill: stop, restart the mixing, shorten the time step.
      v.fill(0);
      this.a = this.astart;
      this.dt *= this.fdec;
      this.downhill = 0;
    }
    const dr = new Float64Array(n);
    for (let k = 0; k < n; k++) {
      v[k]! += this.dt * f[k]!;
      dr[k] = this.dt * v[k]!;
    }
    const normdr = Math.sqrt(dot(dr, dr));
    const x = this.target.getPositions();
    for (let k = 0; k < n; k++) x[k]! += normdr > this.maxstep ? (this.maxstep * dr[k]!) / normdr : dr[k]!;
    this.target.setPositions(x);
  }
}
