import { DEG } from "./units.js";

/** A 3x3 matrix stored row-major in 9 numbers. */
export type Mat3 = Float64Array;
export type Vec3 = [number, number, number];

/** Lattice parameters: lengths in Å, angles in degrees (α between b and c, β between a and c, γ between a and b). */
export interface LatticeParameters {
  a: number;
  b: number;
  c: number;
  alpha: number;
  beta: number;
  gamma: number;
}

/**
 * A periodic lattice: three vectors as the rows of a 3x3 matrix (Å), as in ASE and pymatgen.
 * Immutable: every operation returns new arrays or a new Lattice.
 */
export class Lattice {
  readonly matrix: Mat3;
  /** Inverse of `matrix`: fractional = cartesian · inverse. */
  readonly inverse: Mat3;

  constructor(matrix: ArrayLike<number> | ArrayLike<ArrayLike<number>>) {
    const m = new Float64Array(9);
    if (matrix.length === 9) {
      for (let i = 0; i < 9; i++) m[i] = Number((matrix as ArrayLike<number>)[i]);
    } else if (matrix.length === 3) {
      for (let i = 0; i < 3; i++) {
        const row = (matrix as ArrayLike<ArrayLike<number>>)[i]!;
        if (!row || row.length !== 3) throw new RangeError(`lattice row ${i} must have 3 components`);
        for (let j = 0; j < 3; j++) m[3 * i + j] = Number(row[j]);
      }
    } else {
      throw new RangeError(`a lattice needs 3x3 numbers, got ${matrix.length}`);
    }
    for (let i = 0; i < 9; i++) {
      if (!Number.isFinite(m[i]!)) throw new RangeError(`lattice component ${i} is not a finite number`);
    }
    const det = det3(m);
    // A cell whose volume is below 1e-6 of a·b·c is flat for any physical purpose (and rounding
    // leaves α = β = γ = 120° a few 1e-8 away from zero).
    const scale = Math.max(1e-300, norm(m, 0) * norm(m, 1) * norm(m, 2));
    if (!(Math.abs(det) > 1e-6 * scale)) {
      throw new RangeError(`lattice vectors are linearly dependent (volume ${Math.abs(det)} Å³)`);
    }
    this.matrix = m;
    this.inverse = inv3(m, det);
  }

  /** A lattice from parameters, with a along x and b in the xy plane (ASE's cellpar_to_cell convention). */
  static fromParameters(a: number, b: number, c: number, alpha: number, beta: number, gamma: number): Lattice {
    for (const [k, v] of Object.entries({ a, b, c })) {
      if (!(v > 0) || !Number.isFinite(v)) throw new RangeError(`lattice length ${k} must be positive, got ${v}`);
    }
    for (const [k, v] of Object.entries({ alpha, beta, gamma })) {
      if (!(v > 0 && v < 180)) throw new RangeError(`lattice angle ${k} must lie in (0, 180) degrees, got ${v}`);
    }
    const cosA = cosDeg(alpha);
    const cosB = cosDeg(beta);
    const cosG = cosDeg(gamma);
    const sinG = sinDeg(gamma);
    const cx = cosB;
    const cy = (cosA - cosB * cosG) / sinG;
    const cz2 = 1 - cx * cx - cy * cy;
    if (!(cz2 > 0)) throw new RangeError(`lattice angles α=${alpha}, β=${beta}, γ=${gamma} do not form a cell`);
    return new Lattice([a, 0, 0, b * cosG, b * sinG, 0, c * cx, c * cy, c * Math.sqrt(cz2)]);
  }

  static fromLatticeParameters(p: LatticeParameters): Lattice {
    return Lattice.fromParameters(p.a, p.b, p.c, p.alpha, p.beta, p.gamma);
  }

  static cubic(a: number): Lattice {
    return Lattice.fromParameters(a, a, a, 90, 90, 90);
  }

  /** Row `i` (0, 1, 2) as a vector. */
  vector(i: number): Vec3 {
    const m = this.matrix;
    return [m[3 * i]!, m[3 * i + 1]!, m[3 * i + 2]!];
  }

  get a(): number {
    return norm(this.matrix, 0);
  }
  get b(): number {
    return norm(this.matrix, 1);
  }
  get c(): number {
    return norm(this.matrix, 2);
  }
  get alpha(): number {
    return angle(this.matrix, 1, 2);
  }
  get beta(): number {
    return angle(this.matrix, 0, 2);
  }
  get gamma(): number {
    return angle(this.matrix, 0, 1);
  }

  get parameters(): LatticeParameters {
    return { a: this.a, b: this.b, c: this.c, alpha: this.alpha, beta: this.beta, gamma: this.gamma };
  }

  /** Volume in Å³ (always positive, whatever the handedness). */
  get volume(): number {
    return Math.abs(det3(this.matrix));
  }

  /**
   * Reciprocal lattice vectors as rows: b_i · a_j = δ_ij, times 2π when `twoPi` (pymatgen's
   * `reciprocal_lattice`); without it, the crystallographic one (`reciprocal_lattice_crystallographic`).
   */
  reciprocal({ twoPi = true }: { twoPi?: boolean } = {}): Lattice {
    const f = twoPi ? 2 * Math.PI : 1;
    const inv = this.inverse;
    const r = new Float64Array(9);
    // Rows of the reciprocal are the columns of the inverse.
    for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) r[3 * i + j] = f * inv[3 * j + i]!;
    return new Lattice(r);
  }

  /**
   * Distances between opposite faces of the cell (Å): the height along each reciprocal direction.
   * A sphere of radius r fits in ceil(r / height) image shells along that axis.
   */
  get heights(): Vec3 {
    const v = this.volume;
    const m = this.matrix;
    const h = (i: number, j: number): number => {
      const cx = m[3 * i + 1]! * m[3 * j + 2]! - m[3 * i + 2]! * m[3 * j + 1]!;
      const cy = m[3 * i + 2]! * m[3 * j]! - m[3 * i]! * m[3 * j + 2]!;
      const cz = m[3 * i]! * m[3 * j + 1]! - m[3 * i + 1]! * m[3 * j]!;
      return v / Math.hypot(cx, cy, cz);
    };
    return [h(1, 2), h(0, 2), h(0, 1)];
  }

  /** Fractional coordinates (3N, row per atom) of Cartesian ones. */
  toFractional(cartesian: ArrayLike<number>): Float64Array {
    return mulRows(cartesian, this.inverse);
  }

  /** Cartesian coordinates (3N, Å) of fractional ones. */
  toCartesian(fractional: ArrayLike<number>): Float64Array {
    return mulRows(fractional, this.matrix);
  }

  /** A lattice with the same shape and `volume` (Å³). */
  scaledToVolume(volume: number): Lattice {
    if (!(volume > 0)) throw new RangeError(`volume must be positive, got ${volume}`);
    const f = Math.cbrt(volume / this.volume);
    return new Lattice(this.matrix.map((x) => x * f));
  }

  /** True when every component agrees within `tol` Å. */
  equals(other: Lattice, tol = 1e-8): boolean {
    for (let i = 0; i < 9; i++) if (Math.abs(this.matrix[i]! - other.matrix[i]!) > tol) return false;
    return true;
  }

  toArray(): number[][] {
    return [this.vector(0), this.vector(1), this.vector(2)];
  }

  toJSON(): number[][] {
    return this.toArray();
  }
}

/** Wraps fractional coordinates into [0, 1); values within `eps` of 1 become 0 so that 0.9999999999 and 0 agree. */
export function wrapFractional(frac: ArrayLike<number>, eps = 1e-12): Float64Array {
  const out = new Float64Array(frac.length);
  for (let i = 0; i < frac.length; i++) {
    let x = frac[i]! - Math.floor(frac[i]!);
    if (x >= 1 - eps) x = 0;
    out[i] = x;
  }
  return out;
}

/** rows · m for a 3N array of row vectors. */
export function mulRows(rows: ArrayLike<number>, m: ArrayLike<number>): Float64Array {
  if (rows.length % 3 !== 0) throw new RangeError(`coordinates must have 3N numbers, got ${rows.length}`);
  const out = new Float64Array(rows.length);
  for (let k = 0; k < rows.length; k += 3) {
    const x = rows[k]!;
    const y = rows[k + 1]!;
    const z = rows[k + 2]!;
    out[k] = x * m[0]! + y * m[3]! + z * m[6]!;
    out[k + 1] = x * m[1]! + y * m[4]! + z * m[7]!;
    out[k + 2] = x * m[2]! + y * m[5]! + z * m[8]!;
  }
  return out;
}

export function det3(m: ArrayLike<number>): number {
  return (
    m[0]! * (m[4]! * m[8]! - m[5]! * m[7]!) -
    m[1]! * (m[3]! * m[8]! - m[5]! * m[6]!) +
    m[2]! * (m[3]! * m[7]! - m[4]! * m[6]!)
  );
}

/** Row-major product a · b of two 3x3 matrices. */
export function matmul3(a: ArrayLike<number>, b: ArrayLike<number>): Float64Array {
  const out = new Float64Array(9);
  for (let i = 0; i < 3; i++)
    for (let j = 0; j < 3; j++) out[3 * i + j] = a[3 * i]! * b[j]! + a[3 * i + 1]! * b[3 + j]! + a[3 * i + 2]! * b[6 + j]!;
  return out;
}

export function inv3(m: ArrayLike<number>, det = det3(m)): Float64Array {
  const d = 1 / det;
  return new Float64Array([
    (m[4]! * m[8]! - m[5]! * m[7]!) * d,
    (m[2]! * m[7]! - m[1]! * m[8]!) * d,
    (m[1]! * m[5]! - m[2]! * m[4]!) * d,
    (m[5]! * m[6]! - m[3]! * m[8]!) * d,
    (m[0]! * m[8]! - m[2]! * m[6]!) * d,
    (m[2]! * m[3]! - m[0]! * m[5]!) * d,
    (m[3]! * m[7]! - m[4]! * m[6]!) * d,
    (m[1]! * m[6]! - m[0]! * m[7]!) * d,
    (m[0]! * m[4]! - m[1]! * m[3]!) * d,
  ]);
}

function norm(m: ArrayLike<number>, i: number): number {
  return Math.hypot(m[3 * i]!, m[3 * i + 1]!, m[3 * i + 2]!);
}

function angle(m: ArrayLike<number>, i: number, j: number): number {
  const dot = m[3 * i]! * m[3 * j]! + m[3 * i + 1]! * m[3 * j + 1]! + m[3 * i + 2]! * m[3 * j + 2]!;
  const c = Math.min(1, Math.max(-1, dot / (norm(m, i) * norm(m, j))));
  return Math.acos(c) / DEG;
}

// Exact values at the right angles keep cubic cells free of 1e-17 off-diagonal noise, as ASE does.
function cosDeg(x: number): number {
  return x === 90 ? 0 : x === 60 ? 0.5 : x === 120 ? -0.5 : Math.cos(x * DEG);
}
function sinDeg(x: number): number {
  return x === 90 ? 1 : Math.sin(x * DEG);
}
