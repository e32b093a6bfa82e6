/**
 * Where the experiment layer shows things. `experiment/` never imports `notebook/` (imports flow one
 * way), so the notebook layer registers a sink when it is loaded inside a tslab kernel; elsewhere the
 * console sink prints text. Figures are plain plotly.js JSON ({ data, layout, config? }).
 */

/** A plotly.js figure as JSON: what `Plotly.newPlot(div, data, layout, config)` takes. */
export interface Figure {
  data: Record<string, unknown>[];
  layout?: Record<string, unknown>;
  config?: Record<string, unknown>;
}

/** A display that later calls update in place (Jupyter's display id), for live plots and progress. */
export interface LiveHandle {
  /** Replace the content with a figure. */
  figure(fig: Figure): void;
  /** Replace the content with HTML (text/html) and a plain-text fallback. */
  html(html: string, text?: string): void;
  /** Replace the content with plain text. */
  text(text: string): void;
  /** Send a throttled, held-back update now (call at the end of a run so the last state shows). */
  flush?(): void;
}

export interface DisplaySink {
  /** Show a figure once. */
  figure(fig: Figure): void;
  /** Show HTML once, with a plain-text fallback. */
  html(html: string, text?: string): void;
  /** Show plain text once. */
  text(text: string): void;
  /** A display that can be updated in place. */
  live(): LiveHandle;
  /** True in a notebook (so callers can skip work nobody sees, such as live plots on a console). */
  readonly interactive: boolean;
}

/** The fallback: text on stdout; figures are summarised, live displays print only their last text. */
export const consoleSink: DisplaySink = {
  interactive: false,
  figure(fig) {
    const names = fig.data.map((t) => String(t["name"] ?? t["type"] ?? "trace"));
    const title = (fig.layout?.["title"] as { text?: string } | string | undefined) ?? "";
    console.log(`[figure${typeof title === "string" ? (title ? `: ${title}` : "") : title.text ? `: ${title.text}` : ""}] ${names.join(", ")}`);
  },
  html(_html, text) {
    if (text) console.log(text);
  },
  text(text) {
    console.log(text);
  },
  live() {
    return { figure: () => {}, html: () => {}, text: () => {} };
  },
};

let sink: DisplaySink = consoleSink;

/** Installs the sink every later display goes to (the notebook layer calls this inside tslab). */
export function registerDisplaySink(next: DisplaySink): void {
  sink = next;
}

/** The sink in force. */
export function displaySink(): DisplaySink {
  return sink;
}
