/**
 * arquero tables as HTML, the way pandas shows a DataFrame in Jupyter: numbers to 4 significant digits
 * (integers in full), right-aligned, a caption with the size, long tables cut to their first rows.
 *
 * @example
 * showTable(results.orderby("forceCalls"), { limit: 20 });
 */
import type { ColumnTable } from "arquero";
import { escapeHtml } from "./plotly.js";
import { displayBundle, inKernel } from "./tslab.js";

export interface TableHtmlOptions {
  /** Rows shown at most (default 50); the caption says how many there are. */
  limit?: number;
  /** Significant digits of non-integer numbers (default 4). */
  digits?: number;
  /** Caption text before the size (e.g. the run id). */
  caption?: string;
  /** Columns to show, in order (default all). */
  columns?: string[];
}

/**
 * A number with `digits` significant digits: integers in full, very small or large magnitudes in
 * exponent form, no trailing zeros ("0.01235", "123.5", "1.235e-7", "42").
 */
export function formatNumber(v: number, digits = 4): string {
  if (Number.isNaN(v)) return "NaN";
  if (!Number.isFinite(v)) return v > 0 ? "∞" : "−∞";
  if (Number.isInteger(v) && Math.abs(v) < 1e15) return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e6)) {
    const [mant, exp] = v.toExponential(digits - 1).split("e");
    return `${trimZeros(mant!)}e${exp!.replace("+", "")}`;
  }
  return trimZeros(v.toPrecision(digits));
}

function trimZeros(s: string): string {
  return s.includes(".") ? s.replace(/\.?0+$/, "") : s;
}

/** True when the column's non-null values (the first 1000) are all numbers or bigints. */
function numericColumn(table: ColumnTable, name: string): boolean {
  const col = table.column(name);
  if (!col) return false;
  let seen = 0;
  const n = Math.min(col.length, 1000);
  for (let i = 0; i < n; i++) {
    const v: unknown = col.at(i);
    if (v === null || v === undefined) continue;
    if (typeof v !== "number" && typeof v !== "bigint") return false;
    seen++;
  }
  return seen > 0;
}

/** An arquero table as an HTML `<table>` with a caption. */
export function tableHtml(table: ColumnTable, options: TableHtmlOptions = {}): string {
  const { limit = 50, digits = 4 } = options;
  const names = options.columns ?? table.columnNames();
  const format: Record<string, (v: unknown) => string> = {};
  for (const name of names) {
    if (numericColumn(table, name)) {
      format[name] = (v) => (typeof v === "bigint" ? v.toString() : formatNumber(v as number, digits));
    }
  }
  const rows = table.numRows();
  const shown = Math.min(rows, limit);
  const size = `${rows.toLocaleString("en-US")} row${rows === 1 ? "" : "s"} × ${names.length} column${names.length === 1 ? "" : "s"}`;
  const cut = shown < rows ? ` (first ${shown.toLocaleString("en-US")} shown)` : "";
  const captionText = (options.caption ? `${options.caption}: ` : "") + size + cut;
  const html = table.toHTML({
    limit,
    columns: names,
    format,
    null: () => `<span style="opacity:0.45;">null</span>`,
    style: {
      table: "border-collapse:collapse;font-variant-numeric:tabular-nums;",
      th: "padding:2px 8px;border-bottom:1px solid #999;",
      td: "padding:2px 8px;",
    },
  });
  const caption = `<caption style="caption-side:bottom;text-align:left;opacity:0.7;font-size:smaller;">${escapeHtml(captionText)}</caption>`;
  // arquero's output starts with `<table ...>`; the caption must be the table's first child.
  return html.replace(/^(<table[^>]*>)/, `$1${caption}`);
}

/** The plain-text form of a table (markdown), for text/plain and consoles. */
export function tableText(table: ColumnTable, { limit = 50, digits = 4, columns }: TableHtmlOptions = {}): string {
  const names = columns ?? table.columnNames();
  const format: Record<string, (v: unknown) => string> = {};
  for (const name of names) {
    if (numericColumn(table, name)) format[name] = (v) => (typeof v === "bigint" ? v.toString() : formatNumber(v as number, digits));
  }
  const rows = table.numRows();
  const md = table.toMarkdown({ limit, columns: names, format });
  return md + `\n${rows} row${rows === 1 ? "" : "s"} × ${names.length} columns${rows > limit ? ` (first ${limit} shown)` : ""}`;
}

/** Shows a table: HTML in a notebook, markdown text on a console. */
export function showTable(table: ColumnTable, options: TableHtmlOptions = {}): void {
  if (inKernel()) displayBundle({ "text/html": tableHtml(table, options), "text/plain": tableText(table, options) });
  else console.log(tableText(table, options));
}
