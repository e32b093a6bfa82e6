/**
 * CrystalGym experiments: the builder's checks and immutability, a short real run (MEGNet policy,
 * analytic density) stored and read back, a run killed mid-way that resumes to the same episode count
 * without duplicated episodes, and the `crystal-rl gym` command.
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import type { PropertyProvider } from "../../src/calculators/property.js";
import { template } from "../../src/envs/crystal-gym/templates.js";
import { gym, taskDefaults } from "../../src/experiment/gym.js";
import { loadGymRun, readDone, type GymRecord } from "../../src/experiment/gym-store.js";
import { currentBackend, useBackend } from "../../src/tensor/backend.js";

const TEMPLATE_CSCL = template("cesium-chloride");
import { cli } from "../helpers/cli.js";

const root = mkdtempSync(join(tmpdir(), "crl-gym-"));
after(() => rmSync(root, { recursive: true, force: true }));

describe("gym builder", () => {
  it("checks every argument at the call and never changes the base", () => {
    const base = gym("t");
    assert.throws(() => base.algorithms(["a2c" as "dqn"]), /unknown algorithm "a2c"; known: ppo, dqn, rainbow, sac/);
    assert.throws(() => base.property("hardness" as "density"), /property must be band-gap, bulk-modulus or density/);
    assert.throws(() => base.engine("vasp"), /unknown property engine "vasp"/);
    assert.throws(() => base.steps(0), /steps must be a positive integer/);
    assert.throws(() => base.seeds([]), /at least one/);
    assert.throws(() => gym("bad name"), /letters, digits/);
    assert.throws(() => base.set("dqn", { learningstarts: 10 }), /dqn has no setting "learningstarts".*learningStarts/);
    assert.throws(() => base.set("dqn", { learningStarts: "10" }), /dqn\.learningStarts takes a number, got "10"/);
    assert.throws(() => base.set("ppo", { totalTimesteps: 10 }), /steps and seeds have their own calls/);
    assert.throws(() => base.backend("gpu" as "cpu"), /backend must be one of auto, tensorflow, webgpu, wasm, cpu/);
    assert.equal(base.backend("webgpu").settings().backend, "webgpu");
    const b = base.template("cesium-chloride").algorithms(["ppo", "sac"]).seeds([3, 4]).steps(10).set("ppo", { numSteps: 8 });
    assert.deepEqual(base.settings().algorithms, ["dqn"]);
    assert.equal(base.settings().task.template, "perovskite");
    assert.deepEqual(b.settings().algorithms, ["ppo", "sac"]);
    assert.deepEqual(b.settings().configs, { ppo: { numSteps: 8 } });
    assert.equal(b.settings().task.cache, "auto");
    // a name given after an object replaces it (and the reverse)
    const own = { ...TEMPLATE_CSCL, name: "my-cscl" };
    assert.equal(base.template(own).template("perovskite").settings().task.template, "perovskite");
    assert.equal(base.template("perovskite").template(own).settings().task.template, "my-cscl");
  });
});

describe("task defaults", () => {
  it("fits Rainbow's C51 support to the property's reward range (spec §4)", () => {
    assert.deepEqual(taskDefaults("rainbow", "density"), { learningStarts: 200, vMin: -1, vMax: 1 });
    assert.deepEqual(taskDefaults("rainbow", "band-gap"), { learningStarts: 200, vMin: -1, vMax: 1 });
    assert.deepEqual(taskDefaults("rainbow", "bulk-modulus"), { learningStarts: 200, vMin: -5, vMax: 0 });
  });

  it("starts off-policy learning after 10 % of the budget, never later than the spec's 1,000 steps", () => {
    assert.equal(taskDefaults("dqn", "density").learningStarts, 200); // the default 2,000 steps
    assert.equal(taskDefaults("dqn", "density", 150).learningStarts, 15);
    assert.equal(taskDefaults("sac", "band-gap", 5_000).learningStarts, 500);
    assert.equal(taskDefaults("dqn", "density", 100_000).learningStarts, 1_000);
    assert.equal(taskDefaults("ppo", "density").learningStarts, undefined); // on-policy: no warm-up
    assert.equal(taskDefaults("sac", "density").alpha, 0.02); // the rewards' scale, not Atari's
  });

  it("gives way to the user's settings", async () => {
    const dir = mkdtempSync(join(tmpdir(), "crl-gym-defaults-"));
    try {
      const run = await gym("defaults").algorithms(["dqn", "ppo"]).steps(30).set("dqn", { learningStarts: 20 }).baseline(0).evaluate(0).store(dir).run();
      // done.json keeps the hyper-parameters each agent trained with
      const used = (pair: string) => readDone(join(run.dir, pair))?.config as Record<string, unknown>;
      assert.equal(used("dqn-s1").learningStarts, 20);
      assert.equal(used("dqn-s1").gamma, 0.99); // the spec's, untouched
      assert.equal(used("ppo-s1").learningRate, 1e-3); // the task default
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("gym runs", () => {
  const store = join(root, "runs");

  it("trains, logs every episode and summarises against the random policy", { timeout: 120_000 }, async () => {
    const seen: GymRecord[] = [];
    const run = await gym("short")
      .store(store)
      .template("cesium-chloride")
      .algorithms(["ppo"])
      .steps(64)
      .set("ppo", { numSteps: 16, numMinibatches: 2 })
      .baseline(20)
      .run({ onRecord: (r) => seen.push(r) });
    assert.equal(run.records.length, 32, "2 sites: one episode per 2 steps");
    assert.deepEqual(run.records, seen);
    for (const r of run.records) {
      assert.equal(r.algorithm, "ppo");
      assert.ok(r.return > 0 && r.return <= 1, `density reward ${r.return}`);
      assert.ok(r.value !== null && r.value > 0);
      assert.ok(r.composition.length > 0);
    }
    const [row] = run.summary().objects() as Record<string, number | string>[];
    assert.equal(row!["algorithm"], "ppo");
    assert.equal(row!["episodes"], 32);
    assert.ok(Number.isFinite(row!["random_return"] as number));
    assert.equal(row!["failure_pct"], 0);
    const greedy = row!["greedy_return"] as number;
    assert.ok(greedy > 0 && greedy <= 1, `greedy return ${greedy} after training`);
    const back = loadGymRun(store, run.id);
    assert.deepEqual(back.records, run.records);
    assert.ok(back.pairs.every((p) => p.done));
    assert.equal(back.figure().data.length > 0, true);
  });

  it("a failing engine gives the spec's failure reward and its reason in every episode, never a crash", { timeout: 60_000 }, async () => {
    // a provider whose every evaluation fails as a non-converged SCF would (a stand-in for pw.x's failure path only)
    const failing: PropertyProvider = {
      engine: "failing",
      settings: {},
      properties: ["density"],
      evaluate: async (_crystal, property) => ({ property, value: null, unit: "g/cm3", engine: "failing", seconds: 0.01, errorFlag: 1, reason: "convergence NOT achieved after 300 iterations" }),
    };
    const run = await gym("failing").store(store).template("cesium-chloride").engine(failing).cache(false).algorithms(["ppo"]).steps(32).set("ppo", { numSteps: 16 }).baseline(0).run();
    assert.equal(run.records.length, 16);
    for (const r of run.records) {
      assert.equal(r.return, -1);
      assert.equal(r.errorFlag, 1);
      assert.equal(r.value, null);
      assert.match(r.reason ?? "", /convergence NOT achieved/);
    }
    assert.equal((run.summary().objects()[0] as Record<string, number>)["failure_pct"], 100);
  });

  it("a template name or engine name given after an object replaces the object in the run", { timeout: 60_000 }, async () => {
    const failing: PropertyProvider = {
      engine: "failing",
      settings: {},
      properties: ["density"],
      evaluate: async (_crystal, property) => ({ property, value: null, unit: "g/cm3", engine: "failing", seconds: 0, errorFlag: 3, reason: "always" }),
    };
    const run = await gym("replaced").store(store).template(TEMPLATE_CSCL).template("perovskite").engine(failing).engine("analytic")
      .algorithms(["ppo"]).steps(20).set("ppo", { numSteps: 10 }).baseline(0).run();
    assert.equal(run.records.length, 4, "5-site perovskite: 4 episodes in 20 steps");
    assert.ok(run.records.every((r) => r.errorFlag === 0 && r.return > 0), "the analytic engine, not the failing one");
  });

  it("resumes a run killed mid-way: same episodes, none twice, the agent's step counter goes on", { timeout: 180_000 }, async () => {
    const controller = new AbortController();
    const builder = gym("killed").store(store).template("cesium-chloride").algorithms(["dqn"]).steps(80).checkpointEvery(10).baseline(0).set("dqn", { learningStarts: 10, batchSize: 16 });
    let count = 0;
    const first = await builder.run({ signal: controller.signal, onRecord: () => (++count === 15 ? controller.abort() : undefined) });
    const pair = join(first.dir, "dqn-s1");
    assert.ok(!existsSync(join(pair, "done.json")), "not finished");
    assert.match(readFileSync(join(first.dir, "status.json"), "utf8"), /"aborted"/);
    const resumed = await builder.resume(first.id).run();
    assert.ok(existsSync(join(pair, "done.json")));
    const steps = resumed.records.map((r) => r.step);
    assert.deepEqual(steps, [...steps].sort((a, b) => a - b), "in order");
    assert.equal(new Set(steps).size, steps.length, "no episode twice");
    assert.equal(steps.at(-1), 80);
    assert.ok(resumed.records.length >= 38 && resumed.records.length <= 40, `${resumed.records.length} episodes (a killed partial episode is replayed)`);
  });
});

describe("gym backends", () => {
  it("trains on the backend asked for and records it with each agent", { timeout: 60_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "crl-gym-backend-"));
    try {
      const run = await gym("on-cpu").algorithms(["dqn"]).steps(20).set("dqn", { learningStarts: 10 }).baseline(0).evaluate(2).backend("cpu").store(dir).run();
      assert.equal(currentBackend(), "cpu");
      assert.equal(readDone(join(run.dir, "dqn-s1"))?.["backend"], "cpu");
      assert.equal(JSON.parse(readFileSync(join(run.dir, "config.json"), "utf8")).backend, "cpu");
    } finally {
      await useBackend("wasm");
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("crystal-rl gym", () => {
  it("prints the summary as JSON", { timeout: 120_000 }, async () => {
    const r = await cli("gym", "--algo", "ppo", "--template", "cesium-chloride", "--steps", "32", "--baseline", "10", "--set", "ppo.numSteps=16", "--store", join(root, "cli"), "--json");
    assert.equal(r.code, 0, r.err);
    const out = JSON.parse(r.out) as { id: string; summary: Record<string, unknown>[] };
    assert.equal(out.summary[0]!["algorithm"], "ppo");
    assert.equal(out.summary[0]!["episodes"], 16);
  });

  it("refuses bad options, naming them", async () => {
    let r = await cli("gym", "--algo", "a3c");
    assert.equal(r.code, 2);
    assert.match(r.err, /unknown algorithm "a3c"/);
    r = await cli("gym", "--set", "dqn.lr");
    assert.equal(r.code, 2);
    assert.match(r.err, /must look like ALGO\.key=value/);
    r = await cli("gym", "--backend", "gpu");
    assert.equal(r.code, 2);
    assert.match(r.err, /--backend must be one of auto, tensorflow, webgpu, wasm, cpu.*got "gpu"/);
    r = await cli("gym", "--template", "nope", "--steps", "2", "--store", join(root, "cli"));
    assert.equal(r.code, 2);
    assert.match(r.err, /nope/);
  });
});
