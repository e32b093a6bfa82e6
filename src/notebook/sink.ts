/**
 * The experiment layer's display sink for notebooks: `.view()`, `.plot()` and `.live()` of the
 * experiment builders and result tables draw here once `src/notebook/index.ts` is loaded in a kernel.
 */
import type { DisplaySink, Figure } from "../experiment/display-sink.js";
import { showFigure } from "./plotly.js";
import { liveDisplay, type LiveDisplay, type LiveOptions } from "./live.js";
import { displayBundle } from "./tslab.js";

/** A notebook sink; `live` options (throttle interval, clock) apply to every `live()` display. */
export function createNotebookSink(live: LiveOptions = {}): DisplaySink & { live(): LiveDisplay } {
  return {
    interactive: true,
    figure(fig: Figure) {
      showFigure(fig);
    },
    html(html: string, text?: string) {
      if (!displayBundle({ "text/html": html, "text/plain": text ?? html.replace(/<[^>]*>/g, "") }) && text) console.log(text);
    },
    text(text: string) {
      if (!displayBundle({ "text/plain": text })) console.log(text);
    },
    /** A throttled in-place display; it also has `flush()` to draw its last state at once. */
    live() {
      return liveDisplay(live);
    },
  };
}

/** The sink `index.ts` registers inside a tslab kernel. */
export const notebookSink = createNotebookSink();
