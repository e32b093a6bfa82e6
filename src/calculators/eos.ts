/**
 * Equations of state: a Birch–Murnaghan fit of E(V), and an engine-agnostic E(V) series that finds
 * the energy minimum before it fits (used by the Quantum ESPRESSO and GPAW property engines).
 *
 * CrystalGym fitted a Murnaghan EOS with `ev.x` to 5 volumes at ±2 % around the *template's* volume
 * (spec §4); with the minimum off-centre that fit is biased (B₀ = 100 GPa read as 81 GPa at 1 %
 * off-centre, 42 GPa outside the window, spec §9.2). Here the minimum is bracketed first and the
 * fit uses points centred on it.
 *
 * ```ts
 * const fit = fitBirchMurnaghan(volumes, energies);         // Å³, eV
 * fit.v0; fit.b0GPa; fit.bp;
 * const series = await bulkModulusSeries((v) => energyOfCellWithVolume(v), crystal.volume);
 * series.fit.b0GPa;
 * ```
 */
import { EV_PER_A3_TO_GPA } from "../structure/units.js";

export interface EosFit {
  /** Equilibrium volume (Å³). */
  v0: number;
  /** Energy at v0 (eV). */
  e0: number;
  /** Bulk modulus (eV/Å³). */
  b0: number;
  /** Bulk modulus (GPa). */
  b0GPa: number;
  /** dB/dP at v0. */
  bp: number;
  /** Root-mean-square residual of the fit (eV). */
  rms: number;
}

/** A fit or an E(V) series that cannot give a bulk modulus (too few points, no minimum in reach). */
export class EosError extends Error {
  override readonly name = "EosError";
}

/** Birch–Murnaghan energy (ASE's `birchmurnaghan`): E0 + 9 V0 B0/16 [(η²−1)³ B' + (η²−1)² (6 − 4η²)], η = (V0/V)^(1/3). */
export function birchMurnaghanEnergy(v: number, p: Pick<EosFit, "v0" | "e0" | "b0" | "bp">): number {
  const eta2 = Math.pow(p.v0 / v, 2 / 3);
  const x = eta2 - 1;
  return p.e0 + ((9 * p.v0 * p.b0) / 16) * (x * x * x * p.bp + x * x * (6 - 4 * eta2));
}

/**
 * Least-squares Birch–Murnaghan fit of energies (eV) at volumes (Å³), the same model and optimum
 * as ASE's `EquationOfState(volumes, energies, eos="birchmurnaghan").fit()`.
 *
 * For a fixed V0 the model is linear in E0, 9V0B0B'/16 and 9V0B0/16, so the fit is a one-dimensional
 * search over V0 of a 3-parameter linear least-squares problem (variable projection). The search
 * starts, as ASE's does, at the vertex of a parabola through the data, walks downhill on a 0.02 %
 * grid of V0 and ends with a golden-section refinement.
 */
export function fitBirchMurnaghan(volumes: ArrayLike<number>, energies: ArrayLike<number>): EosFit {
  const n = volumes.length;
  if (energies.length !== n) throw new EosError(`EOS fit: ${n} volumes but ${energies.length} energies`);
  if (n < 4) throw new EosError(`EOS fit: a Birch–Murnaghan fit has 4 parameters and needs at least 4 points, got ${n}`);
  const v = Float64Array.from(volumes);
  const e = Float64Array.from(energies);
  for (let i = 0; i < n; i++) {
    if (!(v[i]! > 0) || !Number.isFinite(v[i]!)) throw new EosError(`EOS fit: volume ${i} is ${v[i]} Å³`);
    if (!Number.isFinite(e[i]!)) throw new EosError(`EOS fit: energy ${i} is ${e[i]} eV`);
  }
  if (new Set(v).size < 4) throw new EosError("EOS fit: needs at least 4 distinct volumes");
  // Energies relative to their mean keep the linear solve well scaled.
  let eMean = 0;
  for (const x of e) eMean += x / n;
  const de = e.map((x) => x - eMean);

  const solve = (v0: number): { sse: number; coef: [number, number, number] } | undefined => {
    // Columns 1, x³, x²(6 − 4η²) with η² = (v0/V)^(2/3), x = η² − 1.
    const cols = [new Float64Array(n).fill(1), new Float64Array(n), new Float64Array(n)];
    for (let i = 0; i < n; i++) {
      const eta2 = Math.pow(v0 / v[i]!, 2 / 3);
      const x = eta2 - 1;
      cols[1]![i] = x * x * x;
      cols[2]![i] = x * x * (6 - 4 * eta2);
    }
    return leastSquares3(cols, de);
  };
  const sseAt = (v0: number): number => solve(v0)?.sse ?? Number.POSITIVE_INFINITY;

  // Start where ASE starts, at the vertex of a parabola fitted to E(V), and follow the profile
  // SSE(V0) downhill on a fine log grid: the basin of the physical minimum is narrow when the data
  // are smooth, and far-off V0 can give shallow spurious minima (ASE's local optimiser never sees them).
  let vmin = Number.POSITIVE_INFINITY;
  let vmax = 0;
  let vMean = 0;
  for (const x of v) {
    vmin = Math.min(vmin, x);
    vmax = Math.max(vmax, x);
    vMean += x / n;
  }
  let start = v[e.indexOf(Math.min(...e))]!;
  const parabola = leastSquares3([new Float64Array(n).fill(1), v.map((x) => x - vMean), v.map((x) => (x - vMean) ** 2)], de);
  if (parabola && parabola.coef[2] > 0) start = vMean - parabola.coef[1] / (2 * parabola.coef[2]);
  start = Math.min(2 * vmax, Math.max(0.5 * vmin, start));
  const half = 2000;
  const h = 2e-4;
  const at = (k: number): number => Math.log(start) + k * h;
  const sse = new Map<number, number>();
  const sseGrid = (k: number): number => {
    let s = sse.get(k);
    if (s === undefined) sse.set(k, (s = sseAt(Math.exp(at(k)))));
    return s;
  };
  let best = 0;
  for (;;) {
    const here = sseGrid(best);
    if (best > -half && sseGrid(best - 1) < here) best--;
    else if (best < half && sseGrid(best + 1) < here) best++;
    else break;
  }
  if (!Number.isFinite(sseGrid(best))) throw new EosError("EOS fit: no volume gives a solvable fit");
  let a = at(best - 1);
  let b = at(best + 1);
  const g = (Math.sqrt(5) - 1) / 2;
  let c = b - g * (b - a);
  let d = a + g * (b - a);
  let fc = sseAt(Math.exp(c));
  let fd = sseAt(Math.exp(d));
  while (b - a > 1e-13) {
    if (fc < fd) {
      b = d;
      d = c;
      fd = fc;
      c = b - g * (b - a);
      fc = sseAt(Math.exp(c));
    } else {
      a = c;
      c = d;
      fc = fd;
      d = a + g * (b - a);
      fd = sseAt(Math.exp(d));
    }
  }
  const v0 = Math.exp((a + b) / 2);
  const fit = solve(v0);
  if (!fit) throw new EosError("EOS fit: singular least-squares problem at the optimum");
  const [c0, c1, c2] = fit.coef;
  const b0 = (16 * c2) / (9 * v0);
  const bp = c1 / c2;
  return { v0, e0: c0 + eMean, b0, b0GPa: b0 * EV_PER_A3_TO_GPA, bp, rms: Math.sqrt(fit.sse / n) };
}

/**
 * Least squares with three columns by modified Gram–Schmidt on unit-scaled columns: the columns are
 * nearly dependent close to the data (x is small), which normal equations would square into noise.
 * Undefined when a column is (numerically) a combination of the earlier ones.
 */
function leastSquares3(cols: Float64Array[], y: Float64Array): { sse: number; coef: [number, number, number] } | undefined {
  const n = y.length;
  const scale = cols.map((c) => Math.hypot(...c));
  if (!scale.every((s) => s > 0 && Number.isFinite(s))) return undefined;
  const q = cols.map((c, j) => c.map((x) => x / scale[j]!));
  const r = new Float64Array(9);
  for (let j = 0; j < 3; j++) {
    for (let i = 0; i < j; i++) {
      let d = 0;
      for (let k = 0; k < n; k++) d += q[i]![k]! * q[j]![k]!;
      r[3 * i + j] = d;
      for (let k = 0; k < n; k++) q[j]![k]! -= d * q[i]![k]!;
    }
    const norm = Math.hypot(...q[j]!);
    if (!(norm > 1e-12)) return undefined;
    r[4 * j] = norm;
    for (let k = 0; k < n; k++) q[j]![k]! /= norm;
  }
  const qty = [0, 0, 0];
  const res = Float64Array.from(y);
  for (let j = 0; j < 3; j++) {
    let d = 0;
    for (let k = 0; k < n; k++) d += q[j]![k]! * res[k]!;
    qty[j] = d;
    for (let k = 0; k < n; k++) res[k]! -= d * q[j]![k]!;
  }
  const z = [0, 0, 0];
  for (let j = 2; j >= 0; j--) {
    let s = qty[j]!;
    for (let k = j + 1; k < 3; k++) s -= r[3 * j + k]! * z[k]!;
    z[j] = s / r[4 * j]!;
  }
  let sse = 0;
  for (const x of res) sse += x * x;
  return { sse, coef: [z[0]! / scale[0]!, z[1]! / scale[1]!, z[2]! / scale[2]!] };
}

export interface BulkModulusSeriesOptions {
  /** Volume ratio between neighbouring points minus one: V_k = V_guess (1 + step)^k. Default 0.02. */
  step?: number;
  /** Points in the fitted window, odd, at least 5. Default 7 (±6 % in volume, ±2 % in length). */
  points?: number;
  /** The most energies to compute before giving up. Default 15. */
  maxEvaluations?: number;
  /** Stops between energy calls (the error is the signal's reason). */
  signal?: AbortSignal;
  /** Called after each energy, for progress displays. */
  onPoint?: (volume: number, energy: number) => void;
}

export interface BulkModulusSeries {
  fit: EosFit;
  /** Every volume computed (Å³), ascending, with its energy (eV). */
  volumes: number[];
  energies: number[];
  /** The volumes and energies of the fitted window (centred on the lowest energy). */
  fitted: { volumes: number[]; energies: number[] };
  /** How many energies were computed. */
  evaluations: number;
}

/**
 * Computes E(V) on a geometric grid around `v0guess` until the lowest energy sits in the middle of
 * a full window of `points` grid volumes, then fits Birch–Murnaghan to that window.
 *
 * While the lowest energy is at an end of what has been computed, the grid is extended on that side
 * with strides that double (1, 2, 4 steps), so a guess that is 30 % off costs a few energies, not
 * fifteen; once bracketed, the window around the lowest energy is filled in, and re-centred if a new
 * point turns out lower. Throws an EosError when `maxEvaluations` is reached first, or when the fit
 * gives a non-positive bulk modulus or a minimum outside the window. Errors of `energyAt` propagate.
 */
export async function bulkModulusSeries(
  energyAt: (volume: number) => Promise<number>,
  v0guess: number,
  options: BulkModulusSeriesOptions = {},
): Promise<BulkModulusSeries> {
  const step = options.step ?? 0.02;
  const points = options.points ?? 7;
  const maxEvaluations = options.maxEvaluations ?? 15;
  if (!(v0guess > 0) || !Number.isFinite(v0guess)) throw new RangeError(`bulkModulusSeries: v0guess must be a positive volume, got ${v0guess}`);
  if (!(step > 0 && step < 0.5)) throw new RangeError(`bulkModulusSeries: step must lie in (0, 0.5), got ${step}`);
  if (!(Number.isInteger(points) && points >= 5 && points % 2 === 1)) throw new RangeError(`bulkModulusSeries: points must be an odd integer >= 5, got ${points}`);
  if (!(maxEvaluations >= points)) throw new RangeError(`bulkModulusSeries: maxEvaluations (${maxEvaluations}) must be at least points (${points})`);
  const half = (points - 1) / 2;
  const volumeOf = (k: number): number => v0guess * Math.pow(1 + step, k);
  const energy = new Map<number, number>();

  const evaluate = async (k: number): Promise<void> => {
    if (energy.has(k)) return;
    if (energy.size >= maxEvaluations) {
      const ks = [...energy.keys()].sort((x, y) => x - y);
      const kmin = argmin(energy);
      const where = kmin === ks[0] ? "still falling toward smaller volumes" : kmin === ks[ks.length - 1] ? "still falling toward larger volumes" : "not yet centred";
      throw new EosError(
        `E(V): no centred minimum after ${maxEvaluations} energies (lowest at V = ${volumeOf(kmin).toFixed(3)} Å³, ${(volumeOf(kmin) / v0guess).toFixed(3)} of the guess, ${where})`,
      );
    }
    options.signal?.throwIfAborted();
    const v = volumeOf(k);
    const e = await energyAt(v);
    if (!Number.isFinite(e)) throw new EosError(`E(V): the energy at V = ${v} Å³ is ${e}`);
    energy.set(k, e);
    options.onPoint?.(v, e);
  };

  for (const k of [0, -1, 1]) await evaluate(k);
  let strideDown = 1;
  let strideUp = 1;
  for (;;) {
    const ks = [...energy.keys()].sort((x, y) => x - y);
    const kmin = argmin(energy);
    if (kmin === ks[0]) {
      await evaluate(kmin - strideDown);
      strideDown *= 2;
      continue;
    }
    if (kmin === ks[ks.length - 1]) {
      await evaluate(kmin + strideUp);
      strideUp *= 2;
      continue;
    }
    strideDown = strideUp = 1;
    // Fill the window around the lowest energy, nearest points first; re-centre if one is lower.
    const missing: number[] = [];
    for (let d = 1; d <= half; d++) for (const k of [kmin - d, kmin + d]) if (!energy.has(k)) missing.push(k);
    if (missing.length === 0) break;
    await evaluate(missing[0]!);
  }

  const kmin = argmin(energy);
  const window: number[] = [];
  for (let k = kmin - half; k <= kmin + half; k++) window.push(k);
  const fitted = { volumes: window.map(volumeOf), energies: window.map((k) => energy.get(k)!) };
  const fit = fitBirchMurnaghan(fitted.volumes, fitted.energies);
  const lo = fitted.volumes[0]!;
  const hi = fitted.volumes[fitted.volumes.length - 1]!;
  if (!(fit.b0 > 0)) throw new EosError(`E(V): the Birch–Murnaghan fit gives a bulk modulus of ${fit.b0GPa.toFixed(2)} GPa`);
  if (!(fit.v0 > lo && fit.v0 < hi)) throw new EosError(`E(V): the fitted minimum V0 = ${fit.v0.toFixed(3)} Å³ lies outside the window ${lo.toFixed(3)}–${hi.toFixed(3)} Å³`);
  const all = [...energy.keys()].sort((x, y) => x - y);
  return { fit, volumes: all.map(volumeOf), energies: all.map((k) => energy.get(k)!), fitted, evaluations: energy.size };
}

function argmin(energy: ReadonlyMap<number, number>): number {
  let best = 0;
  let e = Number.POSITIVE_INFINITY;
  for (const [k, x] of energy) {
    if (x < e || (x === e && k < best)) {
      e = x;
      best = k;
    }
  }
  return best;
}
