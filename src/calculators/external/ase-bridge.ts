/**
 * Any ASE calculator as a Calculator: a long-lived Python child (`/usr/bin/python3` by default)
 * running `ase_bridge.py`, spoken to in JSON lines over stdin/stdout.
 *
 * ```ts
 * const emt = aseCalculator("ase:EMT");
 * const mace = aseCalculator("ase:mace.calculators.mace_mp", { python: "/opt/venv/bin/python", kwargs: { model: "medium" } });
 * const { energy, forces, stress } = await emt.compute(crystal, { stress: true });
 * await emt.close();
 * ```
 *
 * Names: "EMT", "LennardJones", "MorsePotential" (ase.calculators.*), or a dotted path
 * "package.module.ClassName" / "package.module:factory" called with `kwargs`.
 *
 * The child starts on the first call (or `start()`), after which calls go through it one at a
 * time. A child that dies (killed, crashed, exited) fails the call in flight with a
 * CalculatorError carrying its exit status and the last lines of its stderr; a call that runs past
 * `timeoutMs` kills it. Either way the next call starts a fresh child. A Python exception in the
 * calculator fails only that call; the child lives on. `close()` ends the child and waits for it.
 *
 * Where the Python side is: `ase_bridge.py` next to this module (the TypeScript source, or `dist/`
 * when the build copies it there), else `../../../src/calculators/external/ase_bridge.py` from the
 * compiled module (a checkout or a package that ships that one file), else `options.script` /
 * env CRYSTAL_RL_ASE_BRIDGE, which win when set.
 */
import { existsSync } from "node:fs";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { execa } from "execa";
import type { Crystal } from "../../structure/crystal.js";
import {
  assertFinite,
  CalculatorError,
  type CallCounts,
  type Calculator,
  type Computed,
  type ComputeRequest,
} from "../calculator.js";

export interface AseCalculatorOptions {
  /** Keyword arguments of the calculator's constructor (JSON). */
  kwargs?: Readonly<Record<string, unknown>>;
  /** The Python executable; default env CRYSTAL_RL_PYTHON, else /usr/bin/python3 where it exists, else python3. */
  python?: string;
  /** Folders put in front of PYTHONPATH (where a dotted calculator path is imported from). */
  pythonPath?: readonly string[];
  /** The bridge script; default env CRYSTAL_RL_ASE_BRIDGE, else found next to this module (see above). */
  script?: string;
  /** Kill a call (and the child) that runs longer (ms). Default 300 000. */
  timeoutMs?: number;
  /** Kill a child that is not ready this long after it starts: imports, model loading (ms). Default 120 000. */
  startTimeoutMs?: number;
  /** How long `close()` lets a call in flight finish before it kills the child (ms). Default 5 000. */
  closeTimeoutMs?: number;
  /** Extra environment of the child. */
  env?: Readonly<Record<string, string>>;
  /** Working directory of the child; default process.cwd(). */
  cwd?: string;
}

/** What the child reports once its calculator is built. */
export interface AseBridgeInfo {
  /** The calculator's class, "ase.calculators.emt.EMT". */
  calculator: string;
  ase: string;
  python: string;
  pid: number;
}

interface Pending {
  resolve: (reply: Reply) => void;
  reject: (err: Error) => void;
}

interface Reply {
  id?: number;
  ready?: boolean;
  fatal?: string;
  error?: string;
  traceback?: string;
  energy?: number | null;
  forces?: (number | null)[][];
  stress?: (number | null)[];
}

interface ExitResult {
  failed: boolean;
  exitCode?: number;
  signal?: string;
  code?: string;
}

/** One Python process. */
class Child {
  readonly pid: number | undefined;
  readonly pending = new Map<number, Pending>();
  readonly ready: Promise<AseBridgeInfo>;
  readonly exited: Promise<void>;
  alive = true;
  /** Why we killed it, for the error of the call in flight. */
  killedFor: string | undefined;
  private stderr = "";
  private readySettled = false;
  private ending = false;
  private referenced = true;
  private readonly proc: ReturnType<typeof spawnBridge>;
  private settleReady!: { resolve: (info: AseBridgeInfo) => void; reject: (err: Error) => void };

  constructor(
    private readonly owner: string,
    python: string,
    args: string[],
    env: Record<string, string>,
    cwd: string | undefined,
  ) {
    this.ready = new Promise<AseBridgeInfo>((resolve, reject) => (this.settleReady = { resolve, reject })).finally(
      () => (this.readySettled = true),
    );
    this.ready.catch(() => undefined); // observed by whoever awaits it; never unhandled
    this.proc = spawnBridge(python, args, env, cwd);
    this.pid = this.proc.pid;
    this.ready.then(
      () => this.updateRef(),
      () => this.updateRef(),
    );
    this.proc.stdin?.on("error", () => undefined); // EPIPE after a crash: the exit handler reports it
    this.proc.stderr?.setEncoding("utf8");
    this.proc.stderr?.on("data", (chunk: string) => {
      this.stderr = (this.stderr + chunk).slice(-32_768);
    });
    if (this.proc.stdout) createInterface({ input: this.proc.stdout }).on("line", (line) => this.onLine(line));
    this.exited = (this.proc as unknown as Promise<ExitResult>).then(
      (result) => this.onExit(result),
      (err: unknown) => this.onExit({ failed: true, code: (err as { code?: string }).code }),
    );
  }

  /**
   * An idle child does not keep Node's event loop alive (a script that forgets close() still ends,
   * and execa's cleanup kills the child then); a child that is starting, answering a call, ending
   * or being killed does.
   */
  private updateRef(): void {
    if (!this.alive) return;
    const busy = !this.readySettled || this.pending.size > 0 || this.killedFor !== undefined || this.ending;
    if (busy === this.referenced) return;
    this.referenced = busy;
    const method = busy ? "ref" : "unref";
    this.proc[method]();
    for (const stream of [this.proc.stdin, this.proc.stdout, this.proc.stderr]) (stream as { ref?: () => void; unref?: () => void } | null)?.[method]?.();
  }

  /** The last `n` lines the child wrote to stderr. */
  stderrTail(n = 20): string {
    return this.stderr.trimEnd().split(/\r?\n/).slice(-n).join("\n");
  }

  send(id: number, message: string, pending: Pending): void {
    this.pending.set(id, pending);
    this.updateRef();
    this.proc.stdin?.write(message + "\n");
  }

  kill(reason: string): void {
    if (!this.alive) return;
    this.killedFor ??= reason;
    this.updateRef();
    this.proc.kill("SIGKILL");
  }

  /** Ends stdin (the bridge then exits); kills it if it has not gone within `graceMs`. */
  async end(graceMs: number): Promise<void> {
    if (this.alive) {
      this.ending = true;
      this.updateRef();
      this.proc.stdin?.end();
      const timer = setTimeout(() => this.kill(`closed while a call was in flight; the Python process did not finish within ${graceMs} ms and was killed`), graceMs);
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
      this.stderr = (this.stderr + `[stdout] ${line}\n`).slice(-32_768);
      return;
    }
    if (reply.ready) {
      this.settleReady.resolve(reply as unknown as AseBridgeInfo);
    } else if (reply.fatal !== undefined) {
      this.killedFor ??= "fatal";
      this.settleReady.reject(
        new CalculatorError(`${this.owner}: cannot create the ASE calculator: ${reply.fatal}\n${lastLines(reply.traceback, 12)}`, this.owner),
      );
    } else if (typeof reply.id === "number") {
      const p = this.pending.get(reply.id);
      if (!p) return;
      this.pending.delete(reply.id);
      this.updateRef();
      p.resolve(reply);
    }
  }

  private onExit(result: ExitResult): void {
    this.alive = false;
    let what: string;
    if (result.code === "ENOENT") what = "cannot start Python: not found";
    else if (this.killedFor && this.killedFor !== "fatal") what = this.killedFor;
    else if (result.signal) what = `the Python process was killed by ${result.signal}`;
    else what = `the Python process exited with code ${result.exitCode ?? "?"}`;
    const tail = this.stderrTail();
    const err = new CalculatorError(`${this.owner}: ${what} (pid ${this.pid ?? "none"})${tail ? `; its stderr ends:\n${tail}` : ""}`, this.owner, undefined, {
      cause: result,
    });
    this.settleReady.reject(err); // no-op when it was ready or fatal already
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }
}

function spawnBridge(python: string, args: string[], env: Record<string, string>, cwd: string | undefined) {
  return execa(python, args, {
    stdin: "pipe",
    stdout: "pipe",
    stderr: "pipe",
    buffer: false,
    reject: false,
    cleanup: true,
    env,
    cwd: cwd ?? process.cwd(),
  });
}

/** An ASE calculator in a Python child process; see the module comment. */
export class AseCalculator implements Calculator {
  readonly name: string;
  readonly counts: CallCounts = { calls: 0, forceCalls: 0 };
  /** The ASE name or dotted path, without "ase:". */
  readonly calculator: string;
  readonly python: string;
  readonly script: string;
  readonly timeoutMs: number;
  readonly startTimeoutMs: number;
  private readonly options: AseCalculatorOptions;
  private child: Child | undefined;
  private readonly dying = new Set<Child>();
  private queue: Promise<unknown> = Promise.resolve();
  private nextId = 0;
  private readyInfo: AseBridgeInfo | undefined;

  constructor(name: string, options: AseCalculatorOptions = {}) {
    const calculator = name.replace(/^ase:/, "").trim();
    if (!calculator) throw new RangeError(`ase: no calculator name in "${name}" (e.g. "ase:EMT")`);
    this.calculator = calculator;
    this.name = `ase:${calculator}`;
    this.options = { ...options };
    this.python =
      options.python ?? process.env["CRYSTAL_RL_PYTHON"] ?? (existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3");
    this.script = options.script ?? process.env["CRYSTAL_RL_ASE_BRIDGE"] ?? aseBridgeScript();
    this.timeoutMs = options.timeoutMs ?? 300_000;
    this.startTimeoutMs = options.startTimeoutMs ?? 120_000;
  }

  /** The pid of the running child, if one runs. */
  get pid(): number | undefined {
    return this.child?.alive ? this.child.pid : undefined;
  }

  /** What the running child reported at start-up (its calculator class, ASE and Python versions). */
  get info(): AseBridgeInfo | undefined {
    return this.child?.alive ? this.readyInfo : undefined;
  }

  /** Starts the child now (otherwise the first call does) and waits until its calculator is built. */
  async start(): Promise<AseBridgeInfo> {
    return (await this.ensureChild()).ready;
  }

  compute(crystal: Crystal, request: ComputeRequest = {}): Promise<Computed> {
    const req = { forces: request.forces ?? true, stress: request.stress ?? false };
    this.counts.calls++;
    if (req.forces) this.counts.forceCalls++;
    const run = this.queue.then(() => this.call(crystal, req));
    this.queue = run.catch(() => undefined);
    return run;
  }

  resetCounts(): void {
    this.counts.calls = 0;
    this.counts.forceCalls = 0;
  }

  /**
   * Ends the child and waits until it is gone: a call in flight gets its answer if it comes within
   * `closeTimeoutMs`, else the child is killed and that call fails. A later call starts a new child.
   */
  async close(): Promise<void> {
    for (;;) {
      const child = this.child;
      this.child = undefined;
      if (child) {
        this.dying.add(child);
        await child.end(this.options.closeTimeoutMs ?? 5000);
      }
      await this.queue;
      if (!this.child) break;
    }
    await Promise.all([...this.dying].map((c) => c.exited));
    this.dying.clear();
  }

  private async ensureChild(): Promise<Child> {
    if (this.child?.alive) {
      await this.child.ready; // a start() in progress: its error, if any, is this call's too
      return this.child;
    }
    if (this.child) this.retire(this.child);
    if (!existsSync(this.script)) {
      throw new CalculatorError(`${this.name}: the bridge script ${this.script} does not exist (set options.script or CRYSTAL_RL_ASE_BRIDGE)`, this.name);
    }
    const spec = JSON.stringify({ calculator: this.calculator, kwargs: this.options.kwargs ?? {} });
    const extraPath = [...(this.options.pythonPath ?? [])];
    const inherited = this.options.env?.["PYTHONPATH"] ?? process.env["PYTHONPATH"];
    if (inherited) extraPath.push(inherited);
    const env: Record<string, string> = { ...this.options.env };
    if (extraPath.length > 0) env["PYTHONPATH"] = extraPath.join(":");
    const child = new Child(this.name, this.python, ["-u", this.script, spec], env, this.options.cwd);
    this.child = child;
    const timer = setTimeout(() => child.kill(`the Python process was not ready after ${this.startTimeoutMs} ms and was killed`), this.startTimeoutMs);
    try {
      this.readyInfo = await child.ready;
      return child;
    } catch (err) {
      this.retire(child);
      if (this.child === child) this.child = undefined;
      if (err instanceof CalculatorError && /not found/.test(err.message)) {
        throw new CalculatorError(`${this.name}: cannot start Python "${this.python}": not found (set options.python or CRYSTAL_RL_PYTHON)`, this.name, undefined, {
          cause: err,
        });
      }
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Keeps a dead or dying child until it has been reaped, so `close()` can wait for it. */
  private retire(child: Child): void {
    this.dying.add(child);
    void child.exited.then(() => this.dying.delete(child));
  }

  private async call(crystal: Crystal, req: Required<ComputeRequest>): Promise<Computed> {
    const child = await this.ensureChild();
    const id = ++this.nextId;
    const n = crystal.natoms;
    const positions: number[][] = [];
    for (let i = 0; i < n; i++) positions.push(crystal.position(i));
    const properties = ["energy", ...(req.forces ? ["forces"] : []), ...(req.stress ? ["stress"] : [])];
    const message = JSON.stringify({ id, cell: crystal.lattice.toArray(), positions, numbers: Array.from(crystal.numbers), properties });
    let timer: NodeJS.Timeout | undefined;
    const reply = await new Promise<Reply>((resolve, reject) => {
      timer = setTimeout(() => {
        child.kill(`the call timed out after ${this.timeoutMs} ms; the Python process was killed and the next call starts a new one`);
        this.retire(child);
      }, this.timeoutMs);
      child.send(id, message, { resolve, reject });
    }).finally(() => clearTimeout(timer));
    if (reply.error !== undefined) {
      throw new CalculatorError(`${this.name}: ${reply.error}\n${lastLines(reply.traceback, 12)}`, this.name, undefined, {
        cause: { traceback: reply.traceback },
      });
    }
    const out: Computed = { energy: reply.energy ?? Number.NaN };
    if (req.forces) {
      const f = reply.forces;
      if (!f || f.length !== n) throw new CalculatorError(`${this.name}: the bridge returned ${f?.length ?? 0} forces for ${n} atoms`, this.name);
      const forces = new Float64Array(3 * n);
      f.forEach((row, i) => row.forEach((x, d) => (forces[3 * i + d] = x ?? Number.NaN)));
      out.forces = forces;
    }
    if (req.stress) {
      const s = reply.stress;
      if (!s || s.length !== 6) throw new CalculatorError(`${this.name}: the bridge returned no Voigt stress`, this.name);
      out.stress = Float64Array.from(s, (x) => x ?? Number.NaN);
    }
    assertFinite(out, this.name, crystal);
    return out;
  }
}

/** `new AseCalculator(name, options)`; `name` is "ase:EMT", "EMT", or "ase:package.module.ClassName". */
export const aseCalculator = (name: string, options?: AseCalculatorOptions): AseCalculator => new AseCalculator(name, options);

/** The path of ase_bridge.py: next to this module, else in the source tree seen from `dist/`. */
export function aseBridgeScript(): string {
  const candidates = [
    new URL("./ase_bridge.py", import.meta.url),
    new URL("../../../src/calculators/external/ase_bridge.py", import.meta.url),
  ].map((u) => fileURLToPath(u));
  return candidates.find((p) => existsSync(p)) ?? candidates[0]!;
}

function lastLines(text: string | undefined, n: number): string {
  return (text ?? "").trimEnd().split(/\r?\n/).slice(-n).join("\n");
}
