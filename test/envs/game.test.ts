/**
 * The relaxation game's rules (macs-spec §2.3–§5): gradient clip, action scale, displacement,
 * reward, termination vs truncation, one force call per step, determinism.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ionic } from "../../src/calculators/ionic.js";
import { actionScale, FEATURE_SLOTS, randomSource, RelaxationGame, clippedGradient } from "../../src/envs/index.js";
import { Crystal } from "../../src/structure/crystal.js";
import { Lattice } from "../../src/structure/lattice.js";
import { Rng } from "../../src/structure/random-source.js";
import { Harmonic } from "./harmonic.js";

const close = (a: number, b: number, tol = 1e-6, what = ""): void => assert.ok(Math.abs(a - b) <= tol, `${what}: ${a} vs ${b}`);

/** `n` O atoms in a 10 Å cubic cell, each `offset(i)` away from its spring's rest point. */
function springs(n: number, offset: (i: number) => [number, number, number], k = 1): { crystal: Crystal; calc: Harmonic } {
  const reference = new Float64Array(3 * n);
  const positions = new Float64Array(3 * n);
  for (let i = 0; i < n; i++) {
    const o = offset(i);
    for (let c = 0; c < 3; c++) {
      reference[3 * i + c] = 2 + 2 * ((i + c) % 4);
      positions[3 * i + c] = reference[3 * i + c]! + o[c]!;
    }
  }
  return { crystal: new Crystal({ cell: Lattice.cubic(10), positions, numbers: new Array(n).fill("O") }), calc: new Harmonic(reference, k) };
}

/** Actions along each atom's force: u = −g / |g|₂ (read from the observation's own g). */
function alongForce(obs: Float32Array, n: number, size = 204): Float32Array {
  const u = new Float32Array(3 * n);
  for (let i = 0; i < n; i++) {
    const g = obs.subarray(i * size + FEATURE_SLOTS.g, i * size + FEATURE_SLOTS.g + 3);
    const norm = Math.hypot(g[0]!, g[1]!, g[2]!);
    for (let c = 0; c < 3; c++) u[3 * i + c] = norm > 0 ? -g[c]! / norm : 0;
  }
  return u;
}

/** Each atom's own features and its neighbour slots (features, distance, vector) as sorted rounded strings. */
function slots(obs: Float32Array, size = 204): string[][] {
  const out: string[][] = [];
  const fmt = (a: ArrayLike<number>): string => Array.from(a, (x) => (Math.abs(x) < 5e-5 ? 0 : x).toFixed(4)).join(" ");
  for (let i = 0; i < obs.length / size; i++) {
    const r = obs.subarray(i * size, (i + 1) * size);
    const s = [fmt(r.subarray(0, 12))];
    for (let j = 0; j < 12; j++) s.push(`${fmt(r.subarray(12 + 12 * j, 24 + 12 * j))} | ${fmt([r[156 + j]!])} | ${fmt(r.subarray(168 + 3 * j, 171 + 3 * j))}`);
    out.push([s[0]!, ...s.slice(1).sort()]);
  }
  return out;
}

describe("gradient scaling (eq. 14)", () => {
  it("keeps g = −F when the largest component is below g_max, else scales the vector to ∞-norm g_max", () => {
    const forces = Float64Array.from([1, -2, 4.9, 100, -50, 0, -3, 400, 40]);
    const g = new Float64Array(9);
    const norms = new Float64Array(3);
    clippedGradient(forces, 5, g, norms);
    assert.deepEqual(Array.from(g.subarray(0, 3)), [-1, 2, -4.9]);
    assert.deepEqual(Array.from(g.subarray(3, 6)), [-5, 2.5, -0]);
    close(g[6]!, 3 / 80);
    close(g[7]!, -5);
    close(g[8]!, -0.5);
    close(norms[1]!, Math.sqrt(31.25));
    for (let i = 0; i < 3; i++) assert.ok(Math.max(...Array.from(g.subarray(3 * i, 3 * i + 3), Math.abs)) <= 5);
  });

  it("clips a huge force in the observation, and c = min(|g|, 0.4)", () => {
    // Stiff springs: atom 0 feels F = −1000·(0.1, 0.05, 0) (clipped), atom 1 F = −1000·(1e-4, 0, 0) (not).
    const { crystal, calc } = springs(2, (i) => (i === 0 ? [0.1, 0.05, 0] : [1e-4, 0, 0]), 1000);
    const game = new RelaxationGame({ calculator: calc, crystal });
    const { obs, info } = game.resetSync();
    close(info.fmax, 1000 * Math.hypot(0.1, 0.05), 1e-6, "fmax is on the real forces");
    const f0 = obs.subarray(0, 12);
    close(f0[3]!, 5, 1e-5, "gx");
    close(f0[4]!, 2.5, 1e-5, "gy");
    close(f0[5]!, 0, 1e-6, "gz");
    close(f0[FEATURE_SLOTS.c]!, 0.4, 1e-7, "c at the cap");
    close(f0[FEATURE_SLOTS.logGradNorm]!, Math.log(Math.sqrt(31.25)), 1e-5, "log|g| of the clipped g");
    const f1 = obs.subarray(204, 216);
    close(f1[3]!, 0.1, 1e-6, "small g unclipped");
    close(f1[FEATURE_SLOTS.c]!, 0.1, 1e-6, "c = |g| below the cap");
    assert.equal(actionScale(0.25, 0.4), 0.25);
    assert.equal(actionScale(3, 0.4), 0.4);
  });
});

describe("step", () => {
  it("moves each atom by c·u, bounded per component by c, and records d as the next d^{t-1}", () => {
    const { crystal, calc } = springs(2, (i) => (i === 0 ? [3, 0, 0] : [0.1, -0.2, 0.05]));
    const game = new RelaxationGame({ calculator: calc, crystal });
    game.resetSync();
    const c0 = 0.4; // |g| = 3 > 0.4
    const c1 = Math.hypot(0.1, -0.2, 0.05);
    const u = [1, -0.5, 2, -1, 0.25, -7]; // out-of-box components are clamped to ±1
    const before = crystal.positions;
    const { obs } = game.stepSync(u);
    const after = game.crystal.positions;
    const d = [c0, -0.5 * c0, c0, -c1, 0.25 * c1, -c1];
    for (let k = 0; k < 6; k++) {
      close(after[k]! - before[k]!, d[k]!, 1e-12, `displacement ${k}`);
      close(obs[Math.floor(k / 3) * 204 + FEATURE_SLOTS.d + (k % 3)]!, d[k]!, 1e-7, `d feature ${k}`);
    }
    // Δg = g^{t+1} − g^t: here the springs are linear, so Δg = k·d.
    for (let k = 0; k < 6; k++) close(obs[Math.floor(k / 3) * 204 + FEATURE_SLOTS.dg + (k % 3)]!, d[k]!, 1e-6, `Δg ${k}`);
  });

  it("rewards moving along the force (log|g_t| − log|g_t+1| > 0) and punishes moving against it", () => {
    const rng = new Rng(3);
    const { crystal, calc } = springs(6, () => [rng.uniform(-1, 1), rng.uniform(-1, 1), rng.uniform(-1, 1)]);
    const game = new RelaxationGame({ calculator: calc, crystal });
    const { obs } = game.resetSync();
    const good = game.stepSync(alongForce(obs, 6));
    for (const r of good.reward) assert.ok(r > 0, `reward ${r}`);
    const bad = game.stepSync(alongForce(good.obs, 6).map((x) => -x));
    for (const r of bad.reward) assert.ok(r < 0, `reward ${r}`);
    close(bad.info.episodeReturn, good.reward.reduce((a, b) => a + b, 0) / 6 + bad.reward.reduce((a, b) => a + b, 0) / 6, 1e-5);
  });

  it("terminates on success (fmax < 0.05) and truncates at the step cap, never both", () => {
    // |g| < 0.4, so u = −ĝ moves each spring exactly to rest: converged after one step.
    const { crystal, calc } = springs(3, (i) => [0.1 * (i + 1), -0.05, 0.02]);
    const game = new RelaxationGame({ calculator: calc, crystal });
    const { obs, info } = game.resetSync();
    assert.equal(info.converged, false);
    const r = game.stepSync(alongForce(obs, 3));
    assert.equal(r.terminated, true);
    assert.equal(r.truncated, false);
    assert.ok(r.info.fmax < 0.05);
    assert.throws(() => game.stepSync(new Float32Array(9)), /episode is over/);

    const capped = new RelaxationGame({ calculator: calc, crystal, maxSteps: 3 });
    capped.resetSync();
    const flags: [boolean, boolean][] = [];
    for (let t = 0; t < 3; t++) {
      const s = capped.stepSync(new Float32Array(9)); // standing still never converges
      flags.push([s.terminated, s.truncated]);
    }
    assert.deepEqual(flags, [
      [false, false],
      [false, false],
      [false, true],
    ]);
    assert.throws(() => capped.stepSync(new Float32Array(9)), /truncated at step 3/);
  });

  it("blowUpFmax (training only) ends a blown-up episode as a terminal failure, not a truncation", () => {
    // |g| = 3 > 0.4: c = 0.4, and moving against the force stretches the spring to fmax 3.4.
    const { crystal, calc } = springs(1, () => [3, 0, 0]);
    const paper = new RelaxationGame({ calculator: calc, crystal });
    paper.resetSync();
    const a = paper.stepSync([1, 0, 0]);
    assert.deepEqual([a.terminated, a.truncated, a.info.blownUp], [false, false, false]);
    const game = new RelaxationGame({ calculator: calc, crystal, blowUpFmax: 3.2, maxSteps: 1 });
    game.resetSync();
    const b = game.stepSync([1, 0, 0]);
    close(b.info.fmax, 3.4, 1e-9, "fmax");
    assert.deepEqual([b.terminated, b.truncated, b.info.blownUp, b.info.converged], [true, false, true, false]);
    assert.throws(() => game.stepSync([0, 0, 0]), /episode is over/);
    assert.throws(() => new RelaxationGame({ calculator: calc, crystal, blowUpFmax: 0.01 }), /blowUpFmax must be above fmax/);
  });

  it("rewardGMax (training only) rewards with a looser clip while g, c and the observation keep g_max", () => {
    // A stiff spring (k = 4) 3 Å and then 2.6 Å from rest: forces 12 and 10.4 eV/Å, both beyond
    // g_max = 5, so the paper's reward is 0.
    const { crystal, calc } = springs(1, () => [3, 0, 0], 4);
    const paper = new RelaxationGame({ calculator: calc, crystal });
    const loose = new RelaxationGame({ calculator: calc, crystal, rewardGMax: 1e3 });
    const o1 = paper.resetSync().obs;
    const o2 = loose.resetSync().obs;
    assert.deepEqual(o1, o2);
    const a = paper.stepSync([-1, 0, 0]);
    const b = loose.stepSync([-1, 0, 0]);
    close(a.reward[0]!, 0, 1e-12, "paper's reward");
    close(b.reward[0]!, Math.log(12 / 10.4), 1e-6, "loose reward");
    assert.deepEqual(a.obs, b.obs);
    assert.throws(() => new RelaxationGame({ calculator: calc, crystal, rewardGMax: 1 }), /rewardGMax must be at least gMax/);
  });

  it("makes exactly one calculator call per step (and one per reset)", () => {
    const { crystal, calc } = springs(4, (i) => [0.3, -0.2 * i, 0.1]);
    const game = new RelaxationGame({ calculator: calc, crystal });
    let { obs } = game.resetSync();
    assert.equal(calc.counts.forceCalls, 1);
    for (let t = 1; t <= 5; t++) {
      const r = game.stepSync(alongForce(obs, 4).map((x) => 0.3 * x));
      obs = r.obs;
      assert.equal(calc.counts.forceCalls, t + 1);
      assert.equal(r.info.forceCalls, t + 1);
      assert.equal(r.info.step, t);
    }
  });

  it("rejects actions of the wrong length or not finite, naming the atom", () => {
    const { crystal, calc } = springs(2, () => [0.3, 0, 0]);
    const game = new RelaxationGame({ calculator: calc, crystal });
    game.resetSync();
    assert.throws(() => game.stepSync([0, 0, 0]), /expected 6 action components/);
    assert.throws(() => game.stepSync([0, 0, 0, 0, NaN, 0]), /atom 1/);
  });

  it("wraps atoms that leave the cell back into it; observations do not change", () => {
    const crystal = new Crystal({ cell: Lattice.cubic(5), positions: [0.05, 2, 2, 2.5, 2.5, 4.98], numbers: ["O", "O"] });
    const calc = new Harmonic(Float64Array.from([-0.5, 2, 2, 2.5, 2.5, 5.5]), 1);
    const game = new RelaxationGame({ calculator: calc, crystal });
    const unwrapped = new RelaxationGame({ calculator: calc, crystal, wrap: false });
    const a = game.resetSync().obs;
    const b = unwrapped.resetSync().obs;
    assert.deepEqual(a, b);
    const u = [-1, 0, 0, 0, 0, 1];
    const sa = game.stepSync(u);
    const sb = unwrapped.stepSync(u);
    const f = game.crystal.fractional();
    for (const x of f) assert.ok(x >= 0 && x < 1, `fractional ${x}`);
    assert.ok(unwrapped.crystal.positions[0]! < 0 && unwrapped.crystal.positions[5]! > 5);
    // Equal up to the order of equidistant neighbours (the self-images here), which ties may swap.
    assert.deepEqual(slots(sa.obs), slots(sb.obs));
    assert.deepEqual(sa.reward, sb.reward);
  });
});

describe("determinism", () => {
  it("the same seed gives the same structures, observations and rewards; another seed another structure", async () => {
    const run = async (seed: number): Promise<Float32Array[]> => {
      const game = new RelaxationGame({ calculator: ionic(), source: randomSource({ composition: "SrTiO3", atoms: 10 }) });
      const out: Float32Array[] = [];
      const { obs, info } = await game.reset({ seed });
      out.push(obs);
      const rng = new Rng(seed + 100);
      for (let t = 0; t < 3; t++) {
        const r = await game.step(Float32Array.from({ length: 3 * info.natoms }, () => rng.uniform(-1, 1)));
        out.push(r.obs, r.reward);
      }
      return out;
    };
    assert.deepEqual(await run(5), await run(5));
    assert.notDeepEqual((await run(5))[0], (await run(6))[0]);
  });

  it("resets without a seed continue the seeded stream (Gymnasium's contract)", () => {
    const make = (): RelaxationGame => new RelaxationGame({ calculator: ionic(), source: randomSource({ composition: "SrTiO3", atoms: 5 }) });
    const a = make();
    const b = make();
    a.resetSync({ seed: 9 });
    const a2 = a.resetSync().obs;
    b.resetSync({ seed: 9 });
    assert.deepEqual(b.resetSync().obs, a2);
    assert.notDeepEqual(a.resetSync({ seed: 9 }).obs, a2);
  });
});
