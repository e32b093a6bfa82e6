/**
 * LAMMPS as a Calculator: one `lmp` process per call (`run 0`), driven with execa.
 *
 * Each call writes a data file and an input script into a private temporary folder, runs
 * `lmp -in call-N.in -log call-N.log -nocite`, and reads the energy and pressure tensor from the
 * thermo line of the log and the forces from a `write_dump`. LAMMPS wants a restricted triclinic
 * cell (a along x, b in the xy plane, tilts at most half a box length), so the crystal is rotated
 * into that frame, its cell reduced, and forces and stress rotated back: results are in the
 * caller's frame. Units are LAMMPS `metal` (eV, Å, bar); the stress is returned in eV/Å³ with
 * ASE's sign (LAMMPS's pressure is minus the stress).
 *
 * ```ts
 * const cu = lammps({ pairStyle: "eam/alloy", pairCoeffs: ["* * Cu_mishin1.eam.alloy {elements}"] });
 * const { energy, forces } = await cu.compute(crystal);
 * await cu.close();
 * ```
 *
 * Atom types: type k is `elements[k-1]` when `elements` is given, otherwise the crystal's elements
 * sorted by atomic number. In `pairCoeffs` lines, `{elements}` becomes the symbols in type order
 * (for `pair_coeff * * file.eam.alloy {elements}`) and `{Sr}` the type number of Sr; a line that
 * names an element the crystal lacks is dropped when `elements` is not given (no atoms, no
 * coefficients needed).
 */
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { execa } from "execa";
import type { Crystal } from "../../structure/crystal.js";
import { elementByNumber, elementBySymbol } from "../../structure/elements.js";
import { det3, inv3, mulRows, wrapFractional } from "../../structure/lattice.js";
import {
  assertFinite,
  CalculatorError,
  type CallCounts,
  type Calculator,
  type Computed,
  type ComputeRequest,
} from "../calculator.js";

/** LAMMPS's own bar per eV/Å³ in `metal` units (force->nktv2p in src/update.cpp); 1 bar = 6.2415e-7 eV/Å³. */
export const LAMMPS_METAL_NKTV2P = 1.6021765e6;

export interface LammpsOptions {
  /** The `pair_style` arguments, e.g. "eam/alloy", "lj/cut 8.0", "buck/coul/long 10.0". */
  pairStyle: string;
  /** `pair_coeff` lines, with or without the leading "pair_coeff"; `{elements}` and `{Sr}` are substituted (see above). */
  pairCoeffs: readonly string[];
  /** `kspace_style` arguments, e.g. "ewald 1e-6"; turns on `atom_style charge`. */
  kspace?: string;
  /** Charge per element symbol (e); turns on `atom_style charge`. Every element present needs one. */
  charges?: Readonly<Record<string, number>>;
  /** Mass per element symbol (amu); default: the elements table. */
  masses?: Readonly<Record<string, number>>;
  /** Atom type order (type k = elements[k-1]); default: the crystal's elements by atomic number. */
  elements?: readonly string[];
  /** More input lines after the force field and before `run 0`, e.g. "pair_modify shift yes". */
  commands?: readonly string[];
  /** The executable; default env CRYSTAL_RL_LAMMPS, else "lmp". */
  binary?: string;
  /** Kill a call that runs longer (ms). Default 300 000. */
  timeoutMs?: number;
  /** Parent of the temporary folder for inputs and outputs; default the OS temp dir. */
  workDir?: string;
  /** Working directory of `lmp`, where relative potential file names resolve; default process.cwd(). */
  cwd?: string;
  /** Extra environment for `lmp`. */
  env?: Readonly<Record<string, string>>;
  /** Keep each call's files (they are always kept after a failure, until `close()`). */
  keepFiles?: boolean;
}

/** A cell in LAMMPS's restricted triclinic form and the rotation that took the crystal there. */
export interface RestrictedCell {
  /** Box lengths and tilts: a = (lx, 0, 0), b = (xy, ly, 0), c = (xz, yz, lz). */
  lx: number;
  ly: number;
  lz: number;
  xy: number;
  xz: number;
  yz: number;
  /** Row-major orthogonal 3x3 Q: r_lammps = Q r (its rows are the LAMMPS axes in the user's frame). */
  rotation: Float64Array;
  /** The reduced cell, rows a, b, c in the LAMMPS frame (the same lattice as the rotated input). */
  matrix: Float64Array;
}

/**
 * The restricted triclinic form of a cell (rows are vectors): rotated so that a lies along x and b
 * in the xy plane with a positive y component, c with a positive z component (a reflection is
 * folded into Q for a left-handed cell), and tilts reduced to at most half a box length by adding
 * lattice vectors (the same lattice, so energies, forces and stress do not change).
 */
export function restrictedTriclinic(cell: ArrayLike<number>): RestrictedCell {
  const a = [cell[0]!, cell[1]!, cell[2]!];
  const b = [cell[3]!, cell[4]!, cell[5]!];
  const c = [cell[6]!, cell[7]!, cell[8]!];
  const na = Math.hypot(a[0]!, a[1]!, a[2]!);
  const e1 = a.map((x) => x / na);
  const bd = dot(b, e1);
  const bp = b.map((x, i) => x - bd * e1[i]!);
  const nbp = Math.hypot(bp[0]!, bp[1]!, bp[2]!);
  const e2 = bp.map((x) => x / nbp);
  const sign = det3(cell) >= 0 ? 1 : -1;
  const e3 = cross(e1, e2).map((x) => sign * x);
  const q = Float64Array.from([...e1, ...e2, ...e3]);
  const lx = na;
  let xy = bd;
  const ly = nbp;
  let xz = dot(c, e1);
  let yz = dot(c, e2);
  const lz = dot(c, e3);
  // Reduce the tilts: c -= round(yz/ly) b, then c -= round(xz/lx) a, b -= round(xy/lx) a.
  const kb = Math.round(yz / ly);
  if (kb !== 0) {
    yz -= kb * ly;
    xz -= kb * xy;
  }
  const ka = Math.round(xz / lx);
  if (ka !== 0) xz -= ka * lx;
  const kab = Math.round(xy / lx);
  if (kab !== 0) xy -= kab * lx;
  const matrix = Float64Array.from([lx, 0, 0, xy, ly, 0, xz, yz, lz]);
  return { lx, ly, lz, xy, xz, yz, rotation: q, matrix };
}

/** The files of one LAMMPS call, and what is needed to read its results. */
export interface LammpsDeck {
  /** The data file (read_data). */
  data: string;
  /** The input script, given the paths it refers to. */
  input: (paths: { data: string; dump: string }) => string;
  /** Element symbol of each atom type (type k = types[k-1]). */
  types: string[];
  cell: RestrictedCell;
}

/** Writes the data file and input script for `crystal` (pure: no files, no processes). */
export function lammpsDeck(crystal: Crystal, options: LammpsOptions): LammpsDeck {
  const name = "lammps";
  const present = [...new Set(crystal.numbers)].sort((x, y) => x - y).map((z) => elementByNumber(z).symbol);
  const types = options.elements ? [...options.elements] : present;
  for (const s of types) elementBySymbol(s); // throws for an unknown symbol
  if (new Set(types).size !== types.length) throw new CalculatorError(`${name}: elements lists a symbol twice: ${types.join(" ")}`, name);
  const typeOf = new Map(types.map((s, k) => [s, k + 1]));
  const symbols = crystal.symbols;
  const atomTypes = symbols.map((s, i) => {
    const t = typeOf.get(s);
    if (t === undefined) {
      throw new CalculatorError(`${name}: atom ${i} is ${s}, which is not among the atom types (${types.join(" ")})`, name, i);
    }
    return t;
  });

  const charged = options.charges !== undefined || options.kspace !== undefined;
  const charges = options.charges ?? {};
  if (charged) {
    for (const s of present) {
      if (typeof charges[s] !== "number" || !Number.isFinite(charges[s])) {
        throw new CalculatorError(`${name}: no charge for ${s} (options.charges)`, name);
      }
    }
  }

  const cell = restrictedTriclinic(crystal.cell);
  const q = cell.rotation;
  // Positions in the LAMMPS frame, wrapped into the reduced cell.
  const n = crystal.natoms;
  const p = crystal.positions;
  const rotated = new Float64Array(3 * n);
  for (let i = 0; i < n; i++) {
    for (let d = 0; d < 3; d++) {
      rotated[3 * i + d] = q[3 * d]! * p[3 * i]! + q[3 * d + 1]! * p[3 * i + 1]! + q[3 * d + 2]! * p[3 * i + 2]!;
    }
  }
  const m = cell.matrix;
  const frac = wrapFractional(mulRows(rotated, inv3(m)));
  const pos = mulRows(frac, m);

  const tilted = cell.xy !== 0 || cell.xz !== 0 || cell.yz !== 0;
  const lines: string[] = [
    `crystal-rl ${crystal.formula} (restricted triclinic frame)`,
    "",
    `${n} atoms`,
    `${types.length} atom types`,
    `0 ${num(cell.lx)} xlo xhi`,
    `0 ${num(cell.ly)} ylo yhi`,
    `0 ${num(cell.lz)} zlo zhi`,
  ];
  if (tilted) lines.push(`${num(cell.xy)} ${num(cell.xz)} ${num(cell.yz)} xy xz yz`);
  lines.push("", "Masses", "");
  types.forEach((s, k) => {
    const mass = options.masses?.[s] ?? elementBySymbol(s).mass;
    lines.push(`${k + 1} ${num(mass)}`);
  });
  lines.push("", `Atoms # ${charged ? "charge" : "atomic"}`, "");
  for (let i = 0; i < n; i++) {
    const xyz = `${num(pos[3 * i]!)} ${num(pos[3 * i + 1]!)} ${num(pos[3 * i + 2]!)}`;
    const qi = charged ? ` ${num(charges[symbols[i]!]!)}` : "";
    lines.push(`${i + 1} ${atomTypes[i]}${qi} ${xyz}`);
  }
  const data = lines.join("\n") + "\n";

  const coeffs = substituteCoeffs(options.pairCoeffs, types, typeOf, options.elements === undefined);
  const input = ({ data: dataPath, dump }: { data: string; dump: string }): string =>
    [
      "# crystal-rl: one energy, force and stress evaluation",
      "units metal",
      `atom_style ${charged ? "charge" : "atomic"}`,
      "boundary p p p",
      `read_data ${quote(dataPath)}`,
      `pair_style ${options.pairStyle}`,
      ...coeffs,
      ...(options.kspace ? [`kspace_style ${options.kspace}`] : []),
      ...(options.commands ?? []),
      "thermo_style custom pe pxx pyy pzz pyz pxz pxy",
      "thermo_modify norm no format float %.17g",
      "run 0",
      `write_dump all custom ${quote(dump)} id fx fy fz modify sort id format float %.17g`,
      "",
    ].join("\n");
  return { data, input, types, cell };
}

function substituteCoeffs(
  lines: readonly string[],
  types: readonly string[],
  typeOf: ReadonlyMap<string, number>,
  dropAbsent: boolean,
): string[] {
  const out: string[] = [];
  for (const raw of lines) {
    let line = raw.trim().replace(/^pair_coeff\s+/, "");
    let absent = false;
    line = line.replace(/\{([A-Za-z]+)\}/g, (whole, key: string) => {
      if (key === "elements") return types.join(" ");
      const t = typeOf.get(key);
      if (t !== undefined) return String(t);
      try {
        elementBySymbol(key);
      } catch {
        throw new CalculatorError(`lammps: unknown placeholder ${whole} in pair_coeff "${raw}"`, "lammps");
      }
      if (!dropAbsent) throw new CalculatorError(`lammps: ${key} in pair_coeff "${raw}" is not among the atom types (${types.join(" ")})`, "lammps");
      absent = true;
      return whole;
    });
    if (absent) continue;
    // pair_coeff I J wants I <= J.
    const tokens = line.split(/\s+/);
    const [i, j] = tokens;
    if (i && j && /^\d+$/.test(i) && /^\d+$/.test(j) && Number(i) > Number(j)) {
      tokens[0] = j;
      tokens[1] = i;
      line = tokens.join(" ");
    }
    out.push(`pair_coeff ${line}`);
  }
  return out;
}

/** The thermo line after `run 0`: energy and the pressure tensor (bar) in LAMMPS's frame. */
export function parseLammpsLog(text: string): { energy: number; pressure: number[] } | undefined {
  const lines = text.split(/\r?\n/);
  for (let k = 0; k < lines.length - 1; k++) {
    const head = lines[k]!.trim().split(/\s+/);
    if (head[0] !== "PotEng" || head.length !== 7) continue;
    const values = lines[k + 1]!.trim().split(/\s+/).map(Number);
    if (values.length !== 7) continue;
    return { energy: values[0]!, pressure: values.slice(1) };
  }
  return undefined;
}

/** LAMMPS's ERROR lines ("ERROR: ..." or "ERROR on proc 0: ..."), each with the "Last command" line that follows it. */
export function lammpsErrors(text: string): string[] {
  const lines = text.split(/\r?\n/);
  const out: string[] = [];
  lines.forEach((line, k) => {
    if (!/^ERROR( on proc \d+)?:/.test(line)) return;
    const next = lines[k + 1];
    out.push(next?.startsWith("Last command:") ? `${line}\n${next}` : line);
  });
  return [...new Set(out)];
}

/** Forces (3N, LAMMPS frame) from a `write_dump ... custom id fx fy fz` file. */
export function parseLammpsDump(text: string, natoms: number): Float64Array {
  const lines = text.split(/\r?\n/);
  const at = lines.findIndex((l) => l.startsWith("ITEM: ATOMS"));
  if (at < 0) throw new Error("no ITEM: ATOMS section");
  const cols = lines[at]!.trim().split(/\s+/).slice(2);
  const [ci, cx, cy, cz] = ["id", "fx", "fy", "fz"].map((c) => cols.indexOf(c));
  if ([ci, cx, cy, cz].some((c) => c === undefined || c < 0)) throw new Error(`dump columns are ${cols.join(" ")}, not id fx fy fz`);
  const forces = new Float64Array(3 * natoms).fill(Number.NaN);
  let seen = 0;
  for (let k = at + 1; k < lines.length && seen < natoms; k++) {
    const line = lines[k]!.trim();
    if (!line) continue;
    const v = line.split(/\s+/).map(Number);
    const id = v[ci!]!;
    if (!(id >= 1 && id <= natoms)) throw new Error(`dump line ${k + 1}: atom id ${id} out of range`);
    forces[3 * (id - 1)] = v[cx!]!;
    forces[3 * (id - 1) + 1] = v[cy!]!;
    forces[3 * (id - 1) + 2] = v[cz!]!;
    seen++;
  }
  if (seen !== natoms) throw new Error(`dump has ${seen} atoms, expected ${natoms}`);
  return forces;
}

/** LAMMPS (`lmp`, units metal) as a Calculator; see the module comment. */
export class Lammps implements Calculator {
  readonly name = "lammps";
  readonly counts: CallCounts = { calls: 0, forceCalls: 0 };
  readonly binary: string;
  readonly timeoutMs: number;
  private readonly options: LammpsOptions;
  private dir: Promise<string> | undefined;
  private serial = 0;

  constructor(options: LammpsOptions) {
    if (typeof options.pairStyle !== "string" || !options.pairStyle.trim()) {
      throw new RangeError("lammps: pairStyle is required (e.g. \"eam/alloy\")");
    }
    this.options = { ...options };
    this.binary = options.binary ?? process.env["CRYSTAL_RL_LAMMPS"] ?? "lmp";
    this.timeoutMs = options.timeoutMs ?? 300_000;
  }

  /** The temporary folder of this calculator's files (made on first use, removed by `close()`). */
  workDir(): Promise<string> {
    this.dir ??= (async () => {
      const parent = resolve(this.options.workDir ?? tmpdir());
      await mkdir(parent, { recursive: true });
      return mkdtemp(join(parent, "crystal-rl-lammps-"));
    })();
    return this.dir;
  }

  async compute(crystal: Crystal, request: ComputeRequest = {}): Promise<Computed> {
    const wantForces = request.forces ?? true;
    const wantStress = request.stress ?? false;
    this.counts.calls++;
    if (wantForces) this.counts.forceCalls++;

    const deck = lammpsDeck(crystal, this.options);
    const dir = await this.workDir();
    const stem = join(dir, `call-${++this.serial}`);
    const paths = { input: `${stem}.in`, data: `${stem}.data`, log: `${stem}.log`, dump: `${stem}.dump` };
    await writeFile(paths.data, deck.data);
    await writeFile(paths.input, deck.input(paths));

    const fail = (message: string, cause?: unknown): CalculatorError =>
      new CalculatorError(`lammps: ${message} (input ${paths.input})`, this.name, undefined, { cause });

    const env = lammpsEnv(this.options.env);
    // Each lone Open MPI process gets its own session folder: concurrent singletons sharing the
    // default one fail in MPI_Init now and then (seen with 48 at once). A short path under the OS
    // temp dir, since the session folder holds Unix sockets (108-byte path limit).
    const session = "OMPI_MCA_orte_tmpdir_base" in env || process.env["OMPI_MCA_orte_tmpdir_base"] !== undefined ? undefined : await mkdtemp(join(tmpdir(), "crl-mpi-"));
    if (session) env["OMPI_MCA_orte_tmpdir_base"] = session;
    let result;
    try {
      for (let attempt = 1; ; attempt++) {
        result = await execa(this.binary, ["-in", paths.input, "-log", paths.log, "-nocite"], {
          cwd: this.options.cwd ?? process.cwd(),
          env,
          timeout: this.timeoutMs,
          forceKillAfterDelay: 2000,
          stdin: "ignore",
          reject: false,
          maxBuffer: 64 * 1024 * 1024,
        });
        // MPI start-up failures happen before LAMMPS reads its input: safe to try again.
        if (!(result.failed && /MPI_INIT failed|ompi_rte_init failed/.test(String(result.stdout ?? "") + String(result.stderr ?? ""))) || attempt === 3) break;
      }
    } finally {
      if (session) await rm(session, { recursive: true, force: true });
    }
    const log = await readFile(paths.log, "utf8").catch(() => "");
    const screen = `${String(result.stdout ?? "")}\n${String(result.stderr ?? "")}`;
    const errors = lammpsErrors(`${log}\n${screen}`);
    if (result.timedOut) throw fail(`${this.binary} timed out after ${this.timeoutMs} ms and was killed`);
    if (result.failed && (result as { code?: string }).code === "ENOENT") {
      throw fail(`cannot run "${this.binary}": not found (install LAMMPS, e.g. apt-get install lammps lammps-data, or set CRYSTAL_RL_LAMMPS)`);
    }
    if (errors.length > 0) throw fail(errors.join("\n"));
    if (result.failed) {
      const how = result.signal ? `was killed by ${result.signal}` : `exited with code ${result.exitCode}`;
      throw fail(`${this.binary} ${how}${tail(screen)}`, result);
    }
    const thermo = parseLammpsLog(log) ?? parseLammpsLog(screen);
    if (!thermo) throw fail(`no thermo output (PotEng Pxx ...) in ${paths.log}${tail(screen)}`);
    let forcesLmp: Float64Array;
    try {
      forcesLmp = parseLammpsDump(await readFile(paths.dump, "utf8"), crystal.natoms);
    } catch (err) {
      throw fail(`cannot read the forces from ${paths.dump}: ${(err as Error).message}`, err);
    }

    const q = deck.cell.rotation;
    const out: Computed = { energy: thermo.energy };
    if (wantForces) {
      // f = Qᵀ f'
      const n = crystal.natoms;
      const f = new Float64Array(3 * n);
      for (let i = 0; i < n; i++) {
        for (let d = 0; d < 3; d++) {
          f[3 * i + d] = q[d]! * forcesLmp[3 * i]! + q[3 + d]! * forcesLmp[3 * i + 1]! + q[6 + d]! * forcesLmp[3 * i + 2]!;
        }
      }
      out.forces = f;
    }
    if (wantStress) {
      // σ' = -P / nktv2p (Voigt xx yy zz yz xz xy), then σ = Qᵀ σ' Q.
      const [pxx, pyy, pzz, pyz, pxz, pxy] = thermo.pressure.map((x) => -x / LAMMPS_METAL_NKTV2P) as [number, number, number, number, number, number];
      const s = [pxx, pxy, pxz, pxy, pyy, pyz, pxz, pyz, pzz];
      const r = new Float64Array(9);
      for (let i = 0; i < 3; i++)
        for (let j = 0; j < 3; j++) {
          let v = 0;
          for (let k = 0; k < 3; k++) for (let l = 0; l < 3; l++) v += q[3 * k + i]! * s[3 * k + l]! * q[3 * l + j]!;
          r[3 * i + j] = v;
        }
      out.stress = Float64Array.from([r[0]!, r[4]!, r[8]!, 0.5 * (r[5]! + r[7]!), 0.5 * (r[2]! + r[6]!), 0.5 * (r[1]! + r[3]!)]);
    }
    assertFinite(out, this.name, crystal);
    if (!this.options.keepFiles) {
      await Promise.all(Object.values(paths).map((path) => rm(path, { force: true })));
    }
    return out;
  }

  resetCounts(): void {
    this.counts.calls = 0;
    this.counts.forceCalls = 0;
  }

  /** Removes the temporary folder; a later call makes a new one. */
  async close(): Promise<void> {
    const dir = this.dir;
    this.dir = undefined;
    if (dir) await rm(await dir, { recursive: true, force: true });
  }
}

/** `new Lammps(options)`, for chains and the CLI. */
export const lammps = (options: LammpsOptions): Lammps => new Lammps(options);

/**
 * The environment of `lmp`: one OpenMP thread, Open MPI set up for a lone process (singleton
 * start-up drops from about 0.3 s to 0.03 s), and Debian's potentials folder as LAMMPS_POTENTIALS;
 * each only where the caller's environment does not set it.
 */
function lammpsEnv(extra: Readonly<Record<string, string>> | undefined): Record<string, string> {
  const env: Record<string, string> = {};
  const defaults: Record<string, string> = {
    OMP_NUM_THREADS: "1",
    OMPI_MCA_ess_singleton_isolated: "1",
    OMPI_MCA_pml: "ob1",
    OMPI_MCA_btl: "self",
  };
  for (const [k, v] of Object.entries(defaults)) if (process.env[k] === undefined) env[k] = v;
  const potentials = "/usr/share/lammps/potentials";
  if (process.env["LAMMPS_POTENTIALS"] === undefined && existsSync(potentials)) env["LAMMPS_POTENTIALS"] = potentials;
  return { ...env, ...extra };
}

function tail(text: string, lines = 15): string {
  const kept = text.trim().split(/\r?\n/).slice(-lines).join("\n");
  return kept ? `; last output:\n${kept}` : "";
}

/** Full precision, round-trip exact. */
function num(x: number): string {
  return Object.is(x, -0) ? "0" : String(x);
}

function quote(path: string): string {
  if (path.includes('"')) throw new CalculatorError(`lammps: a path with a double quote cannot go into a LAMMPS input: ${path}`, "lammps");
  return `"${path}"`;
}

function dot(u: readonly number[], v: readonly number[]): number {
  return u[0]! * v[0]! + u[1]! * v[1]! + u[2]! * v[2]!;
}

function cross(u: readonly number[], v: readonly number[]): number[] {
  return [u[1]! * v[2]! - u[2]! * v[1]!, u[2]! * v[0]! - u[0]! * v[2]!, u[0]! * v[1]! - u[1]! * v[0]!];
}
