/**
 * MEGNetRL (src/rl/megnet.ts, 18 tokens, 18 outputs) on the wasm and cpu backends: the forward pass
 * (`apply`, read back) and a training step (forward, backward and an Adam update of every variable)
 * for 64 five-site graphs (perovskite template) and 64 eight-site graphs (rock salt, conventional
 * cell), built by the environment's own graph builder (radial 4 Å cut-off, src/envs/crystal-gym/
 * graph.ts) with random fillings and current sites, plus the one-graph forward that acting costs.
 * This is what the CrystalGym algorithms' speed hangs on: DQN/SAC train on batches of 64 (spec §6.2).
 *
 *   node --import tsx bench/megnet.ts           # about a minute on 2 cores, most of it cpu
 *   node --import tsx bench/megnet.ts --quick   # wasm only
 *
 * Times are the best of a few runs after warm-up, in milliseconds.
 */
import * as tf from "@tensorflow/tfjs";
import { crystalGraph, latticeState, templateGraph } from "../src/envs/crystal-gym/graph.js";
import { template } from "../src/envs/crystal-gym/templates.js";
import type { CrystalGraph } from "../src/envs/crystal-gym/types.js";
import { Megnet } from "../src/rl/megnet.js";
import { Rng } from "../src/structure/random-source.js";
import { deviceReport, formatDeviceReport, useBackend } from "../src/tensor/backend.js";
import { best } from "./common.js";

const quick = process.argv.includes("--quick");
tf.env().set("PROD", true); // no "install tfjs-node" banner from the cpu backend
const VOCAB = 18; // spec §3, small vocabulary

/** `count` observations of a template: random partial fillings (in a random order), the next site current. */
function observations(name: string, count: number, seed: number): CrystalGraph[] {
  const t = template(name);
  const g = templateGraph(t.crystal);
  const state = latticeState(t.crystal, 300);
  const rng = new Rng(seed);
  return Array.from({ length: count }, () => {
    const order = Array.from({ length: g.sites }, (_, i) => i);
    for (let i = order.length - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    const filled = rng.int(g.sites);
    const tokens = new Int32Array(g.sites).fill(VOCAB);
    for (let k = 0; k < filled; k++) tokens[order[k]!] = rng.int(VOCAB);
    return crystalGraph(g, tokens, VOCAB, order[filled]!, state);
  });
}

const cases = [
  { label: "64 x 5 sites", graphs: observations("perovskite", 64, 1) },
  { label: "64 x 8 sites", graphs: observations("rocksalt-conventional", 64, 2) },
];
const single = observations("perovskite", 1, 3);
const results = new Map<string, Map<string, number>>(); // row -> backend -> ms
const record = (row: string, backend: string, ms: number): void => {
  if (!results.has(row)) results.set(row, new Map());
  results.get(row)!.set(backend, ms);
  console.log(`  ${row.padEnd(34)} ${backend.padEnd(5)} ${ms.toFixed(1).padStart(8)} ms`);
};

const backends = quick ? (["wasm"] as const) : (["wasm", "cpu"] as const);
for (const backend of backends) {
  await useBackend(backend);
  console.log(formatDeviceReport(await deviceReport()));
  const net = new Megnet({ vocabulary: VOCAB }, VOCAB, 1);
  const opt = tf.train.adam(2.5e-4); // spec §6.2 DQN's learning rate
  const [runs, warmup] = backend === "wasm" ? [5, 2] : [2, 1];
  record("forward, 1 graph (acting)", backend, best(runs * 4, () => {
    const y = net.apply(single);
    y.dataSync();
    y.dispose();
  }, warmup));
  for (const c of cases) {
    const edges = c.graphs.reduce((n, g) => n + g.edgeSrc.length, 0);
    const label = `${c.label} (${edges} edges)`;
    record(`forward, ${label}`, backend, best(runs, () => {
      const y = net.apply(c.graphs);
      y.dataSync();
      y.dispose();
    }, warmup));
    const target = tf.randomNormal([c.graphs.length, VOCAB], 0, 1, "float32", 5);
    record(`train step, ${label}`, backend, best(runs, () => {
      const loss = opt.minimize(() => tf.mean(tf.square(tf.sub(net.apply(c.graphs), target))) as tf.Scalar, true, net.variables as tf.Variable[])!;
      loss.dataSync();
      loss.dispose();
    }, warmup));
    target.dispose();
  }
  console.log(`  (${net.parameterCount} parameters in ${net.variables.length} variables)`);
  opt.dispose();
  net.dispose();
}

console.log(`\n${"".padEnd(44)} ${"wasm".padStart(9)} ${"cpu".padStart(9)} ${"cpu/wasm".padStart(9)}`);
for (const [row, byBackend] of results) {
  const w = byBackend.get("wasm");
  const c = byBackend.get("cpu");
  const cell = (v: number | undefined) => (v === undefined ? "-" : `${v.toFixed(1)}`).padStart(9);
  console.log(`${row.padEnd(44)} ${cell(w)} ${cell(c)} ${(w && c ? `${(c / w).toFixed(1)}x` : "-").padStart(9)}`);
}
