/**
 * Relaxations on worker threads (`.workers(n)`): the same numbers as the sequential runner, resume
 * skipping finished relaxations, and failures that name the method and structure, never hang, and
 * leave no thread behind.
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { after, before, describe, it } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { experiment, listRuns, loadRun, random, type Method, type ResultRecord, type Run } from "../../src/experiment/index.js";
import { rebuildMethod } from "../../src/experiment/method.js";
import { liveWorkers, registerWorkerModule } from "../../src/experiment/workers.js";
import type { Calculator } from "../../src/calculators/calculator.js";
import { macs } from "../../src/experiment/macs-method.js";
import { trainMacs } from "../../src/rl/macs.js";

tf.env().set("PROD", true);

/** What must not depend on where a relaxation ran. */
const numbers = (run: Run): string[] =>
  run.results().map((r: ResultRecord) => JSON.stringify([r.method, r.structure, r.steps, r.forceCalls, r.converged, r.fmax, r.energy, r.error ?? null]));
const steps = (run: Run): string[] =>
  run.metricRecords().map(({ seconds: _s, attempt: _a, ...r }) => JSON.stringify(r));
const lines = (path: string): number => (existsSync(path) ? readFileSync(path, "utf8").split("\n").length - 1 : 0);

const SRC = new URL("../../src/", import.meta.url);

/**
 * A method kind for failure tests, in a module both threads import: fire that throws after
 * `failAfter` steps, exits its thread at step `exitAt`, or fails to build in a worker with `failBuild`.
 */
const FLAKY = `
import { fromOptimizer, registerMethodKind } from ${JSON.stringify(new URL("experiment/method.ts", SRC).href)};
import { fire } from ${JSON.stringify(new URL("optimizers/index.ts", SRC).href)};
import { isMainThread } from "node:worker_threads";
registerMethodKind("flaky", (name, options) => {
  if (options.failBuild && !isMainThread) throw new Error("flaky refuses to be built");
  const base = fromOptimizer(fire());
  return {
    name, kind: "flaky", options,
    async *evaluate(crystal, calculator, budget) {
      const run = base.evaluate(crystal, calculator, budget);
      for (let n = 0; ; n++) {
        const r = await run.next();
        if (r.done) return r.value;
        if (options.exitAt === n) process.exit(7);
        if (options.failAfter !== undefined && n >= options.failAfter) throw new Error("flaky gave up at step " + n);
        yield r.value;
      }
    },
  };
});
`;

let root = "";
let flaky: (options: Record<string, unknown>) => Method;
before(async () => {
  root = mkdtempSync(join(tmpdir(), "crystal-rl-workers-"));
  const module = join(root, "flaky-method.mts");
  writeFileSync(module, FLAKY);
  await import(pathToFileURL(module).href);
  registerWorkerModule("flaky", module);
  flaky = (options) => rebuildMethod("flaky", "flaky", options)!;
});
after(() => rmSync(root, { recursive: true, force: true }));

const srtio3 = (store: string) =>
  experiment("workers")
    .structures(random({ composition: "SrTiO3", atoms: 20, count: 4, seed: 1 }))
    .calculator("ionic")
    .store(join(root, store));

describe("relaxations on worker threads", () => {
  it("give the sequential run's steps, force calls, convergence, fmax and energy per (method, structure)", async () => {
    const base = srtio3("same").methods(["fire", "bfgsls"]);
    const sequential = await base.run();
    const parallel = await base.workers(2).run();
    assert.equal(liveWorkers(), 0);
    assert.equal(parallel.status().state, "done");
    assert.equal(parallel.status().done, 8);
    assert.equal(parallel.config.settings.workers, 2);
    assert.equal(sequential.config.settings.workers, undefined);
    assert.deepEqual(numbers(parallel), numbers(sequential));
    assert.equal(numbers(parallel).length, 8);
    // Every step line, complete, in the same shape (seconds aside).
    assert.deepEqual(steps(parallel), steps(sequential));
    const keys = (run: Run) => Object.keys(run.results()[0]!).sort();
    assert.deepEqual(keys(parallel), keys(sequential));
    for (const r of parallel.results()) assert.ok(r.seconds > 0 && r.seconds < 60, `seconds ${r.seconds}`);
  });

  it("are resumed with the stored worker count, skipping the finished relaxations", async () => {
    const store = join(root, "resume");
    const controller = new AbortController();
    const timer = setInterval(() => {
      const [info] = listRuns(store);
      if (info && lines(join(info.dir, "results.jsonl")) >= 2) controller.abort();
    }, 2);
    let aborted: Run;
    try {
      aborted = await srtio3("resume").methods(["fire", "bfgsls"]).workers(2).run({ signal: controller.signal });
    } finally {
      clearInterval(timer);
    }
    assert.equal(liveWorkers(), 0, "an abort terminates the workers");
    const status = aborted.status();
    assert.equal(status.state, "aborted");
    assert.ok(status.done >= 2 && status.done < 8, `aborted after ${status.done}`);
    const before = aborted.results().map((r) => `${r.method}/${r.structure}`);

    const run = await loadRun(store, aborted.id).resume();
    assert.equal(run.config.settings.workers, 2);
    assert.equal(run.status().state, "done");
    assert.equal(run.status().attempt, 1);
    assert.equal(lines(join(run.dir, "results.jsonl")), 8, "finished relaxations are not redone");
    const redone = run.results().filter((r) => before.includes(`${r.method}/${r.structure}`));
    assert.ok(redone.every((r) => r.attempt === undefined));
    const reference = await srtio3("resume-reference").methods(["fire", "bfgsls"]).run();
    assert.deepEqual(numbers(run), numbers(reference));
    assert.deepEqual(steps(run), steps(reference));
  });

  it("record a method's error as the sequential runner does, and carry on", async () => {
    const base = srtio3("errors").methods([flaky({ failAfter: 3 }), "fire"]).steps(50);
    const sequential = await base.run();
    const parallel = await base.workers(2).run();
    assert.equal(parallel.status().state, "done");
    assert.deepEqual(numbers(parallel), numbers(sequential));
    const failed = parallel.results().filter((r) => r.method === "flaky");
    assert.equal(failed.length, 4);
    for (const r of failed) assert.equal(r.error, "flaky gave up at step 3");
  });

  it("fail with an error naming the method and structure when a worker cannot build a method, and shut down", async () => {
    const store = join(root, "build");
    await assert.rejects(
      srtio3("build").methods(["fire", flaky({ failBuild: true })]).workers(2).run(),
      (e: Error) => {
        assert.match(e.message, /method "flaky" cannot relax structure 0 in a worker thread: flaky refuses to be built/);
        return true;
      },
    );
    assert.equal(liveWorkers(), 0);
    const [info] = listRuns(store);
    assert.equal(info?.state, "failed");
  });

  it("fail, never hang, when a worker thread exits mid-relaxation", async () => {
    await assert.rejects(srtio3("exit").methods([flaky({ exitAt: 2 })]).workers(2).run(), /structure [01] with method "flaky" failed: worker thread \d exited \(code 7\)/);
    assert.equal(liveWorkers(), 0);
  });

  it("refuse, before any thread starts, a method or calculator the workers cannot rebuild", async () => {
    const opaque: Method = { name: "opaque", kind: "closure", options: {}, evaluate: (c, calc, b) => flaky({}).evaluate(c, calc, b) };
    await assert.rejects(srtio3("opaque").method(opaque).workers(2).run(), /method "opaque" \(kind closure\) cannot be rebuilt in a worker thread/);
    const odd: Calculator = { name: "odd", counts: { calls: 0, forceCalls: 0 }, compute: async () => ({ energy: 0 }), resetCounts: () => undefined };
    await assert.rejects(srtio3("odd").calculator(odd).method("fire").workers(2).run(), /calculator "odd" is not in the registry/);
    assert.equal(liveWorkers(), 0);
  });

  it("are asked for with .workers(n), a positive whole number", () => {
    const b = experiment("w");
    assert.equal(b.settings.workers, undefined);
    assert.equal(b.workers(3).settings.workers, 3);
    assert.match(b.workers(3).toString(), /workers 3/);
    for (const bad of [0, -1, 1.5, Number.NaN, "2" as unknown as number]) {
      assert.throws(() => b.workers(bad), (e: Error) => e instanceof RangeError && /workers must be a positive whole number/.test(e.message));
    }
  });
});

describe("macs on worker threads", () => {
  let policy = "";
  before(async () => {
    policy = join(root, "policy");
    await trainMacs(
      { totalTimesteps: 16, numEnvs: 2, learningStarts: 10, batchSize: 8, hiddenSizes: [8, 8], compositions: [{ composition: "SrTiO3", atoms: 5 }], checkpointInterval: 0, backend: "wasm" },
      { checkpointDir: policy },
    );
  });

  it("takes the same steps in a worker as in this thread", async () => {
    const base = experiment("macs-workers")
      .structures(random({ composition: "SrTiO3", atoms: 10, count: 2, seed: 4 }))
      .calculator("ionic")
      .method(macs({ policy }))
      .steps(30)
      .store(join(root, "macs"));
    const sequential = await base.run();
    const parallel = await base.workers(2).run();
    assert.equal(liveWorkers(), 0);
    assert.equal(parallel.status().state, "done");
    assert.deepEqual(numbers(parallel), numbers(sequential));
    assert.deepEqual(steps(parallel), steps(sequential)); // the reward column included
    assert.ok(parallel.metricRecords().every((r) => typeof r["reward"] === "number" || r.step === 0));
  });
});
