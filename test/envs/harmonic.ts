/**
 * A test energy model: every atom tied by a spring of stiffness `k` (eV/Å²) to its own reference
 * point, E = ½ k Σ |Δ_i|² with Δ_i the minimum-image offset from the reference, F_i = −k Δ_i.
 * Atoms do not interact, so a step's effect on each atom's force is known by hand.
 */
import { EmbeddedCalculator, type Computed, type ComputeRequest } from "../../src/calculators/calculator.js";
import type { Crystal } from "../../src/structure/crystal.js";

export class Harmonic extends EmbeddedCalculator {
  readonly name = "harmonic";

  constructor(
    readonly reference: Float64Array,
    readonly k = 1,
  ) {
    super();
  }

  protected evaluate(crystal: Crystal, _request: Required<ComputeRequest>): Computed {
    const n = crystal.natoms;
    const lat = crystal.lattice;
    const diff = new Float64Array(3 * n);
    for (let q = 0; q < 3 * n; q++) diff[q] = crystal.positions[q]! - this.reference[q]!;
    const frac = lat.toFractional(diff).map((x) => x - Math.round(x));
    const delta = lat.toCartesian(frac);
    let energy = 0;
    const forces = new Float64Array(3 * n);
    for (let q = 0; q < 3 * n; q++) {
      energy += 0.5 * this.k * delta[q]! ** 2;
      forces[q] = -this.k * delta[q]!;
    }
    return { energy, forces };
  }
}
