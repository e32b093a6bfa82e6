/**
 * GPAW (plane waves, PBE) as a PropertyProvider: band gap, bulk modulus and density of a crystal.
 *
 * ```ts
 * const dft = gpaw({ ecut: 500, kpts: { kppa: 1000 } });
 * const r = await dft.evaluate(crystal, "band-gap", { signal });   // { value: 5.1, unit: "eV", errorFlag: 0, ... }
 * ```
 *
 * How each property is computed (CrystalGym's QE protocol, spec §4-5, with GPAW in QE's place):
 * - band-gap: one SCF with fixed (zero-width) occupations; gap = max(LUMO - HOMO, 0) on the SCF
 *   k-mesh (`calc.get_homo_lumo()`). An odd electron count gives errorFlag 2 at once, as QE's
 *   "charge is wrong" does: no gap exists without smearing.
 * - bulk-modulus: SCF energies with smearing on a geometric volume grid, atoms scaled with the cell,
 *   until the lowest energy is centred in the window, then a Birch–Murnaghan fit
 *   (`bulkModulusSeries` in ../eos.ts). Unlike CrystalGym (5 points at ±2 % of the *template*
 *   volume, Murnaghan, ev.x) the window follows the minimum, so B is not a fit artefact.
 * - density: a few BFGS steps of cell + positions (ASE's ExpCellFilter), then mass / volume of the
 *   relaxed cell. CrystalGym reads QE's density after one vc-relax step (nstep = 1); `relax.steps`
 *   sets how many.
 * The k-mesh is computed once on the crystal as given and kept for every volume and relaxation step
 * (as CrystalGym does), by default with pymatgen's `Kpoints.automatic_density(kppa = 1000)` rule,
 * Γ-centred.
 *
 * Processes: one Python child (`gpaw_worker.py`, `/usr/bin/python3` by default) per evaluation,
 * speaking JSON lines; it costs ~0.7 s to import GPAW, and buys isolation: nothing carries over
 * between evaluations, a crash poisons nothing, and a timeout or an abort is a SIGKILL of one process,
 * after which the result (errorFlag 4) comes back only once the child has gone. `concurrency`
 * evaluations run at a time (default 1; others queue). Failures are results with errorFlag
 * (1: SCF not converged or the engine crashed, 2: no gap possible / EOS fit failed, 3: anything else,
 * such as an element without a PAW setup, 4: timeout or abort); exceptions are kept for misuse (an
 * unknown property, GPAW not installed).
 *
 * Where the Python side is: `gpaw_worker.py` next to this module, else
 * `../../../src/calculators/external/gpaw_worker.py` from a compiled module; `options.script` or env
 * CRYSTAL_RL_GPAW_WORKER win when set.
 */
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { execa } from "execa";
import { Crystal } from "../../structure/crystal.js";
import { bulkModulusSeries, EosError, type BulkModulusSeriesOptions } from "../eos.js";
import { PROPERTY_UNITS, type ErrorFlag, type PropertyName, type PropertyOptions, type PropertyProvider, type PropertyResult } from "../property.js";

export type GpawKpoints = { kppa: number } | { density: number } | readonly [number, number, number];

export interface GpawOptions {
  /** The Python executable; default env CRYSTAL_RL_PYTHON, else /usr/bin/python3 where it exists, else python3. */
  python?: string;
  /** The worker script; default env CRYSTAL_RL_GPAW_WORKER, else found next to this module. */
  script?: string;
  /** Plane-wave cut-off (eV). Default 500. */
  ecut?: number;
  /** Exchange-correlation functional. Default "PBE" (GPAW's PAW setups for it ship with gpaw-data). */
  xc?: string;
  /**
   * The k-mesh, Γ-centred: `{ kppa }` k-points per reciprocal atom by pymatgen's automatic_density
   * (CrystalGym: 1000), `{ density }` points per Å⁻¹ as ASE's kpts density, or the mesh itself.
   * Default `{ kppa: 1000 }`.
   */
  kpts?: GpawKpoints;
  /** SCF iterations before "not converged" (errorFlag 1). Default 300 (CrystalGym's electron_maxstep). */
  maxiter?: number;
  /** GPAW's `convergence` dictionary (energy, density, eigenstates); default GPAW's own. */
  convergence?: Readonly<Record<string, number>>;
  /**
   * Occupations of the bulk-modulus and density runs (GPAW's dictionary). Default Gaussian smearing
   * of 0.0136 eV (methfessel-paxton order 0) = CrystalGym's `gaussian`, degauss 0.001 Ry.
   */
  smearing?: Readonly<{ name: string; width: number; order?: number }>;
  /** The E(V) series (see `bulkModulusSeries`): step, points, maxEvaluations. */
  eos?: Pick<BulkModulusSeriesOptions, "step" | "points" | "maxEvaluations">;
  /** The density relaxation: BFGS steps (default 5) and force/stress tolerance (eV/Å, default 0.05). */
  relax?: { steps?: number; fmax?: number };
  /** Wall-clock limit of one evaluation, all its SCFs included (ms); errorFlag 4 past it. Default 1 800 000. */
  timeoutMs?: number;
  /** Evaluations that run at once, one process each. Default 1. */
  concurrency?: number;
  /** OpenMP/BLAS threads of each child (does not change the numbers). Default 1. */
  threads?: number;
  /** Extra environment of the child. */
  env?: Readonly<Record<string, string>>;
  /** Working directory of the child; default process.cwd(). */
  cwd?: string;
  /** Let GPAW write its text log to the child's stderr (kept, the tail, in failure reasons). */
  verbose?: boolean;
}

/** What `probeGpaw` finds: versions, or why GPAW cannot run. */
export type GpawProbe = { ok: true; gpaw: string; ase: string; python: string } | { ok: false; reason: string };

const PROPERTIES: readonly PropertyName[] = Object.freeze(["band-gap", "bulk-modulus", "density"]);
const probes = new Map<string, GpawProbe>();

/**
 * Whether `python` can run GPAW (module, C extension and ASE present), with their versions; ~60 ms,
 * remembered per executable. Does not import GPAW.
 */
export function probeGpaw(python: string = defaultPython()): GpawProbe {
  let probe = probes.get(python);
  if (probe) return probe;
  const code = [
    "import json, sys, importlib.util as u, importlib.metadata as m",
    "missing = [n for n in ('gpaw', '_gpaw', 'ase') if u.find_spec(n) is None]",
    "print(json.dumps({'missing': missing} if missing else {'gpaw': m.version('gpaw'), 'ase': m.version('ase'), 'python': sys.version.split()[0]}))",
  ].join("\n");
  try {
    const out = JSON.parse(execFileSync(python, ["-c", code], { encoding: "utf8", timeout: 30_000, stdio: ["ignore", "pipe", "pipe"] })) as {
      missing?: string[];
      gpaw: string;
      ase: string;
      python: string;
    };
    probe = out.missing
      ? { ok: false, reason: `${python} lacks the Python module(s) ${out.missing.join(", ")} (Debian: apt-get install gpaw gpaw-data)` }
      : { ok: true, gpaw: out.gpaw, ase: out.ase, python: out.python };
  } catch (err) {
    const e = err as { code?: string; message: string };
    probe = { ok: false, reason: e.code === "ENOENT" ? `Python "${python}" not found (set options.python or CRYSTAL_RL_PYTHON)` : `${python} failed: ${e.message}` };
  }
  probes.set(python, probe);
  return probe;
}

/** GPAW as a PropertyProvider; see the module comment. */
export class GpawProvider implements PropertyProvider {
  readonly engine = "gpaw";
  readonly properties = PROPERTIES;
  readonly python: string;
  readonly script: string;
  readonly timeoutMs: number;
  private readonly options: GpawOptions;
  private readonly ecut: number;
  private readonly xc: string;
  private readonly kpts: GpawKpoints;
  private readonly smearing: Readonly<Record<string, unknown>>;
  private cachedSettings: Readonly<Record<string, unknown>> | undefined;
  private readonly slots: Semaphore;
  private readonly live = new Set<WorkerProcess>();
  private closed = false;

  constructor(options: GpawOptions = {}) {
    this.options = { ...options };
    this.python = options.python ?? defaultPython();
    this.script = options.script ?? process.env["CRYSTAL_RL_GPAW_WORKER"] ?? gpawWorkerScript();
    this.timeoutMs = positive(options.timeoutMs ?? 1_800_000, "timeoutMs");
    this.ecut = positive(options.ecut ?? 500, "ecut");
    this.xc = options.xc ?? "PBE";
    this.kpts = checkKpoints(options.kpts ?? { kppa: 1000 });
    this.smearing = Object.freeze({ ...(options.smearing ?? { name: "methfessel-paxton", width: 0.0136, order: 0 }) });
    if (options.maxiter !== undefined) positive(options.maxiter, "maxiter");
    this.slots = new Semaphore(Math.max(1, Math.floor(options.concurrency ?? 1)));
  }

  /**
   * Everything that changes the numbers (the cache key): mode, cut-off, k-mesh rule, functional,
   * occupations, SCF and EOS/relaxation parameters, GPAW and ASE versions (probed on first read).
   */
  get settings(): Readonly<Record<string, unknown>> {
    if (this.cachedSettings) return this.cachedSettings;
    const probe = probeGpaw(this.python);
    const o = this.options;
    const settings = {
      mode: "pw",
      ecut: this.ecut,
      xc: this.xc,
      kpts: Array.isArray(this.kpts) ? { size: [...this.kpts] } : this.kpts,
      gammaCentred: true,
      spinpol: false,
      setups: "paw",
      maxiter: o.maxiter ?? 300,
      convergence: o.convergence ?? "gpaw-default",
      bandGapOccupations: "fixed (zero width)",
      smearing: this.smearing,
      eos: { fit: "birch-murnaghan", step: o.eos?.step ?? 0.02, points: o.eos?.points ?? 7, maxEvaluations: o.eos?.maxEvaluations ?? 15 },
      relax: { optimizer: "BFGS", filter: "ExpCellFilter", steps: o.relax?.steps ?? 5, fmax: o.relax?.fmax ?? 0.05 },
      gpaw: probe.ok ? probe.gpaw : null,
      ase: probe.ok ? probe.ase : null,
    };
    // Only a successful probe is final: a later install must not keep reading "not installed".
    if (probe.ok) this.cachedSettings = Object.freeze(settings);
    return settings;
  }

  /** The pids of the workers running now. */
  get pids(): number[] {
    return [...this.live].map((w) => w.pid).filter((p): p is number => p !== undefined);
  }

  async evaluate(crystal: Crystal, property: PropertyName, options: PropertyOptions = {}): Promise<PropertyResult> {
    if (!PROPERTIES.includes(property)) throw new RangeError(`gpaw: unknown property "${String(property)}" (one of ${PROPERTIES.join(", ")})`);
    if (this.closed) throw new Error("gpaw: the provider is closed");
    const probe = probeGpaw(this.python);
    if (!probe.ok) throw new Error(`gpaw: GPAW cannot run: ${probe.reason}`);
    if (!existsSync(this.script)) throw new Error(`gpaw: the worker script ${this.script} does not exist (set options.script or CRYSTAL_RL_GPAW_WORKER)`);
    const { signal } = options;
    const fail = (errorFlag: ErrorFlag, reason: string, seconds: number, details: Record<string, unknown> = {}): PropertyResult => ({
      property,
      value: null,
      unit: PROPERTY_UNITS[property],
      engine: this.engine,
      seconds,
      errorFlag,
      reason,
      details,
    });
    if (signal?.aborted) return fail(4, "aborted before it started", 0, { aborted: true });
    const release = await this.slots.acquire(signal);
    if (!release) return fail(4, "aborted while waiting for a free GPAW slot", 0, { aborted: true });

    const t0 = performance.now();
    const seconds = (): number => (performance.now() - t0) / 1000;
    const kpts = kpointMesh(crystal, this.kpts);
    const worker = this.spawn(kpts);
    const timer = setTimeout(() => worker.kill({ kind: "timeout", text: `timed out after ${this.timeoutMs} ms; the GPAW process was killed` }), this.timeoutMs);
    const onAbort = () => worker.kill({ kind: "aborted", text: "aborted; the GPAW process was killed" });
    signal?.addEventListener("abort", onAbort, { once: true });
    if (signal?.aborted) onAbort(); // fired while we waited for a slot
    try {
      await worker.ready;
      const { value, details } = await this.compute(worker, crystal, property, kpts, signal);
      return { property, value, unit: PROPERTY_UNITS[property], engine: this.engine, seconds: seconds(), errorFlag: 0, details };
    } catch (err) {
      if (err instanceof EngineFailure) return fail(err.flag, err.message, seconds(), { kpts, ...err.details });
      if (worker.killedFor) {
        const timedOut = worker.killedFor.kind === "timeout";
        return fail(4, worker.killedFor.text, seconds(), { kpts, ...(timedOut ? { timeoutMs: this.timeoutMs } : { aborted: true }) });
      }
      if (err instanceof WorkerDied) {
        // A crash (segfault, out of memory) may not happen twice: keep it out of caches.
        return fail(1, err.message, seconds(), { kpts, cacheable: false });
      }
      if (err instanceof EosError) return fail(2, `bulk modulus: ${err.message}`, seconds(), { kpts });
      if (signal?.aborted) return fail(4, "aborted", seconds(), { kpts, aborted: true });
      throw err;
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      await worker.end(2000);
      this.live.delete(worker);
      release();
    }
  }

  /** Kills running workers and waits for them; later evaluations throw. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.live].map((w) => w.end(0)));
  }

  private spawn(kpts: [number, number, number]): WorkerProcess {
    const o = this.options;
    const threads = String(Math.max(1, Math.floor(o.threads ?? 1)));
    const spec = {
      ecut: this.ecut,
      xc: this.xc,
      kpts,
      maxiter: o.maxiter ?? 300,
      convergence: o.convergence ?? {},
      smearing: this.smearing,
      verbose: o.verbose ?? false,
    };
    const env = { OMP_NUM_THREADS: threads, OPENBLAS_NUM_THREADS: threads, MKL_NUM_THREADS: threads, ...o.env };
    const worker = new WorkerProcess(this.python, ["-u", this.script, JSON.stringify(spec)], env, o.cwd);
    this.live.add(worker);
    return worker;
  }

  private async compute(
    worker: WorkerProcess,
    crystal: Crystal,
    property: PropertyName,
    kpts: [number, number, number],
    signal: AbortSignal | undefined,
  ): Promise<{ value: number; details: Record<string, unknown> }> {
    const common = { kpts, ecut: this.ecut, xc: this.xc };
    if (property === "band-gap") {
      const r = await worker.call({ task: "scf", occupations: "fixed", gap: true, ...atomsOf(crystal) });
      const homo = num(r, "homo");
      const lumo = num(r, "lumo");
      return {
        value: Math.max(lumo - homo, 0),
        details: { ...common, homo, lumo, energy: num(r, "energy"), nelectrons: r["nelectrons"], nbands: r["nbands"], iterations: r["iterations"], ibzkpts: r["ibzkpts"] },
      };
    }
    if (property === "density") {
      const steps = this.options.relax?.steps ?? 5;
      const fmax = this.options.relax?.fmax ?? 0.05;
      const r = await worker.call({ task: "relax", steps, fmax, ...atomsOf(crystal) });
      const cell = r["cell"] as number[][];
      const positions = (r["positions"] as number[][]).flat();
      const relaxed = new Crystal({ cell, positions, numbers: crystal.numbers });
      return {
        value: relaxed.density,
        details: {
          ...common,
          initialDensity: crystal.density,
          volume: relaxed.volume,
          initialVolume: crystal.volume,
          steps: r["steps"],
          converged: r["converged"],
          energy: num(r, "energy"),
          stress: r["stress"],
          cell,
        },
      };
    }
    // bulk-modulus
    const eos = this.options.eos ?? {};
    const scfIterations: number[] = [];
    const series = await bulkModulusSeries(
      async (volume) => {
        const scaled = crystal.withCell(crystal.lattice.scaledToVolume(volume), { scaleAtoms: true });
        const r = await worker.call({ task: "scf", occupations: "smearing", ...atomsOf(scaled) });
        scfIterations.push(r["iterations"] as number);
        return num(r, "energy");
      },
      crystal.volume,
      { ...eos, ...(signal ? { signal } : {}) },
    );
    return {
      value: series.fit.b0GPa,
      details: {
        ...common,
        v0: series.fit.v0,
        e0: series.fit.e0,
        bp: series.fit.bp,
        rms: series.fit.rms,
        volumes: series.volumes,
        energies: series.energies,
        fittedVolumes: series.fitted.volumes,
        evaluations: series.evaluations,
        scfIterations,
      },
    };
  }
}

/** `new GpawProvider(options)`. */
export const gpaw = (options?: GpawOptions): GpawProvider => new GpawProvider(options);

/** The path of gpaw_worker.py: next to this module, else in the source tree seen from `dist/`. */
export function gpawWorkerScript(): string {
  const candidates = [new URL("./gpaw_worker.py", import.meta.url), new URL("../../../src/calculators/external/gpaw_worker.py", import.meta.url)].map((u) =>
    fileURLToPath(u),
  );
  return candidates.find((p) => existsSync(p)) ?? candidates[0]!;
}

function defaultPython(): string {
  return process.env["CRYSTAL_RL_PYTHON"] ?? (existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3");
}

function positive(x: number, name: string): number {
  if (!(x > 0) || !Number.isFinite(x)) throw new RangeError(`gpaw: ${name} must be a positive number, got ${x}`);
  return x;
}

function checkKpoints(k: GpawKpoints): GpawKpoints {
  if (Array.isArray(k)) {
    if (k.length !== 3 || !k.every((n) => Number.isInteger(n) && n >= 1)) throw new RangeError(`gpaw: kpts must be three positive integers, got ${JSON.stringify(k)}`);
  } else if ("kppa" in k) positive(k.kppa, "kpts.kppa");
  else if ("density" in k) positive(k.density, "kpts.density");
  else throw new RangeError(`gpaw: kpts must be { kppa }, { density } or [n1, n2, n3], got ${JSON.stringify(k)}`);
  return k;
}

/**
 * The Γ-centred mesh for `crystal`.
 * - kppa: pymatgen's `Kpoints.automatic_density` (spec §5): a kppa that is a perfect cube is nudged up
 *   1 %, mult = (kppa / N_sites · a b c)^(1/3), n_i = floor(max(mult / L_i, 1)). 1000 on a 4-site cell
 *   with a = 5.169 Å gives 6x6x6, as CrystalGym's shipped inputs.
 * - density: ASE's `kptdensity2monkhorstpack`, n_i = ceil(2π |b_i| · density) with b the reciprocal
 *   vectors without 2π.
 */
function kpointMesh(crystal: Crystal, k: GpawKpoints): [number, number, number] {
  if (Array.isArray(k)) return [k[0]!, k[1]!, k[2]!];
  if ("kppa" in k) {
    let kppa = k.kppa;
    if (Math.abs(Math.floor(Math.cbrt(kppa) + 0.5) ** 3 - kppa) < 1) kppa += kppa * 0.01;
    const { a, b, c } = crystal.lattice.parameters;
    const mult = Math.cbrt((kppa / crystal.natoms) * a * b * c);
    return [a, b, c].map((l) => Math.floor(Math.max(mult / l, 1))) as [number, number, number];
  }
  const density = (k as { density: number }).density;
  const rec = crystal.lattice.reciprocal({ twoPi: false });
  return [0, 1, 2].map((i) => Math.max(1, Math.ceil(2 * Math.PI * Math.hypot(...rec.vector(i)) * density))) as [number, number, number];
}

function atomsOf(crystal: Crystal): { cell: number[][]; positions: number[][]; numbers: number[] } {
  const positions: number[][] = [];
  for (let i = 0; i < crystal.natoms; i++) positions.push(crystal.position(i));
  return { cell: crystal.lattice.toArray(), positions, numbers: Array.from(crystal.numbers) };
}

function num(reply: Reply, key: string): number {
  const x = reply[key];
  if (typeof x !== "number" || !Number.isFinite(x)) throw new EngineFailure(3, `GPAW returned ${key} = ${String(x)}`);
  return x;
}

/** A calculation that failed in a way the worker classified (CrystalGym's error_flag). */
class EngineFailure extends Error {
  constructor(
    readonly flag: ErrorFlag,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

/** The worker process ended while a call was in flight (a crash, or our own kill). */
class WorkerDied extends Error {}

type Reply = Record<string, unknown>;

/** One Python child speaking gpaw_worker.py's JSON lines. */
class WorkerProcess {
  readonly pid: number | undefined;
  readonly ready: Promise<Reply>;
  readonly exited: Promise<void>;
  killedFor: { kind: "timeout" | "aborted" | "closed"; text: string } | undefined;
  private readonly proc: ReturnType<typeof execa>;
  private readonly pending = new Map<number, { resolve: (r: Reply) => void; reject: (e: Error) => void }>();
  private settleReady!: { resolve: (r: Reply) => void; reject: (e: Error) => void };
  private stderr = "";
  private alive = true;
  private nextId = 0;

  constructor(python: string, args: string[], env: Record<string, string>, cwd: string | undefined) {
    this.ready = new Promise<Reply>((resolve, reject) => (this.settleReady = { resolve, reject }));
    this.ready.catch(() => undefined); // observed by whoever awaits it
    this.proc = execa(python, args, { stdin: "pipe", stdout: "pipe", stderr: "pipe", buffer: false, reject: false, cleanup: true, env, cwd: cwd ?? process.cwd() });
    this.pid = this.proc.pid;
    this.proc.stdin?.on("error", () => undefined); // EPIPE after a crash: the exit handler reports it
    this.proc.stderr?.setEncoding("utf8");
    this.proc.stderr?.on("data", (chunk: string) => (this.stderr = (this.stderr + chunk).slice(-16_384)));
    if (this.proc.stdout) createInterface({ input: this.proc.stdout }).on("line", (line) => this.onLine(line));
    this.exited = (this.proc as unknown as Promise<{ exitCode?: number; signal?: string; code?: string }>).then(
      (r) => this.onExit(r),
      (err: unknown) => this.onExit({ code: (err as { code?: string }).code }),
    );
  }

  call(request: Record<string, unknown>): Promise<Reply> {
    const id = ++this.nextId;
    return new Promise<Reply>((resolve, reject) => {
      if (!this.alive) return reject(new WorkerDied("the GPAW process is gone"));
      this.pending.set(id, { resolve, reject });
      this.proc.stdin?.write(JSON.stringify({ id, ...request }) + "\n");
    }).then((reply) => {
      if (reply["ok"] === true) return reply;
      const flag = ([1, 2, 3] as const).find((f) => f === reply["flag"]) ?? 3;
      throw new EngineFailure(flag, String(reply["error"] ?? "GPAW failed"), { traceback: lastLines(String(reply["traceback"] ?? ""), 8) });
    });
  }

  kill(reason: NonNullable<WorkerProcess["killedFor"]>): void {
    if (!this.alive) return;
    this.killedFor ??= reason;
    this.proc.kill("SIGKILL");
  }

  /** Closes stdin (the worker then exits), kills it after `graceMs`, and waits until it is gone. */
  async end(graceMs: number): Promise<void> {
    if (this.alive) {
      this.proc.stdin?.end();
      const timer = setTimeout(() => this.kill({ kind: "closed", text: "closed while a calculation was running; the GPAW process was killed" }), graceMs);
      await this.exited;
      clearTimeout(timer);
    }
    await this.exited;
  }

  private onLine(line: string): void {
    let reply: Reply;
    try {
      reply = JSON.parse(line) as Reply;
    } catch {
      this.stderr = (this.stderr + `[stdout] ${line}\n`).slice(-16_384);
      return;
    }
    if (reply["ready"] === true) this.settleReady.resolve(reply);
    else if (reply["fatal"] !== undefined) {
      this.settleReady.reject(new Error(`gpaw: the worker cannot start: ${String(reply["fatal"])}\n${lastLines(String(reply["traceback"] ?? ""), 12)}`));
    } else if (typeof reply["id"] === "number") {
      const p = this.pending.get(reply["id"]);
      this.pending.delete(reply["id"]);
      p?.resolve(reply);
    }
  }

  private onExit(r: { exitCode?: number; signal?: string; code?: string }): void {
    this.alive = false;
    const what =
      r.code === "ENOENT"
        ? "cannot start Python: not found"
        : this.killedFor
          ? this.killedFor.text
          : r.signal
            ? `the GPAW process was killed by ${r.signal}`
            : `the GPAW process exited with code ${r.exitCode ?? "?"}`;
    const tail = lastLines(this.stderr, 12);
    const err = new WorkerDied(`${what} (pid ${this.pid ?? "none"})${tail ? `; its stderr ends:\n${tail}` : ""}`);
    this.settleReady.reject(err);
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }
}

/** At most `n` holders at a time; `acquire` resolves to a release function, or undefined if `signal` fires first. */
class Semaphore {
  private free: number;
  private readonly waiting: (() => void)[] = [];
  constructor(n: number) {
    this.free = n;
  }
  async acquire(signal?: AbortSignal): Promise<(() => void) | undefined> {
    if (this.free > 0) {
      this.free--;
      return this.releaser();
    }
    return new Promise((resolve) => {
      const grant = () => {
        signal?.removeEventListener("abort", onAbort);
        resolve(this.releaser());
      };
      const onAbort = () => {
        const i = this.waiting.indexOf(grant);
        if (i >= 0) this.waiting.splice(i, 1);
        resolve(undefined);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.waiting.push(grant);
    });
  }
  private releaser(): () => void {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const next = this.waiting.shift();
      if (next) next();
      else this.free++;
    };
  }
}

function lastLines(text: string, n: number): string {
  return text.trimEnd().split(/\r?\n/).slice(-n).join("\n");
}
