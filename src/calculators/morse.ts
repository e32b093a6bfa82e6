import type { Crystal } from "../structure/crystal.js";
import { EmbeddedCalculator, positive, type Computed, type ComputeRequest } from "./calculator.js";
import { pairSum } from "./pair-sum.js";

export interface MorseOptions {
  /** Well depth (eV). Default 1. */
  epsilon?: number;
  /** Exponential prefactor; the force constant at the minimum is 2ε(ρ0/r0)². Default 6. */
  rho0?: number;
  /** Position of the minimum (Å). Default 1. */
  r0?: number;
  /** Inner and outer cut-off, in units of r0: a quintic switch between them. Defaults 1.9 and 2.7. */
  rcut1?: number;
  rcut2?: number;
}

/**
 * Morse, E = ε e^{ρ0(1 − r/r0)} (e^{ρ0(1 − r/r0)} − 2) times a C² quintic switch between rcut1·r0 and
 * rcut2·r0, as ASE 3.22's ase.calculators.morse (the switch is JuLIP's).
 */
export class Morse extends EmbeddedCalculator {
  readonly name = "morse";
  readonly epsilon: number;
  readonly rho0: number;
  readonly r0: number;
  readonly rcut1: number;
  readonly rcut2: number;

  constructor({ epsilon = 1, rho0 = 6, r0 = 1, rcut1 = 1.9, rcut2 = 2.7 }: MorseOptions = {}) {
    super();
    this.epsilon = positive("epsilon", epsilon);
    this.rho0 = positive("rho0", rho0);
    this.r0 = positive("r0", r0);
    this.rcut1 = positive("rcut1", rcut1);
    this.rcut2 = positive("rcut2", rcut2);
    if (!(rcut1 < rcut2)) throw new RangeError(`morse: rcut1 (${rcut1}) must be below rcut2 (${rcut2})`);
  }

  protected evaluate(crystal: Crystal, request: Required<ComputeRequest>): Computed {
    const { epsilon, rho0, r0 } = this;
    const r1 = this.rcut1 * r0;
    const r2 = this.rcut2 * r0;
    return pairSum(
      crystal,
      r2,
      (_zi, _zj, r, out) => {
        const x = Math.exp(rho0 * (1 - r / r0));
        const e = epsilon * x * (x - 2);
        const dedr = ((-2 * epsilon * rho0) / r0) * x * (x - 1);
        const s = 1 - (r - r1) / (r2 - r1);
        let fc = 1;
        let dfc = 0;
        if (s < 1) {
          fc = s > 0 ? 6 * s ** 5 - 15 * s ** 4 + 10 * s ** 3 : 0;
          dfc = s > 0 ? -(30 * s ** 4 - 60 * s ** 3 + 30 * s ** 2) / (r2 - r1) : 0;
        }
        out[0] = e * fc;
        out[1] = dedr * fc + e * dfc;
      },
      request,
    );
  }
}

export const morse = (options?: MorseOptions): Morse => new Morse(options);
