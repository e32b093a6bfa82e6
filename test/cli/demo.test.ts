import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import * as tf from "@tensorflow/tfjs";
import { demo, SHIPPED_POLICY } from "../../src/cli/demo.js";
import { cli } from "../helpers/cli.js";
import { trainMacs } from "../../src/rl/macs.js";

tf.env().set("PROD", true);


/** Occurrences of `needle` in `hay`. */
const count = (hay: string, needle: string): number => hay.split(needle).length - 1;

let dir = "";
let store = "";
let policy = "";
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "crystal-rl-demo-"));
  store = join(dir, "runs");
  policy = join(dir, "policy");
  // A tiny, barely trained policy: the demo only needs one that loads and acts.
  await trainMacs(
    { totalTimesteps: 16, numEnvs: 2, learningStarts: 10, batchSize: 8, hiddenSizes: [8, 8], compositions: [{ composition: "SrTiO3", atoms: 5 }], checkpointInterval: 0 },
    { checkpointDir: policy },
  );
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const SMALL = ["--count", "2", "--atoms", "10"];

describe("crystal-rl demo", () => {
  it("relaxes with macs, fire and bfgsls, prints the table and writes the HTML report", async () => {
    const out = join(dir, "reports", "demo.html");
    const r = await cli("demo", ...SMALL, "--policy", policy, "--store", store, "--out", out);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /\| method +\| +n \| +N_mean \| +C_mean \| T_mean \(s\) \| P_F \(%\) \|/);
    for (const m of ["macs", "fire", "bfgsls"]) assert.match(r.out, new RegExp(`\\| ${m} +\\| +2 \\|`), r.out);
    // A fresh seed, printed so the run can be repeated.
    const seed = /seed (\d+)\)/.exec(r.out)?.[1];
    assert.ok(seed, r.out);
    assert.ok(r.out.includes(`--seed ${seed}`), r.out);
    assert.ok(r.out.includes(`report: ${out}`), r.out);

    const html = await readFile(out, "utf8");
    assert.ok(html.startsWith("<!DOCTYPE html>"));
    assert.equal(count(html, "inlined by crystal-rl"), 1, "plotly.js inlined exactly once");
    assert.equal(count(html, "Plotly.newPlot("), 2, "two figures");
    for (const m of ["macs", "fire", "bfgsls"]) {
      assert.ok(html.includes(`<td>${m}</td>`), `table row for ${m}`);
      assert.ok(html.includes(`"name":"${m}"`), `median line for ${m}`);
      assert.ok(html.includes(`"name":"${m} #1"`), `line of relaxation 1 for ${m}`);
    }
    assert.ok(html.includes('"x":["macs","fire","bfgsls"]'), "force-calls bars, one per method in order");
    assert.ok(html.includes(`<dd>${seed}</dd>`) && html.includes("SrTiO3") && html.includes("cores"));
  });

  it("prints { seed, rows, report } with --json, the report in the run folder by default", async () => {
    const r = await cli("demo", ...SMALL, "--seed", "11", "--policy", policy, "--store", store, "--json");
    assert.equal(r.code, 0, r.err);
    const j = JSON.parse(r.out) as { seed: number; rows: Record<string, unknown>[]; report: string; policy: string | null; run: string; note: string | null };
    assert.deepEqual(Object.keys(j), ["seed", "rows", "report", "policy", "run", "note"]);
    assert.equal(j.seed, 11);
    assert.deepEqual(
      j.rows.map((row) => row["method"]),
      ["macs", "fire", "bfgsls"],
    );
    for (const row of j.rows) {
      assert.deepEqual(Object.keys(row), ["method", "n", "steps", "forceCalls", "seconds", "failureRate"]);
      assert.equal(row["n"], 2);
    }
    assert.equal(j.note, null);
    assert.equal(j.report, join(store, j.run, "report.html"));
    assert.ok(existsSync(j.report));
  });

  it("without a policy says so in one line and still runs FIRE and BFGSLS", async () => {
    const missing = join(dir, "no-policy-here");
    const text = await demo([...SMALL, "--store", store], { shippedPolicy: missing });
    const notes = text.split("\n").filter((l) => l.startsWith("note:"));
    assert.equal(notes.length, 1, text);
    assert.ok(notes[0]!.includes(missing) && /FIRE and BFGSLineSearch only/.test(notes[0]!), notes[0]);
    assert.match(text, /\| fire +\| +2 \|/);
    assert.match(text, /\| bfgsls +\| +2 \|/);
    assert.doesNotMatch(text, /\| macs /);
    const report = /report: (.+)$/m.exec(text)![1]!;
    const html = await readFile(report, "utf8");
    assert.ok(html.includes('class="note"') && !html.includes('"name":"macs"'));

    // An unreadable shipped policy is a note too, never a failure.
    const broken = join(dir, "broken-policy");
    await mkdir(broken, { recursive: true });
    const j = JSON.parse(await demo([...SMALL, "--store", store, "--json"], { shippedPolicy: broken })) as { rows: { method: string }[]; note: string | null; policy: string | null };
    assert.deepEqual(
      j.rows.map((row) => row.method),
      ["fire", "bfgsls"],
    );
    assert.equal(j.policy, null);
    assert.ok(j.note && !j.note.includes("\n"), String(j.note));
  });

  it("exits 2 naming the option for a bad --count or an unreadable --policy", async () => {
    for (const bad of ["0", "1.5", "many"]) {
      const r = await cli("demo", "--count", bad, "--store", store);
      assert.equal(r.code, 2, `--count ${bad}`);
      assert.match(r.err, /--count/);
      assert.equal(r.err.trim().split("\n").length, 1);
      assert.equal(r.out, "");
    }
    const r = await cli("demo", ...SMALL, "--policy", join(dir, "missing"), "--store", store);
    assert.equal(r.code, 2);
    assert.match(r.err, /--policy .*missing/);
  });

  it("looks for the shipped policy in data/policies/macs-ionic of the package", () => {
    const root = dirname(dirname(dirname(fileURLToPath(import.meta.url))));
    assert.equal(SHIPPED_POLICY, join(root, "data", "policies", "macs-ionic"));
  });
});
