/**
 * relaxBatchWithPolicy: a test set relaxed in lockstep gives, with `forces: "each"`, exactly each
 * structure's `relaxWithPolicy` outcome (steps, force calls, converged, energy, fmax, positions), for
 * a hand policy (Barzilai–Borwein teacher) and for the shipped MACS policy; with `forces: "batched"`
 * (float32 forces) the first steps' energies agree to float32 (later steps may drift apart).
 */
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { ionic } from "../../src/calculators/ionic.js";
import { barzilaiBorweinPolicy, relaxBatchWithPolicy, relaxWithPolicy, type Policy, type PolicyOutcome, type PolicyRelaxOptions } from "../../src/envs/index.js";
import { loadMacsPolicy, type MacsPolicy } from "../../src/rl/macs.js";
import type { Crystal } from "../../src/structure/crystal.js";
import { randomCrystal } from "../../src/structure/random.js";

const POLICY = "data/policies/macs-ionic";

/** Three random SrTiO3 cells of different sizes. */
const cells = (): Crystal[] => [
  randomCrystal({ composition: "SrTiO3", atoms: 5 }, 1),
  randomCrystal({ composition: "SrTiO3", atoms: 10 }, 2),
  randomCrystal({ composition: "SrTiO3", atoms: 15 }, 3),
];

/** relaxWithPolicy's records (step 0 first) and outcome. */
async function single(crystal: Crystal, policy: Policy, options: PolicyRelaxOptions): Promise<{ energies: number[]; outcome: PolicyOutcome }> {
  const it = relaxWithPolicy(crystal, ionic(), policy, options);
  const energies: number[] = [];
  let next = await it.next();
  for (; !next.done; next = await it.next()) energies.push(next.value.energy);
  return { energies, outcome: next.value };
}

async function sameAsOneByOne(policy: Policy, steps: number): Promise<void> {
  const crystals = cells();
  const calc = ionic();
  const batch = await relaxBatchWithPolicy(crystals, calc, policy, { steps });
  assert.equal(batch.length, crystals.length);
  let calls = 0;
  for (let s = 0; s < crystals.length; s++) {
    const { outcome } = await single(crystals[s]!, policy, { steps });
    const b = batch[s]!;
    assert.deepEqual(
      { converged: b.converged, steps: b.steps, forceCalls: b.forceCalls, energy: b.energy, fmax: b.fmax },
      { converged: outcome.converged, steps: outcome.steps, forceCalls: outcome.forceCalls, energy: outcome.energy, fmax: outcome.fmax },
      `structure ${s}`,
    );
    assert.deepEqual(Array.from(b.crystal.positions), Array.from(outcome.crystal!.positions), `structure ${s} positions`);
    assert.ok(b.seconds >= 0 && !b.blownUp);
    calls += b.forceCalls;
  }
  // One force call per structure and step: the batch made exactly the calls the outcomes count.
  assert.equal(calc.counts.forceCalls, calls);
}

describe("relaxBatchWithPolicy", () => {
  let shipped: MacsPolicy;
  before(async () => {
    shipped = await loadMacsPolicy(POLICY);
  });

  it('forces "each": a hand policy gives each structure relaxWithPolicy\'s outcome exactly', async () => {
    await sameAsOneByOne(barzilaiBorweinPolicy(), 400);
  });

  it('forces "each": the shipped MACS policy gives each structure relaxWithPolicy\'s outcome exactly', async () => {
    const steps = 400;
    await sameAsOneByOne(shipped, steps);
    // They converge within the budget, and at different steps (so some ran on while others were done).
    const out = await relaxBatchWithPolicy(cells(), ionic(), shipped, { steps });
    assert.ok(out.every((o) => o.converged));
    assert.ok(new Set(out.map((o) => o.steps)).size > 1);
  });

  it("stops unconverged at the step budget (maxSteps alias), and returns nothing for no structures", async () => {
    const still: Policy = (_obs, n) => new Float32Array(3 * n);
    const out = await relaxBatchWithPolicy(cells(), ionic(), still, { maxSteps: 3 });
    assert.deepEqual(out.map((o) => [o.converged, o.steps, o.forceCalls]), [[false, 3, 4], [false, 3, 4], [false, 3, 4]]);
    assert.deepEqual(await relaxBatchWithPolicy([], ionic(), still), []);
  });

  /** Energies after each step (per structure) of a batched run, and its outcomes. */
  async function batched(crystals: Crystal[], policy: Policy, steps: number) {
    const energies: number[][] = crystals.map(() => []);
    const out = await relaxBatchWithPolicy(crystals, ionic(), policy, {
      steps,
      forces: "batched",
      onStep: ({ result }) => result.info.forEach((info, s) => result.active[s] && energies[s]!.push(info.energy)),
    });
    return { energies, out };
  }

  /** Float32 forces against float64: energies within 2e-5 × (|E| + N eV) (test/envs/batch.test.ts). */
  const close = (a: number, b: number, natoms: number): boolean => Math.abs(a - b) <= 2e-5 * (Math.abs(b) + natoms);

  it('forces "batched": the first 5 steps\' energies agree with relaxWithPolicy to float32 (hand policy)', async () => {
    // Measured (wasm): at most 4.4e-4 eV on energies of 11-149 eV; later steps drift apart.
    const crystals = cells();
    const steps = 5;
    const { energies, out } = await batched(crystals, barzilaiBorweinPolicy(), steps);
    for (let s = 0; s < crystals.length; s++) {
      const ref = await single(crystals[s]!, barzilaiBorweinPolicy(), { steps });
      const n = crystals[s]!.natoms;
      assert.equal(out[s]!.steps, ref.outcome.steps);
      assert.equal(out[s]!.converged, ref.outcome.converged);
      assert.equal(out[s]!.forceCalls, ref.outcome.forceCalls);
      assert.equal(energies[s]!.length, ref.energies.length - 1);
      energies[s]!.forEach((e, t) => assert.ok(close(e, ref.energies[t + 1]!, n), `structure ${s} step ${t + 1}: ${e} vs ${ref.energies[t + 1]}`));
      assert.ok(close(out[s]!.energy, ref.outcome.energy, n));
    }
  });

  it('forces "batched": the shipped policy\'s first step agrees with relaxWithPolicy to float32', async () => {
    // Only the first step: from the second on, the 15-atom cell's energies already differ by 0.1 eV
    // (the float32 difference in the observations changes an action by far more than float32).
    const crystals = cells();
    const { energies, out } = await batched(crystals, shipped, 1);
    for (let s = 0; s < crystals.length; s++) {
      const ref = await single(crystals[s]!, shipped, { steps: 1 });
      assert.equal(out[s]!.steps, 1);
      assert.equal(energies[s]!.length, 1);
      assert.ok(close(energies[s]![0]!, ref.energies[1]!, crystals[s]!.natoms), `structure ${s}: ${energies[s]![0]} vs ${ref.energies[1]}`);
      assert.ok(Math.abs(out[s]!.fmax - ref.outcome.fmax) <= 1e-5 * Math.max(1, ref.outcome.fmax));
    }
  });
});
