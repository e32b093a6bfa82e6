/**
 * A hand-written per-atom policy for the relaxation game: each atom takes a Barzilai–Borwein step
 * (Barzilai & Borwein, IMA J. Numer. Anal. 8, 141 (1988)) from its own last move and gradient change,
 * both already in its observation: s_i = (d·d)/(d·Δg) when the curvature along d is positive, else
 * `initialStep`; the displacement −s_i g_i becomes u = −s_i g_i / c_i, clipped to the action box.
 *
 * It is the teacher of MACS training's imitation phase (src/rl/macs.ts): SAC from scratch within this
 * project's budget learned a bang-bang policy (|u| ≈ 1.6, every atom moving 0.4 Å per component per
 * step, never converging), while this policy relaxes every random 40-atom oxide tried (250–450 steps).
 * It reads only the atom's own 12 features, so it is a function of the observation like any policy.
 */
import { FEATURE_SLOTS } from "./features.js";
import { observationSize } from "./observation.js";

export interface TeacherOptions {
  /** Step length (Å²/eV) before a curvature is known: 0.02 (a 50 eV/Å² spring). */
  initialStep?: number;
  /** Bounds of the step length (Å²/eV). */
  minStep?: number;
  maxStep?: number;
  /** Neighbours in the observation (12: obs length 204). */
  k?: number;
}

/** The teacher as a policy: raw observations (natoms rows) → actions in [−1, 1]³ per atom. */
export function barzilaiBorweinPolicy(options: TeacherOptions = {}): (obs: Float32Array, natoms: number) => Float32Array {
  const { initialStep = 0.02, minStep = 0.005, maxStep = 0.1, k = 12 } = options;
  const size = observationSize(k);
  const { c: C, g: G, d: D, dg: DG } = FEATURE_SLOTS;
  return (obs, natoms) => {
    if (obs.length !== natoms * size) throw new RangeError(`teacher: ${obs.length} values for ${natoms} atoms of ${size}`);
    const u = new Float32Array(3 * natoms);
    for (let i = 0; i < natoms; i++) {
      const o = i * size;
      let dd = 0;
      let ddg = 0;
      for (let q = 0; q < 3; q++) {
        dd += obs[o + D + q]! * obs[o + D + q]!;
        ddg += obs[o + D + q]! * obs[o + DG + q]!;
      }
      const s = Math.min(maxStep, Math.max(minStep, dd > 1e-12 && ddg > 0 ? dd / ddg : initialStep));
      const c = obs[o + C]!;
      for (let q = 0; q < 3; q++) {
        const x = c > 0 ? (-s * obs[o + G + q]!) / c : 0;
        u[3 * i + q] = x > 1 ? 1 : x < -1 ? -1 : x;
      }
    }
    return u;
  };
}
