/**
 * Backend-parameterised suites, as tfjs-layers does (`describeMathCPUAndGPU`): `forEachBackend`
 * registers one `describe` per backend, switching TensorFlow.js to it before that suite's tests run.
 * Create tensors inside tests or hooks, never at describe time (the backend is not set yet).
 */
import { before, describe } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { type BackendName, useBackend } from "../../src/tensor/backend.js";

/** The backends every tensor test runs on (both ship with the project's dependencies). */
export const TEST_BACKENDS: readonly BackendName[] = ["cpu", "wasm"];

// The cpu backend prints an "install tfjs-node" banner on first use; tests do not need it. (Not
// IS_TEST: that turns on tfjs's kernel leak check, which flags every customGrad that saves tensors on
// wasm, whose Identity kernel copies; the saved copies are freed after the backward pass, and the
// suites check tf.memory().numTensors themselves.)
tf.env().set("PROD", true);

export function forEachBackend(title: string, body: (backend: BackendName) => void): void {
  for (const backend of TEST_BACKENDS) {
    describe(`${title} [${backend}]`, () => {
      before(async () => {
        await useBackend(backend);
      });
      body(backend);
    });
  }
}

export { maxAbsDiff } from "../helpers/compare.js";
