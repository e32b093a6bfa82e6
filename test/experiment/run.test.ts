/**
 * End to end: a small experiment (3 random SrTiO3 cells of 10 atoms, the ionic model, FIRE and BFGS)
 * persists its store and reloads with identical tables; live plots go to an interactive sink; a
 * learning method trains first; benchmarks and comparisons of runs.
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { ionic } from "../../src/calculators/ionic.js";
import { readExtxyz } from "./helpers.js";
import { bfgs, fire } from "../../src/optimizers/index.js";
import {
  compareRuns,
  consoleSink,
  experiment,
  fromOptimizer,
  listRuns,
  loadRun,
  random,
  registerDisplaySink,
  registerMethodKind,
  type DisplaySink,
  type Figure,
  type Method,
  type Run,
} from "../../src/experiment/index.js";

/** A sink that records what it is asked to show. */
function recordingSink(interactive: boolean) {
  const shown: { kind: string; value: unknown }[] = [];
  let lives = 0;
  const sink: DisplaySink = {
    interactive,
    figure: (fig) => shown.push({ kind: "figure", value: fig }),
    html: (html) => shown.push({ kind: "html", value: html }),
    text: (text) => shown.push({ kind: "text", value: text }),
    live: () => {
      lives++;
      return {
        figure: (fig: Figure) => shown.push({ kind: "live-figure", value: fig }),
        html: (html: string) => shown.push({ kind: "live-html", value: html }),
        text: (text: string) => shown.push({ kind: "live-text", value: text }),
      };
    },
  };
  return { sink, shown, lives: () => lives };
}

const small = random({ composition: "SrTiO3", atoms: 10, count: 3, seed: 1 });

describe("experiment run, end to end", () => {
  let root: string;
  let store: string;
  let run: Run;

  before(async () => {
    root = mkdtempSync(join(tmpdir(), "crystal-rl-run-"));
    store = join(root, "runs");
    run = await experiment("srtio3-small").structures(small).calculator(ionic()).methods([fire(), bfgs()]).trajectories().store(store).run();
  });
  after(() => {
    registerDisplaySink(consoleSink);
    rmSync(root, { recursive: true, force: true });
  });

  it("writes config, structures, metrics, results, status and trajectories", () => {
    assert.match(run.id, /^\d{8}-\d{9}-srtio3-small-[0-9a-f]{4}$/);
    assert.deepEqual(readdirSync(run.dir).sort(), ["config.json", "metrics.jsonl", "results.jsonl", "status.json", "structures.json", "trajectories"]);
    const config = run.config;
    assert.equal(config.name, "srtio3-small");
    assert.deepEqual(config.settings, { fmax: 0.05, steps: 1000, seed: 0, live: false, trajectories: true });
    assert.deepEqual(config.structures.formulas, ["Sr2Ti2O6", "Sr2Ti2O6", "Sr2Ti2O6"]);
    assert.deepEqual(config.structures.source, { kind: "random", options: { composition: "SrTiO3", atoms: 10, count: 3, seed: 1 } });
    assert.equal(config.calculator.name, "ionic");
    assert.equal(config.calculator.options["cutoff"], 15);
    assert.deepEqual(config.methods.map((m) => [m.label, m.kind]), [["fire", "optimizer"], ["bfgs", "optimizer"]]);
    assert.equal(config.versions["crystal-rl"], "0.1.0");
    assert.equal(typeof config.machine["cpus"], "number");
    const status = run.status();
    assert.equal(status.state, "done");
    assert.equal(status.done, 6);
    // One metrics line per step record, step 0 included.
    const results = run.results();
    assert.equal(results.length, 6);
    const steps = results.reduce((s, r) => s + r.steps + 1, 0);
    assert.equal(readFileSync(join(run.dir, "metrics.jsonl"), "utf8").trimEnd().split("\n").length, steps);
    // Trajectories: one frame per step; the last frame's energy is the result's.
    for (const r of results) {
      const frames = readExtxyz(join(run.dir, "trajectories", `${r.method}-${r.structure}.extxyz`));
      assert.equal(frames.length, r.steps + 1);
      assert.equal(frames.at(-1)!.energy, r.energy);
    }
  });

  it("gives one table row per relaxation, consistent with the step records", () => {
    const table = run.table();
    assert.deepEqual(table.columnNames(), ["method", "structure", "formula", "natoms", "steps", "forceCalls", "seconds", "converged", "energy", "fmax"]);
    const rows = table.objects();
    assert.deepEqual(rows.map((r) => `${r["method"]}${r["structure"]}`), ["fire0", "fire1", "fire2", "bfgs0", "bfgs1", "bfgs2"]);
    const metrics = run.metricRecords();
    for (const r of rows) {
      assert.equal(r["converged"], true);
      assert.ok((r["fmax"] as number) < 0.05);
      assert.equal(r["natoms"], 10);
      const last = metrics.filter((m) => m.method === r["method"] && m.structure === r["structure"]).at(-1)!;
      assert.equal(last.step, r["steps"]);
      assert.equal(last.forceCalls, r["forceCalls"]);
      assert.equal(last.energy, r["energy"]);
    }
    // FIRE and BFGS make one force call per step (plus the first).
    for (const r of rows) assert.equal(r["forceCalls"], (r["steps"] as number) + 1);
  });

  it("reloads from the store with identical tables (a restarted notebook sees the run)", () => {
    const runs = listRuns(store);
    assert.equal(runs.length, 1);
    assert.deepEqual({ ...runs[0], dir: undefined, created: undefined }, {
      id: run.id,
      name: "srtio3-small",
      state: "done",
      done: 6,
      total: 6,
      methods: ["fire", "bfgs"],
      calculator: "ionic",
      structures: 3,
      dir: undefined,
      created: undefined,
    });
    for (const again of [loadRun(store, run.id), loadRun(store), loadRun(store, "latest")]) {
      assert.equal(again.id, run.id);
      assert.deepEqual(again.table().objects(), run.table().objects());
      assert.equal(again.table().toCSV(), run.table().toCSV());
      assert.deepEqual(again.metrics().objects(), run.metrics().objects());
      assert.deepEqual(again.summary().objects(), run.summary().objects());
      assert.deepEqual(again.figure("convergence"), run.figure("convergence"));
      assert.ok(again.structures()[1]!.equals(run.structures()[1]!, 0));
    }
    assert.throws(() => loadRun(store, "nope"), /no run "nope" in .*runs \(1 runs; the latest is/);
    assert.throws(() => loadRun(join(root, "empty")), /no runs in/);
  });

  it("summarises as the MACS paper does", () => {
    const summary = run.summary().objects();
    const rows = run.table().objects();
    for (const s of summary) {
      const mine = rows.filter((r) => r["method"] === s["method"]);
      assert.equal(s["count"], 3);
      assert.equal(s["P_F"], 0);
      assert.equal(s["N_mean"], mine.reduce((a, r) => a + (r["steps"] as number), 0) / 3);
      assert.equal(s["C_mean"], mine.reduce((a, r) => a + (r["forceCalls"] as number), 0) / 3);
    }
  });

  it("shows tables and plots through the display sink", () => {
    const { sink, shown } = recordingSink(true);
    registerDisplaySink(sink);
    try {
      run.view();
      run.summary().view();
      run.plot("convergence");
      run.table().plot("forceCalls");
    } finally {
      registerDisplaySink(consoleSink);
    }
    assert.deepEqual(shown.map((s) => s.kind), ["html", "html", "figure", "figure"]);
    assert.match(String(shown[0]!.value), /srtio3-small .*: done, 6\/6 relaxations.*<table>/s);
    assert.match(String(shown[1]!.value), /N_mean/);
    assert.deepEqual(((shown[2]!.value as Figure).data).filter((t) => t["showlegend"] !== false).map((t) => t["name"]), ["fire", "bfgs"]);
    assert.equal((shown[3]!.value as Figure).data[0]!["type"], "bar");
  });

  it(".live() redraws a force-convergence plot in an interactive sink, and does nothing elsewhere", async () => {
    const live = recordingSink(true);
    registerDisplaySink(live.sink);
    try {
      await experiment("live").structures(small).calculator(ionic()).methods([fire(), bfgs()]).live().store(store).run();
    } finally {
      registerDisplaySink(consoleSink);
    }
    assert.equal(live.lives(), 1);
    const frames = live.shown.filter((s) => s.kind === "live-figure").map((s) => s.value as Figure);
    assert.ok(frames.length >= 1);
    const last = frames.at(-1)!;
    assert.match(String((last.layout!["title"] as { text: string }).text), /live: 6\/6 relaxations/);
    assert.deepEqual(last.data.filter((t) => t["showlegend"] !== false).map((t) => t["name"]), ["fire", "bfgs"]);

    const quiet = recordingSink(false);
    registerDisplaySink(quiet.sink);
    try {
      await experiment("quiet").structures(small).calculator("ionic").method(fire()).live().store(store).run();
    } finally {
      registerDisplaySink(consoleSink);
    }
    assert.equal(quiet.lives(), 0);
    assert.equal(quiet.shown.length, 0);
  });

  it("trains a learning method first, logs its curve, then evaluates it", async () => {
    const base = fromOptimizer(fire());
    let trainedWith = -1;
    const learner: Method = {
      name: "toy",
      kind: "toy-policy",
      options: { episodes: 5 },
      async *train(ctx) {
        trainedWith = ctx.structures.length;
        for (let step = 0; step < 5; step++) yield { step: 100 * step, "charts/episodic_return": step * step, "losses/qf_loss": 1 / (step + 1) };
      },
      evaluate: (crystal, calculator, budget) => base.evaluate(crystal, calculator, budget),
    };
    const trained = await experiment("toy").structures(small).calculator(ionic()).train(learner).method(bfgs()).store(store).run();
    assert.equal(trainedWith, 3);
    assert.deepEqual(trained.status().trained, ["toy"]);
    assert.deepEqual(trained.training().array("charts/episodic_return"), [0, 1, 4, 9, 16]);
    assert.ok(existsSync(join(trained.dir, "checkpoints", "toy")));
    const fig = trained.figure("learning", { smoothing: 0 });
    assert.deepEqual(fig.data.map((t) => t["name"]), ["toy"]);
    assert.deepEqual(fig.data[0]!["y"], [0, 1, 4, 9, 16]);
    assert.deepEqual(trained.methods, ["toy", "bfgs"]);
    assert.equal(trained.table().numRows, 6);
    // A loaded run cannot rebuild the toy policy: resuming names it.
    const { writeFileSync } = await import("node:fs");
    const statusPath = join(trained.dir, "status.json");
    writeFileSync(statusPath, JSON.stringify({ ...trained.status(), state: "aborted" }));
    await assert.rejects(loadRun(store, trained.id).resume(), /method "toy" \(kind toy-policy\) cannot be rebuilt from config\.json; pass it/);
  });

  it("records a method that throws as a failed relaxation and goes on", async () => {
    const flaky: Method = {
      name: "flaky",
      kind: "test",
      options: {},
      async *evaluate(crystal, calculator, budget) {
        if (budget.index === 1) {
          yield { step: 0, energy: -1, fmax: 3, forceCalls: 1, info: { reward: 0.5 } };
          throw new Error("the line search failed");
        }
        return yield* fromOptimizer(bfgs()).evaluate(crystal, calculator, budget);
      },
    };
    const r = await experiment("flaky").structures(small).calculator(ionic()).method(flaky).store(store).run();
    assert.equal(r.status().state, "done");
    const rows = r.table().objects();
    assert.deepEqual(r.table().columnNames().at(-1), "error");
    assert.deepEqual(rows.map((x) => [x["converged"], x["error"]]), [
      [true, null],
      [false, "the line search failed"],
      [true, null],
    ]);
    assert.deepEqual([rows[1]!["steps"], rows[1]!["energy"], rows[1]!["forceCalls"]], [0, -1, 1]);
    assert.equal(r.summary().objects()[0]!["P_F"], 100 / 3);
    assert.equal(r.metricRecords().find((m) => m.structure === 1)!["reward"], 0.5);
  });

  it("a loaded run's trained method is rebuilt and loaded from its checkpoint for a benchmark", async () => {
    const { writeFileSync: write, readFileSync: read } = await import("node:fs");
    const makeLearner = (options: { scale: number }): Method & { weights: number } => {
      const inner = fromOptimizer(fire());
      const m = {
        name: "saver",
        kind: "saver-policy",
        options,
        weights: 0,
        async *train() {
          m.weights = 42 * options.scale;
          yield { step: 1, "charts/episodic_return": 1 };
        },
        save: async (dir: string) => write(join(dir, "weights.json"), JSON.stringify(m.weights)),
        load: async (dir: string) => {
          m.weights = JSON.parse(read(join(dir, "weights.json"), "utf8")) as number;
        },
        evaluate: (c: Parameters<Method["evaluate"]>[0], calc: Parameters<Method["evaluate"]>[1], b: Parameters<Method["evaluate"]>[2]) => inner.evaluate(c, calc, b),
      };
      return m;
    };
    let loaded: (Method & { weights: number }) | undefined;
    registerMethodKind("saver-policy", (_name, options) => (loaded = makeLearner(options as { scale: number })));
    const first = await experiment("saver").structures(small).calculator("ionic").train(makeLearner({ scale: 2 })).store(store).run();
    const bench = await loadRun(store, first.id).benchmark(["bfgs"], { count: 1 });
    assert.equal(loaded?.weights, 84);
    assert.deepEqual(bench.run.methods, ["saver", "bfgs"]);
    assert.deepEqual(bench.run.config.methods.map((m) => m.train), [false, false]);
    assert.equal(bench.numRows, 2);
  });

  it("benchmarks on fresh random structures in a new run, and compares runs", async () => {
    const table = await run.benchmark([bfgs()], { count: 2, seed: 9 });
    assert.notEqual(table.run.id, run.id);
    assert.equal(table.run.config.parent, run.id);
    assert.equal(table.run.name, "srtio3-small-benchmark");
    assert.deepEqual(table.run.config.structures.source, { kind: "random", options: { composition: "SrTiO3", atoms: 10, count: 2, seed: 9 } });
    assert.deepEqual(table.objects().map((r) => `${r["method"]}${r["structure"]}`), ["bfgs0", "bfgs1"]);
    const both = compareRuns([run, table.run]);
    assert.deepEqual(both.columnNames().slice(0, 2), ["run", "method"]);
    assert.equal(both.numRows, 8);
    assert.deepEqual(both.summary().objects().map((s) => [s["run"], s["method"], s["count"]]), [
      ["srtio3-small", "fire", 3],
      ["srtio3-small", "bfgs", 3],
      ["srtio3-small-benchmark", "bfgs", 2],
    ]);
    const fig = both.figure("convergence");
    assert.deepEqual(fig.data.filter((t) => t["showlegend"] !== false).map((t) => t["name"]), [
      "srtio3-small · fire",
      "srtio3-small · bfgs",
      "srtio3-small-benchmark · bfgs",
    ]);
    // Filtering keeps the helpers, and the convergence plot follows the filter.
    const onlyFire = run.table().with((t) => t.filter((d: { method: string }) => d.method === "fire"));
    assert.equal(onlyFire.numRows, 3);
    assert.deepEqual(onlyFire.figure("convergence").data.filter((t) => t["showlegend"] !== false).map((t) => t["name"]), ["fire"]);
  });
});
