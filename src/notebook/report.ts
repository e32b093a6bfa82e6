/**
 * A benchmark run as one standalone HTML report (plotly.js inlined once, so it opens offline):
 * title, date, machine and the run's settings; the comparison table (n, N_mean, C_mean, T_mean, P_F
 * per method, as the MACS paper reports); fmax against force calls, one thin line per relaxation and
 * the median bold, coloured by method; and the mean force calls per method as bars.
 *
 * It lives in notebook/ rather than experiment/ because it needs the HTML helpers of ./plotly.ts and
 * experiment/ never imports notebook/ (design.md); notebooks, `crystal-rl demo` and bench may use it.
 *
 * @example
 * const run = await experiment("sto").structures(random({ composition: "SrTiO3", atoms: 40, count: 6, seed: 1 }))
 *   .calculator("ionic").methods(["fire", "bfgsls"]).run();
 * saveRunReport("report.html", run);
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { dirname } from "node:path";
import type { Figure } from "../experiment/display-sink.js";
import { colour, forceCallsBar, quantileSorted } from "../experiment/figures.js";
import type { Run } from "../experiment/run.js";
import { escapeHtml, figureHtml, plotlyScriptTag } from "./plotly.js";

/** One method's line of the comparison table: means over converged relaxations (null when none). */
export interface ReportSummaryRow {
  method: string;
  /** Relaxations. */
  n: number;
  N_mean: number | null;
  C_mean: number | null;
  T_mean: number | null;
  /** Failure rate, %. */
  P_F: number;
}

/** What a report shows; `runReportData(run)` fills it from a run. */
export interface ReportData {
  title: string;
  date: Date;
  /** Label/value lines under the title (machine, composition, seed, ...), in order. */
  facts: [string, string][];
  /** Remarks shown before the table (e.g. a method that was skipped and why). */
  notes?: string[];
  /** Methods in table and colour order. */
  methods: string[];
  summary: ReportSummaryRow[];
  /** One row per relaxation. */
  relaxations: { method: string; structure: number; forceCalls: number; converged: boolean }[];
  /** Step records of the relaxations. */
  metrics: { method: string; structure: number; step: number; fmax: number | null; forceCalls: number }[];
  /** Convergence threshold (eV/Å), drawn dashed. */
  fmax?: number;
}

export interface RunReportOptions {
  title?: string;
  /** Extra label/value lines, after the run's own. */
  facts?: [string, string][];
  notes?: string[];
}

// -------------------------------------------------------------------------------------------------
// Figures

/** Indices 0..n-1 thinned to at most `max`, first and last kept. */
function thin(n: number, max: number): number[] {
  if (n <= max) return Array.from({ length: n }, (_, i) => i);
  const stride = (n - 1) / (max - 1);
  return [...new Set(Array.from({ length: max }, (_, i) => Math.round(i * stride)))];
}

export interface ForceCallConvergenceOptions {
  /** Threshold drawn as a dashed line (eV/Å). */
  fmax?: number;
  title?: string;
  /** Method order (and so colours); default order of appearance. */
  methods?: string[];
  /** Most points per line. Default 400. */
  maxPoints?: number;
}

/**
 * fmax (log) against force calls: one thin line per relaxation, and per method the median over its
 * relaxations drawn bold. Force calls, not steps, on x: that is the cost MACS is judged on, and line
 * searches spend several calls per step. A finished relaxation holds its last fmax, so the median
 * drops below the threshold once half the structures converged.
 */
export function forceCallConvergenceFigure(
  metrics: readonly { method: string; structure: number; step: number; fmax: number | null; forceCalls: number }[],
  options: ForceCallConvergenceOptions = {},
): Figure {
  const maxPoints = options.maxPoints ?? 400;
  // method -> structure -> records by step
  const groups = new Map<string, Map<number, { step: number; calls: number; fmax: number }[]>>();
  for (const m of options.methods ?? []) groups.set(m, new Map());
  for (const r of metrics) {
    let byStructure = groups.get(r.method);
    if (!byStructure) groups.set(r.method, (byStructure = new Map()));
    let rs = byStructure.get(r.structure);
    if (!rs) byStructure.set(r.structure, (rs = []));
    rs.push({ step: r.step, calls: r.forceCalls, fmax: r.fmax ?? NaN });
  }
  const lines: Record<string, unknown>[] = [];
  const medians: Record<string, unknown>[] = [];
  let i = -1;
  for (const [method, byStructure] of groups) {
    const c = colour(++i);
    const curves = [...byStructure.entries()].map(([structure, rs]) => {
      rs.sort((a, b) => a.step - b.step);
      return { structure, calls: rs.map((r) => r.calls), fmax: rs.map((r) => r.fmax) };
    });
    if (curves.length === 0) continue;
    for (const cv of curves) {
      const k = thin(cv.calls.length, maxPoints);
      lines.push({
        x: k.map((j) => cv.calls[j]),
        y: k.map((j) => cv.fmax[j]),
        type: "scatter",
        mode: "lines",
        name: `${method} #${cv.structure}`,
        legendgroup: method,
        showlegend: false,
        line: { color: c, width: 1 },
        opacity: 0.35,
        hovertemplate: `${method}, structure ${cv.structure}<br>%{x} force calls<br>fmax %{y:.3g} eV/Å<extra></extra>`,
      });
    }
    // Median on a grid of force calls: each relaxation's latest fmax at or before that many calls.
    const first = Math.min(...curves.map((cv) => cv.calls[0]!));
    const last = Math.max(...curves.map((cv) => cv.calls[cv.calls.length - 1]!));
    const grid = thin(last - first + 1, maxPoints).map((k) => first + k);
    const at = curves.map(() => -1);
    const ys: number[] = [];
    for (const x of grid) {
      const v: number[] = [];
      curves.forEach((cv, j) => {
        while (at[j]! + 1 < cv.calls.length && cv.calls[at[j]! + 1]! <= x) at[j]!++;
        if (at[j]! >= 0 && Number.isFinite(cv.fmax[at[j]!]!)) v.push(cv.fmax[at[j]!]!);
      });
      ys.push(quantileSorted(v.sort((a, b) => a - b), 0.5));
    }
    medians.push({
      x: grid,
      y: ys,
      type: "scatter",
      mode: "lines",
      name: method,
      legendgroup: method,
      line: { color: c, width: 3 },
      hovertemplate: `${method} median<br>%{x} force calls<br>fmax %{y:.3g} eV/Å<extra>${curves.length} relaxations</extra>`,
    });
  }
  const layout: Record<string, unknown> = {
    title: { text: options.title ?? "Force convergence (thin: each relaxation; bold: median)" },
    xaxis: { title: { text: "force calls" } },
    yaxis: { title: { text: "fmax (eV/Å)" }, type: "log", dtick: 1, exponentformat: "power" },
    legend: { title: { text: "method" } },
  };
  if (options.fmax !== undefined) {
    layout["shapes"] = [
      { type: "line", xref: "paper", x0: 0, x1: 1, yref: "y", y0: options.fmax, y1: options.fmax, line: { dash: "dash", color: "#888", width: 1 } },
    ];
  }
  // Medians last, so they draw on top of the thin lines.
  return { data: [...lines, ...medians], layout };
}

// -------------------------------------------------------------------------------------------------
// The page

const fmt = (x: number | null, digits: number): string => (x === null || !Number.isFinite(x) ? "–" : x.toFixed(digits));

function summaryTable(rows: readonly ReportSummaryRow[]): string {
  const calls = rows.map((r) => r.C_mean).filter((x): x is number => x !== null && Number.isFinite(x));
  const best = calls.length > 1 ? Math.min(...calls) : null;
  const head = ["method", "n", "N_mean", "C_mean", "T_mean (s)", "P_F (%)"].map((h, i) => `<th${i ? ' class="num"' : ""}>${escapeHtml(h)}</th>`).join("");
  const body = rows
    .map((r) => {
      const c = fmt(r.C_mean, 1);
      const cells = [
        `<td>${escapeHtml(r.method)}</td>`,
        `<td class="num">${r.n}</td>`,
        `<td class="num">${fmt(r.N_mean, 1)}</td>`,
        `<td class="num">${r.C_mean !== null && r.C_mean === best ? `<strong>${c}</strong>` : c}</td>`,
        `<td class="num">${fmt(r.T_mean, 3)}</td>`,
        `<td class="num">${fmt(r.P_F, 1)}</td>`,
      ];
      return `<tr>${cells.join("")}</tr>`;
    })
    .join("\n");
  return `<table class="summary">\n<thead><tr>${head}</tr></thead>\n<tbody>\n${body}\n</tbody>\n</table>`;
}

const STYLE = `body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto; max-width: 1100px; padding: 0 1em; color: #222; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; }
h2 { font-size: 1.15em; margin-top: 1.8em; }
.sub { color: #666; margin-top: 0; }
dl { display: grid; grid-template-columns: max-content auto; gap: 0.15em 1em; }
dt { color: #666; }
dd { margin: 0; }
.note { background: #fff7e0; border-left: 4px solid #e0a800; padding: 0.4em 0.8em; }
table.summary { border-collapse: collapse; font-variant-numeric: tabular-nums; }
table.summary th, table.summary td { padding: 3px 10px; }
table.summary th { border-bottom: 1px solid #999; text-align: left; }
table.summary .num { text-align: right; }
.caption { color: #666; font-size: smaller; }`;

/** The report as a standalone HTML document (plotly.js inlined once, about 4.8 MB). */
export function reportHtml(data: ReportData): string {
  const order = data.methods;
  const rank = (m: string): number => (order.includes(m) ? order.indexOf(m) : order.length);
  const relaxations = [...data.relaxations].sort((a, b) => rank(a.method) - rank(b.method) || a.structure - b.structure);
  const convergence = forceCallConvergenceFigure(data.metrics, { fmax: data.fmax, methods: order });
  const bars = forceCallsBar(relaxations);
  const date = data.date.toISOString().slice(0, 16).replace("T", " ") + " UTC";
  const facts = data.facts.map(([k, v]) => `<dt>${escapeHtml(k)}</dt><dd>${escapeHtml(v)}</dd>`).join("\n");
  const notes = (data.notes ?? []).map((n) => `<p class="note">${escapeHtml(n)}</p>`).join("\n");
  const fmaxNote = data.fmax !== undefined ? `, fmax ${data.fmax} eV/Å (largest per-atom force norm)` : "";
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${escapeHtml(data.title)}</title>
<style>
${STYLE}
</style>
</head>
<body>
<h1>${escapeHtml(data.title)}</h1>
<p class="sub">${escapeHtml(date)}</p>
<dl>
${facts}
</dl>
${notes}
<h2>Comparison</h2>
${summaryTable(data.summary)}
<p class="caption">n relaxations per method${escapeHtml(fmaxNote)}. N_mean steps, C_mean force calls and T_mean seconds are means over the converged relaxations (– when none converged); P_F is the failure rate. Bold: fewest force calls.</p>
${plotlyScriptTag()}
<h2>Force convergence</h2>
${figureHtml(convergence, { divId: "crystal-rl-convergence", height: "520px" })}
<h2>Force calls</h2>
${figureHtml(bars, { divId: "crystal-rl-force-calls" })}
</body>
</html>
`;
}

/** The report's data from a run's store: its summary, relaxations, step records and settings. */
export function runReportData(run: Run, options: RunReportOptions = {}): ReportData {
  const config = run.config;
  const methods = run.methods;
  const relaxations = run.results().map(({ method, structure, forceCalls, converged }) => ({ method, structure, forceCalls, converged }));
  const metrics = run.metricRecords().map(({ method, structure, step, fmax, forceCalls }) => ({ method, structure, step, fmax, forceCalls }));
  const byMethod = new Map((run.summary().objects() as Record<string, unknown>[]).map((r) => [String(r["method"]), r]));
  const num = (x: unknown): number | null => (typeof x === "number" && Number.isFinite(x) ? x : null);
  const summary = methods.map((method) => {
    const s = byMethod.get(method);
    return { method, n: num(s?.["count"]) ?? 0, N_mean: num(s?.["N_mean"]), C_mean: num(s?.["C_mean"]), T_mean: num(s?.["T_mean"]), P_F: num(s?.["P_F"]) ?? 100 };
  });
  // The machine the run was recorded on (config.json), else this one.
  const m = config.machine ?? {};
  const model = String(m["cpuModel"] ?? cpus()[0]?.model.trim() ?? "unknown CPU");
  const cores = Number(m["cpus"] ?? cpus().length);
  const formulas = [...new Set(config.structures.formulas)];
  const natoms = [...new Set(config.structures.natoms)];
  const source = config.structures.source;
  const os = [m["platform"], m["arch"]].filter((x) => x !== undefined).join(" ");
  const facts: [string, string][] = [["machine", `${model}, ${cores} cores${os ? ` (${os})` : ""}`]];
  if (source.kind === "random") {
    const o = source.options;
    facts.push(["structures", `${config.structures.count} random ${String(o["composition"] ?? formulas.join(", "))}, ${natoms.join("/")} atoms`]);
    if (o["seed"] !== undefined) facts.push(["seed", String(o["seed"])]);
  } else {
    facts.push(["structures", `${config.structures.count} (${formulas.join(", ")}), ${natoms.join("/")} atoms`]);
  }
  facts.push(["calculator", config.calculator.name]);
  facts.push(["convergence", `fmax ${config.settings.fmax} eV/Å, at most ${config.settings.steps} steps`]);
  facts.push(["run", `${run.id} in ${run.store}`]);
  facts.push(...(options.facts ?? []));
  return {
    title: options.title ?? `${config.name}: ${methods.join(" vs ")}`,
    date: new Date(config.created),
    facts,
    notes: options.notes,
    methods,
    summary,
    relaxations,
    metrics,
    fmax: config.settings.fmax,
  };
}

/** A run's report as HTML. */
export function runReportHtml(run: Run, options: RunReportOptions = {}): string {
  return reportHtml(runReportData(run, options));
}

/** Writes a run's report (creating the folder), returns the path. */
export function saveRunReport(path: string, run: Run, options: RunReportOptions = {}): string {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, runReportHtml(run, options));
  return path;
}
