/**
 * TensorFlow.js backend selection and a device report. Only `src/tensor` and `src/rl` know
 * TensorFlow.js; everything else asks this module which backend runs.
 *
 * Order of preference when no name is given (fastest first):
 * 1. `tensorflow`: `@tensorflow/tfjs-node` / `tfjs-node-gpu` (libtensorflow; optional, loaded by
 *    dynamic import when installed; it cannot install without internet access to Google's storage).
 * 2. `webgpu`: `@tensorflow/tfjs-backend-webgpu` with the `webgpu` package (Dawn) for Node (optional).
 * 3. `wasm`: `@tensorflow/tfjs-backend-wasm` (XNNPACK, SIMD; threads do not start in Node).
 * 4. `cpu`: plain JavaScript kernels, about 20x slower than wasm for dense layers.
 *
 * @example
 * await useBackend();             // best available
 * await useBackend("cpu");        // a named one; throws when it cannot start
 * console.log(await deviceReport());
 */
import { cpus } from "node:os";
import * as tf from "@tensorflow/tfjs";
import { getThreadsCount, version_wasm } from "@tensorflow/tfjs-backend-wasm";

/** Backends by the name users give; `tfjs-node` registers itself as tfjs's `tensorflow` backend. */
export type BackendName = "tfjs-node" | "tfjs-node-gpu" | "webgpu" | "wasm" | "cpu";

/** Best first. */
export const BACKEND_PREFERENCE: readonly BackendName[] = ["tfjs-node-gpu", "tfjs-node", "webgpu", "wasm", "cpu"];

/** One backend's availability, as probed. */
export interface BackendProbe {
  name: BackendName;
  available: boolean;
  /** Why it is not available (package missing, failed to start), or undefined. */
  reason?: string;
}

/** What `deviceReport` returns. */
export interface DeviceReport {
  /** The backend in use (our name), or null before `useBackend`. */
  backend: BackendName | null;
  /** tfjs's own name for it (`tensorflow`, `webgpu`, `wasm`, `cpu`). */
  tfjsBackend: string | null;
  /** @tensorflow/tfjs version. */
  version: string;
  /** For wasm: SIMD and threads (threads never start in Node). */
  wasm?: { version: string; simd: boolean; multithread: boolean; threads: number };
  /** Every backend probed, with why the missing ones are missing. */
  backends: BackendProbe[];
  /** The names of backends that are not available. */
  missing: BackendName[];
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

let current: BackendName | null = null;
const probes = new Map<BackendName, BackendProbe>();

/** `import(name)` of an optional package, hidden from the type checker (it may not be installed). */
async function importOptional(name: string): Promise<unknown> {
  return import(name);
}

function errorText(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split("\n")[0] ?? "";
}

/** Loads the package(s) a backend needs, so that tfjs has it registered. Throws with a reason. */
async function load(name: BackendName): Promise<void> {
  switch (name) {
    case "cpu":
    case "wasm":
      return; // bundled with @tensorflow/tfjs and @tensorflow/tfjs-backend-wasm
    case "tfjs-node":
    case "tfjs-node-gpu":
      await importOptional(`@tensorflow/${name}`);
      return;
    case "webgpu": {
      // Dawn for Node: the `webgpu` package provides navigator.gpu; tfjs's webgpu backend uses it.
      const dawn = (await importOptional("webgpu")) as { create(flags: string[]): unknown; globals: object };
      const g = globalThis as unknown as { navigator?: { gpu?: unknown } };
      if (!g.navigator?.gpu) {
        Object.assign(globalThis, dawn.globals);
        Object.defineProperty(globalThis, "navigator", { value: { gpu: dawn.create([]) }, configurable: true });
      }
      await importOptional("@tensorflow/tfjs-backend-webgpu");
      return;
    }
  }
}

/**
 * Whether `name` can run here: its packages import and tfjs knows it. Memoised. A backend that
 * imports but fails to initialise is found out by `useBackend`.
 */
export async function probeBackend(name: BackendName): Promise<BackendProbe> {
  const known = probes.get(name);
  if (known) return known;
  let probe: BackendProbe;
  try {
    await load(name);
    probe = tf.findBackendFactory(TFJS_NAME[name])
      ? { name, available: true }
      : { name, available: false, reason: `${TFJS_NAME[name]} backend not registered` };
  } catch (e) {
    probe = { name, available: false, reason: `not installed or failed to load: ${errorText(e)}` };
  }
  probes.set(name, probe);
  return probe;
}

/** Probes every backend (best first). */
export async function availableBackends(): Promise<BackendProbe[]> {
  const out: BackendProbe[] = [];
  for (const name of BACKEND_PREFERENCE) out.push(await probeBackend(name));
  return out;
}

/**
 * Makes `name` the TensorFlow.js backend (or, without a name, the best one that starts) and returns
 * its name. A named backend that cannot start throws, naming the reason.
 */
export async function useBackend(name?: BackendName): Promise<BackendName> {
  const candidates = name ? [name] : BACKEND_PREFERENCE;
  const failures: string[] = [];
  for (const candidate of candidates) {
    const probe = await probeBackend(candidate);
    if (!probe.available) {
      failures.push(`${candidate}: ${probe.reason}`);
      continue;
    }
    let ok = false;
    try {
      ok = await tf.setBackend(TFJS_NAME[candidate]);
    } catch (e) {
      probes.set(candidate, { name: candidate, available: false, reason: `failed to start: ${errorText(e)}` });
      failures.push(`${candidate}: failed to start: ${errorText(e)}`);
      continue;
    }
    if (!ok) {
      probes.set(candidate, { name: candidate, available: false, reason: "failed to start" });
      failures.push(`${candidate}: failed to start`);
      continue;
    }
    await tf.ready();
    current = candidate;
    return candidate;
  }
  throw new Error(`no TensorFlow.js backend could start (${failures.join("; ")})`);
}

/** The backend chosen by `useBackend`, or null. */
export function currentBackend(): BackendName | null {
  return current !== null && tf.getBackend() === TFJS_NAME[current] ? current : null;
}

/** Backend, versions, wasm SIMD/threads, and which backends are missing (and why). */
export async function deviceReport(): Promise<DeviceReport> {
  const backends = await availableBackends();
  const active = currentBackend();
  const tfjsBackend = active ? tf.getBackend() : null;
  const cpu = cpus();
  const report: DeviceReport = {
    backend: active,
    tfjsBackend,
    version: tf.version.tfjs,
    backends,
    missing: backends.filter((b) => !b.available).map((b) => b.name),
    host: { node: process.version, cpu: cpu[0]?.model ?? "unknown", cores: cpu.length, platform: `${process.platform}-${process.arch}` },
  };
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

/** A one-line summary of a report, e.g. `wasm (tfjs 4.22.0, SIMD, 1 thread); missing: webgpu, tfjs-node`. */
export function formatDeviceReport(r: DeviceReport): string {
  let s = `${r.backend ?? "no backend"} (tfjs ${r.version}`;
  if (r.wasm) s += `, ${r.wasm.simd ? "SIMD" : "no SIMD"}, ${r.wasm.threads} thread${r.wasm.threads === 1 ? "" : "s"}`;
  s += `) on ${r.host.cores} x ${r.host.cpu}`;
  if (r.missing.length) s += `; missing: ${r.missing.join(", ")}`;
  return s;
}
