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
import { emptyBatch, type Batch } from "../src/rl/replay-buffer.js";
import { Sac } from "../src/rl/sac.js";
import { Rng } from "../src/structure/random-source.js";
import { deviceReport, formatDeviceReport, useBackend } from "../src/tensor/backend.js";

const quick = process.argv.includes("--quick");
tf.env().set("PROD", true); // no "install tfjs-node" banner from the cpu backend

function batchOf(n: number, seed: number): Batch {
  const rng = new Rng(seed);
  const b = emptyBatch(n, 204, 3);
  for (const a of [b.obs, b.nextObs]) for (let i = 0; i < a.length; i++) a[i] = rng.normal();
  for (let i = 0; i < b.actions.length; i++) b.actions[i] = rng.uniform(-1, 1);
  for (let i = 0; i < n; i++) {
    b.rewards[i] = rng.normal();
    b.dones[i] = rng.next() < 0.05 ? 1 : 0;
  }
  return b;
}

/** Best of `runs` timed calls after `warmup` untimed ones (ms). */
function time(runs: number, warmup: number, f: () => unknown): number {
  for (let k = 0; k < warmup; k++) f();
  let best = Infinity;
  for (let k = 0; k < runs; k++) {
    const t0 = performance.now();
    f();
    best = Math.min(best, performance.now() - t0);
  }
  return best;
}

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

const obs40 = batchOf(40, 1).obs;
const obs1000 = batchOf(1000, 2).obs;

console.log(`${"".padEnd(22)} ${"backend".padEnd(26)} ${"networks".padEnd(20)} ${"time".padStart(8)}`);
for (const backend of ["wasm", "cpu"] as const) {
  await useBackend(backend);
  const report = await deviceReport();
  const label = backend === "wasm" ? `wasm${report.wasm?.simd ? " SIMD" : ""} 1 thread` : "cpu (JS)";
  for (const [kind, factory] of [["explicit transpose", mlp], ["tf.layers (naive)", layersMlp]] as const) {
    const sac = new Sac({ batchSize: 8192 }, { network: factory });
    sac.normaliser!.update(batchOf(1000, 3).obs);
    for (const n of [1024, 8192]) {
      const slow = backend === "cpu" || kind !== "explicit transpose";
      if (n === 8192 && quick && slow) continue;
      if (n === 8192 && backend === "cpu" && kind !== "explicit transpose") continue; // about 30 s a run
      const batch = batchOf(n, 4);
      const [runs, warmup] = backend === "cpu" ? (n === 8192 ? [1, 0] : [2, 1]) : slow ? [2, 1] : [5, 2];
      record(`update, batch ${n}`, label, kind, time(runs, warmup, () => sac.update(batch)));
    }
    if (kind === "explicit transpose") {
      for (const [n, obs] of [[40, obs40], [1000, obs1000]] as const) {
        record(`policy forward, ${n}`, label, kind, time(backend === "cpu" ? 20 : 50, 5, () => sac.act(obs, { deterministic: true })));
        record(`policy sample, ${n}`, label, kind, time(backend === "cpu" ? 20 : 50, 5, () => sac.act(obs)));
      }
    }
    sac.dispose();
  }
}

// PyTorch, the same networks and update (CleanRL's sac_continuous_action, target entropy -8).
const TORCH = String.raw`
import json, math, os, sys, time
import torch, torch.nn as nn, torch.nn.functional as F
torch.set_num_threads(1)
torch.manual_seed(0)
def mlp(i, o):
    return nn.Sequential(nn.Linear(i, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, o))
actor, q1, q2, q1t, q2t = mlp(204, 6), mlp(207, 1), mlp(207, 1), mlp(207, 1), mlp(207, 1)
q1t.load_state_dict(q1.state_dict()); q2t.load_state_dict(q2.state_dict())
log_alpha = torch.zeros(1, requires_grad=True)
q_opt = torch.optim.Adam(list(q1.parameters()) + list(q2.parameters()), lr=3e-4)
a_opt = torch.optim.Adam(actor.parameters(), lr=3e-4)
al_opt = torch.optim.Adam([log_alpha], lr=1e-4)
def sample(o):
    out = actor(o)
    mean, log_std = out[:, :3], out[:, 3:].clamp(-5, 2)
    eps = torch.randn_like(mean)
    u = mean + log_std.exp() * eps
    logp = (-0.5 * eps ** 2 - log_std - 0.5 * math.log(2 * math.pi)).sum(1, keepdim=True) \
        - (2 * (math.log(2) - u - F.softplus(-2 * u))).sum(1, keepdim=True)
    return torch.tanh(u), logp
def update(o, a, r, no, d):
    with torch.no_grad():
        na, nlogp = sample(no)
        x = torch.cat([no, na], 1)
        y = r + (1 - d) * 0.995 * (torch.min(q1t(x), q2t(x)) - log_alpha.exp() * nlogp)
    x = torch.cat([o, a], 1)
    qf_loss = F.mse_loss(q1(x), y) + F.mse_loss(q2(x), y)
    q_opt.zero_grad(); qf_loss.backward(); q_opt.step()
    pi, logp = sample(o)
    x = torch.cat([o, pi], 1)
    actor_loss = (log_alpha.exp().detach() * logp - torch.min(q1(x), q2(x))).mean()
    a_opt.zero_grad(); actor_loss.backward(); a_opt.step()
    alpha_loss = (-log_alpha.exp() * (logp.detach() - 8)).mean()
    al_opt.zero_grad(); alpha_loss.backward(); al_opt.step()
    with torch.no_grad():
        for net, tgt in ((q1, q1t), (q2, q2t)):
            for p, tp in zip(net.parameters(), tgt.parameters()):
                tp.mul_(0.999).add_(0.001 * p)
def best(runs, warmup, f):
    for _ in range(warmup): f()
    t = float("inf")
    for _ in range(runs):
        t0 = time.perf_counter(); f(); t = min(t, time.perf_counter() - t0)
    return t * 1000
for n in (1024, 8192):
    o, no = torch.randn(n, 204), torch.randn(n, 204)
    a, r, d = torch.rand(n, 3) * 2 - 1, torch.randn(n, 1), (torch.rand(n, 1) < 0.05).float()
    print(json.dumps({"what": "update, batch %d" % n, "ms": best(5 if n == 1024 else 3, 2, lambda: update(o, a, r, no, d))}), flush=True)
for n in (40, 1000):
    o = torch.randn(n, 204)
    def forward():
        with torch.no_grad():
            torch.tanh(actor(o)[:, :3]).numpy()
    print(json.dumps({"what": "policy forward, %d" % n, "ms": best(50, 5, forward)}), flush=True)
print(json.dumps({"what": "version", "torch": torch.__version__}), flush=True)
`;

const dir = mkdtempSync(join(tmpdir(), "crystal-rl-bench-sac-"));
try {
  const script = join(dir, "sac_torch.py");
  writeFileSync(script, TORCH);
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
