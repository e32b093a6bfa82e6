/** `crystal-rl jupyter install`: the kernel.json it writes, and that Jupyter lists it. */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { findJupyter, jupyter, jupyterDataDir, kernelDir } from "../../src/cli/jupyter.js";
import { UsageError } from "../../src/cli/usage.js";
import { ensureBuilt, KERNEL_ENTRY, ROOT, run } from "../notebook/helpers.js";

let dir = "";
const savedDataDir = process.env.JUPYTER_DATA_DIR;
before(async () => {
  ensureBuilt();
  dir = await mkdtemp(join(tmpdir(), "crystal-rl-jupyter-cli-"));
});
after(async () => {
  if (savedDataDir === undefined) delete process.env.JUPYTER_DATA_DIR;
  else process.env.JUPYTER_DATA_DIR = savedDataDir;
  await rm(dir, { recursive: true, force: true });
});

describe("crystal-rl jupyter install", () => {
  it("writes kernel.json with absolute node and kernel paths under --prefix", async () => {
    const prefix = join(dir, "prefix");
    const out = await jupyter(["install", "--prefix", prefix]);
    const kdir = join(prefix, "share", "jupyter", "kernels", "crystal-rl");
    assert.match(out, new RegExp(`Installed kernelspec crystal-rl in ${kdir}`));
    const spec = JSON.parse(await readFile(join(kdir, "kernel.json"), "utf8"));
    assert.deepEqual(spec.argv, [process.execPath, KERNEL_ENTRY, "{connection_file}"]);
    assert.equal(spec.display_name, "crystal-rl (TypeScript)");
    assert.equal(spec.language, "typescript");
    assert.equal(spec.metadata["crystal-rl"].root, ROOT);
    assert.ok(existsSync(spec.argv[1]), "the kernel entry is built");
  });

  it("installs into $JUPYTER_DATA_DIR by default, where `jupyter kernelspec list` finds it", async () => {
    const data = join(dir, "data");
    process.env.JUPYTER_DATA_DIR = data;
    assert.equal(jupyterDataDir(), data);
    assert.equal(kernelDir("crystal-rl"), join(data, "kernels", "crystal-rl"));
    await jupyter(["install", "--user", "--name", "crystal-rl-test"]);
    assert.ok(existsSync(join(data, "kernels", "crystal-rl-test", "kernel.json")));
    const exe = findJupyter();
    if (!exe) return; // no Jupyter here: the file check above is all we can do
    const r = await run(exe, ["kernelspec", "list", "--json"], { env: { ...process.env, JUPYTER_DATA_DIR: data } });
    assert.equal(r.code, 0, r.stderr);
    const k = JSON.parse(r.stdout).kernelspecs["crystal-rl-test"];
    assert.ok(k, r.stdout);
    assert.equal(k.resource_dir, join(data, "kernels", "crystal-rl-test"));
    assert.equal(k.spec.display_name, "crystal-rl (TypeScript)");
    assert.equal(k.spec.language, "typescript");
  });

  it("follows jupyter_core for the default data folder", () => {
    assert.equal(jupyterDataDir({ HOME: "/home/u" }), process.platform === "linux" ? "/home/u/.local/share/jupyter" : jupyterDataDir({ HOME: "/home/u" }));
    if (process.platform === "linux") assert.equal(jupyterDataDir({ HOME: "/home/u", XDG_DATA_HOME: "/x" }), "/x/jupyter");
  });

  it("rejects bad options with a usage error", async () => {
    await assert.rejects(jupyter(["install", "--name", "bad name"]), UsageError);
    await assert.rejects(jupyter(["install", "--user", "--prefix", dir]), /exclude each other/);
    await assert.rejects(jupyter(["install", "extra"]), UsageError);
    await assert.rejects(jupyter(["frobnicate"]), /unknown sub-command/);
    assert.match(await jupyter(["--help"]), /crystal-rl jupyter install/);
  });

  it("says how to get JupyterLab when it is missing", { skip: findJupyter("lab") !== null && "JupyterLab is installed" }, async () => {
    await assert.rejects(jupyter(["lab"]), /pip install jupyterlab/);
  });
});
