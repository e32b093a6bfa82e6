/**
 * The MACS relaxation game for one structure, with Gymnasium's contract (macs-spec §1–§5):
 * `reset({ seed })` → `{ obs, info }`, `step(actions)` → `{ obs, reward, terminated, truncated, info }`.
 * Agents are rows: `obs` is N × obsSize (204 for k = 12), `actions` N × 3 in [−1, 1], `reward` N
 * (PettingZoo's parallel game as typed arrays). `terminated` is success (fmax below 0.05 eV/Å on the
 * real forces); `truncated` is the 1000-step cap, kept apart so that a learner bootstraps through it.
 *
 * Every reset costs one force call and every step exactly one more (spec §1: MACS's N = C);
 * `info.forceCalls` counts them. Steps use the calculator's `computeSync` when it has one (`stepSync`
 * requires it), `compute` otherwise.
 *
 * @example
 * const game = new RelaxationGame({ calculator: ionic(), source: randomSource({ composition: "SrTiO3", atoms: 40 }) });
 * let { obs, info } = game.resetSync({ seed: 1 });
 * for (;;) {
 *   const r = game.stepSync(policy(obs, info.natoms));
 *   obs = r.obs;
 *   if (r.terminated || r.truncated) break;
 * }
 *
 * Departures from the paper (all LOW points of the spec, written down here):
 * - g is the gradient −F (the paper's word; the spec lets either sign be chosen).
 * - log|g| is floored at `logEpsilon` = 1e-8 in the feature and the reward (spec pitfall 14).
 * - d^{-1} = 0 and Δg = 0 at t = 0 (spec pitfall 15).
 * - Actions outside [−1, 1] are clamped to the box (a tanh policy never produces them).
 * - Observations are raw: the per-component running normalisation (spec §2.2) belongs to the learner
 *   (src/rl), whose statistics are frozen and saved with the policy.
 */
import type { Calculator } from "../calculators/calculator.js";
import type { Crystal } from "../structure/crystal.js";
import { Rng } from "../structure/random-source.js";
import { macsParameters, type MacsParameters } from "./features.js";
import { observationSize } from "./observation.js";
import type { CrystalSource } from "./sources.js";
import { evaluate, evaluateSync, RelaxationState, type RelaxationInfo } from "./state.js";

export interface RelaxationGameOptions extends Partial<MacsParameters> {
  calculator: Calculator;
  /** The structure a reset starts from (evaluation), unless `reset({ crystal })` passes another. */
  crystal?: Crystal;
  /** Fresh structures (training): `reset({ seed })` draws from the stream of `seed`. */
  source?: CrystalSource;
}

export interface GameReset {
  /** N × obsSize. */
  obs: Float32Array;
  info: RelaxationInfo;
}

export interface GameStep {
  /** N × obsSize, after the step. */
  obs: Float32Array;
  /** Per atom: log|g_i^t| − log|g_i^{t+1}|. */
  reward: Float32Array;
  /** Success (max_i |F_i| < fmax), or a blow-up past `blowUpFmax` (training only; `info.blownUp`). */
  terminated: boolean;
  /** The step cap reached without success. */
  truncated: boolean;
  info: RelaxationInfo;
}

export interface ResetOptions {
  /** Reseeds the stream the source draws from (Gymnasium's `reset(seed=)`); later resets continue it. */
  seed?: number;
  /** Start from this structure instead. */
  crystal?: Crystal;
}

export class RelaxationGame {
  readonly params: MacsParameters;
  readonly calculator: Calculator;
  private readonly fixed?: Crystal;
  private readonly source?: CrystalSource;
  private rng = new Rng(0);
  private episode = 0;
  private current?: RelaxationState;

  constructor(options: RelaxationGameOptions) {
    const { calculator, crystal, source, ...params } = options;
    this.params = macsParameters(params);
    this.calculator = calculator;
    this.fixed = crystal;
    this.source = source;
  }

  /** Numbers per atom in an observation (204 for k = 12). */
  get obsSize(): number {
    return observationSize(this.params.k);
  }

  /** The episode's state (a RangeError before the first reset). */
  get state(): RelaxationState {
    if (!this.current) throw new RangeError("call reset() first");
    return this.current;
  }

  get natoms(): number {
    return this.state.natoms;
  }

  /** The current structure. */
  get crystal(): Crystal {
    return this.state.crystal;
  }

  async reset(options: ResetOptions = {}): Promise<GameReset> {
    const state = new RelaxationState(this.pick(options), this.params);
    state.start(await evaluate(this.calculator, state.crystal));
    return this.started(state);
  }

  /** `reset` with the calculator's `computeSync`. */
  resetSync(options: ResetOptions = {}): GameReset {
    const state = new RelaxationState(this.pick(options), this.params);
    state.start(evaluateSync(this.calculator, state.crystal));
    return this.started(state);
  }

  async step(actions: ArrayLike<number>): Promise<GameStep> {
    const state = this.ready(actions);
    const next = state.move(actions);
    return this.stepped(state, await evaluate(this.calculator, next));
  }

  /** `step` with the calculator's `computeSync`. */
  stepSync(actions: ArrayLike<number>): GameStep {
    const state = this.ready(actions);
    const next = state.move(actions);
    return this.stepped(state, evaluateSync(this.calculator, next));
  }

  private pick({ seed, crystal }: ResetOptions): Crystal {
    if (seed !== undefined) {
      this.rng = new Rng(seed);
      this.episode = 0;
    }
    if (crystal) return crystal;
    if (this.source) return this.source(this.rng.fork(this.episode++));
    if (this.fixed) return this.fixed;
    throw new RangeError("RelaxationGame needs a crystal: pass one to the constructor or to reset(), or give a source");
  }

  private started(state: RelaxationState): GameReset {
    this.current = state;
    const obs = new Float32Array(state.natoms * state.obsSize);
    state.observe(obs);
    return { obs, info: state.info() };
  }

  private ready(actions: ArrayLike<number>): RelaxationState {
    const state = this.state;
    if (state.finished) throw new RangeError(`the episode is over (${state.converged ? "converged" : state.blownUp ? "blown up" : "truncated"} at step ${state.step}): call reset()`);
    if (actions.length !== 3 * state.natoms) throw new RangeError(`expected ${3 * state.natoms} action components (3 per atom), got ${actions.length}`);
    return state;
  }

  private stepped(state: RelaxationState, computed: Parameters<RelaxationState["advance"]>[0]): GameStep {
    const reward = new Float32Array(state.natoms);
    state.advance(computed, reward);
    const obs = new Float32Array(state.natoms * state.obsSize);
    state.observe(obs);
    return { obs, reward, terminated: state.converged || state.blownUp, truncated: state.truncated, info: state.info() };
  }
}
