import { atomicNumber, elementByNumber } from "./elements.js";
import { formatFormula, reduceFormula, type Composition } from "./formula.js";
import { det3, Lattice, matmul3, wrapFractional } from "./lattice.js";
import { Rng } from "./random-source.js";
import { AMU_PER_A3_TO_G_PER_CM3 } from "./units.js";

export interface CrystalInit {
  /** Lattice, or its 3x3 matrix (vectors as rows, Å). */
  cell: Lattice | ArrayLike<number> | ArrayLike<ArrayLike<number>>;
  /** Cartesian positions, 3N numbers in Å. */
  positions: ArrayLike<number>;
  /** Atomic numbers, or element symbols. */
  numbers: ArrayLike<number> | readonly string[];
}

/**
 * A periodic crystal: a lattice, Cartesian positions (Å) and atomic numbers.
 * Immutable by convention: `withPositions()` and friends return copies, and the arrays are never
 * written after construction.
 */
export class Crystal {
  readonly lattice: Lattice;
  readonly positions: Float64Array;
  readonly numbers: Int32Array;

  constructor({ cell, positions, numbers }: CrystalInit) {
    this.lattice = cell instanceof Lattice ? cell : new Lattice(cell);
    const n = numbers.length;
    this.numbers = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const v = numbers[i]!;
      const z = typeof v === "string" ? atomicNumber(v) : v;
      elementByNumber(z); // throws for an unknown number
      this.numbers[i] = z;
    }
    if (positions.length !== 3 * n) {
      throw new RangeError(`a crystal of ${n} atoms needs ${3 * n} position components, got ${positions.length}`);
    }
    this.positions = Float64Array.from(positions);
    for (let i = 0; i < this.positions.length; i++) {
      if (!Number.isFinite(this.positions[i]!)) {
        throw new RangeError(`atom ${Math.floor(i / 3)} has a non-finite coordinate`);
      }
    }
  }

  /** A crystal from fractional coordinates. */
  static fromFractional(
    cell: Lattice | ArrayLike<number> | ArrayLike<ArrayLike<number>>,
    fractional: ArrayLike<number>,
    numbers: ArrayLike<number> | readonly string[],
  ): Crystal {
    const lattice = cell instanceof Lattice ? cell : new Lattice(cell);
    return new Crystal({ cell: lattice, positions: lattice.toCartesian(fractional), numbers });
  }

  /** The lattice matrix (rows are vectors, Å), row-major. */
  get cell(): Float64Array {
    return this.lattice.matrix;
  }

  get natoms(): number {
    return this.numbers.length;
  }

  get length(): number {
    return this.numbers.length;
  }

  get volume(): number {
    return this.lattice.volume;
  }

  get symbols(): string[] {
    return Array.from(this.numbers, (z) => elementByNumber(z).symbol);
  }

  /** Position of atom `i` (Å). */
  position(i: number): [number, number, number] {
    const p = this.positions;
    return [p[3 * i]!, p[3 * i + 1]!, p[3 * i + 2]!];
  }

  /** Fractional coordinates, 3N. */
  fractional(): Float64Array {
    return this.lattice.toFractional(this.positions);
  }

  /** Element symbol -> count, in order of first appearance. */
  get composition(): Composition {
    const comp: Composition = new Map();
    for (const s of this.symbols) comp.set(s, (comp.get(s) ?? 0) + 1);
    return comp;
  }

  /** Full formula ordered by electronegativity, "Sr8Ti8O24" (pymatgen's `formula` without spaces). */
  get formula(): string {
    return formatFormula(this.composition);
  }

  /** Reduced formula, "SrTiO3" (pymatgen's `reduced_formula`). */
  get reducedFormula(): string {
    return reduceFormula(this.composition).formula;
  }

  /** Number of formula units in the cell. */
  get formulaUnits(): number {
    return reduceFormula(this.composition).factor;
  }

  /** Total mass in amu. */
  get mass(): number {
    let m = 0;
    for (const z of this.numbers) m += elementByNumber(z).mass;
    return m;
  }

  /** Density in g/cm³. */
  get density(): number {
    return (this.mass / this.volume) * AMU_PER_A3_TO_G_PER_CM3;
  }

  withPositions(positions: ArrayLike<number>): Crystal {
    return new Crystal({ cell: this.lattice, positions, numbers: this.numbers });
  }

  /**
   * Atoms displaced by Gaussian noise of standard deviation `stdev` Å in each component, as ASE's
   * `rattle(stdev, seed)` does (with this project's generator, so the numbers differ from numpy's).
   */
  rattled(stdev: number, seed = 42): Crystal {
    if (!(stdev >= 0) || !Number.isFinite(stdev)) throw new RangeError(`stdev must be a non-negative number, got ${stdev}`);
    const rng = new Rng(seed);
    return this.withPositions(this.positions.map((x) => x + rng.normal(0, stdev)));
  }

  /** Same atoms, new cell; with `scaleAtoms` the fractional coordinates are kept (atoms move with the cell). */
  withCell(cell: Lattice | ArrayLike<number>, { scaleAtoms = false } = {}): Crystal {
    const lattice = cell instanceof Lattice ? cell : new Lattice(cell);
    const positions = scaleAtoms ? lattice.toCartesian(this.fractional()) : this.positions;
    return new Crystal({ cell: lattice, positions, numbers: this.numbers });
  }

  /**
   * The crystal deformed by (I + ε): every lattice vector and atom maps r → r (I + ε), rows as vectors
   * (ASE's `set_cell(cell @ (I + ε), scale_atoms=True)`). `epsilon` is a 3x3 strain, row-major.
   */
  strained(epsilon: ArrayLike<number>): Crystal {
    if (epsilon.length !== 9) throw new RangeError(`a strain needs 9 components (3x3), got ${epsilon.length}`);
    const deformation = Float64Array.from(epsilon, (e, k) => (k % 4 === 0 ? 1 : 0) + e);
    return this.withCell(matmul3(this.cell, deformation), { scaleAtoms: true });
  }

  /** Atoms moved into the cell: fractional coordinates in [0, 1). */
  wrapped(): Crystal {
    return this.withPositions(this.lattice.toCartesian(wrapFractional(this.fractional())));
  }

  /**
   * A supercell. `repeat` is [na, nb, nc] or a 3x3 integer matrix P (row-major or nested) with the new
   * vectors as the rows of P · cell, as in ASE's make_supercell. Atoms are ordered by original atom, then image.
   */
  supercell(repeat: readonly [number, number, number] | ArrayLike<number> | ArrayLike<ArrayLike<number>>): Crystal {
    const p = new Float64Array(9);
    if (repeat.length === 3 && typeof repeat[0] === "number") {
      const r = repeat as ArrayLike<number>;
      p[0] = r[0]!;
      p[4] = r[1]!;
      p[8] = r[2]!;
    } else if (repeat.length === 3) {
      const r = repeat as ArrayLike<ArrayLike<number>>;
      for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) p[3 * i + j] = r[i]![j]!;
    } else if (repeat.length === 9) {
      for (let i = 0; i < 9; i++) p[i] = (repeat as ArrayLike<number>)[i]!;
    } else {
      throw new RangeError("supercell takes [na, nb, nc] or a 3x3 integer matrix");
    }
    if (!p.every((x) => Number.isInteger(x))) throw new RangeError("supercell matrix entries must be integers");
    const det = Math.round(det3(p));
    if (det <= 0) throw new RangeError(`supercell matrix must have a positive determinant, got ${det}`);

    const newLattice = new Lattice(matmul3(p, this.cell));
    // Lattice points of the old cell inside the new one: fractional (in new-cell units) in [0, 1).
    // Enumerate integer points in the bounding box of the parallelepiped spanned by P's rows.
    const lo = [0, 0, 0];
    const hi = [0, 0, 0];
    for (let corner = 0; corner < 8; corner++) {
      for (let j = 0; j < 3; j++) {
        let s = 0;
        for (let i = 0; i < 3; i++) if (corner & (1 << i)) s += p[3 * i + j]!;
        lo[j] = Math.min(lo[j]!, s);
        hi[j] = Math.max(hi[j]!, s);
      }
    }
    const pInv = newLattice.inverse; // fractional in the new cell of a Cartesian point
    const eps = 1e-8;
    const points: number[] = [];
    for (let i = lo[0]!; i <= hi[0]!; i++)
      for (let j = lo[1]!; j <= hi[1]!; j++)
        for (let k = lo[2]!; k <= hi[2]!; k++) {
          // Fractional in the new cell of the old lattice point (i, j, k) = (i, j, k) · P⁻¹.
          const c = this.lattice.toCartesian([i, j, k]);
          const f = [0, 1, 2].map((d) => c[0]! * pInv[d]! + c[1]! * pInv[3 + d]! + c[2]! * pInv[6 + d]!);
          if (f.every((x) => x >= -eps && x < 1 - eps)) points.push(c[0]!, c[1]!, c[2]!);
        }
    if (points.length / 3 !== det) throw new Error(`supercell found ${points.length / 3} lattice points, expected ${det}`);

    const n = this.natoms;
    const positions = new Float64Array(3 * n * det);
    const numbers = new Int32Array(n * det);
    let k = 0;
    for (let a = 0; a < n; a++) {
      for (let t = 0; t < det; t++, k++) {
        for (let d = 0; d < 3; d++) positions[3 * k + d] = this.positions[3 * a + d]! + points[3 * t + d]!;
        numbers[k] = this.numbers[a]!;
      }
    }
    return new Crystal({ cell: newLattice, positions, numbers });
  }

  /** True when cell, numbers and positions agree (positions within `tol` Å, same order). */
  equals(other: Crystal, tol = 1e-8): boolean {
    if (this.natoms !== other.natoms || !this.lattice.equals(other.lattice, tol)) return false;
    for (let i = 0; i < this.natoms; i++) if (this.numbers[i] !== other.numbers[i]) return false;
    for (let i = 0; i < this.positions.length; i++) {
      if (Math.abs(this.positions[i]! - other.positions[i]!) > tol) return false;
    }
    return true;
  }

  toJSON(): { cell: number[][]; positions: number[][]; symbols: string[] } {
    const positions: number[][] = [];
    for (let i = 0; i < this.natoms; i++) positions.push(this.position(i));
    return { cell: this.lattice.toArray(), positions, symbols: this.symbols };
  }

  toString(): string {
    const p = this.lattice.parameters;
    return `Crystal(${this.formula}, a=${p.a.toFixed(3)} b=${p.b.toFixed(3)} c=${p.c.toFixed(3)} α=${p.alpha.toFixed(2)} β=${p.beta.toFixed(2)} γ=${p.gamma.toFixed(2)})`;
  }
}
