/**
 * Live outputs that redraw in place: one Jupyter display (a display id) whose content is replaced by
 * update_display_data messages, throttled so a fast loop does not flood the front end.
 *
 * @example
 * const live = livePlot();
 * for await (const rec of optimizer.irun()) {
 *   xs.push(rec.step); ys.push(rec.fmax);
 *   live.update({ data: [{ x: xs, y: ys, type: "scatter" }], layout: { yaxis: { type: "log" } } });
 * }
 * live.flush(); // the last state is drawn
 */
import type { Figure, LiveHandle } from "../experiment/display-sink.js";
import { escapeHtml, figureBundle, loadPlotly } from "./plotly.js";
import { newKernelDisplay, type KernelDisplay, type MimeBundle } from "./tslab.js";

/** Time and timers, injectable so throttling can be tested with a fake clock. */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** The real clock; its timers do not keep a script alive (`flush()` is what guarantees the last state). */
export const systemClock: Clock = {
  now: () => performance.now(),
  setTimeout(fn, ms) {
    const t = setTimeout(fn, ms);
    t.unref?.();
    return t;
  },
  clearTimeout(handle) {
    clearTimeout(handle as ReturnType<typeof setTimeout>);
  },
};

export interface ThrottleOptions {
  /** Least time between two sends, ms (default 250). */
  intervalMs?: number;
  clock?: Clock;
  /** Send a value left pending by a timer after the interval (default true; false: only on push or flush). */
  trailing?: boolean;
}

/**
 * At most one send per `intervalMs`, latest value wins. A push sends at once when the interval since the
 * last send has passed (this works even while a busy loop starves the timers); otherwise the value waits
 * and replaces any older waiting one, and a timer sends it when the interval ends. `flush()` sends the
 * waiting value now.
 */
export class Throttle<T> {
  readonly intervalMs: number;
  private readonly clock: Clock;
  private readonly trailing: boolean;
  private last = -Infinity;
  private waiting: { value: T } | null = null;
  private timer: unknown = null;
  private sentCount = 0;

  constructor(
    private readonly send: (value: T) => void,
    { intervalMs = 250, clock = systemClock, trailing = true }: ThrottleOptions = {},
  ) {
    if (!(intervalMs >= 0) || !Number.isFinite(intervalMs)) throw new RangeError(`intervalMs must be a finite number >= 0, got ${intervalMs}`);
    this.intervalMs = intervalMs;
    this.clock = clock;
    this.trailing = trailing;
  }

  /** Number of values sent so far. */
  get sent(): number {
    return this.sentCount;
  }

  /** True when a value waits to be sent. */
  get pending(): boolean {
    return this.waiting !== null;
  }

  push(value: T): void {
    const now = this.clock.now();
    if (now - this.last >= this.intervalMs) {
      this.waiting = null;
      this.cancelTimer();
      this.emit(value, now);
      return;
    }
    this.waiting = { value };
    if (this.trailing && this.timer === null) {
      this.timer = this.clock.setTimeout(() => {
        this.timer = null;
        this.flush();
      }, Math.max(0, this.last + this.intervalMs - now));
    }
  }

  /** Sends the waiting value, if any, now. */
  flush(): void {
    this.cancelTimer();
    const w = this.waiting;
    if (!w) return;
    this.waiting = null;
    this.emit(w.value, this.clock.now());
  }

  /** Drops the waiting value and its timer. */
  cancel(): void {
    this.cancelTimer();
    this.waiting = null;
  }

  private emit(value: T, now: number): void {
    this.last = now;
    this.sentCount++;
    this.send(value);
  }

  private cancelTimer(): void {
    if (this.timer !== null) {
      this.clock.clearTimeout(this.timer);
      this.timer = null;
    }
  }
}

export interface LiveOptions {
  /** Least time between two redraws, ms (default 250). */
  intervalMs?: number;
  clock?: Clock;
  /**
   * Also send the `application/vnd.plotly.v1+json` bundle with live figures (default false): the
   * jupyterlab-plotly renderer does not redraw on update_display_data (plotly.py#3053), the HTML does.
   */
  plotlyJson?: boolean;
}

/**
 * A throttled in-place display: `figure`, `html` and `text` each replace the content; `flush()` draws the
 * latest state. Outside a kernel it only remembers the latest content.
 */
export class LiveDisplay implements LiveHandle {
  private readonly display: KernelDisplay | null;
  /** Holds a thunk, so a figure is serialised only when it is actually sent, not on every throttled call. */
  private readonly throttle: Throttle<() => MimeBundle>;
  private readonly plotlyJson: boolean;

  constructor({ intervalMs = 250, clock, plotlyJson = false }: LiveOptions = {}) {
    this.display = newKernelDisplay();
    this.plotlyJson = plotlyJson;
    this.throttle = new Throttle<() => MimeBundle>((make) => this.display?.show(make()), { intervalMs, ...(clock ? { clock } : {}) });
  }

  /** True inside a kernel (something is drawn). */
  get interactive(): boolean {
    return this.display !== null;
  }

  /** Redraws sent so far. */
  get sent(): number {
    return this.throttle.sent;
  }

  figure(fig: Figure): void {
    if (!this.display) return;
    loadPlotly();
    const plotlyJson = this.plotlyJson;
    this.throttle.push(() => figureBundle(fig, { plotlyJson }));
  }

  html(html: string, text?: string): void {
    if (!this.display) return;
    this.throttle.push(() => ({ "text/html": html, "text/plain": text ?? html.replace(/<[^>]*>/g, "") }));
  }

  text(text: string): void {
    if (!this.display) return;
    this.throttle.push(() => ({ "text/html": `<pre>${escapeHtml(text)}</pre>`, "text/plain": text }));
  }

  /** Draws the latest content now. */
  flush(): void {
    this.throttle.flush();
  }
}

/** A live display for figures, HTML or text (what the notebook sink's `live()` returns). */
export function liveDisplay(options: LiveOptions = {}): LiveDisplay {
  return new LiveDisplay(options);
}

export interface LivePlot {
  /** Replaces the figure (throttled: at most one redraw per interval, the latest figure wins). */
  update(fig: Figure): void;
  /** Draws the latest figure now; call it when the loop ends. */
  flush(): void;
  /** The latest figure given, drawn or not. */
  readonly figure: Figure | undefined;
  /** Redraws sent so far. */
  readonly sent: number;
}

/**
 * A plot that redraws in place while a loop runs. The first figure (the initial one, or the first
 * `update`) is drawn at once; later ones at most every `intervalMs`; `flush()` draws the last one.
 * On a console (no kernel) it draws nothing and keeps the latest figure.
 */
export function livePlot(initialFigure?: Figure, options: LiveOptions = {}): LivePlot {
  const display = new LiveDisplay(options);
  let latest: Figure | undefined;
  const handle: LivePlot = {
    update(fig) {
      latest = fig;
      display.figure(fig);
    },
    flush() {
      display.flush();
    },
    get figure() {
      return latest;
    },
    get sent() {
      return display.sent;
    },
  };
  if (initialFigure) handle.update(initialFigure);
  return handle;
}
