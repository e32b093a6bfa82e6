import type { Crystal } from "../structure/crystal.js";

/**
 * Materials properties computed by an engine (DFT or a surrogate): the rewards of CrystalGym and the
 * `crystal-rl property` command. Units at this boundary: eV, GPa, g/cm³.
 */
export type PropertyName = "band-gap" | "bulk-modulus" | "density";

export const PROPERTY_UNITS: Readonly<Record<PropertyName, "eV" | "GPa" | "g/cm3">> = Object.freeze({
  "band-gap": "eV",
  "bulk-modulus": "GPa",
  density: "g/cm3",
});

/**
 * Why a property could not be computed. The numbers follow CrystalGym's `error_flag` (spec §1.1,
 * §9.3): 0 ok, 1 SCF not converged or the engine failed, 2 "charge is wrong" / unparsable output,
 * 3 other, 4 wall-clock timeout (which the released code lacks).
 */
export type ErrorFlag = 0 | 1 | 2 | 3 | 4;

export interface PropertyResult {
  property: PropertyName;
  /** The value in eV, GPa or g/cm³; null when the engine failed (errorFlag > 0). */
  value: number | null;
  unit: "eV" | "GPa" | "g/cm3";
  /** The engine that produced it ("qe", "gpaw", "analytic"). */
  engine: string;
  /** Wall-clock seconds the engine took (0 for a cache hit is the cache's business, not the engine's). */
  seconds: number;
  errorFlag: ErrorFlag;
  /** A one-line reason when errorFlag > 0 (the engine's own message where there is one). */
  reason?: string;
  /** True for a surrogate (not DFT): every table that shows it must say so. */
  surrogate?: boolean;
  /** Engine-specific details worth keeping (energies of an E-V series, k-mesh, pseudopotential files). */
  details?: Record<string, unknown>;
}

export interface PropertyOptions {
  /** Cancels a running engine (the result is then a failure with errorFlag 4 or 3, never a throw). */
  signal?: AbortSignal;
}

/**
 * Something that computes a property of a crystal. Engine failures come back as results with
 * errorFlag > 0, never as exceptions, so a training loop never dies of a bad composition; exceptions
 * are kept for misuse (an unknown property, an engine that is not installed).
 */
export interface PropertyProvider {
  /** "qe", "gpaw", "analytic". */
  readonly engine: string;
  /** The settings that change the numbers (cut-offs, k density, pseudopotential set, ...): the cache key. */
  readonly settings: Readonly<Record<string, unknown>>;
  /** Which properties it can compute. */
  readonly properties: readonly PropertyName[];
  evaluate(crystal: Crystal, property: PropertyName, options?: PropertyOptions): Promise<PropertyResult>;
  close?(): Promise<void>;
}
