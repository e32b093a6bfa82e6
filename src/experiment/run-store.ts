/**
 * The run store: one folder per run under a store folder (default `runs/`).
 *
 * ```
 * runs/<id>/
 *   config.json           the builder's settings, structures' formulas, calculator, methods, versions, machine
 *   structures.json       the structures, exactly (what a resumed run relaxes)
 *   metrics.jsonl         append-only, one line per step: method, structure, step, energy, fmax, forceCalls, seconds
 *   results.jsonl         append-only, one line per finished relaxation
 *   train.jsonl           append-only training metrics of learning methods (CleanRL names)
 *   status.json           running | done | failed | aborted, replaced atomically after every relaxation
 *   trajectories/<method>-<k>.extxyz   when the experiment keeps trajectories
 *   checkpoints/<method>/ what learning methods save
 * ```
 *
 * Ids sort by creation time: `20250609-101530123-<name>-<4 hex>`. A run killed mid-way leaves a
 * readable store: readers ignore a torn last line, and a run whose status says running but whose
 * process is gone (same host) reads as `interrupted`.
 */
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from "node:fs";
import { cpus, hostname, platform, release, arch, totalmem } from "node:os";
import { join } from "node:path";
import type { CalculatorDescription } from "./calculator-choice.js";
import { readJson, readJsonl, writeJsonAtomic } from "../io/jsonl.js";
import type { SourceDescription } from "./structures.js";

/** One method of a run, as config.json lists it. */
export interface MethodDescription {
  /** Unique within the run: what tables and file names use. */
  label: string;
  /** The factory name ("fire", "bfgsls", "macs"). */
  name: string;
  /** How to rebuild it ("optimizer", ...). */
  kind: string;
  options: Record<string, unknown>;
  /** Trained before evaluation. */
  train: boolean;
}

export interface RunConfig {
  format: 1;
  id: string;
  name: string;
  /** ISO time. */
  created: string;
  settings: {
    fmax: number;
    steps: number;
    seed: number;
    live: boolean;
    trajectories: boolean;
    /** Worker threads relaxing in parallel (absent: 1, in the run's own thread). */
    workers?: number;
  };
  /** Which fmax the tables use. */
  fmaxDefinition: string;
  structures: { source: SourceDescription; count: number; formulas: string[]; natoms: number[] };
  calculator: CalculatorDescription;
  methods: MethodDescription[];
  /** The run this one benchmarks against, if any. */
  parent?: string;
  versions: Record<string, string>;
  machine: Record<string, string | number>;
}

export type RunState = "running" | "done" | "failed" | "aborted" | "interrupted";

export interface RunStatus {
  state: RunState;
  pid: number;
  hostname: string;
  started: string;
  updated: string;
  finished?: string;
  /** Relaxations finished, and in all. */
  done: number;
  total: number;
  /** 0 for the first execution, +1 per resume. */
  attempt: number;
  /** Labels of the learning methods whose training finished. */
  trained: string[];
  error?: string;
}

/** A line of metrics.jsonl. */
export interface MetricRecord {
  method: string;
  structure: number;
  step: number;
  energy: number;
  fmax: number;
  forceCalls: number;
  /** Seconds since this relaxation started. */
  seconds: number;
  /** Which execution wrote it (absent: 0). */
  attempt?: number;
  [extra: string]: number | string | boolean | undefined | null;
}

/** A line of results.jsonl: one relaxation. */
export interface ResultRecord {
  method: string;
  structure: number;
  formula: string;
  natoms: number;
  steps: number;
  forceCalls: number;
  seconds: number;
  converged: boolean;
  /** null when the method failed before any energy. */
  energy: number | null;
  fmax: number | null;
  /** The message, when the method threw. */
  error?: string;
  attempt?: number;
}

/** A line of train.jsonl. */
export interface TrainLine {
  method: string;
  step: number;
  attempt?: number;
  [metric: string]: number | string | boolean | undefined | null;
}

export const FMAX_DEFINITION = "largest per-atom force norm, eV/Å (ASE's fmax)";

export function runPaths(dir: string) {
  return {
    dir,
    config: join(dir, "config.json"),
    structures: join(dir, "structures.json"),
    metrics: join(dir, "metrics.jsonl"),
    results: join(dir, "results.jsonl"),
    train: join(dir, "train.jsonl"),
    status: join(dir, "status.json"),
    trajectories: join(dir, "trajectories"),
    checkpoints: join(dir, "checkpoints"),
    trajectory: (label: string, k: number) => join(dir, "trajectories", `${label}-${k}.extxyz`),
    checkpoint: (label: string) => join(dir, "checkpoints", label),
  };
}

export type RunPaths = ReturnType<typeof runPaths>;

const slug = (name: string): string =>
  name
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 32) || "run";

const two = (n: number): string => String(n).padStart(2, "0");

/** A new id: UTC time to the millisecond, the name, 4 random hex digits. */
export function newRunId(name: string, now = new Date()): string {
  const d = `${now.getUTCFullYear()}${two(now.getUTCMonth() + 1)}${two(now.getUTCDate())}`;
  const t = `${two(now.getUTCHours())}${two(now.getUTCMinutes())}${two(now.getUTCSeconds())}${String(now.getUTCMilliseconds()).padStart(3, "0")}`;
  return `${d}-${t}-${slug(name)}-${randomBytes(2).toString("hex")}`;
}

/** Makes `store/<new id>/` (never reusing a folder) and returns the id. */
export function createRunDir(store: string, name: string): string {
  mkdirSync(store, { recursive: true });
  for (let tries = 0; ; tries++) {
    const id = newRunId(name);
    try {
      mkdirSync(join(store, id));
      return id;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST" || tries > 20) throw e;
    }
  }
}

function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { name?: string; version?: string };
    return pkg.name === "crystal-rl" && pkg.version ? pkg.version : "unknown";
  } catch {
    return "unknown";
  }
}

export function versions(): Record<string, string> {
  return { "crystal-rl": packageVersion(), node: process.version, v8: process.versions.v8 };
}

export function machine(): Record<string, string | number> {
  const c = cpus();
  return {
    hostname: hostname(),
    platform: platform(),
    release: release(),
    arch: arch(),
    cpus: c.length,
    cpuModel: c[0]?.model.trim() ?? "unknown",
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
  };
}

export function writeStatus(paths: RunPaths, status: RunStatus): void {
  writeJsonAtomic(paths.status, status);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Ids of runs executing in this process (their pid is alive, but a status from an earlier session of this pid is not). */
export const activeRuns = new Set<string>();

/** status.json, with `running` read as `interrupted` when its process (on this host) is gone. */
export function readStatus(paths: RunPaths, id: string): RunStatus {
  const status = readJson<RunStatus>(paths.status);
  if (status.state === "running" && status.hostname === hostname()) {
    const mine = status.pid === process.pid;
    if ((mine && !activeRuns.has(id)) || (!mine && !alive(status.pid))) return { ...status, state: "interrupted" };
  }
  return status;
}

export function readConfig(paths: RunPaths): RunConfig {
  return readJson<RunConfig>(paths.config);
}

const key = (method: string, structure: number): string => `${method}\u0000${structure}`;

/** Orders records by the config's method order, then structure index. */
function byMethodThenStructure<T extends { method: string; structure: number }>(methods: readonly string[]) {
  const rank = new Map(methods.map((m, i) => [m, i]));
  return (a: T, b: T): number => (rank.get(a.method) ?? 1e9) - (rank.get(b.method) ?? 1e9) || a.method.localeCompare(b.method) || a.structure - b.structure;
}

/** One result per relaxation (the last written), ordered by method then structure. */
export function readResults(paths: RunPaths, methods: readonly string[]): ResultRecord[] {
  const last = new Map<string, ResultRecord>();
  for (const r of readJsonl<ResultRecord>(paths.results)) last.set(key(r.method, r.structure), r);
  return [...last.values()].sort(byMethodThenStructure(methods));
}

/**
 * The step records, ordered by method, structure, step. A relaxation restarted by a resume keeps only
 * the lines of its latest attempt (the killed attempt's partial lines are dropped).
 */
export function readMetrics(paths: RunPaths, methods: readonly string[]): MetricRecord[] {
  const all = readJsonl<MetricRecord>(paths.metrics);
  const latest = new Map<string, number>();
  for (const r of all) {
    const k = key(r.method, r.structure);
    latest.set(k, Math.max(latest.get(k) ?? 0, r.attempt ?? 0));
  }
  const kept = all.filter((r) => (r.attempt ?? 0) === latest.get(key(r.method, r.structure)));
  const order = byMethodThenStructure<MetricRecord>(methods);
  return kept.sort((a, b) => order(a, b) || a.step - b.step);
}

/** Training lines, each learning method's latest attempt only. */
export function readTrain(paths: RunPaths): TrainLine[] {
  const all = readJsonl<TrainLine>(paths.train);
  const latest = new Map<string, number>();
  for (const r of all) latest.set(r.method, Math.max(latest.get(r.method) ?? 0, r.attempt ?? 0));
  return all.filter((r) => (r.attempt ?? 0) === latest.get(r.method));
}

/** A line of `listRuns`. */
export interface RunInfo {
  id: string;
  name: string;
  state: RunState;
  created: string;
  /** Relaxations finished, and in all. */
  done: number;
  total: number;
  methods: string[];
  calculator: string;
  structures: number;
  dir: string;
}

/** The runs under `store` (oldest first); folders without a config.json are skipped. */
export function listRuns(store = process.env["CRYSTAL_RL_RUNS"] ?? "runs"): RunInfo[] {
  if (!existsSync(store)) return [];
  const out: RunInfo[] = [];
  for (const id of readdirSync(store).sort()) {
    const dir = join(store, id);
    const paths = runPaths(dir);
    if (!statSync(dir).isDirectory() || !existsSync(paths.config) || !existsSync(paths.status)) continue;
    const config = readConfig(paths);
    const status = readStatus(paths, id);
    out.push({
      id,
      name: config.name,
      state: status.state,
      created: config.created,
      done: status.done,
      total: status.total,
      methods: config.methods.map((m) => m.label),
      calculator: config.calculator.name,
      structures: config.structures.count,
      dir,
    });
  }
  return out;
}

/** The id in `store` that `idOrPrefix` names: an exact id, a unique prefix, or "latest". */
export function resolveRunId(store: string, idOrPrefix: string): string {
  const ids = existsSync(store)
    ? readdirSync(store)
        .filter((d) => existsSync(join(store, d, "config.json")))
        .sort()
    : [];
  if (ids.length === 0) throw new Error(`no runs in ${store}`);
  if (idOrPrefix === "latest") return ids[ids.length - 1]!;
  if (ids.includes(idOrPrefix)) return idOrPrefix;
  const matches = ids.filter((d) => d.startsWith(idOrPrefix));
  if (matches.length === 1) return matches[0]!;
  if (matches.length > 1) throw new Error(`run id "${idOrPrefix}" is ambiguous in ${store}: ${matches.slice(0, 5).join(", ")}`);
  throw new Error(`no run "${idOrPrefix}" in ${store} (${ids.length} runs; the latest is ${ids[ids.length - 1]})`);
}

export function ensureDir(path: string): void {
  mkdirSync(path, { recursive: true });
}
