/**
 * MACS on the webgpu backend (Dawn through the optional `webgpu` package): a few SAC updates of the
 * training loop and the trained policy acting, all reads asynchronous (in Node, webgpu cannot read a GPU
 * tensor synchronously; src/rl/sac.ts's `actAsync`, `updateDeferred`, src/rl/macs.ts's loop). Runs where
 * an adapter is found (a GPU, or Mesa's llvmpipe through Dawn's OpenGL backend; see
 * src/tensor/backend.ts) and otherwise skips with the reason the probe gave. Tiny settings
 * (fixtures/macs-tiny.ts) with the backend switched to webgpu.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { ionic } from "../../src/calculators/ionic.js";
import { relaxWithPolicy } from "../../src/envs/policy.js";
import type { TrainRecord } from "../../src/experiment/method.js";
import { loadMacsPolicy, trainMacs } from "../../src/rl/macs.js";
import { randomCrystal } from "../../src/structure/random.js";
import { Rng } from "../../src/structure/random-source.js";
import { TINY } from "./fixtures/macs-tiny.js";
import { onWebgpu } from "../helpers/webgpu.js";

tf.env().set("PROD", true);

const { runs, root } = onWebgpu("macs-webgpu-test");

describe("MACS on webgpu", () => {
  const dir = () => join(root(), "run");

  it("trains a few updates (finite losses, a checkpoint) with asynchronous reads only", { timeout: 600_000 }, async (t) => {
    if (!runs(t)) return;
    const records: TrainRecord[] = [];
    // learningStarts 100 atom-transitions = 5 batch steps of 2 x 10 atoms; 16 batch steps: 12 updates
    const r = await trainMacs({ ...TINY, backend: "webgpu", totalTimesteps: 32, logInterval: 4, checkpointInterval: 0 }, { checkpointDir: dir(), onMetrics: (m) => records.push(m) });
    assert.equal(r.backend, "webgpu");
    assert.equal(r.step, 32);
    assert.equal(r.updates, 12);
    const losses = records.filter((m) => m["losses/qf_loss"] !== undefined);
    assert.ok(losses.length >= 2, `${losses.length} records with losses`);
    for (const m of losses) {
      for (const k of ["losses/qf1_loss", "losses/qf2_loss", "losses/qf_loss", "losses/actor_loss", "losses/alpha", "losses/alpha_loss", "losses/log_pi"]) {
        assert.ok(Number.isFinite(m[k]), `${k} = ${m[k]}`);
      }
    }
    const timing = losses.at(-1)!["charts/learn_ms_per_update"];
    t.diagnostic(`webgpu: ${timing} ms per update (batch ${TINY.batchSize}, hidden ${TINY.hiddenSizes})`);
  });

  it("the trained policy acts (actAsync) and relaxes a structure", { timeout: 600_000 }, async (t) => {
    if (!runs(t)) return;
    const policy = await loadMacsPolicy(dir(), { backend: "webgpu" });
    try {
      const obs = Float32Array.from({ length: 4 * 204 }, (_, i) => Math.sin(i * 0.37) * 3);
      const u = await policy.actAsync(obs, 4);
      assert.equal(u.length, 12);
      assert.ok(u.every((x) => Number.isFinite(x) && x >= -1 && x <= 1));
      const crystal = randomCrystal({ composition: "SrTiO3", atoms: 10 }, new Rng(42));
      const run = relaxWithPolicy(crystal, ionic(), policy, { steps: 3 }); // calls policy.actAsync
      let r = await run.next();
      let steps = 0;
      while (!r.done) {
        assert.ok(Number.isFinite(r.value.fmax));
        steps++;
        r = await run.next();
      }
      assert.equal(r.value.steps, 3);
      assert.equal(steps, 4);
    } finally {
      policy.dispose();
    }
  });
});
