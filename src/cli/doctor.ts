/**
 * `crystal-rl doctor`: what the notebook lab needs, whether it is there, and the command that fixes
 * each thing that is not. Always exits 0: it is a report.
 */
import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import {
  DEFAULT_KERNEL_NAME,
  findJupyter,
  jupyterDataDir,
  kernelEntry,
  packageRoot,
  whichAll,
} from "./jupyter.js";
import { parse, UsageError } from "./usage.js";

export const summary = "check Node.js, Jupyter, the kernel, TensorFlow.js backends, pw.x, LAMMPS and Python (ASE, pymatgen)";

const HELP = `crystal-rl doctor [--json]

  ${summary};
  prints ok/missing with the command that fixes each, and exits 0.
  --json  an array of { check, ok, detail, fix }`;

export interface Check {
  check: string;
  ok: boolean;
  detail: string;
  /** The command that fixes it; "" when nothing needs fixing. */
  fix: string;
}

const MIN_NODE = [20, 19] as const;

/** Runs a program briefly; never throws. */
function run(file: string, args: string[], timeout = 20_000): Promise<{ ok: boolean; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { timeout, maxBuffer: 4 << 20 }, (error, stdout, stderr) => {
      resolve({ ok: !error, out: String(stdout), err: error && !stderr ? error.message : String(stderr) });
    });
  });
}

const apt = (pkgs: string) => `sudo apt-get install -y --no-install-recommends ${pkgs}`;

function scriptFix(root: string, script: string, args: string, fallback: string): string {
  const p = join(root, "scripts", script);
  return existsSync(p) ? `bash ${p}${args ? " " + args : ""}` : fallback;
}

function checkNode(): Check {
  const [major = 0, minor = 0] = process.versions.node.split(".").map(Number);
  const ok = major > MIN_NODE[0] || (major === MIN_NODE[0] && minor >= MIN_NODE[1]);
  return {
    check: "node",
    ok,
    detail: `Node.js ${process.versions.node} at ${process.execPath}${ok ? "" : ` (needs >= ${MIN_NODE.join(".")}: tslab imports ESM packages with require(esm))`}`,
    fix: ok ? "" : "install Node.js 20.19 or newer (e.g. nvm install 20 && nvm use 20), then npx crystal-rl jupyter install",
  };
}

async function checkJupyter(root: string): Promise<{ check: Check; exe: string | null }> {
  const fix = scriptFix(root, "install-jupyter.sh", "", "pip install notebook jupyterlab nbclient jupyter_kernel_test");
  const exe = findJupyter();
  // without Jupyter, notebooks still run headless (crystal-rl notebook); the fix says both
  if (!exe) return { exe, check: { check: "jupyter", ok: false, detail: "no jupyter in /usr/bin or on PATH", fix: `${fix} (or run notebooks headless without it: npx crystal-rl notebook NB.ipynb)` } };
  const r = await run(exe, ["--version"]);
  const versions = (r.out + r.err)
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => /^(notebook|jupyterlab|nbclient|nbconvert|jupyter_client|jupyter_core)\s*:/.test(l))
    .map((l) => l.replace(/\s*:\s*/, " "));
  if (!r.ok) return { exe, check: { check: "jupyter", ok: false, detail: `${exe} --version failed: ${r.err.trim().split("\n")[0]}`, fix } };
  const hasNbclient = versions.some((v) => v.startsWith("nbclient "));
  return {
    exe,
    check: {
      check: "jupyter",
      ok: hasNbclient,
      detail: `${exe}: ${versions.join(", ") || "version unknown"}${hasNbclient ? "" : " (nbclient, which runs the notebooks headless, is missing)"}`,
      fix: hasNbclient ? "" : fix,
    },
  };
}

interface SpecFile {
  dir: string;
  argv?: string[];
}

/** Finds the kernelspec: Jupyter's own list when Jupyter runs, else the user's data folder. */
async function findSpec(exe: string | null, name: string): Promise<SpecFile | null> {
  if (exe) {
    const r = await run(exe, ["kernelspec", "list", "--json"]);
    if (r.ok) {
      try {
        const list = JSON.parse(r.out) as { kernelspecs: Record<string, { resource_dir: string; spec: { argv?: string[] } }> };
        const k = list.kernelspecs[name];
        return k ? { dir: k.resource_dir, argv: k.spec.argv } : null;
      } catch {
        // fall through to the file
      }
    }
  }
  const dir = join(jupyterDataDir(), "kernels", name);
  try {
    return { dir, argv: (JSON.parse(readFileSync(join(dir, "kernel.json"), "utf8")) as { argv?: string[] }).argv };
  } catch {
    return null;
  }
}

async function checkKernel(root: string, exe: string | null): Promise<Check> {
  const name = DEFAULT_KERNEL_NAME;
  const entry = kernelEntry(root);
  const build = existsSync(entry) ? "" : `npm run build --prefix ${root} && `;
  const fix = `${build}npx crystal-rl jupyter install`;
  const spec = await findSpec(exe, name);
  if (!spec) return { check: "kernel", ok: false, detail: `no kernelspec "${name}" in ${exe ? "jupyter kernelspec list" : jupyterDataDir()}`, fix };
  const [node, script] = spec.argv ?? [];
  const problems: string[] = [];
  if (script !== entry) problems.push(`it runs ${script ?? "nothing"}, not this checkout's ${entry}`);
  if (!node || !existsSync(node)) problems.push(`its node (${node ?? "none"}) does not exist`);
  if (!existsSync(entry)) problems.push(`${entry} is not built`);
  return {
    check: "kernel",
    ok: problems.length === 0,
    detail: `kernelspec "${name}" at ${spec.dir}` + (problems.length ? `: ${problems.join("; ")}` : ` runs ${node} ${script}`),
    fix: problems.length ? fix : "",
  };
}

/** Imports a package with its console chatter muted; reports its version or why it failed. */
async function tryImport(name: string): Promise<{ ok: boolean; detail: string }> {
  const saved = { log: console.log, warn: console.warn, info: console.info };
  console.log = console.warn = console.info = () => {};
  try {
    const m = (await import(name)) as { version?: unknown; default?: { version?: unknown } };
    const v = m.version ?? m.default?.version;
    const version = typeof v === "string" ? v : v && typeof v === "object" ? Object.values(v).find((x) => typeof x === "string") : undefined;
    return { ok: true, detail: `${name}${version ? " " + String(version) : ""}` };
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const absent = code === "ERR_MODULE_NOT_FOUND" && String((e as Error).message).includes(`'${name}'`);
    return { ok: false, detail: absent ? `${name} absent` : `${name} fails to load: ${String((e as Error).message).split("\n")[0]}` };
  } finally {
    Object.assign(console, saved);
  }
}

/** How to get each backend going, by why it was skipped. */
function backendFix(name: string, skip: string | undefined, tfjsVersion: string): string {
  const v = tfjsVersion ? `@${tfjsVersion}` : "";
  if (skip === "no adapter") {
    return "a GPU's Vulkan driver and loader (apt-get install libvulkan1; NVIDIA in a container: VK_DRIVER_FILES=<driver>/nvidia_icd.json), or Mesa's EGL for a software adapter (apt-get install libegl1 libegl-mesa0 libgl1-mesa-dri)";
  }
  switch (name) {
    case "tfjs-node-gpu":
      return `npm install @tensorflow/tfjs-node-gpu${v} (downloads libtensorflow: needs internet; needs CUDA 11.2 and cuDNN 8.1)`;
    case "tfjs-node":
      return `npm install @tensorflow/tfjs-node${v} (downloads libtensorflow: needs internet)`;
    case "webgpu":
      return `npm install webgpu @tensorflow/tfjs-backend-webgpu${v}`;
    case "wasm":
      return `npm install @tensorflow/tfjs-backend-wasm${v}`;
    default:
      return `npm install @tensorflow/tfjs${v}`;
  }
}

const BACKEND_CHECKS = ["tfjs-node-gpu", "tfjs-node", "webgpu", "wasm", "cpu"] as const;

/**
 * TensorFlow.js, then one check per backend, best first: `chosen` (what `useBackend()` picks here),
 * `available`, or `skipped: <why>` (package not installed, no WebGPU adapter, failed to start).
 */
async function checkTensorflow(): Promise<Check[]> {
  const core = await tryImport("@tensorflow/tfjs");
  const out: Check[] = [
    { check: "tfjs", ok: core.ok, detail: `${core.detail}: TensorFlow.js, for RL training`, fix: core.ok ? "" : "npm install @tensorflow/tfjs" },
  ];
  const saved = { log: console.log, warn: console.warn, info: console.info };
  console.log = console.warn = console.info = () => {}; // tfjs's banners and warnings
  let rows: { name: string; status: string; detail: string; skip?: string }[];
  let version = "";
  try {
    if (!core.ok) throw new Error("@tensorflow/tfjs does not load");
    const backend = await import("../tensor/backend.js");
    try {
      await backend.useBackend();
    } catch {
      // nothing starts: every backend is reported skipped, each with its reason
    }
    const report = await backend.deviceReport();
    version = report.version;
    rows = backend.backendStatus(report).map((s) => ({ ...s, skip: report.backends.find((b) => b.name === s.name)?.skip }));
  } catch (e) {
    const why = `needs TensorFlow.js: ${(e as Error).message.split("\n")[0]}`;
    rows = BACKEND_CHECKS.map((name) => ({ name, status: "skipped", detail: why }));
  } finally {
    Object.assign(console, saved);
  }
  for (const r of rows) {
    const ok = r.status !== "skipped";
    out.push({
      check: `backend:${r.name}`,
      ok,
      detail: `${r.status}${r.detail ? `: ${r.detail}` : ""}`,
      fix: ok ? "" : backendFix(r.name, r.skip, version),
    });
  }
  return out;
}

function checkPw(): Check {
  const [pw] = whichAll("pw.x");
  const pseudo = "/usr/share/espresso/pseudo";
  const fix = process.platform === "linux" ? apt("quantum-espresso quantum-espresso-data") : "conda install -c conda-forge qe";
  if (!pw) return { check: "pw.x", ok: false, detail: "Quantum ESPRESSO pw.x is not on PATH (CrystalGym's DFT rewards)", fix };
  const [mpirun] = whichAll("mpirun");
  return {
    check: "pw.x",
    ok: true,
    detail: `${pw}${mpirun ? `, mpirun ${mpirun}` : ", no mpirun (serial runs only)"}${existsSync(pseudo) ? `, pseudopotentials in ${pseudo}` : ""}`,
    fix: "",
  };
}

async function checkLammps(): Promise<Check> {
  const [lmp] = whichAll("lmp");
  const fix = process.platform === "linux" ? apt("lammps lammps-data") : "conda install -c conda-forge lammps";
  if (!lmp) return { check: "lmp", ok: false, detail: "LAMMPS (lmp) is not on PATH", fix };
  const r = await run(lmp, ["-h"], 10_000);
  const line = (r.out + r.err).split("\n").find((l) => /LAMMPS|Simulator/.test(l))?.trim();
  return { check: "lmp", ok: true, detail: `${lmp}${line ? `: ${line}` : ""}`, fix: "" };
}

async function checkPython(root: string): Promise<Check> {
  const py = "/usr/bin/python3";
  const fix = existsSync(join(root, "scripts", "install-system.sh"))
    ? `bash ${join(root, "scripts", "install-system.sh")} --python`
    : apt("python3-ase python3-pymatgen");
  if (!existsSync(py)) return { check: "python", ok: false, detail: `${py} does not exist (Debian's Python holds ASE and pymatgen)`, fix };
  const code = "import sys, ase, pymatgen.core as p; print(sys.version.split()[0], ase.__version__, getattr(p, '__version__', '?'))";
  const r = await run(py, ["-c", code]);
  if (!r.ok) {
    const why = r.err.trim().split("\n").pop() ?? "";
    return { check: "python", ok: false, detail: `${py}: ${why || "cannot import ase and pymatgen"}`, fix };
  }
  const [version, ase, pmg] = r.out.trim().split(/\s+/);
  return { check: "python", ok: true, detail: `${py} ${version}: ASE ${ase}, pymatgen ${pmg}`, fix: "" };
}

/** All checks, in report order. */
export async function diagnose(): Promise<Check[]> {
  const root = packageRoot();
  const [jup, pw, lmp, py] = await Promise.all([checkJupyter(root), checkPw(), checkLammps(), checkPython(root)]);
  const kernel = await checkKernel(root, jup.exe);
  const tf = await checkTensorflow();
  return [checkNode(), jup.check, kernel, ...tf, pw, lmp, py];
}

export async function doctor(argv: string[]): Promise<string> {
  const { values, positionals } = parse("doctor", argv, {
    json: { type: "boolean", default: false },
    help: { type: "boolean", short: "h" },
  });
  if (values.help) return HELP;
  if (positionals.length > 0) throw new UsageError(`doctor: unexpected argument "${positionals[0]}"`);
  const checks = await diagnose();
  if (values.json) return JSON.stringify(checks, null, 2);
  const w = Math.max(...checks.map((c) => c.check.length));
  const lines = checks.flatMap((c) => [
    `${c.ok ? "ok     " : "missing"}  ${c.check.padEnd(w)}  ${c.detail}`,
    ...(c.fix ? [`${" ".repeat(9 + w + 2)}fix: ${c.fix}`] : []),
  ]);
  const missing = checks.filter((c) => !c.ok).length;
  lines.push("", missing ? `${missing} of ${checks.length} checks need attention (backends other than the chosen one are optional)` : `all ${checks.length} checks ok`);
  return lines.join("\n");
}
