import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { cli } from "../helpers/cli.js";
import { writeStructures } from "../../src/io/index.js";
import { trainMacs } from "../../src/rl/macs.js";
import { randomCrystals } from "../../src/structure/random.js";
import { TINY } from "../rl/fixtures/macs-tiny.js";

tf.env().set("PROD", true);


const KEYS = ["method", "n", "steps", "forceCalls", "seconds", "failureRate"];

function checkRow(row: Record<string, unknown>, method: string, n: number): void {
  assert.deepEqual(Object.keys(row), KEYS);
  assert.equal(row["method"], method);
  assert.equal(row["n"], n);
  const rate = row["failureRate"] as number;
  assert.equal(typeof rate, "number");
  assert.ok(rate >= 0 && rate <= 100, `failureRate ${rate}`);
  for (const k of ["steps", "forceCalls", "seconds"]) {
    const v = row[k];
    assert.ok(v === null || (typeof v === "number" && Number.isFinite(v) && v >= 0), `${k}: ${String(v)}`);
    // null exactly when nothing converged (means over successful runs)
    assert.equal(v === null, rate === 100, `${k} null iff every run failed`);
  }
  if (row["steps"] !== null) assert.ok((row["forceCalls"] as number) >= (row["steps"] as number));
}

let dir = "";
let store = "";
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "crystal-rl-bench-"));
  store = join(dir, "runs");
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const BASE = ["bench", "--composition", "SrTiO3", "--atoms", "10", "--count", "3", "--seed", "1"];

describe("crystal-rl bench", () => {
  it("prints one JSON object per method with exactly the documented keys", async () => {
    const r = await cli(...BASE, "--methods", "fire,bfgs", "--store", store, "--json");
    assert.equal(r.code, 0, r.err);
    const rows = JSON.parse(r.out) as Record<string, unknown>[];
    assert.ok(Array.isArray(rows));
    assert.equal(rows.length, 2);
    checkRow(rows[0]!, "fire", 3);
    checkRow(rows[1]!, "bfgs", 3);
    assert.equal((await readdir(store)).length, 1, "the run is stored under --store");
  });

  it("prints a Markdown table and the run id in text mode", async () => {
    const r = await cli(...BASE, "--methods", "fire,bfgs", "--store", store);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /\| method +\| +n \| +N_mean \| +C_mean \| T_mean \(s\) \| P_F \(%\) \|/);
    assert.match(r.out, /\| -+ \|( -+: \|){5}/);
    assert.match(r.out, /\| fire +\| +3 \|/);
    assert.match(r.out, /\| bfgs +\| +3 \|/);
    const ids = await readdir(store);
    assert.equal(ids.length, 2);
    assert.ok(ids.some((id) => r.out.includes(`run ${id}`)), r.out);
  });

  it("exits 2 naming the problem for an unknown method and for macs without --policy", async () => {
    const bad = await cli(...BASE, "--methods", "fire,nope", "--store", store, "--json");
    assert.equal(bad.code, 2);
    assert.match(bad.err, /unknown method "nope".*fire/);
    assert.equal(bad.out, "");
    const noPolicy = await cli(...BASE, "--methods", "macs,fire", "--store", store);
    assert.equal(noPolicy.code, 2);
    assert.match(noPolicy.err, /macs needs --policy/);
    const unreadable = await cli(...BASE, "--methods", "macs", "--policy", join(dir, "missing"), "--store", store);
    assert.equal(unreadable.code, 2);
    assert.match(unreadable.err, /--policy .*missing/);
    assert.equal(unreadable.err.trim().split("\n").length, 1);
  });

  it("gives the same steps, force calls and failures on worker threads as in one thread", async () => {
    const one = await cli(...BASE, "--methods", "fire,bfgsls", "--workers", "1", "--store", store, "--json");
    const two = await cli(...BASE, "--methods", "fire,bfgsls", "--workers", "2", "--store", store, "--json");
    assert.equal(one.code, 0, one.err);
    assert.equal(two.code, 0, two.err);
    const timeless = (out: string) => (JSON.parse(out) as Record<string, unknown>[]).map(({ seconds: _s, ...r }) => r);
    assert.deepEqual(timeless(two.out), timeless(one.out));
    const ids = (await readdir(store)).sort();
    const config = (id: string) => JSON.parse(readFileSync(join(store, id, "config.json"), "utf8")) as { settings: { workers?: number } };
    assert.equal(config(ids[ids.length - 1]!).settings.workers, 2);
    assert.equal(config(ids[ids.length - 2]!).settings.workers, undefined);
    const text = await cli(...BASE, "--methods", "fire", "--workers", "2", "--store", store);
    assert.match(text.out, /2 worker threads/);
  });

  it("exits 2 naming --workers for a bad worker count, and documents it", async () => {
    for (const bad of ["0", "-1", "1.5", "two", ""]) {
      const r = await cli(...BASE, "--methods", "fire", `--workers=${bad}`, "--store", store);
      assert.equal(r.code, 2, `--workers ${bad}`);
      assert.match(r.err, /--workers must be an integer >= 1/);
      assert.equal(r.out, "");
    }
    const help = await cli("bench", "--help");
    assert.match(help.out, /--workers N/);
  });
});

describe("macs with a tiny trained policy", () => {
  let policy = "";
  let structure = "";
  before(async () => {
    policy = join(dir, "policy");
    await trainMacs({ ...TINY, totalTimesteps: 200, checkpointInterval: 0 }, { checkpointDir: policy });
    structure = join(dir, "start.extxyz");
    await writeStructures(structure, randomCrystals({ composition: "SrTiO3", atoms: 10, count: 1, seed: 5 }));
  });

  it("runs through bench next to an optimiser", async () => {
    const r = await cli(...BASE, "--count", "2", "--steps", "40", "--methods", "macs,fire", "--policy", policy, "--store", store, "--json");
    assert.equal(r.code, 0, r.err);
    const rows = JSON.parse(r.out) as Record<string, unknown>[];
    assert.equal(rows.length, 2);
    checkRow(rows[0]!, "macs", 2);
    checkRow(rows[1]!, "fire", 2);
    if (rows[0]!["steps"] !== null) assert.equal(rows[0]!["forceCalls"], (rows[0]!["steps"] as number) + 1);
  });

  it("runs through relax --optimizer macs with the optimisers' JSON keys", async () => {
    const r = await cli("relax", structure, "--calc", "ionic", "--optimizer", "macs", "--policy", policy, "--steps", "40", "--json");
    assert.equal(r.code, 0, r.err);
    const j = JSON.parse(r.out) as Record<string, unknown>;
    assert.deepEqual(Object.keys(j), ["converged", "steps", "forceCalls", "energy", "fmax", "seconds"]);
    assert.equal(typeof j["converged"], "boolean");
    assert.ok(Number.isInteger(j["steps"]) && (j["steps"] as number) <= 40);
    assert.equal(j["forceCalls"], (j["steps"] as number) + 1);
    assert.ok(Number.isFinite(j["energy"]) && Number.isFinite(j["fmax"]) && (j["seconds"] as number) >= 0);
    if (!j["converged"]) assert.equal(j["steps"], 40);

    const text = await cli("relax", structure, "--calc", "ionic", "--optimizer", "macs", "--policy", policy, "--steps", "5");
    assert.equal(text.code, 0, text.err);
    assert.match(text.out, /method\s+macs \(/);

    const missing = await cli("relax", structure, "--calc", "ionic", "--optimizer", "macs");
    assert.equal(missing.code, 2);
    assert.match(missing.err, /--policy/);
    const cell = await cli("relax", structure, "--calc", "ionic", "--optimizer", "macs", "--policy", policy, "--cell");
    assert.equal(cell.code, 2);
  });
});
