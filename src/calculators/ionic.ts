import type { Crystal } from "../structure/crystal.js";
import { forEachPair } from "../structure/cell-list.js";
import { symbolOf } from "../structure/elements.js";
import { EmbeddedCalculator, positive, type Computed, type ComputeRequest } from "./calculator.js";
import {
  COULOMB_CONSTANT,
  erfcWithExp,
  ewaldParameters,
  ewaldReciprocal,
  ewaldSelfAndBackground,
  type EwaldAccumulator,
  type EwaldParameterOptions,
  type EwaldParameters,
} from "./ewald.js";
import { PairAccumulator, pairSum, voigt } from "./pair-sum.js";

/**
 * The rigid-ion oxide force field of A. Pedone, G. Malavasi, M. C. Menziani, A. N. Cormack and U. Segre,
 * J. Phys. Chem. B 110, 11780 (2006) ("PMMCS"), MACS's default energy model in crystal-rl:
 *
 *   E = Σ_{i<j} q_i q_j / (4πε0 r_ij)                                  (Ewald, see ewald.ts)
 *     + Σ_{i<j ∈ X–O, O–O, r < rc} D_ij [(1 − e^{−a_ij (r − r0_ij)})² − 1] + C_ij / r¹²
 *
 * with partial charges (O −1.2, a cation 0.6 × its formal charge) and short-range terms only between
 * a cation and O and between two O (cation–cation pairs are Coulomb only). The C/r¹² wall keeps the
 * random starting structures of MACS, with contacts down to 1 Å, at finite energy and force.
 *
 * Short range: pairs closer than `cutoff` (default 15 Å, as LAMMPS's pair_style pedone example). With
 * `shift` (default true) each pair term is shifted by its value at the cut-off, so the energy is
 * continuous when atoms cross it (LAMMPS's `pair_modify shift yes`); the forces do not change. At 15 Å
 * the largest unshifted pair term is about 1e-8 eV (O–O Morse).
 *
 * Iron has two parameter sets (Fe²⁺, Fe³⁺): `iron` picks one; "auto" (default) takes Fe³⁺ when that
 * makes the cell neutral, else Fe²⁺ when that does, else Fe³⁺. An element outside the table is a
 * RangeError naming it and the first atom of it.
 *
 * Evaluation: one pass over each unordered pair within max(cutoff, Ewald rcut) computes the
 * real-space Ewald term and the short-range term together (`forEachPair`, structure/cell-list.ts); then the
 * reciprocal, self and background Ewald terms. The Ewald splitting α is the balanced one of
 * `ewaldParameters`, raised if needed so that the real-space Coulomb cut-off stays within `cutoff`.
 *
 * @example
 * const calc = ionic();                                   // Pedone 2006, 15 Å, Ewald accuracy 1e-6
 * const { energy, forces } = calc.computeSync(randomCrystal({ composition: "SrTiO3", atoms: 40 }, 1));
 */

/** One row of the Pedone et al. (2006) table: the partial charge of the element and its pair with O. */
export interface PedoneParameters {
  /** Partial charge (e). */
  q: number;
  /** Morse well depth D (eV). */
  D: number;
  /** Morse a (1/Å). */
  a: number;
  /** Morse r0 (Å). */
  r0: number;
  /** Repulsion C (eV·Å¹²). */
  C: number;
}

/**
 * Pedone et al., J. Phys. Chem. B 110, 11780 (2006), Table 1: for each cation its partial charge and
 * the parameters of its pair with O; the row "O" is the O–O pair (and O's charge). "Fe" is Fe²⁺, "Fe3"
 * Fe³⁺. Numbers as transcribed in glasagent/amorphouspy,
 * amorphouspy/src/amorphouspy/potentials/pmmcs_potential.py (`pmmcs_potential_params`, which cites
 * the paper, doi:10.1021/jp0611018). Cross-checked where other sources give them: LAMMPS's
 * pair_style pedone documentation and example (Ca–O 0.030211 2.241334 2.923245 5.0; O–O 0.042395
 * 1.379316 3.618701 22.0; Si–O 0.340554 2.006700 2.100000 1.0; Na–O 0.023363 1.763867 3.006315 5.0;
 * K–O 0.011612 2.062605 3.305308 5.0) and gvermillion/research pot/beryl/potential_beryl_tip.mod
 * (Be–O, Al–O, Si–O, O–O Morse). Every row the source gives is here; nothing is added.
 */
export const PEDONE_2006: Readonly<Record<string, Readonly<PedoneParameters>>> = Object.freeze({
  Li: { q: 0.6, D: 0.001114, a: 3.429506, r0: 2.68136, C: 1.0 },
  Na: { q: 0.6, D: 0.023363, a: 1.763867, r0: 3.006315, C: 5.0 },
  K: { q: 0.6, D: 0.011612, a: 2.062605, r0: 3.305308, C: 5.0 },
  Be: { q: 1.2, D: 0.239919, a: 2.52742, r0: 1.815405, C: 1.0 },
  Mg: { q: 1.2, D: 0.038908, a: 2.281, r0: 2.586153, C: 5.0 },
  Ca: { q: 1.2, D: 0.030211, a: 2.241334, r0: 2.923245, C: 5.0 },
  Sr: { q: 1.2, D: 0.019623, a: 1.886, r0: 3.32833, C: 3.0 },
  Ba: { q: 1.2, D: 0.065011, a: 1.547596, r0: 3.39341, C: 5.0 },
  Sc: { q: 1.8, D: 0.000333, a: 3.144445, r0: 3.2, C: 2.6 },
  Ti: { q: 2.4, D: 0.024235, a: 2.254703, r0: 2.708943, C: 1.0 },
  Zr: { q: 2.4, D: 0.206237, a: 2.479675, r0: 2.436997, C: 1.0 },
  Cr: { q: 1.8, D: 0.399561, a: 1.785079, r0: 2.34081, C: 1.0 },
  Mn: { q: 1.2, D: 0.029658, a: 1.997543, r0: 2.852075, C: 3.0 },
  Fe: { q: 1.2, D: 0.078171, a: 1.822638, r0: 2.658163, C: 2.0 },
  Fe3: { q: 1.8, D: 0.418981, a: 1.620376, r0: 2.382183, C: 2.0 },
  Co: { q: 1.2, D: 0.012958, a: 2.361272, r0: 2.756282, C: 3.0 },
  Ni: { q: 1.2, D: 0.029356, a: 2.679137, r0: 2.500754, C: 3.0 },
  Cu: { q: 0.6, D: 0.09072, a: 3.802168, r0: 2.055405, C: 1.0 },
  Ag: { q: 0.6, D: 0.088423, a: 3.439162, r0: 2.265956, C: 1.0 },
  Zn: { q: 1.2, D: 0.001221, a: 3.150679, r0: 2.85185, C: 1.0 },
  Al: { q: 1.8, D: 0.361581, a: 1.900442, r0: 2.164818, C: 0.9 },
  Si: { q: 2.4, D: 0.340554, a: 2.0067, r0: 2.1, C: 1.0 },
  Ge: { q: 2.4, D: 0.158118, a: 2.29423, r0: 2.261313, C: 5.0 },
  Sn: { q: 2.4, D: 0.0794, a: 2.15677, r0: 2.633076, C: 3.0 },
  P: { q: 3.0, D: 0.831326, a: 2.585833, r0: 1.80079, C: 1.0 },
  Nd: { q: 1.8, D: 0.01458, a: 1.8251, r0: 3.398717, C: 3.0 },
  Gd: { q: 1.8, D: 0.000132, a: 2.013, r0: 4.351589, C: 3.0 },
  Er: { q: 1.8, D: 0.040448, a: 2.294078, r0: 2.837722, C: 3.0 },
  O: { q: -1.2, D: 0.042395, a: 1.379316, r0: 3.618701, C: 22.0 },
});

export interface IonicOptions extends EwaldParameterOptions {
  /** Cut-off of the Morse and C/r¹² terms (Å). Default 15. */
  cutoff?: number;
  /** Shift each short-range pair term by its value at the cut-off. Default true. */
  shift?: boolean;
  /** Oxidation state of Fe: 2, 3, or "auto" (default: the one that makes the cell neutral, Fe³⁺ first). */
  iron?: 2 | 3 | "auto";
}

/** Per-crystal set-up: charges, species indices and the flattened pair tables. */
interface Setup {
  q: Float64Array;
  species: Int32Array;
  ns: number;
  /** Per species pair (ns × ns): D, a, r0, C, and the shift e(rc) (all 0 for a Coulomb-only pair). */
  D: Float64Array;
  A: Float64Array;
  R0: Float64Array;
  C: Float64Array;
  E0: Float64Array;
}

/**
 * w of `ewaldParameters` for this model: the pair loop runs to the short-range cut-off anyway, so a
 * real-space Coulomb term costs only its erfc and exponential, about 4 reciprocal terms (node 20,
 * x86-64; SrTiO3 of 40 and 1000 atoms: time flat within 3 % for w between 1 and 8).
 */
const IONIC_COST_RATIO = 4;

const Z_O = 8;
const Z_FE = 26;

/** Pedone et al. (2006) rigid-ion model: Ewald Coulomb with partial charges + Morse + C/r¹² (see the file comment). */
export class Ionic extends EmbeddedCalculator {
  readonly name = "ionic";
  readonly cutoff: number;
  readonly shift: boolean;
  readonly iron: 2 | 3 | "auto";
  readonly ewaldOptions: EwaldParameterOptions;

  constructor({ cutoff = 15, shift = true, iron = "auto", ...ewald }: IonicOptions = {}) {
    super();
    this.cutoff = positive("cutoff", cutoff);
    this.shift = shift;
    if (iron !== 2 && iron !== 3 && iron !== "auto") throw new RangeError(`ionic: iron must be 2, 3 or "auto", got ${String(iron)}`);
    this.iron = iron;
    this.ewaldOptions = ewald;
  }

  /** The row of PEDONE_2006 used for atomic number z (Fe by `iron`, resolved per crystal). */
  private row(z: number, atom: number, fe: 2 | 3): Readonly<PedoneParameters> {
    const symbol = symbolOf(z);
    const key = z === Z_FE ? (fe === 3 ? "Fe3" : "Fe") : symbol;
    const p = PEDONE_2006[key];
    if (!p) {
      const known = IONIC_ELEMENTS.join(" ");
      throw new RangeError(`ionic: no Pedone et al. (2006) parameters for element ${symbol} (atom ${atom}); the model covers ${known}`);
    }
    return p;
  }

  /** Fe's oxidation state for this crystal (see `iron`). */
  ironState(crystal: Crystal): 2 | 3 {
    if (this.iron !== "auto") return this.iron;
    let q = 0;
    let nFe = 0;
    for (let a = 0; a < crystal.natoms; a++) {
      const z = crystal.numbers[a]!;
      if (z === Z_FE) nFe++;
      else q += this.row(z, a, 3).q;
    }
    if (nFe === 0) return 3;
    const neutral = (s: 2 | 3): boolean => Math.abs(q + nFe * PEDONE_2006[s === 3 ? "Fe3" : "Fe"]!.q) < 1e-9;
    return neutral(3) ? 3 : neutral(2) ? 2 : 3;
  }

  /** The partial charge of every atom (e); RangeError naming the first atom without parameters. */
  charges(crystal: Crystal): Float64Array {
    return this.setup(crystal).q;
  }

  private setup(crystal: Crystal): Setup {
    const n = crystal.natoms;
    const fe = this.ironState(crystal);
    const index = new Map<number, number>();
    const rows: Readonly<PedoneParameters>[] = [];
    const species = new Int32Array(n);
    const q = new Float64Array(n);
    for (let a = 0; a < n; a++) {
      const z = crystal.numbers[a]!;
      let s = index.get(z);
      if (s === undefined) {
        s = rows.length;
        index.set(z, s);
        rows.push(this.row(z, a, fe));
      }
      species[a] = s;
      q[a] = rows[s]!.q;
    }
    const ns = rows.length;
    const D = new Float64Array(ns * ns);
    const A = new Float64Array(ns * ns);
    const R0 = new Float64Array(ns * ns);
    const C = new Float64Array(ns * ns);
    const E0 = new Float64Array(ns * ns);
    const o = index.get(Z_O);
    if (o !== undefined) {
      for (let s = 0; s < ns; s++) {
        const p = rows[s]!; // the s–O pair (O–O when s is O)
        for (const k of [s * ns + o, o * ns + s]) {
          D[k] = p.D;
          A[k] = p.a;
          R0[k] = p.r0;
          C[k] = p.C;
          E0[k] = this.shift ? pedonePairEnergy(p.D, p.a, p.r0, p.C, this.cutoff) : 0;
        }
      }
    }
    return { q, species, ns, D, A, R0, C, E0 };
  }

  /** The Ewald parameters this model uses for `crystal`. */
  ewaldParameters(crystal: Crystal): EwaldParameters {
    return ewaldParameters(crystal, this.ewaldOptions, IONIC_COST_RATIO, this.cutoff);
  }

  protected evaluate(crystal: Crystal, request: Required<ComputeRequest>): Computed {
    const n = crystal.natoms;
    const { q, species, ns, D, A, R0, C, E0 } = this.setup(crystal);
    const { alpha, rcut, kcut } = this.ewaldParameters(crystal);
    const acc: EwaldAccumulator = { energy: 0 };
    const F = request.forces ? new Float64Array(3 * n) : undefined;
    const W = request.stress ? new Float64Array(9) : undefined;
    if (F) acc.forces = F;
    if (W) acc.virial = W;

    const rs2 = this.cutoff * this.cutoff;
    const re2 = rcut * rcut;
    const ke = COULOMB_CONSTANT; // module bindings read once: the loop below runs per pair
    const erfcx = erfcWithExp;
    const alpha2 = alpha * alpha;
    const c2a = (2 * alpha) / Math.sqrt(Math.PI);
    const sums = new PairAccumulator(F, W !== undefined);
    forEachPair(crystal, Math.max(this.cutoff, rcut), (b) => {
      const { i: I, j: J, dx: X, dy: Y, dz: Z, r2: R2 } = b;
      for (let p = 0; p < b.count; p++) {
        const i = I[p]!;
        const j = J[p]!;
        const r2 = R2[p]!;
        const r = Math.sqrt(r2);
        const ir = 1 / r;
        const ir2 = ir * ir;
        let e = 0;
        let g = 0; // (de/dr) / r
        if (r2 < re2) {
          // Real-space Ewald: qq erfc(αr)/r, d/dr = −(qq erfc/r + qq 2α/√π e^{−α²r²}) / r
          const qq = ke * q[i]! * q[j]!;
          const e2 = Math.exp(-alpha2 * r2);
          const ec = qq * erfcx(alpha * r, e2) * ir;
          e = ec;
          g = -(ec + qq * c2a * e2) * ir2;
        }
        if (r2 < rs2) {
          const k = species[i]! * ns + species[j]!;
          const d = D[k]!;
          const c = C[k]!;
          if (d !== 0 || c !== 0) {
            // D x (x − 2) + C/r¹², x = e^{−a(r − r0)}; d/dr = −2aD x (x − 1) − 12 C/r¹³
            const a = A[k]!;
            const x = Math.exp(-a * (r - R0[k]!));
            const ir6 = ir2 * ir2 * ir2;
            const c12 = c * ir6 * ir6;
            e += d * x * (x - 2) + c12 - E0[k]!;
            g -= (2 * a * d * x * (x - 1) * ir + 12 * c12 * ir2);
          }
        }
        sums.energy += e;
        sums.add(i, j, g, X[p]!, Y[p]!, Z[p]!);
      }
    });
    acc.energy += sums.energy;
    if (W) sums.addVirialTo(W);
    ewaldReciprocal(crystal, q, alpha, kcut, acc);
    ewaldSelfAndBackground(crystal, q, alpha, acc);
    const out: Computed = { energy: acc.energy };
    if (F) out.forces = F;
    if (W) out.stress = voigt(W, crystal.volume);
    return out;
  }

  /**
   * The short-range part alone (Morse + C/r¹², shifted as configured) through `pairSum`: a slower
   * reference path (full neighbour list) that the fused loop of `compute` is tested against.
   */
  shortRange(crystal: Crystal, request: ComputeRequest = {}): Computed {
    const { species, ns, D, A, R0, C, E0 } = this.setup(crystal);
    const byZ = new Map<number, number>();
    for (let a = 0; a < crystal.natoms; a++) byZ.set(crystal.numbers[a]!, species[a]!);
    return pairSum(
      crystal,
      this.cutoff,
      (zi, zj, r, out) => {
        const k = byZ.get(zi)! * ns + byZ.get(zj)!;
        const d = D[k]!;
        const c = C[k]!;
        if (d === 0 && c === 0) {
          out[0] = 0;
          out[1] = 0;
          return;
        }
        const x = Math.exp(-A[k]! * (r - R0[k]!));
        out[0] = d * x * (x - 2) + c / r ** 12 - E0[k]!;
        out[1] = -2 * A[k]! * d * x * (x - 1) - (12 * c) / r ** 13;
      },
      { forces: request.forces ?? true, stress: request.stress ?? false },
    );
  }
}

/** Pedone's pair term D[(1 − e^{−a(r − r0)})² − 1] + C/r¹² at r. */
export function pedonePairEnergy(D: number, a: number, r0: number, C: number, r: number): number {
  const x = Math.exp(-a * (r - r0));
  return D * x * (x - 2) + C / r ** 12;
}

/** `new Ionic(options)`, for chains and the CLI. */
export const ionic = (options?: IonicOptions): Ionic => new Ionic(options);

/** The symbols the model covers (Fe once: both oxidation states). */
export const IONIC_ELEMENTS: readonly string[] = Object.freeze(Object.keys(PEDONE_2006).filter((k) => k !== "Fe3"));
