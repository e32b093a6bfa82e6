/**
 * The headless runner (src/notebook/headless.ts) against nbclient: the same notebook run by both with
 * the crystal-rl kernel gives the same outputs (streams, a live plot updated in place, a result, an
 * error that stops the run); and `crystal-rl notebook` reports and refuses as documented.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { runNotebook, type NotebookCell, type NotebookJson } from "../../src/notebook/headless.js";
import { cli } from "../helpers/cli.js";
import { ensureBuilt, jupyterMissing, PYTHON, ROOT, run, tempJupyter } from "./helpers.js";

const CELLS = [
  `console.log("one");\nconsole.log("two");`,
  `import { livePlot } from "crystal-rl";\nconst live = livePlot({ data: [{ y: [1] }], layout: { title: { text: "first" } } });\nlive.update({ data: [{ y: [1, 2] }], layout: { title: { text: "second" } } });\nlive.flush();`,
  `6 * 7`,
  `throw new RangeError("bad input");`,
  `console.log("never");`,
];

const dir = mkdtempSync(join(tmpdir(), "crystal-rl-headless-"));
const path = join(dir, "probe.ipynb");
after(() => rmSync(dir, { recursive: true, force: true }));

before(() => {
  ensureBuilt();
  const nb: NotebookJson = {
    cells: CELLS.map((source, k) => ({ cell_type: "code", id: `c${k}`, source, metadata: {}, outputs: [], execution_count: null })),
    metadata: { kernelspec: { name: "crystal-rl", display_name: "crystal-rl (TypeScript)", language: "typescript" } },
    nbformat: 4,
    nbformat_minor: 5,
  };
  writeFileSync(path, JSON.stringify(nb));
});

/** What must agree between two runs: per code cell, its count and each output's kind, mime types and text. */
function shape(cells: NotebookCell[]): unknown[] {
  const text = (t: unknown) => (Array.isArray(t) ? t.join("") : t);
  return cells
    .filter((c) => c.cell_type === "code")
    .map((c) => ({
      count: c.execution_count ?? null,
      outputs: (c.outputs ?? []).map((o) => {
        const data = o["data"] as Record<string, unknown> | undefined;
        return {
          type: o.output_type,
          ...(o.output_type === "stream" ? { name: o["name"], text: text(o["text"]) } : {}),
          ...(data ? { mimes: Object.keys(data).sort(), plain: text(data["text/plain"]) } : {}),
          ...(o.output_type === "error" ? { ename: o["ename"], evalue: o["evalue"] } : {}),
        };
      }),
    }));
}

describe("headless notebook runner", () => {
  let ours: Awaited<ReturnType<typeof runNotebook>>;

  it("runs the cells in order, applies a live plot's updates in place, and stops at the first error", { timeout: 120_000 }, async () => {
    ours = await runNotebook(path, { timeout: 60 });
    assert.deepEqual(ours.error && { cell: ours.error.cell, ename: ours.error.ename }, { cell: 4, ename: "RangeError" });
    assert.match(ours.error!.evalue, /bad input/);
    const cells = ours.notebook.cells;
    assert.deepEqual(cells.map((c) => c.execution_count), [1, 2, 3, 4, null]);
    assert.equal(cells[0]!.outputs!.map((o) => o["text"]).join(""), "one\ntwo\n");
    // the live plot's one display shows its last figure (update_display_data applied in place)
    const plots = cells[1]!.outputs!.filter((o) => String((o["data"] as Record<string, string>)?.["text/plain"] ?? "").startsWith("<Figure"));
    assert.equal(plots.length, 1);
    assert.match(String((plots[0]!["data"] as Record<string, string>)["text/plain"]), /"second"/);
    assert.equal((cells[2]!.outputs![0]!["data"] as Record<string, string>)["text/plain"], "42");
    assert.deepEqual(cells[4]!.outputs, []); // never ran
  });

  it("gives the outputs nbclient gives for the same notebook", { timeout: 120_000 }, async (t) => {
    const missing = jupyterMissing(["jupyter_client", "nbclient", "nbformat"]);
    if (missing) return t.skip(missing);
    const jupyter = await tempJupyter("crystal-rl");
    try {
      const out = join(jupyter.dir, "executed");
      const r = await run(PYTHON, [join(ROOT, "scripts", "run_notebooks.py"), "--out", out, path], { cwd: ROOT, env: jupyter.env, timeout: 110_000 });
      assert.match(r.stdout, /FAIL probe\.ipynb: cell 4: RangeError/, r.stdout + r.stderr);
      const theirs = JSON.parse(readFileSync(join(out, "probe.ipynb"), "utf8")) as NotebookJson;
      assert.deepEqual(shape(ours.notebook.cells), shape(theirs.cells));
    } finally {
      await jupyter.cleanup();
    }
  });
});

describe("crystal-rl notebook", () => {
  it("refuses no notebook, or a file that is not one, naming it", async () => {
    let r = await cli("notebook");
    assert.equal(r.code, 2);
    assert.match(r.err, /at least one \.ipynb/);
    r = await cli("notebook", join(dir, "missing.ipynb"));
    assert.equal(r.code, 2);
    assert.match(r.err, /missing\.ipynb: not a notebook/);
  });

  it("prints FAIL with the cell and exits 1 when a notebook fails, writing it to --out", { timeout: 120_000 }, async () => {
    const out = join(dir, "out");
    const r = await cli("notebook", path, "--out", out, "--timeout", "60");
    assert.equal(r.code, 1, r.err);
    assert.match(r.out, /^FAIL probe\.ipynb: cell 4: RangeError: .*bad input/m);
    assert.match(r.out, /^0 passed, 1 failed$/m);
    const written = JSON.parse(readFileSync(join(out, "probe.ipynb"), "utf8")) as NotebookJson;
    assert.equal(written.cells[2]!.execution_count, 3);
  });
});
