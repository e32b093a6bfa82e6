/**
 * A policy as an optimiser: any function from the atoms' observations to their actions relaxes a
 * structure step by step, yielding the optimisers' record (`step, energy, fmax, forceCalls`) after
 * step 0 (the start) and after every step, as `Optimizer.irun` does, and returning the outcome. Its
 * `Method` form (`policyMethod`) fits the experiment layer's `Method` interface
 * (src/experiment/method.ts; matched structurally here, since envs/ sits below experiment/).
 *
 * Same budget semantics as the optimisers: convergence (max_i |F_i|² < fmax², ASE) is checked at the
 * start and after every step, at most `steps` steps, and `forceCalls` counts the initial call
 * (MACS: one call per step, so forceCalls = steps + 1).
 *
 * @example
 * const mean: Policy = (obs, n) => actor.meanAction(obs, n);          // deterministic (spec pitfall 17)
 * for await (const r of relaxWithPolicy(crystal, ionic(), mean)) console.log(r.step, r.fmax);
 * const method = policyMethod(mean, { name: "macs", options: { policy: "data/macs" } });
 */
import type { Calculator } from "../calculators/calculator.js";
import { TrajectoryWriter, type StepRecord } from "../optimizers/optimizer.js";
import type { Crystal } from "../structure/crystal.js";
import type { MacsParameters } from "./features.js";
import { RelaxationGame } from "./relaxation-game.js";
import type { RelaxationState } from "./state.js";

/** What a policy returns: actions (natoms × 3, in [−1, 1]), or a promise of them. */
export type PolicyActions = Float32Array | ArrayLike<number> | Promise<Float32Array | ArrayLike<number>>;

/**
 * Actions (natoms × 3, in [−1, 1]) for observations (natoms × obsSize). A policy may also carry an
 * asynchronous form, `actAsync`, which `relaxWithPolicy` calls instead of the policy itself: a tensor
 * policy whose plain call reads synchronously (a loaded MACS policy) names there the form that runs on
 * every backend, webgpu in Node included.
 */
export type Policy = ((obs: Float32Array, natoms: number) => PolicyActions) & {
  readonly actAsync?: (obs: Float32Array, natoms: number) => Promise<Float32Array | ArrayLike<number>>;
};

/** A step record, as the experiment layer's `MethodStep`: the mean per-atom reward goes in `info`. */
export interface PolicyStep extends StepRecord {
  info?: Readonly<Record<string, number | string | boolean>>;
}

/** How a relaxation ended, as the experiment layer's `MethodOutcome`. */
export interface PolicyOutcome {
  converged: boolean;
  steps: number;
  forceCalls: number;
  energy: number;
  fmax: number;
  crystal?: Crystal;
}

export interface PolicyRelaxOptions extends Partial<Omit<MacsParameters, "fmax" | "maxSteps">> {
  /** Convergence threshold on the largest per-atom force norm (eV/Å). Default 0.05. */
  fmax?: number;
  /** Largest number of steps. Default 1000. */
  steps?: number;
  /** Extended XYZ file written frame by frame (step 0 first). */
  trajectory?: string;
}

/** Relaxes `crystal` with `policy` in the MACS game, one record per step (step 0 first). */
export async function* relaxWithPolicy(
  crystal: Crystal,
  calculator: Calculator,
  policy: Policy,
  options: PolicyRelaxOptions = {},
): AsyncGenerator<PolicyStep, PolicyOutcome, void> {
  const { fmax = 0.05, steps = 1000, trajectory, ...params } = options;
  const game = new RelaxationGame({ ...params, calculator, fmax, maxSteps: steps });
  const writer = trajectory ? new TrajectoryWriter(trajectory) : undefined;
  let { obs, info } = await game.reset({ crystal });
  const frame = async (state: RelaxationState): Promise<void> => {
    if (writer) await writer.write({ crystal: state.crystal, info: { step: state.step }, energy: state.energy, forces: state.forces });
  };
  await frame(game.state);
  yield { step: 0, energy: info.energy, fmax: info.fmax, forceCalls: info.forceCalls };
  const act = policy.actAsync ?? policy;
  while (!game.state.finished) {
    const n = game.natoms;
    const actions = await act(obs, n);
    if (actions.length !== 3 * n) throw new RangeError(`the policy returned ${actions.length} action components for ${n} atoms (expected ${3 * n})`);
    const r = await game.step(actions);
    obs = r.obs;
    info = r.info;
    await frame(game.state);
    let sum = 0;
    for (const x of r.reward) sum += x;
    yield { step: info.step, energy: info.energy, fmax: info.fmax, forceCalls: info.forceCalls, info: { reward: sum / n } };
  }
  return { converged: info.converged, steps: info.step, forceCalls: info.forceCalls, energy: info.energy, fmax: info.fmax, crystal: game.crystal };
}

/** What the experiment layer's `Budget` gives a method (the fields used here). */
export interface PolicyBudget {
  fmax: number;
  steps: number;
  seed: number;
  index: number;
  trajectory?: string;
  signal?: AbortSignal;
}

/** A policy as the experiment layer's `Method` (structurally). */
export interface PolicyMethod {
  readonly name: string;
  readonly kind: string;
  readonly options: Readonly<Record<string, unknown>>;
  readonly policy: Policy;
  evaluate(crystal: Crystal, calculator: Calculator, budget: PolicyBudget): AsyncGenerator<PolicyStep, PolicyOutcome, void>;
}

export interface PolicyMethodOptions {
  /** Default "macs". */
  name?: string;
  /** How the experiment layer rebuilds it (`registerMethodKind`). Default "policy". */
  kind?: string;
  /** JSON options for config.json. Default {}. */
  options?: Readonly<Record<string, unknown>>;
  /** Game parameters other than the budget's fmax and steps (gMax, cMax, k, ...). */
  params?: Partial<Omit<MacsParameters, "fmax" | "maxSteps">>;
}

/** `policy` as a Method: `evaluate` runs `relaxWithPolicy` under the budget's fmax, steps and trajectory. */
export function policyMethod(policy: Policy, { name = "macs", kind = "policy", options = {}, params = {} }: PolicyMethodOptions = {}): PolicyMethod {
  return {
    name,
    kind,
    options,
    policy,
    evaluate(crystal, calculator, budget) {
      return relaxWithPolicy(crystal, calculator, policy, { ...params, fmax: budget.fmax, steps: budget.steps, trajectory: budget.trajectory });
    },
  };
}
