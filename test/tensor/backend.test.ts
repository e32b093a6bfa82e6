/** Backend selection, the device report, and the fast tensor ops against the plain ones, on cpu and wasm. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { currentBackend, deviceReport, formatDeviceReport, probeBackend, useBackend } from "../../src/tensor/backend.js";
import { columnSums, transpose2d } from "../../src/tensor/ops.js";
import { forEachBackend, maxAbsDiff } from "./backends.js";

describe("backend selection", () => {
  it("picks the best available backend without a name (wasm here: tfjs-node and webgpu are not installed)", async () => {
    const chosen = await useBackend();
    const tfjsNode = await probeBackend("tfjs-node");
    const webgpu = await probeBackend("webgpu");
    if (!tfjsNode.available && !webgpu.available) assert.equal(chosen, "wasm");
    assert.equal(currentBackend(), chosen);
  });

  it("reports what is missing and why", async () => {
    await useBackend("wasm");
    const report = await deviceReport();
    assert.equal(report.backend, "wasm");
    assert.equal(report.tfjsBackend, "wasm");
    assert.match(report.version, /^4\./);
    assert.ok(report.wasm, "wasm details");
    assert.equal(typeof report.wasm.simd, "boolean");
    assert.ok(report.wasm.threads >= 1);
    for (const b of report.backends) {
      if (!b.available) assert.ok(b.reason && b.reason.length > 0, `${b.name} has a reason`);
    }
    assert.deepEqual(report.missing, report.backends.filter((b) => !b.available).map((b) => b.name));
    assert.ok(!report.missing.includes("cpu") && !report.missing.includes("wasm"));
    assert.match(formatDeviceReport(report), /^wasm \(tfjs 4\./);
  });

  it("names the reason when a named backend cannot start", async () => {
    const probe = await probeBackend("tfjs-node");
    if (probe.available) return; // installed on this machine: nothing to check
    await assert.rejects(useBackend("tfjs-node"), /tfjs-node: not installed/);
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
