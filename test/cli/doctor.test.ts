/** `crystal-rl doctor`: the report's shape; it never fails. */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { doctor, type Check } from "../../src/cli/doctor.js";
import { findJupyter, installKernel } from "../../src/cli/jupyter.js";
import { ensureBuilt } from "../notebook/helpers.js";

const BACKENDS = ["tfjs-node-gpu", "tfjs-node", "webgpu", "wasm", "cpu"].map((b) => `backend:${b}`);
const CHECKS = ["node", "jupyter", "kernel", "tfjs", ...BACKENDS, "pw.x", "lmp", "python"];
const saved = process.env.JUPYTER_DATA_DIR;
const dirs: string[] = [];
after(async () => {
  if (saved === undefined) delete process.env.JUPYTER_DATA_DIR;
  else process.env.JUPYTER_DATA_DIR = saved;
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function report(): Promise<Check[]> {
  return JSON.parse(await doctor(["--json"])) as Check[];
}

describe("crystal-rl doctor", () => {
  it("--json gives { check, ok, detail, fix } for every check, with a fix exactly when not ok", { timeout: 60_000 }, async () => {
    const checks = await report();
    assert.deepEqual(checks.map((c) => c.check), CHECKS);
    for (const c of checks) {
      assert.deepEqual(Object.keys(c), ["check", "ok", "detail", "fix"]);
      assert.equal(typeof c.ok, "boolean");
      assert.ok(typeof c.detail === "string" && c.detail.length > 0, c.check);
      assert.equal(typeof c.fix, "string");
      assert.equal(c.fix === "", c.ok, `${c.check}: ${c.detail} / ${c.fix}`);
    }
    assert.equal(checks[0]!.ok, true, "this Node.js is new enough to run the tests");
  });

  it("says which backend is chosen, which are available, and why each other one is skipped", { timeout: 60_000 }, async () => {
    const checks = (await report()).filter((c) => BACKENDS.includes(c.check));
    assert.equal(checks.length, BACKENDS.length);
    const chosen = checks.filter((c) => c.detail.startsWith("chosen: "));
    assert.equal(chosen.length, 1, "exactly one backend is chosen");
    assert.match(chosen[0]!.detail, /^chosen: (\S+) \(tfjs 4\./);
    assert.equal(chosen[0]!.detail.split(" ")[1], chosen[0]!.check.slice("backend:".length));
    for (const c of checks) {
      assert.match(c.detail, /^(chosen|available|skipped)\b/, c.check);
      assert.equal(c.ok, !c.detail.startsWith("skipped"), c.check);
      if (!c.ok) assert.match(c.detail, /^skipped: (not installed|no adapter|failed to start)/, c.check);
    }
    for (const b of ["wasm", "cpu"]) assert.ok(checks.find((c) => c.check === `backend:${b}`)!.ok, `${b} ships with the project`);
    const text = await doctor([]);
    assert.match(text, /^ok\s+backend:\S+\s+chosen: /m);
  });

  it("sees a kernel installed for this checkout, and misses one that is not", { timeout: 60_000 }, async () => {
    ensureBuilt();
    const empty = await mkdtemp(join(tmpdir(), "crystal-rl-doctor-"));
    dirs.push(empty);
    process.env.JUPYTER_DATA_DIR = empty;
    // A system-wide crystal-rl kernelspec would be found anyway; only assert "missing" when there is none.
    const before = (await report()).find((c) => c.check === "kernel")!;
    if (!before.ok) assert.match(before.fix, /crystal-rl jupyter install/);
    await installKernel();
    const kernel = (await report()).find((c) => c.check === "kernel")!;
    if (findJupyter() || !before.ok) assert.equal(kernel.ok, true, kernel.detail);
  });

  it("prints a readable report", { timeout: 60_000 }, async () => {
    const text = await doctor([]);
    assert.match(text, /^ok\s+node\s+Node\.js/m);
    assert.match(text, /checks (ok|need attention)/);
    assert.match(await doctor(["--help"]), /--json/);
  });
});
