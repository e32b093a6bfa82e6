import { Crystal } from "./crystal.js";
import { elementBySymbol } from "./elements.js";
import { parseFormula, reduceFormula, type Composition } from "./formula.js";
import { Lattice } from "./lattice.js";
import { shortestLatticeVector } from "./neighbours.js";
import { Rng, toRng } from "./random-source.js";

/**
 * Random crystals as AIRSS `buildcell` makes them for MACS (macs-spec §8.3, paper App. B.3): a random
 * cell of the target volume ± 5 %, then atoms dropped uniformly at random, one at a time, each kept
 * only if it is at least `minDistance` (1 Å) from every atom placed so far under periodic boundary
 * conditions (its own images included).
 *
 * @example
 * const x = randomCrystal({ composition: "SrTiO3", atoms: 40 }, 1);        // one structure, seed 1
 * const set = randomCrystals({ composition: "Y2O3", atoms: 40, count: 300, seed: 7 });
 */

export interface RandomCrystalOptions {
  /** A formula ("SrTiO3", "Cu28S16") or element -> amount; amounts must be whole numbers. */
  composition: string | Composition;
  /**
   * Total number of atoms: a whole number of formula units of the *reduced* formula (Cu28S16 reduces
   * to Cu7S4, so 44, 66 and 88 atoms are all fine).
   */
  atoms: number;
  /** Target volume per atom (Å³). Default: `defaultVolumePerAtom(composition)`. */
  volumePerAtom?: number;
  /** Relative half-width of the volume window: V ~ U[v(1 − j), v(1 + j)], v = volumePerAtom × atoms. Default 0.05. */
  volumeJitter?: number;
  /** Smallest allowed interatomic distance (Å), periodic, an atom's own images included. Default 1. */
  minDistance?: number;
  /** Range of the cell angles α, β, γ in degrees. Default [60, 120]. */
  angleRange?: readonly [number, number];
  /** Largest allowed ratio of the longest to the shortest cell vector. Default 3. */
  maxAspectRatio?: number;
  /** Placement attempts per atom before the structure is started again (new cell, new atoms). Default 1000. */
  maxAttempts?: number;
  /** Fresh starts before giving up with an Error. Default 20. */
  maxRestarts?: number;
}

/**
 * Experimental volumes per atom (Å³) for the MACS compositions (macs-spec §8.1–8.2) and the prototype
 * examples. Room-temperature cells as commonly quoted; values marked "approx." are rounded literature
 * cells good to a few per cent, which is inside the ±5 % window anyway. Keyed by reduced formula.
 */
export const EXPERIMENTAL_VOLUMES: ReadonlyArray<{ formula: string; volumePerAtom: number; source: string }> = [
  // a = 3.905 Å, Pm-3m, 5 atoms (macs-spec §8.3).
  { formula: "SrTiO3", volumePerAtom: 3.905 ** 3 / 5, source: "cubic perovskite a = 3.905 Å, 5 atoms" },
  // Bixbyite Ia-3, a = 10.604 Å, 80 atoms (Paton & Maslen, Acta Cryst. 19, 307 (1965); macs-spec §8.3).
  { formula: "Y2O3", volumePerAtom: 10.604 ** 3 / 80, source: "bixbyite a = 10.604 Å, 80 atoms" },
  // Grossular garnet Ia-3d, a ≈ 11.85 Å, 160 atoms (macs-spec §8.3; approx.).
  { formula: "Ca3Al2Si3O12", volumePerAtom: 11.85 ** 3 / 160, source: "grossular a ≈ 11.85 Å, 160 atoms (approx.)" },
  // Ccm21, a = 5.4172, b = 19.5169, c = 5.4234 Å, Z = 4, 48 atoms (Elcombe et al., Acta Cryst. B47, 305 (1991); approx.).
  { formula: "Ca3Ti2O7", volumePerAtom: (5.4172 * 19.5169 * 5.4234) / 48, source: "Ccm21 5.417 × 19.517 × 5.423 Å, 48 atoms (approx.)" },
  // Anilite Cu7S4 (= Cu28S16 per cell), Pnma, a = 7.89, b = 7.84, c = 11.01 Å, 44 atoms (Koto & Morimoto, Acta Cryst. B26, 915 (1970); approx.).
  { formula: "Cu7S4", volumePerAtom: (7.89 * 7.84 * 11.01) / 44, source: "anilite 7.89 × 7.84 × 11.01 Å, 44 atoms (approx.)" },
  // Tetragonal-tungsten-bronze-like K3Fe5F15, a ≈ b ≈ 12.75, c ≈ 3.99 Å, Z = 2, 46 atoms (Hardy et al. 1973; approx., LOW).
  { formula: "K3Fe5F15", volumePerAtom: (12.75 * 12.75 * 3.99) / 46, source: "bronze cell ≈ 12.75 × 12.75 × 3.99 Å, 46 atoms (approx.)" },
  // Ruddlesden–Popper phases, I4/mmm (Ruddlesden & Popper, Acta Cryst. 10, 538 (1957); 11, 54 (1958); approx.).
  { formula: "Sr2TiO4", volumePerAtom: (3.884 ** 2 * 12.6) / 14, source: "I4/mmm a = 3.884, c = 12.60 Å, 14 atoms (approx.)" },
  { formula: "Sr3Ti2O7", volumePerAtom: (3.9 ** 2 * 20.38) / 24, source: "I4/mmm a = 3.90, c = 20.38 Å, 24 atoms (approx.)" },
  { formula: "Sr4Ti3O10", volumePerAtom: (3.9 ** 2 * 28.1) / 34, source: "I4/mmm a = 3.90, c = 28.1 Å, 34 atoms (approx.)" },
  // Prototype examples (constants cited in prototypes.ts).
  { formula: "TiO2", volumePerAtom: (4.594 ** 2 * 2.959) / 6, source: "rutile a = 4.594, c = 2.959 Å, 6 atoms" },
  { formula: "MgAl2O4", volumePerAtom: 8.08 ** 3 / 56, source: "spinel a = 8.08 Å, 56 atoms" },
  { formula: "MgO", volumePerAtom: 4.212 ** 3 / 8, source: "periclase (rocksalt) a = 4.212 Å, 8 atoms" },
  { formula: "NaCl", volumePerAtom: 5.64 ** 3 / 8, source: "rocksalt a = 5.64 Å, 8 atoms" },
  { formula: "CsCl", volumePerAtom: 4.123 ** 3 / 2, source: "B2 a = 4.123 Å, 2 atoms" },
  { formula: "CaF2", volumePerAtom: 5.463 ** 3 / 12, source: "fluorite a = 5.463 Å, 12 atoms" },
  { formula: "ZnS", volumePerAtom: 5.409 ** 3 / 8, source: "zincblende a = 5.409 Å, 8 atoms" },
];

/**
 * Fallback for compositions not in `EXPERIMENTAL_VOLUMES`: volume per atom = factor × the mean of
 * (4/3)π r_cov³ (Cordero covalent radii). The factor is the geometric mean, 1.54, of experimental /
 * covalent-sphere volume over the compounds of `EXPERIMENTAL_VOLUMES` (15 when fitted; MgO, added later, moves it by < 0.01); the ratio spreads from 1.07
 * (CsCl) and 1.15 (SrTiO3) to 2.1 (MgAl2O4) and 3.2 (ZnS), so expect errors of tens of per cent and
 * pass `volumePerAtom` when you know better.
 */
export const COVALENT_PACKING_FACTOR = 1.55;

/**
 * Random sequential addition of hard spheres jams at a packing fraction of ≈ 0.383 (Torquato, Uche &
 * Stillinger, Phys. Rev. E 74, 061308 (2006)); denser targets can never be reached by dropping atoms.
 */
const RSA_JAMMING_FRACTION = 0.383;

/**
 * Cells with V / (abc) below this are redrawn: nearly flat cells that angle ranges such as 60–120°
 * allow when all three angles approach 120° (or two approach 60° and one 120°). It keeps every face-to-face
 * height at least half its cell vector's length; any cell whose angles all lie within 90 ± 30° but away
 * from those corners passes (α = β = γ = 60° gives 0.71).
 */
const MIN_VOLUME_FRACTION = 0.5;

/** Draws of cell shape before giving up (a shape is rejected only for the reasons listed on `randomCrystal`). */
const MAX_CELL_DRAWS = 10_000;

const VOLUME_BY_FORMULA = new Map(EXPERIMENTAL_VOLUMES.map((e) => [canonical(parseFormula(e.formula)), e.volumePerAtom]));

/** A key that is the same for any multiple of a formula: the reduced formula. */
function canonical(comp: Composition): string {
  return reduceFormula(comp).formula;
}

function toComposition(composition: string | Composition): Composition {
  const comp: Composition = typeof composition === "string" ? parseFormula(composition) : new Map(composition);
  if (comp.size === 0) throw new RangeError("the composition has no elements");
  for (const [symbol, amount] of comp) {
    elementBySymbol(symbol); // throws for an unknown symbol
    if (!(amount > 0) || !Number.isInteger(amount)) {
      throw new RangeError(`composition amounts must be positive whole numbers; ${symbol} has ${amount}`);
    }
  }
  return comp;
}

/**
 * Default volume per atom (Å³) for a composition: the experimental value from `EXPERIMENTAL_VOLUMES`
 * when the reduced formula is there (SrTiO3 11.91, Y2O3 14.90, Ca3Al2Si3O12 10.40, ...), otherwise
 * `COVALENT_PACKING_FACTOR` × the mean covalent-sphere volume of its atoms.
 */
export function defaultVolumePerAtom(composition: string | Composition): number {
  const comp = toComposition(composition);
  const known = VOLUME_BY_FORMULA.get(canonical(comp));
  if (known !== undefined) return known;
  let v = 0;
  let n = 0;
  for (const [symbol, amount] of comp) {
    const r = elementBySymbol(symbol).covalentRadius;
    v += amount * (4 / 3) * Math.PI * r ** 3;
    n += amount;
  }
  return (COVALENT_PACKING_FACTOR * v) / n;
}

interface Resolved {
  name: string;
  /** Symbols of all atoms, grouped by element in the composition's order. */
  symbols: string[];
  volume: number;
  volumeJitter: number;
  minDistance: number;
  angleRange: readonly [number, number];
  maxAspectRatio: number;
  maxAttempts: number;
  maxRestarts: number;
}

function resolve(opts: RandomCrystalOptions): Resolved {
  const comp = toComposition(opts.composition);
  const name = canonical(comp);
  const amounts = [...comp.values()];
  const g = amounts.reduce((a, b) => gcd(a, b));
  const perUnit = amounts.reduce((a, b) => a + b, 0) / g;
  const atoms = opts.atoms;
  if (!Number.isInteger(atoms) || atoms < 1) throw new RangeError(`atoms must be a positive whole number, got ${atoms}`);
  if (atoms % perUnit !== 0) {
    const lo = Math.floor(atoms / perUnit) * perUnit;
    const hint = lo > 0 ? `${lo} or ${lo + perUnit}` : `${perUnit}`;
    throw new RangeError(
      `${name} has ${perUnit} atoms per formula unit, so atoms must be a multiple of ${perUnit}: ${atoms} is not (${hint} would do)`,
    );
  }
  const units = atoms / perUnit;
  const symbols: string[] = [];
  for (const [symbol, amount] of comp) for (let i = 0; i < (amount / g) * units; i++) symbols.push(symbol);

  const volumePerAtom = opts.volumePerAtom ?? defaultVolumePerAtom(comp);
  const volumeJitter = opts.volumeJitter ?? 0.05;
  const minDistance = opts.minDistance ?? 1;
  const angleRange = opts.angleRange ?? [60, 120];
  const maxAspectRatio = opts.maxAspectRatio ?? 3;
  const maxAttempts = opts.maxAttempts ?? 1000;
  const maxRestarts = opts.maxRestarts ?? 20;
  if (!(volumePerAtom > 0) || !Number.isFinite(volumePerAtom)) throw new RangeError(`volumePerAtom must be a positive number of Å³, got ${volumePerAtom}`);
  if (!(volumeJitter >= 0 && volumeJitter < 1)) throw new RangeError(`volumeJitter must lie in [0, 1), got ${volumeJitter}`);
  if (!(minDistance >= 0) || !Number.isFinite(minDistance)) throw new RangeError(`minDistance must be a number of Å >= 0, got ${minDistance}`);
  const [amin, amax] = angleRange;
  if (!(amin > 0 && amax < 180 && amin <= amax)) {
    throw new RangeError(`angleRange must be [lo, hi] with 0 < lo <= hi < 180 degrees, got [${amin}, ${amax}]`);
  }
  if (!(maxAspectRatio >= 1) || !Number.isFinite(maxAspectRatio)) throw new RangeError(`maxAspectRatio must be a number >= 1, got ${maxAspectRatio}`);
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1) throw new RangeError(`maxAttempts must be a positive whole number, got ${maxAttempts}`);
  if (!Number.isInteger(maxRestarts) || maxRestarts < 0) throw new RangeError(`maxRestarts must be a whole number >= 0, got ${maxRestarts}`);
  return {
    name,
    symbols,
    volume: volumePerAtom * atoms,
    volumeJitter,
    minDistance,
    angleRange: [amin, amax],
    maxAspectRatio,
    maxAttempts,
    maxRestarts,
  };
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

function tooSmall(o: Resolved, detail: string): Error {
  const n = o.symbols.length;
  return new Error(
    `randomCrystal(${o.name}, ${n} atoms): ${detail}: the volume (${o.volume.toFixed(1)} Å³ ± ${(100 * o.volumeJitter).toFixed(0)} %, ` +
      `${(o.volume / n).toFixed(2)} Å³ per atom) is too small for minDistance ${o.minDistance} Å; ` +
      `raise volumePerAtom or lower minDistance`,
  );
}

/**
 * A random cell of `volume` Å³: lengths drawn uniformly in [1, maxAspectRatio] and angles uniformly in
 * `angleRange`, then scaled to the volume. A draw is rejected when the angles do not form a cell, when
 * V/(abc) < 0.5 (nearly flat), when longest/shortest vector > maxAspectRatio, or when a face-to-face
 * height (and so the shortest lattice vector) is below minDistance.
 */
function randomCell(rng: Rng, volume: number, o: Resolved): Lattice {
  const [amin, amax] = o.angleRange;
  const r = o.maxAspectRatio;
  for (let t = 0; t < MAX_CELL_DRAWS; t++) {
    const a = rng.uniform(1, r);
    const b = rng.uniform(1, r);
    const c = rng.uniform(1, r);
    const alpha = rng.uniform(amin, amax);
    const beta = rng.uniform(amin, amax);
    const gamma = rng.uniform(amin, amax);
    let lattice: Lattice;
    try {
      lattice = Lattice.fromParameters(a, b, c, alpha, beta, gamma);
    } catch (e) {
      if (e instanceof RangeError) continue; // the angles do not close a cell
      throw e;
    }
    if (lattice.volume / (a * b * c) < MIN_VOLUME_FRACTION) continue;
    lattice = lattice.scaledToVolume(volume);
    const lengths = [lattice.a, lattice.b, lattice.c];
    if (Math.max(...lengths) / Math.min(...lengths) > r * (1 + 1e-12)) continue;
    if (Math.min(...lattice.heights) < o.minDistance) continue;
    if (shortestLatticeVector(lattice) < o.minDistance) continue;
    return lattice;
  }
  throw new Error(
    `randomCrystal(${o.name}, ${o.symbols.length} atoms): no acceptable cell in ${MAX_CELL_DRAWS} draws ` +
      `(angleRange [${amin}, ${amax}]°, maxAspectRatio ${r}, minDistance ${o.minDistance} Å, volume ${volume.toFixed(1)} Å³): ` +
      `widen the angle range or the aspect ratio, or lower minDistance`,
  );
}

/** Integer lattice translations n·L (Cartesian) that can bring a minimum-image vector within `d`. */
function translations(lattice: Lattice, d: number): Float64Array {
  const m = lattice.matrix;
  const h = lattice.heights;
  // A vector v has |fractional_i(v)| <= |v| / h_i; the minimum-image difference has |f_i| <= 1/2,
  // so |v| < d needs |n_i| < d / h_i + 1/2.
  const s = h.map((hi) => Math.ceil(d / hi + 0.5));
  const out: number[] = [];
  for (let i = -s[0]!; i <= s[0]!; i++)
    for (let j = -s[1]!; j <= s[1]!; j++)
      for (let k = -s[2]!; k <= s[2]!; k++) {
        out.push(i * m[0]! + j * m[3]! + k * m[6]!, i * m[1]! + j * m[4]! + k * m[7]!, i * m[2]! + j * m[5]! + k * m[8]!);
      }
  return Float64Array.from(out);
}

/** One attempt at a structure: a cell, then every atom; null when some atom found no place. */
function attempt(rng: Rng, o: Resolved): Crystal | null {
  const v = o.volume;
  const volume = rng.uniform(v * (1 - o.volumeJitter), v * (1 + o.volumeJitter));
  const lattice = randomCell(rng, volume, o);
  const n = o.symbols.length;
  const m = lattice.matrix;
  const d2 = o.minDistance * o.minDistance;
  const shifts = translations(lattice, o.minDistance);
  const frac = new Float64Array(3 * n);
  const placed: number[] = [];
  const order = rng.shuffle(Array.from({ length: n }, (_, i) => i));
  for (const atom of order) {
    let ok = false;
    for (let t = 0; t < o.maxAttempts && !ok; t++) {
      const fx = rng.next();
      const fy = rng.next();
      const fz = rng.next();
      ok = true;
      for (const j of placed) {
        let dx = fx - frac[3 * j]!;
        let dy = fy - frac[3 * j + 1]!;
        let dz = fz - frac[3 * j + 2]!;
        dx -= Math.round(dx);
        dy -= Math.round(dy);
        dz -= Math.round(dz);
        const x = dx * m[0]! + dy * m[3]! + dz * m[6]!;
        const y = dx * m[1]! + dy * m[4]! + dz * m[7]!;
        const z = dx * m[2]! + dy * m[5]! + dz * m[8]!;
        for (let s = 0; s < shifts.length; s += 3) {
          const ex = x + shifts[s]!;
          const ey = y + shifts[s + 1]!;
          const ez = z + shifts[s + 2]!;
          if (ex * ex + ey * ey + ez * ez < d2) {
            ok = false;
            break;
          }
        }
        if (!ok) break;
      }
      if (ok) {
        frac[3 * atom] = fx;
        frac[3 * atom + 1] = fy;
        frac[3 * atom + 2] = fz;
        placed.push(atom);
      }
    }
    if (!ok) return null;
  }
  return Crystal.fromFractional(lattice, frac, o.symbols);
}

/**
 * One random crystal (AIRSS buildcell-like, as MACS uses it; macs-spec §8.3).
 *
 * 1. Volume V ~ U[v(1 − volumeJitter), v(1 + volumeJitter)], v = volumePerAtom × atoms.
 * 2. Cell: lengths U[1, maxAspectRatio], angles U[angleRange], scaled to V; redrawn when the angles do
 *    not form a cell, the cell is nearly flat (V/(abc) < 0.5), longest/shortest vector > maxAspectRatio,
 *    or a face-to-face height (so the shortest lattice vector: an atom's distance to its own image) is
 *    below minDistance.
 * 3. Atoms in shuffled species order, each drawn uniformly in fractional space and kept only when its
 *    periodic distance to every placed atom is >= minDistance; after `maxAttempts` misses for one atom,
 *    start again from step 1; after `maxRestarts` fresh starts, throw an Error saying the volume is too
 *    small for the minimum distance (thrown at once when even random sequential packing could not fit).
 *
 * Atoms are returned grouped by element in the composition's order (SrTiO3: Sr..., Ti..., O...), with
 * fractional coordinates in [0, 1). The same `rng` state or seed gives the same crystal.
 */
export function randomCrystal(opts: RandomCrystalOptions, rngOrSeed: Rng | number): Crystal {
  const o = resolve(opts);
  const rng = toRng(rngOrSeed);
  const n = o.symbols.length;
  const filling = (n * Math.PI * o.minDistance ** 3) / 6 / (o.volume * (1 + o.volumeJitter));
  if (filling > RSA_JAMMING_FRACTION) {
    throw tooSmall(
      o,
      `spheres of diameter ${o.minDistance} Å would fill ${(100 * filling).toFixed(0)} % of the cell, beyond the ` +
        `${(100 * RSA_JAMMING_FRACTION).toFixed(0)} % at which random placement jams`,
    );
  }
  for (let restart = 0; restart <= o.maxRestarts; restart++) {
    const crystal = attempt(rng, o);
    if (crystal) return crystal;
  }
  throw tooSmall(o, `no placement after ${o.maxRestarts} restarts of up to ${o.maxAttempts} attempts per atom`);
}

/**
 * `count` random crystals from one seed. Structure k uses the independent stream `new Rng(seed).fork(k)`,
 * so it is the same structure whatever `count` is (the first 10 of a set of 300 are a set of 10).
 */
export function randomCrystals(opts: RandomCrystalOptions & { count: number; seed: number }): Crystal[] {
  const { count, seed, ...rest } = opts;
  if (!Number.isInteger(count) || count < 0) throw new RangeError(`count must be a whole number >= 0, got ${count}`);
  resolve(rest); // fail early on bad options, even for count 0
  const root = new Rng(seed);
  return Array.from({ length: count }, (_, k) => randomCrystal(rest, root.fork(k)));
}
