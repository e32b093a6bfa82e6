import type { Crystal } from "../structure/crystal.js";
import { EmbeddedCalculator, positive, type Computed, type ComputeRequest } from "./calculator.js";
import { pairSum } from "./pair-sum.js";

export interface LennardJonesOptions {
  /** Well depth (eV). Default 1. */
  epsilon?: number;
  /** Zero of the potential (Å). Default 1. */
  sigma?: number;
  /** Cut-off (Å). Default 3σ. */
  rc?: number;
  /** Onset of the smooth cut-off (Å), used when `smooth`. Default 0.66 rc (ASE's). */
  ro?: number;
  /**
   * false (default): the pair energy is shifted by its value at rc, so the energy is continuous and
   * the forces jump at rc. true: multiplied by a C¹ switch between ro and rc (Jax-MD's), so both are smooth.
   */
  smooth?: boolean;
}

/** Lennard-Jones, one species pair, with ASE 3.22's cut-off conventions (ase.calculators.lj). */
export class LennardJones extends EmbeddedCalculator {
  readonly name = "lj";
  readonly epsilon: number;
  readonly sigma: number;
  readonly rc: number;
  readonly ro: number;
  readonly smooth: boolean;

  constructor({ epsilon = 1, sigma = 1, rc, ro, smooth = false }: LennardJonesOptions = {}) {
    super();
    this.epsilon = positive("epsilon", epsilon);
    this.sigma = positive("sigma", sigma);
    this.rc = positive("rc", rc ?? 3 * sigma);
    this.ro = positive("ro", ro ?? 0.66 * this.rc);
    if (smooth && !(this.ro < this.rc)) throw new RangeError(`lj: ro (${this.ro}) must be below rc (${this.rc})`);
    this.smooth = smooth;
  }

  protected evaluate(crystal: Crystal, request: Required<ComputeRequest>): Computed {
    const { epsilon: eps, sigma, rc, ro, smooth } = this;
    const rc2 = rc * rc;
    const ro2 = ro * ro;
    const e0 = 4 * eps * ((sigma / rc) ** 12 - (sigma / rc) ** 6);
    return pairSum(
      crystal,
      rc,
      (_zi, _zj, r, out) => {
        const r2 = r * r;
        const c6 = (sigma * sigma / r2) ** 3;
        const c12 = c6 * c6;
        let e = 4 * eps * (c12 - c6);
        let dedr = (-24 * eps * (2 * c12 - c6)) / r;
        if (smooth) {
          // Switch in r² from 1 below ro² to 0 at rc² (ASE's cutoff_function, from Jax-MD).
          if (r2 >= ro2) {
            const w = (rc2 - r2) ** 2 * (rc2 + 2 * r2 - 3 * ro2) / (rc2 - ro2) ** 3;
            const dw = (6 * (rc2 - r2) * (ro2 - r2)) / (rc2 - ro2) ** 3; // d w / d(r²)
            dedr = w * dedr + 2 * r * dw * e;
            e *= w;
          }
        } else {
          e -= e0;
        }
        out[0] = e;
        out[1] = dedr;
      },
      request,
    );
  }
}

/** `new LennardJones(options)`, for chains and the CLI. */
export const lj = (options?: LennardJonesOptions): LennardJones => new LennardJones(options);
