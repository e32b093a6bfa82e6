/**
 * Quantum ESPRESSO (`pw.x`) as a PropertyProvider: band gap, bulk modulus and density of a crystal,
 * CrystalGym's DFT rewards (spec §4, §5) and the `crystal-rl property` command.
 *
 * ```ts
 * const qe = espresso({ ranks: 1, timeoutMs: 600_000 });
 * const r = await qe.evaluate(crystal, "band-gap");   // { value: 0.61, unit: "eV", errorFlag: 0, details }
 * ```
 *
 * - band-gap: one SCF, `occupations='fixed'`, nbnd above the occupied bands; E_g = LUMO - HOMO on the
 *   SCF k-mesh, clipped at 0 (spec §4, §9.2). An odd electron count fails in pw.x with "charge is
 *   wrong" (flag 2), as in the paper.
 * - bulk-modulus: SCF energies E(V) of the crystal scaled isotropically (atoms move with the cell,
 *   k-mesh of the input cell), bracketed until the minimum is centred in a window of 7 volumes
 *   (±6 %), then a Birch–Murnaghan fit (`eos.ts`). This deliberately departs from the paper's
 *   ev.x Murnaghan fit at ±2 % around the template volume, which is biased when the minimum is
 *   off-centre (spec §9.2); B is then the bulk modulus at the crystal's own equilibrium volume.
 * - density: `vc-relax`. `densityMode: "relaxed"` (default) relaxes cell and atoms to convergence
 *   and reports the last "density =" line; `"paper"` stops after one BFGS cell step (`nstep=1`) and
 *   reports the first, as CrystalGym does (spec §4): pass it to reproduce the paper's rewards.
 *
 * Each pw.x run gets a scratch folder under the OS temp dir (removed afterwards unless `keep`), runs
 * as `mpirun -np <ranks> --bind-to none pw.x -in <dir>/pw.in` (`--allow-run-as-root` only as root),
 * and is killed with its whole process tree on timeout or abort. Failures come back as results with
 * the spec's error flags (§4, §9.3) and a one-line reason, never as exceptions: 1 SCF not converged
 * or pw.x crashed, 2 "charge is wrong" or unparsable output, 3 anything else (no gap line, no
 * minimum in E(V), relaxation not converged), 4 timeout or cancelled. Exceptions are kept for
 * misuse: an element without a pseudopotential, pw.x not installed.
 *
 * Numerical settings (defaults from spec §5 unless said): PBE, the `crl-pbe-1` pseudopotential set
 * (`pseudopotentials.ts`; not the paper's SSSP), cut-offs the largest recommended over the crystal's
 * elements (the paper: 50/400 Ry), k-mesh from pymatgen's automatic_density with kppa 1000, nbnd
 * `ceil((ΣZ // 2) * 1.2)`, gaussian smearing of 0.001 Ry where smearing is used, plain mixing 0.7,
 * 300 SCF iterations at most, conv_thr QE's 1e-6 Ry except 1e-8 Ry for E(V) (a smooth curve).
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { execa, execaSync } from "execa";
import { formatPwInput, nbndPaper, parsePwOutput, automaticDensityKpoints, type PwInputSettings, type PwOutput } from "../../io/espresso.js";
import { ParseError } from "../../io/errors.js";
import type { Crystal } from "../../structure/crystal.js";
import { bulkModulusSeries, EosError, type BulkModulusSeriesOptions } from "../eos.js";
import { PROPERTY_UNITS, type ErrorFlag, type PropertyName, type PropertyOptions, type PropertyProvider, type PropertyResult } from "../property.js";
import { cutoffsFor, PSEUDO_SET, pseudoSetDigest, resolvePseudos, type PseudoOptions, type ResolvedPseudo } from "./pseudopotentials.js";

export interface PwRunOptions {
  /** The pw.x executable; default $CRYSTAL_RL_PW, else "pw.x". */
  pw?: string;
  /** The MPI launcher; default "mpirun"; false runs pw.x directly (an MPI singleton). */
  mpirun?: string | false;
  /** MPI ranks. Default 1 (CrystalGym ran 1 rank per job, spec §5; on a shared machine the safest). */
  ranks?: number;
  /** Parent of the per-run scratch folders; default the OS temp dir. */
  workDir?: string;
  /** Keep each run's scratch folder (input, output, pseudo links) instead of removing it. */
  keep?: boolean;
  /** Extra environment for pw.x. OMP_NUM_THREADS defaults to 1. */
  env?: Readonly<Record<string, string>>;
}

export interface EspressoOptions extends PwRunOptions, Omit<PseudoOptions, "dir"> {
  /** Wall-clock limit of one evaluate() call, all its pw.x runs together (ms). Default 1 800 000 (30 min); the paper had none. */
  timeoutMs?: number;
  /** Cache folder of generated pseudopotentials; default $CRYSTAL_RL_PSEUDO_DIR, else ~/.cache/crystal-rl/pseudo. */
  pseudoDir?: string;
  /** Wave-function cut-off (Ry) for every crystal; default the largest recommended over its elements. */
  ecutwfc?: number;
  /** Charge-density cut-off (Ry); default the largest recommended (at least 4 ecutwfc). */
  ecutrho?: number;
  /** k-point density per reciprocal atom (pymatgen's kppa); default 1000 (spec §5). */
  kppa?: number;
  /** A fixed k-mesh instead of kppa. */
  kpoints?: readonly [number, number, number];
  /** "paper": ceil((ΣZ // 2) * 1.2) with all-electron Z (spec §5); "valence": occupied bands + 20 % (at least 4); or a number. Default "paper". */
  nbnd?: "paper" | "valence" | number;
  /** Default 300 (spec §5). */
  electronMaxstep?: number;
  /** Default 0.7 (spec §5). */
  mixingBeta?: number;
  /** Gaussian smearing (Ry) for bulk modulus and density; default 0.001 (spec §5). */
  degauss?: number;
  /** SCF threshold (Ry) of the band-gap and density runs; default QE's 1e-6, as the paper. */
  convThr?: number;
  /** The E(V) series: grid step, window points, cap on SCFs (eos.ts), and its SCF threshold (default 1e-8 Ry). */
  eos?: Pick<BulkModulusSeriesOptions, "step" | "points" | "maxEvaluations"> & { convThr?: number };
  /** "relaxed" (default): vc-relax to convergence, last density; "paper": one BFGS cell step, first density (spec §4). */
  densityMode?: "relaxed" | "paper";
  /** Ionic/cell steps allowed in the relaxed mode. Default 50. */
  relaxSteps?: number;
  /** The QE version that goes into settings; default read from pw.x's banner when the provider is made. */
  qeVersion?: string;
}

/** What one pw.x run gave: the parsed output when it ran, and a verdict. */
export interface PwRun {
  output?: PwOutput;
  /** pw.x's standard output. */
  text: string;
  errorFlag: ErrorFlag;
  reason?: string;
  seconds: number;
  /** The scratch folder, when kept. */
  dir?: string;
}

/** An error with a CrystalGym flag, thrown inside an evaluation and turned into a failed result. */
class PwFailure extends Error {
  constructor(
    readonly flag: Exclude<ErrorFlag, 0>,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Runs pw.x once on `input` (the text of a pw.x input whose pseudo_dir is "./pseudo") with the given
 * pseudopotential files linked into the scratch folder. Never throws for what pw.x does (a crash,
 * a timeout, garbage output): that is in the returned verdict. Throws when pw.x or mpirun cannot be
 * started at all (not installed).
 */
export async function runPw(
  input: string,
  pseudos: Iterable<Pick<ResolvedPseudo, "file" | "path">>,
  options: PwRunOptions & { timeoutMs?: number; signal?: AbortSignal } = {},
): Promise<PwRun> {
  const started = performance.now();
  const parent = resolve(options.workDir ?? tmpdir());
  await mkdir(parent, { recursive: true });
  const dir = await mkdtemp(join(parent, "crystal-rl-qe-"));
  const keep = options.keep ?? false;
  try {
    await mkdir(join(dir, "pseudo"));
    for (const p of pseudos) await symlink(p.path, join(dir, "pseudo", p.file)).catch(async () => writeFile(join(dir, "pseudo", p.file), await readFile(p.path)));
    const inputPath = join(dir, "pw.in");
    const outputPath = join(dir, "pw.out");
    await writeFile(inputPath, input);
    const pw = options.pw ?? process.env["CRYSTAL_RL_PW"] ?? "pw.x";
    const mpirun = options.mpirun ?? "mpirun";
    const ranks = options.ranks ?? 1;
    if (!(Number.isInteger(ranks) && ranks >= 1)) throw new RangeError(`espresso: ranks must be a positive integer, got ${ranks}`);
    const [command, args] = mpirun === false ? [pw, ["-in", inputPath]] : [mpirun, mpirunArgs(ranks, pw, inputPath)];
    const verdict = (flag: ErrorFlag, reason: string | undefined, text: string, output?: PwOutput): PwRun => ({
      ...(output ? { output } : {}),
      text,
      errorFlag: flag,
      ...(reason ? { reason } : {}),
      seconds: (performance.now() - started) / 1000,
      ...(keep ? { dir } : {}),
    });
    if (options.signal?.aborted) return verdict(4, `cancelled before pw.x started: ${reasonOf(options.signal)}`, "");

    const child = execa(command, args, {
      cwd: dir,
      env: pwEnv(ranks, options.env),
      stdin: "ignore",
      stdout: { file: outputPath },
      reject: false,
      // Not detached: a Ctrl-C in the terminal reaches pw.x too. Timeouts kill the tree found in /proc.
      maxBuffer: 16 * 1024 * 1024,
    });
    if (child.pid !== undefined) running.add(child.pid);
    let stopped: "timeout" | "abort" | undefined;
    const stop = (why: "timeout" | "abort"): void => {
      if (stopped || child.pid === undefined) return;
      stopped = why;
      void killTree(child.pid);
    };
    const timeoutMs = options.timeoutMs ?? Number.POSITIVE_INFINITY;
    const timer = Number.isFinite(timeoutMs) ? setTimeout(() => stop("timeout"), Math.max(0, timeoutMs)) : undefined;
    const onAbort = (): void => stop("abort");
    options.signal?.addEventListener("abort", onAbort, { once: true });
    let result;
    try {
      result = await child;
    } finally {
      if (timer) clearTimeout(timer);
      options.signal?.removeEventListener("abort", onAbort);
      if (child.pid !== undefined) running.delete(child.pid);
    }
    const text = await readFile(outputPath, "utf8").catch(() => "");
    const stderr = String(result.stderr ?? "");
    if ((result as { code?: string }).code === "ENOENT") {
      throw new Error(
        `espresso: cannot run "${command}": not found (install Quantum ESPRESSO and Open MPI, e.g. apt-get install quantum-espresso; or set mpirun: false, or CRYSTAL_RL_PW)`,
      );
    }
    if (stopped === "timeout") return verdict(4, `pw.x timed out after ${(timeoutMs / 1000).toFixed(1)} s and was killed`, text);
    if (stopped === "abort") return verdict(4, `cancelled: ${reasonOf(options.signal!)}`, text);
    if (mpirun !== false && /was unable to find the specified executable|not find an executable|execvp error/i.test(stderr)) {
      throw new Error(`espresso: mpirun cannot start "${pw}": not found (apt-get install quantum-espresso, or set CRYSTAL_RL_PW)`);
    }

    let output: PwOutput;
    try {
      output = parsePwOutput(text, { file: outputPath });
    } catch (err) {
      if (err instanceof ParseError) return verdict(2, `unparsable pw.x output: ${err.message}`, text);
      throw err;
    }
    const [flag, reason] = classify(output, result.exitCode, result.signal, `${text}\n${stderr}`);
    return verdict(flag, reason, text, output);
  } finally {
    if (!keep) await rm(dir, { recursive: true, force: true });
  }
}

/** pw.x launchers still running: killed with their trees if this process exits first. */
const running = new Set<number>();
process.once("exit", () => {
  for (const pid of running) for (const p of [...descendants(pid), pid]) {
    try {
      process.kill(p, "SIGKILL");
    } catch {
      /* gone */
    }
  }
});

/** The verdict on a finished pw.x run (spec §4 flags): 0 when it reached JOB DONE without complaint. */
function classify(out: PwOutput, exitCode: number | undefined, signal: string | undefined, all: string): [ErrorFlag, string | undefined] {
  if (out.chargeWrong) return [2, `pw.x: ${out.errors.find((e) => /charge is wrong/.test(e))?.replace(/^\S+ \(\d+\): /, "") ?? "charge is wrong"} (odd electron count with fixed occupations?)`];
  if (!out.converged) {
    const m = all.match(/convergence NOT achieved after\s+(\d+)\s+iterations/);
    return [1, `SCF convergence NOT achieved${m ? ` after ${m[1]} iterations` : ""}`];
  }
  if (out.errors.length > 0) return [1, `pw.x error in ${out.errors[0]}`];
  if (!out.jobDone) {
    const how = signal ? `was killed by ${signal}` : `exited with code ${exitCode}`;
    return [1, `pw.x ${how} before JOB DONE${lastLine(all)}`];
  }
  return [0, undefined];
}

function lastLine(text: string): string {
  const lines = text.trim().split(/\r?\n/).map((l) => l.trim()).filter((l) => l && !/^[-=%]+$/.test(l));
  const last = lines[lines.length - 1];
  return last ? `: ${last.slice(0, 200)}` : "";
}

function reasonOf(signal: AbortSignal): string {
  const r: unknown = signal.reason;
  return r instanceof Error ? r.message : r === undefined ? "aborted" : String(r);
}

function mpirunArgs(ranks: number, pw: string, inputPath: string): string[] {
  const root = typeof process.getuid === "function" && process.getuid() === 0;
  // --bind-to none: Open MPI binds small jobs to cores, so concurrent runs would share core 0 (spec §5 did the same).
  return ["-np", String(ranks), ...(root ? ["--allow-run-as-root"] : []), "--bind-to", "none", pw, "-in", inputPath];
}

/** One OpenMP thread; Open MPI over shared memory without the cross-memory attach that containers forbid; caller's values win. */
function pwEnv(ranks: number, extra: Readonly<Record<string, string>> | undefined): Record<string, string> {
  const defaults: Record<string, string> = {
    OMP_NUM_THREADS: "1",
    OMPI_MCA_btl: ranks > 1 ? "self,vader" : "self",
    OMPI_MCA_btl_vader_single_copy_mechanism: "none",
    OMPI_MCA_rmaps_base_oversubscribe: "1",
  };
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(defaults)) if (process.env[k] === undefined) env[k] = v;
  return { ...env, ...extra };
}

/**
 * Kills a process and every descendant found in /proc (mpirun may put ranks in process groups of
 * their own): SIGTERM, then SIGKILL to whatever of that tree is still there after 2 s (checked by
 * start time, so a recycled pid is never hit). Elsewhere than Linux only the process itself.
 */
async function killTree(pid: number): Promise<void> {
  const tree = [{ pid, start: startTime(pid) }, ...descendants(pid).map((p) => ({ pid: p, start: startTime(p) }))];
  const send = (sig: NodeJS.Signals): void => {
    for (const p of tree) {
      if (p.start !== undefined && startTime(p.pid) !== p.start) continue; // exited, pid reused
      try {
        process.kill(p.pid, sig);
      } catch {
        /* already gone */
      }
    }
  };
  send("SIGTERM");
  await new Promise((r) => setTimeout(r, 2000));
  send("SIGKILL");
}

/** Fields of /proc/<pid>/stat after the command name (Linux), or undefined. */
function procStat(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  } catch {
    return undefined;
  }
}

/** The start time of `pid` in clock ticks since boot (field 22 of /proc/<pid>/stat). */
function startTime(pid: number): string | undefined {
  return procStat(pid)?.[19];
}

/** Descendants of `pid` from /proc (Linux); empty elsewhere. */
function descendants(pid: number): number[] {
  let entries: string[];
  try {
    entries = readdirSync("/proc").filter((e) => /^\d+$/.test(e));
  } catch {
    return [];
  }
  const children = new Map<number, number[]>();
  for (const e of entries) {
    const ppid = Number(procStat(Number(e))?.[1]);
    if (!Number.isInteger(ppid)) continue;
    const list = children.get(ppid) ?? [];
    list.push(Number(e));
    children.set(ppid, list);
  }
  const out: number[] = [];
  const queue = [pid];
  while (queue.length) {
    for (const c of children.get(queue.shift()!) ?? []) {
      out.push(c);
      queue.push(c);
    }
  }
  return out;
}

/** The QE version from pw.x's banner ("6.7MaX"), or "unavailable" when pw.x cannot start. */
export function detectQeVersion(pw = process.env["CRYSTAL_RL_PW"] ?? "pw.x"): string {
  // pw.x copies stdin to input_tmp.in in its working directory: run it in a throwaway folder.
  const dir = mkdtempSync(join(tmpdir(), "crystal-rl-qe-version-"));
  try {
    const r = execaSync(pw, [], { cwd: dir, input: "", reject: false, timeout: 20_000, env: { OMP_NUM_THREADS: "1", OMPI_MCA_btl: "self" } });
    return String(r.stdout ?? "").match(/Program PWSCF v\.(\S+)/)?.[1] ?? "unavailable";
  } catch {
    return "unavailable";
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const DEFAULT_TIMEOUT_MS = 1_800_000;

/** Quantum ESPRESSO as a PropertyProvider; see the module comment. */
export class Espresso implements PropertyProvider {
  readonly engine = "qe";
  readonly properties: readonly PropertyName[] = ["band-gap", "bulk-modulus", "density"];
  readonly settings: Readonly<Record<string, unknown>>;
  private readonly options: EspressoOptions;

  constructor(options: EspressoOptions = {}) {
    for (const [k, v] of Object.entries({ ecutwfc: options.ecutwfc, ecutrho: options.ecutrho, kppa: options.kppa, timeoutMs: options.timeoutMs, degauss: options.degauss })) {
      if (v !== undefined && !(v > 0)) throw new RangeError(`espresso: ${k} must be positive, got ${v}`);
    }
    if (options.ecutrho !== undefined && options.ecutwfc === undefined) throw new RangeError("espresso: ecutrho needs ecutwfc");
    if (typeof options.nbnd === "number" && !(Number.isInteger(options.nbnd) && options.nbnd > 0)) throw new RangeError(`espresso: nbnd must be a positive integer, got ${options.nbnd}`);
    this.options = { ...options };
    const eos = options.eos ?? {};
    this.settings = Object.freeze({
      engine: "qe",
      qeVersion: options.qeVersion ?? detectQeVersion(options.pw),
      functional: "PBE",
      pseudoSet: PSEUDO_SET,
      pseudoDigest: pseudoSetDigest(),
      cutoffs: options.ecutwfc !== undefined ? { ecutwfc: options.ecutwfc, ecutrho: options.ecutrho ?? 4 * options.ecutwfc } : "per-element",
      kpoints: options.kpoints ? [...options.kpoints] : { kppa: options.kppa ?? 1000 },
      nbnd: options.nbnd ?? "paper",
      smearing: { kind: "gaussian", degauss: options.degauss ?? 0.001 },
      electronMaxstep: options.electronMaxstep ?? 300,
      mixing: { mode: "plain", beta: options.mixingBeta ?? 0.7 },
      convThr: options.convThr ?? 1e-6,
      eos: { model: "birch-murnaghan", centred: true, step: eos.step ?? 0.02, points: eos.points ?? 7, maxEvaluations: eos.maxEvaluations ?? 15, convThr: eos.convThr ?? 1e-8 },
      density: { mode: options.densityMode ?? "relaxed", relaxSteps: options.densityMode === "paper" ? 1 : (options.relaxSteps ?? 50) },
    });
  }

  async evaluate(crystal: Crystal, property: PropertyName, options: PropertyOptions = {}): Promise<PropertyResult> {
    if (!this.properties.includes(property)) throw new RangeError(`espresso: unknown property "${property}" (band-gap, bulk-modulus, density)`);
    const started = performance.now();
    const deadline = Date.now() + (this.options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    const pseudos = await resolvePseudos(crystal.symbols, { ...this.options, dir: this.options.pseudoDir });
    const cut = this.options.ecutwfc !== undefined ? { ecutwfc: this.options.ecutwfc, ecutrho: this.options.ecutrho ?? 4 * this.options.ecutwfc } : cutoffsFor(pseudos.values());
    const kpoints = this.options.kpoints ?? automaticDensityKpoints(crystal.lattice, crystal.natoms, this.options.kppa ?? 1000);
    const base: PwInputSettings = {
      pseudos: Object.fromEntries([...pseudos].map(([s, p]) => [s, p.file])),
      ...cut,
      kpoints,
      nbnd: this.bands(crystal, pseudos),
      electronMaxstep: this.options.electronMaxstep ?? 300,
      mixingBeta: this.options.mixingBeta ?? 0.7,
      degauss: this.options.degauss ?? 0.001,
      ...(this.options.convThr !== undefined ? { convThr: this.options.convThr } : {}),
    };
    const details: Record<string, unknown> = {
      kpoints: [...kpoints],
      ecutwfc: cut.ecutwfc,
      ecutrho: cut.ecutrho,
      nbnd: base.nbnd,
      pseudos: Object.fromEntries([...pseudos].map(([s, p]) => [s, { file: p.file, source: p.source, type: p.type, valence: p.valence }])),
      pseudoSet: PSEUDO_SET,
      qeVersion: this.settings["qeVersion"],
    };
    const run = async (c: Crystal, settings: PwInputSettings): Promise<PwOutput> => {
      if (Date.now() >= deadline) throw new PwFailure(4, `timed out: the ${((this.options.timeoutMs ?? DEFAULT_TIMEOUT_MS) / 1000).toFixed(0)} s limit was spent before the next pw.x run`);
      const r = await runPw(formatPwInput(c, settings), pseudos.values(), { ...this.options, signal: options.signal, timeoutMs: deadline - Date.now() });
      const scf = (details["pwRuns"] as { seconds: number; iterations?: number }[] | undefined) ?? [];
      scf.push({ seconds: round(r.seconds, 3), ...(r.output?.scfIterations !== undefined ? { iterations: r.output.scfIterations } : {}) });
      details["pwRuns"] = scf;
      if (r.dir) details["dirs"] = [...((details["dirs"] as string[] | undefined) ?? []), r.dir];
      if (r.errorFlag === 4 && Date.now() >= deadline - 50) {
        throw new PwFailure(4, `timed out: the evaluation's ${((this.options.timeoutMs ?? DEFAULT_TIMEOUT_MS) / 1000).toFixed(1)} s limit was reached and pw.x was killed`);
      }
      if (r.errorFlag !== 0) throw new PwFailure(r.errorFlag, r.reason ?? "pw.x failed");
      return r.output!;
    };

    const result = (errorFlag: ErrorFlag, value: number | null, reason?: string): PropertyResult => ({
      property,
      value,
      unit: PROPERTY_UNITS[property],
      engine: this.engine,
      seconds: (performance.now() - started) / 1000,
      errorFlag,
      ...(reason ? { reason } : {}),
      details,
    });
    try {
      switch (property) {
        case "band-gap":
          return result(0, await this.bandGap(crystal, base, run, details));
        case "bulk-modulus":
          return result(0, await this.bulkModulus(crystal, base, run, details, options.signal));
        case "density":
          return result(0, await this.density(crystal, base, run, details));
      }
    } catch (err) {
      if (err instanceof PwFailure) return result(err.flag, null, err.message);
      if (err instanceof EosError) return result(3, null, err.message);
      if (options.signal?.aborted && err === options.signal.reason) return result(4, null, `cancelled: ${reasonOf(options.signal)}`);
      throw err;
    }
  }

  private bands(crystal: Crystal, pseudos: ReadonlyMap<string, ResolvedPseudo>): number {
    const policy = this.options.nbnd ?? "paper";
    let electrons = 0;
    for (const s of crystal.symbols) electrons += pseudos.get(s)!.valence;
    const occupied = Math.ceil(electrons / 2);
    if (typeof policy === "number") return policy;
    if (policy === "valence") return occupied + Math.max(4, Math.ceil(0.2 * occupied));
    // The paper's count ignores the pseudopotential; it only falls short for hydrogen-rich cells.
    return Math.max(nbndPaper(crystal), occupied + 1);
  }

  /** One SCF with fixed occupations (spec §4, §9.2): the gap is LUMO − HOMO, clipped at 0. */
  private async bandGap(crystal: Crystal, base: PwInputSettings, run: Runner, details: Record<string, unknown>): Promise<number> {
    const out = await run(crystal, { ...base, calculation: "scf", occupations: "fixed" });
    details["energy"] = out.energy;
    details["homo"] = out.homo;
    details["lumo"] = out.lumo;
    if (out.gap === undefined) {
      throw new PwFailure(3, out.homo !== undefined ? "pw.x printed only the highest occupied level (no empty band to give a gap)" : 'no "highest occupied, lowest unoccupied level" line in the pw.x output');
    }
    // QE prints the levels with 4 decimals: keep the difference at that precision.
    const gap = round(out.gap, 4);
    details["gapUnclipped"] = gap;
    return Math.max(0, gap);
  }

  /** E(V) around the crystal's volume, minimum bracketed and centred, then Birch–Murnaghan. */
  private async bulkModulus(crystal: Crystal, base: PwInputSettings, run: Runner, details: Record<string, unknown>, signal?: AbortSignal): Promise<number> {
    const eos = this.options.eos ?? {};
    const settings: PwInputSettings = { ...base, calculation: "scf", occupations: "smearing", convThr: eos.convThr ?? 1e-8 };
    const v0 = crystal.volume;
    const series = await bulkModulusSeries(
      async (volume) => {
        const scaled = crystal.withCell(crystal.lattice.scaledToVolume(volume), { scaleAtoms: true });
        let out: PwOutput;
        try {
          out = await run(scaled, settings);
        } catch (err) {
          // Say which point of the series failed.
          if (err instanceof PwFailure) throw new PwFailure(err.flag, `${err.message} (E(V) point at V = ${volume.toFixed(3)} Å³, ${(volume / v0).toFixed(3)} of the input volume)`);
          throw err;
        }
        if (out.energy === undefined) throw new PwFailure(3, 'no "!    total energy" line in the pw.x output');
        return out.energy;
      },
      v0,
      { step: eos.step, points: eos.points, maxEvaluations: eos.maxEvaluations, signal },
    );
    const fit = series.fit;
    Object.assign(details, {
      volumes: series.volumes,
      energies: series.energies,
      fitted: series.fitted,
      v0: fit.v0,
      e0: fit.e0,
      bp: fit.bp,
      rms: fit.rms,
      /** Equilibrium lengths over the input's, (V0/V)^(1/3). */
      latticeScale: Math.cbrt(fit.v0 / v0),
      scfCount: series.evaluations,
    });
    return fit.b0GPa;
  }

  /** vc-relax: the relaxed density (default) or the paper's first "density =" after one BFGS cell step. */
  private async density(crystal: Crystal, base: PwInputSettings, run: Runner, details: Record<string, unknown>): Promise<number> {
    const paper = (this.options.densityMode ?? "relaxed") === "paper";
    const nstep = paper ? 1 : (this.options.relaxSteps ?? 50);
    const out = await run(crystal, { ...base, calculation: "vc-relax", occupations: "smearing", nstep });
    Object.assign(details, {
      densityMode: paper ? "paper" : "relaxed",
      densities: out.densities,
      energy: out.energy,
      pressure: out.pressure,
      volume: out.volume,
      finalVolume: out.finalVolume,
      ...(out.finalCell ? { finalCell: Array.from(out.finalCell) } : {}),
      bfgsSteps: out.energies.length,
    });
    if (paper) {
      if (out.density === undefined) throw new PwFailure(3, 'no "density =" line after the first BFGS cell step');
      return out.density;
    }
    if (!out.relaxConverged) throw new PwFailure(3, `vc-relax did not converge in ${nstep} steps`);
    // Already relaxed: BFGS converges before any cell step, and no density line is printed.
    return out.densities[out.densities.length - 1] ?? crystal.density;
  }

  async close(): Promise<void> {}
}

type Runner = (crystal: Crystal, settings: PwInputSettings) => Promise<PwOutput>;

/** `new Espresso(options)`, for chains and the CLI. */
export const espresso = (options: EspressoOptions = {}): Espresso => new Espresso(options);

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
