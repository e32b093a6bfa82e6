/**
 * Plotly figures, offline: plotly.js is inlined into the page once per kernel session and every figure
 * is a div plus a `Plotly.newPlot` script, so plots draw with no network.
 *
 * What the front ends do with the outputs sent here:
 * - Classic notebook (and nbconvert's HTML export, and VS Code): scripts inside text/html outputs run,
 *   in output order. plotly.js 4's bundle has no AMD branch (only CommonJS, else `window.Plotly`), so
 *   the classic notebook's require.js does not capture it.
 * - JupyterLab / Notebook 7: text/html scripts run only when the output is trusted (always for outputs
 *   produced in the running session; a reopened notebook must be trusted first, otherwise Lab shows its
 *   "This HTML output contains inline scripts" button). Lab renders outputs asynchronously and, with
 *   windowing, lazily; that is why a figure's script waits (up to 10 s) for both `window.Plotly` and its
 *   div instead of assuming them. Lab picks `application/vnd.plotly.v1+json` over text/html only when
 *   a plotly renderer extension is installed (jupyterlab-plotly, shipped with plotly.py < 6); that
 *   renderer bundles its own plotly.js, so the figure draws even without the inlined copy.
 * - Reloading the browser page loses `window.Plotly` while the kernel still believes it was sent; in a
 *   trusted saved notebook the inlined output re-runs on load, otherwise call `loadPlotly({ force: true })`.
 *   A figure that finds no Plotly says so in its div.
 * - The inlined plotly.js (4.8 MB) is stored in the notebook once, like plotly.py's offline mode.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { randomBytes } from "node:crypto";
import type { Figure } from "../experiment/display-sink.js";
import { displayBundle, inKernel, type MimeBundle } from "./tslab.js";

export type { Figure };

/** The MIME type plotly's own renderers (nteract, jupyterlab-plotly, VS Code) read. */
export const PLOTLY_MIME = "application/vnd.plotly.v1+json";

/** Escapes text for HTML element content and attribute values. */
export function escapeHtml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&#39;");
}

/**
 * JSON of a figure with plain arrays: typed arrays become arrays, bigints numbers, NaN/±Infinity null
 * (as JSON.stringify already does), undefined is dropped.
 */
export function figureJson(fig: Figure): string {
  return JSON.stringify(fig, (_key, value: unknown) => {
    if (ArrayBuffer.isView(value) && !(value instanceof DataView)) {
      return Array.from(value as unknown as ArrayLike<number | bigint>, (v) => (typeof v === "bigint" ? Number(v) : v));
    }
    if (typeof value === "bigint") return Number(value);
    return value;
  });
}

/** A figure as plain JSON data (for the plotly MIME bundle). */
export function plainFigure(fig: Figure): Figure {
  return JSON.parse(figureJson(fig)) as Figure;
}

/** JSON made safe inside a `<script>` element (no `</script>`, no `<!--`, no line separators). */
function scriptJson(json: string): string {
  return json
    .replace(/</g, "\\u003c")
    .replace(/>/g, "\\u003e")
    .replace(/&/g, "\\u0026")
    .replace(/\u2028/g, "\\u2028")
    .replace(/\u2029/g, "\\u2029");
}

let plotlySource: string | undefined;

/** The plotly.js bundle from `plotly.js-dist-min`, read once. */
export function plotlyJs(): string {
  if (plotlySource === undefined) {
    const file = createRequire(import.meta.url).resolve("plotly.js-dist-min/plotly.min.js");
    plotlySource = readFileSync(file, "utf8");
  }
  return plotlySource;
}

/** plotly.js's version, read from the bundle's header ("plotly.js v4.1.2"). */
export function plotlyVersion(): string {
  return /plotly\.js v(\d+\.\d+\.\d+\S*)/.exec(plotlyJs().slice(0, 500))?.[1] ?? "unknown";
}

/**
 * A `<script>` that defines `window.Plotly` from the inlined bundle unless the page already has it.
 * The bundle runs inside a function so the guard can skip it, with `module`/`exports`/`define` shadowed
 * so its UMD header takes the browser branch; the stray `window.moduleName` that header sets is undone.
 */
export function plotlyScriptTag(): string {
  // Nothing in plotly.min.js 4.1.2 contains "</script"; escape it anyway so a future bundle cannot end the element early.
  const code = plotlyJs().replace(/<\/script/gi, "<\\/script");
  return (
    `<script type="text/javascript">\n` +
    `/* plotly.js v${plotlyVersion()} (MIT, Plotly Inc.), inlined by crystal-rl once per kernel session */\n` +
    `(function () {\n` +
    `if (window.Plotly && window.Plotly.newPlot) return;\n` +
    `var module = undefined, exports = undefined, define = undefined;\n` +
    `var hadModuleName = Object.prototype.hasOwnProperty.call(window, "moduleName"), oldModuleName = window.moduleName;\n` +
    `${code}\n;\n` +
    `if (hadModuleName) window.moduleName = oldModuleName; else try { delete window.moduleName; } catch (e) { window.moduleName = undefined; }\n` +
    `})();\n` +
    `</script>`
  );
}

export interface FigureHtmlOptions {
  /** Put plotly.js itself in front of the figure (4.8 MB), for a page that has no Plotly. Default false. */
  inlinePlotly?: boolean;
  /** Return a whole document (`<!DOCTYPE html>` … `</html>`) rather than a fragment. Default false. */
  fullHtml?: boolean;
  /** The div's id; a random one by default. */
  divId?: string;
  /** CSS height of the div when the layout sets none (plotly's default is 450 px). */
  height?: string;
  /** Document title for `fullHtml`. */
  title?: string;
}

function figureTitle(fig: Figure): string {
  const t = fig.layout?.["title"];
  if (typeof t === "string") return t;
  if (t && typeof t === "object" && typeof (t as { text?: unknown }).text === "string") return (t as { text: string }).text;
  return "";
}

/**
 * A figure as HTML: a div and a script that draws it with `Plotly.newPlot` once both the div and
 * `window.Plotly` exist. With `inlinePlotly` the fragment carries plotly.js and works anywhere; with
 * `fullHtml` it is a whole document (what `saveFigureHtml` writes).
 *
 * @example
 * writeFileSync("energy.html", figureHtml(fig, { inlinePlotly: true, fullHtml: true }));
 */
export function figureHtml(fig: Figure, options: FigureHtmlOptions = {}): string {
  const { inlinePlotly = false, fullHtml = false } = options;
  const id = options.divId ?? `crl-plot-${randomBytes(6).toString("hex")}`;
  const layoutHeight = fig.layout?.["height"];
  const height = typeof layoutHeight === "number" ? `${layoutHeight}px` : (options.height ?? "450px");
  const layoutWidth = fig.layout?.["width"];
  const width = typeof layoutWidth === "number" ? `${layoutWidth}px` : "100%";
  const json = scriptJson(figureJson(fig));
  const idJson = JSON.stringify(id);
  const script =
    `<script type="text/javascript">\n` +
    `(function () {\n` +
    `  var id = ${idJson}, fig = ${json};\n` +
    `  var script = document.currentScript, waited = 0;\n` +
    `  function target() {\n` +
    `    var el = document.getElementById(id);\n` +
    `    if (!el && script && script.previousElementSibling && script.previousElementSibling.id === id) el = script.previousElementSibling;\n` +
    `    return el;\n` +
    `  }\n` +
    `  function draw() {\n` +
    `    var el = target();\n` +
    `    if (!el || !window.Plotly) return false;\n` +
    `    var config = Object.assign({ responsive: true, displaylogo: false }, fig.config || {});\n` +
    `    window.Plotly.newPlot(el, fig.data, fig.layout || {}, config);\n` +
    `    return true;\n` +
    `  }\n` +
    `  if (draw()) return;\n` +
    `  var timer = setInterval(function () {\n` +
    `    if (draw()) { clearInterval(timer); return; }\n` +
    `    waited += 100;\n` +
    `    if (waited >= 10000) {\n` +
    `      clearInterval(timer);\n` +
    `      var el = target();\n` +
    `      if (el && !window.Plotly) el.textContent = "plotly.js is not loaded in this page: run loadPlotly({ force: true }) from crystal-rl/notebook, then show the figure again.";\n` +
    `    }\n` +
    `  }, 100);\n` +
    `})();\n` +
    `</script>`;
  const div = `<div id="${escapeHtml(id)}" class="crystal-rl-plot" style="width:${width};height:${height};"></div>`;
  const body = (inlinePlotly ? plotlyScriptTag() + "\n" : "") + div + "\n" + script;
  if (!fullHtml) return body;
  const title = escapeHtml(options.title ?? (figureTitle(fig) || "figure"));
  return (
    `<!DOCTYPE html>\n<html>\n<head>\n<meta charset="utf-8">\n<title>${title}</title>\n</head>\n` +
    `<body style="margin:0;">\n${body}\n</body>\n</html>\n`
  );
}

/** Writes a figure as a standalone HTML file (plotly.js inlined: opens offline in any browser). */
export function saveFigureHtml(path: string, fig: Figure, options: Omit<FigureHtmlOptions, "fullHtml" | "inlinePlotly"> = {}): void {
  writeFileSync(path, figureHtml(fig, { ...options, inlinePlotly: true, fullHtml: true }));
}

/** A one-line text summary of a figure (the text/plain fallback). */
export function figureText(fig: Figure): string {
  const title = figureTitle(fig);
  const traces = fig.data.map((t) => {
    const name = String(t["name"] ?? t["type"] ?? "trace");
    const xs = t["x"] ?? t["y"] ?? t["values"];
    // Points, not entries: line traces separate their segments with nulls.
    const n = xs && typeof (xs as ArrayLike<unknown>).length === "number" ? Array.from(xs as ArrayLike<unknown>).filter((v) => v !== null).length : undefined;
    return n === undefined ? name : `${name} (${n} points)`;
  });
  return `<Figure${title ? ` "${title}"` : ""}: ${traces.length} trace${traces.length === 1 ? "" : "s"}${traces.length ? ": " + traces.join(", ") : ""}>`;
}

/** The bundle for one figure: HTML (div + script), the plotly JSON and a text fallback. */
export function figureBundle(fig: Figure, { plotlyJson = true }: { plotlyJson?: boolean } = {}): MimeBundle {
  const bundle: MimeBundle = { "text/html": figureHtml(fig) };
  if (plotlyJson) bundle[PLOTLY_MIME] = plainFigure(fig);
  bundle["text/plain"] = figureText(fig);
  return bundle;
}

// Session state on globalThis, so two copies of this module (src and dist) in one kernel agree.
const SENT = Symbol.for("crystal-rl.notebook.plotlySent");
type SessionState = { [SENT]?: boolean };

/** True once plotly.js has been sent to the front end in this kernel session. */
export function plotlyLoaded(): boolean {
  return (globalThis as SessionState)[SENT] === true;
}

/**
 * Sends plotly.js to the notebook (once per kernel session; `force` sends it again, for a reloaded
 * browser page). Returns true when it was sent now. Outside a kernel it does nothing.
 */
export function loadPlotly({ force = false }: { force?: boolean } = {}): boolean {
  if (!inKernel()) return false;
  if (plotlyLoaded() && !force) return false;
  const sent = displayBundle({
    "text/html": plotlyScriptTag(),
    "text/plain": `[plotly.js ${plotlyVersion()} inlined for offline figures]`,
  });
  if (sent) (globalThis as SessionState)[SENT] = true;
  return sent;
}

/** Forgets that plotly.js was sent, so the next figure inlines it again (tests, or a new page). */
export function forgetPlotly(): void {
  delete (globalThis as SessionState)[SENT];
}

/**
 * Shows a figure: in a kernel, plotly.js first if this session has not had it, then the figure (HTML,
 * plotly JSON, text); on a console a one-line summary.
 */
export function showFigure(fig: Figure): void {
  if (!inKernel()) {
    console.log(figureText(fig));
    return;
  }
  loadPlotly();
  displayBundle(figureBundle(fig));
}
