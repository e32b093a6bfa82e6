/**
 * TensorFlow.js backend selection and a device report. Only `src/tensor` and `src/rl` know
 * TensorFlow.js; everything else asks this module which backend runs.
 *
 * The names users give (`useBackend(name)`, `crystal-rl train --backend`):
 * - `auto` (or no name): the best one that starts, in the order of `BACKEND_PREFERENCE`; WebGPU only
 *   where a GPU device node exists, and a software adapter (Mesa's llvmpipe) is passed over, being
 *   slower than wasm.
 * - `tensorflow`: libtensorflow through `@tensorflow/tfjs-node-gpu`, else `@tensorflow/tfjs-node`
 *   (optional, loaded by dynamic import when installed; they cannot install without internet access
 *   to Google's storage, and the GPU one needs CUDA 11.2 + cuDNN 8.1).
 * - `webgpu`: `@tensorflow/tfjs-backend-webgpu` with the `webgpu` package (Dawn) for Node (optional).
 *   The adapter is looked for the default way first (Vulkan on Linux: an NVIDIA GPU with its Vulkan
 *   driver), then in compatibility mode, then through Dawn's OpenGL backend in compatibility mode with
 *   `EGL_PLATFORM=surfaceless` (how a machine without a GPU gets Mesa's llvmpipe, a software adapter).
 *   `CRYSTAL_RL_DAWN_FLAGS="backend=vulkan adapter=..."` replaces that search with Dawn flags of your own.
 *   In Node, `dataSync()` of a tensor that lives on the GPU throws on webgpu (tfjs reads it back
 *   through an OffscreenCanvas, which Node lacks): code that runs there must use `await t.data()`.
 * - `wasm`: `@tensorflow/tfjs-backend-wasm` (XNNPACK, SIMD; threads do not start in Node).
 * - `cpu`: plain JavaScript kernels, about 20x slower than wasm for dense layers.
 * The exact package names `tfjs-node-gpu` and `tfjs-node` are accepted too.
 *
 * @example
 * await useBackend();             // best available (= useBackend("auto"))
 * await useBackend("webgpu");     // a named one; throws naming why when it cannot start
 * console.log(formatDeviceReport(await deviceReport()));
 */
import { readdirSync } from "node:fs";
import { cpus } from "node:os";
import { isMainThread } from "node:worker_threads";
import * as tf from "@tensorflow/tfjs";
import { getThreadsCount, version_wasm } from "@tensorflow/tfjs-backend-wasm";

/** A concrete backend (what runs); `tfjs-node(-gpu)` registers itself as tfjs's `tensorflow` backend. */
export type BackendName = "tfjs-node" | "tfjs-node-gpu" | "webgpu" | "wasm" | "cpu";

/** What a user may ask for: a concrete backend, `auto` (the best that starts) or `tensorflow` (either tfjs-node). */
export type BackendChoice = "auto" | "tensorflow" | BackendName;

/** Best first. */
export const BACKEND_PREFERENCE: readonly BackendName[] = ["tfjs-node-gpu", "tfjs-node", "webgpu", "wasm", "cpu"];

/** Every name `useBackend` accepts, in the order help texts list them. */
export const BACKEND_CHOICES: readonly BackendChoice[] = ["auto", "tensorflow", "webgpu", "wasm", "cpu", "tfjs-node-gpu", "tfjs-node"];

/** Why a backend was skipped. */
export type SkipKind = "not installed" | "no adapter" | "failed to start";

/** The WebGPU adapter found (Dawn), and how it was asked for. */
export interface WebGpuAdapterInfo {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** `core` WebGPU, or `compatibility` mode (what Dawn's OpenGL backend offers). */
  featureLevel: "core" | "compatibility";
  /** The flags given to Dawn (`webgpu`'s `create(flags)`), e.g. `["backend=opengl"]`. */
  dawnFlags: string[];
  /** Environment variables this loader set for the adapter (it sets only unset ones). */
  env: Record<string, string>;
  /** A CPU rasteriser (llvmpipe, lavapipe, SwiftShader) or a fallback adapter, not a GPU. */
  software: boolean;
}

/** One backend's availability, as probed. */
export interface BackendProbe {
  name: BackendName;
  available: boolean;
  /** Why it is not available, e.g. `not installed (npm package @tensorflow/tfjs-node)`; undefined when available. */
  reason?: string;
  /** The kind of reason. */
  skip?: SkipKind;
  /** webgpu: the adapter found. */
  adapter?: WebGpuAdapterInfo;
}

/** What `deviceReport` returns. */
export interface DeviceReport {
  /** The backend in use (our name), or null before `useBackend`. */
  backend: BackendName | null;
  /** What `useBackend` was last asked for (`auto` without a name), or null. */
  requested: BackendChoice | null;
  /** tfjs's own name for it (`tensorflow`, `webgpu`, `wasm`, `cpu`). */
  tfjsBackend: string | null;
  /** What runs the maths, in words: the CPU, or the WebGPU adapter. */
  device: string;
  /** @tensorflow/tfjs version. */
  version: string;
  /** For wasm: SIMD and threads (threads never start in Node). */
  wasm?: { version: string; simd: boolean; multithread: boolean; threads: number };
  /** The WebGPU adapter, when webgpu was found (whether or not it runs). */
  adapter?: WebGpuAdapterInfo;
  /** Every backend probed, best first, with why the missing ones are missing. */
  backends: BackendProbe[];
  /** The names of backends that are not available. */
  missing: BackendName[];
  /** Caveats of the backend in use. */
  notes: string[];
  /** Host: Node version, CPU model and core count. */
  host: { node: string; cpu: string; cores: number; platform: string };
}

/** tfjs's registered name for each of our backends. */
const TFJS_NAME: Record<BackendName, string> = {
  "tfjs-node": "tensorflow",
  "tfjs-node-gpu": "tensorflow",
  webgpu: "webgpu",
  wasm: "wasm",
  cpu: "cpu",
};

const WEBGPU_SYNC_NOTE =
  "webgpu in Node cannot read a GPU tensor synchronously (dataSync/arraySync need OffscreenCanvas): use await t.data()";

/**
 * Why `auto` passes over a software WebGPU adapter: on this 2-core machine Mesa's llvmpipe took 1.9 s
 * for a MACS SAC update at batch 1024, wasm 0.2 s (bench/gpu.ts --backend webgpu --quick).
 */
const AUTO_SKIPS_SOFTWARE = "software adapter, slower than wasm: auto passes it over (ask for webgpu by name to use it)";

let current: BackendName | null = null;
let requested: BackendChoice | null = null;
const probes = new Map<BackendName, BackendProbe>();
type Listener = (name: BackendName) => void | Promise<void>;
const listeners = new Set<Listener>();

/**
 * The concrete backends to try, best first, for what a user asked for. Throws an Error listing the
 * valid names for anything else.
 */
export function backendCandidates(choice?: string | null): readonly BackendName[] {
  if (choice === undefined || choice === null || choice === "auto") return BACKEND_PREFERENCE;
  if (choice === "tensorflow") return ["tfjs-node-gpu", "tfjs-node"];
  if ((BACKEND_PREFERENCE as readonly string[]).includes(choice)) return [choice as BackendName];
  throw new Error(`unknown TensorFlow.js backend "${choice}": use one of ${BACKEND_CHOICES.join(", ")}`);
}

/** True for a name `useBackend` accepts. */
export function isBackendChoice(x: unknown): x is BackendChoice {
  return typeof x === "string" && (BACKEND_CHOICES as readonly string[]).includes(x);
}

/** `import(name)` of an optional package, hidden from the type checker (it may not be installed). */
async function importOptional(name: string): Promise<unknown> {
  return import(name);
}

function errorText(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split("\n")[0] ?? "";
}

/** A backend cannot be used; `skip` says what kind of reason `message` is. */
class Unavailable extends Error {
  constructor(
    readonly skip: SkipKind,
    message: string,
  ) {
    super(message);
  }
}

/** Imports `pkg`; a package that is not there is `not installed`, one that fails to load `failed to start`. */
async function importPackage(pkg: string): Promise<unknown> {
  try {
    return await importOptional(pkg);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const text = errorText(e);
    if ((code === "ERR_MODULE_NOT_FOUND" || code === "MODULE_NOT_FOUND") && text.includes(`'${pkg}'`)) {
      throw new Unavailable("not installed", `not installed (npm package ${pkg})`);
    }
    throw new Unavailable("failed to start", `failed to start: ${pkg} does not load: ${text}`);
  }
}

// ---- webgpu: Dawn's adapter search --------------------------------------------------------------

interface DawnAdapter {
  info?: { vendor?: string; architecture?: string; device?: string; description?: string; isFallbackAdapter?: boolean };
  features: { has(name: string): boolean };
  limits: Record<string, number>;
  requestDevice(descriptor?: object): Promise<unknown>;
}
interface DawnGpu {
  requestAdapter(options?: object): Promise<DawnAdapter | null>;
}
interface DawnModule {
  create(flags: string[]): DawnGpu;
  globals: Record<string, unknown>;
}

interface AdapterAttempt {
  label: string;
  flags: string[];
  env: Record<string, string>;
  featureLevel: "core" | "compatibility";
}

/** The webgpu adapter in use: the Dawn instance and the request options that found it. */
let webgpuSource: { gpu: DawnGpu; options: object; info: WebGpuAdapterInfo } | null = null;
let webgpuStartError: string | null = null;

/** Where to look for an adapter, in order. `CRYSTAL_RL_DAWN_FLAGS` (space-separated) replaces the search. */
function adapterAttempts(): AdapterAttempt[] {
  const override = process.env["CRYSTAL_RL_DAWN_FLAGS"];
  if (override !== undefined && override.trim() !== "") {
    const flags = override.trim().split(/\s+/);
    return [
      { label: `Dawn flags "${flags.join(" ")}"`, flags, env: {}, featureLevel: "core" },
      { label: `Dawn flags "${flags.join(" ")}", compatibility mode`, flags, env: {}, featureLevel: "compatibility" },
    ];
  }
  return [
    { label: "default (Vulkan)", flags: [], env: {}, featureLevel: "core" },
    { label: "default, compatibility mode", flags: [], env: {}, featureLevel: "compatibility" },
    { label: "OpenGL with EGL_PLATFORM=surfaceless, compatibility mode", flags: ["backend=opengl"], env: { EGL_PLATFORM: "surfaceless" }, featureLevel: "compatibility" },
  ];
}

const SOFTWARE = /llvmpipe|lavapipe|softpipe|swiftshader/i;

/** Finds a WebGPU adapter through Dawn, trying each way in turn; throws `no adapter` naming every try. */
async function findAdapter(dawn: DawnModule): Promise<NonNullable<typeof webgpuSource>> {
  const tries: string[] = [];
  const instances = new Map<string, DawnGpu>();
  for (const attempt of adapterAttempts()) {
    const set: Record<string, string> = {};
    for (const [k, v] of Object.entries(attempt.env)) {
      if (process.env[k] === undefined) {
        process.env[k] = v; // before Dawn starts: Mesa's EGL reads it when the instance is created
        set[k] = v;
      }
    }
    try {
      const key = attempt.flags.join(" ");
      let gpu = instances.get(key);
      if (!gpu) {
        gpu = dawn.create(attempt.flags);
        instances.set(key, gpu);
      }
      const options = { powerPreference: "high-performance", ...(attempt.featureLevel === "compatibility" ? { featureLevel: "compatibility" } : {}) };
      const adapter = await gpu.requestAdapter(options);
      if (adapter) {
        const i = adapter.info ?? {};
        const text = [i.vendor, i.architecture, i.device, i.description].join(" ");
        const info: WebGpuAdapterInfo = {
          vendor: i.vendor ?? "",
          architecture: i.architecture ?? "",
          device: i.device ?? "",
          description: i.description ?? "",
          featureLevel: attempt.featureLevel,
          dawnFlags: attempt.flags,
          env: { ...attempt.env },
          software: Boolean(i.isFallbackAdapter) || SOFTWARE.test(text),
        };
        return { gpu, options, info };
      }
      tries.push(`${attempt.label}: none`);
    } catch (e) {
      tries.push(`${attempt.label}: ${errorText(e)}`);
    }
    for (const k of Object.keys(set)) delete process.env[k]; // this way found nothing: leave the environment as it was
  }
  throw new Unavailable("no adapter", `no adapter (${tries.join("; ")})`);
}

/** The adapter's limits tfjs needs (as tfjs-backend-webgpu's own factory asks), plus storage buffers per stage. */
const WEBGPU_LIMITS = [
  "maxComputeWorkgroupStorageSize",
  "maxComputeWorkgroupsPerDimension",
  "maxStorageBufferBindingSize",
  "maxBufferSize",
  "maxComputeWorkgroupSizeX",
  "maxComputeInvocationsPerWorkgroup",
  "maxStorageBuffersPerShaderStage",
];

async function loadWebgpu(): Promise<void> {
  const dawn = (await importPackage("webgpu")) as DawnModule;
  const source = webgpuSource ?? (await findAdapter(dawn));
  webgpuSource = source;
  // tfjs-backend-webgpu registers itself only when navigator.gpu exists at import time.
  const g = globalThis as Record<string, unknown>;
  for (const [k, v] of Object.entries(dawn.globals)) if (!(k in g)) g[k] = v;
  const nav = g["navigator"] as { gpu?: unknown } | undefined;
  if (!nav) Object.defineProperty(globalThis, "navigator", { value: { gpu: source.gpu }, configurable: true, writable: true });
  else if (!nav.gpu) Object.defineProperty(nav, "gpu", { value: source.gpu, configurable: true, writable: true });
  const mod = (await importPackage("@tensorflow/tfjs-backend-webgpu")) as { WebGPUBackend: new (device: unknown, info?: unknown) => tf.KernelBackend };
  if (!tf.findBackendFactory("webgpu")) {
    throw new Unavailable("failed to start", "failed to start: @tensorflow/tfjs-backend-webgpu registered with another copy of @tensorflow/tfjs-core (install the same version as @tensorflow/tfjs)");
  }
  // Replace its factory (which asks for a default adapter only) with one that asks the way that worked.
  tf.removeBackend("webgpu");
  tf.registerBackend(
    "webgpu",
    async () => {
      try {
        const adapter = await source.gpu.requestAdapter(source.options);
        if (!adapter) throw new Error("the adapter found before is gone");
        const requiredLimits: Record<string, number> = {};
        for (const k of WEBGPU_LIMITS) if (typeof adapter.limits[k] === "number") requiredLimits[k] = adapter.limits[k];
        const requiredFeatures = adapter.features.has("timestamp-query") ? ["timestamp-query"] : [];
        const device = await adapter.requestDevice({ requiredFeatures, requiredLimits });
        const backend = new mod.WebGPUBackend(device, adapter.info) as tf.KernelBackend & { readSync(id: object): unknown };
        if (!("OffscreenCanvas" in globalThis)) {
          // tfjs reads a GPU buffer synchronously through an OffscreenCanvas: say so instead of a ReferenceError
          const readSync = backend.readSync.bind(backend);
          backend.readSync = (id: object) => {
            try {
              return readSync(id);
            } catch (e) {
              if (e instanceof ReferenceError && e.message.includes("OffscreenCanvas")) throw new Error(WEBGPU_SYNC_NOTE);
              throw e;
            }
          };
        }
        return backend;
      } catch (e) {
        webgpuStartError = errorText(e);
        throw e;
      }
    },
    3, // tfjs-backend-webgpu's own priority
  );
}

/** Loads the package(s) a backend needs, so that tfjs has it registered. Throws `Unavailable`. */
async function load(name: BackendName): Promise<void> {
  switch (name) {
    case "cpu":
    case "wasm":
      return; // bundled with @tensorflow/tfjs and @tensorflow/tfjs-backend-wasm
    case "tfjs-node":
    case "tfjs-node-gpu":
      await importPackage(`@tensorflow/${name}`);
      return;
    case "webgpu":
      await loadWebgpu();
      return;
  }
}

/**
 * Whether `name` can run here: its packages import, tfjs knows it, and (webgpu) an adapter is found.
 * Memoised. A backend that gets this far but fails to initialise is found out by `useBackend`.
 */
export async function probeBackend(name: BackendName): Promise<BackendProbe> {
  backendCandidates(name); // an unknown name throws
  const known = probes.get(name);
  if (known) return known;
  let probe: BackendProbe;
  try {
    // Dawn's instance is per process: a worker thread that makes its own crashes Node when the worker
    // ends (SIGSEGV at exit, seen with the benchmark's relaxation workers), so workers never probe it.
    if (name === "webgpu" && !isMainThread) throw new Unavailable("failed to start", "not in a worker thread (Dawn runs on the main thread only)");
    await load(name);
    probe = tf.findBackendFactory(TFJS_NAME[name])
      ? { name, available: true }
      : { name, available: false, skip: "failed to start", reason: `failed to start: tfjs has no ${TFJS_NAME[name]} backend registered` };
  } catch (e) {
    probe = e instanceof Unavailable ? { name, available: false, skip: e.skip, reason: e.message } : { name, available: false, skip: "failed to start", reason: `failed to start: ${errorText(e)}` };
  }
  if (name === "webgpu" && webgpuSource) probe.adapter = webgpuSource.info;
  probes.set(name, probe);
  return probe;
}

const NO_GPU = 'no adapter looked for: no GPU device (/dev/nvidia*, /dev/dri/renderD*), and auto does not search for a software one (useBackend("webgpu") does)';

/**
 * Whether the machine shows a GPU: an NVIDIA device node or a DRM render node on Linux (elsewhere,
 * assumed). Without one, `auto` leaves Dawn alone: its adapter search costs a few hundred ms, prints
 * driver warnings on every command, and could only find a software adapter, which auto passes over.
 */
function gpuDevicePresent(): boolean {
  if (process.platform !== "linux") return true;
  const list = (dir: string) => {
    try {
      return readdirSync(dir);
    } catch {
      return [];
    }
  };
  return list("/dev").some((f) => /^nvidia\d+$/.test(f)) || list("/dev/dri").some((f) => f.startsWith("renderD"));
}

/** Whether `auto` skips webgpu without probing it (not probed yet, and no GPU device). */
function autoSkipsWebgpu(): boolean {
  return !probes.has("webgpu") && !gpuDevicePresent();
}

/** Probes every backend (best first); webgpu only where a GPU device exists or it was asked for by name. */
export async function availableBackends(): Promise<BackendProbe[]> {
  const out: BackendProbe[] = [];
  for (const name of BACKEND_PREFERENCE) {
    out.push(name === "webgpu" && autoSkipsWebgpu() ? { name, available: false, skip: "no adapter", reason: NO_GPU } : await probeBackend(name));
  }
  return out;
}

/**
 * The backend to run on: `choice` when given (as `useBackend`), else the one in use, else the
 * automatic choice. What a training run or a policy load calls before its first tensor.
 */
export async function ensureBackend(choice?: BackendChoice | null): Promise<BackendName> {
  if (choice) return useBackend(choice);
  return currentBackend() ?? useBackend();
}

/**
 * Makes TensorFlow.js use `name` and returns the concrete backend that runs: `auto` (or no name) is the
 * best that starts, `tensorflow` whichever of tfjs-node-gpu and tfjs-node starts. When nothing asked for
 * can start, throws an Error naming each backend tried and why; an unknown name throws listing the valid ones.
 */
export async function useBackend(name?: BackendChoice): Promise<BackendName> {
  const candidates = backendCandidates(name);
  const failures: string[] = [];
  const auto = name === undefined || name === "auto";
  for (const candidate of candidates) {
    if (auto && candidate === "webgpu" && autoSkipsWebgpu()) {
      failures.push(`webgpu: ${NO_GPU}`);
      continue;
    }
    const probe = await probeBackend(candidate);
    if (!probe.available) {
      failures.push(`${candidate}: ${probe.reason}`);
      continue;
    }
    if (auto && probe.adapter?.software) {
      failures.push(`${candidate}: ${AUTO_SKIPS_SOFTWARE}`);
      continue;
    }
    let ok = false;
    let why = "";
    webgpuStartError = null;
    try {
      ok = await tf.setBackend(TFJS_NAME[candidate]);
    } catch (e) {
      why = errorText(e);
    }
    if (!ok) {
      why ||= (candidate === "webgpu" && webgpuStartError) || "tfjs could not initialise it";
      const failed: BackendProbe = { ...probe, available: false, skip: "failed to start", reason: `failed to start: ${why}` };
      probes.set(candidate, failed);
      failures.push(`${candidate}: ${failed.reason}`);
      continue;
    }
    await tf.ready();
    const changed = current !== candidate;
    current = candidate;
    requested = name ?? "auto";
    if (changed) {
      for (const listener of [...listeners]) {
        try {
          await listener(candidate);
        } catch {
          // a listener (a notebook banner) never stops training
        }
      }
    }
    return candidate;
  }
  const asked = name === undefined || name === "auto" ? "no TensorFlow.js backend could start" : `TensorFlow.js backend "${name}" cannot start`;
  throw new Error(`${asked} (${failures.join("; ")})`);
}

/**
 * Calls `listener` each time `useBackend` switches to another backend (the first time included), after
 * the switch. Returns a function that removes it. The notebook layer prints its banner this way.
 */
export function onBackendChange(listener: Listener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** The backend chosen by `useBackend`, or null. */
export function currentBackend(): BackendName | null {
  return current !== null && tf.getBackend() === TFJS_NAME[current] ? current : null;
}

/** A WebGPU adapter in words: `NVIDIA H100 80GB HBM3 (nvidia, hopper)`. */
export function adapterText(a: WebGpuAdapterInfo): string {
  const main = a.description || a.device || a.vendor || "unnamed adapter";
  const rest = [a.vendor, a.architecture, a.device].filter((x) => x && x !== main && !main.includes(x));
  const how = [a.software ? "software" : "", a.featureLevel === "compatibility" ? "compatibility mode" : "", ...a.dawnFlags, ...Object.entries(a.env).map(([k, v]) => `${k}=${v}`)].filter(Boolean);
  return `${main}${rest.length ? ` (${rest.join(", ")})` : ""}${how.length ? ` [${how.join(", ")}]` : ""}`;
}

/** Backend, device, versions, wasm SIMD/threads, the WebGPU adapter, and why each other backend is skipped. */
export async function deviceReport(): Promise<DeviceReport> {
  const backends = await availableBackends();
  const active = currentBackend();
  const tfjsBackend = active ? tf.getBackend() : null;
  const cpu = cpus();
  const host = { node: process.version, cpu: cpu[0]?.model.trim() ?? "unknown", cores: cpu.length, platform: `${process.platform}-${process.arch}` };
  const cpuText = `${host.cores} x ${host.cpu}`;
  const adapter = backends.find((b) => b.name === "webgpu")?.adapter ?? webgpuSource?.info;
  const device =
    active === "webgpu" && adapter
      ? adapterText(adapter)
      : active === "tfjs-node-gpu"
        ? `libtensorflow with CUDA (a GPU when libtensorflow finds one; host ${cpuText})`
        : cpuText;
  const report: DeviceReport = {
    backend: active,
    requested: active ? requested : null,
    tfjsBackend,
    device,
    version: tf.version.tfjs,
    backends,
    missing: backends.filter((b) => !b.available).map((b) => b.name),
    notes: active === "webgpu" ? [WEBGPU_SYNC_NOTE] : [],
    host,
  };
  if (adapter) report.adapter = adapter;
  if (active === "wasm") {
    report.wasm = {
      version: version_wasm,
      simd: tf.env().getBool("WASM_HAS_SIMD_SUPPORT"),
      multithread: tf.env().getBool("WASM_HAS_MULTITHREAD_SUPPORT"),
      threads: getThreadsCount(),
    };
  }
  return report;
}

/** The running backend and its device, e.g. `wasm (tfjs 4.22.0, SIMD, 1 thread) on 2 x Intel Xeon`. */
function headline(r: DeviceReport): string {
  let s = `${r.backend ?? "no backend"} (tfjs ${r.version}`;
  if (r.wasm) s += `, ${r.wasm.simd ? "SIMD" : "no SIMD"}, ${r.wasm.threads} thread${r.wasm.threads === 1 ? "" : "s"}`;
  if (r.backend && r.requested && r.requested !== r.backend) s += `, asked for ${r.requested}`;
  return `${s}) on ${r.backend ? r.device : `${r.host.cores} x ${r.host.cpu}`}`;
}

/** One entry per backend, best first: `chosen`, `available` or `skipped`, and the detail (the reason, for skipped ones). */
export function backendStatus(r: DeviceReport): { name: BackendName; status: "chosen" | "available" | "skipped"; detail: string }[] {
  return r.backends.map((b) => {
    if (b.name === r.backend) return { name: b.name, status: "chosen", detail: headline(r) };
    if (b.available) return { name: b.name, status: "available", detail: b.adapter ? `${adapterText(b.adapter)}${b.adapter.software ? `: ${AUTO_SKIPS_SOFTWARE}` : ""}` : "" };
    return { name: b.name, status: "skipped", detail: b.reason ?? b.skip ?? "unavailable" };
  });
}

/**
 * A one-line summary of a report (the notebook banner), e.g.
 * `wasm (tfjs 4.22.0, SIMD, 1 thread) on 2 x Intel Xeon; skipped: tfjs-node-gpu (not installed), webgpu (no adapter)`.
 */
export function formatDeviceReport(r: DeviceReport): string {
  const skipped = r.backends.filter((b) => !b.available).map((b) => `${b.name} (${b.skip ?? "unavailable"})`);
  return headline(r) + (skipped.length ? `; skipped: ${skipped.join(", ")}` : "");
}
