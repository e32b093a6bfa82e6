/**
 * The batched TensorFlow.js calculators (src/calculators/batched/) against the TypeScript models they
 * batch, on the cpu and wasm backends (WebGPU where an adapter exists): one batch of structures of
 * different sizes (5, 10, 12, 40 atoms; SrTiO3, a triclinic Mg–Al–Si–Na oxide, Fe2O3), at the crystals'
 * own positions and at positions moved by whole lattice vectors and rattled (outside the cell), per
 * structure against `ionic().computeSync` and `lj().computeSync`; no leaked tensors; bad input.
 *
 * Tolerances. tfjs computes in float32 on every backend, the TypeScript models in float64.
 * - Forces: max |ΔF| <= 5e-5 × max |F| of the structure. Measured (6 seeds x 6 structures x 2 position
 *   sets, cpu and wasm): at most 5.4e-6 for the ionic model and 9.0e-6 for Lennard-Jones (the steepest
 *   contacts, C/r¹² and (σ/r)¹² at 1 Å, amplify a pair vector's float32 rounding 12-fold).
 * - Energy: |ΔE| <= 2e-5 × (|E| + N × 1 eV). Float32 errors scale with the terms summed (Ewald real and
 *   reciprocal sums of a few eV per atom), not with the total, which can nearly cancel: |ΔE| / (|E| + N eV)
 *   measured at most 5.6e-6 (wasm) and 3.8e-6 (cpu); relative to |E| alone up to 1.5e-5, on a 5-atom
 *   cell with E = 2.9 eV.
 * The structures are generated with fixed seeds, so these margins (3.5x and 5x) hold run to run.
 *
 * Verlet lists (pairs inside cut-off + skin at reference positions, rebuilt past the skin): the same
 * tolerances. Measured: a rattled 1000-atom perovskite (5 x 5 x 8, 1.1 M Verlet candidates) at most
 * 5.3e-6 (forces) and 3e-7 (energy); the small mixed batch forced onto Verlet lists 4.7e-6 and 7.6e-6.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { batchedIonic, batchedLennardJones, batchedTwin, imageShifts, type BatchedModel, type BatchResult } from "../../src/calculators/batched/index.js";
import { ionic } from "../../src/calculators/ionic.js";
import { lj, type LennardJonesOptions } from "../../src/calculators/lj.js";
import type { Computed } from "../../src/calculators/calculator.js";
import { Crystal } from "../../src/structure/crystal.js";
import { Lattice } from "../../src/structure/lattice.js";
import { perovskite } from "../../src/structure/prototypes.js";
import { randomCrystal } from "../../src/structure/random.js";
import { Rng } from "../../src/structure/random-source.js";
import { useBackend } from "../../src/tensor/backend.js";
import { forEachBackend } from "../tensor/backends.js";

const FORCE_TOL = 5e-5;
const ENERGY_TOL = 2e-5;

/** A random triclinic cell of several cations and O (as test/calculators/ionic.test.ts). */
function mixedOxide(seed: number): Crystal {
  const rng = new Rng(seed);
  const lattice = Lattice.fromParameters(5.1, 5.6, 6.0, 81, 97, 106);
  const symbols = ["Mg", "Mg", "Al", "Si", "O", "O", "O", "O", "O", "O", "Na", "O"];
  return Crystal.fromFractional(lattice, Float64Array.from({ length: 3 * symbols.length }, () => rng.next()), symbols);
}

/** Structures of different sizes: MACS-like random SrTiO3 (1 Å contacts), a rattled perovskite, others. */
function structures(): Crystal[] {
  return [
    randomCrystal({ composition: "SrTiO3", atoms: 5 }, 4),
    randomCrystal({ composition: "SrTiO3", atoms: 10 }, 12),
    mixedOxide(5),
    randomCrystal({ composition: "SrTiO3", atoms: 40 }, 13),
    perovskite("Sr", "Ti", "O", 3.905).supercell([2, 2, 2]).rattled(0.05, 1),
    randomCrystal({ composition: "Fe2O3", atoms: 10 }, 14),
  ];
}

/** Each atom moved by a whole lattice vector (−2..2 of each) and rattled by 0.1 Å: positions outside the cell. */
function moved(c: Crystal, seed: number): Float64Array {
  const rng = new Rng(seed);
  const m = c.cell;
  const p = Float64Array.from(c.positions);
  for (let a = 0; a < c.natoms; a++) {
    const n = [0, 1, 2].map(() => Math.floor(rng.next() * 5) - 2);
    for (let d = 0; d < 3; d++) p[3 * a + d]! += n[0]! * m[d]! + n[1]! * m[3 + d]! + n[2]! * m[6 + d]! + rng.normal(0, 0.1);
  }
  return p;
}

/** Checks every structure of a batched result against the float64 model. */
function assertParity(label: string, crystals: readonly Crystal[], offsets: Int32Array, got: BatchResult, reference: (c: Crystal) => Computed): void {
  crystals.forEach((c, s) => {
    const ref = reference(c);
    const tolE = ENERGY_TOL * (Math.abs(ref.energy) + c.natoms);
    const dE = Math.abs(got.energies[s]! - ref.energy);
    assert.ok(dE <= tolE, `${label}, structure ${s} (${c.formula}): energy ${got.energies[s]} vs ${ref.energy} (|ΔE| ${dE.toExponential(2)} > ${tolE.toExponential(2)})`);
    let fmax = 0;
    let df = 0;
    const base = 3 * offsets[s]!;
    for (let k = 0; k < 3 * c.natoms; k++) {
      fmax = Math.max(fmax, Math.abs(ref.forces![k]!));
      df = Math.max(df, Math.abs(got.forces[base + k]! - ref.forces![k]!));
    }
    assert.ok(df <= FORCE_TOL * fmax, `${label}, structure ${s} (${c.formula}): max |ΔF| ${df.toExponential(2)} > ${FORCE_TOL} × max |F| = ${fmax.toExponential(2)}`);
  });
}

/** Parity at the crystals' own positions and at moved ones, one model for both (the lists are reused). */
function checkModel(model: BatchedModel, crystals: readonly Crystal[], reference: (c: Crystal) => Computed, seed = 100): void {
  assertParity("own positions", crystals, model.batch.offsets, model.compute(), reference);
  const positions = crystals.map((c, k) => moved(c, seed + k));
  assertParity(
    "moved positions",
    crystals.map((c, s) => c.withPositions(positions[s]!)),
    model.batch.offsets,
    model.compute(positions),
    reference,
  );
}

const LJ_CASES: readonly LennardJonesOptions[] = [
  { epsilon: 0.01, sigma: 2.0, rc: 6 },
  { epsilon: 0.01, sigma: 2.0, rc: 6, smooth: true },
];

function parity(): void {
  it("ionic (Pedone 2006): energies and forces as ionic().computeSync, structures of 5-40 atoms in one batch", () => {
    const crystals = structures();
    const model = batchedIonic(crystals);
    try {
      assert.deepEqual(Array.from(model.batch.counts), crystals.map((c) => c.natoms));
      assert.equal(model.batch.structureIndex[model.batch.offsets[3]!], 3);
      const ref = ionic();
      checkModel(model, crystals, (c) => ref.computeSync(c));
      assert.deepEqual(model.counts, { calls: 2, forceCalls: 2 * crystals.length });
    } finally {
      model.dispose();
    }
  });

  it("ionic: options reach the model (cut-off 9 Å, no shift, Ewald accuracy 1e-8)", () => {
    const crystals = structures().slice(0, 3);
    const options = { cutoff: 9, shift: false, accuracy: 1e-8 };
    const model = batchedIonic(crystals, options);
    try {
      const ref = ionic(options);
      assertParity("cut-off 9", crystals, model.batch.offsets, model.compute(), (c) => ref.computeSync(c));
    } finally {
      model.dispose();
    }
  });

  for (const options of LJ_CASES) {
    it(`Lennard-Jones (${options.smooth ? "smooth" : "shifted"}): energies and forces as lj().computeSync`, () => {
      const crystals = structures();
      const model = batchedLennardJones(crystals, options);
      try {
        const ref = lj(options);
        checkModel(model, crystals, (c) => ref.computeSync(c));
      } finally {
        model.dispose();
      }
    });
  }

  it("Verlet lists (forced) on the mixed batch: ionic and Lennard-Jones as the TypeScript models, moved positions included", () => {
    const crystals = structures();
    const model = batchedIonic(crystals, { neighbours: "verlet" });
    try {
      assert.ok(crystals.every((_, s) => model.kind(s) === "verlet"));
      assert.equal(model.describe().all, 0);
      const ref = ionic();
      checkModel(model, crystals, (c) => ref.computeSync(c));
    } finally {
      model.dispose();
    }
    const l = batchedLennardJones(crystals, { ...LJ_CASES[1], neighbours: "verlet" });
    try {
      const ref = lj(LJ_CASES[1]);
      checkModel(l, crystals, (c) => ref.computeSync(c));
    } finally {
      l.dispose();
    }
  });

  it("replace: new structures in some slots give the same numbers as a model built on them", () => {
    const crystals = structures();
    const model = batchedIonic(crystals, { chunkSize: 1 << 16 }); // several groups
    try {
      assert.ok(model.describe().groups > 1, `${model.describe().groups} groups`);
      const fresh = [randomCrystal({ composition: "SrTiO3", atoms: 15 }, 21), randomCrystal({ composition: "MgO", atoms: 8 }, 22)];
      const before = tf.memory().numTensors;
      model.replace([1, 4], fresh);
      const now = [...crystals];
      now[1] = fresh[0]!;
      now[4] = fresh[1]!;
      assert.deepEqual(Array.from(model.batch.counts), now.map((c) => c.natoms));
      const ref = ionic();
      checkModel(model, now, (c) => ref.computeSync(c), 300);
      // A model built on them afresh groups them otherwise (block sizes, summation order): float32 apart.
      const again = batchedIonic(now, { chunkSize: 1 << 16 });
      try {
        const a = model.compute();
        const b = again.compute();
        a.energies.forEach((e, s) => assert.ok(Math.abs(e - b.energies[s]!) <= 5e-6 * (Math.abs(e) + now[s]!.natoms), `energy ${s}: ${e} vs ${b.energies[s]}`));
        const scale = Math.max(...b.forces.map(Math.abs));
        a.forces.forEach((f, k) => assert.ok(Math.abs(f - b.forces[k]!) <= 1e-5 * scale, `force ${k}: ${f} vs ${b.forces[k]}`));
      } finally {
        again.dispose();
      }
      // Bad input leaves the model as it was.
      const bad = new Crystal({ cell: Lattice.cubic(6), positions: [0, 0, 0, 2, 0, 0], numbers: ["Sr", "H"] });
      const held = tf.memory().numTensors;
      assert.throws(() => model.replace([0], [bad]), /structure 0, atom 1: no Pedone/);
      assert.throws(() => model.replace([0, 0], [fresh[0]!, fresh[0]!]), /not a distinct slot/);
      assert.equal(tf.memory().numTensors, held);
      assertParity("after a refused replace", now, model.batch.offsets, model.compute(), (c) => ref.computeSync(c));
      assert.ok(tf.memory().numTensors - before <= 4, "replace keeps the tensor count (per-atom constants rebuilt)");
    } finally {
      model.dispose();
    }
  });

  for (const neighbours of ["all", "verlet"] as const) {
    it(`computeTensors from an [A, 3] positions tensor matches compute (${neighbours} lists)`, () => {
      const crystals = structures().slice(0, 4);
      const model = batchedIonic(crystals, { neighbours });
      try {
        const packed = new Float32Array(3 * model.atoms);
        crystals.forEach((c, s) => packed.set(c.positions, 3 * model.batch.offsets[s]!));
        const before = tf.memory().numTensors;
        const positions = tf.tensor2d(packed, [model.atoms, 3]);
        const t = model.computeTensors(positions);
        assert.deepEqual(t.energies.shape, [crystals.length]);
        assert.deepEqual(t.forces.shape, [model.atoms, 3]);
        const got: BatchResult = { energies: Float64Array.from(t.energies.dataSync()), forces: Float64Array.from(t.forces.dataSync()) };
        tf.dispose([positions, t.energies, t.forces]);
        assert.equal(tf.memory().numTensors, before, "computeTensors leaves only its two results");
        const ref = ionic();
        // The energies here pass through float32 whole (constants included): the tolerance still holds.
        assertParity("tensor input", crystals, model.batch.offsets, got, (c) => ref.computeSync(c));
      } finally {
        model.dispose();
      }
    });
  }

  it("leaks no tensors: compute, computeAsync and dispose", async () => {
    const start = tf.memory().numTensors;
    const crystals = structures().slice(0, 3);
    for (const model of [
      batchedIonic(crystals),
      batchedLennardJones(crystals, LJ_CASES[1]),
      batchedIonic(crystals, { neighbours: "verlet", chunkSize: 1 << 12 }),
    ] as BatchedModel[]) {
      const held = tf.memory().numTensors;
      model.compute();
      assert.equal(tf.memory().numTensors, held, `${model.name}: compute`);
      await model.computeAsync(crystals.map((c) => c.positions));
      assert.equal(tf.memory().numTensors, held, `${model.name}: computeAsync`);
      assert.throws(() => model.compute([crystals[0]!.positions]), RangeError);
      assert.equal(tf.memory().numTensors, held, `${model.name}: a failed call`);
      model.compute(crystals.map((c) => c.positions.map((x) => x + 1))); // every atom 1.7 Å away: Verlet rebuilds
      model.dispose();
      assert.throws(() => model.compute(), /disposed/);
    }
    assert.equal(tf.memory().numTensors, start, "dispose frees what the models held");
  });
}

forEachBackend("batched calculators: parity with the TypeScript models", parity);

/** A rattled 1000-atom SrTiO3 perovskite (5 x 5 x 8): "auto" gives it Verlet lists. */
const thousand = (): Crystal => perovskite("Sr", "Ti", "O", 3.905).supercell([5, 5, 8]).rattled(0.05, 1000);

// The cpu backend takes ~2.5 s a call of the 1000-atom cell (wasm ~0.2 s): it runs the 320-atom one.
forEachBackend("batched ionic: Verlet lists of a large cell (1000 atoms on wasm, 320 on cpu)", (backend) => {
  it("match ionic().computeSync; moves within skin/2 keep the list, past it rebuild it, and both still match", () => {
    const big = backend === "cpu" ? perovskite("Sr", "Ti", "O", 3.905).supercell([4, 4, 4]).rattled(0.05, 320) : thousand();
    const model = batchedIonic([big]);
    const ref = ionic();
    try {
      assert.equal(model.kind(0), "verlet");
      assert.equal(model.describe().all, 0);
      const offsets = model.batch.offsets;
      assertParity("1000 atoms", [big], offsets, model.compute(), (c) => ref.computeSync(c));
      // Every atom moved by up to 0.3 Å and by whole lattice vectors: |Δ_i| + |Δ_j| < skin = 1.5 Å.
      const rng = new Rng(7);
      const m = big.cell;
      const small = Float64Array.from(big.positions, (x, k) => x + rng.uniform(-0.17, 0.17) + (k % 3 === 0 ? 2 * m[0]! : 0) - (k % 3 === 2 ? m[8]! : 0));
      assertParity("moved within the skin", [big.withPositions(small)], offsets, model.compute([small]), (c) => ref.computeSync(c));
      assert.equal(model.verlet.rebuilds, 0);
      // Two atoms moved 0.8 Å each: past skin/2, the list is rebuilt.
      const far = Float64Array.from(small);
      far[3 * 10]! += 0.8;
      far[3 * 200 + 1]! -= 0.8;
      assertParity("moved past the skin", [big.withPositions(far)], offsets, model.compute([far]), (c) => ref.computeSync(c));
      assert.equal(model.verlet.rebuilds, 1);
      // The rebuilt list is the reference now: a small move from it needs no rebuild.
      const next = Float64Array.from(far, (x) => x + rng.uniform(-0.05, 0.05));
      assertParity("after the rebuild", [big.withPositions(next)], offsets, model.compute([next]), (c) => ref.computeSync(c));
      assert.equal(model.verlet.rebuilds, 1);
    } finally {
      model.dispose();
    }
  });
});

describe("batched calculators [webgpu, where an adapter exists]", () => {
  // In Node, webgpu cannot read a GPU tensor synchronously: computeAsync only.
  it("parity on WebGPU: all-candidates lists (mixed batch) and Verlet lists (320-atom cell)", async (t) => {
    const previous = tf.getBackend();
    try {
      await useBackend("webgpu");
    } catch (e) {
      t.skip(`no WebGPU here: ${(e as Error).message}`);
      return;
    }
    try {
      const ref = ionic();
      const crystals = structures();
      const model = batchedIonic(crystals);
      try {
        assertParity("own positions", crystals, model.batch.offsets, await model.computeAsync(), (c) => ref.computeSync(c));
        const positions = crystals.map((c, k) => moved(c, 100 + k));
        const got = await model.computeAsync(positions);
        assertParity("moved positions", crystals.map((c, s) => c.withPositions(positions[s]!)), model.batch.offsets, got, (c) => ref.computeSync(c));
      } finally {
        model.dispose();
      }
      const big = [perovskite("Sr", "Ti", "O", 3.905).supercell([4, 4, 4]).rattled(0.05, 320)];
      const verlet = batchedIonic(big);
      try {
        assert.equal(verlet.kind(0), "verlet");
        assertParity("320 atoms", big, verlet.batch.offsets, await verlet.computeAsync(), (c) => ref.computeSync(c));
      } finally {
        verlet.dispose();
      }
    } finally {
      await tf.setBackend(previous);
    }
  });
});

/** A calculator without a batched twin. */
const emtLike = { name: "emt", counts: { calls: 0, forceCalls: 0 }, compute: async () => ({ energy: 0 }), resetCounts: () => {} };

describe("batched calculators: bad input", () => {
  // Before any tensor exists: these fail in the JavaScript set-up or checks.
  const crystals = () => structures().slice(0, 3);

  it("an element outside the Pedone table names the structure, the atom and the element", async () => {
    await useBackend("cpu");
    const bad = new Crystal({ cell: Lattice.cubic(6), positions: [0, 0, 0, 2, 0, 0, 0, 3, 0, 3, 3, 3], numbers: ["Sr", "O", "H", "O"] });
    const before = tf.memory().numTensors;
    assert.throws(() => batchedIonic([crystals()[0]!, bad]), /batchedIonic: structure 1, atom 2: no Pedone et al\. \(2006\) parameters for element H/);
    assert.equal(tf.memory().numTensors, before);
  });

  it("positions of the wrong length, a wrong structure count or a NaN name the structure (and atom)", async () => {
    await useBackend("cpu");
    const cs = crystals();
    const model = batchedIonic(cs);
    try {
      const p = cs.map((c) => Float64Array.from(c.positions));
      assert.throws(() => model.compute([p[0]!, p[1]!.subarray(0, 27), p[2]!]), /batchedIonic: structure 1 has 10 atoms and needs 30 position components, got 27/);
      assert.throws(() => model.compute([p[0]!, p[1]!]), /positions for 2 structures given, the batch has 3/);
      assert.throws(() => model.compute(new Float32Array(3 * model.atoms - 3)), /packed positions need 3 × 27 = 81 components \(3 structures\), got 78/);
      p[1]![3 * 7 + 2] = Number.NaN;
      assert.throws(() => model.compute(p), /batchedIonic: structure 1, atom 7 \(O\) has a non-finite coordinate/);
      assert.throws(() => model.computeTensors(tf.zeros([model.atoms, 2]) as tf.Tensor2D), /positions tensor must be \[27, 3\], got \[27, 2\]/);
    } finally {
      model.dispose();
    }
    assert.throws(() => batchedLennardJones([]), /batchedLennardJones: empty batch/);
    assert.throws(
      () => batchedIonic(cs, { maxMemory: 2 ** 16 }),
      /candidate list would take [\d.]+ MiB on the device \(\d+ atom pairs, \d+ candidates\), over maxMemory = 0\.06 MiB/,
    );
    const before = tf.memory().numTensors;
    assert.throws(
      () => batchedIonic([thousand()], { maxMemory: 2 ** 24 }),
      /batchedIonic: the Ewald real-space Verlet list of structure 0 \(1000 atoms, cut-off 12\.02 \+ skin 1\.5 Å\) would take more than [\d.]+ MiB on the device \(about \d+ MiB for all pair types at this density; 40 bytes per pair\), over maxMemory = 16 MiB/,
    );
    assert.equal(tf.memory().numTensors, before, "nothing left on the device");
    assert.throws(() => batchedIonic(cs, { neighbours: "near" as "all" }), /neighbours must be "auto", "all" or "verlet"/);
    assert.throws(() => batchedIonic(cs, { skin: -1 }), /skin must be a positive number/);
    assert.throws(() => batchedTwin(emtLike, cs), /has no batched twin/);
  });
});

describe("image shifts", () => {
  it("cover every image within the cut-off of a pair whose fractional difference lies in [−½, ½]³", () => {
    const rng = new Rng(3);
    for (const [lattice, cutoff] of [
      [Lattice.fromParameters(5.1, 5.6, 6.0, 81, 97, 106), 9],
      [Lattice.fromParameters(4, 9, 5, 62, 115, 70), 7],
      [Lattice.cubic(3.9), 15],
    ] as const) {
      const cell = lattice.matrix;
      const shifts = imageShifts(cell, cutoff);
      const set = new Set<string>();
      for (let k = 0; k < shifts.length; k += 3) set.add(`${shifts[k]},${shifts[k + 1]},${shifts[k + 2]}`);
      const reach = Math.ceil(cutoff / Math.min(...lattice.heights)) + 1;
      for (let trial = 0; trial < 200; trial++) {
        const u = [rng.next() - 0.5, rng.next() - 0.5, rng.next() - 0.5];
        for (let a = -reach; a <= reach; a++)
          for (let b = -reach; b <= reach; b++)
            for (let c = -reach; c <= reach; c++) {
              const w = [u[0]! + a, u[1]! + b, u[2]! + c];
              const x = [0, 1, 2].map((d) => w[0]! * cell[d]! + w[1]! * cell[3 + d]! + w[2]! * cell[6 + d]!);
              if (Math.hypot(x[0]!, x[1]!, x[2]!) < cutoff) assert.ok(set.has(`${a},${b},${c}`), `shift ${a},${b},${c} missing`);
            }
      }
    }
  });
});
