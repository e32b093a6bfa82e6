/**
 * The webgpu backend (Dawn through the optional `webgpu` package), checked against the cpu backend: a
 * matrix product and the gradient of the project's dense network. Runs where an adapter is found (a
 * GPU, or Mesa's llvmpipe through Dawn's OpenGL backend; see src/tensor/backend.ts) and otherwise skips
 * with the reason the probe gave. Reads go through `await t.data()`: in Node, webgpu cannot read a GPU
 * tensor synchronously.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { mlp } from "../../src/rl/networks.js";
import { Rng } from "../../src/structure/random-source.js";
import { deviceReport, formatDeviceReport, useBackend } from "../../src/tensor/backend.js";
import { maxAbsDiff } from "./backends.js";
import { onWebgpu } from "../helpers/webgpu.js";

tf.env().set("PROD", true);

const { runs } = onWebgpu("webgpu-test");

function normals(n: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: n }, () => rng.normal());
}

/** Runs `f` on `backend` and returns its outputs' values (read asynchronously), then disposes them. */
async function on(backend: "webgpu" | "cpu", f: () => tf.Tensor[]): Promise<Float32Array[]> {
  await useBackend(backend);
  const outs = tf.tidy(f);
  const values = await Promise.all(outs.map((t) => t.data() as Promise<Float32Array>));
  tf.dispose(outs);
  return values;
}

describe("webgpu backend", () => {
  it("multiplies matrices as the cpu backend does, plain and transposed", async (t) => {
    if (!runs(t)) return;
    const a = normals(96 * 200, 1);
    const b = normals(200 * 72, 2);
    const f = () => {
      const A = tf.tensor2d(a, [96, 200]);
      const B = tf.tensor2d(b, [200, 72]);
      return [tf.matMul(A, B), tf.matMul(tf.transpose(B), tf.transpose(A)), tf.matMul(A, tf.transpose(B), false, true)];
    };
    const [gpu, cpu] = [await on("webgpu", f), await on("cpu", f)];
    for (let k = 0; k < cpu.length; k++) assert.ok(maxAbsDiff(gpu[k]!, cpu[k]!) < 1e-3, `product ${k}: ${maxAbsDiff(gpu[k]!, cpu[k]!)}`);
  });

  it("gives the dense network's gradient as the cpu backend does, and leaks no tensors", async (t) => {
    if (!runs(t)) return;
    const x = normals(64 * 32, 3);
    const gradients = async (backend: "webgpu" | "cpu") => {
      await useBackend(backend);
      const net = mlp("webgpu_test", [32, 48, 48, 6], new Rng(4)); // the same weights on each backend
      try {
        const before = tf.memory().numTensors;
        const values = await on(backend, () => {
          const { value, grads } = tf.variableGrads(() => tf.mean(tf.square(net.apply(tf.tensor2d(x, [64, 32])))) as tf.Scalar, [...net.variables]);
          return [value, ...net.variables.map((v) => grads[v.name]!)];
        });
        assert.equal(tf.memory().numTensors, before, `${backend}: tensors leaked`);
        return values;
      } finally {
        net.dispose();
      }
    };
    const gpu = await gradients("webgpu");
    const cpu = await gradients("cpu");
    assert.equal(gpu.length, cpu.length);
    assert.ok(Math.abs(gpu[0]![0]! - cpu[0]![0]!) < 1e-4 * Math.max(1, Math.abs(cpu[0]![0]!)), `loss ${gpu[0]![0]} against ${cpu[0]![0]}`);
    for (let k = 1; k < cpu.length; k++) {
      const scale = Math.max(1e-3, ...Array.from(cpu[k]!, Math.abs));
      assert.ok(maxAbsDiff(gpu[k]!, cpu[k]!) / scale < 1e-3, `variable ${k - 1}: ${maxAbsDiff(gpu[k]!, cpu[k]!)} of ${scale}`);
    }
  });

  it("says to read asynchronously when code reads a GPU tensor synchronously", async (t) => {
    if (!runs(t)) return;
    await useBackend("webgpu");
    const x = tf.matMul(tf.ones([4, 4]), tf.ones([4, 4])); // computed: it lives on the GPU (until a read caches it)
    try {
      if (!("OffscreenCanvas" in globalThis)) {
        const warn = console.warn;
        console.warn = () => {}; // tfjs's "synchronous reads are slow" notice
        try {
          assert.throws(() => x.dataSync(), /cannot read a GPU tensor synchronously.*use await t\.data\(\)/);
        } finally {
          console.warn = warn;
        }
      }
      assert.deepEqual(Array.from(await x.data()), new Array(16).fill(4));
      assert.deepEqual(Array.from(x.dataSync()), new Array(16).fill(4), "once read, the values are cached on the CPU");
    } finally {
      x.dispose();
    }
  });

  it("reports the adapter it runs on", async (t) => {
    if (!runs(t)) return;
    await useBackend("webgpu");
    const report = await deviceReport();
    assert.equal(report.backend, "webgpu");
    assert.ok(report.adapter, "adapter info");
    assert.ok(["core", "compatibility"].includes(report.adapter.featureLevel));
    assert.ok(report.device.length > 0);
    assert.ok(report.notes.some((n) => /await t\.data\(\)/.test(n)));
    assert.match(formatDeviceReport(report), /^webgpu \(tfjs 4\.[\d.]+\) on /);
    t.diagnostic(formatDeviceReport(report));
  });
});
