/**
 * The MACS observation (macs-spec §2.2): 204 numbers per atom, own features first, then the 12
 * nearest periodic neighbours' features (nearest first, images included), their distances and
 * relative vectors; checked by hand on 1- and 2-atom cells.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ionic } from "../../src/calculators/ionic.js";
import {
  FEATURES,
  OBS_SIZE,
  observationLayout,
  observationSize,
  randomSource,
  RelaxationGame,
} from "../../src/envs/index.js";
import { Crystal } from "../../src/structure/crystal.js";
import { elementBySymbol } from "../../src/structure/elements.js";
import { Lattice } from "../../src/structure/lattice.js";
import { Harmonic } from "./harmonic.js";

const close = (a: number, b: number, tol = 1e-5, what = ""): void =>
  assert.ok(Math.abs(a - b) <= tol, `${what}: ${a} vs ${b}`);

const row = (obs: Float32Array, i: number, size = OBS_SIZE): Float32Array => obs.subarray(i * size, (i + 1) * size);

describe("observation layout", () => {
  it("is 204 long for k = 12, in four blocks: self, neighbours, distances, vectors", () => {
    assert.equal(OBS_SIZE, 204);
    assert.equal(observationSize(12), 13 * 12 + 12 + 36);
    assert.deepEqual(observationLayout(12), { k: 12, self: 0, neighbours: 12, distances: 156, vectors: 168, size: 204 });
    assert.equal(observationSize(10), 12 + 16 * 10); // 12 (k + 1) + k + 3k
    assert.equal(FEATURES, 12);
  });

  it("1-atom cubic cell: the 12 neighbours are self-images at a (6) and a√2 (6), each with the atom's own features", () => {
    const a = 3;
    const crystal = new Crystal({ cell: Lattice.cubic(a), positions: [0.1, -0.2, 0.15], numbers: ["O"] });
    // Spring to the origin, k = 1: F = −x, so g = −F = x = (0.1, −0.2, 0.15), |g| = √0.0725.
    const game = new RelaxationGame({ calculator: new Harmonic(new Float64Array(3), 1), crystal });
    const { obs, info } = game.resetSync();
    assert.equal(obs.length, 204);
    assert.equal(info.natoms, 1);
    const g = [0.1, -0.2, 0.15];
    const norm = Math.sqrt(0.0725);
    const own = [elementBySymbol("O").covalentRadius, Math.min(norm, 0.4), Math.log(norm), ...g, 0, 0, 0, 0, 0, 0];
    for (let q = 0; q < 12; q++) close(obs[q]!, own[q]!, 1e-6, `own feature ${q}`);
    for (let j = 0; j < 12; j++) for (let q = 0; q < 12; q++) assert.equal(obs[12 + 12 * j + q], obs[q], `neighbour ${j} feature ${q}`);
    const L = observationLayout();
    const axes = new Set<string>();
    for (let j = 0; j < 12; j++) {
      const d = obs[L.distances + j]!;
      const v = [0, 1, 2].map((c) => obs[L.vectors + 3 * j + c]!);
      close(d, Math.hypot(v[0]!, v[1]!, v[2]!), 1e-5, `|vector ${j}|`);
      if (j < 6) {
        close(d, a, 1e-6, `distance ${j}`);
        axes.add(v.map((x) => Math.round(x)).join(","));
      } else {
        close(d, a * Math.SQRT2, 1e-5, `distance ${j}`);
        assert.equal(v.filter((x) => Math.abs(x) < 1e-6).length, 1, `vector ${j} = ${v} has two components ±a`);
        for (const x of v) assert.ok(Math.abs(x) < 1e-6 || Math.abs(Math.abs(x) - a) < 1e-6);
      }
    }
    assert.deepEqual([...axes].sort(), ["-3,0,0", "0,-3,0", "0,0,-3", "0,0,3", "0,3,0", "3,0,0"]);
  });

  it("2-atom cell: neighbours by distance with the right atom's features, vectors neighbour − atom", () => {
    // Cubic a = 4, O at the origin, Mg at (1, 0, 0). From the O: Mg at +1 x̂ (1), Mg's image at −3 x̂ (3),
    // six O self-images (4), then four Mg images at (1, ±4, 0), (1, 0, ±4) (√17).
    const crystal = new Crystal({ cell: Lattice.cubic(4), positions: [0, 0, 0, 1, 0, 0], numbers: ["O", "Mg"] });
    const reference = Float64Array.from([0.02, 0.01, -0.01, 1.05, 0.01, 0.01]);
    const calc = new Harmonic(reference, 2);
    const game = new RelaxationGame({ calculator: calc, crystal });
    let { obs } = game.resetSync();
    // One step, so that d and Δg are non-zero and differ between the atoms (pitfall 4: the
    // neighbour slots must carry the neighbours' current features).
    ({ obs } = game.stepSync([0.5, -0.25, 1, -1, 0.3, 0.2]));
    const L = observationLayout();
    const o = row(obs, 0);
    const mg = row(obs, 1);
    assert.notDeepEqual(Array.from(o.subarray(0, 12)), Array.from(mg.subarray(0, 12)));
    const expected: { atom: 0 | 1; d: number; v?: number[] }[] = [
      { atom: 1, d: 1, v: [1, 0, 0] },
      { atom: 1, d: 3, v: [-3, 0, 0] },
      ...Array.from({ length: 6 }, () => ({ atom: 0 as const, d: 4 })),
      ...Array.from({ length: 4 }, () => ({ atom: 1 as const, d: Math.sqrt(17) })),
    ];
    // The atoms moved a little in the step: compare with the positions now.
    const p = game.crystal.positions;
    const sep = [0, 1, 2].map((c) => p[3 + c]! - p[c]!).map((x) => x - 4 * Math.round(x / 4)); // minimum image
    expected[0]!.d = Math.hypot(sep[0]!, sep[1]!, sep[2]!);
    expected[0]!.v = sep;
    expected[1]!.d = Math.hypot(sep[0]! - 4, sep[1]!, sep[2]!);
    expected[1]!.v = [sep[0]! - 4, sep[1]!, sep[2]!];
    expected.forEach((e, j) => {
      const src = e.atom === 0 ? o : mg;
      for (let q = 0; q < 12; q++) assert.equal(o[L.neighbours + 12 * j + q], src[q], `slot ${j} feature ${q}`);
      if (j < 2) close(o[L.distances + j]!, e.d, 1e-5, `distance ${j}`);
      else if (j < 8) close(o[L.distances + j]!, 4, 1e-5, `distance ${j}`);
      else assert.ok(o[L.distances + j]! > 4, `slot ${j} beyond the self-images`);
      if (e.v) for (let c = 0; c < 3; c++) close(o[L.vectors + 3 * j + c]!, e.v[c]!, 1e-5, `vector ${j}.${c}`);
    });
    for (let j = 1; j < 12; j++) assert.ok(o[L.distances + j]! >= o[L.distances + j - 1]!, "nearest first");
  });

  it("on a random 40-atom structure every slot holds its neighbour's own feature row, distances ascend", () => {
    const game = new RelaxationGame({ calculator: ionic(), source: randomSource({ composition: "SrTiO3", atoms: 40 }) });
    const { obs } = game.resetSync({ seed: 4 });
    const knn = game.state.knn;
    const L = observationLayout();
    for (let i = 0; i < 40; i++) {
      const r = row(obs, i);
      for (let j = 0; j < 12; j++) {
        const nb = row(obs, knn.indices[12 * i + j]!);
        for (let q = 0; q < 12; q++) assert.equal(r[L.neighbours + 12 * j + q], nb[q]);
        if (j > 0) assert.ok(r[L.distances + j]! >= r[L.distances + j - 1]!);
        const v = r.subarray(L.vectors + 3 * j, L.vectors + 3 * j + 3);
        close(r[L.distances + j]!, Math.hypot(v[0]!, v[1]!, v[2]!), 1e-4);
      }
    }
    // No absolute coordinates anywhere: translating the whole structure leaves obs unchanged.
    const c = game.crystal;
    const moved = c.withPositions(c.positions.map((x, k) => x + [0.7, -1.3, 2.1][k % 3]!));
    const again = game.resetSync({ crystal: moved }).obs;
    for (let q = 0; q < obs.length; q++) close(again[q]!, obs[q]!, 2e-3 * Math.max(1, Math.abs(obs[q]!)), `component ${q}`);
  });
});
