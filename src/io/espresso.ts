/**
 * Quantum ESPRESSO `pw.x`: the input file (written) and the output text (read).
 *
 * The input follows what ASE's `Espresso` calculator wrote for CrystalGym (spec §5): `ibrav=0`,
 * `CELL_PARAMETERS angstrom`, `ATOMIC_POSITIONS angstrom`, `ATOMIC_SPECIES` with masses and pseudo
 * file names, and `K_POINTS automatic n1 n2 n3 0 0 0` from pymatgen's `Kpoints.automatic_density`.
 * Rydberg and Bohr are converted here and nowhere else: what comes out is in eV, Å, eV/Å³, GPa and
 * g/cm³.
 *
 * ```ts
 * const text = formatPwInput(crystal, { pseudos: { Si: "Si.pbe-rrkj.UPF" }, ecutwfc: 30, occupations: "fixed" });
 * const out = parsePwOutput(await readFile("pw.out", "utf8"), { file: "pw.out" });
 * out.energy; out.gap; out.density; out.converged;
 * ```
 */
import type { Crystal } from "../structure/crystal.js";
import { elementBySymbol } from "../structure/elements.js";
import type { Lattice } from "../structure/lattice.js";
import { BOHR_A, RY_EV } from "../structure/units.js";
import { ParseError, parseDecimal } from "./errors.js";

/** A Fortran namelist value: strings are quoted, booleans become .true./.false. */
export type NamelistValue = string | number | boolean;

export interface PwInputSettings {
  /** "scf" (band gap, bulk modulus), "vc-relax" (density), "relax". Default "scf". */
  calculation?: "scf" | "relax" | "vc-relax" | "nscf" | "bands";
  /** Pseudopotential file name per element symbol (every element of the crystal needs one). */
  pseudos: Readonly<Record<string, string>>;
  /** Mass per element symbol (amu); default the elements table. QE's "density =" line uses these. */
  masses?: Readonly<Record<string, number>>;
  /** Folder of the pseudo files, as pw.x sees it (relative to its working directory). Default "./pseudo". */
  pseudoDir?: string;
  /** pw.x scratch folder. Default "./out". */
  outdir?: string;
  /** Default "crystal". */
  prefix?: string;
  /** Wave-function cut-off (Ry). */
  ecutwfc: number;
  /** Charge-density cut-off (Ry); default 4 ecutwfc (QE's default, right for norm-conserving pseudos only). */
  ecutrho?: number;
  /** "fixed" (band gap) or "smearing" (bulk modulus, density), spec §5. Default "fixed". */
  occupations?: "fixed" | "smearing";
  /** Default "gaussian" when occupations is "smearing" (spec §5). */
  smearing?: string;
  /** Smearing width (Ry); default 0.001, the paper's (very small) value (spec §5). */
  degauss?: number;
  /** Number of bands; omitted (QE's default) when undefined. `nbndPaper()` gives the spec's value. */
  nbnd?: number;
  /** A k-point mesh, or a density (pymatgen's kppa). Default { kppa: 1000 } (spec §5). */
  kpoints?: readonly [number, number, number] | { kppa: number };
  /** Default 300 (spec §5). */
  electronMaxstep?: number;
  /** Default 0.7 (spec §5). */
  mixingBeta?: number;
  /** Default "plain" (spec §5). */
  mixingMode?: string;
  /** SCF threshold (Ry); omitted (QE's 1e-6) when undefined, as in the paper. */
  convThr?: number;
  /** Default "david". */
  diagonalization?: string;
  /** Ionic/cell steps of a relaxation; omitted when undefined. The paper's density used 1 (spec §4). */
  nstep?: number;
  tstress?: boolean;
  tprnfor?: boolean;
  /** Default "high" (spec §5). */
  verbosity?: "low" | "high";
  /** More namelist entries, e.g. { cell: { press_conv_thr: 0.2 } }; they override the ones above. */
  namelists?: Partial<Record<"control" | "system" | "electrons" | "ions" | "cell", Readonly<Record<string, NamelistValue>>>>;
}

/**
 * pymatgen's `Kpoints.automatic_density(structure, kppa).kpts[0]` (pymatgen 2022.11.7), ported
 * operation by operation so the meshes agree (spec §5, §9.2): when kppa is within 1 of a perfect
 * cube it is raised by 1 % (1000 -> 1010), then mult = ((kppa / sites) a b c)^(1/3) and
 * n_i = floor(max(mult / L_i, 1)). Spec §5 checks: a 4-site cubic cell of a = 5.169 Å gives 6x6x6,
 * a 5-site one of a = 6.686 Å gives 5x5x5.
 */
export function automaticDensityKpoints(lattice: Lattice, sites: number, kppa = 1000): [number, number, number] {
  if (!(Number.isInteger(sites) && sites > 0)) throw new RangeError(`k-point density needs a positive number of sites, got ${sites}`);
  if (!(kppa > 0) || !Number.isFinite(kppa)) throw new RangeError(`kppa must be a positive number, got ${kppa}`);
  // Python: math.fabs(math.floor(kppa ** (1 / 3) + 0.5) ** 3 - kppa) < 1
  if (Math.abs(Math.floor(Math.pow(kppa, 1 / 3) + 0.5) ** 3 - kppa) < 1) kppa += kppa * 0.01;
  const lengths = [lattice.a, lattice.b, lattice.c] as const;
  const ngrid = kppa / sites;
  const mult = Math.pow(ngrid * lengths[0] * lengths[1] * lengths[2], 1 / 3);
  return lengths.map((l) => Math.floor(Math.max(mult / l, 1))) as [number, number, number];
}

/**
 * The paper's band count, `ceil((ΣZ // 2) * 1.2)` with all-electron atomic numbers (spec §5):
 * Sr5 -> 114, ClFNaLi -> 24. Generous (it ignores that the core is frozen in the pseudopotential).
 */
export function nbndPaper(crystal: Crystal): number {
  let z = 0;
  for (const n of crystal.numbers) z += n;
  return Math.ceil(Math.floor(z / 2) * 1.2);
}

/** The pw.x input text for `crystal`. Throws a RangeError naming the element without a pseudo file. */
export function formatPwInput(crystal: Crystal, settings: PwInputSettings): string {
  const calculation = settings.calculation ?? "scf";
  const occupations = settings.occupations ?? "fixed";
  if (!(settings.ecutwfc > 0)) throw new RangeError(`ecutwfc must be a positive number of Ry, got ${settings.ecutwfc}`);
  const ecutrho = settings.ecutrho ?? 4 * settings.ecutwfc;
  if (!(ecutrho >= 4 * settings.ecutwfc - 1e-9)) throw new RangeError(`ecutrho (${ecutrho} Ry) must be at least 4 ecutwfc (${4 * settings.ecutwfc} Ry)`);
  const symbols = crystal.symbols;
  const species = [...new Set(symbols)];
  for (const s of species) {
    const file = settings.pseudos[s];
    if (!file) throw new RangeError(`pw.x input: no pseudopotential file for ${s}`);
    if (/[\s'"]/.test(file)) throw new RangeError(`pw.x input: the pseudo file name for ${s} has a space or a quote: ${JSON.stringify(file)}`);
  }
  const kpts = Array.isArray(settings.kpoints)
    ? (settings.kpoints as readonly number[])
    : automaticDensityKpoints(crystal.lattice, crystal.natoms, (settings.kpoints as { kppa: number } | undefined)?.kppa ?? 1000);
  if (kpts.length !== 3 || !kpts.every((n) => Number.isInteger(n) && n >= 1)) throw new RangeError(`k-point mesh must be 3 positive integers, got ${kpts.join(" ")}`);

  const control: Record<string, NamelistValue> = {
    calculation,
    prefix: settings.prefix ?? "crystal",
    outdir: settings.outdir ?? "./out",
    pseudo_dir: settings.pseudoDir ?? "./pseudo",
    verbosity: settings.verbosity ?? "high",
  };
  if (settings.nstep !== undefined) control["nstep"] = settings.nstep;
  if (settings.tstress !== undefined) control["tstress"] = settings.tstress;
  if (settings.tprnfor !== undefined) control["tprnfor"] = settings.tprnfor;
  const system: Record<string, NamelistValue> = {
    ibrav: 0,
    nat: crystal.natoms,
    ntyp: species.length,
    ecutwfc: settings.ecutwfc,
    ecutrho,
    occupations,
    nspin: 1,
  };
  if (occupations === "smearing") {
    system["smearing"] = settings.smearing ?? "gaussian";
    system["degauss"] = settings.degauss ?? 0.001;
  }
  if (settings.nbnd !== undefined) {
    if (!(Number.isInteger(settings.nbnd) && settings.nbnd > 0)) throw new RangeError(`nbnd must be a positive integer, got ${settings.nbnd}`);
    system["nbnd"] = settings.nbnd;
  }
  const electrons: Record<string, NamelistValue> = {
    electron_maxstep: settings.electronMaxstep ?? 300,
    mixing_mode: settings.mixingMode ?? "plain",
    mixing_beta: settings.mixingBeta ?? 0.7,
    diagonalization: settings.diagonalization ?? "david",
  };
  if (settings.convThr !== undefined) electrons["conv_thr"] = settings.convThr;
  const extra = settings.namelists ?? {};
  const blocks: string[] = [
    namelist("control", { ...control, ...extra.control }),
    namelist("system", { ...system, ...extra.system }),
    namelist("electrons", { ...electrons, ...extra.electrons }),
  ];
  // &ions and &cell must be present for the relaxations (even empty), and must not be for scf.
  if (calculation === "relax" || calculation === "vc-relax" || extra.ions) blocks.push(namelist("ions", { ...extra.ions }));
  if (calculation === "vc-relax" || extra.cell) blocks.push(namelist("cell", { ...extra.cell }));

  const lines = [...blocks, "ATOMIC_SPECIES"];
  for (const s of species) {
    const mass = settings.masses?.[s] ?? elementBySymbol(s).mass;
    lines.push(`${s} ${num(mass)} ${settings.pseudos[s]}`);
  }
  lines.push("", "CELL_PARAMETERS angstrom");
  const m = crystal.cell;
  for (let i = 0; i < 3; i++) lines.push(`${num(m[3 * i]!)} ${num(m[3 * i + 1]!)} ${num(m[3 * i + 2]!)}`);
  lines.push("", "ATOMIC_POSITIONS angstrom");
  const p = crystal.positions;
  symbols.forEach((s, i) => lines.push(`${s} ${num(p[3 * i]!)} ${num(p[3 * i + 1]!)} ${num(p[3 * i + 2]!)}`));
  lines.push("", "K_POINTS automatic", `${kpts.join(" ")} 0 0 0`, "");
  return lines.join("\n");
}

function namelist(name: string, entries: Readonly<Record<string, NamelistValue>>): string {
  const body = Object.entries(entries).map(([k, v]) => {
    if (!/^[a-z_][a-z0-9_()]*$/i.test(k)) throw new RangeError(`pw.x input: bad namelist key ${JSON.stringify(k)} in &${name}`);
    return `  ${k} = ${value(k, v)}`;
  });
  return [`&${name}`, ...body, "/"].join("\n");
}

function value(key: string, v: NamelistValue): string {
  if (typeof v === "boolean") return v ? ".true." : ".false.";
  if (typeof v === "number") {
    if (!Number.isFinite(v)) throw new RangeError(`pw.x input: ${key} is ${v}`);
    return num(v);
  }
  if (v.includes("'")) throw new RangeError(`pw.x input: ${key} has a quote: ${JSON.stringify(v)}`);
  return `'${v}'`;
}

/** Full precision, round-trip exact; Fortran reads "1e-7" and "5.4" alike. */
function num(x: number): string {
  return Object.is(x, -0) ? "0" : String(x);
}

/** What `parsePwOutput` reads from a pw.x output. Energies in eV, lengths in Å. */
export interface PwOutput {
  /** "6.7MaX" from "Program PWSCF v.6.7MaX starts". */
  version?: string;
  /** The last "!    total energy" (eV); undefined when no SCF finished. */
  energy?: number;
  /** Every "!    total energy" in order (eV): one per SCF of a relaxation. */
  energies: number[];
  /** From the last "highest occupied, lowest unoccupied level (ev):" or "highest occupied level (ev):" line. */
  homo?: number;
  lumo?: number;
  /** lumo - homo (eV), unclipped (negative for a metal forced into fixed occupations). */
  gap?: number;
  /** The last "the Fermi energy is" (eV), printed with smearing. */
  fermi?: number;
  /** The first "density =" (g/cm³): printed after the first BFGS cell step of a vc-relax (spec §4). */
  density?: number;
  /** Every "density =" (g/cm³) in order; the last one is the relaxed density of a converged vc-relax. */
  densities: number[];
  /** The first "unit-cell volume" (Å³): the input cell. */
  volume?: number;
  /** The last "new unit-cell volume" (Å³) of a vc-relax. */
  finalVolume?: number;
  /** The last stress tensor, Voigt (xx yy zz yz xz xy) in eV/Å³ with ASE's sign (QE prints minus this). */
  stress?: Float64Array;
  /** The last pressure "P=" (GPa; positive when the cell wants to expand). */
  pressure?: number;
  /** The last "CELL_PARAMETERS" block (3x3, rows, Å) of a relaxation. */
  finalCell?: Float64Array;
  /** "number of electrons". */
  electrons?: number;
  /** "number of Kohn-Sham states". */
  bands?: number;
  /** "number of k points". */
  kpoints?: number;
  /** Iterations of the last converged SCF. */
  scfIterations?: number;
  /** False when the text has "convergence NOT achieved". */
  converged: boolean;
  /** The text has "charge is wrong" (odd electrons with fixed occupations, spec §9.2). */
  chargeWrong: boolean;
  /** The text has "JOB DONE" (pw.x reached its normal end). */
  jobDone: boolean;
  /** A relaxation ended with "bfgs converged" / "End final coordinates". */
  relaxConverged: boolean;
  /** A relaxation stopped at nstep ("The maximum number of steps has been reached"). */
  relaxMaxSteps: boolean;
  /** QE's error blocks, "routine (code): message", one per block. */
  errors: string[];
}

const RY_BOHR3_TO_EV_A3 = RY_EV / BOHR_A ** 3;

/**
 * Reads a pw.x output. Throws a ParseError naming `file` and the line when a line it knows has a
 * number it cannot read (QE's "****" overflow, a truncated line); a missing line is not an error
 * (the field stays undefined and the caller decides).
 */
export function parsePwOutput(text: string, opts: { file?: string } = {}): PwOutput {
  const file = opts.file ?? "<pw.x output>";
  const lines = text.split(/\r\n|\r|\n/);
  const out: PwOutput = {
    energies: [],
    densities: [],
    converged: !/convergence NOT achieved/.test(text),
    chargeWrong: /charge is wrong/.test(text),
    jobDone: /JOB DONE/.test(text),
    relaxConverged: /bfgs converged|End final coordinates/.test(text),
    relaxMaxSteps: /maximum number of steps has been reached/.test(text),
    errors: [],
  };
  const number = (token: string | undefined, k: number, what: string): number => {
    const x = token === undefined ? undefined : parseDecimal(token);
    if (x === undefined) throw new ParseError(`${what}: ${JSON.stringify((token ?? "").slice(0, 40))} is not a number`, { file, line: k + 1 });
    return x;
  };
  let m: RegExpMatchArray | null;
  for (let k = 0; k < lines.length; k++) {
    const line = lines[k]!;
    if ((m = line.match(/^!\s+total energy\s+=\s*(\S+)\s+Ry/))) {
      const e = number(m[1], k, "total energy") * RY_EV;
      out.energies.push(e);
      out.energy = e;
    } else if ((m = line.match(/highest occupied, lowest unoccupied level \(ev\):\s*(\S+)\s+(\S+)/))) {
      out.homo = number(m[1], k, "highest occupied level");
      out.lumo = number(m[2], k, "lowest unoccupied level");
      out.gap = out.lumo - out.homo;
    } else if ((m = line.match(/highest occupied level \(ev\):\s*(\S+)/))) {
      out.homo = number(m[1], k, "highest occupied level");
      delete out.lumo;
      delete out.gap;
    } else if ((m = line.match(/the Fermi energy is\s+(\S+)\s+ev/))) {
      out.fermi = number(m[1], k, "Fermi energy");
    } else if ((m = line.match(/^\s*density\s*=\s*(\S+)\s+g\/cm\^3/))) {
      const d = number(m[1], k, "density");
      out.densities.push(d);
      out.density ??= d;
    } else if ((m = line.match(/^\s*unit-cell volume\s*=\s*(\S+)\s+\(a\.u\.\)\^3/))) {
      out.volume ??= number(m[1], k, "unit-cell volume") * BOHR_A ** 3;
    } else if ((m = line.match(/new unit-cell volume\s*=\s*\S+\s+a\.u\.\^3\s+\(\s*(\S+)\s+Ang\^3/))) {
      out.finalVolume = number(m[1], k, "new unit-cell volume");
    } else if ((m = line.match(/total\s+stress\s+\(Ry\/bohr\*\*3\).*P=\s*(\S+)/))) {
      out.pressure = number(m[1], k, "pressure") / 10; // kbar -> GPa
      const s: number[][] = [];
      for (let r = 1; r <= 3; r++) {
        const t = (lines[k + r] ?? "").trim().split(/\s+/);
        if (t.length < 3) throw new ParseError(`stress row ${r}: expected 6 numbers`, { file, line: k + r + 1 });
        s.push(t.slice(0, 3).map((x) => number(x, k + r, `stress row ${r}`)));
      }
      // QE prints -σ (positive = compressed); ASE's sign is σ.
      const f = -RY_BOHR3_TO_EV_A3;
      out.stress = Float64Array.from([s[0]![0]!, s[1]![1]!, s[2]![2]!, s[1]![2]!, s[0]![2]!, s[0]![1]!].map((x) => x * f));
    } else if ((m = line.match(/^CELL_PARAMETERS\s*\(\s*(angstrom|bohr|alat\s*=\s*(\S+?))\s*\)/))) {
      const scale = m[1] === "angstrom" ? 1 : m[1] === "bohr" ? BOHR_A : number(m[2], k, "alat") * BOHR_A;
      const cell = new Float64Array(9);
      for (let r = 0; r < 3; r++) {
        const t = (lines[k + 1 + r] ?? "").trim().split(/\s+/);
        if (t.length < 3) throw new ParseError(`CELL_PARAMETERS row ${r + 1}: expected 3 numbers`, { file, line: k + r + 2 });
        for (let c = 0; c < 3; c++) cell[3 * r + c] = number(t[c], k + 1 + r, `CELL_PARAMETERS row ${r + 1}`) * scale;
      }
      out.finalCell = cell;
    } else if ((m = line.match(/Program PWSCF v\.(\S+)/))) {
      out.version ??= m[1];
    } else if ((m = line.match(/^\s*number of electrons\s*=\s*(\S+)/))) {
      out.electrons ??= number(m[1], k, "number of electrons");
    } else if ((m = line.match(/^\s*number of Kohn-Sham states\s*=\s*(\S+)/))) {
      out.bands ??= number(m[1], k, "number of Kohn-Sham states");
    } else if ((m = line.match(/^\s*number of k points\s*=\s*(\S+)/))) {
      out.kpoints ??= number(m[1], k, "number of k points");
    } else if ((m = line.match(/convergence has been achieved in\s+(\S+)\s+iterations/))) {
      out.scfIterations = number(m[1], k, "SCF iterations");
    } else if ((m = line.match(/Error in routine\s+(\S+)\s*\(\s*(-?\d+)\s*\):/))) {
      const message = (lines[k + 1] ?? "").trim();
      out.errors.push(`${m[1]} (${m[2]}): ${message}`);
    }
  }
  out.errors = [...new Set(out.errors)];
  return out;
}
