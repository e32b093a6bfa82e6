import type { Crystal } from "../structure/crystal.js";
import { atomicNumber, symbolOf } from "../structure/elements.js";
import { neighbourList } from "../structure/neighbours.js";
import { EmbeddedCalculator, type Computed, type ComputeRequest } from "./calculator.js";
import { PairAccumulator } from "./pair-sum.js";

/**
 * Effective medium theory: K. W. Jacobsen, P. Stoltze, J. K. Nørskov, "A semi-empirical effective
 * medium theory for metals and alloys", Surf. Sci. 366, 394 (1996); as ASE 3.22.1 implements it in
 * ase/calculators/emt.py, whose numbers this port reproduces (parity: test/calculators/emt.test.ts).
 *
 * Each atom i sits in the electron density σ_i = Σ_j χ_ij e^{-η2_j (r - β s0_j)} θ(r) / γ1_i that its
 * neighbours j make; its cohesive energy follows from the neutral-sphere radius
 * s_i = -ln(σ_i / 12) / (β η2_i):  E_c,i = E0_i ((1 + λ_i s_i) e^{-λ_i s_i} - 1) + 6 V0_i e^{-κ_i s_i}.
 * A pair correction subtracts ½ Σ_j V0_i χ_ij e^{-κ_j (r/β - s0_j)} θ(r) / γ2_i (the atomic-sphere
 * correction, reduced to a pair sum), with χ_ij = n0_j / n0_i. θ is a Fermi function cut-off and
 * γ1, γ2 normalise the sums over the first three fcc shells to 12.
 */

/**
 * Parameters as in ASE 3.22.1 (ase/calculators/emt.py), from Jacobsen, Stoltze and Nørskov (1996):
 * E0 (eV), s0 (bohr), V0 (eV), η2, κ, λ (1/bohr), n0 (1/bohr³).
 * H, C, N, O are ASE's "extra parameters - just for fun": not fitted for any serious use.
 */
const PARAMETERS: Readonly<Record<string, readonly [number, number, number, number, number, number, number]>> = {
  //     E0     s0    V0     η2     κ      λ      n0
  Al: [-3.28, 3.0, 1.493, 1.24, 2.0, 1.169, 0.007],
  Cu: [-3.51, 2.67, 2.476, 1.652, 2.74, 1.906, 0.0091],
  Ag: [-2.96, 3.01, 2.132, 1.652, 2.79, 1.892, 0.00547],
  Au: [-3.8, 3.0, 2.321, 1.674, 2.873, 2.182, 0.00703],
  Ni: [-4.44, 2.6, 3.673, 1.669, 2.757, 1.948, 0.0103],
  Pd: [-3.9, 2.87, 2.773, 1.818, 3.107, 2.155, 0.00688],
  Pt: [-5.85, 2.9, 4.067, 1.812, 3.145, 2.192, 0.00802],
  H: [-3.21, 1.31, 0.132, 2.652, 2.79, 3.892, 0.00547],
  C: [-3.5, 1.81, 0.332, 1.652, 2.79, 1.892, 0.01322],
  N: [-5.1, 1.88, 0.132, 1.652, 2.79, 1.892, 0.01222],
  O: [-4.6, 1.95, 0.332, 1.652, 2.79, 1.892, 0.0085],
};

/** The elements EMT covers, in ASE's order. */
export const EMT_ELEMENTS: readonly string[] = Object.keys(PARAMETERS);

/** ASE 3.22.1's Bohr radius (CODATA 2014), Å: the parameters are in bohr, so this fixes the last digits. */
const BOHR = 0.5291772105638411;
/** (16π/3)^{1/3} / √2, rounded as ASE has it ("preserve historical rounding"). */
const BETA = 1.809;

export interface EMTOptions {
  /**
   * false (default, ASE's default): the cut-off follows from the largest s0 of the whole parameter
   * table (Ag's), the same for every structure, and the neighbour list reaches 0.5 Å beyond it.
   * true: as Asap and older EMT codes, from the largest s0 among the elements present, the list
   * reaching 4.5 % beyond it.
   */
  asapCutoff?: boolean;
}

/** Per-species constants and the cut-off, for one set of species (one `Model` serves every call when !asapCutoff). */
interface Model {
  /** Fermi cut-off centre (Å) and steepness (1/Å); pairs are counted up to `rcList`. */
  rc: number;
  acut: number;
  rcList: number;
  /** Species slot of each atomic number, -1 where EMT has no parameters. */
  slot: Int8Array;
  /** Per slot, in Å and eV: E0, V0, η2, κ, λ, s0, β·s0. */
  E0: Float64Array;
  V0: Float64Array;
  eta2: Float64Array;
  kappa: Float64Array;
  lambda: Float64Array;
  s0: Float64Array;
  betaS0: Float64Array;
  /** Per slot pair [a·K + b]: χ_ab / γ1_a (density of b at a), ½ V0_a χ_ab / γ2_a (pair term). */
  densityCoef: Float64Array;
  pairCoef: Float64Array;
  K: number;
}

function buildModel(symbols: readonly string[], asapCutoff: boolean): Model {
  const K = symbols.length;
  const table = symbols.map((s) => PARAMETERS[s]!);
  // The cut-off from the largest s0: of the table (ASE's default) or of the elements present (Asap's).
  const cutoffSource = asapCutoff ? table : Object.values(PARAMETERS);
  const maxS0 = Math.max(...cutoffSource.map((p) => p[1])) * BOHR;
  // Midway between the third and fourth fcc shells of the largest atom; θ falls to 1/10⁴ at the fourth.
  const rc = BETA * maxS0 * 0.5 * (Math.sqrt(3) + Math.sqrt(4));
  const rr = (rc * 2 * Math.sqrt(4)) / (Math.sqrt(3) + Math.sqrt(4));
  const acut = Math.log(9999) / (rr - rc);
  const rcList = asapCutoff ? rc * 1.045 : rc + 0.5;

  const f = (n: number) => new Float64Array(n);
  const m: Model = {
    rc,
    acut,
    rcList,
    slot: new Int8Array(119).fill(-1),
    E0: f(K),
    V0: f(K),
    eta2: f(K),
    kappa: f(K),
    lambda: f(K),
    s0: f(K),
    betaS0: f(K),
    densityCoef: f(K * K),
    pairCoef: f(K * K),
    K,
  };
  const n0 = f(K);
  const gamma1 = f(K);
  const gamma2 = f(K);
  symbols.forEach((sym, a) => {
    const [E0, s0b, V0, eta2b, kappab, lambdab, n0b] = table[a]!;
    m.slot[atomicNumber(sym)] = a;
    const s0 = s0b * BOHR;
    const eta2 = eta2b / BOHR;
    const kappa = kappab / BOHR;
    m.E0[a] = E0;
    m.V0[a] = V0;
    m.s0[a] = s0;
    m.betaS0[a] = BETA * s0;
    m.eta2[a] = eta2;
    m.kappa[a] = kappa;
    m.lambda[a] = lambdab / BOHR;
    n0[a] = n0b / BOHR ** 3;
    // γ1, γ2: the density and pair sums over the first three shells of the ideal fcc lattice
    // (12, 6 and 24 neighbours at β s0 √1, √2, √3), cut-off included, divided by 12.
    for (const [shell, count] of [12, 6, 24].entries()) {
      const r = s0 * BETA * Math.sqrt(shell + 1);
      const w = count / (12 * (1 + Math.exp(acut * (r - rc))));
      gamma1[a]! += w * Math.exp(-eta2 * (r - BETA * s0));
      gamma2[a]! += w * Math.exp((-kappa / BETA) * (r - BETA * s0));
    }
  });
  for (let a = 0; a < K; a++) {
    for (let b = 0; b < K; b++) {
      const chi = n0[b]! / n0[a]!;
      m.densityCoef[a * K + b] = chi / gamma1[a]!;
      m.pairCoef[a * K + b] = (0.5 * m.V0[a]! * chi) / gamma2[a]!;
    }
  }
  return m;
}

/** Scratch arrays kept between calls (sized to the largest structure seen), so a call allocates only its results. */
class Scratch {
  sigma = new Float64Array(0);
  deds = new Float64Array(0);
  kind = new Int32Array(0);
  /** One entry per unordered pair: its index in the neighbour list and (dE_pair/dr)/r, (dσ_i/dr)/r, (dσ_j/dr)/r terms. */
  pair = new Int32Array(0);
  gPair = new Float64Array(0);
  gI = new Float64Array(0);
  gJ = new Float64Array(0);

  atoms(n: number): void {
    if (this.sigma.length < n) {
      this.sigma = new Float64Array(n);
      this.deds = new Float64Array(n);
      this.kind = new Int32Array(n);
    }
  }

  pairs(n: number): void {
    if (this.pair.length < n) {
      const c = Math.ceil(n * 1.25);
      this.pair = new Int32Array(c);
      this.gPair = new Float64Array(c);
      this.gI = new Float64Array(c);
      this.gJ = new Float64Array(c);
    }
  }
}

/**
 * Effective medium theory for Al, Cu, Ag, Au, Ni, Pd, Pt (and, not for serious use, H, C, N, O), a
 * port of ASE 3.22.1's `EMT` with the same parameters, cut-off and smoothing: energy (total and per
 * atom, split as ASE splits it), forces and stress (Voigt xx yy zz yz xz xy, eV/Å³, ASE's sign).
 * Linear in N: one neighbour list, one pass over its unordered pairs for the densities and pair
 * energies, one more for the forces and stress.
 *
 * @example
 * const calc = emt();
 * const { energy, forces } = await calc.compute(crystal);
 */
export class EMT extends EmbeddedCalculator {
  readonly name = "emt";
  readonly asapCutoff: boolean;
  private readonly models = new Map<string, Model>();
  private readonly scratch = new Scratch();

  constructor({ asapCutoff = false }: EMTOptions = {}) {
    super();
    this.asapCutoff = asapCutoff;
  }

  /**
   * How far pairs are counted (Å): ASE's `rc_list`. With the default cut-off it is the same for every
   * structure (5.8767 Å); with `asapCutoff`, `crystal` picks it. The Fermi cut-off is 1/(1 + e^{acut(r - rc)});
   * at `cutoff` it is about 7e-6, so the energy steps there by ~1e-9 eV per pair, as in ASE.
   */
  cutoff(crystal?: Crystal): number {
    return this.model(crystal).rcList;
  }

  /** The model for the species of `crystal` (all of them when !asapCutoff); throws naming an atom EMT does not cover. */
  private model(crystal?: Crystal): Model {
    let symbols = EMT_ELEMENTS;
    if (crystal) {
      const numbers = crystal.numbers;
      const seen = new Set<number>();
      for (let a = 0; a < numbers.length; a++) {
        const z = numbers[a]!;
        if (seen.has(z)) continue;
        const symbol = symbolOf(z);
        if (!(symbol in PARAMETERS)) {
          throw new RangeError(
            `emt: no EMT parameters for ${symbol} (atom ${a}); EMT covers ${EMT_ELEMENTS.join(", ")}`,
          );
        }
        seen.add(z);
      }
      if (this.asapCutoff) symbols = EMT_ELEMENTS.filter((s) => seen.has(atomicNumber(s)));
    }
    const key = this.asapCutoff ? symbols.join(",") : "";
    let m = this.models.get(key);
    if (!m) {
      m = buildModel(symbols, this.asapCutoff);
      this.models.set(key, m);
    }
    return m;
  }

  protected evaluate(crystal: Crystal, request: Required<ComputeRequest>): Computed {
    const m = this.model(crystal);
    const { rc, acut, K, E0, V0, eta2, kappa, lambda, s0, betaS0, densityCoef, pairCoef } = m;
    const n = crystal.natoms;
    const numbers = crystal.numbers;
    const sc = this.scratch;
    sc.atoms(n);
    const { sigma, deds, kind } = sc;
    for (let a = 0; a < n; a++) {
      kind[a] = m.slot[numbers[a]!]!;
      sigma[a] = 0;
    }
    const energies = new Float64Array(n);
    const gradients = request.forces || request.stress;

    const list = neighbourList(crystal, m.rcList);
    const { i: I, j: J, shifts: S, distances: D, count } = list;
    if (gradients) sc.pairs(count >> 1);
    const { pair, gPair, gI, gJ } = sc;

    // Pass 1, over unordered pairs (i < j, or an atom and one of each ± pair of its own images):
    // densities σ, pair energies, and the radial derivatives pass 2 needs.
    let q = 0;
    for (let p = 0; p < count; p++) {
      const i = I[p]!;
      const j = J[p]!;
      if (j < i) continue;
      if (j === i) {
        const sx = S[3 * p]!;
        const sy = S[3 * p + 1]!;
        if (sx < 0 || (sx === 0 && (sy < 0 || (sy === 0 && S[3 * p + 2]! < 0)))) continue;
      }
      const a = kind[i]!;
      const b = kind[j]!;
      const r = D[p]!;
      const x = Math.exp(acut * (r - rc));
      const theta = 1 / (1 + x);
      const dtheta = acut * x * theta; // -θ'/θ
      // Density that j puts at i, and i at j; the exponentials coincide for like atoms.
      const eb = Math.exp(-eta2[b]! * (r - betaS0[b]!)) * theta;
      const ea = a === b ? eb : Math.exp(-eta2[a]! * (r - betaS0[a]!)) * theta;
      const sij = eb * densityCoef[a * K + b]!;
      const sji = ea * densityCoef[b * K + a]!;
      sigma[i]! += sij;
      sigma[j]! += sji;
      // Pair terms: y_ij from i's side, y_ji from j's; ASE gives each atom half their sum.
      const kb = Math.exp(-kappa[b]! * (r / BETA - s0[b]!)) * theta;
      const ka = a === b ? kb : Math.exp(-kappa[a]! * (r / BETA - s0[a]!)) * theta;
      const yij = kb * pairCoef[a * K + b]!;
      const yji = ka * pairCoef[b * K + a]!;
      const y = yij + yji;
      energies[i]! -= 0.5 * y;
      energies[j]! -= 0.5 * y;
      if (gradients) {
        const inv = 1 / r;
        pair[q] = p;
        gPair[q] = ((yij * kappa[b]! + yji * kappa[a]!) / BETA + y * dtheta) * inv; // (dE_pair/dr)/r
        gI[q] = sij * (eta2[b]! + dtheta) * inv; // -(dσ_i/dr)/r
        gJ[q] = sji * (eta2[a]! + dtheta) * inv; // -(dσ_j/dr)/r
        q++;
      }
    }

    // Cohesive energy of each atom in its density, and dE_c/dσ for pass 2.
    let energy = 0;
    for (let a = 0; a < n; a++) {
      const k = kind[a]!;
      const s = sigma[a]!;
      let e: number;
      if (s > 0) {
        const ds = -Math.log(s / 12) / (BETA * eta2[k]!);
        const x = lambda[k]! * ds;
        const y = Math.exp(-x);
        const z = 6 * V0[k]! * Math.exp(-kappa[k]! * ds);
        deds[a] = (x * y * E0[k]! * lambda[k]! + kappa[k]! * z) / (s * BETA * eta2[k]!);
        e = E0[k]! * ((1 + x) * y - 1) + z;
      } else {
        // No neighbour within the cut-off: the isolated atom's limit, as ASE has it.
        deds[a] = 0;
        e = -E0[k]!;
      }
      energies[a]! += e;
      energy += energies[a]!;
    }

    const result: Computed = { energy, energies };
    if (!gradients) return result;

    // Pass 2: dE/dr of each pair (pair term and both embedding terms), into forces and the virial.
    const { vectors: V } = list;
    const forces = request.forces ? new Float64Array(3 * n) : undefined;
    const sums = new PairAccumulator(forces, request.stress);
    for (let t = 0; t < q; t++) {
      const p = pair[t]!;
      const i = I[p]!;
      const j = J[p]!;
      const g = gPair[t]! - deds[i]! * gI[t]! - deds[j]! * gJ[t]!; // (dE/dr)/r
      sums.add(i, j, g, V[3 * p]!, V[3 * p + 1]!, V[3 * p + 2]!);
    }
    if (forces) result.forces = forces;
    if (request.stress) result.stress = sums.stress(crystal.volume);
    return result;
  }
}

/** `new EMT(options)`, for chains and the CLI. */
export const emt = (options?: EMTOptions): EMT => new EMT(options);
