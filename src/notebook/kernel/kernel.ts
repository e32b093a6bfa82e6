/**
 * The crystal-rl Jupyter kernel: tslab 1.0.22's kernel (its TypeScript converter, executor and ZMQ
 * server, loaded from node_modules) with the protocol gaps that `jupyter_kernel_test` and nbclient
 * trip over filled in here:
 *
 * - A cell that throws, or does not type-check, sends an `error` message (ename, evalue, traceback) and
 *   an `execute_reply` with status "error" carrying the same fields; tslab printed the error as stderr
 *   text only, so `nbconvert --execute` stopped with an empty message.
 * - The value of a cell's last expression (tslab hands it over when it is not null/undefined) goes out
 *   as `execute_result` with `text/plain` (`util.inspect`, like the Node REPL) instead of stdout, plus
 *   richer types when the value offers them: a `[Symbol.for("Jupyter.display")]()` method returning a
 *   mime bundle (Deno's convention), or an arquero table (shown as HTML, like a pandas DataFrame).
 * - `kernel_info_reply` has status "ok" and the TypeScript version tslab type-checks with;
 *   `comm_info_request` gets a `comm_info_reply` (tslab answered with a mistyped `complete_reply`);
 *   `execute_input` is broadcast; `silent` requests publish nothing; after an error, requests already
 *   queued are aborted (stop_on_error) instead of tslab's 200 ms timer.
 * - `import ... from "crystal-rl"` resolves to this checkout from a notebook in any folder, both for
 *   tslab's type-checker and at run time, without a link in node_modules: see `linkPackage`.
 *
 * Everything else (completion, inspection, is_complete, display, interrupt, shutdown) is tslab's.
 */
import Module, { createRequire } from "node:module";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { format, inspect } from "node:util";

/** The fields of Jupyter's `error` message and of an `execute_reply` with status "error". */
export interface ErrorContent {
  ename: string;
  evalue: string;
  traceback: string[];
}

export type MimeBundle = Record<string, unknown>;

// ---------------------------------------------------------------------------------------------
// Pure helpers (unit-testable without Jupyter)

/** Stack frames that belong to the kernel machinery rather than to the user's cell or library code. */
const INTERNAL_FRAME = /node:internal|node:vm|\/node_modules\/tslab\/|\/notebook\/kernel\/kernel\.[jt]s/;

/** Jupyter error fields for a value a cell threw. */
export function errorContent(thrown: unknown): ErrorContent {
  if (thrown instanceof Error || (typeof thrown === "object" && thrown !== null && "message" in thrown && "stack" in thrown)) {
    const e = thrown as Error;
    const ename = (typeof e.name === "string" && e.name) || e.constructor?.name || "Error";
    const evalue = typeof e.message === "string" ? e.message : String(e.message);
    // Node prefixes errors thrown synchronously by vm code with "file:line\nsource\n   ^\n\n": drop it.
    const raw = typeof e.stack === "string" && e.stack ? e.stack.replace(/^[^\n]*:\d+\n[^\n]*\n *\^+ *\n\n/, "") : "";
    const stack = raw ? raw.split("\n") : [`${ename}: ${evalue}`];
    const traceback = stack.filter((line) => !(/^\s+at /.test(line) && INTERNAL_FRAME.test(line)));
    const cause = (e as { cause?: unknown }).cause;
    if (cause !== undefined) traceback.push(`Caused by: ${cause instanceof Error ? (cause.stack ?? String(cause)) : inspect(cause)}`);
    return { ename, evalue, traceback };
  }
  const evalue = typeof thrown === "string" ? thrown : inspect(thrown);
  return { ename: "Uncaught", evalue, traceback: [`Uncaught ${inspect(thrown)}`] };
}

/** Jupyter error fields for TypeScript diagnostics (one line each, "line:col - message"). */
export function compileErrorContent(diagnostics: string[]): ErrorContent {
  const n = diagnostics.length;
  const first = diagnostics[0] ?? "the cell did not compile";
  return {
    ename: "CompileError",
    evalue: n > 1 ? `${first} (and ${n - 1} more)` : first,
    traceback: [`CompileError: ${n} TypeScript error${n === 1 ? "" : "s"} in this cell`, ...diagnostics],
  };
}

/** An arquero table, recognised by shape so any copy of arquero works. */
function isArqueroTable(v: object): v is { toHTML(o?: object): string; numRows(): number; numCols(): number } {
  const t = v as Record<string, unknown>;
  return typeof t.toHTML === "function" && typeof t.numRows === "function" && typeof t.numCols === "function" && typeof t.columnNames === "function";
}

/**
 * The mime bundle for a cell's last value: always `text/plain`, plus what the value offers through
 * `[Symbol.for("Jupyter.display")]()` (a `{ mime: data }` object), or HTML for an arquero table.
 */
export function mimeBundle(value: unknown): MimeBundle {
  const bundle: MimeBundle = {};
  if (typeof value === "object" && value !== null) {
    try {
      const display = (value as Record<symbol, unknown>)[Symbol.for("Jupyter.display")];
      if (typeof display === "function") {
        const data = display.call(value) as unknown;
        if (data && typeof data === "object") Object.assign(bundle, data);
      } else if (isArqueroTable(value)) {
        bundle["text/html"] = value.toHTML({ limit: 20 });
        bundle["text/plain"] = `arquero table: ${value.numRows()} rows x ${value.numCols()} columns`;
      }
    } catch {
      // a broken display method falls back to text/plain
    }
  }
  if (bundle["text/plain"] === undefined) bundle["text/plain"] = inspect(value, { colors: false, depth: 4, maxArrayLength: 50 });
  return bundle;
}

// ---------------------------------------------------------------------------------------------
// Resolving "crystal-rl" from any notebook folder

/** The checkout this file belongs to: the nearest folder upwards whose package.json is named `name`. */
export function packageRoot(name = "crystal-rl", from = dirname(fileURLToPath(import.meta.url))): string {
  for (let dir = from; ; dir = dirname(dir)) {
    const pj = join(dir, "package.json");
    if (existsSync(pj)) {
      try {
        if ((JSON.parse(readFileSync(pj, "utf8")) as { name?: string }).name === name) return dir;
      } catch {
        // an unreadable package.json is not ours
      }
    }
    if (dirname(dir) === dir) throw new Error(`cannot find the ${name} package folder above ${from}`);
  }
}

/** The compiled kernel entry point (what the kernelspec and the headless runner start). */
export function kernelEntry(root = packageRoot()): string {
  return join(root, "dist", "notebook", "kernel", "main.js");
}

/** The kernel's command line, `{connection_file}` standing for the connection file (kernel.json's argv). */
export function kernelArgv(root = packageRoot()): string[] {
  return [process.execPath, kernelEntry(root), "{connection_file}"];
}

interface TsSys {
  fileExists(p: string): boolean;
  directoryExists(p: string): boolean;
  readFile(p: string, encoding?: string): string | undefined;
  realpath?(p: string): string;
  getDirectories(p: string): string[];
  readDirectory(p: string, ...rest: unknown[]): string[];
}

/**
 * Makes `name` importable from a notebook in any folder, as if `<notebook folder>/node_modules/<name>`
 * were a link to `root`: tslab's type-checker (TypeScript 5.0, Node10 resolution, which looks in
 * `<cwd>/node_modules` and ignores `exports`) sees `root`'s package.json and `main`/`types` through
 * that virtual path, and Node's `require` falls back to `root` when normal resolution (which already
 * finds the package from inside the checkout, by self-reference) fails. A real install in the
 * notebook's own node_modules still wins.
 */
export function linkPackage(tsSys: TsSys, name: string, root: string): void {
  const marker = `/node_modules/${name}`;
  const forward = (p: string): string => {
    const i = p.lastIndexOf(marker);
    if (i < 0) return p;
    const rest = p.slice(i + marker.length);
    if (rest !== "" && !rest.startsWith("/")) return p; // another package whose name starts the same
    if (original.directoryExists(p.slice(0, i + marker.length))) return p;
    return root + rest;
  };
  const original = { ...tsSys, directoryExists: tsSys.directoryExists.bind(tsSys) };
  const wrap = <K extends "fileExists" | "directoryExists" | "readFile" | "realpath" | "getDirectories" | "readDirectory">(key: K) => {
    const fn = tsSys[key] as ((p: string, ...rest: unknown[]) => unknown) | undefined;
    if (!fn) return;
    (tsSys as unknown as Record<string, unknown>)[key] = (p: string, ...rest: unknown[]) => fn.call(tsSys, forward(p), ...rest);
  };
  (["fileExists", "directoryExists", "readFile", "realpath", "getDirectories", "readDirectory"] as const).forEach(wrap);

  const M = Module as unknown as { _resolveFilename: (request: string, ...rest: unknown[]) => string };
  const resolve = M._resolveFilename;
  const fromRoot = createRequire(join(root, "package.json"));
  M._resolveFilename = function (this: unknown, request: string, ...rest: unknown[]): string {
    try {
      return resolve.call(this, request, ...rest);
    } catch (e) {
      if ((request === name || request.startsWith(name + "/")) && (e as NodeJS.ErrnoException).code === "MODULE_NOT_FOUND") {
        return fromRoot.resolve(request);
      }
      throw e;
    }
  };
}

// ---------------------------------------------------------------------------------------------
// The kernel

/** The parts of tslab's CommonJS modules that the kernel uses (tslab/dist/*.js, 1.0.22). */
interface ZmqMessage {
  header: { msg_type: string };
  content: unknown;
  metadata: object;
  createReply(): ZmqMessage;
  signAndSend(key: string, sock: unknown): void;
}
interface TslabHandler {
  handleKernel(): { language_info: Record<string, unknown> } & Record<string, unknown>;
  close(): void;
}
interface TslabServer {
  handler: TslabHandler;
  connInfo: { key: string };
  iopub: unknown;
  init(): Promise<void>;
}
type ServerCtor = new (handler: TslabHandler, configPath: string) => TslabServer;
interface Executor {
  execute(src: string): Promise<boolean>;
  interrupt(): void;
}
interface DisplayData {
  data: Record<string, unknown>;
  metadata: Record<string, unknown>;
  transient: { display_id?: string };
}
interface ExecuteRequest {
  code: string;
  silent?: boolean;
  stop_on_error?: boolean;
}

/** What one execution collected through the executor's console (which only tslab's executor calls). */
interface Outcome {
  diagnostics: string[];
  thrown: unknown[];
  hasValue: boolean;
  value: unknown;
}

/** Starts the kernel on a Jupyter connection file; resolves once its sockets are bound. */
export async function startKernel(connectionFile: string): Promise<void> {
  const root = packageRoot();
  const req = createRequire(join(root, "package.json"));
  const tslabDir = dirname(req.resolve("tslab/package.json"));
  const tslabReq = createRequire(join(tslabDir, "package.json"));
  const jupyter = tslabReq("./dist/jupyter.js") as { ZmqServer: ServerCtor; JupyterHandlerImpl: new (e: Executor, isJs: boolean) => TslabHandler; lastWriteDisplayData: unknown };
  const { createExecutor } = tslabReq("./dist/executor.js") as { createExecutor: (rootDir: string, convs: object, console: object) => Executor };
  const { createConverter } = tslabReq("./dist/converter.js") as { createConverter: (o: { isJS: boolean; isBrowser: boolean }) => { close(): void } };
  const ts = tslabReq("@tslab/typescript-for-tslab") as { sys: TsSys; version: string };
  const tslabVersion = (tslabReq("./package.json") as { version: string }).version;

  linkPackage(ts.sys, "crystal-rl", root);

  // tslab's ConverterSetImpl (not exported): converters are built on first use; the node one is warmed below.
  const converters: { node?: { close(): void }; browser?: { close(): void } } = {};
  const convs = {
    get node() {
      return (converters.node ??= createConverter({ isJS: false, isBrowser: false }));
    },
    get browser() {
      return (converters.browser ??= createConverter({ isJS: false, isBrowser: true }));
    },
    close() {
      converters.node?.close();
      converters.browser?.close();
    },
  };
  void convs.node;

  // The executor reports through this console only: diagnostics (format string + 4 args), a thrown
  // value (1 arg) and the last expression's value (log). Outside an execution it prints as tslab did.
  let outcome: Outcome | null = null;
  const executorConsole = {
    log: (...args: unknown[]) => {
      if (outcome && args.length === 1) {
        outcome.hasValue = true;
        outcome.value = args[0];
      } else console.log(...args);
    },
    error: (...args: unknown[]) => {
      if (!outcome) console.error(...args);
      else if (args.length === 1) outcome.thrown.push(args[0]);
      else outcome.diagnostics.push(format(...args));
    },
  };
  const executor = createExecutor(process.cwd(), convs, executorConsole);
  const handler = new jupyter.JupyterHandlerImpl(executor, false);
  // Executions run one at a time, in arrival order; a failing one never blocks the ones after it.
  let tail: Promise<unknown> = Promise.resolve();
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const p = tail.then(fn);
    tail = p.catch(() => undefined);
    return p;
  };
  let executionCount = 0;
  let generation = 0; // bumped by an error: requests that arrived before it are aborted
  const decoder = new TextDecoder();

  class Server extends jupyter.ZmqServer {
    private publish(parent: ZmqMessage, msgType: string, content: object): void {
      const m = parent.createReply();
      m.header.msg_type = msgType;
      m.content = content;
      m.signAndSend(this.connInfo.key, this.iopub);
    }

    handleKernelInfo(sock: unknown, msg: ZmqMessage): void {
      const reply = msg.createReply();
      reply.header.msg_type = "kernel_info_reply";
      const info = this.handler.handleKernel();
      reply.content = {
        status: "ok",
        ...info,
        implementation: "tslab",
        implementation_version: tslabVersion,
        language_info: { ...info.language_info, version: ts.version },
        banner: `crystal-rl kernel: TypeScript ${ts.version} (tslab ${tslabVersion}) on Node.js ${process.version}`,
      };
      reply.signAndSend(this.connInfo.key, sock);
    }

    handleCommInfoRequest(sock: unknown, msg: ZmqMessage): void {
      const reply = msg.createReply();
      reply.header.msg_type = "comm_info_reply";
      reply.content = { status: "ok", comms: {} };
      reply.signAndSend(this.connInfo.key, sock);
    }

    async handleExecute(sock: unknown, msg: ZmqMessage): Promise<void> {
      const request = msg.content as ExecuteRequest;
      const silent = request.silent === true;
      const arrived = generation;
      const writeStream = (name: string, text: string) => {
        if (!silent) this.publish(msg, "stream", { name, text });
      };
      const writeDisplayData = (data: DisplayData, update: boolean) => {
        if (!silent) this.publish(msg, update ? "update_display_data" : "display_data", data);
      };
      const run = async (): Promise<object> => {
        if (arrived !== generation) return { status: "aborted", execution_count: executionCount };
        // Output written later (timers, promises) still goes to this cell, as in ipykernel and tslab.
        const toIopub = (name: string) => (chunk: string | Uint8Array) => {
          writeStream(name, typeof chunk === "string" ? chunk : decoder.decode(chunk));
          return true;
        };
        process.stdout.write = toIopub("stdout") as typeof process.stdout.write;
        process.stderr.write = toIopub("stderr") as typeof process.stderr.write;
        jupyter.lastWriteDisplayData = writeDisplayData;
        const count = silent ? executionCount : ++executionCount;
        if (!silent) this.publish(msg, "execute_input", { code: request.code, execution_count: count });
        const o: Outcome = (outcome = { diagnostics: [], thrown: [], hasValue: false, value: undefined });
        let ok: boolean;
        try {
          ok = await executor.execute(request.code);
        } catch (e) {
          ok = false;
          o.thrown.push(e);
        } finally {
          outcome = null;
        }
        if (ok) {
          // Module cells (`//// module:`) report diagnostics yet succeed: keep tslab's stderr text for them.
          if (o.diagnostics.length > 0) writeStream("stderr", o.diagnostics.join("\n") + "\n");
          if (o.hasValue && !silent) {
            this.publish(msg, "execute_result", { execution_count: count, data: mimeBundle(o.value), metadata: {} });
          }
          return { status: "ok", execution_count: count, payload: [], user_expressions: {} };
        }
        const error =
          o.thrown.length > 0
            ? errorContent(o.thrown[0])
            : o.diagnostics.length > 0
              ? compileErrorContent(o.diagnostics)
              : { ename: "Error", evalue: "the cell failed", traceback: ["Error: the cell failed"] };
        if (!silent) this.publish(msg, "error", error);
        if (request.stop_on_error !== false) generation++;
        return { status: "error", execution_count: count, ...error };
      };
      let content: object;
      try {
        content = await serial(run);
      } catch (e) {
        content = { status: "error", execution_count: executionCount, ...errorContent(e) };
      }
      const reply = msg.createReply();
      reply.header.msg_type = "execute_reply";
      reply.content = content;
      reply.signAndSend(this.connInfo.key, sock);
    }
  }

  const server = new Server(handler, connectionFile);
  process.on("SIGINT", () => executor.interrupt());
  // A promise a cell forgot to await must not end the kernel: report it to the current cell, as tslab does.
  process.on("uncaughtException", (err) => console.error("UncaughtException:", err));
  process.on("unhandledRejection", (reason) => console.error("UnhandledPromiseRejection:", reason));
  await server.init();
}
