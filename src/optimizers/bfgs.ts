/**
 * BFGS on an explicit Hessian, as ASE 3.22's ase/optimize/bfgs.py: the step is the Newton step
 * with every eigenvalue of the Hessian taken by its absolute value, scaled down as a whole so that
 * no row moves more than maxstep; the Hessian starts as alpha·I and gets the BFGS update.
 */
import { capLongestRow, dot, Optimizer, type OptimizerOptions } from "./optimizer.js";

export interface BFGSOptions extends OptimizerOptions {
  /** Longest move of one row (atom) per step, Å. Default 0.2. */
  maxstep?: number;
  /** Initial Hessian alpha·I, eV/Å². Default 70. */
  alpha?: number;
}

export class BFGS extends Optimizer<BFGSOptions> {
  readonly maxstep = this.options.maxstep ?? 0.2;
  readonly alpha = this.options.alpha ?? 70;
  /** Hessian, n x n row-major; unset before the first step. */
  private H?: Float64Array;
  private r0?: Float64Array;
  private f0?: Float64Array;

  protected takeStep(f: Float64Array): void {
    const r = this.target.getPositions();
    this.update(r, f);
    const dr = capLongestRow(absNewtonStep(this.H!, f), this.maxstep);
    const x = new Float64Array(r.length);
    for (let k = 0; k < r.length; k++) x[k] = r[k]! + dr[k]!;
    this.target.setPositions(x);
    this.r0 = r;
    this.f0 = f.slice();
  }

  /** BFGS update of the Hessian with the last move and the change of the forces. */
  private update(r: Float64Array, f: Float64Array): void {
    const n = r.length;
    if (!this.H) {
      this.H = new Float64Array(n * n);
      for (let i = 0; i < n; i++) this.H[i * n + i] = this.alpha;
      return;
    }
    const dr = new Float64Array(n);
    let largest = 0;
    for (let i = 0; i < n; i++) {
      dr[i] = r[i]! - this.r0![i]!;
      largest = Math.max(largest, Math.abs(dr[i]!));
    }
    if (largest < 1e-7) return; // the same configuration again
    const df = new Float64Array(n);
    for (let i = 0; i < n; i++) df[i] = f[i]! - this.f0![i]!;
    const H = this.H;
    const a = dot(dr, df);
    const dg = symMatVec(H, dr);
    const b = dot(dr, dg);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) H[i * n + j]! -= (df[i]! * df[j]!) / a + (dg[i]! * dg[j]!) / b;
    }
  }
}

function symMatVec(H: Float64Array, v: Float64Array): Float64Array {
  const n = v.length;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < n; j++) s += H[i * n + j]! * v[j]!;
    out[i] = s;
  }
  return out;
}

/**
 * V |Ω|⁻¹ Vᵀ f for the eigen-decomposition H = V Ω Vᵀ: the Newton step with negative curvatures
 * turned uphill-safe (ASE's `np.dot(V, np.dot(f, V) / np.fabs(omega))`). When H is positive
 * definite this is H⁻¹ f, solved by Cholesky at a sixth of the cost; otherwise by diagonalising.
 */
export function absNewtonStep(H: Float64Array, f: Float64Array): Float64Array {
  return choleskySolve(H, f) ?? eigenAbsSolve(H, f);
}

/** H⁻¹ f by Cholesky, or undefined when H is not positive definite. */
function choleskySolve(H: Float64Array, f: Float64Array): Float64Array | undefined {
  const n = f.length;
  const L = new Float64Array(n * n);
  for (let j = 0; j < n; j++) {
    let s = H[j * n + j]!;
    const Lj = j * n;
    for (let k = 0; k < j; k++) s -= L[Lj + k]! * L[Lj + k]!;
    if (!(s > 0)) return undefined;
    const d = Math.sqrt(s);
    L[Lj + j] = d;
    for (let i = j + 1; i < n; i++) {
      const Li = i * n;
      let t = H[Li + j]!;
      for (let k = 0; k < j; k++) t -= L[Li + k]! * L[Lj + k]!;
      L[Li + j] = t / d;
    }
  }
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = f[i]!;
    for (let k = 0; k < i; k++) s -= L[i * n + k]! * y[k]!;
    y[i] = s / L[i * n + i]!;
  }
  for (let i = n - 1; i >= 0; i--) {
    let s = y[i]!;
    for (let k = i + 1; k < n; k++) s -= L[k * n + i]! * y[k]!;
    y[i] = s / L[i * n + i]!;
  }
  return y;
}

function eigenAbsSolve(H: Float64Array, f: Float64Array): Float64Array {
  const n = f.length;
  const { values, vectors: V } = symmetricEigen(H, n);
  const c = new Float64Array(n); // Vᵀ f / |ω|
  for (let j = 0; j < n; j++) {
    let s = 0;
    for (let i = 0; i < n; i++) s += V[i * n + j]! * f[i]!;
    c[j] = s / Math.abs(values[j]!);
  }
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < n; j++) s += V[i * n + j]! * c[j]!;
    out[i] = s;
  }
  return out;
}

/**
 * Eigenvalues and eigenvectors (the columns of `vectors`, row-major n x n) of a symmetric matrix:
 * Householder tridiagonalisation and the implicit QL algorithm (EISPACK's tred2 and tql2, as in JAMA).
 */
export function symmetricEigen(A: ArrayLike<number>, n: number): { values: Float64Array; vectors: Float64Array } {
  const V = Float64Array.from(A);
  const d = new Float64Array(n);
  const e = new Float64Array(n);
  const at = (i: number, j: number): number => V[i * n + j]!;
  const set = (i: number, j: number, x: number): void => {
    V[i * n + j] = x;
  };
  // tred2: reduce to tridiagonal form, accumulating the transformations in V.
  for (let j = 0; j < n; j++) d[j] = at(n - 1, j);
  for (let i = n - 1; i > 0; i--) {
    let scale = 0;
    let h = 0;
    for (let k = 0; k < i; k++) scale += Math.abs(d[k]!);
    if (scale === 0) {
      e[i] = d[i - 1]!;
      for (let j = 0; j < i; j++) {
        d[j] = at(i - 1, j);
        set(i, j, 0);
        set(j, i, 0);
      }
    } else {
      for (let k = 0; k < i; k++) {
        d[k]! /= scale;
        h += d[k]! * d[k]!;
      }
      let f = d[i - 1]!;
      let g = Math.sqrt(h);
      if (f > 0) g = -g;
      e[i] = scale * g;
      h -= f * g;
      d[i - 1] = f - g;
      for (let j = 0; j < i; j++) e[j] = 0;
      for (let j = 0; j < i; j++) {
        f = d[j]!;
        set(j, i, f);
        g = e[j]! + at(j, j) * f;
        for (let k = j + 1; k <= i - 1; k++) {
          g += at(k, j) * d[k]!;
          e[k]! += at(k, j) * f;
        }
        e[j] = g;
      }
      f = 0;
      for (let j = 0; j < i; j++) {
        e[j]! /= h;
        f += e[j]! * d[j]!;
      }
      const hh = f / (h + h);
      for (let j = 0; j < i; j++) e[j]! -= hh * d[j]!;
      for (let j = 0; j < i; j++) {
        f = d[j]!;
        g = e[j]!;
        for (let k = j; k <= i - 1; k++) V[k * n + j]! -= f * e[k]! + g * d[k]!;
        d[j] = at(i - 1, j);
        set(i, j, 0);
      }
    }
    d[i] = h;
  }
  for (let i = 0; i < n - 1; i++) {
    set(n - 1, i, at(i, i));
    set(i, i, 1);
    const h = d[i + 1]!;
    if (h !== 0) {
      for (let k = 0; k <= i; k++) d[k] = at(k, i + 1) / h;
      for (let j = 0; j <= i; j++) {
        let g = 0;
        for (let k = 0; k <= i; k++) g += at(k, i + 1) * at(k, j);
        for (let k = 0; k <= i; k++) V[k * n + j]! -= g * d[k]!;
      }
    }
    for (let k = 0; k <= i; k++) set(k, i + 1, 0);
  }
  for (let j = 0; j < n; j++) {
    d[j] = at(n - 1, j);
    set(n - 1, j, 0);
  }
  set(n - 1, n - 1, 1);
  e[0] = 0;

  // tql2: diagonalise the tridiagonal matrix by implicit QL shifts.
  for (let i = 1; i < n; i++) e[i - 1] = e[i]!;
  e[n - 1] = 0;
  let f = 0;
  let tst1 = 0;
  const eps = 2 ** -52;
  for (let l = 0; l < n; l++) {
    tst1 = Math.max(tst1, Math.abs(d[l]!) + Math.abs(e[l]!));
    let m = l;
    while (m < n - 1 && Math.abs(e[m]!) > eps * tst1) m++;
    if (m > l) {
      let iter = 0;
      do {
        if (++iter > 100) throw new Error("symmetricEigen: no convergence");
        let g = d[l]!;
        let p = (d[l + 1]! - g) / (2 * e[l]!);
        let r = Math.hypot(p, 1);
        if (p < 0) r = -r;
        d[l] = e[l]! / (p + r);
        d[l + 1] = e[l]! * (p + r);
        const dl1 = d[l + 1]!;
        let h = g - d[l]!;
        for (let i = l + 2; i < n; i++) d[i]! -= h;
        f += h;
        p = d[m]!;
        let c = 1;
        let c2 = c;
        let c3 = c;
        const el1 = e[l + 1]!;
        let s = 0;
        let s2 = 0;
        for (let i = m - 1; i >= l; i--) {
          c3 = c2;
          c2 = c;
          s2 = s;
          g = c * e[i]!;
          h = c * p;
          r = Math.hypot(p, e[i]!);
          e[i + 1] = s * r;
          s = e[i]! / r;
          c = p / r;
          p = c * d[i]! - s * g;
          d[i + 1] = h + s * (c * g + s * d[i]!);
          for (let k = 0; k < n; k++) {
            const vk = k * n;
            h = V[vk + i + 1]!;
            V[vk + i + 1] = s * V[vk + i]! + c * h;
            V[vk + i] = c * V[vk + i]! - s * h;
          }
        }
        p = (-s * s2 * c3 * el1 * e[l]!) / dl1;
        e[l] = s * p;
        d[l] = c * p;
      } while (Math.abs(e[l]!) > eps * tst1);
    }
    d[l] = d[l]! + f;
    e[l] = 0;
  }
  return { values: d, vectors: V };
}
