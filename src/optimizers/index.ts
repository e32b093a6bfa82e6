/**
 * The classical optimisers that RL must beat (macs-spec §9), one file each, and a registry by the
 * names the CLI and the experiment builders use:
 *
 * ```ts
 * const result = await fire().create(crystal, emt()).run({ fmax: 0.05, steps: 1000 });
 * const relaxedCell = await optimizerFromName("bfgs", { cell: true }).create(crystal, emt()).run();
 * ```
 */
import type { Calculator } from "../calculators/calculator.js";
import { Crystal } from "../structure/crystal.js";
import { BFGS, type BFGSOptions } from "./bfgs.js";
import { BFGSLineSearch, type BFGSLineSearchOptions } from "./bfgs-linesearch.js";
import { CG, type CGOptions } from "./cg.js";
import { FrechetCellFilter, type FrechetCellFilterOptions } from "./cell-filter.js";
import { FIRE, type FireOptions } from "./fire.js";
import { FireThenBFGSLineSearch, type FireThenBFGSLineSearchOptions } from "./fire-then-bfgsls.js";
import { LBFGS, type LBFGSOptions } from "./lbfgs.js";
import { MDMin, type MDMinOptions } from "./mdmin.js";
import { OptimizableAtoms, type Optimizable, type Optimizer, type OptimizerOptions } from "./optimizer.js";

export * from "./optimizer.js";
export * from "./line-search.js";
export * from "./fire.js";
export * from "./bfgs.js";
export * from "./lbfgs.js";
export * from "./bfgs-linesearch.js";
export * from "./cg.js";
export * from "./mdmin.js";
export * from "./fire-then-bfgsls.js";
export * from "./cell-filter.js";

/** Relax the cell too: `true` for a FrechetCellFilter with its defaults, or its options. */
export interface CellOption {
  cell?: boolean | FrechetCellFilterOptions;
}

/** An optimiser with its options, not yet bound to a structure: what a benchmark takes a list of. */
export interface OptimizerSpec<O extends OptimizerOptions = OptimizerOptions> {
  /** The registry name (`fire`, `bfgsls`, ...). */
  readonly name: OptimizerName;
  readonly options: O & CellOption;
  /** The optimiser for `crystal` under `calculator` (a FrechetCellFilter around it if `cell`), or for an Optimizable. */
  create(system: Crystal | Optimizable, calculator?: Calculator): Optimizer<O>;
}

type Ctor<O extends OptimizerOptions> = new (target: Optimizable, options?: O) => Optimizer<O>;

function spec<O extends OptimizerOptions>(name: OptimizerName, cls: Ctor<O>, options: O & CellOption): OptimizerSpec<O> {
  const { cell, ...rest } = options;
  return {
    name,
    options,
    create(system, calculator) {
      let target: Optimizable;
      if (system instanceof Crystal) {
        if (!calculator) throw new TypeError(`${name}: a crystal needs a calculator`);
        target = cell ? new FrechetCellFilter(system, calculator, cell === true ? {} : cell) : new OptimizableAtoms(system, calculator);
      } else {
        target = system;
      }
      return new cls(target, rest as O);
    },
  };
}

export const fire = (options: FireOptions & CellOption = {}): OptimizerSpec<FireOptions> => spec("fire", FIRE, options);
export const bfgs = (options: BFGSOptions & CellOption = {}): OptimizerSpec<BFGSOptions> => spec("bfgs", BFGS, options);
export const lbfgs = (options: LBFGSOptions & CellOption = {}): OptimizerSpec<LBFGSOptions> => spec("lbfgs", LBFGS, options);
export const bfgsLineSearch = (options: BFGSLineSearchOptions & CellOption = {}): OptimizerSpec<BFGSLineSearchOptions> =>
  spec("bfgsls", BFGSLineSearch, options);
export const cg = (options: CGOptions & CellOption = {}): OptimizerSpec<CGOptions> => spec("cg", CG, options);
export const mdmin = (options: MDMinOptions & CellOption = {}): OptimizerSpec<MDMinOptions> => spec("mdmin", MDMin, options);
export const fireThenBfgsLineSearch = (
  options: FireThenBFGSLineSearchOptions & CellOption = {},
): OptimizerSpec<FireThenBFGSLineSearchOptions> => spec("fire+bfgsls", FireThenBFGSLineSearch, options);

/** The registry's names, as the CLI takes them. */
export type OptimizerName = "fire" | "bfgs" | "lbfgs" | "bfgsls" | "cg" | "mdmin" | "fire+bfgsls";

type Options = Record<string, unknown>;

/** The registry: CLI name -> factory and a one-line summary. Options are checked by nothing here: typed callers use the factories. */
export const OPTIMIZERS: Readonly<Record<OptimizerName, { make: (options: Options) => OptimizerSpec; summary: string }>> = {
  fire: { make: (o) => fire(o as FireOptions), summary: "FIRE (ASE's defaults: dt 0.1, dtmax 1, maxstep 0.2 on the whole step)" },
  bfgs: { make: (o) => bfgs(o as BFGSOptions), summary: "BFGS on an explicit Hessian (alpha 70, maxstep 0.2 per atom)" },
  lbfgs: { make: (o) => lbfgs(o as LBFGSOptions), summary: "L-BFGS (memory 100, alpha 70, maxstep 0.2)" },
  bfgsls: {
    make: (o) => bfgsLineSearch(o as BFGSLineSearchOptions),
    summary: "BFGS with a Wolfe line search (ASE's BFGSLineSearch / QuasiNewton)",
  },
  cg: { make: (o) => cg(o as CGOptions), summary: "Polak-Ribiere+ conjugate gradients (SciPy's fmin_cg via ASE's SciPyFminCG)" },
  mdmin: { make: (o) => mdmin(o as MDMinOptions), summary: "MDMin: damped velocity Verlet (dt 0.2, maxstep 0.2)" },
  "fire+bfgsls": {
    make: (o) => fireThenBfgsLineSearch(o as FireThenBFGSLineSearchOptions),
    summary: "FIRE for up to 250 steps, then BFGSLineSearch",
  },
};

/** The names `optimizerFromName` accepts, with a line each. */
export function optimizerNames(): { name: OptimizerName; summary: string }[] {
  return (Object.keys(OPTIMIZERS) as OptimizerName[]).map((name) => ({ name, summary: OPTIMIZERS[name].summary }));
}

/** An optimiser spec from its name and options. Throws a RangeError listing the names when `name` is unknown. */
export function optimizerFromName(name: string, options: Record<string, unknown> = {}): OptimizerSpec {
  if (!Object.hasOwn(OPTIMIZERS, name)) {
    throw new RangeError(`unknown optimizer "${name}": use one of ${Object.keys(OPTIMIZERS).join(", ")}`);
  }
  return OPTIMIZERS[name as OptimizerName].make(options);
}
