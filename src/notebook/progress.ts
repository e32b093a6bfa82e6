/**
 * A progress bar for long work: steps done of total, rate, time left and a line of free text.
 * In a notebook it is an HTML bar redrawn in place (a live display, throttled like live plots); on a
 * console a one-line text bar, written at most once per second (to stderr, like tqdm, rewritten in
 * place on a terminal).
 *
 * @example
 * const bar = progress(structures.length, { label: "relaxing" });
 * for (const s of structures) { await relax(s); bar.tick(1, `E = ${e.toFixed(3)} eV`); }
 * bar.done();
 */
import { escapeHtml } from "./plotly.js";
import { LiveDisplay, systemClock, Throttle, type Clock } from "./live.js";
import { inKernel } from "./tslab.js";

export interface ProgressOptions {
  /** Shown before the bar. */
  label?: string;
  /** What one step is called in the rate ("it" by default: "12.3 it/s"). */
  unit?: string;
  /** Least time between two notebook redraws, ms (default 250). */
  intervalMs?: number;
  /** Least time between two console lines, ms (default 1000). */
  consoleIntervalMs?: number;
  clock?: Clock;
  /** Where the console bar goes (default process.stderr). */
  stream?: { write(s: string): unknown; isTTY?: boolean };
  /** Force the console bar even inside a kernel (default: HTML in a kernel, text elsewhere). */
  console?: boolean;
}

export interface Progress {
  /** Adds `n` steps (default 1); `info` replaces the free text shown after the numbers. */
  tick(n?: number, info?: string): void;
  /** Marks the work finished and draws the final state (always, whatever the throttle). */
  done(info?: string): void;
  /** Steps done so far. */
  readonly count: number;
}

/** What one frame of the bar shows. */
export interface ProgressState {
  label: string;
  unit: string;
  count: number;
  total: number;
  /** Seconds since the bar started. */
  elapsed: number;
  /** Steps per second, averaged since the start (NaN before the first step). */
  rate: number;
  /** Seconds left at that rate (NaN when unknown). */
  remaining: number;
  info: string;
  finished: boolean;
}

/** "0:07", "12:05", "1:02:03". */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "?";
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  const pad = (x: number) => String(x).padStart(2, "0");
  return h > 0 ? `${h}:${pad(m)}:${pad(sec)}` : `${m}:${pad(sec)}`;
}

/** "12.3 it/s", or "4.20 s/it" below one step per second. */
export function formatRate(rate: number, unit = "it"): string {
  if (!Number.isFinite(rate) || rate <= 0) return `? ${unit}/s`;
  return rate >= 1 ? `${rate.toPrecision(3)} ${unit}/s` : `${(1 / rate).toPrecision(3)} s/${unit}`;
}

function fraction(st: ProgressState): number {
  if (!Number.isFinite(st.total)) return NaN;
  if (st.total <= 0) return 1;
  return Math.min(1, Math.max(0, st.count / st.total));
}

function numbers(st: ProgressState): string {
  const f = fraction(st);
  const parts = [Number.isFinite(st.total) ? `${st.count}/${st.total} (${Math.floor(100 * f)}%)` : `${st.count}`];
  parts.push(formatRate(st.rate, st.unit));
  if (st.finished) parts.push(`done in ${formatDuration(st.elapsed)}`);
  else parts.push(`${formatDuration(st.elapsed)} elapsed`, `${formatDuration(st.remaining)} left`);
  return parts.join(" · ");
}

/** The bar as HTML (a div bar, so it survives JupyterLab's sanitizer too). */
export function progressHtml(st: ProgressState): string {
  const f = fraction(st);
  const pct = Number.isFinite(f) ? (100 * f).toFixed(1) : "100";
  const colour = st.finished ? "#4caf50" : "#2196f3";
  const stripe = Number.isFinite(f) ? "" : "opacity:0.4;";
  const label = st.label ? `<span style="font-weight:600;">${escapeHtml(st.label)}</span>` : "";
  const info = st.info ? `<span style="opacity:0.8;">${escapeHtml(st.info)}</span>` : "";
  return (
    `<div class="crystal-rl-progress" style="display:flex;align-items:center;gap:8px;font-family:var(--jp-code-font-family,monospace);font-size:12px;line-height:18px;">` +
    label +
    `<div style="flex:0 0 280px;height:12px;background:#e0e0e0;border-radius:3px;overflow:hidden;">` +
    `<div style="width:${pct}%;height:100%;background:${colour};${stripe}"></div></div>` +
    `<span>${escapeHtml(numbers(st))}</span>` +
    info +
    `</div>`
  );
}

/** The bar as one line of text, `width` characters of bar. */
export function progressText(st: ProgressState, width = 30): string {
  const f = fraction(st);
  const filled = Number.isFinite(f) ? Math.round(width * f) : 0;
  const bar = Number.isFinite(f) ? `[${"#".repeat(filled)}${".".repeat(width - filled)}]` : "";
  return [st.label, bar, numbers(st), st.info].filter((s) => s).join(" ");
}

/**
 * A progress bar for `total` steps (`Infinity` when unknown: then only the count and rate show).
 */
export function progress(total: number, options: ProgressOptions = {}): Progress {
  if (!(total >= 0)) throw new RangeError(`progress total must be a number >= 0 (or Infinity), got ${total}`);
  const clock = options.clock ?? systemClock;
  const label = options.label ?? "";
  const unit = options.unit ?? "it";
  const start = clock.now();
  let count = 0;
  let info = "";
  let finished = false;

  const state = (): ProgressState => {
    const elapsed = Math.max(0, (clock.now() - start) / 1000);
    const rate = count > 0 && elapsed > 0 ? count / elapsed : NaN;
    const remaining = Number.isFinite(total) && rate > 0 ? Math.max(0, total - count) / rate : NaN;
    return { label, unit, count, total, elapsed, rate, remaining, info, finished };
  };

  let render: () => void;
  let flush: () => void;
  if (inKernel() && !options.console) {
    const live = new LiveDisplay({ ...(options.intervalMs !== undefined ? { intervalMs: options.intervalMs } : {}), clock });
    render = () => {
      const st = state();
      live.html(progressHtml(st), progressText(st));
    };
    flush = () => live.flush();
  } else {
    const stream = options.stream ?? process.stderr;
    const tty = stream.isTTY === true;
    let lastLength = 0;
    // No trailing timer: a console line is written by a tick or by done(), never later.
    const lines = new Throttle<ProgressState>(
      (st) => {
        const line = progressText(st);
        if (tty) {
          stream.write(`\r${line}${" ".repeat(Math.max(0, lastLength - line.length))}${st.finished ? "\n" : ""}`);
          lastLength = line.length;
        } else {
          stream.write(line + "\n");
        }
      },
      { intervalMs: options.consoleIntervalMs ?? 1000, clock, trailing: false },
    );
    render = () => lines.push(state());
    flush = () => lines.flush();
  }
  render();

  return {
    get count() {
      return count;
    },
    tick(n = 1, text?: string) {
      if (finished) return;
      count += n;
      if (text !== undefined) info = text;
      render();
    },
    done(text?: string) {
      if (finished) return;
      finished = true;
      if (text !== undefined) info = text;
      render();
      flush();
    },
  };
}
