/**
 * `crystal-rl jupyter`: registers the crystal-rl kernel (tslab with the fixes in
 * src/notebook/kernel) with Jupyter, and starts JupyterLab or the classic notebook with it.
 */
import { spawn } from "node:child_process";
import { accessSync, constants, existsSync, readFileSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { delimiter, dirname, join, resolve } from "node:path";
import { kernelArgv, kernelEntry, packageRoot } from "../notebook/kernel/kernel.js";
import { parse, UsageError } from "./usage.js";

export { kernelEntry, packageRoot };

export const summary = "register the crystal-rl TypeScript kernel with Jupyter, or start Jupyter Lab/Notebook with it";

export const DEFAULT_KERNEL_NAME = "crystal-rl";
export const KERNEL_DISPLAY_NAME = "crystal-rl (TypeScript)";

const HELP = `crystal-rl jupyter install [--user | --prefix DIR] [--name NAME]
crystal-rl jupyter lab|notebook [JUPYTER ARGS...]

  ${summary}.

  install    writes kernels/NAME/kernel.json (default name ${DEFAULT_KERNEL_NAME}) into your Jupyter data
             folder ($JUPYTER_DATA_DIR, else ~/.local/share/jupyter on Linux), as
             \`jupyter kernelspec install --user\` would; --prefix DIR writes DIR/share/jupyter/kernels/NAME.
             The kernel runs this checkout's dist/notebook/kernel/main.js with this Node.js
             (${process.execPath}); notebooks in any folder can \`import ... from "crystal-rl"\`.
  lab        installs the kernel, then runs \`jupyter lab ARGS\` (JupyterLab: pip install jupyterlab)
  notebook   installs the kernel, then runs \`jupyter notebook ARGS\` (Debian: apt-get install jupyter-notebook)`;


/** Jupyter's per-user data folder, as jupyter_core.paths.jupyter_data_dir() computes it. */
export function jupyterDataDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.JUPYTER_DATA_DIR) return resolve(env.JUPYTER_DATA_DIR);
  const home = env.HOME || homedir();
  if (process.platform === "darwin") return join(home, "Library", "Jupyter");
  if (process.platform === "win32") return join(env.APPDATA || join(home, "AppData", "Roaming"), "jupyter");
  return join(env.XDG_DATA_HOME || join(home, ".local", "share"), "jupyter");
}

export interface KernelSpec {
  argv: string[];
  display_name: string;
  language: string;
  interrupt_mode: "signal";
  metadata: { "crystal-rl": { root: string; version: string } };
}

/** The kernel.json this checkout installs. */
export function kernelSpec(root = packageRoot()): KernelSpec {
  const version = (JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string }).version;
  return {
    argv: kernelArgv(root),
    display_name: KERNEL_DISPLAY_NAME,
    language: "typescript",
    interrupt_mode: "signal",
    metadata: { "crystal-rl": { root, version } },
  };
}

/** Where a kernelspec named `name` goes: the user's data folder, or PREFIX/share/jupyter/kernels. */
export function kernelDir(name: string, { prefix }: { prefix?: string } = {}): string {
  const base = prefix !== undefined ? join(resolve(prefix), "share", "jupyter") : jupyterDataDir();
  return join(base, "kernels", name);
}

/** Writes kernels/NAME/kernel.json; returns its folder and content. */
export async function installKernel(
  { name = DEFAULT_KERNEL_NAME, prefix }: { name?: string; prefix?: string } = {},
): Promise<{ dir: string; spec: KernelSpec }> {
  if (!/^[a-z0-9._-]+$/i.test(name)) throw new UsageError(`jupyter install: --name must use letters, digits, ".", "_" or "-", got "${name}"`);
  const root = packageRoot();
  const entry = kernelEntry(root);
  if (!existsSync(entry)) {
    throw new UsageError(`jupyter install: ${entry} is missing: build the project first (npm run build in ${root})`);
  }
  const dir = kernelDir(name, { prefix });
  const spec = kernelSpec(root);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, "kernel.json"), JSON.stringify(spec, null, 2) + "\n");
  return { dir, spec };
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Every executable called `name` on PATH, in PATH order. */
export function whichAll(name: string, path = process.env.PATH ?? ""): string[] {
  return path
    .split(delimiter)
    .filter(Boolean)
    .map((d) => join(d, name))
    .filter(isExecutable);
}

/**
 * The `jupyter` command to use: Debian's /usr/bin/jupyter first (a pyenv `python3` on PATH has no
 * Jupyter), then PATH. With `sub`, only a `jupyter` whose folder also holds `jupyter-SUB` (JupyterLab
 * from pip lives beside its own `jupyter`).
 */
export function findJupyter(sub?: string): string | null {
  const candidates = [...new Set(["/usr/bin/jupyter", ...whichAll("jupyter")])].filter(isExecutable);
  if (!sub) return candidates[0] ?? null;
  return candidates.find((j) => isExecutable(join(dirname(j), `jupyter-${sub}`))) ?? null;
}

/** Runs a program with the terminal handed over; resolves with its exit code. Ctrl-C goes to it alone. */
function runInherited(file: string, args: string[]): Promise<number> {
  return new Promise((resolveExit, reject) => {
    const child = spawn(file, args, { stdio: "inherit" });
    const ignore = () => {}; // the child gets the terminal's SIGINT too and decides (Jupyter asks to confirm)
    const forward = () => child.kill("SIGTERM");
    process.on("SIGINT", ignore);
    process.on("SIGTERM", forward);
    const done = () => {
      process.off("SIGINT", ignore);
      process.off("SIGTERM", forward);
    };
    child.on("error", (e) => {
      done();
      reject(e);
    });
    child.on("exit", (code, signal) => {
      done();
      resolveExit(code ?? (signal ? 128 : 1));
    });
  });
}

export async function jupyter(argv: string[]): Promise<string> {
  const [sub, ...rest] = argv;
  if (!sub || sub === "--help" || sub === "-h" || sub === "help") return HELP;
  if (sub === "install") {
    const { values, positionals } = parse("jupyter install", rest, {
      user: { type: "boolean", default: false },
      prefix: { type: "string" },
      name: { type: "string", default: DEFAULT_KERNEL_NAME },
      help: { type: "boolean", short: "h" },
    });
    if (values.help) return HELP;
    if (positionals.length > 0) throw new UsageError(`jupyter install: unexpected argument "${positionals[0]}"`);
    if (values.user && values.prefix !== undefined) throw new UsageError("jupyter install: --user and --prefix exclude each other");
    const { dir, spec } = await installKernel({ name: values.name, prefix: values.prefix });
    const lines = [
      `Installed kernelspec ${values.name} in ${dir}`,
      `  runs: ${spec.argv.slice(0, 2).join(" ")}`,
      `  shows as "${spec.display_name}" in Jupyter; check with: jupyter kernelspec list`,
    ];
    if (values.prefix !== undefined) {
      lines.push(`  Jupyter looks there when ${join(resolve(values.prefix), "share", "jupyter")} is its prefix or on JUPYTER_PATH`);
    }
    return lines.join("\n");
  }
  if (sub === "lab" || sub === "notebook") {
    const exe = findJupyter(sub);
    if (!exe) {
      const fix = sub === "lab" ? "pip install jupyterlab (Debian 12 does not package it)" : "bash scripts/install-jupyter.sh";
      throw new UsageError(`jupyter ${sub}: no \`jupyter ${sub}\` found in /usr/bin or on PATH; install it with: ${fix}`);
    }
    await installKernel();
    const code = await runInherited(exe, [sub, ...rest]);
    if (code !== 0) throw new UsageError(`jupyter ${sub}: ${exe} ${sub} exited with code ${code}`);
    return "";
  }
  throw new UsageError(`jupyter: unknown sub-command "${sub}" (expected install, lab or notebook)`);
}
