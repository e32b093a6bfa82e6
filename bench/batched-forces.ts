/**
 * Batched force calls on TensorFlow.js (src/calculators/batched/, Pedone et al. 2006 ionic model)
 * against the TypeScript `ionic()` model computing the same structures one by one, in the same run:
 * the model's set-up (candidate lists, constants) apart, then time per batch call (positions up,
 * energies and forces back: `computeAsync()`), the ratio, the device memory the model holds, and the
 * largest deviation from the float64 model.
 *
 * Cases: 64 random SrTiO3 cells of 40 atoms (MACS's batch: all-candidates lists), one rattled
 * 1000-atom perovskite (5 x 5 x 8) and one of 10 000 atoms (10 x 10 x 20), both on Verlet lists
 * (cut-off + skin, from the cell list). The 10 000-atom cell is timed once (one warm call, one timed
 * call) and only on backends other than cpu (the cpu backend takes minutes a call); its Verlet
 * rebuild (every atom moved past the skin) is timed too.
 *
 *   node --import tsx bench/batched-forces.ts                   (wasm and cpu; webgpu too on a hardware adapter)
 *   node --import tsx bench/batched-forces.ts --backend wasm    (one backend; repeat the flag for more)
 *   node --import tsx bench/batched-forces.ts --small           (the 64 x 40 batch only)
 *   node --import tsx bench/batched-forces.ts --kinds           (per call, all-candidates vs Verlet lists:
 *                                                                the measurements behind VERLET_MARGIN)
 *   node --import tsx bench/batched-forces.ts --macs            (MACS's auto-reset: replacing structures in
 *                                                                a 64 x 40 model vs building it anew)
 */
import { cpus, loadavg } from "node:os";
import * as tf from "@tensorflow/tfjs";
import { batchedIonic, type BatchedModel, type BatchResult } from "../src/calculators/batched/index.js";
import { ionic } from "../src/calculators/ionic.js";
import type { Crystal } from "../src/structure/crystal.js";
import { perovskite } from "../src/structure/prototypes.js";
import { randomCrystal, randomCrystals } from "../src/structure/random.js";
import { Rng } from "../src/structure/random-source.js";
import { BACKEND_PREFERENCE, probeBackend, useBackend, type BackendName } from "../src/tensor/backend.js";
import { best, rattle } from "./common.js";

tf.env().set("PROD", true); // no "install tfjs-node" banner

const argv = process.argv.slice(2);
const named: BackendName[] = [];
for (let k = 0; k < argv.length; k++) {
  if (argv[k] === "--backend") {
    const name = argv[++k] as BackendName | undefined;
    if (!name || !BACKEND_PREFERENCE.includes(name)) throw new Error(`--backend takes one of ${BACKEND_PREFERENCE.join(", ")}, got ${name}`);
    named.push(name);
  }
}
const small = argv.includes("--small");
const kinds = argv.includes("--kinds");
const macs = argv.includes("--macs");

async function backends(): Promise<BackendName[]> {
  if (named.length) return named;
  const out: BackendName[] = ["wasm", "cpu"];
  // A software adapter (Mesa's llvmpipe) is slower than wasm: by name only (--backend webgpu).
  const webgpu = await probeBackend("webgpu");
  if (webgpu.available && !webgpu.adapter?.software) out.unshift("webgpu");
  return out;
}

/** The shortest of `runs` timed calls of the asynchronous `f` (ms): webgpu in Node reads back only asynchronously. */
async function bestAsync(runs: number, f: () => Promise<unknown>): Promise<number> {
  let t = Infinity;
  for (let k = 0; k < runs; k++) {
    const t0 = performance.now();
    await f();
    t = Math.min(t, performance.now() - t0);
  }
  return t;
}

const mib = (bytes: number): string => (bytes / 2 ** 20).toFixed(bytes < 2 ** 24 ? 1 : 0);
const cpu = cpus();
const header = (what: string): string =>
  `${what}; TensorFlow.js ${tf.version.tfjs}, ${new Date().toISOString().slice(0, 10)}, node ${process.version}, ` +
  `${cpu.length} x ${cpu[0]?.model ?? "cpu"}, load average ${loadavg()[0]!.toFixed(1)}`;

function table(head: string[], rows: string[][], left = 2): void {
  const width = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]): string => r.map((x, i) => (i < left ? x.padEnd(width[i]!) : x.padStart(width[i]!))).join("  ");
  console.log(line(head));
  for (const r of rows) console.log(line(r));
}

const perovskiteCell = (n: [number, number, number], seed: number): Crystal => rattle(perovskite("Sr", "Ti", "O", 3.905).supercell(n), 0.05, seed);

// ---------------------------------------------------------------------------------------------------
// --kinds: all-candidates vs Verlet lists per call
// ---------------------------------------------------------------------------------------------------

async function kindsTable(list: BackendName[]): Promise<void> {
  const cases: [string, Crystal[]][] = [
    ["16 x 40 random SrTiO3", randomCrystals({ composition: "SrTiO3", atoms: 40, count: 16, seed: 1 })],
    ["4 x 100 random SrTiO3", randomCrystals({ composition: "SrTiO3", atoms: 100, count: 4, seed: 1 })],
    ["1 x 320 perovskite", [perovskiteCell([4, 4, 4], 1)]],
    ["1 x 625 perovskite", [perovskiteCell([5, 5, 5], 1)]],
  ];
  const rows: string[][] = [];
  for (const backend of list) {
    await useBackend(backend);
    for (const [name, xs] of cases) {
      const row = [name, backend];
      let auto = "";
      const calls: number[] = [];
      for (const neighbours of ["all", "verlet"] as const) {
        const m = batchedIonic(xs, { neighbours });
        await m.computeAsync();
        const ms = await bestAsync(5, () => m.computeAsync());
        calls.push(ms);
        row.push(String(m.candidates), ms.toFixed(1));
        if (neighbours === "verlet") {
          // Every atom moved ~0.8 Å: past the skin, every structure's list is rebuilt.
          const rng = new Rng(1);
          const before = m.verlet.ms;
          await m.computeAsync(xs.map((c) => Float64Array.from(c.positions, (x) => x + rng.normal(0, 0.8))));
          row.push((m.verlet.ms - before).toFixed(0));
        }
        m.dispose();
      }
      const a = batchedIonic(xs);
      auto = a.kind(0);
      a.dispose();
      row.push(`${(calls[0]! / calls[1]!).toFixed(2)}x`, auto);
      rows.push(row);
    }
  }
  console.log(header("Ionic (Pedone 2006) batched calls, all-candidates vs Verlet lists (skin 1.5 Å)"));
  table(["case", "backend", "all cand.", "all ms", "Verlet cand.", "Verlet ms", "rebuild ms", "all / Verlet", "auto"], rows);
  console.log("ms: best of 5 calls after a warm one; rebuild ms: host time of rebuilding every structure's Verlet lists (cell list + upload).");
}

// ---------------------------------------------------------------------------------------------------
// --macs: replacing structures (auto-reset) vs building the model anew
// ---------------------------------------------------------------------------------------------------

async function macsTable(list: BackendName[]): Promise<void> {
  const xs = randomCrystals({ composition: "SrTiO3", atoms: 40, count: 64, seed: 1 });
  const fresh = Array.from({ length: 8 }, (_, k) => randomCrystal({ composition: "SrTiO3", atoms: 40 }, 900 + k));
  const rows: string[][] = [];
  for (const backend of list) {
    await useBackend(backend);
    const t0 = performance.now();
    const m = batchedIonic(xs);
    const build = performance.now() - t0;
    await m.computeAsync();
    const call = await bestAsync(3, () => m.computeAsync());
    const replace = (slots: number[]): number => {
      const t = performance.now();
      m.replace(slots, slots.map((_, k) => fresh[k]!));
      return performance.now() - t;
    };
    const one = Math.min(replace([5]), replace([40]), replace([17]));
    const eight = replace([0, 8, 16, 24, 32, 40, 48, 56]);
    rows.push([backend, String(m.describe().groups), build.toFixed(0), call.toFixed(0), one.toFixed(0), eight.toFixed(0)]);
    m.dispose();
  }
  console.log(header("64 x 40-atom random SrTiO3 (MACS's batch): replacing structures vs building the batched ionic model anew"));
  table(["backend", "groups", "build ms", "call ms", "replace 1 ms", "replace 8 ms"], rows, 1);
  console.log("replace 1: one slot (its group of ~6 structures rebuilt; best of 3); replace 8: eight slots in eight groups; build: the whole model.");
}

// ---------------------------------------------------------------------------------------------------
// The main table
// ---------------------------------------------------------------------------------------------------

interface Case {
  name: string;
  crystals: Crystal[];
  /** Timed batched calls and TypeScript passes (best of). */
  rounds: number;
  /** Not on the cpu backend (minutes a call). */
  big: boolean;
}

async function mainTable(list: BackendName[]): Promise<void> {
  const cases: Case[] = [{ name: "64 x 40 SrTiO3 (random cells)", crystals: randomCrystals({ composition: "SrTiO3", atoms: 40, count: 64, seed: 1 }), rounds: 3, big: false }];
  if (!small) {
    cases.push({ name: "1 x 1000 SrTiO3 (perovskite)", crystals: [perovskiteCell([5, 5, 8], 1000)], rounds: 2, big: false });
    cases.push({ name: "1 x 10000 SrTiO3 (perovskite)", crystals: [perovskiteCell([10, 10, 20], 10000)], rounds: 1, big: true });
  }
  const reference = ionic();
  const refs: { energy: number; forces?: Float64Array }[][] = [];
  const ts: number[] = [];
  for (const c of cases) {
    const t0 = performance.now();
    refs.push(c.crystals.map((x) => reference.computeSync(x))); // also the warm pass
    const first = performance.now() - t0;
    ts.push(c.rounds > 1 ? best(c.rounds, () => c.crystals.forEach((x) => reference.computeSync(x))) : first);
  }

  /** Largest |ΔF| / max|F| and |ΔE| / |E| over the structures, against the float64 model. */
  const deviation = (k: number, got: BatchResult, offsets: Int32Array): { force: number; energy: number } => {
    let force = 0;
    let energy = 0;
    cases[k]!.crystals.forEach((x, s) => {
      const ref = refs[k]![s]!;
      let fmax = 0;
      let df = 0;
      for (let i = 0; i < 3 * x.natoms; i++) {
        fmax = Math.max(fmax, Math.abs(ref.forces![i]!));
        df = Math.max(df, Math.abs(got.forces[3 * offsets[s]! + i]! - ref.forces![i]!));
      }
      force = Math.max(force, df / fmax);
      energy = Math.max(energy, Math.abs(got.energies[s]! - ref.energy) / Math.abs(ref.energy));
    });
    return { force, energy };
  };

  const rows: string[][] = [];
  const notes: string[] = [];
  for (const backend of list) {
    try {
      await useBackend(backend);
    } catch (e) {
      notes.push(`${backend}: not measured: ${(e as Error).message}`);
      continue;
    }
    for (const [k, c] of cases.entries()) {
      if (c.big && backend === "cpu") {
        notes.push(`${c.name} on cpu: not measured (minutes a call; wasm and GPU backends only)`);
        continue;
      }
      let model: BatchedModel | undefined;
      try {
        const t0 = performance.now();
        model = batchedIonic(c.crystals);
        const setup = performance.now() - t0;
        const t1 = performance.now();
        const first = await model.computeAsync(); // warm (kernels, memory)
        const firstMs = performance.now() - t1;
        const ms = await bestAsync(c.rounds, () => model!.computeAsync());
        const dev = deviation(k, first, model.batch.offsets);
        const d = model.describe();
        const kind = d.all > 0 && d.verlet > 0 ? "mixed" : d.verlet > 0 ? "verlet" : "all";
        let rebuild = "";
        if (c.big) {
          const rng = new Rng(3);
          const before = model.verlet.ms;
          await model.computeAsync(c.crystals.map((x) => Float64Array.from(x.positions, (p) => p + rng.normal(0, 0.8))));
          rebuild = (model.verlet.ms - before).toFixed(0);
        }
        rows.push([
          c.name,
          backend,
          kind,
          String(model.candidates),
          mib(model.bytes),
          setup.toFixed(0),
          firstMs.toFixed(0),
          ms.toFixed(1),
          rebuild || "-",
          ts[k]!.toFixed(1),
          `${(ts[k]! / ms).toFixed(2)}x`,
          (1000 / ms).toFixed(2),
          dev.force.toExponential(1),
          dev.energy.toExponential(1),
        ]);
      } catch (e) {
        notes.push(`${c.name} on ${backend}: not measured: ${(e as Error).message}`);
      } finally {
        model?.dispose();
      }
    }
  }
  console.log(header("Batched ionic (Pedone 2006) force calls vs TypeScript ionic() one structure at a time"));
  table(
    ["case", "backend", "lists", "candidates", "MiB", "set-up ms", "1st call ms", "batched ms/call", "rebuild ms", "TypeScript ms", "TS / batched", "calls/s", "max|ΔF|/max|F|", "max|ΔE/E|"],
    rows,
  );
  console.log(
    "set-up: building the model (candidate lists, constants) on the host and uploading it; 1st call: the warm call; batched ms/call: best of the " +
      "timed calls of computeAsync() (positions up, one read-back) after it (10 000 atoms: one timed call); rebuild: host time of a Verlet rebuild " +
      "after every atom moved ~0.8 Å; TypeScript ms: the same structures through ionic().computeSync one by one (best of the same number of " +
      "passes; 10 000 atoms: one pass); TS / batched > 1: the batch call is faster. MiB: device memory the model holds. Deviations: against " +
      "the float64 TypeScript model (tfjs is float32).",
  );
  for (const n of notes) console.log(n);
}

const list = await backends();
if (kinds) await kindsTable(list);
else if (macs) await macsTable(list);
else await mainTable(list);
