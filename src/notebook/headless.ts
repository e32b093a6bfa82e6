/**
 * Runs a notebook headless with the crystal-rl kernel, speaking the Jupyter messaging protocol (v5.3)
 * itself over ZeroMQ (zeromq.js, which the kernel uses too), so no Python is needed: for machines
 * where Jupyter's Python client cannot be installed (no pyzmq for the Python there), e.g. a GPU machine
 * without network. It does what nbclient's `NotebookClient(nb, allow_errors=False).execute()` does:
 * starts the kernel in the notebook's folder, waits for it, runs the code cells in order, records
 * their outputs in nbformat 4 (one per message, `update_display_data` applied in place to the output
 * that carries the display id, `clear_output` honoured), stops at the first error, and shuts the
 * kernel down. CI runs the notebooks with nbclient (scripts/run_notebooks.py); a test holds this
 * runner's outputs to nbclient's.
 *
 * @example
 * const r = await runNotebook("notebooks/01-quickstart.ipynb");   // import { runNotebook } from "crystal-rl"
 * if (r.error) console.error(`cell ${r.error.cell}: ${r.error.ename}: ${r.error.evalue}`);
 * writeFileSync("out.ipynb", JSON.stringify(r.notebook, null, 1));
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createHmac, randomBytes, randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import type * as Zmq from "zeromq";
import { kernelArgv } from "./kernel/kernel.js";

/** A notebook as nbformat 4 JSON (only what the runner touches is typed). */
export interface NotebookJson {
  cells: NotebookCell[];
  metadata: Record<string, unknown>;
  nbformat: number;
  nbformat_minor: number;
}

export interface NotebookCell {
  cell_type: string;
  source: string | string[];
  metadata: Record<string, unknown>;
  outputs?: Output[];
  execution_count?: number | null;
  [key: string]: unknown;
}

type Output = Record<string, unknown> & { output_type: string };

export interface RunNotebookOptions {
  /** The kernel's command, `{connection_file}` standing for the connection file (default: this package's kernel). */
  kernel?: readonly string[];
  /** Seconds a cell may run (default 600). */
  timeout?: number;
  /** Seconds the kernel may take to start (default 60). */
  startupTimeout?: number;
  /** Called as each code cell starts (1-based among code cells). */
  onCell?: (index: number, total: number) => void;
}

export interface RunNotebookResult {
  /** The notebook with its outputs (up to the failing cell when one failed). */
  notebook: NotebookJson;
  /** The first error: its cell (1-based among code cells), name, value and traceback. */
  error?: { cell: number; ename: string; evalue: string; traceback: string[] };
  seconds: number;
}

interface Message {
  header: { msg_id: string; msg_type: string; [k: string]: unknown };
  parent_header: { msg_id?: string; [k: string]: unknown };
  metadata: Record<string, unknown>;
  content: Record<string, unknown>;
}

const DELIMITER = "<IDS|MSG>";

/** Runs the notebook at `path` top to bottom in a fresh kernel started in its folder. */
export async function runNotebook(path: string, options: RunNotebookOptions = {}): Promise<RunNotebookResult> {
  const t0 = performance.now();
  const file = resolve(path);
  let notebook: NotebookJson;
  try {
    notebook = JSON.parse(readFileSync(file, "utf8")) as NotebookJson;
  } catch (e) {
    throw new RangeError(`${path}: not a notebook (${(e as Error).message})`, { cause: e });
  }
  if (!Array.isArray(notebook.cells) || notebook.nbformat !== 4) throw new RangeError(`${path}: not an nbformat 4 notebook`);
  const kernel = await KernelClient.start(dirname(file), options.kernel ?? kernelArgv(), (options.startupTimeout ?? 60) * 1000);
  try {
    const code = notebook.cells.filter((c) => c.cell_type === "code");
    let n = 0;
    for (const cell of code) {
      n++;
      options.onCell?.(n, code.length);
      const error = await kernel.execute(cell, (options.timeout ?? 600) * 1000);
      if (error) return { notebook, error: { cell: n, ...error }, seconds: (performance.now() - t0) / 1000 };
    }
    return { notebook, seconds: (performance.now() - t0) / 1000 };
  } finally {
    await kernel.shutdown();
  }
}

/** Free TCP ports on the loopback interface. */
async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: n }, () => new Promise<ReturnType<typeof createServer>>((ok, fail) => {
      const s = createServer();
      s.once("error", fail);
      s.listen(0, "127.0.0.1", () => ok(s));
    })),
  );
  const ports = servers.map((s) => (s.address() as { port: number }).port);
  await Promise.all(servers.map((s) => new Promise((ok) => s.close(ok))));
  return ports;
}

/** One kernel process and the three sockets a client needs (shell, iopub, control). */
class KernelClient {
  private readonly session = randomUUID();
  /** iopub messages by the msg_id of the request they answer, as they come. */
  private readonly iopub = new Map<string, Message[]>();
  private readonly waiting = new Map<string, () => void>();
  private readonly replies = new Map<string, Message>();
  /** Display id -> the outputs that show it (updated in place by update_display_data). */
  private readonly displays = new Map<string, Output[]>();
  private exited: string | null = null;

  private constructor(
    private readonly child: ChildProcess,
    private readonly key: string,
    private readonly shell: Zmq.Dealer,
    private readonly control: Zmq.Dealer,
    private readonly sub: Zmq.Subscriber,
    private readonly dir: string,
    private readonly stderr: () => string,
  ) {
    void this.pump(this.sub, true);
    void this.pump(this.shell, false);
    void this.pump(this.control, false);
    child.once("exit", (code, signal) => {
      this.exited = `the kernel exited (${signal ?? `code ${code}`})${this.stderr() ? `: ${this.stderr().trim().split("\n").slice(-5).join(" | ")}` : ""}`;
      for (const wake of this.waiting.values()) wake();
    });
  }

  static async start(cwd: string, command: readonly string[], startupMs: number): Promise<KernelClient> {
    const [shellPort, iopubPort, stdinPort, controlPort, hbPort] = await freePorts(5);
    const key = randomBytes(16).toString("hex");
    const dir = mkdtempSync(join(tmpdir(), "crystal-rl-kernel-"));
    const connectionFile = join(dir, "connection.json");
    writeFileSync(
      connectionFile,
      JSON.stringify({ ip: "127.0.0.1", transport: "tcp", signature_scheme: "hmac-sha256", key, shell_port: shellPort, iopub_port: iopubPort, stdin_port: stdinPort, control_port: controlPort, hb_port: hbPort, kernel_name: "crystal-rl" }),
    );
    const argv = command.map((a) => a.replaceAll("{connection_file}", connectionFile));
    let stderr = "";
    const child = spawn(argv[0]!, argv.slice(1), { cwd, stdio: ["ignore", "ignore", "pipe"] });
    child.stderr!.on("data", (d: Buffer) => (stderr = (stderr + d.toString()).slice(-8000)));
    const zmq = await import("zeromq"); // a native addon: loaded only when a notebook runs
    const shell = new zmq.Dealer({ routingId: randomUUID() });
    const control = new zmq.Dealer({ routingId: randomUUID() });
    const sub = new zmq.Subscriber();
    shell.connect(`tcp://127.0.0.1:${shellPort}`);
    control.connect(`tcp://127.0.0.1:${controlPort}`);
    sub.connect(`tcp://127.0.0.1:${iopubPort}`);
    sub.subscribe();
    const client = new KernelClient(child, key, shell, control, sub, dir, () => stderr);
    await client.ready(startupMs);
    return client;
  }

  /**
   * Ready when a kernel_info request is answered on shell and its status messages arrive on iopub (a
   * subscriber connects late and misses what was sent before: ask until both come back).
   */
  private async ready(timeoutMs: number): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    while (performance.now() < deadline) {
      const id = await this.send(this.shell, "kernel_info_request", {});
      const ok = await this.until(() => this.replies.has(id) && (this.iopub.get(id) ?? []).some((m) => m.header.msg_type === "status"), Math.min(2000, deadline - performance.now()));
      if (ok) {
        this.replies.clear(); // the handshake's (earlier attempts' too)
        this.iopub.clear();
        return;
      }
      if (this.exited) throw new Error(this.exited);
    }
    await this.shutdown();
    throw new Error(`the kernel did not answer within ${timeoutMs / 1000} s${this.stderr() ? `: ${this.stderr().trim().split("\n").slice(-5).join(" | ")}` : ""}`);
  }

  /** Runs one code cell, filling its outputs and execution count; returns its error, if any. */
  async execute(cell: NotebookCell, timeoutMs: number): Promise<{ ename: string; evalue: string; traceback: string[] } | undefined> {
    const source = Array.isArray(cell.source) ? cell.source.join("") : cell.source;
    const outputs: Output[] = [];
    cell.outputs = outputs;
    cell.execution_count = null;
    const id = await this.send(this.shell, "execute_request", { code: source, silent: false, store_history: true, user_expressions: {}, allow_stdin: false, stop_on_error: true });
    let seen = 0;
    let idle = false;
    let clearOnNext = false;
    let error: { ename: string; evalue: string; traceback: string[] } | undefined;
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const list = this.iopub.get(id) ?? [];
      for (; seen < list.length; seen++) {
        const m = list[seen]!;
        const c = m.content;
        const type = m.header.msg_type;
        if (clearOnNext && ["stream", "display_data", "execute_result", "error"].includes(type)) {
          outputs.length = 0;
          clearOnNext = false;
        }
        if (type === "execute_input") cell.execution_count = c["execution_count"] as number;
        else if (type === "stream") outputs.push({ output_type: "stream", name: c["name"], text: c["text"] }); // one output per message, as nbclient
        else if (type === "display_data" || type === "execute_result") {
          const out: Output =
            type === "execute_result"
              ? { output_type: type, execution_count: c["execution_count"], data: c["data"], metadata: c["metadata"] ?? {} }
              : { output_type: type, data: c["data"], metadata: c["metadata"] ?? {} };
          outputs.push(out);
          const displayId = (c["transient"] as { display_id?: string } | undefined)?.display_id;
          if (displayId) listIn(this.displays, displayId).push(out);
        } else if (type === "update_display_data") {
          const displayId = (c["transient"] as { display_id?: string } | undefined)?.display_id;
          for (const out of (displayId && this.displays.get(displayId)) || []) {
            out["data"] = c["data"];
            out["metadata"] = c["metadata"] ?? {};
          }
        } else if (type === "clear_output") {
          if (c["wait"]) clearOnNext = true;
          else outputs.length = 0;
        } else if (type === "error") {
          error = { ename: String(c["ename"]), evalue: String(c["evalue"]), traceback: (c["traceback"] as string[]) ?? [] };
          outputs.push({ output_type: "error", ...error });
        } else if (type === "status" && c["execution_state"] === "idle") idle = true;
      }
      // done when the kernel is idle again and the shell reply is in (they come on two sockets, either first)
      if (idle && this.replies.has(id)) {
        this.iopub.delete(id);
        const reply = this.replies.get(id)!.content;
        this.replies.delete(id);
        if (!error && reply["status"] === "error") error = { ename: String(reply["ename"]), evalue: String(reply["evalue"]), traceback: (reply["traceback"] as string[]) ?? [] };
        return error;
      }
      if (this.exited) throw new Error(`${this.exited} while running a cell`);
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`a cell ran past ${timeoutMs / 1000} s`);
      await this.until(() => (this.iopub.get(id)?.length ?? 0) > seen || (idle && this.replies.has(id)), Math.min(left, 1000));
    }
  }

  async shutdown(): Promise<void> {
    if (!this.exited) {
      try {
        const id = await this.send(this.control, "shutdown_request", { restart: false });
        await this.until(() => this.replies.has(id) || this.exited !== null, 5000);
      } catch {
        // a kernel that cannot answer is killed below
      }
      await this.until(() => this.exited !== null, 3000);
      if (!this.exited) this.child.kill("SIGKILL");
    }
    for (const s of [this.shell, this.control, this.sub]) s.close();
    rmSync(this.dir, { recursive: true, force: true });
  }

  private sign(parts: readonly string[]): string {
    const h = createHmac("sha256", this.key);
    for (const p of parts) h.update(p);
    return h.digest("hex");
  }

  private async send(socket: Zmq.Dealer, msgType: string, content: Record<string, unknown>): Promise<string> {
    const header = { msg_id: randomUUID(), username: "crystal-rl", session: this.session, date: new Date().toISOString(), msg_type: msgType, version: "5.3" };
    const parts = [JSON.stringify(header), "{}", "{}", JSON.stringify(content)];
    await socket.send([DELIMITER, this.sign(parts), ...parts]);
    return header.msg_id;
  }

  /** Reads a socket for good, filing each verified message as a reply or an iopub message. */
  private async pump(socket: Zmq.Dealer | Zmq.Subscriber, isIopub: boolean): Promise<void> {
    try {
      for await (const frames of socket) {
        const strings = frames.map((f) => f.toString("utf8"));
        const at = strings.indexOf(DELIMITER);
        if (at < 0 || strings.length < at + 6) continue;
        const [signature, ...parts] = strings.slice(at + 1, at + 6);
        if (signature !== this.sign(parts)) continue; // not from our kernel
        const [header, parent, metadata, content] = parts.map((p) => JSON.parse(p!) as Record<string, unknown>);
        const m = { header, parent_header: parent, metadata, content } as Message;
        const parentId = m.parent_header.msg_id;
        if (!parentId) continue;
        if (isIopub) listIn(this.iopub, parentId).push(m);
        else this.replies.set(parentId, m);
        for (const wake of this.waiting.values()) wake();
      }
    } catch {
      // the socket was closed
    }
  }

  /** Resolves true once `ready()` holds (checked as messages arrive), false after `ms`. */
  private until(ready: () => boolean, ms: number): Promise<boolean> {
    if (ready()) return Promise.resolve(true);
    return new Promise((resolveWait) => {
      const key = randomUUID();
      const done = (value: boolean) => {
        clearTimeout(timer);
        this.waiting.delete(key);
        resolveWait(value);
      };
      const timer = setTimeout(() => done(ready()), Math.max(0, ms));
      this.waiting.set(key, () => {
        if (ready() || this.exited) done(ready());
      });
    });
  }
}

/** The list under `key`, created empty when missing. */
function listIn<T>(map: Map<string, T[]>, key: string): T[] {
  let list = map.get(key);
  if (!list) map.set(key, (list = []));
  return list;
}
