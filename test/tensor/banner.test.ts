/** The notebook's device banner: printed once per kernel, when a backend is first chosen. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { backendBanner, bannerOnFirstBackend, resetBackendBanner } from "../../src/notebook/banner.js";
import { useBackend } from "../../src/tensor/backend.js";

tf.env().set("PROD", true);

describe("backend banner", () => {
  it("prints one line once, and again when forced", async () => {
    resetBackendBanner();
    await useBackend("wasm");
    const lines: string[] = [];
    const print = (l: string) => lines.push(l);
    const line = await backendBanner({ print });
    assert.match(line ?? "", /^TensorFlow\.js: wasm \(tfjs 4\.[\d.]+, (no )?SIMD, \d+ threads?\) on \d+ x /);
    assert.equal(await backendBanner({ print }), null);
    assert.equal(lines.length, 1);
    assert.equal(await backendBanner({ print, force: true }), line);
    assert.equal(lines.length, 2);
    assert.ok(!line!.includes("\n"), "one line");
  });

  it("prints when training first picks a backend, and only then", async () => {
    resetBackendBanner();
    await useBackend("wasm");
    const lines: string[] = [];
    bannerOnFirstBackend({ print: (l) => lines.push(l) });
    await useBackend("cpu"); // what macs training or the gym builder does when it starts
    await useBackend("wasm");
    await useBackend("cpu");
    assert.equal(lines.length, 1);
    assert.match(lines[0]!, /^TensorFlow\.js: cpu \(tfjs 4\./);
  });
});
