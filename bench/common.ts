/**
 * What the benchmarks share: best-of timing, rattled structures, running a Python peer (ASE, LAMMPS,
 * PyTorch) on the same inputs, and the SAC batch and PyTorch SAC script of bench/sac.ts and bench/gpu.ts.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { emptyBatch, type Batch } from "../src/rl/replay-buffer.js";
import type { Crystal } from "../src/structure/crystal.js";
import { Rng } from "../src/structure/random-source.js";

/** The shortest of `runs` timed calls of `f` (ms), after `warmup` untimed ones. */
export function best(runs: number, f: () => unknown, warmup = 0): number {
  for (let k = 0; k < warmup; k++) f();
  let t = Infinity;
  for (let k = 0; k < runs; k++) {
    const t0 = performance.now();
    f();
    t = Math.min(t, performance.now() - t0);
  }
  return t;
}

/** `crystal` with every coordinate moved by a seeded normal deviate of `sd` Å. */
export function rattle(crystal: Crystal, sd: number, seed: number): Crystal {
  const rng = new Rng(seed);
  return crystal.withPositions(Float64Array.from(crystal.positions, (x) => x + rng.normal(0, sd)));
}

/** A crystal as the Python peers read it: { cell, positions, numbers }. */
export function structureJson(c: Crystal): { cell: number[][]; positions: number[]; numbers: number[] } {
  return { cell: c.lattice.toArray(), positions: [...c.positions], numbers: [...c.numbers] };
}

/**
 * Runs the Python peer `script` (under /usr/bin/python3) on `inputs`, each written as a JSON file in a
 * temporary folder that is removed afterwards; `args` gets those files' paths and gives the command
 * line. Returns the peer's output lines, each parsed as JSON; when the peer cannot run (`name` not
 * installed, say), says so on stderr and returns [], so the benchmark prints crystal-rl alone.
 */
export function runPeer<T>(name: string, script: string, inputs: unknown[], args: (files: string[]) => string[]): T[] {
  const dir = mkdtempSync(join(tmpdir(), "crystal-rl-bench-"));
  try {
    const files = inputs.map((input, k) => {
      const file = join(dir, `input${k}.json`);
      writeFileSync(file, JSON.stringify(input));
      return file;
    });
    const out = execFileSync("/usr/bin/python3", [script, ...args(files)], { encoding: "utf8", maxBuffer: 1 << 28 });
    return out
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as T);
  } catch (e) {
    console.error(`${name} peer unavailable (${(e as Error).message.split("\n")[0]}); printing crystal-rl only`);
    return [];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A seeded batch of `n` MACS transitions (204 observations, 3 actions), as the replay buffer samples it. */
export function sacBatch(n: number, seed: number): Batch {
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

/**
 * PyTorch, the same networks and SAC update as src/rl/sac.ts with the MACS sizes (CleanRL's
 * sac_continuous_action, target entropy -8), timed at batch 1024 and 8192, and the policy forward for
 * 40 and 1000 rows. `python3 script [device]`: device `cpu` (the default), `cuda`, or `auto` (cuda when
 * torch sees a GPU). Each call takes its batch from CPU memory, as MACS's replay buffer holds it (a
 * no-op on the CPU). Prints one JSON line per measurement, { what, ms }, then { what: "version", torch, device }.
 */
export const TORCH_SAC = String.raw`
import json, math, os, sys, time
import torch, torch.nn as nn, torch.nn.functional as F
arg = sys.argv[1] if len(sys.argv) > 1 else "cpu"
DEV = torch.device("cuda" if arg == "auto" and torch.cuda.is_available() else ("cpu" if arg == "auto" else arg))
torch.set_num_threads(1)
torch.manual_seed(0)
def sync():
    if DEV.type == "cuda":
        torch.cuda.synchronize()
def mlp(i, o):
    return nn.Sequential(nn.Linear(i, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, o)).to(DEV)
actor, q1, q2, q1t, q2t = mlp(204, 6), mlp(207, 1), mlp(207, 1), mlp(207, 1), mlp(207, 1)
q1t.load_state_dict(q1.state_dict()); q2t.load_state_dict(q2.state_dict())
log_alpha = torch.zeros(1, requires_grad=True, device=DEV)
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
    o, a, r, no, d = (t.to(DEV) for t in (o, a, r, no, d))
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
    sync()
    t = float("inf")
    for _ in range(runs):
        t0 = time.perf_counter(); f(); sync(); t = min(t, time.perf_counter() - t0)
    return t * 1000
for n in (1024, 8192):
    o, no = torch.randn(n, 204), torch.randn(n, 204)
    a, r, d = torch.rand(n, 3) * 2 - 1, torch.randn(n, 1), (torch.rand(n, 1) < 0.05).float()
    print(json.dumps({"what": "update, batch %d" % n, "ms": best(5 if n == 1024 else 3, 2, lambda: update(o, a, r, no, d))}), flush=True)
for n in (40, 1000):
    o = torch.randn(n, 204)
    def forward():
        with torch.no_grad():
            torch.tanh(actor(o.to(DEV))[:, :3]).cpu().numpy()
    print(json.dumps({"what": "policy forward, %d" % n, "ms": best(50, 5, forward)}), flush=True)
name = torch.cuda.get_device_name(DEV) if DEV.type == "cuda" else "cpu"
print(json.dumps({"what": "version", "torch": torch.__version__, "device": name}), flush=True)
`;
