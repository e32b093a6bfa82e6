/**
 * MACS training loop: metric names, checkpoint round trip, kill-and-resume in a child process, and the
 * loaded policy relaxing a structure. Tiny settings (fixtures/macs-tiny.ts), wasm.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import * as tf from "@tensorflow/tfjs";
import { ionic } from "../../src/calculators/ionic.js";
import { relaxWithPolicy } from "../../src/envs/policy.js";
import { consoleSink, experiment, macs, random, registerDisplaySink, trainingFigure, type DisplaySink, type Figure } from "../../src/experiment/index.js";
import { rebuildMethod, type TrainRecord } from "../../src/experiment/method.js";
import { readJsonl } from "../../src/io/jsonl.js";
import { exportMacsPolicy, latestCheckpoint, loadMacsPolicy, macsConfig, macsHistory, trainMacs } from "../../src/rl/macs.js";
import { ReplayBuffer } from "../../src/rl/replay-buffer.js";
import { Sac } from "../../src/rl/sac.js";
import { randomCrystal } from "../../src/structure/random.js";
import { Rng } from "../../src/structure/random-source.js";
import { useBackend } from "../../src/tensor/backend.js";
import { TINY } from "./fixtures/macs-tiny.js";

tf.env().set("PROD", true);
const here = fileURLToPath(new URL(".", import.meta.url));
let root = "";

before(async () => {
  await useBackend("wasm");
  root = await mkdtemp(join(tmpdir(), "macs-test-"));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

describe("MACS training", () => {
  let dir = "";
  const records: TrainRecord[] = [];

  it("runs the loop and reports CleanRL's metric names", async () => {
    dir = join(root, "run");
    const tensors = tf.memory().numTensors;
    const r = await trainMacs({ ...TINY, totalTimesteps: 300, checkpointInterval: 100 }, { checkpointDir: dir, onMetrics: (m) => records.push(m) });
    assert.equal(r.step, 300);
    assert.equal(r.iterations, 150);
    assert.equal(r.transitions, 300 * 10);
    assert.ok(r.updates > 0 && r.updates === 150 - Math.ceil(100 / 20) + 1, `updates ${r.updates}`);
    assert.ok(r.episodes >= 2, `episodes ${r.episodes}`); // 20-step cap
    assert.equal(r.stopped, false);
    const names = new Set(records.flatMap((m) => Object.keys(m)));
    for (const n of [
      "charts/episodic_return",
      "charts/episode_length",
      "charts/atom_transitions_per_s",
      "charts/updates_per_s",
      "losses/qf1_loss",
      "losses/qf_loss",
      "losses/actor_loss",
      "losses/alpha",
      "losses/alpha_loss",
    ]) {
      assert.ok(names.has(n), `missing ${n}`);
    }
    for (const m of records) {
      assert.equal(typeof m.step, "number");
      for (const [k, v] of Object.entries(m)) if (typeof v === "number") assert.ok(Number.isFinite(v), `${k} = ${v}`);
    }
    const ep = records.find((m) => m["charts/episodic_return"] !== undefined)!;
    assert.ok((ep["charts/episode_length"] as number) <= 20);
    // every record is in metrics.jsonl, in order, and the first says how long imitation lasts
    assert.deepEqual(readJsonl(join(dir, "metrics.jsonl")), JSON.parse(JSON.stringify(records)));
    assert.equal(records[0]!["config/imitation_steps"], TINY.imitationSteps ?? 0);
    assert.deepEqual(await macsHistory(dir), JSON.parse(JSON.stringify(records)));
    // Training with three checkpoints (steps 100, 200, 300) leaks no tensor.
    assert.equal(tf.memory().numTensors - tensors, 0, `tensors leaked: ${tf.memory().numTensors - tensors}`);
  });

  it("writes a checkpoint whose policy round-trips (same deterministic actions)", async () => {
    const latest = await latestCheckpoint(dir);
    assert.equal(latest.progress.step, 300);
    assert.ok(latest.progress.bufferSaved);
    assert.deepEqual(latest.config.compositions, TINY.compositions);
    const agent = await Sac.load(join(latest.path, "agent"));
    const a = await loadMacsPolicy(dir);
    const b = await loadMacsPolicy(join(latest.path, "policy"));
    try {
      assert.ok(a.agent.normaliser?.frozen);
      assert.equal(a.agent.normaliser?.count, 300 * 10);
      const obs = Float32Array.from({ length: 7 * 204 }, (_, i) => Math.sin(i * 0.37) * 3);
      const ua = a(obs, 7);
      assert.equal(ua.length, 21);
      assert.deepEqual(ua, b(obs, 7));
      assert.deepEqual(ua, agent.act(obs, { deterministic: true }));
      assert.ok(ua.every((x) => x >= -1 && x <= 1));
    } finally {
      a.dispose();
      b.dispose();
      agent.dispose();
    }
  });

  it("exports the newest policy with a training record that loadMacsPolicy reads", async () => {
    const to = join(root, "exported");
    const record = await exportMacsPolicy(dir, to, "test export");
    const stored = JSON.parse(await readFile(join(to, "training.json"), "utf8")) as typeof record;
    assert.equal(stored.format, "crystal-rl/macs-training@1");
    assert.equal(stored.progress.step, 300);
    assert.equal(stored.progress.backend, "wasm");
    assert.ok(stored.progress.wallSeconds > 0);
    assert.ok(stored.machine.cores >= 1 && stored.machine.cpu.length > 0);
    assert.equal(stored.note, "test export");
    assert.deepEqual(stored.config.compositions, TINY.compositions);
    const a = await loadMacsPolicy(dir);
    const b = await loadMacsPolicy(to);
    try {
      const obs = Float32Array.from({ length: 3 * 204 }, (_, i) => Math.cos(i * 0.11) * 2);
      assert.deepEqual(a(obs, 3), b(obs, 3));
    } finally {
      a.dispose();
      b.dispose();
    }
    await assert.rejects(exportMacsPolicy(join(root, "nothing"), join(root, "x")), /progress\.json|ENOENT/);
  });

  it("imitation phase: the teacher acts, the actor is cloned towards it, SAC takes over after", async () => {
    const seen: TrainRecord[] = [];
    const r = await trainMacs({ ...TINY, totalTimesteps: 200, imitationSteps: 100, checkpointInterval: 0 }, { onMetrics: (m) => seen.push(m) });
    assert.equal(r.step, 200);
    const losses = seen.filter((m) => m["losses/qf_loss"] !== undefined);
    const imitating = losses.filter((m) => m.step <= 100);
    const after = losses.filter((m) => m.step > 110);
    assert.ok(imitating.length > 0 && imitating.every((m) => Number.isFinite(m["losses/imitation_loss"])), "imitation loss while imitating");
    assert.ok(after.length > 0 && after.every((m) => m["losses/imitation_loss"] === undefined && Number.isFinite(m["losses/actor_loss"])), "SAC after");
  });

  it("warm start (init): a new run starts from another's actor; imitationWeight keeps a clone term in SAC's actor loss", async () => {
    const out = join(root, "warm");
    const seen: TrainRecord[] = [];
    const obs = Float32Array.from({ length: 2 * 204 }, (_, i) => Math.sin(i * 0.07) * 2);
    const before = await loadMacsPolicy(dir);
    const expected = before(obs, 2);
    before.dispose();
    // totalTimesteps 0: the warm-started agent is checkpointed as it was loaded
    await trainMacs({ ...TINY, totalTimesteps: 0, checkpointInterval: 0 }, { checkpointDir: out, init: dir });
    const started = await loadMacsPolicy(out);
    try {
      assert.ok(maxDiff(started(obs, 2), expected) < 1e-6, "the actor was copied");
    } finally {
      started.dispose();
    }
    const r = await trainMacs({ ...TINY, totalTimesteps: 60, imitationWeight: 0.4, imitationRelative: 0.01, checkpointInterval: 0 }, { init: dir, onMetrics: (m) => seen.push(m) });
    assert.equal(r.step, 60);
    assert.match(String(seen[0]!.note), /warm start from/);
    const losses = seen.filter((m) => m["losses/actor_loss"] !== undefined && Number.isFinite(m["losses/actor_loss"]));
    assert.ok(losses.length > 0 && losses.every((m) => Number.isFinite(m["losses/imitation_loss"])), "clone term logged beside the actor loss");
  });

  it("relaxes a structure with the loaded policy (records well-formed)", async () => {
    const policy = await loadMacsPolicy(dir);
    try {
      const crystal = randomCrystal({ composition: "SrTiO3", atoms: 10 }, new Rng(42));
      const run = relaxWithPolicy(crystal, ionic(), policy, { steps: 30 });
      const steps = [];
      let r = await run.next();
      while (!r.done) {
        steps.push(r.value);
        r = await run.next();
      }
      const outcome = r.value;
      assert.equal(steps[0]!.step, 0);
      steps.forEach((s, i) => {
        assert.equal(s.step, i);
        assert.equal(s.forceCalls, i + 1);
        assert.ok(Number.isFinite(s.energy) && Number.isFinite(s.fmax));
      });
      assert.equal(outcome.steps, steps.length - 1);
      assert.ok(outcome.converged ? outcome.fmax < 0.05 : outcome.steps === 30);
      assert.equal(outcome.crystal?.natoms, 10);
    } finally {
      policy.dispose();
    }
  });

  it("is a Method of kind macs that the experiment layer rebuilds", async () => {
    const m = rebuildMethod("macs", "macs", { policy: dir });
    assert.ok(m);
    assert.equal(m.kind, "macs");
    assert.equal(m.name, "macs");
    assert.equal(typeof m.train, "function");
    const crystal = randomCrystal({ composition: "SrTiO3", atoms: 10 }, new Rng(5));
    const run = m.evaluate(crystal, ionic(), { fmax: 0.05, steps: 3, seed: 0, index: 0 });
    let r = await run.next();
    while (!r.done) r = await run.next();
    assert.equal(r.value.steps, 3);
    assert.equal(macs().options.policy, undefined);
  });

  it("refuses the zero-shot compositions", () => {
    assert.throws(() => macsConfig({ compositions: [{ composition: "Sr3Ti2O7", atoms: 36 }] }), /zero-shot/);
  });

  it("resumes after the training process is SIGKILLed", async () => {
    const killed = join(root, "killed");
    const child = spawn(process.execPath, ["--import", "tsx", join(here, "fixtures", "macs-train-child.ts"), killed], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<NodeJS.Signals | number | null>((resolve) => child.on("exit", (code, signal) => resolve(signal ?? code)));
    // wait until it has trained past learning-starts and checkpointed a few times, then kill it mid-run
    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve, reject) => {
      let out = "";
      child.stdout.on("data", (d: Buffer) => {
        out += d.toString();
        const steps = [...out.matchAll(/step (\d+)/g)].map((m) => Number(m[1]));
        if ((steps.at(-1) ?? 0) >= 180) resolve();
      });
      child.on("exit", () => reject(new Error(`child exited early: ${stderr}`)));
      timer = setTimeout(() => reject(new Error(`child too slow: ${stderr}`)), 25_000);
    }).finally(() => clearTimeout(timer));
    child.kill("SIGKILL");
    assert.equal(await exited, "SIGKILL");

    const saved = await latestCheckpoint(killed);
    assert.ok(saved.progress.step >= 160, `saved step ${saved.progress.step}`);
    assert.ok(saved.progress.updates > 0);
    // the saved files are intact: every part loads, and they agree with the counters
    const agent = await Sac.load(join(saved.path, "agent"));
    assert.equal(agent.updates, saved.progress.updates);
    agent.dispose();
    const buffer = await ReplayBuffer.load(join(saved.path, "buffer"));
    assert.equal(buffer.size, saved.progress.transitions);
    const config = JSON.parse(await readFile(join(killed, "config.json"), "utf8")) as { totalTimesteps: number };
    assert.equal(config.totalTimesteps, 1_000_000);

    // the killed run's log runs past its checkpoint; the history a resume continues stops there
    const logged = readJsonl<TrainRecord>(join(killed, "metrics.jsonl"));
    const history = await macsHistory(killed);
    assert.ok(history.length > 0 && history.length <= logged.length);
    assert.deepEqual(history, logged.filter((m) => m.step <= saved.progress.step));

    const records: TrainRecord[] = [];
    const target = saved.progress.step + 40;
    const r = await trainMacs({ totalTimesteps: target }, { checkpointDir: killed, resume: true, onMetrics: (m) => records.push(m) });
    assert.equal(r.resumes, 1);
    assert.equal(r.step, target);
    assert.equal(r.updates, saved.progress.updates + 20);
    assert.equal(r.transitions, saved.progress.transitions + 40 * 10);
    assert.equal(records[0]!.step, saved.progress.step);
    assert.ok(records.every((m) => m.step >= saved.progress.step));
    // the resumed log: the history, then the new segment's records, each step once
    assert.deepEqual(readJsonl(join(killed, "metrics.jsonl")), [...history, ...JSON.parse(JSON.stringify(records))]);
    const after = await latestCheckpoint(killed);
    assert.equal(after.progress.step, target);
    assert.equal(after.progress.resumes, 1);
  });
});

describe("MACS in the experiment builder", () => {
  it(".train(macs()).live() redraws the MACS training figure, then the force convergence", async () => {
    const frames: Figure[] = [];
    const sink: DisplaySink = {
      interactive: true,
      figure: () => {},
      html: () => {},
      text: () => {},
      live: () => ({ figure: (f) => frames.push(f), html: () => {}, text: () => {} }),
    };
    registerDisplaySink(sink);
    try {
      await experiment("train-live")
        .structures(random({ composition: "SrTiO3", atoms: 10, count: 1, seed: 2 }))
        .calculator(ionic())
        .train(macs({ ...TINY, totalTimesteps: 200, imitationSteps: 100 }))
        .steps(5)
        .live()
        .store(join(root, "runs"))
        .run();
    } finally {
      registerDisplaySink(consoleSink);
    }
    const training = frames.filter((f) => /^macs: training/.test(String((f.layout!["title"] as { text: string }).text)));
    assert.ok(training.length >= 1, `training frames: ${frames.map((f) => JSON.stringify(f.layout!["title"])).join(", ")}`);
    const last = training.at(-1)!;
    const names = last.data.map((t) => t["name"]);
    for (const n of ["episodic return", "fmax, median of the batch", "qf_loss"]) assert.ok(names.includes(n), `missing trace ${n}: ${names.join(", ")}`);
    // the imitation phase is shaded from the run's own record of it
    assert.equal((last.layout!["shapes"] as { x1: number }[])[0]!.x1, 100);
  });

  it("trainingFigure draws any other method's records as a learning curve", () => {
    const fig = trainingFigure([10, 20, 30].map((step, i) => ({ step, "charts/episodic_return": i })));
    assert.equal(fig.layout!["yaxis2"], undefined);
    assert.ok(fig.data.some((t) => Array.isArray(t["y"]) && (t["y"] as number[]).length > 0));
  });
});

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}
