/**
 * Experiments: chainable builders, the run store, result tables and figures.
 *
 * @example
 * const run = await experiment("srtio3")
 *   .structures(random({ composition: "SrTiO3", atoms: 40, count: 64, seed: 1 }))
 *   .calculator(ionic())
 *   .methods([fire(), bfgs(), bfgsLineSearch()])
 *   .live()
 *   .run();
 * run.summary().view();
 * run.plot("convergence");
 * const yesterday = loadRun("runs", "latest");
 */
export { experiment, ExperimentBuilder, DEFAULTS as EXPERIMENT_DEFAULTS, type ExperimentSettings } from "./builder.js";
export {
  fromOptimizer,
  asMethod,
  registerMethodKind,
  type Method,
  type MethodLike,
  type MethodStep,
  type MethodOutcome,
  type MethodFactory,
  type OptimizerMethod,
  type Budget,
  type Relaxation,
  type TrainRecord,
  type TrainContext,
} from "./method.js";
export {
  relaxInWorkers,
  registerWorkerModule,
  defaultWorkers,
  liveWorkers,
  type WorkerSetup,
  type WorkerMethod,
  type WorkerJob,
  type WorkerStep,
  type WorkerDone,
  type RelaxInWorkersOptions,
} from "./workers.js";
export { macs, type MacsMethodOptions } from "./macs-method.js";
export { random, type StructureSource, type RandomSource, type FileSource, type StructuresInput } from "./structures.js";
export { Run, loadRun, BenchmarkTable, type ExecuteOptions, type ResumeOptions, type BenchmarkOptions } from "./run.js";
export {
  listRuns,
  type RunInfo,
  type RunConfig,
  type RunStatus,
  type RunState,
  type MetricRecord,
  type ResultRecord,
  type TrainLine,
  type MethodDescription,
} from "./run-store.js";
export { DataTable, ResultTable, summarize, compareRuns, RESULT_COLUMNS, type PlotKind, type SummaryOptions } from "./results.js";
export {
  forceConvergenceFigure,
  learningCurveFigure,
  macsTrainingFigure,
  trainingFigure,
  forceCallsBar,
  emaSmooth,
  type ConvergenceOptions,
  type LearningCurveOptions,
} from "./figures.js";
export { displaySink, registerDisplaySink, consoleSink, type DisplaySink, type Figure, type LiveHandle } from "./display-sink.js";
export { GymBuilder, gym, taskDefaults } from "./gym.js";
export {
  GYM_ALGORITHMS,
  GymRun,
  loadGymRun,
  type GymAlgorithmName,
  type GymRecord,
  type GymSettings,
  type GymTaskSettings,
} from "./gym-store.js";
