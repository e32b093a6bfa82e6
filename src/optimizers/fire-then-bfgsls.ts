/**
 * FIRE for up to `fireSteps` steps (default 250), then BFGSLineSearch for the rest of the budget:
 * the GULP-style hybrid of the MACS paper's baselines (FIRE ≤ 250 steps, then BFGSLS ≤ 750;
 * macs-spec §9). One optimiser, one result: both share the point and its cached evaluation, so the
 * switch costs no force call, and the step count is the sum, as running ASE's FIRE(steps=250) and
 * then BFGSLineSearch(steps=750) on the same atoms gives.
 */
import { BFGSLineSearch, type BFGSLineSearchOptions } from "./bfgs-linesearch.js";
import { FIRE, type FireOptions } from "./fire.js";
import { Optimizer, type OptimizerOptions } from "./optimizer.js";

export interface FireThenBFGSLineSearchOptions extends OptimizerOptions {
  /** Steps of FIRE before the switch. Default 250. */
  fireSteps?: number;
  /** FIRE's parameters. */
  fire?: Omit<FireOptions, keyof OptimizerOptions>;
  /** BFGSLineSearch's parameters. */
  bfgsls?: Omit<BFGSLineSearchOptions, keyof OptimizerOptions>;
}

export class FireThenBFGSLineSearch extends Optimizer<FireThenBFGSLineSearchOptions> {
  readonly fireSteps = this.options.fireSteps ?? 250;
  readonly fire = new FIRE(this.target, { ...this.options.fire });
  readonly bfgsls = new BFGSLineSearch(this.target, { ...this.options.bfgsls });

  /** Which algorithm takes the next step. */
  get phase(): "fire" | "bfgsls" {
    return this.nsteps < this.fireSteps ? "fire" : "bfgsls";
  }

  protected async takeStep(forces: Float64Array): Promise<void> {
    const fire = this.phase === "fire";
    const inner = fire ? this.fire : this.bfgsls;
    inner.fmax = this.fmax;
    inner.nsteps = fire ? this.nsteps : this.nsteps - this.fireSteps; // its own count, as ASE's second run starts at 0
    await inner.step(forces);
  }
}
