/** Shared by the kernel, notebook and `crystal-rl jupyter` tests: a built dist/, a temporary Jupyter. */
import { execFile, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { installKernel } from "../../src/cli/jupyter.js";

export const ROOT = resolve(fileURLToPath(new URL("../..", import.meta.url)));
export const PYTHON = "/usr/bin/python3";
export const KERNEL_ENTRY = join(ROOT, "dist", "notebook", "kernel", "main.js");

function newestMtime(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) t = Math.max(t, newestMtime(p));
    else if (e.name.endsWith(".ts")) t = Math.max(t, statSync(p).mtimeMs);
  }
  return t;
}

/**
 * Builds dist/ (tsc -p tsconfig.build.json) when the kernel entry is missing or older than a file in
 * src/. A lock folder keeps test files running in parallel from building over each other. Type errors
 * elsewhere in src/ do not stop the kernel tests as long as tsc emitted the kernel.
 */
export function ensureBuilt(): void {
  const fresh = () => existsSync(KERNEL_ENTRY) && statSync(KERNEL_ENTRY).mtimeMs >= newestMtime(join(ROOT, "src"));
  if (fresh()) return;
  const lock = join(tmpdir(), `crystal-rl-build-${Buffer.from(ROOT).toString("hex").slice(-24)}.lock`);
  const deadline = Date.now() + 180_000;
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      if (existsSync(lock) && Date.now() - statSync(lock).mtimeMs > 120_000) rmSync(lock, { recursive: true, force: true });
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${lock}`);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 200);
    }
  }
  try {
    if (fresh()) return;
    const started = Date.now();
    const r = spawnSync(process.execPath, [join(ROOT, "node_modules", "typescript", "bin", "tsc"), "-p", "tsconfig.build.json"], {
      cwd: ROOT,
      encoding: "utf8",
    });
    const emitted = existsSync(KERNEL_ENTRY) && statSync(KERNEL_ENTRY).mtimeMs >= started - 2_000;
    if (!emitted) throw new Error(`npm run build failed:\n${r.stdout}${r.stderr}`);
    if (r.status !== 0) console.warn(`note: tsc reported errors outside the kernel (dist was still emitted):\n${r.stdout}`);
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

/** Is Debian's Python able to run Jupyter's pieces the tests use? */
export function jupyterMissing(modules = ["jupyter_client", "nbclient", "nbformat", "jupyter_kernel_test"]): string | null {
  if (!existsSync(PYTHON)) return `${PYTHON} is missing`;
  const r = spawnSync(PYTHON, ["-c", `import ${modules.join(", ")}`], { encoding: "utf8" });
  return r.status === 0 ? null : `${PYTHON} cannot import ${modules.join(", ")}: install Jupyter with bash scripts/install-jupyter.sh`;
}

export interface TempJupyter {
  dir: string;
  /** Environment that makes Jupyter see only the temporary kernelspec (and the system ones). */
  env: NodeJS.ProcessEnv;
  cleanup(): Promise<void>;
}

/** Installs the kernelspec NAME into a fresh temporary prefix (DIR/share/jupyter on JUPYTER_PATH). */
export async function tempJupyter(name = "crystal-rl"): Promise<TempJupyter> {
  ensureBuilt();
  const dir = await mkdtemp(join(tmpdir(), "crystal-rl-jupyter-"));
  await installKernel({ name, prefix: dir });
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    JUPYTER_PATH: join(dir, "share", "jupyter"),
    JUPYTER_DATA_DIR: join(dir, "data"),
    JUPYTER_RUNTIME_DIR: join(dir, "runtime"),
    JUPYTER_CONFIG_DIR: join(dir, "config"),
    CRYSTAL_RL_KERNEL: name,
    CRYSTAL_RL_RUNS: join(dir, "runs"),
    PYTHONDONTWRITEBYTECODE: "1",
  };
  return { dir, env, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Runs a program to completion; never rejects. */
export function run(
  file: string,
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeout?: number } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(file, args, { ...opts, maxBuffer: 64 << 20, encoding: "utf8" }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === "number" ? error.code : null) : 0;
      done({ code, stdout, stderr: stderr + (error && code === null ? `\n${error.message}` : "") });
    });
  });
}
