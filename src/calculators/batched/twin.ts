/** The batched twins of the TypeScript calculators (for RelaxationBatch's `forces: "batched"`). */
import type { Calculator } from "../calculator.js";
import { Ionic } from "../ionic.js";
import { LennardJones } from "../lj.js";
import type { Crystal } from "../../structure/crystal.js";
import type { BatchedModel, BatchOptions } from "./batch.js";
import { BatchedIonic } from "./ionic-batch.js";
import { BatchedLennardJones } from "./lj-batch.js";

/** Whether `calculator` has a batched twin (`batchedTwin`): the ionic and Lennard-Jones models. */
export function hasBatchedTwin(calculator: Calculator): boolean {
  return calculator instanceof Ionic || calculator instanceof LennardJones;
}

/**
 * The batched model of `crystals` with the same settings as `calculator` (ionic(): cut-off, shift, Fe
 * state, Ewald options; lj(): ε, σ, rc, ro, smooth); a RangeError for a calculator without a twin.
 */
export function batchedTwin(calculator: Calculator, crystals: readonly Crystal[], options: BatchOptions = {}): BatchedModel {
  if (calculator instanceof Ionic) {
    const { cutoff, shift, iron, ewaldOptions } = calculator;
    return new BatchedIonic(crystals, { ...ewaldOptions, cutoff, shift, iron, ...options });
  }
  if (calculator instanceof LennardJones) {
    const { epsilon, sigma, rc, ro, smooth } = calculator;
    return new BatchedLennardJones(crystals, { epsilon, sigma, rc, ro, smooth, ...options });
  }
  throw new RangeError(`${calculator.name} has no batched twin (the ionic and lj models have one)`);
}
