import type { Crystal } from "../structure/crystal.js";
import { forEachPair } from "../structure/cell-list.js";
import { elementBySymbol, symbolOf } from "../structure/elements.js";
import { EmbeddedCalculator, positive, type Computed, type ComputeRequest } from "./calculator.js";
import { addSymmetric, PairAccumulator, voigt } from "./pair-sum.js";

// Defined here once, now shared: the streaming pair visitor lives with the neighbour list
// (structure/cell-list.ts), addSymmetric with the pair accumulator (pair-sum.ts). Re-exported so that
// imports from ewald.js keep working.

/**
 * Ewald summation of point charges in any (triclinic) periodic cell: energy, forces and stress.
 *
 *   E = E_real + E_recip + E_self + E_background
 *   E_real  = k Σ_{i<j, images} q_i q_j erfc(α r)/r                        (pairs closer than rcut)
 *   E_recip = k (2π/V) Σ_{k≠0, |k|<kcut} e^{−k²/4α²}/k² |S(k)|²,  S(k) = Σ_j q_j e^{ik·r_j}
 *   E_self  = −k α/√π Σ_i q_i²
 *   E_bg    = −k π Q²/(2Vα²)                                              (Q = Σ q_i)
 *
 * with k = e²/(4πε0). A cell with a net charge Q ≠ 0 is accepted: E_bg is the energy of the uniform
 * neutralising background (the same convention as pymatgen's EwaldSummation and LAMMPS's ewald), so
 * the total does not depend on α for charged cells either.
 *
 * Accuracy. `accuracy` (ε, relative, default 1e-6) sets both truncations through p = ln(1/ε):
 * rcut = √p/α, so the real-space terms left out are below erfc(√p) ≈ ε/√(πp) of their bare Coulomb
 * value, and kcut = 2α√p, so the reciprocal terms left out carry e^{−kcut²/4α²} = ε of the weight of
 * k → 0. α itself balances the two sums' work as pymatgen (and GULP) do: α = √π (N w / V²)^{1/6}, where
 * w is the measured cost of one real-space pair relative to one (atom, k-vector) term of this code.
 * Override `alpha`, `rcut` or `kcut` to pin any of them; with `rcut` alone, α = √p / rcut.
 * Measured on SrTiO3 (test/calculators/ewald.test.ts, bench/ionic.ts): ε = 1e-6 gives energies within
 * about 3e-7 relative of the converged sum and forces within about 5e-5 eV/Å; ε = 1e-10, 2e-11 and 5e-9.
 *
 * The reciprocal sum runs over half of k-space (k and −k give the same term) and builds e^{ik·r_j} by
 * recurrence over integer multiples of the reciprocal vectors, so one k-vector costs one complex
 * product per atom. The real-space sum visits each unordered pair once through `forEachPair`
 * (structure/cell-list.ts), a cell list that stores no pair list.
 *
 * @example
 * const { energy, forces } = ewald(perovskite("Sr", "Ti", "O", 3.905), [2, 4, -2, -2, -2]);
 * const calc = new Ewald({ charges: { Sr: 2, Ti: 4, O: -2 } });
 */

/**
 * Coulomb's constant e²/(4πε0) in eV·Å: 1e10 · e / (4π ε0) with the CODATA 2018 values
 * e = 1.602176634e-19 C (exact) and ε0 = 8.8541878128e-12 F/m, i.e. 14.399645478425668 eV·Å (the value
 * scipy.constants gives pymatgen; LAMMPS's metal units use 14.399645).
 */
export const COULOMB_CONSTANT = (1e10 * 1.602176634e-19) / (4 * Math.PI * 8.8541878128e-12);

/** Default relative accuracy of the Ewald sums. */
export const EWALD_ACCURACY = 1e-6;

/**
 * Cost of one real-space pair (cell-list visit, erfc, exponential, forces) relative to one
 * (atom, k-vector) term of the reciprocal sum in this file: w in α = √π (N w / V²)^{1/6}. Measured
 * with node 20 on x86-64 for SrTiO3 cells of 40 and 1000 atoms: about 55 ns per pair against 5 ns per
 * term, and the total time is flat within 10 % for w between 5 and 20. A wrong w costs time, never
 * accuracy.
 */
export const EWALD_COST_RATIO = 10;

// ---------------------------------------------------------------------------------------------------
// erfc
// ---------------------------------------------------------------------------------------------------

// W. J. Cody, "Rational Chebyshev approximations for the error function", Math. Comp. 23, 631-637
// (1969): the coefficient sets of Netlib SPECFUN's CALERF (A, B: erf on |x| <= 0.46875; C, D:
// erfc·e^{x²} on (0.46875, 4]; P, Q: the asymptotic form on (4, ∞)). Relative accuracy ~1e-16.
const CA0 = 3.1611237438705656;
const CA1 = 113.864154151050156;
const CA2 = 377.485237685302021;
const CA3 = 3209.37758913846947;
const CA4 = 0.185777706184603153;
const CB0 = 23.6012909523441209;
const CB1 = 244.024637934444173;
const CB2 = 1282.61652607737228;
const CB3 = 2844.23683343917062;
const CC0 = 0.564188496988670089;
const CC1 = 8.88314979438837594;
const CC2 = 66.1191906371416295;
const CC3 = 298.635138197400131;
const CC4 = 881.95222124176909;
const CC5 = 1712.04761263407058;
const CC6 = 2051.07837782607147;
const CC7 = 1230.33935479799725;
const CC8 = 2.15311535474403846e-8;
const CD0 = 15.7449261107098347;
const CD1 = 117.693950891312499;
const CD2 = 537.181101862009858;
const CD3 = 1621.38957456669019;
const CD4 = 3290.79923573345963;
const CD5 = 4362.61909014324716;
const CD6 = 3439.36767414372164;
const CD7 = 1230.33935480374942;
const CP0 = 0.305326634961232344;
const CP1 = 0.360344899949804439;
const CP2 = 0.125781726111229246;
const CP3 = 0.0160837851487422766;
const CP4 = 6.58749161529837803e-4;
const CP5 = 0.0163153871373020978;
const CQ0 = 2.56852019228982242;
const CQ1 = 1.87295284992346047;
const CQ2 = 0.527905102951428412;
const CQ3 = 0.0605183413124413191;
const CQ4 = 0.00233520497626869185;
const SQRPI = 0.56418958354775628695; // 1/√π
const XBIG = 26.543; // erfc(x) underflows beyond

/** erf(x) / x for |x| <= 0.46875 (Cody's first interval), as a function of t = x². */
function erfOverX(t: number): number {
  return ((((CA4 * t + CA0) * t + CA1) * t + CA2) * t + CA3) / ((((t + CB0) * t + CB1) * t + CB2) * t + CB3);
}

/** erfc(y)·e^{y²} for 0.46875 < y <= 4 (Cody's second interval). */
function erfcScaledMid(y: number): number {
  const num = (((((((CC8 * y + CC0) * y + CC1) * y + CC2) * y + CC3) * y + CC4) * y + CC5) * y + CC6) * y + CC7;
  const den = (((((((y + CD0) * y + CD1) * y + CD2) * y + CD3) * y + CD4) * y + CD5) * y + CD6) * y + CD7;
  return num / den;
}

/** erfc(y)·e^{y²} for y > 4 (Cody's third interval). */
function erfcScaledTail(y: number): number {
  const t = 1 / (y * y);
  const num = ((((CP5 * t + CP0) * t + CP1) * t + CP2) * t + CP3) * t + CP4;
  const den = ((((t + CQ0) * t + CQ1) * t + CQ2) * t + CQ3) * t + CQ4;
  return (SQRPI - (t * num) / den) / y;
}

/**
 * The complementary error function, W. J. Cody's rational Chebyshev approximations (Math. Comp. 23,
 * 631 (1969); Netlib SPECFUN CALERF), relative error about 1e-16 over the whole real line. As in CALERF,
 * e^{−x²} is formed as e^{−x₀²} e^{−(x−x₀)(x+x₀)} with x₀ = x rounded down to 1/16, so the large
 * argument of the exponential carries no rounding error.
 */
export function erfc(x: number): number {
  const y = Math.abs(x);
  let r: number;
  if (y <= 0.46875) {
    return 1 - x * erfOverX(y * y);
  } else if (y >= XBIG) {
    r = 0;
  } else {
    const s = y <= 4 ? erfcScaledMid(y) : erfcScaledTail(y);
    const y0 = Math.trunc(16 * y) / 16;
    r = Math.exp(-y0 * y0) * Math.exp(-(y - y0) * (y + y0)) * s;
  }
  return x < 0 ? 2 - r : r;
}

/**
 * erfc(x) for x >= 0 given e2 = e^{−x²} (which the caller needs anyway for the force): the hot-loop form
 * of `erfc`, one exponential per pair. Relative error a few 1e-16 (from e^{−x²} itself).
 */
export function erfcWithExp(x: number, e2: number): number {
  if (x <= 0.46875) return 1 - x * erfOverX(x * x);
  if (x <= 4) return e2 * erfcScaledMid(x);
  if (x >= XBIG) return 0;
  return e2 * erfcScaledTail(x);
}

// ---------------------------------------------------------------------------------------------------
// Parameters
// ---------------------------------------------------------------------------------------------------

export interface EwaldParameterOptions {
  /** Relative accuracy ε of both truncations (see the file comment). Default 1e-6. */
  accuracy?: number;
  /** Splitting parameter α (1/Å). Default: balanced (α = √π (N w / V²)^{1/6}), or √p / rcut when `rcut` is given. */
  alpha?: number;
  /** Real-space cut-off (Å). Default √p / α. */
  rcut?: number;
  /** Reciprocal-space cut-off (1/Å, including the 2π). Default 2α√p. */
  kcut?: number;
}

export interface EwaldParameters {
  accuracy: number;
  alpha: number;
  rcut: number;
  kcut: number;
}

/**
 * α, rcut and kcut for `crystal` from `accuracy` and any overrides (see the file comment); `costRatio`
 * is w in α = √π (N w / V²)^{1/6}. `maxRcut`: when the balanced α would need a longer real-space
 * cut-off, α is raised so that rcut = maxRcut (a caller whose pair loop stops there, e.g. `Ionic`).
 */
export function ewaldParameters(crystal: Crystal, options: EwaldParameterOptions = {}, costRatio = EWALD_COST_RATIO, maxRcut = Infinity): EwaldParameters {
  const accuracy = options.accuracy ?? EWALD_ACCURACY;
  if (!(accuracy > 0 && accuracy < 1)) throw new RangeError(`ewald: accuracy must lie in (0, 1), got ${accuracy}`);
  const sp = Math.sqrt(-Math.log(accuracy));
  let alpha: number;
  if (options.alpha !== undefined) alpha = positive("alpha", options.alpha);
  else if (options.rcut !== undefined) alpha = sp / positive("rcut", options.rcut);
  else {
    const n = Math.max(1, crystal.natoms);
    alpha = Math.sqrt(Math.PI) * Math.pow((n * costRatio) / (crystal.volume * crystal.volume), 1 / 6);
    if (sp / alpha > maxRcut) alpha = sp / maxRcut;
  }
  const rcut = options.rcut !== undefined ? positive("rcut", options.rcut) : sp / alpha;
  const kcut = options.kcut !== undefined ? positive("kcut", options.kcut) : 2 * alpha * sp;
  return { accuracy, alpha, rcut, kcut };
}

// ---------------------------------------------------------------------------------------------------
// The sums
// ---------------------------------------------------------------------------------------------------

/** Output buffers of the partial sums: each adds into them. */
export interface EwaldAccumulator {
  energy: number;
  /** 3N (eV/Å), added to when present. */
  forces?: Float64Array;
  /** Row-major 3x3 ∂E/∂ε (eV), not yet divided by the volume; added to when present. */
  virial?: Float64Array;
}

/**
 * The reciprocal-space sum with splitting parameter `alpha` and cut-off `kcut` (1/Å), added into `acc`.
 * Returns the number of k-vectors in the half space that were summed.
 *
 * k = h b0 + k b1 + l b2 over the half space (h > 0; h = 0, k > 0; h = k = 0, l > 0). For each (h, k)
 * the allowed l form one run [lmin, lmax]; per atom, e^{i(hθ0 + kθ1)} comes from tables of
 * e^{i m θ_d} (θ_d = 2π s_d), and e^{ik·r} then advances along the run by one complex product per l.
 * The structure factors S_l of the run are summed first, then the forces: with t = g q (Re S sin θ −
 * Im S cos θ), the force Σ_l t_l (u + l b2) = u Σ t_l + b2 Σ l t_l needs two scalars per atom per run.
 */
export function ewaldReciprocal(crystal: Crystal, charges: ArrayLike<number>, alpha: number, kcut: number, acc: EwaldAccumulator): number {
  const n = crystal.natoms;
  if (n === 0) return 0;
  const lattice = crystal.lattice;
  const V = lattice.volume;
  const rec = lattice.reciprocal({ twoPi: true }).matrix; // rows b_d with a_i · b_j = 2π δ_ij
  const m = lattice.matrix;
  const len = [0, 1, 2].map((d) => Math.hypot(m[3 * d]!, m[3 * d + 1]!, m[3 * d + 2]!));
  // |h_d| = |k · a_d| / 2π <= kcut |a_d| / 2π.
  const hmax = len.map((l) => Math.floor((kcut * l) / (2 * Math.PI)));
  const [h0, h1, h2] = hmax as [number, number, number];
  const frac = lattice.toFractional(crystal.positions);

  // e^{i m θ_d} for m = 0..hmax_d by recurrence from e^{iθ_d}, stored [m·n + atom].
  const table = (d: number): { re: Float64Array; im: Float64Array } => {
    const hm = hmax[d]!;
    const re = new Float64Array((hm + 1) * n);
    const im = new Float64Array((hm + 1) * n);
    for (let a = 0; a < n; a++) {
      const t = 2 * Math.PI * (frac[3 * a + d]! - Math.floor(frac[3 * a + d]!));
      const c = Math.cos(t);
      const sn = Math.sin(t);
      re[a] = 1;
      im[a] = 0;
      for (let k = 1; k <= hm; k++) {
        const pr = re[(k - 1) * n + a]!;
        const pi = im[(k - 1) * n + a]!;
        re[k * n + a] = pr * c - pi * sn;
        im[k * n + a] = pr * sn + pi * c;
      }
    }
    return { re, im };
  };
  const { re: R0, im: I0 } = table(0);
  const { re: R1, im: I1 } = table(1);
  const { re: R2, im: I2 } = table(2);

  const q = Float64Array.from(charges);
  const F = acc.forces;
  const W = acc.virial;
  const kc2 = kcut * kcut;
  const inv4a2 = 1 / (4 * alpha * alpha);
  const pref = (4 * Math.PI * COULOMB_CONSTANT) / V; // half space: twice 2πk/V
  const b00 = rec[0]!, b01 = rec[1]!, b02 = rec[2]!;
  const b10 = rec[3]!, b11 = rec[4]!, b12 = rec[5]!;
  const b20 = rec[6]!, b21 = rec[7]!, b22 = rec[8]!;
  const bb2 = b20 * b20 + b21 * b21 + b22 * b22;
  // Per run: structure factors, and the force weight g = 2 pref f(k) (0 where |k| >= kcut).
  const runMax = 2 * h2 + 1;
  const SR = new Float64Array(runMax);
  const SI = new Float64Array(runMax);
  const GW = new Float64Array(runMax);
  const LV = new Float64Array(runMax);
  // Per atom: e^{i(u + lmin b2)·r_a} of the current run, from pass 1 for pass 2.
  const ZR = new Float64Array(n);
  const ZI = new Float64Array(n);
  let energy = 0;
  let count = 0;
  let w00 = 0, w01 = 0, w02 = 0, w11 = 0, w12 = 0, w22 = 0;
  for (let h = 0; h <= h0; h++) {
    for (let k = h === 0 ? 0 : -h1; k <= h1; k++) {
      const ux = h * b00 + k * b10;
      const uy = h * b01 + k * b11;
      const uz = h * b02 + k * b12;
      // l with |u + l b2|² < kc²: bb2 l² + 2 (u·b2) l + |u|² − kc² < 0.
      const ub = ux * b20 + uy * b21 + uz * b22;
      const disc = ub * ub - bb2 * (ux * ux + uy * uy + uz * uz - kc2);
      if (disc <= 0) continue;
      const sq = Math.sqrt(disc);
      let lmin = Math.max(-h2, Math.ceil((-ub - sq) / bb2));
      const lmax = Math.min(h2, Math.floor((-ub + sq) / bb2));
      if (h === 0 && k === 0) lmin = Math.max(lmin, 1);
      if (lmin > lmax) continue;
      const nl = lmax - lmin + 1;
      const ks = k < 0 ? -1 : 1;
      const ka = (k < 0 ? -k : k) * n;
      const ls = lmin < 0 ? -1 : 1;
      const la = (lmin < 0 ? -lmin : lmin) * n;
      const hn = h * n;
      SR.fill(0, 0, nl);
      SI.fill(0, 0, nl);
      // Pass 1: S_l = Σ_a q_a e^{i(u + l b2)·r_a}.
      for (let a = 0; a < n; a++) {
        const qa = q[a]!;
        if (qa === 0) continue;
        // z = e^{i h θ0} e^{±i|k| θ1} e^{±i|lmin| θ2}
        const ar = R0[hn + a]!;
        const ai = I0[hn + a]!;
        const br = R1[ka + a]!;
        const bi = ks * I1[ka + a]!;
        const cr = R2[la + a]!;
        const ci = ls * I2[la + a]!;
        const tr = ar * br - ai * bi;
        const ti = ar * bi + ai * br;
        let wr = tr * cr - ti * ci;
        let wi = tr * ci + ti * cr;
        ZR[a] = wr; // kept for pass 2
        ZI[a] = wi;
        const er = R2[n + a]!; // e^{iθ2}
        const ei = I2[n + a]!;
        for (let t = 0; t < nl; t++) {
          SR[t]! += qa * wr;
          SI[t]! += qa * wi;
          const xr = wr * er - wi * ei;
          wi = wr * ei + wi * er;
          wr = xr;
        }
      }
      let any = false;
      for (let t = 0; t < nl; t++) {
        const l = lmin + t;
        const kx = ux + l * b20;
        const ky = uy + l * b21;
        const kz = uz + l * b22;
        const k2 = kx * kx + ky * ky + kz * kz;
        LV[t] = l;
        if (k2 >= kc2 || k2 === 0) {
          GW[t] = 0;
          continue;
        }
        any = true;
        count++;
        const f = Math.exp(-k2 * inv4a2) / k2;
        const sr = SR[t]!;
        const si = SI[t]!;
        const ek = pref * f * (sr * sr + si * si);
        energy += ek;
        GW[t] = 2 * pref * f;
        if (W) {
          // ∂E_k/∂ε_ab = E_k (−δ_ab + 2 k_a k_b (1/4α² + 1/k²))
          const c = 2 * ek * (inv4a2 + 1 / k2);
          w00 += c * kx * kx - ek;
          w01 += c * kx * ky;
          w02 += c * kx * kz;
          w11 += c * ky * ky - ek;
          w12 += c * ky * kz;
          w22 += c * kz * kz - ek;
        }
      }
      if (!F || !any) continue;
      // Pass 2: F_a = Σ_l g_l q_a (Re S_l sin θ_a − Im S_l cos θ_a) (u + l b2).
      for (let a = 0; a < n; a++) {
        const qa = q[a]!;
        if (qa === 0) continue;
        let wr = ZR[a]!; // e^{i(u + lmin b2)·r_a}, from pass 1
        let wi = ZI[a]!;
        const er = R2[n + a]!;
        const ei = I2[n + a]!;
        let sa = 0;
        let sb = 0;
        for (let t = 0; t < nl; t++) {
          const v = GW[t]! * (SR[t]! * wi - SI[t]! * wr);
          sa += v;
          sb += v * LV[t]!;
          const xr = wr * er - wi * ei;
          wi = wr * ei + wi * er;
          wr = xr;
        }
        sa *= qa;
        sb *= qa;
        F[3 * a]! += sa * ux + sb * b20;
        F[3 * a + 1]! += sa * uy + sb * b21;
        F[3 * a + 2]! += sa * uz + sb * b22;
      }
    }
  }
  acc.energy += energy;
  if (W) addSymmetric(W, w00, w01, w02, w11, w12, w22);
  return count;
}

/**
 * The self term −kα/√π Σq² and the neutralising-background term −kπQ²/(2Vα²) (with its virial
 * −E_bg δ_ab), added into `acc`.
 */
export function ewaldSelfAndBackground(crystal: Crystal, charges: ArrayLike<number>, alpha: number, acc: EwaldAccumulator): void {
  let q2 = 0;
  let qs = 0;
  for (let a = 0; a < crystal.natoms; a++) {
    q2 += charges[a]! * charges[a]!;
    qs += charges[a]!;
  }
  const self = (-COULOMB_CONSTANT * alpha * q2) / Math.sqrt(Math.PI);
  const bg = (-COULOMB_CONSTANT * Math.PI * qs * qs) / (2 * crystal.volume * alpha * alpha);
  acc.energy += self + bg;
  if (acc.virial) {
    acc.virial[0]! -= bg;
    acc.virial[4]! -= bg;
    acc.virial[8]! -= bg;
  }
}

/** The real-space sum k Σ q_i q_j erfc(αr)/r over pairs closer than `rcut`, added into `acc`. */
export function ewaldReal(crystal: Crystal, charges: ArrayLike<number>, alpha: number, rcut: number, acc: EwaldAccumulator): void {
  const q = Float64Array.from(charges);
  const twoAlphaOverSqrtPi = (2 * alpha) / Math.sqrt(Math.PI);
  const ke = COULOMB_CONSTANT;
  const sums = new PairAccumulator(acc.forces, acc.virial !== undefined);
  forEachPair(crystal, rcut, (b) => {
    const { i: I, j: J, dx: X, dy: Y, dz: Z, r2: R2 } = b;
    for (let p = 0; p < b.count; p++) {
      const i = I[p]!;
      const j = J[p]!;
      const qq = ke * q[i]! * q[j]!;
      if (qq === 0) continue;
      const r2 = R2[p]!;
      const r = Math.sqrt(r2);
      const x = alpha * r;
      const e2 = Math.exp(-x * x);
      const ec = (qq * erfcWithExp(x, e2)) / r;
      sums.energy += ec;
      // g = (de/dr)/r = −(ec + qq 2α/√π e^{−x²}) / r²
      const g = -(ec + qq * twoAlphaOverSqrtPi * e2) / r2;
      sums.add(i, j, g, X[p]!, Y[p]!, Z[p]!);
    }
  });
  acc.energy += sums.energy;
  if (acc.virial) sums.addVirialTo(acc.virial);
}

export interface EwaldOptions extends EwaldParameterOptions {
  /** Forces (eV/Å). Default true. */
  forces?: boolean;
  /** Stress, Voigt xx yy zz yz xz xy (eV/Å³), ASE's sign (1/V) ∂E/∂ε. Default false. */
  stress?: boolean;
}

export interface EwaldResult {
  /** Total electrostatic energy (eV), background term included for a charged cell. */
  energy: number;
  forces?: Float64Array;
  stress?: Float64Array;
  /** The parameters used, and the number of k-vectors summed (half space). */
  parameters: EwaldParameters & { kvectors: number };
}

/** Checks one charge per atom, all finite. */
export function checkCharges(crystal: Crystal, charges: ArrayLike<number>): void {
  if (charges.length !== crystal.natoms) {
    throw new RangeError(`ewald: ${crystal.natoms} atoms need ${crystal.natoms} charges, got ${charges.length}`);
  }
  for (let a = 0; a < charges.length; a++) {
    if (!Number.isFinite(charges[a]!)) throw new RangeError(`ewald: the charge of atom ${a} is not a finite number (${charges[a]})`);
  }
}

/**
 * The Coulomb energy (eV), forces and stress of point charges (units of e) in a periodic crystal by
 * Ewald summation; usable without a Calculator. See the file comment for the terms and the accuracy.
 */
export function ewald(crystal: Crystal, charges: ArrayLike<number>, options: EwaldOptions = {}): EwaldResult {
  checkCharges(crystal, charges);
  const params = ewaldParameters(crystal, options);
  const acc: EwaldAccumulator = { energy: 0 };
  if (options.forces ?? true) acc.forces = new Float64Array(3 * crystal.natoms);
  if (options.stress) acc.virial = new Float64Array(9);
  ewaldReal(crystal, charges, params.alpha, params.rcut, acc);
  const kvectors = ewaldReciprocal(crystal, charges, params.alpha, params.kcut, acc);
  ewaldSelfAndBackground(crystal, charges, params.alpha, acc);
  const result: EwaldResult = { energy: acc.energy, parameters: { ...params, kvectors } };
  if (acc.forces) result.forces = acc.forces;
  if (acc.virial) result.stress = voigt(acc.virial, crystal.volume);
  return result;
}

export interface EwaldCalculatorOptions extends EwaldParameterOptions {
  /** Charge (e) of each element, by symbol: { Sr: 2, Ti: 4, O: -2 }. */
  charges: Readonly<Record<string, number>>;
}

/**
 * Point charges fixed per element, summed by Ewald: a Calculator around `ewald`. An element without a
 * charge is a RangeError naming it and the first atom of it.
 */
export class Ewald extends EmbeddedCalculator {
  readonly name = "ewald";
  readonly options: EwaldParameterOptions;
  private readonly byZ = new Map<number, number>();

  constructor({ charges, ...options }: EwaldCalculatorOptions) {
    super();
    for (const [symbol, q] of Object.entries(charges)) {
      if (!Number.isFinite(q)) throw new RangeError(`ewald: the charge of ${symbol} must be a finite number, got ${q}`);
      this.byZ.set(elementBySymbol(symbol).z, q);
    }
    ewaldParameters({ natoms: 1, volume: 1 } as Crystal, options); // validate early
    this.options = options;
  }

  /** One charge per atom; RangeError naming the first atom whose element has no charge. */
  charges(crystal: Crystal): Float64Array {
    const q = new Float64Array(crystal.natoms);
    for (let a = 0; a < crystal.natoms; a++) {
      const v = this.byZ.get(crystal.numbers[a]!);
      if (v === undefined) throw new RangeError(`ewald: no charge given for element ${symbolOf(crystal.numbers[a]!)} (atom ${a})`);
      q[a] = v;
    }
    return q;
  }

  protected evaluate(crystal: Crystal, request: Required<ComputeRequest>): Computed {
    const r = ewald(crystal, this.charges(crystal), { ...this.options, forces: request.forces, stress: request.stress });
    const out: Computed = { energy: r.energy };
    if (r.forces) out.forces = r.forces;
    if (r.stress) out.stress = r.stress;
    return out;
  }
}

/** `new Ewald(options)`, for chains and the CLI. */
export const ewaldCalculator = (options: EwaldCalculatorOptions): Ewald => new Ewald(options);
