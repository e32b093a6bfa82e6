/**
 * A killed run leaves a readable store, and resuming it gives the numbers of an uninterrupted run:
 * a child process runs a relaxation experiment, gets SIGKILL after some results are written, then
 * the store is loaded (torn last lines ignored) and resumed.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { ionic } from "../../src/calculators/ionic.js";
import { listRuns, loadRun, type Run } from "../../src/experiment/index.js";
import type { Calculator } from "../../src/calculators/calculator.js";
import { relaxExperiment, slowIonic } from "./fixtures/relax-experiment.js";

const FIXTURE = join(import.meta.dirname, "fixtures", "relax-experiment.ts");
const lines = (path: string): number => (existsSync(path) ? readFileSync(path, "utf8").split("\n").length - 1 : 0);

/** Rows without the wall-clock columns. */
const timeless = (rows: object[]): object[] => rows.map((r) => Object.fromEntries(Object.entries(r).filter(([k]) => k !== "seconds")));

describe("kill and resume", () => {
  let root: string;
  let reference: Run;

  before(async () => {
    root = mkdtempSync(join(tmpdir(), "crystal-rl-resume-"));
    reference = await relaxExperiment(join(root, "reference")).run();
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  it("a run killed mid-way loads, reads as interrupted, and resumes to the uninterrupted numbers", async () => {
    const store = join(root, "killed");
    const child = spawn(process.execPath, ["--import", "tsx", FIXTURE, store, "1"], { stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += String(d)));
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    // Kill once 3 of the 12 relaxations are in results.jsonl.
    const killedAt = await new Promise<number>((resolve, reject) => {
      const timer = setInterval(() => {
        const dirs = listRuns(store);
        const n = dirs.length ? lines(join(dirs[0]!.dir, "results.jsonl")) : 0;
        if (n >= 3) {
          clearInterval(timer);
          child.kill("SIGKILL");
          resolve(n);
        }
      }, 5);
      child.on("exit", (code) => {
        clearInterval(timer);
        reject(new Error(`the child exited (${code}) before it was killed: ${stderr}`));
      });
    });
    await exited;
    assert.ok(killedAt >= 3);

    const [info] = listRuns(store);
    assert.ok(info);
    assert.equal(info.state, "interrupted");
    assert.ok(info.done < 12, `killed after ${info.done} relaxations`);

    // A torn last line (a write cut short) is ignored on load, never a parse crash.
    appendFileSync(join(info.dir, "metrics.jsonl"), '{"method":"fire","structure":5,"st');
    appendFileSync(join(info.dir, "results.jsonl"), '{"method":"bfgs","structure":5,"steps":1');
    const run = loadRun(store, info.id.slice(0, 20));
    assert.equal(run.id, info.id);
    const partial = run.table();
    assert.equal(partial.numRows, info.done);
    assert.ok(run.metrics().numRows() > 0);

    await run.resume(); // calculator rebuilt from config.json ("ionic", checked against a stored energy)
    const status = run.status();
    assert.equal(status.state, "done");
    assert.equal(status.attempt, 1);
    assert.equal(status.done, 12);
    assert.equal(listRuns(store)[0]!.state, "done");

    assert.deepEqual(timeless(run.table().objects()), timeless(reference.table().objects()));
    // Step records: each relaxation once (the killed attempt's partial lines dropped), same numbers.
    assert.deepEqual(timeless(run.metrics().objects()), timeless(reference.metrics().objects()));
    // The files stay valid JSON Lines after the torn tails were cut.
    for (const f of ["metrics.jsonl", "results.jsonl"]) {
      for (const line of readFileSync(join(info.dir, f), "utf8").trimEnd().split("\n")) JSON.parse(line);
    }
    // Resuming a finished run does nothing.
    await run.resume();
    assert.equal(run.status().attempt, 1);
  });

  it("an aborted run resumes through the builder's .resume(id), which checks the settings match", async () => {
    const store = join(root, "aborted");
    const controller = new AbortController();
    const inner = ionic();
    let calls = 0;
    const aborting: Calculator = {
      name: "ionic",
      get counts() {
        return inner.counts;
      },
      async compute(crystal, request) {
        if (++calls === 150) controller.abort();
        return inner.compute(crystal, request);
      },
      resetCounts: () => inner.resetCounts(),
    };
    const run = await relaxExperiment(store, aborting).run({ signal: controller.signal });
    assert.equal(run.status().state, "aborted");
    assert.ok(run.status().done >= 1 && run.status().done < 12);

    await assert.rejects(relaxExperiment(store).fmax(0.1).resume(run.id).run(), /cannot resume run .*fmax 0\.1 \(the run has 0\.05\)/);
    const resumed = await relaxExperiment(store).resume(run.id).run();
    assert.equal(resumed.id, run.id);
    assert.equal(resumed.status().state, "done");
    assert.deepEqual(timeless(resumed.table().objects()), timeless(reference.table().objects()));
    assert.deepEqual(timeless(resumed.metrics().objects()), timeless(reference.metrics().objects()));
  });

  it("refuses a rebuilt calculator that does not reproduce the stored energies", async () => {
    const store = join(root, "mismatch");
    const controller = new AbortController();
    controller.abort();
    const run = await relaxExperiment(store, slowIonic(0)).run({ signal: controller.signal });
    assert.equal(run.status().state, "aborted");
    // Pretend the run used another ionic set-up: the recorded step-0 energy no longer matches.
    const path = join(run.dir, "config.json");
    const config = JSON.parse(readFileSync(path, "utf8"));
    config.calculator.options = { cutoff: 6 };
    const { writeFileSync } = await import("node:fs");
    writeFileSync(path, JSON.stringify(config));
    await assert.rejects(loadRun(store, run.id).resume(), /calculator "ionic" rebuilt from config\.json gives .* pass the calculator/);
    await loadRun(store, run.id).resume({ calculator: ionic() });
    assert.equal(loadRun(store, run.id).status().state, "done");
  });
});
