/**
 * Line searches for the Wolfe conditions along a direction pk from xk:
 *
 * - `LineSearch`: ASE 3.22's (ase/utils/linesearch.py), used by BFGSLineSearch: Moré–Thuente's
 *   safeguarded cubic steps (MINPACK-2's dcsrch) with ASE's changes: no modified function in the
 *   first stage, and every trial step limited so that no row of pk·Δstp is longer than `maxstep`.
 * - `lineSearchWolfe12`: SciPy 1.10's `_line_search_wolfe12`, used by fmin_cg: MINPACK-2's dcsrch
 *   (`scalarSearchWolfe1`), falling back to Nocedal & Wright's bracketing and zoom
 *   (`scalarSearchWolfe2`, Numerical Optimization, 1999, algorithms 3.5 and 3.6).
 *
 * Moré & Thuente, "Line search algorithms with guaranteed sufficient decrease", ACM TOMS 20, 286 (1994).
 * Branches are kept as in the sources, quirks included (each noted), so that step counts match.
 */
import { dot, type Optimizable } from "./optimizer.js";

/** A function of the point; async because a calculator computes it. */
export type PointFunction<T> = (x: Float64Array) => Promise<T>;

/** xk + stp·pk, computed the same way everywhere so that repeated points hit the calculator cache. */
/** Energy / alpha of `target` at x: the objective ASE's line-search optimisers minimise. */
export async function scaledEnergy(target: Optimizable, x: Float64Array, alpha: number): Promise<number> {
  target.setPositions(x);
  return (await target.evaluate()).energy / alpha;
}

/** Gradient of energy / alpha of `target` at x (minus the forces over alpha). */
export async function scaledGradient(target: Optimizable, x: Float64Array, alpha: number): Promise<Float64Array> {
  target.setPositions(x);
  return (await target.evaluate()).forces.map((f) => -f / alpha);
}

export function along(xk: Float64Array, pk: Float64Array, stp: number): Float64Array {
  const x = new Float64Array(xk.length);
  for (let k = 0; k < x.length; k++) x[k] = xk[k]! + stp * pk[k]!;
  return x;
}

// ---------------------------------------------------------------------------------------------
// MINPACK-2's dcstep: a safeguarded step and the update of the interval that brackets a minimiser

/** stx: best step so far (fx, dx its function and derivative); sty: the other end of the interval. */
interface Interval {
  stx: number;
  fx: number;
  dx: number;
  sty: number;
  fy: number;
  dy: number;
  brackt: boolean;
}

/** Updates `iv` with the trial (stp, fp, dp) and returns the next trial step, within [stpmin, stpmax]. */
function dcstep(iv: Interval, stp: number, fp: number, dp: number, stpmin: number, stpmax: number): number {
  const { stx, fx, dx, sty, fy, dy } = iv;
  const sgnd = dp * (dx / Math.abs(dx));
  let stpf: number;
  if (fp > fx) {
    // 1: higher function value; the minimum is bracketed. Cubic step if closer to stx than the
    // quadratic one, else their average.
    const theta = (3 * (fx - fp)) / (stp - stx) + dx + dp;
    const s = Math.max(Math.abs(theta), Math.abs(dx), Math.abs(dp));
    let gamma = s * Math.sqrt((theta / s) ** 2 - (dx / s) * (dp / s));
    if (stp < stx) gamma = -gamma;
    const p = gamma - dx + theta;
    const q = gamma - dx + gamma + dp;
    const stpc = stx + (p / q) * (stp - stx);
    const stpq = stx + (dx / ((fx - fp) / (stp - stx) + dx) / 2) * (stp - stx);
    stpf = Math.abs(stpc - stx) < Math.abs(stpq - stx) ? stpc : stpc + (stpq - stpc) / 2;
    iv.brackt = true;
  } else if (sgnd < 0) {
    // 2: lower value, derivatives of opposite sign; bracketed. Cubic if farther from stp than the secant.
    const theta = (3 * (fx - fp)) / (stp - stx) + dx + dp;
    const s = Math.max(Math.abs(theta), Math.abs(dx), Math.abs(dp));
    let gamma = s * Math.sqrt((theta / s) ** 2 - (dx / s) * (dp / s));
    if (stp > stx) gamma = -gamma;
    const p = gamma - dp + theta;
    const q = gamma - dp + gamma + dx;
    const stpc = stp + (p / q) * (stx - stp);
    const stpq = stp + (dp / (dp - dx)) * (stx - stp);
    stpf = Math.abs(stpc - stp) > Math.abs(stpq - stp) ? stpc : stpq;
    iv.brackt = true;
  } else if (Math.abs(dp) < Math.abs(dx)) {
    // 3: lower value, same sign, the derivative's magnitude decreases.
    const theta = (3 * (fx - fp)) / (stp - stx) + dx + dp;
    const s = Math.max(Math.abs(theta), Math.abs(dx), Math.abs(dp));
    let gamma = s * Math.sqrt(Math.max(0, (theta / s) ** 2 - (dx / s) * (dp / s)));
    if (stp > stx) gamma = -gamma;
    const p = gamma - dp + theta;
    const q = gamma + (dx - dp) + gamma;
    const r = p / q;
    let stpc: number;
    if (r < 0 && gamma !== 0) stpc = stp + r * (stx - stp);
    else if (stp > stx) stpc = stpmax;
    else stpc = stpmin;
    const stpq = stp + (dp / (dp - dx)) * (stx - stp);
    if (iv.brackt) {
      stpf = Math.abs(stpc - stp) < Math.abs(stpq - stp) ? stpc : stpq;
      stpf = stp > stx ? Math.min(stp + 0.66 * (sty - stp), stpf) : Math.max(stp + 0.66 * (sty - stp), stpf);
    } else {
      stpf = Math.abs(stpc - stp) > Math.abs(stpq - stp) ? stpc : stpq;
      stpf = Math.max(stpmin, Math.min(stpmax, stpf));
    }
  } else {
    // 4: lower value, same sign, the derivative does not decrease.
    if (iv.brackt) {
      const theta = (3 * (fp - fy)) / (sty - stp) + dy + dp;
      const s = Math.max(Math.abs(theta), Math.abs(dy), Math.abs(dp));
      let gamma = s * Math.sqrt((theta / s) ** 2 - (dy / s) * (dp / s));
      if (stp > sty) gamma = -gamma;
      const p = gamma - dp + theta;
      const q = gamma - dp + gamma + dy;
      stpf = stp + (p / q) * (sty - stp);
    } else {
      stpf = stp > stx ? stpmax : stpmin;
    }
  }
  if (fp > fx) {
    iv.sty = stp;
    iv.fy = fp;
    iv.dy = dp;
  } else {
    if (sgnd < 0) {
      iv.sty = stx;
      iv.fy = fx;
      iv.dy = dx;
    }
    iv.stx = stp;
    iv.fx = fp;
    iv.dx = dp;
  }
  return stpf;
}

// ---------------------------------------------------------------------------------------------
// ASE's LineSearch

export interface AseLineSearchOptions {
  /** Longest move of one row per trial step, Å. Default 0.2. */
  maxstep?: number;
  /** Sufficient decrease. Default 0.23. */
  c1?: number;
  /** Curvature. Default 0.46. */
  c2?: number;
  xtrapl?: number;
  xtrapu?: number;
  /** Largest step along pk. Default 50. */
  stpmax?: number;
  stpmin?: number;
}

export interface AseLineSearchResult {
  /** The accepted step, or null when the search failed. */
  stp: number | null;
  /** The function at the last point evaluated. */
  fval: number;
  /** The function at xk. */
  oldFval: number;
  /** The search hit stpmax without progress: the caller should skip its Hessian update. */
  noUpdate: boolean;
}

/** ASE's LineSearch. One object per search. */
export class LineSearch {
  task = "START";
  private stage = 1;
  private iv: Interval = { stx: 0, fx: 0, dx: 0, sty: 0, fy: 0, dy: 0, brackt: false };
  private finit = 0;
  private ginit = 0;
  private gtest = 0;
  private stmin = 0;
  private stmax = 0;
  private width = 0;
  private width1 = 0;
  private oldStp = 0;
  private noUpdate = false;
  private pk = new Float64Array(0);
  private maxstep = 0.2;
  private stpmin = 1e-8;
  private stpmax = 50;
  private xtrapl = 1.1;
  private xtrapu = 4;

  constructor(readonly xtol = 1e-14) {}

  async search(
    func: PointFunction<number>,
    fprime: PointFunction<Float64Array>,
    xk: Float64Array,
    pk: Float64Array,
    gfk: Float64Array,
    oldFval: number,
    { maxstep = 0.2, c1 = 0.23, c2 = 0.46, xtrapl = 1.1, xtrapu = 4, stpmax = 50, stpmin = 1e-8 }: AseLineSearchOptions = {},
  ): Promise<AseLineSearchResult> {
    Object.assign(this, { stpmin, stpmax, xtrapl, xtrapu, maxstep, pk });
    let phi0 = oldFval;
    let derphi0 = dot(gfk, pk);
    let alpha1 = 1;
    let fval = oldFval;
    this.noUpdate = false;
    let stp = alpha1;
    // ASE has no limit here; every path ends in a few dozen trials, the limit only guards a loop.
    for (let trial = 0; ; trial++) {
      if (trial > 10_000) throw new Error("LineSearch: no termination after 10000 trials");
      stp = this.step(alpha1, phi0, derphi0, c1, c2);
      if (!this.task.startsWith("FG")) break;
      alpha1 = stp;
      const x = along(xk, pk, stp);
      fval = await func(x);
      const gval = await fprime(x);
      phi0 = fval;
      derphi0 = dot(gval, pk);
      this.oldStp = alpha1;
      if (this.noUpdate) break;
    }
    // ASE tests task[1:4] == 'WARN', which never holds: warnings return the step; only errors fail.
    return { stp: this.task.startsWith("ERROR") ? null : stp, fval, oldFval, noUpdate: this.noUpdate };
  }

  /** One call of ASE's `step` (dcsrch's reverse communication): the next step, and `task`. */
  private step(stp: number, f: number, g: number, c1: number, c2: number): number {
    const { xtol } = this;
    if (this.task.startsWith("START")) {
      if (stp < this.stpmin) this.task = "ERROR: STP .LT. minstep";
      if (stp > this.stpmax) this.task = "ERROR: STP .GT. maxstep";
      if (g >= 0) this.task = "ERROR: INITIAL G >= 0";
      if (c1 < 0) this.task = "ERROR: c1 .LT. 0";
      if (c2 < 0) this.task = "ERROR: c2 .LT. 0";
      if (xtol < 0) this.task = "ERROR: XTOL .LT. 0";
      if (this.stpmin < 0) this.task = "ERROR: minstep .LT. 0";
      if (this.stpmax < this.stpmin) this.task = "ERROR: maxstep .LT. minstep";
      if (this.task.startsWith("ERROR")) return stp;
      this.iv = { stx: 0, fx: f, dx: g, sty: 0, fy: f, dy: g, brackt: false };
      this.stage = 1;
      this.finit = f;
      this.ginit = g;
      this.gtest = c1 * g;
      this.width = this.stpmax - this.stpmin;
      this.width1 = this.width / 0.5;
      this.stmin = 0;
      this.stmax = stp + this.xtrapu * stp;
      this.task = "FG";
      return this.limit(stp);
    }
    const iv = this.iv;
    const ftest = this.finit + stp * this.gtest;
    if (this.stage === 1 && f < ftest && g >= 0) this.stage = 2; // MINPACK has f <= ftest
    if (iv.brackt && (stp <= this.stmin || stp >= this.stmax)) this.task = "WARNING: ROUNDING ERRORS PREVENT PROGRESS";
    if (iv.brackt && this.stmax - this.stmin <= xtol * this.stmax) this.task = "WARNING: XTOL TEST SATISFIED";
    if (stp === this.stpmax && f <= ftest && g <= this.gtest) this.task = "WARNING: STP = maxstep";
    if (stp === this.stpmin && (f > ftest || g >= this.gtest)) this.task = "WARNING: STP = minstep";
    if (f <= ftest && Math.abs(g) <= c2 * -this.ginit) this.task = "CONVERGENCE";
    if (this.task.startsWith("WARN") || this.task.startsWith("CONV")) return stp;

    // ASE leaves out MINPACK's modified function of the first stage.
    stp = this.limit(dcstep(iv, stp, f, g, this.stmin, this.stmax));
    if (iv.brackt) {
      if (Math.abs(iv.sty - iv.stx) >= 0.66 * this.width1) stp = iv.stx + 0.5 * (iv.sty - iv.stx);
      this.width1 = this.width;
      this.width = Math.abs(iv.sty - iv.stx);
    }
    if (iv.brackt) {
      this.stmin = Math.min(iv.stx, iv.sty);
      this.stmax = Math.max(iv.stx, iv.sty);
    } else {
      this.stmin = stp + this.xtrapl * (stp - iv.stx);
      this.stmax = stp + this.xtrapu * (stp - iv.stx);
    }
    stp = Math.min(Math.max(stp, this.stpmin), this.stpmax);
    if (iv.stx === stp && stp === this.stpmax && this.stmin > this.stpmax) this.noUpdate = true;
    // As ASE writes it: `bracket and stp < stmin or stp >= stmax` (the second test stands alone).
    if ((iv.brackt && stp < this.stmin) || stp >= this.stmax || (iv.brackt && this.stmax - this.stmin < xtol * this.stmax)) {
      stp = iv.stx;
    }
    this.task = "FG";
    return stp;
  }

  /** ASE's determine_step: the change from the last trial step, scaled so no row of pk·change exceeds maxstep. */
  private limit(stp: number): number {
    let dr = stp - this.oldStp;
    const pk = this.pk;
    let longest = 0;
    for (let k = 0; k < pk.length; k += 3) {
      const a = dr * pk[k]!;
      const b = dr * pk[k + 1]!;
      const c = dr * pk[k + 2]!;
      longest = Math.max(longest, Math.sqrt(a * a + b * b + c * c));
    }
    if (longest >= this.maxstep) dr *= this.maxstep / longest;
    return this.oldStp + dr;
  }
}

// ---------------------------------------------------------------------------------------------
// SciPy's line searches (scipy.optimize._linesearch, SciPy 1.10)

/** Python's min/max of two numbers: the first unless the second compares strictly beyond it (NaN kept out). */
const pyMin = (a: number, b: number): number => (b < a ? b : a);

/** MINPACK-2's dcsrch, reverse communication as SciPy calls it. */
class Dcsrch {
  private stage = 1;
  private iv: Interval = { stx: 0, fx: 0, dx: 0, sty: 0, fy: 0, dy: 0, brackt: false };
  private finit = 0;
  private ginit = 0;
  private gtest = 0;
  private stmin = 0;
  private stmax = 0;
  private width = 0;
  private width1 = 0;

  constructor(
    readonly ftol: number,
    readonly gtol: number,
    readonly xtol: number,
    readonly stpmin: number,
    readonly stpmax: number,
  ) {}

  iterate(stp: number, f: number, g: number, task: string): { stp: number; task: string } {
    const { xtol, stpmin, stpmax } = this;
    if (task.startsWith("START")) {
      if (stp < stpmin) task = "ERROR: STP .LT. STPMIN";
      if (stp > stpmax) task = "ERROR: STP .GT. STPMAX";
      if (g >= 0) task = "ERROR: INITIAL G .GE. ZERO";
      if (this.ftol < 0) task = "ERROR: FTOL .LT. ZERO";
      if (this.gtol < 0) task = "ERROR: GTOL .LT. ZERO";
      if (xtol < 0) task = "ERROR: XTOL .LT. ZERO";
      if (stpmin < 0) task = "ERROR: STPMIN .LT. ZERO";
      if (stpmax < stpmin) task = "ERROR: STPMAX .LT. STPMIN";
      if (task.startsWith("ERROR")) return { stp, task };
      this.iv = { stx: 0, fx: f, dx: g, sty: 0, fy: f, dy: g, brackt: false };
      this.stage = 1;
      this.finit = f;
      this.ginit = g;
      this.gtest = this.ftol * g;
      this.width = stpmax - stpmin;
      this.width1 = this.width / 0.5;
      this.stmin = 0;
      this.stmax = stp + 4 * stp;
      return { stp, task: "FG" };
    }
    const iv = this.iv;
    const ftest = this.finit + stp * this.gtest;
    if (this.stage === 1 && f <= ftest && g >= 0) this.stage = 2;
    if (iv.brackt && (stp <= this.stmin || stp >= this.stmax)) task = "WARNING: ROUNDING ERRORS PREVENT PROGRESS";
    if (iv.brackt && this.stmax - this.stmin <= xtol * this.stmax) task = "WARNING: XTOL TEST SATISFIED";
    if (stp === stpmax && f <= ftest && g <= this.gtest) task = "WARNING: STP = STPMAX";
    if (stp === stpmin && (f > ftest || g >= this.gtest)) task = "WARNING: STP = STPMIN";
    if (f <= ftest && Math.abs(g) <= this.gtol * -this.ginit) task = "CONVERGENCE";
    if (task.startsWith("WARN") || task.startsWith("CONV")) return { stp, task };

    if (this.stage === 1 && f <= iv.fx && f > ftest) {
      // First stage, lower value but not enough decrease: step on the modified function
      // psi(stp) = f(stp) - f(0) - ftol·stp·f'(0).
      const gt = this.gtest;
      const m: Interval = { ...iv, fx: iv.fx - iv.stx * gt, fy: iv.fy - iv.sty * gt, dx: iv.dx - gt, dy: iv.dy - gt };
      stp = dcstep(m, stp, f - stp * gt, g - gt, this.stmin, this.stmax);
      Object.assign(iv, { stx: m.stx, sty: m.sty, brackt: m.brackt });
      iv.fx = m.fx + m.stx * gt;
      iv.fy = m.fy + m.sty * gt;
      iv.dx = m.dx + gt;
      iv.dy = m.dy + gt;
    } else {
      stp = dcstep(iv, stp, f, g, this.stmin, this.stmax);
    }
    if (iv.brackt) {
      if (Math.abs(iv.sty - iv.stx) >= 0.66 * this.width1) stp = iv.stx + 0.5 * (iv.sty - iv.stx);
      this.width1 = this.width;
      this.width = Math.abs(iv.sty - iv.stx);
    }
    if (iv.brackt) {
      this.stmin = Math.min(iv.stx, iv.sty);
      this.stmax = Math.max(iv.stx, iv.sty);
    } else {
      this.stmin = stp + 1.1 * (stp - iv.stx);
      this.stmax = stp + 4 * (stp - iv.stx);
    }
    stp = Math.min(Math.max(stp, stpmin), stpmax);
    if ((iv.brackt && (stp <= this.stmin || stp >= this.stmax)) || (iv.brackt && this.stmax - this.stmin <= xtol * this.stmax)) {
      stp = iv.stx;
    }
    return { stp, task: "FG" };
  }
}

export interface WolfeOptions {
  /** Sufficient decrease. Default 1e-4. */
  c1?: number;
  /** Curvature. Default 0.9. */
  c2?: number;
  amax?: number;
  amin?: number;
  xtol?: number;
}

/** What SciPy's line_search_wolfe1/2 return that fmin_cg uses. */
export interface WolfeResult {
  /** The step, or null when the search failed. */
  alpha: number | null;
  /** The function at the step (wolfe1: at the last point tried). */
  fval: number | null;
  /** The function at xk. */
  oldFval: number;
  /** The gradient at the step, when it was evaluated there. */
  gval: Float64Array | null;
}

/** Scalar function of the step and its derivative. */
type Scalar = (alpha: number) => Promise<number>;

/** SciPy's scalar_search_wolfe1: MINPACK's dcsrch, at most 100 trials. */
export async function scalarSearchWolfe1(
  phi: Scalar,
  derphi: Scalar,
  phi0: number,
  oldPhi0: number | null,
  derphi0: number,
  { c1 = 1e-4, c2 = 0.9, amax = 50, amin = 1e-8, xtol = 1e-14 }: WolfeOptions = {},
): Promise<{ stp: number | null; phi: number; phi0: number }> {
  let alpha1 = 1;
  if (oldPhi0 !== null && derphi0 !== 0) {
    alpha1 = pyMin(1, (1.01 * 2 * (phi0 - oldPhi0)) / derphi0);
    if (alpha1 < 0) alpha1 = 1;
  }
  let phi1 = phi0;
  let derphi1 = derphi0;
  const search = new Dcsrch(c1, c2, xtol, amin, amax);
  let task = "START";
  let stp: number | null = null;
  let done = false;
  for (let i = 0; i < 100; i++) {
    const r = search.iterate(alpha1, phi1, derphi1, task);
    stp = r.stp;
    task = r.task;
    if (!task.startsWith("FG")) {
      done = true;
      break;
    }
    alpha1 = stp;
    phi1 = await phi(stp);
    derphi1 = await derphi(stp);
  }
  if (!done) stp = null; // 100 trials without an answer
  if (task.startsWith("ERROR") || task.startsWith("WARN")) stp = null;
  return { stp, phi: phi1, phi0 };
}

/** SciPy's line_search_wolfe1 along pk; f and fprime are the objective and its gradient. */
export async function lineSearchWolfe1(
  f: PointFunction<number>,
  fprime: PointFunction<Float64Array>,
  xk: Float64Array,
  pk: Float64Array,
  gfk: Float64Array,
  oldFval: number,
  oldOldFval: number | null,
  options: WolfeOptions = {},
): Promise<WolfeResult> {
  let gval = gfk;
  const phi = (s: number): Promise<number> => f(along(xk, pk, s));
  const derphi = async (s: number): Promise<number> => {
    gval = await fprime(along(xk, pk, s));
    return dot(gval, pk);
  };
  const r = await scalarSearchWolfe1(phi, derphi, oldFval, oldOldFval, dot(gfk, pk), options);
  return { alpha: r.stp, fval: r.phi, oldFval: r.phi0, gval };
}

/** extra_condition(alpha, x, f, g): accept a Wolfe step only if this holds too. */
export type ExtraCondition = (alpha: number, x: Float64Array, f: number, g: Float64Array) => boolean;

/** SciPy's line_search_wolfe2 (bracketing and zoom), at most `maxiter` bracketing steps. */
export async function lineSearchWolfe2(
  f: PointFunction<number>,
  fprime: PointFunction<Float64Array>,
  xk: Float64Array,
  pk: Float64Array,
  gfk: Float64Array,
  oldFval: number,
  oldOldFval: number | null,
  { c1 = 1e-4, c2 = 0.9, amax = null as number | null, extraCondition = null as ExtraCondition | null, maxiter = 10 } = {},
): Promise<WolfeResult> {
  let gval: Float64Array | null = null;
  let gvalAlpha: number | null = null;
  const phi = (alpha: number): Promise<number> => f(along(xk, pk, alpha));
  const derphi = async (alpha: number): Promise<number> => {
    gval = await fprime(along(xk, pk, alpha));
    gvalAlpha = alpha;
    return dot(gval, pk);
  };
  const derphi0 = dot(gfk, pk);
  const extra = extraCondition
    ? async (alpha: number, phiA: number): Promise<boolean> => {
        if (gvalAlpha !== alpha) await derphi(alpha);
        return extraCondition(alpha, along(xk, pk, alpha), phiA, gval!);
      }
    : async (): Promise<boolean> => true;
  const r = await scalarSearchWolfe2(phi, derphi, oldFval, oldOldFval, derphi0, c1, c2, amax, extra, maxiter);
  return { alpha: r.alphaStar, fval: r.phiStar, oldFval: r.phi0, gval: r.derphiStar === null ? null : gval };
}

async function scalarSearchWolfe2(
  phi: Scalar,
  derphi: Scalar,
  phi0: number,
  oldPhi0: number | null,
  derphi0: number,
  c1: number,
  c2: number,
  amax: number | null,
  extra: (alpha: number, phi: number) => Promise<boolean>,
  maxiter: number,
): Promise<{ alphaStar: number | null; phiStar: number | null; phi0: number; derphiStar: number | null }> {
  let alpha0 = 0;
  let alpha1 = oldPhi0 !== null && derphi0 !== 0 ? pyMin(1, (1.01 * 2 * (phi0 - oldPhi0)) / derphi0) : 1;
  if (alpha1 < 0) alpha1 = 1;
  if (amax !== null) alpha1 = pyMin(alpha1, amax);
  let phiA1 = await phi(alpha1);
  let phiA0 = phi0;
  let derphiA0 = derphi0;
  for (let i = 0; i < maxiter; i++) {
    if (alpha1 === 0 || (amax !== null && alpha0 === amax)) {
      // Rounding prevents progress, or no solution below amax. (SciPy also returns old_phi0 as phi0 here.)
      return { alphaStar: null, phiStar: phi0, phi0: oldPhi0 ?? phi0, derphiStar: null };
    }
    if (phiA1 > phi0 + c1 * alpha1 * derphi0 || (phiA1 >= phiA0 && i > 0)) {
      const z = await zoom(alpha0, alpha1, phiA0, phiA1, derphiA0, phi, derphi, phi0, derphi0, c1, c2, extra);
      return { alphaStar: z.a, phiStar: z.phi, phi0, derphiStar: z.derphi };
    }
    const derphiA1 = await derphi(alpha1);
    if (Math.abs(derphiA1) <= -c2 * derphi0 && (await extra(alpha1, phiA1))) {
      return { alphaStar: alpha1, phiStar: phiA1, phi0, derphiStar: derphiA1 };
    }
    if (derphiA1 >= 0) {
      const z = await zoom(alpha1, alpha0, phiA1, phiA0, derphiA1, phi, derphi, phi0, derphi0, c1, c2, extra);
      return { alphaStar: z.a, phiStar: z.phi, phi0, derphiStar: z.derphi };
    }
    let alpha2 = 2 * alpha1;
    if (amax !== null) alpha2 = pyMin(alpha2, amax);
    alpha0 = alpha1;
    alpha1 = alpha2;
    phiA0 = phiA1;
    phiA1 = await phi(alpha1);
    derphiA0 = derphiA1;
  }
  // maxiter reached: SciPy returns the last trial with no derivative (fmin_cg then accepts it).
  return { alphaStar: alpha1, phiStar: phiA1, phi0, derphiStar: null };
}

/** Minimiser of the cubic through (a, fa), (b, fb), (c, fc) with slope fpa at a; null if none. */
function cubicmin(a: number, fa: number, fpa: number, b: number, fb: number, c: number, fc: number): number | null {
  const C = fpa;
  const db = b - a;
  const dc = c - a;
  const denom = (db * dc) ** 2 * (db - dc);
  if (denom === 0) return null; // SciPy: numpy raises on the division, caught
  const u = fb - fa - C * db;
  const w = fc - fa - C * dc;
  const A = (dc ** 2 * u - db ** 2 * w) / denom;
  const B = (-(dc ** 3) * u + db ** 3 * w) / denom;
  const radical = B * B - 3 * A * C;
  if (!Number.isFinite(A) || !Number.isFinite(B) || !(radical >= 0) || A === 0) return null;
  const xmin = a + (-B + Math.sqrt(radical)) / (3 * A);
  return Number.isFinite(xmin) ? xmin : null;
}

/** Minimiser of the quadratic through (a, fa), (b, fb) with slope fpa at a; null if none. */
function quadmin(a: number, fa: number, fpa: number, b: number, fb: number): number | null {
  const db = b - a;
  if (db === 0) return null;
  const B = (fb - fa - fpa * db) / (db * db);
  if (B === 0 || !Number.isFinite(B)) return null;
  const xmin = a - fpa / (2 * B);
  return Number.isFinite(xmin) ? xmin : null;
}

/** Nocedal & Wright's zoom (algorithm 3.6) with SciPy's cubic, quadratic and bisection trials. */
async function zoom(
  aLo: number,
  aHi: number,
  phiLo: number,
  phiHi: number,
  derphiLo: number,
  phi: Scalar,
  derphi: Scalar,
  phi0: number,
  derphi0: number,
  c1: number,
  c2: number,
  extra: (alpha: number, phi: number) => Promise<boolean>,
): Promise<{ a: number | null; phi: number | null; derphi: number | null }> {
  const maxiter = 10;
  const delta1 = 0.2; // cubic interpolant check
  const delta2 = 0.1; // quadratic interpolant check
  let phiRec = phi0;
  let aRec = 0;
  for (let i = 0; ; ) {
    const dalpha = aHi - aLo;
    const [a, b] = dalpha < 0 ? [aHi, aLo] : [aLo, aHi];
    let aj: number | null = null;
    let cchk = 0;
    if (i > 0) {
      cchk = delta1 * dalpha;
      aj = cubicmin(aLo, phiLo, derphiLo, aHi, phiHi, aRec, phiRec);
    }
    if (i === 0 || aj === null || aj > b - cchk || aj < a + cchk) {
      const qchk = delta2 * dalpha;
      aj = quadmin(aLo, phiLo, derphiLo, aHi, phiHi);
      if (aj === null || aj > b - qchk || aj < a + qchk) aj = aLo + 0.5 * dalpha;
    }
    const phiAj = await phi(aj);
    if (phiAj > phi0 + c1 * aj * derphi0 || phiAj >= phiLo) {
      phiRec = phiHi;
      aRec = aHi;
      aHi = aj;
      phiHi = phiAj;
    } else {
      const derphiAj = await derphi(aj);
      if (Math.abs(derphiAj) <= -c2 * derphi0 && (await extra(aj, phiAj))) return { a: aj, phi: phiAj, derphi: derphiAj };
      if (derphiAj * (aHi - aLo) >= 0) {
        phiRec = phiHi;
        aRec = aHi;
        aHi = aLo;
        phiHi = phiLo;
      } else {
        phiRec = phiLo;
        aRec = aLo;
      }
      aLo = aj;
      phiLo = phiAj;
      derphiLo = derphiAj;
    }
    i++;
    if (i > maxiter) return { a: null, phi: null, derphi: null };
  }
}

/** SciPy raises _LineSearchError when both searches fail. */
export class LineSearchError extends Error {
  override name = "LineSearchError";
}

/**
 * SciPy's _line_search_wolfe12: wolfe1 (dcsrch); if it fails, or its step fails `extraCondition`,
 * wolfe2 with the same c1, c2 and amax (amin and xtol back at their defaults). Throws LineSearchError if both fail.
 */
export async function lineSearchWolfe12(
  f: PointFunction<number>,
  fprime: PointFunction<Float64Array>,
  xk: Float64Array,
  pk: Float64Array,
  gfk: Float64Array,
  oldFval: number,
  oldOldFval: number | null,
  options: WolfeOptions & { extraCondition?: ExtraCondition } = {},
): Promise<WolfeResult & { alpha: number }> {
  const { extraCondition, ...wolfe1 } = options;
  let r = await lineSearchWolfe1(f, fprime, xk, pk, gfk, oldFval, oldOldFval, wolfe1);
  if (r.alpha !== null && extraCondition && !extraCondition(r.alpha, along(xk, pk, r.alpha), r.fval!, r.gval!)) {
    r = { ...r, alpha: null };
  }
  if (r.alpha === null) {
    const kw: { c1?: number; c2?: number; amax?: number | null; extraCondition: ExtraCondition | null } = {
      extraCondition: extraCondition ?? null,
    };
    if (options.c1 !== undefined) kw.c1 = options.c1;
    if (options.c2 !== undefined) kw.c2 = options.c2;
    if (options.amax !== undefined) kw.amax = options.amax;
    r = await lineSearchWolfe2(f, fprime, xk, pk, gfk, oldFval, oldOldFval, kw);
  }
  if (r.alpha === null) throw new LineSearchError("the line search found no step satisfying the Wolfe conditions");
  return r as WolfeResult & { alpha: number };
}
