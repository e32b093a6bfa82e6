/**
 * The one door to the tslab kernel: nothing else in the project touches tslab.
 *
 * Inside a tslab kernel, `globalThis.__tslab__.require("tslab")` returns the kernel's own tslab module
 * (its public API: `display`, `newDisplay()`). Outside a kernel (node, tsx, tests) there is none and
 * everything here answers null / false, so callers fall back to the console.
 *
 * Rich bundles. tslab 1.0.22's `Display.raw(type, data)` sends exactly one MIME type per message
 * (`{ data: { [type]: data } }`), so through the public API a figure cannot carry text/html, the plotly
 * JSON and text/plain together, and every further call on a `newDisplay()` replaces the previous type.
 * The kernel's message writer itself takes a whole bundle: tslab keeps it as
 * `lastWriteDisplayData(content, update)` in `dist/jupyter.js`, next to the public module, and sets it at
 * the start of every execution. We find that already-loaded module through Node's module cache (the same
 * instance the kernel uses; nothing is loaded anew) and send full bundles through it. When it cannot be
 * found (another tslab layout, a fake in tests) we fall back to the public API with the richest single
 * type (text/html, else text/plain).
 */
import { randomBytes } from "node:crypto";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

/** The part of tslab's `Display` we use (tslab/dist/public.d.ts). */
export interface TslabDisplay {
  html(s: string): void;
  text(s: string): void;
  raw(contentType: string, b: string | Uint8Array): unknown;
}

/** The part of tslab's public module we use. */
export interface TslabModule {
  display: TslabDisplay;
  newDisplay(): TslabDisplay;
  versions?: { tslab: string; typescript: string; node: string };
}

/** A Jupyter MIME bundle: MIME type -> data (strings, or JSON objects for JSON types). */
export type MimeBundle = Record<string, unknown>;

/** The content of a display_data / update_display_data message. */
interface DisplayContent {
  data: MimeBundle;
  metadata: Record<string, unknown>;
  transient: { display_id?: string };
}

type DisplayWriter = (content: DisplayContent, update?: boolean) => void;

interface TslabGlobal {
  require(id: string): unknown;
}

function tslabGlobal(): TslabGlobal | undefined {
  const g = (globalThis as { __tslab__?: TslabGlobal }).__tslab__;
  return g && typeof g.require === "function" ? g : undefined;
}

/** True when this code runs inside a tslab kernel (`globalThis.__tslab__` is set). */
export function inKernel(): boolean {
  return tslabGlobal() !== undefined;
}

/** The kernel's tslab module, or null outside a kernel. */
export function tslab(): TslabModule | null {
  const g = tslabGlobal();
  if (!g) return null;
  try {
    const mod = g.require("tslab") as TslabModule | undefined;
    return mod && typeof mod.newDisplay === "function" ? mod : null;
  } catch {
    return null;
  }
}

const requireHere = createRequire(import.meta.url);
const jupyterModules = new WeakMap<object, { lastWriteDisplayData?: unknown } | null>();

/** tslab's `dist/jupyter.js` module belonging to the loaded public module `mod`, found in Node's module cache. */
function jupyterModuleOf(mod: TslabModule): { lastWriteDisplayData?: unknown } | null {
  if (jupyterModules.has(mod)) return jupyterModules.get(mod)!;
  let found: { lastWriteDisplayData?: unknown } | null = null;
  const cache = requireHere.cache;
  for (const [file, entry] of Object.entries(cache)) {
    if (entry?.exports !== mod) continue;
    const sibling = cache[join(dirname(file), "jupyter.js")]?.exports as { lastWriteDisplayData?: unknown } | undefined;
    if (sibling && typeof sibling === "object" && "lastWriteDisplayData" in sibling) found = sibling;
    break;
  }
  jupyterModules.set(mod, found);
  return found;
}

/** The kernel's writer for whole bundles, when it can be reached and an execution has started. */
function bundleWriter(mod: TslabModule): DisplayWriter | null {
  const w = jupyterModuleOf(mod)?.lastWriteDisplayData;
  return typeof w === "function" ? (w as DisplayWriter) : null;
}

/** True when full MIME bundles reach the front end (false: one MIME type per message, through tslab's public API). */
export function richBundles(): boolean {
  const mod = tslab();
  return mod !== null && bundleWriter(mod) !== null;
}

/** The richest single MIME type of a bundle that tslab's public `raw` can send (strings only). */
function singleType(bundle: MimeBundle): [string, string] | null {
  for (const type of ["text/html", "image/svg+xml", "text/markdown", "text/plain"]) {
    const v = bundle[type];
    if (typeof v === "string") return [type, v];
  }
  return null;
}

function sendSingle(display: TslabDisplay, bundle: MimeBundle): void {
  const one = singleType(bundle);
  if (one) display.raw(one[0], one[1]);
}

/**
 * Shows a MIME bundle once (a display_data message). Returns false outside a kernel, where nothing is
 * shown; the caller prints its own fallback.
 */
export function displayBundle(bundle: MimeBundle, metadata: Record<string, unknown> = {}): boolean {
  const mod = tslab();
  if (!mod) return false;
  const write = bundleWriter(mod);
  if (write) write({ data: bundle, metadata, transient: {} }, false);
  else sendSingle(mod.display, bundle);
  return true;
}

/**
 * One output area that can be redrawn in place: the first `show` sends display_data with a display id,
 * each later one update_display_data with the same id (Jupyter front ends then replace the content,
 * wherever the display sits in the notebook).
 */
export interface KernelDisplay {
  show(bundle: MimeBundle, metadata?: Record<string, unknown>): void;
  /** True once the first `show` has gone out. */
  readonly shown: boolean;
}

/** A new display that updates in place, or null outside a kernel. */
export function newKernelDisplay(): KernelDisplay | null {
  const mod = tslab();
  if (!mod) return null;
  const id = randomBytes(8).toString("hex");
  let shown = false;
  let fallback: TslabDisplay | null = null;
  return {
    get shown() {
      return shown;
    },
    show(bundle, metadata = {}) {
      const write = bundleWriter(mod);
      if (write) {
        write({ data: bundle, metadata, transient: { display_id: id } }, shown);
      } else {
        // tslab's own display object keeps its id and switches to updates after its first call.
        fallback ??= mod.newDisplay();
        sendSingle(fallback, bundle);
      }
      shown = true;
    },
  };
}
