/**
 * A policy relaxing a structure as an optimiser does: the optimisers' step records, the same budget
 * semantics, and the experiment layer's Method interface.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { ionic } from "../../src/calculators/ionic.js";
import { FEATURE_SLOTS, policyMethod, relaxWithPolicy, type Policy, type PolicyStep } from "../../src/envs/index.js";
import type { Method } from "../../src/experiment/method.js";
import { parseExtxyz } from "../../src/io/extxyz.js";
import { Crystal } from "../../src/structure/crystal.js";
import { Lattice } from "../../src/structure/lattice.js";
import { randomCrystal } from "../../src/structure/random.js";
import { Harmonic } from "./harmonic.js";

/** Half a step along each atom's force: u = −½ ĝ. */
const halfAlongForce: Policy = (obs, n) => {
  const u = new Float32Array(3 * n);
  for (let i = 0; i < n; i++) {
    const o = i * 204 + FEATURE_SLOTS.g;
    const norm = Math.hypot(obs[o]!, obs[o + 1]!, obs[o + 2]!);
    for (let c = 0; c < 3; c++) u[3 * i + c] = norm > 0 ? (-0.5 * obs[o + c]!) / norm : 0;
  }
  return u;
};

function springs(): { crystal: Crystal; calc: Harmonic } {
  const crystal = new Crystal({ cell: Lattice.cubic(8), positions: [1.5, 1, 1, 4, 4.2, 3.9], numbers: ["O", "Ti"] });
  return { crystal, calc: new Harmonic(Float64Array.from([1, 1, 1, 4, 4, 4]), 1) };
}

describe("policy as an optimiser", () => {
  it("yields step 0 then one record per step, one force call each, until fmax < threshold", async () => {
    const { crystal, calc } = springs();
    const records: PolicyStep[] = [];
    const it = relaxWithPolicy(crystal, calc, halfAlongForce);
    let next = await it.next();
    while (!next.done) {
      records.push(next.value);
      next = await it.next();
    }
    const outcome = next.value;
    assert.equal(records[0]!.step, 0);
    assert.equal(records[0]!.forceCalls, 1);
    assert.equal(records[0]!.info, undefined);
    records.forEach((r, k) => {
      assert.equal(r.step, k);
      assert.equal(r.forceCalls, k + 1);
    });
    // |g| shrinks by half per step (c = |g| below 0.4): 0.5 → below 0.05 after 4 steps.
    assert.ok(outcome.converged);
    assert.equal(outcome.steps, records.length - 1);
    assert.equal(outcome.forceCalls, calc.counts.forceCalls);
    assert.ok(outcome.fmax < 0.05 && records.at(-2)!.fmax >= 0.05);
    for (const r of records.slice(1)) assert.ok(typeof r.info?.reward === "number" && r.info.reward > 0);
  });

  it("stops unconverged at the step budget, as the optimisers do", async () => {
    const { crystal, calc } = springs();
    const still: Policy = (_obs, n) => new Float32Array(3 * n);
    const it = relaxWithPolicy(crystal, calc, still, { steps: 7 });
    let n = 0;
    let next = await it.next();
    for (; !next.done; next = await it.next()) n++;
    assert.equal(n, 8);
    assert.deepEqual({ converged: next.value.converged, steps: next.value.steps, forceCalls: next.value.forceCalls }, { converged: false, steps: 7, forceCalls: 8 });
  });

  it("fits the experiment layer's Method interface and writes the trajectory", async () => {
    const method: Method = policyMethod(halfAlongForce, { options: { policy: "test" } });
    assert.equal(method.name, "macs");
    assert.equal(method.kind, "policy");
    const dir = mkdtempSync(join(tmpdir(), "macs-policy-"));
    try {
      const trajectory = join(dir, "t.extxyz");
      const crystal = randomCrystal({ composition: "SrTiO3", atoms: 10 }, 2);
      const run = method.evaluate(crystal, ionic(), { fmax: 0.05, steps: 5, seed: 0, index: 0, trajectory });
      let frames = 0;
      let next = await run.next();
      for (; !next.done; next = await run.next()) frames++;
      assert.equal(next.value.steps, 5);
      const parsed = parseExtxyz(readFileSync(trajectory, "utf8"));
      assert.equal(parsed.length, frames);
      assert.equal(parsed[0]!.crystal.natoms, 10);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("rejects a policy that returns the wrong number of actions", async () => {
    const { crystal, calc } = springs();
    const it = relaxWithPolicy(crystal, calc, () => new Float32Array(3));
    await it.next();
    await assert.rejects(it.next(), /returned 3 action components for 2 atoms/);
  });
});
