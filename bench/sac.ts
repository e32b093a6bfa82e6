/**
 * SAC with the MACS networks (actor 204-256-256-6, twin critics (204 + 3)-256-256-1 with targets,
 * three Adam optimisers): one update at batch 1024 and 8192, and the policy forward (`act`,
 * deterministic, normaliser included) for 40 and 1000 atoms, on the wasm and cpu backends, with the
 * explicit-transpose networks (src/rl/networks.ts) and the naive tf.layers ones. When Debian's
 * /usr/bin/python3 has PyTorch (`apt-get install -y python3-torch`), the same update and forward in
 * PyTorch run in the same session, on one thread and on two.
 *
 *   node --import tsx bench/sac.ts            # everything (about 2 minutes on 2 cores)
 *   node --import tsx bench/sac.ts --quick    # skips cpu at 8192 and the naive networks at 8192
 *
 * Times are the best of a few runs after a warm-up (cpu at 8192: one run), in milliseconds.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { layersMlp, mlp } from "../src/rl/networks.js";
import { Sac } from "../src/rl/sac.js";
import { deviceReport, formatDeviceReport, useBackend } from "../src/tensor/backend.js";
import { best, sacBatch, TORCH_SAC } from "./common.js";

const quick = process.argv.includes("--quick");
tf.env().set("PROD", true); // no "install tfjs-node" banner from the cpu backend

interface Row {
  what: string;
  backend: string;
  networks: string;
  ms: number;
}
const rows: Row[] = [];
const record = (what: string, backend: string, networks: string, ms: number): void => {
  rows.push({ what, backend, networks, ms });
  console.log(`${what.padEnd(22)} ${backend.padEnd(26)} ${networks.padEnd(20)} ${ms.toFixed(ms < 10 ? 2 : 0).padStart(8)} ms`);
};

const obs40 = sacBatch(40, 1).obs;
const obs1000 = sacBatch(1000, 2).obs;

console.log(`${"".padEnd(22)} ${"backend".padEnd(26)} ${"networks".padEnd(20)} ${"time".padStart(8)}`);
for (const backend of ["wasm", "cpu"] as const) {
  await useBackend(backend);
  const report = await deviceReport();
  const label = backend === "wasm" ? `wasm${report.wasm?.simd ? " SIMD" : ""} 1 thread` : "cpu (JS)";
  for (const [kind, factory] of [["explicit transpose", mlp], ["tf.layers (naive)", layersMlp]] as const) {
    const sac = new Sac({ batchSize: 8192 }, { network: factory });
    sac.normaliser!.update(sacBatch(1000, 3).obs);
    for (const n of [1024, 8192]) {
      const slow = backend === "cpu" || kind !== "explicit transpose";
      if (n === 8192 && quick && slow) continue;
      if (n === 8192 && backend === "cpu" && kind !== "explicit transpose") continue; // about 30 s a run
      const batch = sacBatch(n, 4);
      const [runs, warmup] = backend === "cpu" ? (n === 8192 ? [1, 0] : [2, 1]) : slow ? [2, 1] : [5, 2];
      record(`update, batch ${n}`, label, kind, best(runs, () => sac.update(batch), warmup));
    }
    if (kind === "explicit transpose") {
      for (const [n, obs] of [[40, obs40], [1000, obs1000]] as const) {
        record(`policy forward, ${n}`, label, kind, best(backend === "cpu" ? 20 : 50, () => sac.act(obs, { deterministic: true }), 5));
        record(`policy sample, ${n}`, label, kind, best(backend === "cpu" ? 20 : 50, () => sac.act(obs), 5));
      }
    }
    sac.dispose();
  }
}

// PyTorch, the same networks and update (CleanRL's sac_continuous_action, target entropy -8): bench/common.ts.
const dir = mkdtempSync(join(tmpdir(), "crystal-rl-bench-sac-"));
try {
  const script = join(dir, "sac_torch.py");
  writeFileSync(script, TORCH_SAC);
  // One core (as the wasm backend), then two cores the way environment.md found fastest on this
  // machine (torch's own threads at 1, OpenBLAS at 2: torch.set_num_threads(2) oversubscribes).
  for (const [label, threads] of [["1 thread", "1"], ["OpenBLAS 2 threads", "2"]] as const) {
    const out = execFileSync("/usr/bin/python3", [script], {
      encoding: "utf8",
      env: { ...process.env, OPENBLAS_NUM_THREADS: threads, OMP_NUM_THREADS: "1", MKL_NUM_THREADS: threads },
    });
    let version = "";
    for (const line of out.trim().split("\n")) {
      const r = JSON.parse(line) as { what: string; ms?: number; torch?: string };
      if (r.torch) version = r.torch;
      else if (r.ms !== undefined) record(r.what, `PyTorch ${label}`, "nn.Linear", r.ms);
    }
    if (version) console.log(`(PyTorch ${version})`);
  }
} catch (e) {
  console.log(`PyTorch peer unavailable (${(e as Error).message.split("\n")[0]}): apt-get install -y python3-torch; printing TensorFlow.js only`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}

await useBackend("wasm");
console.log(`\n${formatDeviceReport(await deviceReport())}`);
const wasm = (what: string, networks: string) => rows.find((r) => r.what === what && r.backend.startsWith("wasm") && r.networks === networks)?.ms;
const explicit = wasm("update, batch 1024", "explicit transpose");
const naive = wasm("update, batch 1024", "tf.layers (naive)");
if (explicit && naive) console.log(`wasm, batch 1024: explicit-transpose update ${(naive / explicit).toFixed(1)}x faster than tf.layers`);
