/**
 * Run results as arquero tables. `DataTable` wraps any arquero table with what a notebook user wants
 * of it (show it as HTML, export to CSV / JSON / Arrow / danfo); `ResultTable` is the table of
 * relaxations (one row each: method, structure, formula, natoms, steps, forceCalls, seconds,
 * converged, energy, fmax) with its MACS-style summary and plots. The arquero table itself is `.table`:
 * chain its verbs as usual, and `.with(t => ...)` to keep the helpers.
 *
 * @example
 * const results = run.table();
 * results.view();                                         // HTML in the notebook
 * results.summary().view();                               // N_mean, C_mean, T_mean, P_F per method
 * results.plot("forceCalls");                             // bars; "convergence" for fmax curves
 * results.table.filter((d) => d.natoms > 20).groupby("method").count();
 * results.with((t) => t.filter((d) => d.method === "fire")).plot("convergence");
 * writeFileSync("results.arrow", results.toArrowIPC());
 */
import * as aq from "arquero";
import type { ColumnTable } from "arquero";
import { displaySink, type Figure } from "./display-sink.js";
import { forceCallsBar, forceConvergenceFigure, seriesOf } from "./figures.js";

type Row = Record<string, unknown>;

const DANFO = "danfojs-node";

/** An arquero table with display and export helpers. Immutable: `with` returns a new one. */
export class DataTable {
  constructor(
    /** The arquero table: use its verbs (`filter`, `groupby`, `rollup`, `orderby`, ...) directly. */
    readonly table: ColumnTable,
  ) {}

  get numRows(): number {
    return this.table.numRows();
  }

  columnNames(): string[] {
    return this.table.columnNames();
  }

  /** The rows as plain objects. */
  objects(): Row[] {
    return this.table.objects() as Row[];
  }

  /** The values of one column. */
  array(column: string): unknown[] {
    return Array.from(this.table.array(column) as ArrayLike<unknown>);
  }

  /** A new DataTable from an arquero verb chain on this one. */
  with(fn: (t: ColumnTable) => ColumnTable): DataTable {
    return new DataTable(fn(this.table));
  }

  /** Numbers with 4 decimals from 1 up (-489.6745, 16.6667), 4 significant digits below (0.0532), no trailing zeros. */
  private formats(): Record<string, (v: unknown) => string> {
    const out: Record<string, (v: unknown) => string> = {};
    for (const name of this.table.columnNames()) {
      out[name] = (v) => {
        if (typeof v !== "number" || Number.isInteger(v) || !Number.isFinite(v)) return String(v ?? "");
        return String(Number(Math.abs(v) >= 1 ? v.toFixed(4) : v.toPrecision(4)));
      };
    }
    return out;
  }

  /** HTML of the first `limit` rows (default 50), with a line saying how many were left out. */
  toHTML({ limit = 50, caption }: { limit?: number; caption?: string } = {}): string {
    const n = this.numRows;
    const html = aq.toHTML(this.table, { limit, format: this.formats(), null: () => "" });
    const more = n > limit ? `<p style="font-size: smaller">… ${n - limit} more rows (${n} in all)</p>` : "";
    const cap = caption ? `<p><b>${escapeHtml(caption)}</b></p>` : "";
    return `${cap}${html}${more}`;
  }

  /** Markdown of the first `limit` rows (the plain-text fallback). */
  toMarkdown({ limit = 50 }: { limit?: number } = {}): string {
    const n = this.numRows;
    return aq.toMarkdown(this.table, { limit, format: this.formats() }) + (n > limit ? `\n… ${n - limit} more rows (${n} in all)\n` : "");
  }

  toString(): string {
    return this.toMarkdown();
  }

  /** What a notebook or the REPL prints for the table: the first rows as markdown. */
  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return this.toMarkdown({ limit: 20 });
  }

  /** Shows the table through the display sink (HTML in a notebook, markdown on a console). */
  view(options: { limit?: number; caption?: string } = {}): void {
    displaySink().html(this.toHTML(options), this.toMarkdown(options));
  }

  /** CSV text with a header line. */
  toCSV(): string {
    return aq.toCSV(this.table);
  }

  /** JSON: an array of row objects (`type: "rows"`, default), `{ column: values }`, or NDJSON. */
  toJSON(options: { type?: "rows" | "columns" | "ndjson" } = {}): string {
    return aq.toJSON(this.table, { type: options.type ?? "rows" });
  }

  /** An Apache Arrow table (flechette's). */
  toArrow(): ReturnType<typeof aq.toArrow> {
    return aq.toArrow(this.table);
  }

  /** Arrow IPC bytes: `stream` (default) or `file` format, for pandas/polars (`pyarrow.ipc.open_stream`). */
  toArrowIPC(format: "stream" | "file" = "stream"): Uint8Array {
    return aq.toArrowIPC(this.table, { format });
  }

  /**
   * A danfo.js DataFrame of the rows. danfojs-node is optional: when it is not installed this throws
   * an Error saying how to install it.
   */
  async toDanfo(): Promise<unknown> {
    let dfd: { DataFrame: new (data: unknown) => unknown };
    try {
      dfd = (await import(DANFO)) as typeof dfd;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "ERR_MODULE_NOT_FOUND" || code === "MODULE_NOT_FOUND") {
        throw new Error(
          "toDanfo() needs danfojs-node, which is not installed. Install it with `npm install danfojs-node` after adding " +
            '"overrides": { "danfojs-node": { "xlsx": "0.18.5", "@tensorflow/tfjs-node": "npm:@tensorflow/tfjs@3.21.0" } } ' +
            "to package.json (its own tfjs-node downloads a binary at install); about 340 MB. Or stay with arquero: `.table`.",
          { cause: e },
        );
      }
      throw e;
    }
    return new dfd.DataFrame(this.objects());
  }
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]!);
}

/** The columns of a relaxation table, in order. */
export const RESULT_COLUMNS = ["method", "structure", "formula", "natoms", "steps", "forceCalls", "seconds", "converged", "energy", "fmax"] as const;

export type PlotKind = "forceCalls" | "convergence";

export interface SummaryOptions {
  /** Group columns. Default: `run` when the table holds several runs, then `method`. */
  by?: string[];
}

/**
 * Per group (method), as the MACS paper reports (macs-spec §5, §10): `count` relaxations, `converged`,
 * `P_F` failure % (not converged within the step cap, or the method failed), and `N_mean` steps,
 * `C_mean` force calls, `T_mean` seconds averaged over the converged relaxations only (null when none).
 */
export function summarize(table: ColumnTable | readonly Row[], options: SummaryOptions = {}): ColumnTable {
  const rows = (Array.isArray(table) ? table : (table as ColumnTable).objects()) as Row[];
  const runs = new Set(rows.map((r) => r["run"]).filter((r) => r !== undefined && r !== null));
  const by = options.by ?? (runs.size > 1 ? ["run", "method"] : ["method"]);
  const groups = new Map<string, { key: Row; rows: Row[] }>();
  for (const r of rows) {
    const key = Object.fromEntries(by.map((b) => [b, r[b]]));
    const k = JSON.stringify(by.map((b) => r[b]));
    let g = groups.get(k);
    if (!g) groups.set(k, (g = { key, rows: [] }));
    g.rows.push(r);
  }
  const mean = (xs: number[]): number | null => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null);
  const out: Row[] = [];
  for (const { key, rows: g } of groups.values()) {
    const ok = g.filter((r) => r["converged"] === true);
    out.push({
      ...key,
      count: g.length,
      converged: ok.length,
      P_F: (100 * (g.length - ok.length)) / g.length,
      N_mean: mean(ok.map((r) => Number(r["steps"]))),
      C_mean: mean(ok.map((r) => Number(r["forceCalls"]))),
      T_mean: mean(ok.map((r) => Number(r["seconds"]))),
    });
  }
  return out.length
    ? aq.from(out)
    : aq.table(Object.fromEntries([...by, "count", "converged", "P_F", "N_mean", "C_mean", "T_mean"].map((c) => [c, []])));
}

/** The table of relaxations, with the step metrics behind it (loaded when a convergence plot asks). */
export class ResultTable extends DataTable {
  private readonly loadMetrics?: () => ColumnTable;
  /** The convergence threshold of the run (drawn on the convergence plot). */
  readonly fmax: number | undefined;

  constructor(
    table: ColumnTable,
    options: {
      /** The step records of these relaxations (method, structure, step, fmax, ...), or a loader. */
      metrics?: ColumnTable | (() => ColumnTable);
      /** The convergence threshold (drawn on the convergence plot). */
      fmax?: number;
    } = {},
  ) {
    super(table);
    const m = options.metrics;
    this.loadMetrics = m === undefined ? undefined : typeof m === "function" ? m : () => m;
    this.fmax = options.fmax;
  }

  /** A ResultTable of rows as results.jsonl holds them (or an arquero table of them). */
  static from(rows: readonly Row[] | ColumnTable, options: ConstructorParameters<typeof ResultTable>[1] = {}): ResultTable {
    return new ResultTable(Array.isArray(rows) ? relaxationTable(rows as Row[]) : (rows as ColumnTable), options);
  }

  static fromCSV(text: string): ResultTable {
    return new ResultTable(aq.fromCSV(text));
  }

  static fromJSON(text: string): ResultTable {
    return new ResultTable(aq.fromJSON(text));
  }

  /** From Arrow IPC bytes (what `toArrowIPC` writes) or a flechette table (what `toArrow` returns). */
  static fromArrow(input: Uint8Array | ReturnType<typeof aq.toArrow>): ResultTable {
    return new ResultTable(aq.fromArrow(input as Parameters<typeof aq.fromArrow>[0]));
  }

  override with(fn: (t: ColumnTable) => ColumnTable): ResultTable {
    return new ResultTable(fn(this.table), { metrics: this.loadMetrics, fmax: this.fmax });
  }

  /** The step records of the relaxations in this table (an empty table when none were kept). */
  metrics(): ColumnTable {
    if (!this.loadMetrics) return aq.table({ method: [], structure: [], step: [], fmax: [] });
    const all = this.loadMetrics();
    const keys = new Set(this.objects().map((r) => `${String(r["run"] ?? "")}\u0000${String(r["method"])}\u0000${String(r["structure"])}`));
    const rows = (all.objects() as Row[]).filter((r) => keys.has(`${String(r["run"] ?? "")}\u0000${String(r["method"])}\u0000${String(r["structure"])}`));
    return rows.length === all.numRows() ? all : aq.from(rows);
  }

  /** N_mean, C_mean, T_mean over converged relaxations and failure % per method (see `summarize`). */
  summary(options: SummaryOptions = {}): DataTable {
    return new DataTable(summarize(this.table, options));
  }

  /** The figure of `kind` as plotly JSON. */
  figure(kind: PlotKind = "forceCalls"): Figure {
    const rows = this.objects() as { method: string; forceCalls: number; converged: boolean; run?: unknown }[];
    if (kind === "forceCalls") return forceCallsBar(rows);
    if (kind === "convergence") {
      const m = this.metrics();
      if (m.numRows() === 0) throw new Error("plot(\"convergence\") needs the step metrics: tables from a run (run.table()) have them");
      return forceConvergenceFigure(m.objects() as never, { fmax: this.fmax });
    }
    throw new RangeError(`plot kind must be "forceCalls" or "convergence", got ${JSON.stringify(kind)}`);
  }

  /** Shows the figure of `kind` through the display sink. */
  plot(kind: PlotKind = "forceCalls"): void {
    displaySink().figure(this.figure(kind));
  }

  /** Series labels (method, or "run · method" across runs), in order of appearance. */
  series(): string[] {
    const rows = this.objects() as { method: string; run?: unknown }[];
    const label = seriesOf(rows);
    return [...new Set(rows.map(label))];
  }
}

/** An arquero table of relaxation rows with the standard columns first (an empty one has them too). */
export function relaxationTable(rows: readonly Row[]): ColumnTable {
  const extra = new Set<string>();
  for (const r of rows) for (const k of Object.keys(r)) if (!(RESULT_COLUMNS as readonly string[]).includes(k) && k !== "attempt") extra.add(k);
  const lead = rows.some((r) => r["run"] !== undefined) ? ["run"] : [];
  extra.delete("run");
  const cols = [...lead, ...RESULT_COLUMNS, ...[...extra].sort()];
  return aq.table(Object.fromEntries(cols.map((c) => [c, rows.map((r) => (r[c] === undefined ? null : r[c]))])));
}

/**
 * Relaxation rows of several runs in one ResultTable, with a `run` column (the run's name, or its id
 * where names repeat); `summary()` and plots then split by run and method.
 */
export function compareRuns(runs: readonly { id: string; name: string; table(): ResultTable }[]): ResultTable {
  if (runs.length === 0) throw new RangeError("compareRuns needs at least one run");
  const names = runs.map((r) => r.name);
  const unique = new Set(names).size === names.length;
  const label = (r: { id: string; name: string }): string => (unique ? r.name : r.id);
  const tables = runs.map((r) => r.table());
  const rows = tables.flatMap((t, i) => t.objects().map((row) => ({ run: label(runs[i]!), ...row })));
  const fmaxes = new Set(tables.map((t) => t.fmax));
  return new ResultTable(relaxationTable(rows), {
    fmax: fmaxes.size === 1 ? tables[0]!.fmax : undefined,
    metrics: () => {
      const ms = tables.flatMap((t, i) => (t.metrics().objects() as Row[]).map((m) => ({ run: label(runs[i]!), ...m })));
      return ms.length ? aq.from(ms) : aq.table({ run: [], method: [], structure: [], step: [], fmax: [] });
    },
  });
}
