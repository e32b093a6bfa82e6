/**
 * Backend selection with the packages actually installed (no mocks), the device report, and the fast
 * tensor ops against the plain ones, on cpu and wasm.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import * as tf from "@tensorflow/tfjs";
import {
  BACKEND_CHOICES,
  BACKEND_PREFERENCE,
  availableBackends,
  backendCandidates,
  backendStatus,
  currentBackend,
  deviceReport,
  formatDeviceReport,
  onBackendChange,
  probeBackend,
  useBackend,
  type BackendChoice,
  type BackendName,
} from "../../src/tensor/backend.js";
import { columnSums, transpose2d } from "../../src/tensor/ops.js";
import { forEachBackend, maxAbsDiff } from "./backends.js";

/** Whether npm package `pkg` is installed where this project resolves packages (a node_modules above this file). */
function installed(pkg: string): boolean {
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    if (existsSync(join(dir, "node_modules", pkg, "package.json"))) return true;
    if (dirname(dir) === dir) return false;
  }
}

/** The npm packages each optional backend needs. */
const PACKAGES: Partial<Record<BackendName, string[]>> = {
  "tfjs-node-gpu": ["@tensorflow/tfjs-node-gpu"],
  "tfjs-node": ["@tensorflow/tfjs-node"],
  webgpu: ["webgpu", "@tensorflow/tfjs-backend-webgpu"],
};
const absent = (name: BackendName): string | undefined => PACKAGES[name]?.find((p) => !installed(p));

describe("backend selection", () => {
  it("skips each backend whose package is not installed, saying so", async () => {
    for (const name of BACKEND_PREFERENCE) {
      const pkg = absent(name);
      if (!pkg) continue;
      const probe = await probeBackend(name);
      assert.equal(probe.available, false, name);
      assert.equal(probe.skip, "not installed", name);
      assert.match(probe.reason ?? "", new RegExp(`^not installed \\(npm package ${pkg.replace("/", "\\/")}\\)`), name);
    }
    assert.equal((await probeBackend("wasm")).available, true);
    assert.equal((await probeBackend("cpu")).available, true);
  });

  it("auto (and no name) picks the first available backend of BACKEND_PREFERENCE", async () => {
    const probes = await availableBackends();
    assert.deepEqual(probes.map((p) => p.name), BACKEND_PREFERENCE);
    // a software WebGPU adapter (llvmpipe) is slower than wasm: auto passes it over
    const expected = probes.find((p) => p.available && !p.adapter?.software)!.name;
    if (absent("tfjs-node-gpu") && absent("tfjs-node") && absent("webgpu")) assert.equal(expected, "wasm", "tfjs-node(-gpu) and webgpu are not installed here");
    assert.equal(await useBackend("cpu"), "cpu");
    assert.equal(await useBackend("auto"), expected);
    assert.equal(currentBackend(), expected);
    await useBackend("cpu");
    assert.equal(await useBackend(), expected);
    assert.equal((await deviceReport()).requested, "auto");
  });

  it("the report says which backend runs and why each other one is skipped", async () => {
    await useBackend("wasm");
    const report = await deviceReport();
    assert.equal(report.backend, "wasm");
    assert.equal(report.requested, "wasm");
    assert.equal(report.tfjsBackend, "wasm");
    assert.match(report.version, /^4\./);
    assert.match(report.device, /^\d+ x /);
    assert.ok(report.wasm, "wasm details");
    assert.equal(typeof report.wasm.simd, "boolean");
    assert.ok(report.wasm.threads >= 1);
    assert.deepEqual(report.notes, []);
    for (const b of report.backends) {
      if (!b.available) assert.ok(b.reason && b.skip, `${b.name} has a reason`);
    }
    assert.deepEqual(report.missing, report.backends.filter((b) => !b.available).map((b) => b.name));
    assert.ok(!report.missing.includes("cpu") && !report.missing.includes("wasm"));

    const status = backendStatus(report);
    assert.deepEqual(status.map((s) => s.name), BACKEND_PREFERENCE);
    assert.equal(status.find((s) => s.name === "wasm")!.status, "chosen");
    assert.equal(status.find((s) => s.name === "cpu")!.status, "available");
    const line = formatDeviceReport(report);
    assert.match(line, /^wasm \(tfjs 4\.\d+\.\d+, (no )?SIMD, \d+ threads?\) on \d+ x /);
    for (const name of ["tfjs-node-gpu", "tfjs-node", "webgpu"] as const) {
      if (!absent(name)) continue;
      const s = status.find((x) => x.name === name)!;
      assert.equal(s.status, "skipped");
      assert.match(s.detail, /^not installed \(npm package /);
      assert.ok(line.includes(`${name} (not installed)`), line);
    }
  });

  it("a named backend that is absent throws naming the reason, and the backend in use stays", async () => {
    await useBackend("wasm");
    for (const name of ["tfjs-node", "tfjs-node-gpu", "webgpu"] as const) {
      const pkg = absent(name);
      if (!pkg) continue;
      await assert.rejects(useBackend(name), new RegExp(`backend "${name}" cannot start \\(${name}: not installed \\(npm package ${pkg.replace("/", "\\/")}\\)\\)`));
      assert.equal(currentBackend(), "wasm");
    }
  });

  it("tensorflow means tfjs-node-gpu, then tfjs-node", async () => {
    assert.deepEqual(backendCandidates("tensorflow"), ["tfjs-node-gpu", "tfjs-node"]);
    if (!absent("tfjs-node-gpu") || !absent("tfjs-node")) return; // one is installed: whether it starts depends on libtensorflow
    await assert.rejects(useBackend("tensorflow"), /"tensorflow" cannot start \(tfjs-node-gpu: not installed .*; tfjs-node: not installed /);
  });

  it("an unknown name is an error listing the valid ones", async () => {
    const valid = /use one of auto, tensorflow, webgpu, wasm, cpu, tfjs-node-gpu, tfjs-node$/;
    await assert.rejects(useBackend("cuda" as BackendChoice), (e: Error) => e instanceof Error && /^unknown TensorFlow.js backend "cuda"/.test(e.message) && valid.test(e.message));
    assert.throws(() => backendCandidates("WASM"), valid);
    assert.deepEqual(backendCandidates("auto"), BACKEND_PREFERENCE);
    assert.deepEqual(backendCandidates(), BACKEND_PREFERENCE);
    for (const name of BACKEND_CHOICES) assert.ok(backendCandidates(name).length >= 1);
  });

  it("tells listeners when the backend changes, not when it stays", async () => {
    await useBackend("wasm");
    const seen: BackendName[] = [];
    const off = onBackendChange((name) => {
      seen.push(name);
    });
    try {
      await useBackend("cpu");
      await useBackend("cpu");
      await useBackend("wasm");
    } finally {
      off();
    }
    await useBackend("cpu");
    assert.deepEqual(seen, ["cpu", "wasm"]);
  });

  it("switches between cpu and wasm", async () => {
    assert.equal(await useBackend("cpu"), "cpu");
    assert.equal(tf.getBackend(), "cpu");
    assert.equal((await deviceReport()).wasm, undefined);
    assert.equal(await useBackend("wasm"), "wasm");
    assert.equal(tf.getBackend(), "wasm");
  });
});

forEachBackend("tensor ops", () => {
  it("transpose2d equals tf.transpose for blocked, odd and vector shapes", () => {
    for (const [r, c] of [[1024, 256], [96, 7], [33, 5], [64, 1], [1, 40], [32, 3]] as const) {
      tf.tidy(() => {
        const x = tf.randomNormal([r, c], 0, 1, "float32", 7) as tf.Tensor2D;
        const fast = transpose2d(x);
        assert.deepEqual(fast.shape, [c, r]);
        assert.equal(maxAbsDiff(fast.dataSync(), tf.transpose(x).dataSync()), 0, `[${r}, ${c}]`);
      });
    }
  });

  it("columnSums equals tf.sum over rows", () => {
    tf.tidy(() => {
      const x = tf.randomNormal([300, 17], 0, 1, "float32", 3) as tf.Tensor2D;
      const s = columnSums(x);
      assert.deepEqual(s.shape, [17]);
      assert.ok(maxAbsDiff(s.dataSync(), tf.sum(x, 0).dataSync()) < 1e-4);
    });
  });

  it("leaks no tensors", () => {
    const x = tf.randomNormal([256, 64]) as tf.Tensor2D;
    const before = tf.memory().numTensors;
    transpose2d(x).dispose();
    columnSums(x).dispose();
    assert.equal(tf.memory().numTensors, before);
    x.dispose();
  });
});
