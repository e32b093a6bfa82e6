/**
 * Positions and cell relaxed together, as ASE's FrechetCellFilter (ase/filters.py, ASE >= 3.23):
 * the generalised coordinates are the atoms' positions in the original cell, z = F⁻¹x, and three
 * rows holding the matrix logarithm of the deformation gradient F (cell = cell₀ Fᵀ), times
 * `expCellFactor`. The cell rows' forces are the exact derivative of the energy with respect to
 * log F, through the Fréchet derivative of the matrix exponential:
 *   −∂E/∂U = L(Uᵀ, σ_v F⁻ᵀ) / expCellFactor,  U = log F,  σ_v = −V (stress + p I)  (the virial),
 * so line searches see a consistent energy and gradient. fmax is taken over all rows, cell rows
 * included, as ASE does. Derivation: https://github.com/lan496/lan496.github.io/blob/main/notes/cell_grad.pdf
 *
 * ```ts
 * const result = await new BFGS(new FrechetCellFilter(crystal, emt())).run({ fmax: 0.01 });
 * ```
 */
import type { Calculator, Computed } from "../calculators/calculator.js";
import { Crystal } from "../structure/crystal.js";
import { inv3, Lattice, matmul3, mulRows } from "../structure/lattice.js";
import { CalculatorOptimizable, type Evaluation } from "./optimizer.js";

export interface FrechetCellFilterOptions {
  /** The cell rows are log F times this. Default: the number of atoms (ASE's). */
  expCellFactor?: number;
  /** Which strain components relax: Voigt 6 (xx yy zz yz xz xy) or 3x3, 1 relaxes, 0 keeps. Default all. */
  mask?: ArrayLike<number>;
  /** Only hydrostatic deformation (the virial replaced by its trace / 3). */
  hydrostaticStrain?: boolean;
  /** Project out the trace of the cell forces: relax at (approximately) constant volume. */
  constantVolume?: boolean;
  /** Applied pressure (eV/Å³): the energy becomes the enthalpy E + pV. Default 0. */
  scalarPressure?: number;
}

export class FrechetCellFilter extends CalculatorOptimizable {
  /** The cell the deformation is measured from (row-major, vectors as rows). */
  readonly origCell: Float64Array;
  readonly expCellFactor: number;
  readonly hydrostaticStrain: boolean;
  readonly constantVolume: boolean;
  readonly scalarPressure: number;
  /** 3x3 strain mask, row-major. */
  readonly mask: Float64Array;
  private readonly natoms: number;
  private readonly numbers: Int32Array;

  constructor(crystal: Crystal, calculator: Calculator, options: FrechetCellFilterOptions = {}) {
    const n = crystal.natoms;
    const x0 = new Float64Array(3 * (n + 3));
    x0.set(crystal.positions); // F = I: z = x, log F = 0
    super(calculator, x0, true);
    this.natoms = n;
    this.numbers = crystal.numbers;
    this.origCell = crystal.cell.slice();
    this.expCellFactor = options.expCellFactor ?? n;
    this.hydrostaticStrain = options.hydrostaticStrain ?? false;
    this.constantVolume = options.constantVolume ?? false;
    this.scalarPressure = options.scalarPressure ?? 0;
    const m = options.mask ?? [1, 1, 1, 1, 1, 1];
    if (m.length !== 6 && m.length !== 9) throw new RangeError(`mask must have 6 (Voigt) or 9 numbers, got ${m.length}`);
    this.mask = m.length === 6 ? fullFromVoigt(m) : Float64Array.from(m);
  }

  /** The deformation gradient F = exp(U) at generalised positions x (row-major 3x3). */
  deformation(x: Float64Array = this.x): Float64Array {
    return expm(this.logDeformation(x), 3);
  }

  protected crystalAt(x: Float64Array): Crystal {
    const Ft = transpose3(this.deformation(x));
    const cell = matmul3(this.origCell, Ft);
    const positions = mulRows(x.subarray(0, 3 * this.natoms), Ft);
    return new Crystal({ cell: new Lattice(cell), positions, numbers: this.numbers });
  }

  protected generalise(x: Float64Array, crystal: Crystal, c: Computed): Evaluation {
    const n = this.natoms;
    const U = this.logDeformation(x);
    const F = expm(U, 3);
    const volume = crystal.volume;
    const s = fullFromVoigt(c.stress!);
    let virial = s.map((v, k) => -volume * (v + (k % 4 === 0 ? this.scalarPressure : 0)));
    if (this.hydrostaticStrain) {
      const t = (virial[0]! + virial[4]! + virial[8]!) / 3;
      virial = new Float64Array([t, 0, 0, 0, t, 0, 0, 0, t]);
    }
    virial = virial.map((v, k) => v * this.mask[k]!);
    // Gradient for the deformation itself (UnitCellFilter's), then through exp: ∂E/∂U_μν = ⟨L(U, E_μν), G⟩,
    // gathered at once as L(Uᵀ, G) since ⟨L(U, E), G⟩ = ⟨E, L(Uᵀ, G)⟩.
    const G = matmul3(virial, inv3(transpose3(F)));
    const cellForce = expmFrechet(transpose3(U), G, 3);
    if (this.constantVolume) {
      const t = (cellForce[0]! + cellForce[4]! + cellForce[8]!) / 3;
      for (const k of [0, 4, 8]) cellForce[k]! -= t;
    }
    const forces = new Float64Array(3 * (n + 3));
    forces.set(mulRows(c.forces!, F)); // f·F: forces on z
    for (let k = 0; k < 9; k++) forces[3 * n + k] = cellForce[k]! / this.expCellFactor;
    const energy = c.energy + this.scalarPressure * volume;
    const frame = { crystal, info: {}, energy: c.energy, forces: c.forces!, stress: c.stress! };
    return { energy, forces, frame };
  }

  protected override rowName(r: number): string {
    return r < this.natoms ? `atom ${r}` : `cell row ${r - this.natoms}`;
  }

  private logDeformation(x: Float64Array): Float64Array {
    const U = x.slice(3 * this.natoms, 3 * this.natoms + 9);
    for (let k = 0; k < 9; k++) U[k]! /= this.expCellFactor;
    return U;
  }
}

/** Full symmetric 3x3 (row-major) from Voigt xx yy zz yz xz xy (ASE's voigt_6_to_full_3x3_stress). */
function fullFromVoigt(v: ArrayLike<number>): Float64Array {
  const [xx, yy, zz, yz, xz, xy] = [v[0]!, v[1]!, v[2]!, v[3]!, v[4]!, v[5]!];
  return new Float64Array([xx, xy, xz, xy, yy, yz, xz, yz, zz]);
}

function transpose3(m: ArrayLike<number>): Float64Array {
  return new Float64Array([m[0]!, m[3]!, m[6]!, m[1]!, m[4]!, m[7]!, m[2]!, m[5]!, m[8]!]);
}

function matmul(a: Float64Array, b: Float64Array, n: number): Float64Array {
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++)
    for (let k = 0; k < n; k++) {
      const aik = a[i * n + k]!;
      if (aik === 0) continue;
      for (let j = 0; j < n; j++) out[i * n + j]! += aik * b[k * n + j]!;
    }
  return out;
}

/** Matrix exponential of an n x n row-major matrix: scaling and squaring around a Taylor series. */
export function expm(A: ArrayLike<number>, n: number): Float64Array {
  let norm = 0; // infinity norm
  for (let i = 0; i < n; i++) {
    let r = 0;
    for (let j = 0; j < n; j++) r += Math.abs(A[i * n + j]!);
    norm = Math.max(norm, r);
  }
  if (!Number.isFinite(norm)) throw new RangeError("expm: the matrix is not finite");
  const squarings = norm > 0.25 ? Math.ceil(Math.log2(norm / 0.25)) : 0;
  const scale = 2 ** -squarings;
  const X = Float64Array.from(A, (a) => a * scale);
  let result: Float64Array = new Float64Array(n * n);
  let term: Float64Array = new Float64Array(n * n);
  for (let i = 0; i < n; i++) result[i * n + i] = term[i * n + i] = 1;
  // ‖X‖ ≤ 1/4: 20 terms leave < 4⁻²⁰/20! of the sum.
  for (let k = 1; k <= 20; k++) {
    term = matmul(term, X, n).map((t) => t / k);
    let largest = 0;
    for (let i = 0; i < n * n; i++) {
      result[i]! += term[i]!;
      largest = Math.max(largest, Math.abs(term[i]!));
    }
    if (largest < 1e-18) break;
  }
  for (let s = 0; s < squarings; s++) result = matmul(result, result, n);
  return result;
}

/**
 * The Fréchet derivative of the matrix exponential at A in the direction E, L(A, E) = d/dt exp(A + tE)
 * at t = 0: the upper-right block of exp([[A, E], [0, A]]) (Higham, Functions of Matrices, 3.2).
 */
export function expmFrechet(A: ArrayLike<number>, E: ArrayLike<number>, n: number): Float64Array {
  let scale = 0;
  for (let k = 0; k < n * n; k++) scale = Math.max(scale, Math.abs(E[k]!));
  const out = new Float64Array(n * n);
  if (scale === 0) return out;
  const m = 2 * n;
  const block = new Float64Array(m * m);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++) {
      block[i * m + j] = block[(i + n) * m + j + n] = A[i * n + j]!;
      block[i * m + j + n] = E[i * n + j]! / scale; // linear in E: keep the block's norm that of A
    }
  const big = expm(block, m);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) out[i * n + j] = big[i * m + j + n]! * scale;
  return out;
}
