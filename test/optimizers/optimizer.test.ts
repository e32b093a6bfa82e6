/**
 * The loop every optimiser shares: records, step counting, observers, the trajectory, errors, the registry.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import type { Calculator, Computed, ComputeRequest } from "../../src/calculators/calculator.js";
import { LennardJones } from "../../src/calculators/lj.js";
import { parseExtxyz } from "../../src/io/extxyz.js";
import {
  BFGS,
  BFGSLineSearch,
  CG,
  FIRE,
  FireThenBFGSLineSearch,
  FrechetCellFilter,
  LBFGS,
  MDMin,
  OptimizableAtoms,
  OptimizerError,
  fire,
  optimizerFromName,
  optimizerNames,
  type StepRecord,
} from "../../src/optimizers/index.js";
import { Crystal } from "../../src/structure/crystal.js";
import { Lattice } from "../../src/structure/lattice.js";

const AR = { epsilon: 0.0104, sigma: 3.4 };

/** 32 argon atoms, fcc, rattled by a fixed pattern. */
function argon(): Crystal {
  const a = 5.26;
  const base = [
    [0, 0, 0],
    [0.5, 0.5, 0],
    [0.5, 0, 0.5],
    [0, 0.5, 0.5],
  ];
  const frac: number[] = [];
  for (let i = 0; i < 2; i++)
    for (let j = 0; j < 2; j++)
      for (let k = 0; k < 2; k++) for (const b of base) frac.push((b[0]! + i) / 2, (b[1]! + j) / 2, (b[2]! + k) / 2);
  const c = Crystal.fromFractional(Lattice.cubic(2 * a), frac, new Array(32).fill("Ar"));
  return c.withPositions(c.positions.map((x, k) => x + 0.15 * Math.sin(1.7 * k + 0.3)));
}

/** LJ that puts a NaN into the force on `atom` from its `at`-th call on. */
class FailingLJ extends LennardJones {
  private n = 0;
  constructor(
    readonly at: number,
    readonly atom: number,
  ) {
    super(AR);
  }
  protected override evaluate(crystal: Crystal, request: Required<ComputeRequest>): Computed {
    const r = super.evaluate(crystal, request);
    if (++this.n >= this.at) r.forces![3 * this.atom + 1] = NaN;
    return r;
  }
}

/** A calculator outside the embedded base (as an external engine's wrapper would be), returning a NaN force unchecked. */
function externalWithNaN(at: number, atom: number): Calculator {
  const inner = new LennardJones(AR);
  let n = 0;
  return {
    name: "fake-engine",
    counts: { calls: 0, forceCalls: 0 },
    resetCounts() {},
    async compute(crystal: Crystal, request?: ComputeRequest): Promise<Computed> {
      const r = await inner.compute(crystal, request);
      if (++n >= at) r.forces![3 * atom + 2] = NaN;
      return r;
    },
  };
}

const dir = mkdtempSync(join(tmpdir(), "crystal-rl-optimizers-"));
after(() => rmSync(dir, { recursive: true, force: true }));

describe("Optimizer loop (ASE's irun)", () => {
  it("yields step 0 at the start, then one record per step, with force calls counted", async () => {
    const records: StepRecord[] = [];
    for await (const r of new FIRE(argon(), new LennardJones(AR)).irun({ fmax: 0.01, steps: 5 })) records.push(r);
    assert.deepEqual(
      records.map((r) => r.step),
      [0, 1, 2, 3, 4, 5],
    );
    assert.deepEqual(
      records.map((r) => r.forceCalls),
      [1, 2, 3, 4, 5, 6],
    );
    assert.ok(records.every((r) => Number.isFinite(r.energy) && r.fmax > 0));
    assert.ok(records.at(-1)!.energy < records[0]!.energy);
  });

  it("checks convergence before each step: an already relaxed start takes no step", async () => {
    const result = await new BFGS(argon(), new LennardJones(AR)).run({ fmax: 100 });
    assert.equal(result.converged, true);
    assert.equal(result.steps, 0);
    assert.equal(result.forceCalls, 1);
  });

  it("stops at the step limit, not converged; a second run continues ASE 3.22's count", async () => {
    const opt = new MDMin(argon(), new LennardJones(AR));
    const first = await opt.run({ fmax: 1e-9, steps: 3 });
    assert.equal(first.converged, false);
    assert.equal(first.steps, 3);
    assert.equal(first.forceCalls, 4);
    const second = await opt.run({ fmax: 1e-9, steps: 5 });
    assert.equal(second.steps, 5);
    assert.equal(second.forceCalls, 6);
  });

  it("reports fmax as the largest per-atom force norm, and the relaxed crystal", async () => {
    const calc = new LennardJones(AR);
    const result = await new LBFGS(argon(), calc).run({ fmax: 0.01 });
    assert.ok(result.converged && result.fmax < 0.01);
    const f = (await calc.compute(result.crystal)).forces!;
    let largest = 0;
    for (let a = 0; a < f.length; a += 3) largest = Math.max(largest, Math.hypot(f[a]!, f[a + 1]!, f[a + 2]!));
    assert.ok(Math.abs(largest - result.fmax) < 1e-12);
    assert.ok(Math.abs((await calc.compute(result.crystal)).energy - result.energy) < 1e-12);
    assert.ok(result.seconds >= 0);
  });

  it("calls observers every `interval` steps, or once after step -interval", async () => {
    const every2: number[] = [];
    const at3: number[] = [];
    const opt = new FIRE(argon(), new LennardJones(AR))
      .attach((r) => void every2.push(r.step), 2)
      .attach(async (r, o) => {
        assert.equal(o.nsteps, r.step);
        at3.push(r.step);
      }, -3);
    await opt.run({ fmax: 1e-9, steps: 6 });
    assert.deepEqual(every2, [0, 2, 4, 6]);
    assert.deepEqual(at3, [3]);
  });

  it("logs ASE-style lines when asked", async () => {
    const lines: string[] = [];
    await new FIRE(argon(), new LennardJones(AR), { log: (l) => lines.push(l) }).run({ fmax: 1e-9, steps: 2 });
    assert.equal(lines.length, 4); // header and steps 0, 1, 2
    assert.match(lines[1]!, /^FIRE:\s+0\[\s+1\] \d\d:\d\d:\d\d\s+-?\d+\.\d{6}\s+\d+\.\d{4}$/);
  });

  it("evaluates each configuration once: the same positions again hit the cache", async () => {
    const calc = new LennardJones(AR);
    const target = new OptimizableAtoms(argon(), calc);
    const a = await target.evaluate();
    target.setPositions(target.getPositions());
    assert.equal(await target.evaluate(), a);
    const x = target.getPositions();
    x[0]! += 1e-9;
    target.setPositions(x);
    await target.evaluate();
    assert.equal(target.forceCalls, 2);
    assert.equal(calc.counts.forceCalls, 2);
  });

  it("refuses a non-finite position, naming the atom", () => {
    const target = new OptimizableAtoms(argon(), new LennardJones(AR));
    const x = target.getPositions();
    x[3 * 7 + 1] = Infinity;
    assert.throws(() => target.setPositions(x), /atom 7 would move to a non-finite position/);
  });

  it("needs a calculator with a crystal", () => {
    assert.throws(() => new FIRE(argon(), undefined as unknown as Calculator), TypeError);
  });
});

describe("a non-finite force stops the run", () => {
  for (const [what, calc] of [
    ["an embedded calculator", () => new FailingLJ(4, 3)],
    ["any other calculator (checked by the optimiser)", () => externalWithNaN(4, 3)],
  ] as const) {
    it(`from ${what}: an error naming the atom, and the trajectory stays readable`, async () => {
      const path = join(dir, `nan-${what.length}.extxyz`);
      const opt = new FIRE(argon(), calc(), { trajectory: path });
      await assert.rejects(opt.run({ fmax: 1e-9, steps: 50 }), (e: unknown) => {
        assert.ok(e instanceof OptimizerError, String(e));
        assert.equal(e.atom, 3);
        assert.equal(e.step, 3);
        assert.match(e.message, /FIRE stopped at step 3: .*force on atom 3 \(Ar\) is not finite/);
        return true;
      });
      // Steps 0, 1, 2 were written; the failed evaluation (step 3) never reached the file.
      const frames = parseExtxyz(readFileSync(path, "utf8"), { file: path });
      assert.equal(frames.length, 3);
      frames.forEach((f, i) => {
        assert.equal(f.info.step, i);
        assert.ok(Number.isFinite(f.energy!));
        assert.equal(f.forces!.length, 96);
        assert.ok(f.forces!.every(Number.isFinite));
      });
    });
  }
});

describe("trajectory", () => {
  it("writes one frame per step with energy and forces, and appends when asked", async () => {
    const path = join(dir, "relax.extxyz");
    const calc = new LennardJones(AR);
    const first = await new BFGS(argon(), calc, { trajectory: path }).run({ fmax: 0.01 });
    let frames = parseExtxyz(readFileSync(path, "utf8"));
    assert.equal(frames.length, first.steps + 1);
    assert.ok(Math.abs(frames.at(-1)!.energy! - first.energy) < 1e-12);
    assert.ok(frames.at(-1)!.crystal.equals(first.crystal, 1e-12));
    await new FIRE(argon(), calc, { trajectory: path, appendTrajectory: true }).run({ fmax: 1e-9, steps: 2 });
    frames = parseExtxyz(readFileSync(path, "utf8"));
    assert.equal(frames.length, first.steps + 1 + 3);
    await new FIRE(argon(), calc, { trajectory: path }).run({ fmax: 1e-9, steps: 1 });
    assert.equal(parseExtxyz(readFileSync(path, "utf8")).length, 2);
  });

  it("stores the cell and the stress under a cell filter", async () => {
    const path = join(dir, "cell.extxyz");
    const strained = argon().withCell(Lattice.cubic(10.9), { scaleAtoms: true });
    const result = await new FIRE(new FrechetCellFilter(strained, new LennardJones(AR)), { trajectory: path }).run({ fmax: 0.002 });
    const frames = parseExtxyz(readFileSync(path, "utf8"));
    assert.equal(frames.length, result.steps + 1);
    assert.ok(frames.at(-1)!.crystal.lattice.equals(result.crystal.lattice, 1e-12));
    assert.ok(frames.every((f) => f.stress?.length === 6));
    assert.ok(result.crystal.volume < strained.volume); // stretched cell shrinks back
  });
});

describe("registry", () => {
  it("names every optimiser the CLI takes", () => {
    assert.deepEqual(
      optimizerNames().map((n) => n.name),
      ["fire", "bfgs", "lbfgs", "bfgsls", "cg", "mdmin", "fire+bfgsls"],
    );
  });

  it("builds each class with its options, around a cell filter when asked", () => {
    const classes = { fire: FIRE, bfgs: BFGS, lbfgs: LBFGS, bfgsls: BFGSLineSearch, cg: CG, mdmin: MDMin, "fire+bfgsls": FireThenBFGSLineSearch };
    for (const [name, cls] of Object.entries(classes)) {
      const opt = optimizerFromName(name).create(argon(), new LennardJones(AR));
      assert.ok(opt instanceof cls, name);
      assert.ok(opt.target instanceof OptimizableAtoms);
    }
    const withCell = fire({ dt: 0.05, cell: true }).create(argon(), new LennardJones(AR));
    assert.ok(withCell.target instanceof FrechetCellFilter);
    assert.equal((withCell as FIRE).dt, 0.05);
    assert.equal(withCell.target.rows, 35);
  });

  it("rejects an unknown name, listing the known ones", () => {
    assert.throws(() => optimizerFromName("newton"), /unknown optimizer "newton": use one of fire, bfgs, lbfgs, bfgsls, cg, mdmin, fire\+bfgsls/);
  });
});
