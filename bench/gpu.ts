/**
 * The GPU measurement: TensorFlow.js on a GPU backend (webgpu through Dawn; tfjs-node-gpu where it is
 * installed) beside the wasm backend of the same machine, for what MACS training spends its time on:
 * - SAC updates per second with the MACS networks (actor 204-256-256-6, twin critics 207-256-256-1 with
 *   targets, three Adam optimisers; src/rl/sac.ts) at batch 1024 and 8192;
 * - the policy forward (deterministic action, normaliser included) for 40 and 1000 rows (atoms), per call
 *   and per atom;
 * - batched ionic force calls per second (64 structures of 40 atoms, one of 10,000) beside the
 *   TypeScript ionic() on the host CPU for the same structures one by one, when
 *   src/calculators/batched/index.ts exports `batchedIonic`; each size runs in a child process, so
 *   one that exhausts memory is reported as failed and the rest goes on;
 * - and, when a python3 with PyTorch is found, the same SAC update and forward in PyTorch (on CUDA when
 *   torch sees a GPU), for scale.
 * Prints a table and JSON; writes the JSON to $OUT/gpu-<date>.json when OUT is set, else to
 * bench/results/gpu-<date>.json (or to `--out FILE`).
 *
 * Every GPU timing ends with an asynchronous read (`await t.data()`), so it counts the GPU's work, not
 * only its queueing: the SAC update is `Sac.updateAsync` (one asynchronous read of its stacked metrics,
 * as MACS training does; in Node, webgpu cannot read a GPU tensor synchronously).
 *
 * Here (no GPU; checks the bench before any GPU session):
 *   node --import tsx bench/gpu.ts --quick                 # auto: wasm here, one column
 *   node --import tsx bench/gpu.ts --quick --backend cpu   # cpu beside wasm: both columns
 *
 * On the device machine (NVIDIA H100/H200: no network, no npm, no Node.js):
 *   1. here: `bash scripts/device-bundle.sh` builds `.device/`: Node.js 20.19.5, this bench and src
 *      compiled to plain JS with the project's tsc, a pruned node_modules (tfjs core/cpu/layers,
 *      wasm, webgpu + tfjs-backend-webgpu), and the Vulkan and EGL loader libraries, all in one
 *      tar.xz, with `.device/run.sh`.
 *   2. the device tool: carry [".device"], command `bash .device/run.sh --backend webgpu`. (A bundle
 *      built with `--notebook` also runs notebooks: `bash .device/run.sh --notebook NB.ipynb --out DIR`.)
 *      run.sh unpacks to /tmp/crystal-rl-gpu, sets VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
 *      and __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json where
 *      those files exist (unless already set), puts the carried loaders on LD_LIBRARY_PATH when
 *      `ldconfig -p` lists no libvulkan.so.1, and runs `node app/bench/gpu.js "$@"`; the JSON comes back
 *      through $OUT. By hand, the same:
 *        mkdir -p /tmp/crl && tar -xJf .device/crystal-rl-gpu.tar.xz -C /tmp/crl &&
 *        VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json LD_LIBRARY_PATH=/tmp/crl/lib \
 *          /tmp/crl/bin/node /tmp/crl/app/bench/gpu.js --backend webgpu
 *
 * Options: --backend NAME (auto, tensorflow, webgpu, wasm, cpu; default auto), --baseline NAME (default
 * wasm), --quick (fewer runs, no cpu-backend batch 8192), --no-torch, --no-ionic, --python PATH, --out FILE,
 * --report (only say which backends start here and why the others do not; `run.sh --report` is a
 * cheap first call on a fresh machine).
 * Times are medians of timed runs after warm-up runs (the first GPU calls compile shaders).
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import * as tf from "@tensorflow/tfjs";
import { ionic } from "../src/calculators/ionic.js";
import { mlp } from "../src/rl/networks.js";
import { Sac } from "../src/rl/sac.js";
import type { Crystal } from "../src/structure/crystal.js";
import { perovskite } from "../src/structure/prototypes.js";
import { randomCrystal } from "../src/structure/random.js";
import { type BackendChoice, type BackendName, backendStatus, deviceReport, formatDeviceReport, useBackend } from "../src/tensor/backend.js";
import { rattle, sacBatch, TORCH_SAC } from "./common.js";

const { values: opts } = parseArgs({
  options: {
    backend: { type: "string", default: "auto" },
    baseline: { type: "string", default: "wasm" },
    quick: { type: "boolean", default: false },
    "no-torch": { type: "boolean", default: false },
    python: { type: "string" },
    out: { type: "string" },
    report: { type: "boolean", default: false },
    "no-ionic": { type: "boolean", default: false },
    "ionic-case": { type: "string" }, // internal: one ionic case in a child process
  },
});
const quick = opts.quick;
tf.env().set("PROD", true); // no "install tfjs-node" banner from the cpu backend

/** Median of `runs` timed calls after `warmup` untimed ones (ms). `f` ends with an asynchronous read. */
async function time(runs: number, warmup: number, f: () => Promise<unknown>): Promise<number> {
  for (let k = 0; k < warmup; k++) await f();
  const t: number[] = [];
  for (let k = 0; k < runs; k++) {
    const t0 = performance.now();
    await f();
    t.push(performance.now() - t0);
  }
  t.sort((a, b) => a - b);
  return t[Math.floor(t.length / 2)]!;
}

// ---- the measurements -----------------------------------------------------------------------------

interface Measure {
  what: string;
  unit: string;
  /** The figure in `unit` (per second: higher is better; per atom: lower is better). */
  value: number;
  ms: number;
}

const obs40 = sacBatch(40, 1).obs;
const obs1000 = sacBatch(1000, 2).obs;

/** The deterministic policy action of `sac` for `obs` (as Sac.act), read asynchronously. */
async function forward(sac: Sac, obs: Float32Array): Promise<void> {
  const n = obs.length / 204;
  const x = sac.normaliser ? sac.normaliser.normalise(obs) : obs;
  const action = tf.tidy(() => tf.tanh(tf.slice(sac.actor.apply(tf.tensor2d(x, [n, 204]), { weights: false }), [0, 0], [n, 3])));
  await action.data();
  action.dispose();
}

async function sacMeasures(backend: BackendName): Promise<Measure[]> {
  const out: Measure[] = [];
  const sac = new Sac({ batchSize: 8192 }, { network: mlp });
  try {
    sac.normaliser!.update(sacBatch(1000, 3).obs);
    for (const n of [1024, 8192]) {
      if (n === 8192 && backend === "cpu" && quick) continue; // about 40 s a run on 2 cores
      const batch = sacBatch(n, 4);
      const slow = backend === "cpu" || (backend === "wasm" && n === 8192);
      const [runs, warmup] = quick ? (slow ? [1, 1] : [3, 2]) : slow ? [3, 1] : [10, 3];
      const ms = await time(runs, warmup, () => sac.updateAsync(batch));
      out.push({ what: `SAC update, batch ${n}`, unit: "updates/s", value: 1000 / ms, ms });
    }
    for (const [n, obs] of [[40, obs40], [1000, obs1000]] as const) {
      const ms = await time(quick ? 20 : 100, 5, () => forward(sac, obs));
      out.push({ what: `policy forward, ${n} atoms`, unit: "µs/atom", value: (1000 * ms) / n, ms });
    }
  } finally {
    sac.dispose();
  }
  return out;
}

/**
 * What bench/gpu.ts takes from src/calculators/batched (the other half of the GPU issue):
 * `batchedIonic(crystals)` builds a model of a batch of structures (its pair lists: set-up, timed
 * apart), whose `computeAsync()` (else `compute()`) is one force call of every structure in it.
 */
interface BatchedModel {
  computeAsync?(): Promise<unknown>;
  compute?(): unknown;
  dispose?(): void;
  /** Candidates per list kind ("all", "verlet") and device bytes, where the model reports them. */
  describe?(): { all: number; verlet: number; bytes: number };
}
interface BatchedModule {
  batchedIonic: (crystals: readonly Crystal[]) => BatchedModel | Promise<BatchedModel>;
}

const here = dirname(fileURLToPath(import.meta.url));
const batchedEntry = ["index.ts", "index.js"].map((f) => join(here, "..", "src", "calculators", "batched", f)).find((p) => existsSync(p));

async function loadBatched(): Promise<BatchedModule | string> {
  if (!batchedEntry) return "src/calculators/batched/index.ts not found";
  try {
    const mod = (await import(pathToFileURL(batchedEntry).href)) as Partial<BatchedModule>;
    return typeof mod.batchedIonic === "function" ? (mod as BatchedModule) : "src/calculators/batched has no batchedIonic export";
  } catch (e) {
    return `src/calculators/batched does not load: ${(e as Error).message.split("\n")[0]}`;
  }
}

/** SrTiO3: 64 random 40-atom cells (MACS's training structures) and a rattled 10,000-atom supercell. */
function ionicInputs(): { label: string; crystals: () => Crystal[] }[] {
  return [
    { label: "64 structures x 40 atoms", crystals: () => Array.from({ length: 64 }, (_, s) => randomCrystal({ composition: "SrTiO3", atoms: 40 }, 4000 + s)) },
    { label: "1 structure x 10,000 atoms", crystals: () => [rattle(perovskite("Sr", "Ti", "O", 3.905).supercell([10, 10, 20]), 0.05, 10000)] },
  ];
}

/**
 * One ionic case in this process (`--ionic-case k`): batched ionic force calls per second (one call =
 * energies and forces of every structure in the batch, read back) and the model's set-up, printed as
 * one `IONIC {json}` line; a size the model refuses prints its reason.
 */
async function ionicCase(mod: BatchedModule, k: number): Promise<void> {
  const { label, crystals } = ionicInputs()[k]!;
  const xs = crystals();
  const big = xs[0]!.natoms >= 10000;
  let model: BatchedModel | undefined;
  try {
    const t0 = performance.now();
    model = await mod.batchedIonic(xs);
    const setup = performance.now() - t0;
    const m = model;
    const call = m.computeAsync ? () => m.computeAsync!() : async () => m.compute!();
    const ms = await time(quick ? (big ? 1 : 3) : big ? 3 : 10, big ? 1 : 2, call);
    const measure: Measure = { what: `batched ionic, ${label}`, unit: "calls/s", value: 1000 / ms, ms };
    // the issue's yardstick: the TypeScript model on the host CPU, one structure after another
    const calc = ionic();
    const tsMs = await time(big ? 1 : quick ? 3 : 5, 1, async () => {
      for (const c of xs) calc.computeSync(c);
    });
    const typescript: Measure = { what: `TypeScript ionic(), ${label}`, unit: "calls/s", value: 1000 / tsMs, ms: tsMs };
    const d = m.describe?.();
    const lists = d ? `, ${d.verlet > 0 ? (d.all > 0 ? "all + Verlet" : "Verlet") : "all-candidates"} lists, ${(d.all + d.verlet).toExponential(2)} candidates, ${(d.bytes / 2 ** 20).toFixed(0)} MiB` : "";
    console.log(`IONIC ${JSON.stringify({ measure, typescript, note: `${label}: set-up ${setup.toFixed(0)} ms${lists}` })}`);
  } catch (e) {
    console.log(`IONIC ${JSON.stringify({ note: `${label}: ${(e as Error).message.split("\n")[0]}` })}`);
  } finally {
    try {
      model?.dispose?.();
    } catch {
      // a backend that aborted cannot free
    }
  }
}

/**
 * Every ionic case on `backend`, each in a child process of its own: a case that exhausts memory (a
 * wasm heap, V8's) or runs past its time is noted and the bench goes on.
 */
function ionicMeasures(backend: BackendName, notes: string[], typescript: Measure[]): Measure[] {
  const out: Measure[] = [];
  const script = fileURLToPath(import.meta.url);
  ionicInputs().forEach(({ label }, k) => {
    const args = [...process.execArgv, script, "--ionic-case", String(k), "--backend", backend, ...(quick ? ["--quick"] : [])];
    let text = "";
    try {
      text = execFileSync(process.execPath, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: (quick ? 120 : 180) * 1000, maxBuffer: 1 << 26 });
    } catch (e) {
      const err = e as { stdout?: string; stderr?: string; signal?: string; status?: number };
      text = err.stdout ?? "";
      if (!text.includes("IONIC ")) {
        const lines = (err.stderr ?? "").split("\n").map((l) => l.replace(/^#\s*/, "").trim());
        const last = lines.find((l) => /Fatal JavaScript|heap out of memory|^\w*Error\b/.test(l)) ?? lines.filter((l) => l && !/^at |^\d+: 0x|^-----/.test(l)).pop() ?? "";
        notes.push(`${label}: failed (${err.signal ?? `exit ${err.status}`}${last ? `: ${last.trim().slice(0, 200)}` : ""})`);
        return;
      }
    }
    const line = text.split("\n").find((l) => l.startsWith("IONIC "));
    if (!line) return void notes.push(`${label}: no result`);
    const r = JSON.parse(line.slice(6)) as { measure?: Measure; typescript?: Measure; note: string };
    if (r.measure) out.push(r.measure);
    if (r.typescript) typescript.push(r.typescript);
    notes.push(r.note);
  });
  return out;
}

// ---- PyTorch ----------------------------------------------------------------------------------------

interface TorchResult {
  python: string;
  torch: string;
  device: string;
  rows: Measure[];
}

function torchPeer(): TorchResult | string {
  if (opts["no-torch"]) return "skipped (--no-torch)";
  const pythons = opts.python ? [opts.python] : ["python3", "/usr/bin/python3"];
  const dir = mkdtempSync(join(tmpdir(), "crystal-rl-bench-gpu-"));
  const why: string[] = [];
  try {
    const script = join(dir, "sac_torch.py");
    writeFileSync(script, TORCH_SAC);
    for (const python of pythons) {
      try {
        const text = execFileSync(python, [script, "auto"], {
          encoding: "utf8",
          stdio: ["ignore", "pipe", "pipe"],
          env: { ...process.env, OMP_NUM_THREADS: "1", OPENBLAS_NUM_THREADS: "1", MKL_NUM_THREADS: "1" },
        });
        const result: TorchResult = { python, torch: "", device: "", rows: [] };
        for (const line of text.trim().split("\n")) {
          const r = JSON.parse(line) as { what: string; ms?: number; torch?: string; device?: string };
          if (r.torch) {
            result.torch = r.torch;
            result.device = r.device ?? "";
          } else if (r.ms !== undefined) {
            const n = Number(r.what.match(/\d+$/)?.[0]);
            result.rows.push(
              r.what.startsWith("update")
                ? { what: `SAC update, batch ${n}`, unit: "updates/s", value: 1000 / r.ms, ms: r.ms }
                : { what: `policy forward, ${n} atoms`, unit: "µs/atom", value: (1000 * r.ms) / n, ms: r.ms },
            );
          }
        }
        return result;
      } catch (e) {
        const err = e as { stderr?: string; message: string };
        why.push(`${python}: ${(err.stderr || err.message).trim().split("\n").pop()}`);
      }
    }
    return `unavailable (${why.join("; ")})`;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---- the run ----------------------------------------------------------------------------------------

interface Column {
  backend: BackendName;
  report: string;
  device: string;
  adapter?: unknown;
  rows: Measure[];
  ionic?: string;
  /** The TypeScript ionic() on the host CPU, for the same batches (the batched model's yardstick). */
  typescript?: Measure[];
}

async function column(choice: BackendChoice, batched: BatchedModule | string): Promise<Column> {
  const backend = await useBackend(choice);
  const report = await deviceReport();
  console.log(`measuring ${formatDeviceReport(report)}`);
  const rows = await sacMeasures(backend);
  const col: Column = { backend, report: formatDeviceReport(report), device: report.device, rows };
  if (report.adapter && backend === "webgpu") col.adapter = report.adapter;
  if (typeof batched === "string") col.ionic = batched;
  else if (opts["no-ionic"]) col.ionic = "skipped (--no-ionic)";
  else {
    const notes: string[] = [];
    col.typescript = [];
    rows.push(...ionicMeasures(backend, notes, col.typescript));
    col.ionic = notes.join("; ");
  }
  return col;
}

function ratioOf(a: number | undefined, b: number | undefined): number | undefined {
  return a !== undefined && b !== undefined && b > 0 ? a / b : undefined;
}

function fmt(x: number | undefined): string {
  if (x === undefined || !Number.isFinite(x)) return "-";
  return x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2);
}

if (opts["ionic-case"] !== undefined) {
  await useBackend(opts.backend as BackendChoice);
  const batched = await loadBatched();
  if (typeof batched === "string") console.log(`IONIC ${JSON.stringify({ note: batched })}`);
  else await ionicCase(batched, Number(opts["ionic-case"]));
  process.exit(0);
}

if (opts.report) {
  try {
    await useBackend(opts.backend as BackendChoice);
  } catch (e) {
    console.log(`--backend ${opts.backend}: ${(e as Error).message}`);
  }
  const report = await deviceReport();
  console.log(formatDeviceReport(report));
  for (const b of backendStatus(report)) console.log(`${b.status.padEnd(9)}  ${b.name.padEnd(13)}  ${b.detail}`);
  if (report.adapter) console.log(`adapter: ${JSON.stringify(report.adapter)}`);
  process.exit(0);
}

let target: Column;
try {
  target = await column(opts.backend as BackendChoice, await loadBatched());
} catch (e) {
  console.error(`bench/gpu: ${(e as Error).message}`);
  process.exit(1);
}
const baselineName = opts.baseline as BackendChoice;
const columns = [target];
if (target.backend !== baselineName) columns.push(await column(baselineName, await loadBatched()));
const torch = torchPeer();

const whats = [...new Set(columns.flatMap((c) => c.rows.map((r) => r.what)))];
const table = whats.map((what) => {
  const cells = columns.map((c) => c.rows.find((r) => r.what === what));
  const unit = cells.find(Boolean)!.unit;
  const t = typeof torch === "string" ? undefined : torch.rows.find((r) => r.what === what);
  const [a, b] = cells;
  // speed-up of the target over the baseline: a rate's ratio, or a cost's inverse ratio
  const speedup = a && b ? (unit.endsWith("/s") ? a.value / b.value : b.value / a.value) : undefined;
  return { what, unit, values: cells.map((c) => c?.value), ms: cells.map((c) => c?.ms), speedup, torch: t?.value };
});

const head = ["", "unit", ...columns.map((c) => c.backend), ...(columns.length > 1 ? ["speed-up"] : []), ...(typeof torch === "string" ? [] : [`PyTorch ${torch.device}`])];
const lines = table.map((r) => [r.what, r.unit, ...r.values.map(fmt), ...(columns.length > 1 ? [r.speedup === undefined ? "-" : `${fmt(r.speedup)}x`] : []), ...(typeof torch === "string" ? [] : [fmt(r.torch)])]);
const widths = head.map((h, k) => Math.max(h.length, ...lines.map((l) => l[k]!.length)));
console.log("");
for (const l of [head, ...lines]) console.log(l.map((x, k) => (k === 0 ? x.padEnd(widths[k]!) : x.padStart(widths[k]!))).join("  "));
console.log("");
for (const c of columns) console.log(`${c.backend}: ${c.report}`);
for (const c of columns) if (c.ionic) console.log(`batched ionic on ${c.backend}: ${c.ionic}`);
console.log(`PyTorch: ${typeof torch === "string" ? torch : `${torch.torch} on ${torch.device} (${torch.python})`}`);

// The issue's two goals, each a ratio measured in this run (≥ 20x on a GPU).
const rate = (c: Column | undefined, what: string, rows: "rows" | "typescript" = "rows") => c?.[rows]?.find((r) => r.what === what)?.value;
const [first, second] = columns;
const sac8192 = "SAC update, batch 8192";
const batch64 = "64 structures x 40 atoms";
const targets = [
  { goal: `${sac8192}: ${first!.backend} over ${second?.backend ?? baselineName}`, at_least: 20, ratio: ratioOf(rate(first, sac8192), rate(second, sac8192)) },
  { goal: `batched ionic, ${batch64}: ${first!.backend} over TypeScript ionic() one by one`, at_least: 20, ratio: ratioOf(rate(first, `batched ionic, ${batch64}`), rate(first, `TypeScript ionic(), ${batch64}`, "typescript")) },
];
console.log("");
for (const t of targets) console.log(`goal: ${t.goal}: ${t.ratio === undefined ? "not measured" : `${fmt(t.ratio)}x (at least ${t.at_least}x: ${t.ratio >= t.at_least ? "met" : "short"})`}`);

const date = new Date().toISOString().slice(0, 10);
const json = {
  bench: "gpu",
  date: new Date().toISOString(),
  quick,
  argv: process.argv.slice(2),
  host: { node: process.version, platform: `${process.platform}-${process.arch}` },
  columns,
  table,
  targets,
  torch,
};
const file = opts.out ?? join(process.env["OUT"] ?? join(here, "results"), `gpu-${date}.json`);
mkdirSync(dirname(file), { recursive: true });
writeFileSync(file, JSON.stringify(json, null, 2) + "\n");
console.log(`\n${JSON.stringify({ table, torch: typeof torch === "string" ? torch : { device: torch.device, torch: torch.torch } })}`);
console.log(`wrote ${file}`);
process.exit(0); // a Dawn instance can keep Node alive
