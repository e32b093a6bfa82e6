/**
 * Non-linear conjugate gradients, Polak–Ribière with the "+" restart (β = max(0, β_PR)), as SciPy
 * 1.10's fmin_cg driven by ASE's SciPyFminCG (ase/optimize/sciopt.py): energy and gradient are
 * divided by alpha = 70; each step is one CG iteration whose line search is SciPy's
 * (`lineSearchWolfe12`: MINPACK's dcsrch with c1 = 1e-4, c2 = 0.4, falling back to the
 * bracketing/zoom search), with Gilbert & Nocedal's sufficient-descent test on the new direction
 * (SIAM J. Optim. 2, 21, 1992). Several force calls per step.
 *
 * As in ASE, convergence is judged at the last point the line search evaluated (ASE's callback
 * reads the forces of the atoms as the search left them), which is the accepted point except
 * after a fallback search. A failed line search is an OptimizerError (ASE raises
 * OptimizerConvergenceError).
 */
import { along, lineSearchWolfe12, LineSearchError, scaledEnergy, scaledGradient } from "./line-search.js";
import { dot, Optimizer, OptimizerError, type OptimizerOptions } from "./optimizer.js";

export interface CGOptions extends OptimizerOptions {
  /** Energy and forces are divided by this (eV/Å²), as SciPy starts from a unit Hessian. Default 70. */
  alpha?: number;
}

/** One CG iterate: point, gradient, direction, and the (scaled) energies of this and the previous point. */
interface Iterate {
  xk: Float64Array;
  gfk: Float64Array;
  pk: Float64Array;
  oldFval: number;
  oldOldFval: number;
}

export class CG extends Optimizer<CGOptions> {
  readonly alpha = this.options.alpha ?? 70;
  private it?: Iterate;

  protected async takeStep(): Promise<void> {
    const it = (this.it ??= await this.start());
    const { xk, gfk, pk } = it;
    const n = xk.length;
    // ASE asks SciPy for gtol = 0.1·fmax/alpha in the max norm, which its own fmax test always beats.
    const gtol = (0.1 * this.fmax) / this.alpha;
    const deltak = dot(gfk, gfk);
    const sigma3 = 0.01;

    /** SciPy's polak_ribiere_powell_step, given the gradient at xk + alpha·pk. */
    const prp = (alpha: number, g: Float64Array): Iterate & { alpha: number; gnorm: number } => {
      let yg = 0;
      for (let k = 0; k < n; k++) yg += (g[k]! - gfk[k]!) * g[k]!;
      const beta = Math.max(0, yg / deltak);
      const p = new Float64Array(n);
      let gnorm = 0;
      for (let k = 0; k < n; k++) {
        p[k] = -g[k]! + beta * pk[k]!;
        gnorm = Math.max(gnorm, Math.abs(g[k]!));
      }
      return { alpha, xk: along(xk, pk, alpha), gfk: g, pk: p, gnorm, oldFval: 0, oldOldFval: 0 };
    };
    // SciPy's descent_condition (Polak–Ribière+ needs it: strong Wolfe does not guarantee descent);
    // it keeps the iterate it computed, reused when the search accepts this step.
    let cached: ReturnType<typeof prp> | undefined;
    const descent = (alpha: number, _x: Float64Array, _f: number, g: Float64Array): boolean => {
      cached = prp(alpha, g);
      if (cached.gnorm <= gtol) return true;
      return dot(cached.pk, g) <= -sigma3 * dot(g, g);
    };

    let found;
    try {
      found = await lineSearchWolfe12(
        (x) => this.func(x),
        (x) => this.fprime(x),
        xk,
        pk,
        gfk,
        it.oldFval,
        it.oldOldFval,
        { c2: 0.4, amin: 1e-100, amax: 1e100, extraCondition: descent },
      );
    } catch (e) {
      if (e instanceof LineSearchError) {
        throw new OptimizerError(`${this.name}: desired error not necessarily achieved due to precision loss (${e.message})`, this.name, this.nsteps, undefined, { cause: e });
      }
      throw e;
    }
    const next =
      cached && found.alpha === cached.alpha
        ? cached
        : prp(found.alpha, found.gval ?? (await this.fprime(along(xk, pk, found.alpha))));
    this.it = { xk: next.xk, gfk: next.gfk, pk: next.pk, oldFval: found.fval!, oldOldFval: found.oldFval };
  }

  /** SciPy's start: f and g at x0, the first direction -g, and a fictitious previous value for dx ~ 1. */
  private async start(): Promise<Iterate> {
    const xk = this.target.getPositions();
    const oldFval = await this.func(xk);
    const gfk = await this.fprime(xk);
    return { xk, gfk, pk: gfk.map((g) => -g), oldFval, oldOldFval: oldFval + Math.sqrt(dot(gfk, gfk)) / 2 };
  }

  /** Energy / alpha at x. */
  private func(x: Float64Array): Promise<number> {
    return scaledEnergy(this.target, x, this.alpha);
  }

  /** Gradient of energy / alpha at x. */
  private fprime(x: Float64Array): Promise<Float64Array> {
    return scaledGradient(this.target, x, this.alpha);
  }
}
