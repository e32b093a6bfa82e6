import type { Crystal } from "../structure/crystal.js";
import { elementByNumber } from "../structure/elements.js";
import { kNearest, neighbourList } from "../structure/neighbours.js";
import type { PropertyName, PropertyOptions, PropertyProvider, PropertyResult } from "./property.js";

/**
 * An instant, DFT-free density: the hard-sphere surrogate of CrystalGym's density task, for tests,
 * demos and cheap learning curves. It is **not** QE's density (spec §4 reads it after one vc-relax
 * step); every result carries `surrogate: true`.
 *
 * The model: atoms are hard spheres of their covalent radii (Cordero et al., Dalton Trans. 2008, 2832,
 * the elements table's radii). The crystal's cell is scaled uniformly, atoms with it (fractional
 * coordinates fixed), by the factor s that makes the tightest pair just touch:
 *
 *   s = max over pairs (i, j, image) of (r_i + r_j) / d_ij,   ρ = ρ_cell / s³.
 *
 * The maximum runs over every pair and periodic image (a site's own images too), not only the graph's
 * neighbours, so no pair overlaps in the scaled cell whatever the cut-off. s > 1 expands the cell
 * (big atoms on a small template), s < 1 shrinks it (small atoms on a big one): the density then
 * depends on the species and the template's shape, not on the template's lattice constant, which is
 * what a composition-choosing agent should be rewarded for.
 */
export function analyticDensity(): PropertyProvider {
  return {
    engine: "analytic",
    settings: Object.freeze({ model: "hard-sphere", radii: "covalent (Cordero 2008)" }),
    properties: Object.freeze(["density"] as PropertyName[]),
    evaluate: async (crystal: Crystal, property: PropertyName, options: PropertyOptions = {}): Promise<PropertyResult> =>
      evaluateDensity(crystal, property, options),
  };
}

function evaluateDensity(crystal: Crystal, property: PropertyName, options: PropertyOptions): PropertyResult {
  if (property !== "density") {
    throw new RangeError(`the analytic engine computes only "density", not "${String(property)}"`);
  }
  const t0 = performance.now();
  const base = { property, unit: "g/cm3", engine: "analytic", surrogate: true } as const;
  const seconds = (): number => (performance.now() - t0) / 1000;
  if (options.signal?.aborted) return { ...base, value: null, seconds: seconds(), errorFlag: 4, reason: "aborted before it started" };
  const scale = hardSphereScale(crystal);
  if (!Number.isFinite(scale) || !(scale > 0)) {
    return { ...base, value: null, seconds: seconds(), errorFlag: 3, reason: "two atoms coincide: no hard-sphere scale" };
  }
  return { ...base, value: crystal.density / scale ** 3, seconds: seconds(), errorFlag: 0, details: { scale } };
}

/**
 * The factor s by which the cell must be scaled for the tightest pair of hard spheres (covalent
 * radii) to touch: max over pairs and images of (r_i + r_j)/d_ij. Infinity when two atoms coincide.
 */
export function hardSphereScale(crystal: Crystal): number {
  const n = crystal.natoms;
  if (n === 0) throw new RangeError("hardSphereScale needs at least one atom");
  const radius = Float64Array.from(crystal.numbers, (z) => elementByNumber(z).covalentRadius);
  const rmax = radius.reduce((a, b) => Math.max(a, b), 0);
  // A lower bound from each atom's nearest neighbour; any pair that beats it is closer than 2·rmax/s0.
  const near = kNearest(crystal, 1);
  let s = 0;
  for (let a = 0; a < n; a++) {
    const d = near.distances[a]!;
    if (!(d > 1e-8)) return Infinity;
    s = Math.max(s, (radius[a]! + radius[near.indices[a]!]!) / d);
  }
  if (!(s > 0)) return s; // radii of 0: no finite scale (not a table this project ships)
  const list = neighbourList(crystal, ((2 * rmax) / s) * (1 + 1e-9));
  for (let p = 0; p < list.count; p++) {
    const d = list.distances[p]!;
    if (!(d > 1e-8)) return Infinity;
    s = Math.max(s, (radius[list.i[p]!]! + radius[list.j[p]!]!) / d);
  }
  return s;
}
