/**
 * crystal-rl's notebook layer (the only code that knows tslab): offline plotly figures, live plots,
 * progress bars, arquero tables as HTML and 3-D crystal views.
 *
 * Importing this module inside a tslab kernel registers the notebook display sink, so the experiment
 * layer's `.view()`, `.plot()` and `.live()` draw in the notebook, and the first cell that picks a
 * TensorFlow.js backend (training) prints the device banner (banner.ts); elsewhere it changes nothing.
 */
import { registerDisplaySink } from "../experiment/display-sink.js";
import { bannerOnFirstBackend } from "./banner.js";
import { notebookSink } from "./sink.js";
import { inKernel } from "./tslab.js";

export type { Figure, LiveHandle, DisplaySink } from "../experiment/display-sink.js";
export { inKernel, richBundles } from "./tslab.js";
export {
  showFigure,
  figureHtml,
  saveFigureHtml,
  figureBundle,
  figureText,
  loadPlotly,
  plotlyLoaded,
  forgetPlotly,
  plotlyScriptTag,
  plotlyVersion,
  PLOTLY_MIME,
  type FigureHtmlOptions,
} from "./plotly.js";
export { livePlot, liveDisplay, LiveDisplay, Throttle, systemClock, type LivePlot, type LiveOptions, type Clock, type ThrottleOptions } from "./live.js";
export { progress, formatDuration, formatRate, type Progress, type ProgressOptions } from "./progress.js";
export { tableHtml, tableText, showTable, formatNumber, type TableHtmlOptions } from "./table-view.js";
export { crystalFigure, showCrystal, cellEdges, elementColour, type CrystalFigureOptions } from "./crystal-view.js";
export { notebookSink, createNotebookSink } from "./sink.js";
export { backendBanner, bannerOnFirstBackend, resetBackendBanner, type BannerOptions } from "./banner.js";
export { runNotebook, type NotebookJson, type RunNotebookOptions, type RunNotebookResult } from "./headless.js";
export {
  reportHtml,
  runReportHtml,
  runReportData,
  saveRunReport,
  forceCallConvergenceFigure,
  type ReportData,
  type ReportSummaryRow,
  type RunReportOptions,
  type ForceCallConvergenceOptions,
} from "./report.js";

if (inKernel()) {
  registerDisplaySink(notebookSink);
  bannerOnFirstBackend(); // the cell that starts training says which backend and device train
}
