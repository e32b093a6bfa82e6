import type { Crystal } from "../structure/crystal.js";

/** What a caller asks of a calculator. Energy always comes back. */
export interface ComputeRequest {
  /** Forces on every atom (eV/Å). Default true. */
  forces?: boolean;
  /** Stress in Voigt order xx yy zz yz xz xy (eV/Å³), ASE's sign: (1/V) ∂E/∂ε. Default false. */
  stress?: boolean;
}

export interface Computed {
  /** Total energy (eV). */
  energy: number;
  /** 3N, eV/Å, when requested. */
  forces?: Float64Array;
  /** Voigt 6, eV/Å³, when requested. */
  stress?: Float64Array;
  /** Per-atom energies (eV), where the model defines them. */
  energies?: Float64Array;
}

/** How often a calculator has been called: force calls are the currency of every benchmark. */
export interface CallCounts {
  /** Every call of `compute`. */
  calls: number;
  /** Calls that computed forces. */
  forceCalls: number;
}

/**
 * One interface for every energy model, embedded or external: `compute(crystal, { forces, stress })`
 * in eV, eV/Å and eV/Å³. Each calculator counts its own calls.
 */
export interface Calculator {
  readonly name: string;
  readonly counts: Readonly<CallCounts>;
  compute(crystal: Crystal, request?: ComputeRequest): Promise<Computed>;
  /** Resets `counts` to zero (between benchmark runs). */
  resetCounts(): void;
  /** Releases external resources (child processes); a no-op for embedded models. */
  close?(): Promise<void>;
}

/** A calculator failed, or returned something unusable (a NaN force, a crashed engine). */
export class CalculatorError extends Error {
  override name = "CalculatorError";
  constructor(
    message: string,
    readonly calculator: string,
    readonly atom?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Throws a CalculatorError naming the first atom whose force, or the energy or stress, is not finite. */
export function assertFinite(result: Computed, calculator: string, crystal?: Crystal): void {
  if (!Number.isFinite(result.energy)) {
    throw new CalculatorError(`${calculator}: the energy is ${result.energy}`, calculator);
  }
  const f = result.forces;
  if (f) {
    for (let k = 0; k < f.length; k++) {
      if (!Number.isFinite(f[k]!)) {
        const atom = Math.floor(k / 3);
        const sym = crystal ? ` (${crystal.symbols[atom]})` : "";
        throw new CalculatorError(`${calculator}: the force on atom ${atom}${sym} is not finite (${f[k]})`, calculator, atom);
      }
    }
  }
  if (result.stress && !result.stress.every(Number.isFinite)) {
    throw new CalculatorError(`${calculator}: the stress is not finite`, calculator);
  }
}

/**
 * Base of the models computed in this process: they implement `evaluate` synchronously; the base
 * counts calls, checks the result is finite, and offers `computeSync` for hot loops.
 */
export abstract class EmbeddedCalculator implements Calculator {
  abstract readonly name: string;
  readonly counts: CallCounts = { calls: 0, forceCalls: 0 };

  protected abstract evaluate(crystal: Crystal, request: Required<ComputeRequest>): Computed;

  computeSync(crystal: Crystal, request: ComputeRequest = {}): Computed {
    const req = { forces: request.forces ?? true, stress: request.stress ?? false };
    this.counts.calls++;
    if (req.forces) this.counts.forceCalls++;
    const result = this.evaluate(crystal, req);
    assertFinite(result, this.name, crystal);
    return result;
  }

  async compute(crystal: Crystal, request?: ComputeRequest): Promise<Computed> {
    return this.computeSync(crystal, request);
  }

  resetCounts(): void {
    this.counts.calls = 0;
    this.counts.forceCalls = 0;
  }
}

/** A model parameter that must be a positive finite number; the error names it. */
export function positive(name: string, x: number): number {
  if (!(x > 0) || !Number.isFinite(x)) throw new RangeError(`parameter ${name} must be a positive number, got ${x}`);
  return x;
}
