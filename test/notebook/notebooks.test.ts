/**
 * Every notebook in notebooks/ runs top to bottom with the crystal-rl kernel (scripts/run_notebooks.py,
 * nbclient), from a kernelspec in a temporary Jupyter prefix. CRYSTAL_RL_NOTEBOOKS=path[,path] runs only
 * those; CRYSTAL_RL_NOTEBOOKS_OUT=DIR keeps the executed notebooks there (for the HTML export), else
 * they go to the temporary folder.
 */
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { jupyterMissing, PYTHON, ROOT, run, tempJupyter, type TempJupyter } from "./helpers.js";

const notebooks = process.env.CRYSTAL_RL_NOTEBOOKS?.split(",").filter(Boolean) ?? [join(ROOT, "notebooks")];
const count = process.env.CRYSTAL_RL_NOTEBOOKS
  ? notebooks.length
  : readdirSync(join(ROOT, "notebooks")).filter((f) => f.endsWith(".ipynb")).length;

describe("notebooks", () => {
  let jupyter: TempJupyter | undefined;
  const missing = jupyterMissing(["jupyter_client", "nbclient", "nbformat"]);
  before(async () => {
    if (!missing) jupyter = await tempJupyter("crystal-rl");
  });
  after(async () => {
    await jupyter?.cleanup();
  });

  // Each notebook must finish in under 3 minutes on 2 cores (issue 4); the budget grows with their number.
  it(`run headless with nbclient (${count} notebook${count === 1 ? "" : "s"})`, { timeout: 60_000 + count * 180_000 }, async () => {
    assert.equal(missing, null, missing ?? "");
    const j = jupyter!;
    const r = await run(PYTHON, [join(ROOT, "scripts", "run_notebooks.py"), "--out", process.env.CRYSTAL_RL_NOTEBOOKS_OUT ?? join(j.dir, "executed"), ...notebooks], {
      cwd: ROOT,
      env: j.env,
      timeout: 50_000 + count * 180_000,
    });
    const report = r.stdout + (r.stderr ? `\nstderr:\n${r.stderr.slice(-4000)}` : "");
    assert.equal(r.code, 0, report);
    assert.match(r.stdout, new RegExp(`^${count} passed, 0 failed$`, "m"), report);
    if (!process.env.CRYSTAL_RL_NOTEBOOKS) assert.match(r.stdout, /^PASS 00-kernel-smoke\.ipynb/m, report);
  });
});
