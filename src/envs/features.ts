/**
 * MACS per-atom quantities (macs-spec §2.1, §2.3, §3, §4): the scaled gradient g, the action scale c,
 * the 12-number feature vector of every atom, and the constants of the game.
 *
 * Everything here works on plain typed arrays of one structure (rows of three per atom), so the
 * relaxation game and the batch share it and no per-atom objects are made.
 *
 * Sign convention (spec §2.3 leaves it open): g is the *gradient*, g = −F (the paper's word), scaled;
 * so moving an atom along its force moves it along −g. Only norms enter c and the reward.
 */

/** Parameters of the game; defaults are the paper's (spec Table 4 / §5). */
export interface MacsParameters {
  /** Per-atom ∞-norm clip of the gradient (eV/Å), eq. 14. Paper: 5. */
  gMax: number;
  /** Largest action scale c (Å), eq. 3. Paper: 0.4. */
  cMax: number;
  /** Neighbours in the observation. Paper: 12 (obs length 204). */
  k: number;
  /** Success when the largest per-atom force norm (real forces, ASE's fmax) is below this (eV/Å). Paper: 0.05. */
  fmax: number;
  /** Truncation (a failure) after this many steps. Paper: 1000. */
  maxSteps: number;
  /** Floor of |g| under the logs of the feature and the reward (spec pitfall 14; not in the paper). */
  logEpsilon: number;
  /** Wrap atoms back into the cell after each move (spec §3). Observations do not depend on it. */
  wrap: boolean;
  /**
   * Training only, not in the paper: end the episode as a failure (terminal, no bootstrap) once fmax
   * exceeds this (eV/Å). The ionic model's C/r¹² wall, unlike CHGNet, turns a random early move into
   * forces of 1e8 eV/Å, where the clipped reward is flat and episodes never end. Infinity = the paper.
   */
  blowUpFmax: number;
  /**
   * Training only, not in the paper: the ∞-norm clip of the gradient inside the reward (eV/Å); the
   * paper uses g_max for both. Above g_max the paper's reward is flat, so with the ionic model's steep
   * wall an atom pushed into a contact is not penalised; a looser clip here gives it the log-force
   * increase as a penalty. Observations and c keep g_max.
   */
  rewardGMax: number;
}

export const MACS_DEFAULTS: Readonly<MacsParameters> = Object.freeze({
  gMax: 5,
  cMax: 0.4,
  k: 12,
  fmax: 0.05,
  maxSteps: 1000,
  logEpsilon: 1e-8,
  wrap: true,
  blowUpFmax: Infinity,
  rewardGMax: 5,
});

/** Resolves and checks parameters: a RangeError names a bad one. */
export function macsParameters(p: Partial<MacsParameters> = {}): MacsParameters {
  const out: MacsParameters = {
    gMax: p.gMax ?? MACS_DEFAULTS.gMax,
    cMax: p.cMax ?? MACS_DEFAULTS.cMax,
    k: p.k ?? MACS_DEFAULTS.k,
    fmax: p.fmax ?? MACS_DEFAULTS.fmax,
    maxSteps: p.maxSteps ?? MACS_DEFAULTS.maxSteps,
    logEpsilon: p.logEpsilon ?? MACS_DEFAULTS.logEpsilon,
    wrap: p.wrap ?? MACS_DEFAULTS.wrap,
    blowUpFmax: p.blowUpFmax ?? MACS_DEFAULTS.blowUpFmax,
    rewardGMax: p.rewardGMax ?? p.gMax ?? MACS_DEFAULTS.rewardGMax,
  };
  if (!(out.rewardGMax >= out.gMax)) throw new RangeError(`rewardGMax must be at least gMax (${out.gMax}), got ${out.rewardGMax}`);
  if (!(out.blowUpFmax > out.fmax)) throw new RangeError(`blowUpFmax must be above fmax, got ${out.blowUpFmax}`);
  for (const key of ["gMax", "cMax", "fmax", "logEpsilon"] as const) {
    const v = out[key];
    if (!(v > 0) || !Number.isFinite(v)) throw new RangeError(`${key} must be a positive number, got ${v}`);
  }
  if (!Number.isInteger(out.k) || out.k < 1) throw new RangeError(`k must be a positive whole number, got ${out.k}`);
  if (!Number.isInteger(out.maxSteps) || out.maxSteps < 0) throw new RangeError(`maxSteps must be a whole number >= 0, got ${out.maxSteps}`);
  return out;
}

/** Numbers per atom in the feature vector f_i (eq. 1). */
export const FEATURES = 12;

/** What each of the 12 feature slots holds, in order. */
export const FEATURE_NAMES: readonly string[] = Object.freeze([
  "covalentRadius",
  "c",
  "logGradNorm",
  "gx",
  "gy",
  "gz",
  "dx",
  "dy",
  "dz",
  "dgx",
  "dgy",
  "dgz",
]);

/** Offsets of the feature groups inside f_i. */
export const FEATURE_SLOTS = Object.freeze({ radius: 0, c: 1, logGradNorm: 2, g: 3, d: 6, dg: 9 });

/**
 * The scaled gradient of eq. 14 from raw forces: g0 = −F per atom; when its ∞-norm (largest
 * |component|) reaches gMax the whole 3-vector is scaled to ∞-norm gMax (direction kept). Writes g
 * (3N) and its per-atom L2 norms (N).
 */
export function clippedGradient(forces: ArrayLike<number>, gMax: number, g: Float64Array, norms: Float64Array): void {
  const n = norms.length;
  for (let i = 0; i < n; i++) {
    const x = -forces[3 * i]!;
    const y = -forces[3 * i + 1]!;
    const z = -forces[3 * i + 2]!;
    const inf = Math.max(Math.abs(x), Math.abs(y), Math.abs(z));
    const s = inf < gMax ? 1 : gMax / inf;
    const gx = x * s;
    const gy = y * s;
    const gz = z * s;
    g[3 * i] = gx;
    g[3 * i + 1] = gy;
    g[3 * i + 2] = gz;
    norms[i] = Math.sqrt(gx * gx + gy * gy + gz * gz);
  }
}

/** Per-atom L2 norms of the gradient after the ∞-norm clip at `clip` (eq. 14), without the vectors. */
export function clippedNorms(forces: ArrayLike<number>, clip: number, norms: Float64Array): void {
  for (let i = 0; i < norms.length; i++) {
    const x = forces[3 * i]!;
    const y = forces[3 * i + 1]!;
    const z = forces[3 * i + 2]!;
    const inf = Math.max(Math.abs(x), Math.abs(y), Math.abs(z));
    const s = inf < clip ? 1 : clip / inf;
    norms[i] = s * Math.sqrt(x * x + y * y + z * z);
  }
}

/** c_i = min(|g_i|₂, cMax) (eq. 3): the per-component bound of atom i's displacement (Å). */
export function actionScale(gradNorm: number, cMax: number): number {
  return gradNorm < cMax ? gradNorm : cMax;
}

/** log(max(|g|, ε)): the feature log|g| and the two halves of the reward. */
export function logNorm(gradNorm: number, epsilon: number): number {
  return Math.log(gradNorm > epsilon ? gradNorm : epsilon);
}

/**
 * The feature vectors of all atoms of one structure, written into `out` (N × 12, row per atom):
 * [r, c, log|g|, g (3), d^{t-1} (3), Δg (3)] (eq. 1).
 */
export function writeFeatures(
  radii: ArrayLike<number>,
  g: ArrayLike<number>,
  gradNorms: ArrayLike<number>,
  lastDisplacement: ArrayLike<number>,
  gradChange: ArrayLike<number>,
  params: Pick<MacsParameters, "cMax" | "logEpsilon">,
  out: Float32Array,
): void {
  const n = radii.length;
  const { cMax, logEpsilon } = params;
  for (let i = 0; i < n; i++) {
    const o = FEATURES * i;
    const t = 3 * i;
    const norm = gradNorms[i]!;
    out[o] = radii[i]!;
    out[o + 1] = actionScale(norm, cMax);
    out[o + 2] = logNorm(norm, logEpsilon);
    out[o + 3] = g[t]!;
    out[o + 4] = g[t + 1]!;
    out[o + 5] = g[t + 2]!;
    out[o + 6] = lastDisplacement[t]!;
    out[o + 7] = lastDisplacement[t + 1]!;
    out[o + 8] = lastDisplacement[t + 2]!;
    out[o + 9] = gradChange[t]!;
    out[o + 10] = gradChange[t + 1]!;
    out[o + 11] = gradChange[t + 2]!;
  }
}
