/**
 * A policy relaxing a whole test set in lockstep: `relaxBatchWithPolicy` puts every structure in one
 * `RelaxationBatch` (evaluation mode, `autoReset: false`), calls the policy ONCE per step for the atoms
 * of all structures still relaxing, and steps them together: one force call per structure
 * (`forces: "each"`) or one call of the calculator's batched TensorFlow.js twin for all of them
 * (`forces: "batched"`: ionic and lj; meant for a GPU backend). It returns, per structure, the outcome
 * `relaxWithPolicy` returns for it alone (`converged, steps, forceCalls, energy, fmax, crystal`), plus
 * the wall time until that structure finished.
 *
 * Same game and budget as `relaxWithPolicy`: the MACS parameters (gMax, cMax, k, ...) pass through,
 * `fmax` (default 0.05) and `steps` (alias `maxSteps`, default 1000). With `forces: "each"` and a
 * policy that acts on each atom's row alone, every structure's trajectory is the one `relaxWithPolicy`
 * gives, number for number. With "batched" the forces are float32, so trajectories agree to float32 at
 * first and may drift apart later (a chaotic relaxation amplifies the difference).
 *
 * Once some structures are done, only the rows of the others go to the policy (the policy is per atom,
 * so this changes nothing but the work); the batch still takes (and ignores) actions for done rows.
 *
 * @example
 * const policy = await loadMacsPolicy("data/policies/macs-ionic");
 * const out = await relaxBatchWithPolicy(crystals, ionic(), policy, { forces: "batched" });
 * console.log(out.map((o) => [o.converged, o.steps]));
 */
import type { BatchOptions } from "../calculators/batched/index.js";
import type { Calculator } from "../calculators/calculator.js";
import type { Crystal } from "../structure/crystal.js";
import { RelaxationBatch, type BatchStep } from "./batch.js";
import type { MacsParameters } from "./features.js";
import type { Policy, PolicyOutcome } from "./policy.js";

export interface BatchRelaxOptions extends Partial<Omit<MacsParameters, "fmax" | "maxSteps">> {
  /** "each" (default): one calculator call per structure and step; "batched": one call of the batched twin. */
  forces?: "each" | "batched";
  /** Convergence threshold on the largest per-atom force norm (eV/Å). Default 0.05. */
  fmax?: number;
  /** Largest number of steps per structure. Default 1000 (as `relaxWithPolicy`'s `steps`). */
  steps?: number;
  /** Alias of `steps` (the game's name); `steps` wins when both are given. */
  maxSteps?: number;
  /** Options of the batched twin (`forces: "batched"` only). */
  batchOptions?: BatchOptions;
  /** Called after every lockstep step (e.g. progress); `active` structures still relaxing after it. */
  onStep?: (progress: BatchRelaxProgress) => void;
}

export interface BatchRelaxProgress {
  /** Lockstep steps so far. */
  step: number;
  /** Structures still relaxing after this step. */
  active: number;
  /** The batch's step result (per-structure infos, timing of the force calls). */
  result: BatchStep;
  /** Milliseconds of this step's policy call. */
  policyMs: number;
}

/** `relaxWithPolicy`'s outcome for one structure of the batch. */
export interface BatchRelaxOutcome extends PolicyOutcome {
  crystal: Crystal;
  /** The structure blew up (only with a finite `blowUpFmax`; a failure, as not converged). */
  blownUp: boolean;
  /** Wall seconds from the start of the batch (its first force calls included) until this structure finished. */
  seconds: number;
}

/**
 * Relaxes `crystals` together with `policy` (its `actAsync` when it has one), until each converged,
 * blew up or used its steps; outcomes in the order of `crystals`.
 */
export async function relaxBatchWithPolicy(
  crystals: readonly Crystal[],
  calculator: Calculator,
  policy: Policy,
  options: BatchRelaxOptions = {},
): Promise<BatchRelaxOutcome[]> {
  const { forces = "each", fmax = 0.05, steps: stepsOption, maxSteps, batchOptions, onStep, ...params } = options;
  const steps = stepsOption ?? maxSteps ?? 1000;
  if (crystals.length === 0) return [];
  const t0 = performance.now();
  const batch = await RelaxationBatch.create({ ...params, calculator, structures: crystals, autoReset: false, forces, fmax, maxSteps: steps, batchOptions });
  try {
    const seconds = new Float64Array(batch.size);
    const t1 = (performance.now() - t0) / 1000;
    for (let s = 0; s < batch.size; s++) if (batch.done[s]) seconds[s] = t1;
    const act = policy.actAsync ?? policy;
    const obsSize = batch.obsSize;
    let step = 0;
    while (!batch.allDone) {
      const { offsets, totalAtoms, obs, done } = batch;
      const tp = performance.now();
      let actions: ArrayLike<number>;
      if (done.every((x) => x === 0)) {
        actions = await act(obs, totalAtoms);
        if (actions.length !== 3 * totalAtoms) throw new RangeError(`the policy returned ${actions.length} action components for ${totalAtoms} atoms (expected ${3 * totalAtoms})`);
      } else {
        // Only the rows of structures still relaxing; done rows get zeros (ignored by the batch).
        const live: number[] = [];
        let n = 0;
        for (let s = 0; s < batch.size; s++) {
          if (!done[s]) {
            live.push(s);
            n += offsets[s + 1]! - offsets[s]!;
          }
        }
        const rows = new Float32Array(n * obsSize);
        let at = 0;
        for (const s of live) {
          const part = obs.subarray(offsets[s]! * obsSize, offsets[s + 1]! * obsSize);
          rows.set(part, at);
          at += part.length;
        }
        const some = await act(rows, n);
        if (some.length !== 3 * n) throw new RangeError(`the policy returned ${some.length} action components for ${n} atoms (expected ${3 * n})`);
        const full = new Float32Array(3 * totalAtoms);
        at = 0;
        for (const s of live) {
          const len = 3 * (offsets[s + 1]! - offsets[s]!);
          for (let j = 0; j < len; j++) full[3 * offsets[s]! + j] = some[at + j]!;
          at += len;
        }
        actions = full;
      }
      const policyMs = performance.now() - tp;
      const r = await batch.step(actions);
      step++;
      const now = (performance.now() - t0) / 1000;
      let active = 0;
      for (let s = 0; s < batch.size; s++) {
        if (r.active[s] && batch.done[s]) seconds[s] = now;
        if (!batch.done[s]) active++;
      }
      onStep?.({ step, active, result: r, policyMs });
    }
    return crystals.map((_, s) => {
      const info = batch.info(s);
      return {
        converged: info.converged,
        steps: info.step,
        forceCalls: info.forceCalls,
        energy: info.energy,
        fmax: info.fmax,
        crystal: batch.crystal(s),
        blownUp: info.blownUp,
        seconds: seconds[s]!,
      };
    });
  } finally {
    batch.dispose();
  }
}
