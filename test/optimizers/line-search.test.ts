/**
 * The line searches alone, against their sources on the 6-D extended Rosenbrock function
 * (data/reference/optimizers.json, `lineSearches`, from scripts/make_optimizer_reference.py): SciPy
 * 1.10's line_search_wolfe1 (MINPACK's dcsrch) and line_search_wolfe2 (bracketing and zoom), and
 * ASE 3.22's LineSearch; same step, same value, same number of function and gradient calls.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { LineSearch, lineSearchWolfe1, lineSearchWolfe2, type WolfeResult } from "../../src/optimizers/line-search.js";

interface WolfeRef {
  alpha: number | null;
  fval: number | null;
  calls: [number, number];
}

interface AseRef {
  maxstep: number;
  stp: number | null;
  fval: number;
  noUpdate: boolean;
  task: string;
  calls: [number, number];
}

/** One start and direction; wolfe* with fmin_cg's first old_old_fval, wolfe*-unit with none (first trial 1). */
type Entry = { x0: number[]; pk: number[] } & Record<`${"wolfe1" | "wolfe2" | "wolfe2-default"}${"" | "-unit"}`, WolfeRef> &
  Record<"ase" | "ase-long", AseRef>;

const entries: Entry[] = JSON.parse(readFileSync(new URL("../../data/reference/optimizers.json", import.meta.url), "utf8")).lineSearches;

function rosenbrock(x: Float64Array): { f: number; g: Float64Array } {
  let f = 0;
  const g = new Float64Array(x.length);
  for (let i = 0; i < x.length; i += 2) {
    const a = x[i]!;
    const b = x[i + 1]!;
    f += (1 - a) ** 2 + 100 * (b - a * a) ** 2;
    g[i] = -2 * (1 - a) - 400 * a * (b - a * a);
    g[i + 1] = 200 * (b - a * a);
  }
  return { f, g };
}

/** The objective and gradient, counting their calls. */
function counted(): { f: (x: Float64Array) => Promise<number>; g: (x: Float64Array) => Promise<Float64Array>; calls: [number, number] } {
  const calls: [number, number] = [0, 0];
  return {
    calls,
    f: async (x) => (calls[0]++, rosenbrock(x).f),
    g: async (x) => (calls[1]++, rosenbrock(x).g),
  };
}

const close = (a: number | null, b: number | null, tol: number): boolean => (a === null || b === null ? a === b : Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)));

describe("line searches: parity with SciPy 1.10 and ASE 3.22 on the extended Rosenbrock function", () => {
  entries.forEach((e, n) => {
    const x0 = Float64Array.from(e.x0);
    const pk = Float64Array.from(e.pk);
    const { f: f0, g: g0 } = rosenbrock(x0);
    const check = (ours: WolfeResult, calls: [number, number], ref: WolfeRef): void => {
      assert.ok(close(ours.alpha, ref.alpha, 1e-10), `alpha ${ours.alpha} vs ${ref.alpha}`);
      assert.ok(close(ours.fval, ref.fval, 1e-10), `fval ${ours.fval} vs ${ref.fval}`);
      assert.deepEqual(calls, ref.calls, "function and gradient calls");
    };
    for (const [suffix, oldOld] of [
      ["", f0 + Math.hypot(...g0) / 2],
      ["-unit", null],
    ] as const) {
      it(`#${n}${suffix}: wolfe1 (dcsrch), c2 0.4`, async () => {
        const c = counted();
        check(await lineSearchWolfe1(c.f, c.g, x0, pk, g0, f0, oldOld, { c2: 0.4, amin: 1e-100, amax: 1e100 }), c.calls, e[`wolfe1${suffix}`]);
      });
      it(`#${n}${suffix}: wolfe2 (bracketing and zoom), c2 0.4 and the defaults`, async () => {
        let c = counted();
        check(await lineSearchWolfe2(c.f, c.g, x0, pk, g0, f0, oldOld, { c2: 0.4, amax: 1e100 }), c.calls, e[`wolfe2${suffix}`]);
        c = counted();
        check(await lineSearchWolfe2(c.f, c.g, x0, pk, g0, f0, oldOld), c.calls, e[`wolfe2-default${suffix}`]);
      });
    }
    for (const key of ["ase", "ase-long"] as const) {
      const ref = e[key];
      it(`#${n}: ASE's LineSearch, maxstep ${ref.maxstep}`, async () => {
        const c = counted();
        const ls = new LineSearch();
        const r = await ls.search(c.f, c.g, x0, pk, g0, f0, { maxstep: ref.maxstep, c1: 0.23, c2: 0.46, stpmax: 50 });
        assert.ok(close(r.stp, ref.stp, 1e-10), `stp ${r.stp} vs ${ref.stp}`);
        assert.ok(close(r.fval, ref.fval, 1e-10), `fval ${r.fval} vs ${ref.fval}`);
        assert.equal(r.noUpdate, ref.noUpdate);
        assert.equal(ls.task, ref.task.replace(/ +$/, ""));
        assert.deepEqual(c.calls, ref.calls);
      });
    }
  });
});
