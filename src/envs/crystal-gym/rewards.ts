import type { PropertyName } from "../../calculators/property.js";

/**
 * CrystalGym's rewards (spec §4, `compute_reward` of the released code). Pure functions of the
 * property value p, the target p̂ and the engine's error flag. Only the last step of an episode has a
 * reward; every earlier step returns 0 (spec §1.1).
 */

/** Default targets p̂ (spec §4, README/launchers): band gap 1.12 eV (Si-like), 300 GPa, 3.0 g/cm³. */
export const DEFAULT_TARGETS: Readonly<Record<PropertyName, number>> = Object.freeze({
  "band-gap": 1.12,
  "bulk-modulus": 300,
  density: 3.0,
});

/**
 * Rewards of a failed evaluation (errorFlag > 0), spec §4: −1 for band gap and density (below any
 * success, which lies in (0, 1]), −5 for bulk modulus (equal to its floor: failing is no worse than a
 * terrible success).
 */
export const FAILURE_REWARDS: Readonly<Record<PropertyName, number>> = Object.freeze({
  "band-gap": -1,
  "bulk-modulus": -5,
  density: -1,
});

/** The bulk-modulus reward floor (spec §4: `reward_min = −5.0`). */
export const BULK_MODULUS_FLOOR = -5;

/** Band gap: exp(−(p̂ − max(E_g, 0))²), β = 1 (spec §4); a negative gap (metal) counts as 0. */
export function bandGapReward(gap: number, target = DEFAULT_TARGETS["band-gap"]): number {
  const g = Math.max(gap, 0);
  return Math.exp(-((target - g) ** 2));
}

/** Density: exp(−(ρ − p̂)²/β) with β = p̂ by default (spec §4: `dev`; `rainbow`/`eval` use β = 3, the same for p̂ = 3). */
export function densityReward(density: number, target = DEFAULT_TARGETS.density, beta = target): number {
  if (!(beta > 0)) throw new RangeError(`density reward needs β > 0, got ${beta}`);
  return Math.exp(-((density - target) ** 2) / beta);
}

/** Bulk modulus: −|B − p̂|/p̂ floored at −5 (spec §4). */
export function bulkModulusReward(modulus: number, target = DEFAULT_TARGETS["bulk-modulus"], floor = BULK_MODULUS_FLOOR): number {
  if (target === 0) throw new RangeError("bulk-modulus reward needs a non-zero target");
  return Math.max(0 - Math.abs(modulus - target) / target, floor); // 0 − x: +0, not −0, at the target
}

export interface RewardOptions {
  /** p̂; DEFAULT_TARGETS[property] when left out. */
  target?: number;
  /** Density width β; the target when left out. */
  beta?: number;
  /** Bulk-modulus floor; −5 when left out. */
  floor?: number;
  /** The reward of a failure; FAILURE_REWARDS[property] when left out. */
  failure?: number;
}

/**
 * The terminal reward of one evaluation: the property's formula for a success, the failure reward
 * for errorFlag > 0. A "success" without a finite value is treated as a failure, so a broken engine
 * never feeds NaN to a learner.
 */
export function propertyReward(
  property: PropertyName,
  result: { value: number | null; errorFlag: number },
  options: RewardOptions = {},
): number {
  const target = options.target ?? DEFAULT_TARGETS[property];
  const failure = options.failure ?? FAILURE_REWARDS[property];
  if (result.errorFlag !== 0 || result.value === null || !Number.isFinite(result.value)) return failure;
  switch (property) {
    case "band-gap":
      return bandGapReward(result.value, target);
    case "density":
      return densityReward(result.value, target, options.beta ?? target);
    case "bulk-modulus":
      return bulkModulusReward(result.value, target, options.floor ?? BULK_MODULUS_FLOOR);
    default:
      throw new RangeError(`no CrystalGym reward for property "${String(property)}"`);
  }
}
