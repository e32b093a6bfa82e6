/**
 * The figures users ask of runs, as plotly.js JSON (`Figure`), for the display sink or any plotly:
 *
 * - `forceConvergenceFigure(metrics)`: log fmax against step, one line per method: the median across
 *   structures with the 25–75 % band shaded. A structure that stopped (converged or failed) keeps its
 *   last fmax for the later steps, so the median falls as structures converge.
 * - `learningCurveFigure(records, { smoothing, bySeed, band })`: a training metric (episodic return)
 *   against step, EMA-smoothed as TensorBoard does (debiased), mean across seeds with a min–max or
 *   mean ± sd band; `bySeed` also draws each seed faintly.
 * - `forceCallsBar(table)`: mean force calls per method over converged relaxations (C_mean of the
 *   MACS paper), ± one standard deviation, failure % on each bar.
 *
 * @example
 * displaySink().figure(forceConvergenceFigure(run.metrics(), { fmax: 0.05 }));
 */
import type { Figure } from "./display-sink.js";
import type { TrainRecord } from "./method.js";

/** Rows as an array, or an arquero table (anything with `objects()`). */
export type Rows<T> = readonly T[] | { objects(): object[] };

export function rowsOf<T>(rows: Rows<T>): T[] {
  return Array.isArray(rows) ? [...(rows as readonly T[])] : ((rows as { objects(): object[] }).objects() as T[]);
}

/** plotly's default colour cycle (D3 category10). */
export const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];

export const colour = (i: number): string => PALETTE[i % PALETTE.length]!;

export function rgba(hex: string, alpha: number): string {
  const n = parseInt(hex.slice(1), 16);
  return `rgba(${(n >> 16) & 255}, ${(n >> 8) & 255}, ${n & 255}, ${alpha})`;
}

/** The q-quantile of sorted values, linear between order statistics (NumPy's default). */
export function quantileSorted(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

/** Indices 0..n-1 thinned to at most `max`, the last always kept. */
function thin(n: number, max: number): number[] {
  if (n <= max) return Array.from({ length: n }, (_, i) => i);
  const stride = (n - 1) / (max - 1);
  const out: number[] = [];
  for (let i = 0; i < max; i++) out.push(Math.round(i * stride));
  return [...new Set(out)];
}

/** A series label: the method, or "run · method" when rows come from several runs. */
export function seriesOf(rows: readonly { method: string; run?: unknown }[]): (r: { method: string; run?: unknown }) => string {
  const runs = new Set(rows.map((r) => r.run).filter((r) => r !== undefined && r !== null));
  return runs.size > 1 ? (r) => `${String(r.run)} · ${r.method}` : (r) => r.method;
}

export interface ConvergenceOptions {
  /** Threshold drawn as a dashed line (eV/Å). */
  fmax?: number;
  title?: string;
  /** Most points per line (steps are thinned evenly beyond it). Default 2000. */
  maxPoints?: number;
}

/** Per series, per structure: fmax by step. */
export type FmaxSeries = Map<string, Map<number, number[]>>;

/** Groups step records into fmax series (records need not be ordered). */
export function fmaxSeries(records: Rows<{ method: string; structure: number; step: number; fmax: number | null; run?: unknown }>): FmaxSeries {
  const rows = rowsOf(records);
  const label = seriesOf(rows);
  const out: FmaxSeries = new Map();
  for (const r of rows) {
    const s = label(r);
    let byStructure = out.get(s);
    if (!byStructure) out.set(s, (byStructure = new Map()));
    let xs = byStructure.get(r.structure);
    if (!xs) byStructure.set(r.structure, (xs = []));
    xs[r.step] = r.fmax ?? NaN;
  }
  return out;
}

/** The convergence figure from fmax series (what the live plot redraws). */
export function convergenceFigureFromSeries(series: FmaxSeries, options: ConvergenceOptions = {}): Figure {
  const data: Record<string, unknown>[] = [];
  let i = 0;
  for (const [name, byStructure] of series) {
    const curves = [...byStructure.values()].map(fillGaps).filter((c) => c.length > 0);
    const last = Math.max(0, ...curves.map((c) => c.length - 1));
    const steps = thin(last + 1, options.maxPoints ?? 2000);
    const q25: number[] = [];
    const q50: number[] = [];
    const q75: number[] = [];
    for (const s of steps) {
      const v = curves.map((c) => c[Math.min(s, c.length - 1)]!).filter(Number.isFinite).sort((a, b) => a - b);
      q25.push(quantileSorted(v, 0.25));
      q50.push(quantileSorted(v, 0.5));
      q75.push(quantileSorted(v, 0.75));
    }
    const c = colour(i++);
    const common = { x: steps, type: "scatter", mode: "lines", legendgroup: name, hoverinfo: "skip", showlegend: false };
    data.push({ ...common, name: `${name} 25 %`, y: q25, line: { width: 0, color: c } });
    data.push({ ...common, name: `${name} 75 %`, y: q75, line: { width: 0, color: c }, fill: "tonexty", fillcolor: rgba(c, 0.2) });
    data.push({
      x: steps,
      y: q50,
      type: "scatter",
      mode: "lines",
      name,
      legendgroup: name,
      line: { color: c, width: 2 },
      hovertemplate: `${name}<br>step %{x}<br>median fmax %{y:.3g} eV/Å<extra>${curves.length} structures</extra>`,
    });
  }
  const layout: Record<string, unknown> = {
    title: { text: options.title ?? "Force convergence (median, 25–75 % band)" },
    xaxis: { title: { text: "step" } },
    yaxis: { title: { text: "fmax (eV/Å)" }, type: "log", dtick: 1, exponentformat: "power" }, // one label per decade
    legend: { title: { text: "method" } },
  };
  if (options.fmax !== undefined) {
    layout["shapes"] = [
      { type: "line", xref: "paper", x0: 0, x1: 1, yref: "y", y0: options.fmax, y1: options.fmax, line: { dash: "dash", color: "#888", width: 1 } },
    ];
  }
  return { data, layout };
}

/** Holes (steps not recorded) take the previous value. */
function fillGaps(xs: number[]): number[] {
  const out = Array.from(xs, (v) => v);
  for (let k = 0; k < out.length; k++) if (out[k] === undefined) out[k] = k > 0 ? out[k - 1]! : NaN;
  return out;
}

/** Log fmax against step, one line per method: the median across structures with a 25–75 % band. */
export function forceConvergenceFigure(
  metrics: Rows<{ method: string; structure: number; step: number; fmax: number | null; run?: unknown }>,
  options: ConvergenceOptions = {},
): Figure {
  return convergenceFigureFromSeries(fmaxSeries(metrics), options);
}

// -------------------------------------------------------------------------------------------------
// Learning curves

export interface LearningCurveOptions {
  /** The metric to draw. Default: the first of `charts/episodic_return`, `return`, `reward`, `episodic_return` present. */
  metric?: string;
  /** The x column. Default `step`. */
  x?: string;
  /** EMA weight in [0, 1): 0 draws the raw values; TensorBoard's default is 0.6. Default 0.6. */
  smoothing?: number;
  /** Draw each seed's smoothed curve too (thin). Default false. */
  bySeed?: boolean;
  /** Shade across seeds: min–max, mean ± sd, or nothing. Default "minmax". */
  band?: "minmax" | "sd" | "none";
  title?: string;
  /** Most points per line. Default 1000. */
  maxPoints?: number;
}

const METRIC_GUESSES = ["charts/episodic_return", "return", "reward", "episodic_return"];

/** TensorBoard's smoothing: an exponential moving average, debiased for its zero start. */
export function emaSmooth(ys: readonly number[], weight: number): number[] {
  if (!(weight >= 0 && weight < 1)) throw new RangeError(`smoothing must lie in [0, 1), got ${weight}`);
  const out: number[] = [];
  let last = 0;
  let n = 0;
  for (const y of ys) {
    if (!Number.isFinite(y)) {
      out.push(NaN);
      continue;
    }
    last = last * weight + (1 - weight) * y;
    n++;
    out.push(last / (1 - weight ** n));
  }
  return out;
}

/** Linear interpolation of (xs, ys) at x, undefined outside [xs[0], xs[last]]. */
function interpolate(xs: readonly number[], ys: readonly number[], x: number): number | undefined {
  if (xs.length === 0 || x < xs[0]! || x > xs[xs.length - 1]!) return undefined;
  let lo = 0;
  let hi = xs.length - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (xs[mid]! <= x) lo = mid;
    else hi = mid;
  }
  if (xs[lo] === x || hi === lo) return ys[lo];
  if (xs[hi] === x) return ys[hi];
  const t = (x - xs[lo]!) / (xs[hi]! - xs[lo]!);
  return ys[lo]! + t * (ys[hi]! - ys[lo]!);
}

/**
 * A training metric against step, one line per method (`method` column; one series when absent),
 * EMA-smoothed per seed (`seed` column; one seed when absent), the mean across seeds drawn bold with
 * the seeds' spread shaded.
 */
export function learningCurveFigure(records: Rows<Record<string, unknown>>, options: LearningCurveOptions = {}): Figure {
  const rows = rowsOf(records);
  const xKey = options.x ?? "step";
  const metric = options.metric ?? METRIC_GUESSES.find((m) => rows.some((r) => typeof r[m] === "number"));
  if (!metric) throw new RangeError(`learningCurveFigure: no metric given and none of ${METRIC_GUESSES.join(", ")} in the records`);
  const smoothing = options.smoothing ?? 0.6;
  const band = options.band ?? "minmax";
  // series -> seed -> points
  const groups = new Map<string, Map<string, { x: number; y: number }[]>>();
  for (const r of rows) {
    const y = r[metric];
    const x = r[xKey];
    if (typeof y !== "number" || typeof x !== "number") continue;
    const s = r["method"] === undefined ? metric : String(r["method"]);
    const seed = r["seed"] === undefined ? "0" : String(r["seed"]);
    let bySeed = groups.get(s);
    if (!bySeed) groups.set(s, (bySeed = new Map()));
    let pts = bySeed.get(seed);
    if (!pts) bySeed.set(seed, (pts = []));
    pts.push({ x, y });
  }
  const data: Record<string, unknown>[] = [];
  let i = 0;
  for (const [name, bySeed] of groups) {
    const c = colour(i++);
    const curves = [...bySeed.entries()].map(([seed, pts]) => {
      pts.sort((a, b) => a.x - b.x);
      return { seed, xs: pts.map((p) => p.x), ys: emaSmooth(pts.map((p) => p.y), smoothing) };
    });
    const grid = [...new Set(curves.flatMap((cv) => cv.xs))].sort((a, b) => a - b);
    const xs = thin(grid.length, options.maxPoints ?? 1000).map((k) => grid[k]!);
    const mean: number[] = [];
    const lo: number[] = [];
    const hi: number[] = [];
    for (const x of xs) {
      const v = curves.map((cv) => interpolate(cv.xs, cv.ys, x)).filter((y): y is number => y !== undefined && Number.isFinite(y));
      const m = v.reduce((a, b) => a + b, 0) / v.length;
      mean.push(m);
      if (band === "sd") {
        const sd = v.length > 1 ? Math.sqrt(v.reduce((a, b) => a + (b - m) ** 2, 0) / (v.length - 1)) : 0;
        lo.push(m - sd);
        hi.push(m + sd);
      } else {
        lo.push(Math.min(...v));
        hi.push(Math.max(...v));
      }
    }
    if (band !== "none" && curves.length > 1) {
      const common = { x: xs, type: "scatter", mode: "lines", legendgroup: name, hoverinfo: "skip", showlegend: false };
      const what = band === "sd" ? "sd" : "range";
      data.push({ ...common, name: `${name} ${what} low`, y: lo, line: { width: 0, color: c } });
      data.push({ ...common, name: `${name} ${what} high`, y: hi, line: { width: 0, color: c }, fill: "tonexty", fillcolor: rgba(c, 0.2) });
    }
    if (options.bySeed) {
      for (const cv of curves) {
        data.push({
          x: cv.xs,
          y: cv.ys,
          type: "scatter",
          mode: "lines",
          name: `${name} seed ${cv.seed}`,
          legendgroup: name,
          showlegend: false,
          line: { color: c, width: 1 },
          opacity: 0.35,
        });
      }
    }
    data.push({
      x: xs,
      y: mean,
      type: "scatter",
      mode: "lines",
      name,
      legendgroup: name,
      line: { color: c, width: 2 },
      hovertemplate: `${name}<br>step %{x}<br>${metric} %{y:.4g}<extra>${curves.length} seed${curves.length === 1 ? "" : "s"}</extra>`,
    });
  }
  return {
    data,
    layout: {
      title: { text: options.title ?? `${metric} (EMA ${smoothing})` },
      xaxis: { title: { text: xKey } },
      yaxis: { title: { text: metric } },
      legend: { title: { text: "method" } },
    },
  };
}

// -------------------------------------------------------------------------------------------------
// Bars

/** Mean force calls per method over converged relaxations (± sd), failure % written on the bars. */
export function forceCallsBar(
  table: Rows<{ method: string; forceCalls: number; converged: boolean; run?: unknown }>,
  options: { title?: string } = {},
): Figure {
  const rows = rowsOf(table);
  const label = seriesOf(rows);
  const groups = new Map<string, { calls: number[]; n: number }>();
  for (const r of rows) {
    const s = label(r);
    let g = groups.get(s);
    if (!g) groups.set(s, (g = { calls: [], n: 0 }));
    g.n++;
    if (r.converged) g.calls.push(r.forceCalls);
  }
  const names = [...groups.keys()];
  const means: (number | null)[] = [];
  const sds: number[] = [];
  const text: string[] = [];
  for (const name of names) {
    const g = groups.get(name)!;
    const m = g.calls.length ? g.calls.reduce((a, b) => a + b, 0) / g.calls.length : null;
    means.push(m);
    sds.push(m !== null && g.calls.length > 1 ? Math.sqrt(g.calls.reduce((a, b) => a + (b - m) ** 2, 0) / (g.calls.length - 1)) : 0);
    text.push(`${((100 * (g.n - g.calls.length)) / g.n).toFixed(1)} % failed`);
  }
  return {
    data: [
      {
        type: "bar",
        name: "force calls",
        x: names,
        y: means,
        error_y: { type: "data", array: sds, visible: true },
        text,
        textposition: "outside",
        marker: { color: names.map((_, i) => colour(i)) },
        hovertemplate: "%{x}<br>C_mean %{y:.1f}<br>%{text}<extra></extra>",
      },
    ],
    layout: {
      title: { text: options.title ?? "Force calls per relaxation (mean over converged, ± sd)" },
      xaxis: { title: { text: "method" } },
      yaxis: { title: { text: "force calls" } },
      showlegend: false,
    },
  };
}

/**
 * MACS training as one figure of three panels sharing the step axis: episodic returns with their moving
 * average, the batch's fmax (median, min-max band, the 0.05 eV/Å target; log scale), and the critic,
 * imitation and actor losses; the imitation phase is shaded. `records` are `macsTraining`'s; redraw it
 * with `livePlot(...).update(macsTrainingFigure(records, ...))` as they come.
 */
export function macsTrainingFigure(records: readonly TrainRecord[], options: { imitationSteps?: number; title?: string } = {}): Figure {
  const { title = "MACS training" } = options;
  // the imitation phase from the options, else from the run's own first record (`config/imitation_steps`)
  const imitationSteps = options.imitationSteps ?? Number(records.filter((r) => typeof r["config/imitation_steps"] === "number").pop()?.["config/imitation_steps"] ?? 0);
  const num = (r: TrainRecord, k: string): number | null => (typeof r[k] === "number" && Number.isFinite(r[k]) ? (r[k] as number) : null);
  const steps = (rs: readonly TrainRecord[]) => rs.map((r) => r.step);
  const col = (rs: readonly TrainRecord[], k: string) => rs.map((r) => num(r, k));
  const episodes = records.filter((r) => num(r, "charts/episodic_return") !== null);
  const logs = records.filter((r) => num(r, "charts/fmax_median") !== null);
  const returns = col(episodes, "charts/episodic_return") as number[];
  // the moving average once per step (episodes that end on the same step share one x)
  const ema = emaSmooth(returns, 0.9);
  const at = episodes.map((r, i) => i).filter((i) => i + 1 === episodes.length || episodes[i + 1]!.step !== episodes[i]!.step);
  const last = records.length ? records[records.length - 1]!.step : 0;
  const data: Record<string, unknown>[] = [
    { x: steps(episodes), y: returns, type: "scatter", mode: "markers", name: "episodic return", marker: { size: 4, opacity: 0.35, color: "#1f77b4" } },
    { x: at.map((i) => episodes[i]!.step), y: at.map((i) => ema[i]), type: "scatter", mode: "lines", name: "return, moving average", line: { color: "#1f77b4" } },
    { x: steps(logs), y: col(logs, "charts/fmax_max"), yaxis: "y2", type: "scatter", mode: "lines", line: { width: 0, color: "#ff7f0e" }, name: "fmax, max of the batch", showlegend: false, hoverinfo: "skip" },
    { x: steps(logs), y: col(logs, "charts/fmax_min"), yaxis: "y2", type: "scatter", mode: "lines", line: { width: 0, color: "#ff7f0e" }, fill: "tonexty", fillcolor: "rgba(255,127,14,0.2)", name: "fmax, min-max of the batch" },
    { x: steps(logs), y: col(logs, "charts/fmax_median"), yaxis: "y2", type: "scatter", mode: "lines", line: { color: "#ff7f0e" }, name: "fmax, median of the batch" },
    { x: [0, last], y: [0.05, 0.05], yaxis: "y2", type: "scatter", mode: "lines", line: { dash: "dash", color: "grey" }, name: "fmax target 0.05 eV/Å" },
  ];
  for (const [k, colour] of [["losses/qf_loss", "#2ca02c"], ["losses/imitation_loss", "#9467bd"], ["losses/actor_loss", "#d62728"]]) {
    const rs = logs.filter((r) => num(r, k!) !== null);
    if (rs.length) data.push({ x: steps(rs), y: col(rs, k!), yaxis: "y3", type: "scatter", mode: "lines", line: { color: colour }, name: k!.replace("losses/", "") });
  }
  return {
    data,
    layout: {
      title: { text: `${title}: step ${last.toLocaleString()}` },
      height: 720,
      legend: { traceorder: "normal" },
      grid: { rows: 3, columns: 1, pattern: "coupled", roworder: "top to bottom" },
      xaxis: { title: { text: "env steps (summed over structures)" } },
      yaxis: { title: { text: "episodic return" } },
      yaxis2: { title: { text: "fmax (eV/Å)" }, type: "log" },
      yaxis3: { title: { text: "loss" } },
      shapes: [{ type: "rect", xref: "x", yref: "paper", x0: 0, x1: Math.min(imitationSteps, last), y0: 0, y1: 1, fillcolor: "rgba(148,103,189,0.08)", line: { width: 0 }, layer: "below" }],
      annotations: [
        { text: "imitation: the teacher moves the atoms", x: Math.min(imitationSteps, last) / 2, y: 1.02 },
        ...(last > imitationSteps ? [{ text: "SAC: the policy moves them", x: (imitationSteps + last) / 2, y: 1.02 }] : []),
      ].filter(() => last > 0).map((a) => ({ ...a, xref: "x", yref: "paper", showarrow: false, yanchor: "bottom", font: { size: 11, color: "#555" } })),
    },
  };
}

/**
 * The figure for a method's training records: `macsTrainingFigure` for MACS's (they carry the batch's
 * fmax), `learningCurveFigure` for any other's. What `.train(...).live()` draws.
 */
export function trainingFigure(records: readonly TrainRecord[], options: { title?: string } = {}): Figure {
  const macs = records.some((r) => typeof r["charts/fmax_median"] === "number" || typeof r["config/imitation_steps"] === "number");
  return macs ? macsTrainingFigure(records, options) : learningCurveFigure(records as never, options);
}
