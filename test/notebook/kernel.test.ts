/**
 * The crystal-rl kernel: its error and result helpers, the "crystal-rl" link, and the whole kernel
 * under Debian's jupyter_kernel_test (test/notebook/test_kernel.py), started from a folder outside
 * the checkout through a kernelspec in a temporary Jupyter prefix.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { compileErrorContent, errorContent, linkPackage, mimeBundle, packageRoot } from "../../src/notebook/kernel/kernel.js";
import { jupyterMissing, PYTHON, ROOT, run, tempJupyter, type TempJupyter } from "./helpers.js";

describe("kernel helpers", () => {
  it("turns a thrown Error into ename, evalue and a traceback without kernel frames", () => {
    const e = new RangeError("too far");
    e.stack = [
      "evalmachine.<anonymous>:2",
      'throw new RangeError("too far");',
      "^",
      "",
      "RangeError: too far",
      "    at evalmachine.<anonymous>:2:7",
      "    at Object.execute (/x/node_modules/tslab/dist/executor.js:10:1)",
      "    at node:internal/process/task_queues:95:5",
    ].join("\n");
    assert.deepEqual(errorContent(e), {
      ename: "RangeError",
      evalue: "too far",
      traceback: ["RangeError: too far", "    at evalmachine.<anonymous>:2:7"],
    });
  });

  it("reports thrown non-errors and TypeScript diagnostics", () => {
    assert.deepEqual(errorContent("plain"), { ename: "Uncaught", evalue: "plain", traceback: ["Uncaught 'plain'"] });
    assert.equal(errorContent({ code: 7 }).evalue, "{ code: 7 }");
    const c = compileErrorContent(["1:7 - first", "2:1 - second"]);
    assert.equal(c.ename, "CompileError");
    assert.equal(c.evalue, "1:7 - first (and 1 more)");
    assert.deepEqual(c.traceback.slice(1), ["1:7 - first", "2:1 - second"]);
  });

  it("builds mime bundles: inspect text, Jupyter.display, arquero-like tables", () => {
    assert.deepEqual(mimeBundle(42), { "text/plain": "42" });
    assert.deepEqual(mimeBundle("s"), { "text/plain": "'s'" });
    const rich = { [Symbol.for("Jupyter.display")]: () => ({ "text/html": "<b>x</b>", "text/plain": "x" }) };
    assert.deepEqual(mimeBundle(rich), { "text/html": "<b>x</b>", "text/plain": "x" });
    const table = { toHTML: () => "<table></table>", numRows: () => 3, numCols: () => 2, columnNames: () => ["a", "b"] };
    assert.deepEqual(mimeBundle(table), { "text/html": "<table></table>", "text/plain": "arquero table: 3 rows x 2 columns" });
    const broken = { [Symbol.for("Jupyter.display")]: () => { throw new Error("no"); } };
    assert.ok(typeof mimeBundle(broken)["text/plain"] === "string");
  });

  it("finds the checkout", () => {
    assert.equal(packageRoot(), ROOT);
  });

  it("links crystal-rl into any folder's node_modules for TypeScript and require", async () => {
    const files = new Map([[`${ROOT}/package.json`, "{}"]]);
    const sys = {
      fileExists: (p: string) => files.has(p),
      directoryExists: (p: string) => p === ROOT,
      readFile: (p: string) => files.get(p),
      realpath: (p: string) => p,
      getDirectories: () => [],
      readDirectory: () => [],
    };
    linkPackage(sys, "crystal-rl", ROOT);
    assert.equal(sys.fileExists("/somewhere/nb/node_modules/crystal-rl/package.json"), true);
    assert.equal(sys.directoryExists("/somewhere/nb/node_modules/crystal-rl"), true);
    assert.equal(sys.realpath("/somewhere/nb/node_modules/crystal-rl/dist/index.d.ts"), `${ROOT}/dist/index.d.ts`);
    assert.equal(sys.fileExists("/somewhere/nb/node_modules/crystal-rl-other/package.json"), false);
    const elsewhere = await mkdtemp(join(tmpdir(), "crystal-rl-link-"));
    try {
      const resolved = createRequire(join(elsewhere, "nb.js")).resolve("crystal-rl");
      assert.equal(resolved, join(ROOT, "dist", "index.js"));
      assert.throws(() => createRequire(join(elsewhere, "nb.js")).resolve("no-such-package-here"), /Cannot find module/);
    } finally {
      await rm(elsewhere, { recursive: true, force: true });
    }
  });
});

describe("the kernel under jupyter_kernel_test", () => {
  let jupyter: TempJupyter | undefined;
  const missing = jupyterMissing();
  before(async () => {
    if (!missing) jupyter = await tempJupyter("crystal-rl");
  });
  after(async () => {
    await jupyter?.cleanup();
  });

  it("passes the protocol tests (test/notebook/test_kernel.py)", { timeout: 120_000 }, async () => {
    assert.equal(missing, null, missing ?? "");
    const j = jupyter!;
    // Run from the temporary folder: the kernel starts there, outside the checkout.
    const r = await run(PYTHON, ["-m", "unittest", "discover", "-v", "-s", join(ROOT, "test", "notebook"), "-p", "test_kernel.py"], {
      cwd: j.dir,
      env: j.env,
      timeout: 110_000,
    });
    const report = r.stderr.split("\n").slice(-60).join("\n");
    assert.equal(r.code, 0, report);
    assert.match(r.stderr, /^OK\b/m, report);
    assert.doesNotMatch(r.stderr, /^test_\w+ .*\.\.\. (FAIL|ERROR)$/m, report);
    const ran = Number(/Ran (\d+) tests/.exec(r.stderr)?.[1]);
    assert.ok(ran >= 20, `expected the full suite, ran ${ran}`);
  });
});
