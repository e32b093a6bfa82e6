import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { test } from "node:test";
import { CalculatorError } from "../../src/calculators/calculator.js";
import { AseCalculator, aseBridgeScript, aseCalculator } from "../../src/calculators/external/ase-bridge.js";
import { Crystal } from "../../src/structure/crystal.js";

// Debian: apt-get install -y --no-install-recommends python3-ase
const PYTHON = "/usr/bin/python3";
const haveAse = (() => {
  try {
    execFileSync(PYTHON, ["-c", "import ase"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
})();
// npm test installs the oracles first (scripts/ensure-oracles.sh); say so plainly if they are missing.
test("prerequisite: /usr/bin/python3 has ASE (bash scripts/install-system.sh --ci)", () => {
  assert.ok(haveAse, `${PYTHON} with ASE is missing: apt-get install python3-ase`);
});
const FIXTURES = fileURLToPath(new URL("../fixtures/ase-bridge/", import.meta.url));

interface Reference {
  cell: number[][];
  positions: number[][];
  numbers: number[];
  energy: number;
  forces: number[][];
  stress: number[];
}
// Made by test/fixtures/ase-bridge/make_emt_reference.py (ASE 3.22.1 EMT, full precision).
const ref = JSON.parse(readFileSync(`${FIXTURES}emt-cu-triclinic.json`, "utf8")) as Reference;
const cu = new Crystal({ cell: ref.cell, positions: ref.positions.flat(), numbers: ref.numbers });
const withSymbol = (c: Crystal, i: number, symbol: string): Crystal => {
  const symbols = c.symbols;
  symbols[i] = symbol;
  return new Crystal({ cell: c.lattice, positions: c.positions, numbers: symbols });
};

/** True while `pid` is a live, non-zombie process. */
function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
}

const sleepy = (options: { timeoutMs?: number; delay?: number } = {}): AseCalculator =>
  aseCalculator("ase:crystal_rl_test_calcs.Sleepy", {
    pythonPath: [FIXTURES],
    kwargs: { delay: options.delay ?? 30 },
    timeoutMs: options.timeoutMs ?? 60_000,
  });

test("the bridge script is found next to the module", () => {
  assert.ok(existsSync(aseBridgeScript()), aseBridgeScript());
});

test("ase:EMT on a rattled triclinic Cu cell equals a direct ASE run", async () => {
  const emt = aseCalculator("ase:EMT");
  try {
    assert.equal(emt.name, "ase:EMT");
    const info = await emt.start();
    assert.equal(info.calculator, "ase.calculators.emt.EMT");
    const r = await emt.compute(cu, { forces: true, stress: true });
    assert.ok(Math.abs(r.energy - ref.energy) < 1e-12, `${r.energy} vs ${ref.energy}`);
    ref.forces.flat().forEach((f, k) => assert.ok(Math.abs(r.forces![k]! - f) < 1e-12));
    ref.stress.forEach((s, k) => assert.ok(Math.abs(r.stress![k]! - s) < 1e-12));
    // Energy only: no forces or stress asked, none returned.
    const e = await emt.compute(cu.withPositions(cu.positions.map((x) => x + 0.01)), { forces: false });
    assert.equal(e.forces, undefined);
    assert.equal(e.stress, undefined);
    assert.ok(Math.abs(e.energy - ref.energy) < 1e-9); // a rigid shift
    assert.deepEqual(emt.counts, { calls: 2, forceCalls: 1 });
    // Concurrent calls are queued through the one child.
    const many = await Promise.all([0, 1, 2, 3].map(() => emt.compute(cu)));
    many.forEach((m) => assert.equal(m.energy, r.energy));
  } finally {
    await emt.close();
  }
});

test("a child killed between calls or during one: a clear error for the call in flight, the next call works", async () => {
  const emt = aseCalculator("EMT");
  const slow = sleepy({ delay: 30 });
  try {
    // Between calls: the next call starts a new child.
    await emt.compute(cu);
    const pid1 = emt.pid!;
    process.kill(pid1, "SIGKILL");
    while (emt.pid !== undefined) await new Promise((r) => setTimeout(r, 10));
    const again = await emt.compute(cu);
    assert.ok(Math.abs(again.energy - ref.energy) < 1e-12);
    assert.notEqual(emt.pid, pid1);

    // During a call.
    await slow.start();
    const pid2 = slow.pid!;
    const hung = slow.compute(withSymbol(cu, 0, "Xe"));
    setTimeout(() => process.kill(pid2, "SIGKILL"), 300);
    await assert.rejects(hung, (e: unknown) => {
      assert.ok(e instanceof CalculatorError);
      assert.match(e.message, /^ase:crystal_rl_test_calcs\.Sleepy: the Python process was killed by SIGKILL \(pid \d+\)/);
      return true;
    });
    const ok = await slow.compute(cu);
    assert.equal(ok.energy, 1.5 * cu.natoms);
    assert.notEqual(slow.pid, pid2);
    assert.ok(!running(pid1) && !running(pid2));
  } finally {
    await emt.close();
    await slow.close();
  }
});

test("a child that exits mid-call: the error carries its exit code and stderr; the next call works", async () => {
  const slow = sleepy();
  try {
    await assert.rejects(slow.compute(withSymbol(cu, 2, "Rn")), (e: unknown) => {
      assert.ok(e instanceof CalculatorError);
      assert.match(e.message, /exited with code 3/);
      assert.match(e.message, /sleepy: crashing on purpose/);
      assert.match(e.message, /sleepy: raw noise on fd 1/); // the calculator's stdout went to stderr
      return true;
    });
    assert.equal((await slow.compute(cu)).energy, 1.5 * cu.natoms);
  } finally {
    await slow.close();
  }
});

test("a Python exception fails that call only, with the traceback; the child lives on", async () => {
  const slow = sleepy();
  try {
    await slow.compute(cu);
    const pid = slow.pid;
    await assert.rejects(slow.compute(withSymbol(cu, 1, "Kr")), (e: unknown) => {
      assert.ok(e instanceof CalculatorError);
      assert.match(e.message, /ValueError: sleepy refuses Kr/);
      assert.match(e.message, /Traceback|File ".*crystal_rl_test_calcs\.py"/);
      return true;
    });
    assert.equal((await slow.compute(cu)).energy, 1.5 * cu.natoms);
    assert.equal(slow.pid, pid);
    // EMT has no parameters for U: ASE's own error comes back.
    const emt = aseCalculator("ase:EMT");
    await assert.rejects(emt.compute(withSymbol(cu, 0, "U")), /ase:EMT: .*Error/);
    await emt.close();
  } finally {
    await slow.close();
  }
});

test("a hung call is killed after timeoutMs and the next call starts a new child", async () => {
  const slow = sleepy({ timeoutMs: 800 });
  try {
    await slow.start();
    const pid = slow.pid!;
    const t0 = Date.now();
    await assert.rejects(slow.compute(withSymbol(cu, 0, "Xe")), (e: unknown) => {
      assert.ok(e instanceof CalculatorError);
      assert.match(e.message, /timed out after 800 ms; the Python process was killed/);
      return true;
    });
    assert.ok(Date.now() - t0 < 5000);
    const r = await slow.compute(cu);
    assert.equal(r.energy, 1.5 * cu.natoms);
    assert.notEqual(slow.pid, pid);
    assert.ok(!running(pid));
  } finally {
    await slow.close();
  }
});

test("bad calculator names, a bad factory, a missing Python: clear errors", async () => {
  for (const [name, pattern] of [
    ["ase:NoSuchThing", /cannot create the ASE calculator: ValueError: unknown ASE calculator 'NoSuchThing'/],
    ["ase:no_such_module.Calc", /cannot create the ASE calculator: ModuleNotFoundError: No module named 'no_such_module'/],
    ["ase:ase.calculators.emt.NoEMT", /AttributeError: module 'ase.calculators.emt' has no attribute 'NoEMT'/],
    ["ase:crystal_rl_test_calcs.not_a_calculator", /TypeError: .* did not return an ASE calculator/],
  ] as const) {
    const calc = aseCalculator(name, { pythonPath: [FIXTURES] });
    await assert.rejects(calc.compute(cu), (e: unknown) => {
      assert.ok(e instanceof CalculatorError, String(e));
      assert.match(e.message, pattern);
      assert.ok(e.message.startsWith(`${name}: `));
      return true;
    });
    assert.equal(calc.pid, undefined);
    await calc.close();
  }
  const bad = aseCalculator("ase:crystal_rl_test_calcs.not_a_calculator", { pythonPath: [FIXTURES], kwargs: { no_such_kwarg: 1 } });
  await assert.rejects(bad.compute(cu), /TypeError: .*no_such_kwarg/);
  await bad.close();
  const noPython = aseCalculator("ase:EMT", { python: "/nonexistent/python3" });
  await assert.rejects(noPython.compute(cu), /cannot start Python "\/nonexistent\/python3": not found/);
  await noPython.close();
  assert.throws(() => aseCalculator("ase:"), RangeError);
});

test("close() ends the child and leaves no process behind; a later call starts a new one", async () => {
  const emt = aseCalculator("ase:EMT");
  await emt.compute(cu);
  const pid = emt.pid!;
  assert.ok(running(pid));
  await emt.close();
  assert.equal(emt.pid, undefined);
  assert.ok(!running(pid), `pid ${pid} is still there after close()`);
  // Close during a hung call: killed after the grace period, the call fails, nothing is left.
  const slow = aseCalculator("ase:crystal_rl_test_calcs.Sleepy", { pythonPath: [FIXTURES], closeTimeoutMs: 300 });
  await slow.start();
  const pid2 = slow.pid!;
  const hung = slow.compute(withSymbol(cu, 0, "Xe"));
  await new Promise((r) => setTimeout(r, 200));
  const closing = slow.close();
  await assert.rejects(hung, /closed while a call was in flight/);
  await closing;
  assert.ok(!running(pid2));
  // Reuse after close.
  const r = await emt.compute(cu);
  assert.ok(Math.abs(r.energy - ref.energy) < 1e-12);
  const pid3 = emt.pid!;
  await emt.close();
  assert.ok(!running(pid3));
});
