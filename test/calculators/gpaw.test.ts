import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { gpaw, probeGpaw } from "../../src/calculators/external/gpaw.js";
import { cachedProvider, PropertyCache } from "../../src/calculators/property-cache.js";
import { Crystal } from "../../src/structure/crystal.js";

// Debian: apt-get install -y gpaw gpaw-data (bash scripts/install-system.sh --ci). Real GPAW, short runs.
const probe = probeGpaw();
const skip = probe.ok ? false : `GPAW is not installed: ${probe.reason}`;
if (skip) console.log(`gpaw tests skipped: ${skip}`);

/** NaCl, rocksalt primitive cell (2 atoms). */
const nacl = (a: number, symbols: readonly string[] = ["Na", "Cl"]): Crystal =>
  Crystal.fromFractional(
    [
      [0, a / 2, a / 2],
      [a / 2, 0, a / 2],
      [a / 2, a / 2, 0],
    ],
    [0, 0, 0, 0.5, 0.5, 0.5],
    symbols,
  );

// Reduced settings that keep each SCF near 1-2 s on a loaded 2-core machine. At ecut 500 eV and
// kppa 1000 (7x7x7, the defaults) NaCl gives gap 5.12 eV, B = 23.4 GPa, V0 = 46.22 Å³ (a = 5.697 Å).
const fast = { ecut: 400, kpts: [5, 5, 5] as const, eos: { points: 5 }, relax: { steps: 1 } };

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

const dir = mkdtempSync(join(tmpdir(), "crystal-rl-gpaw-"));
after(() => rmSync(dir, { recursive: true, force: true }));

test("NaCl band gap (PBE), computed once and then served from the cache", { skip }, async (t) => {
  const cache = PropertyCache.open(join(dir, "cache.sqlite"));
  const engine = gpaw(fast);
  const provider = cachedProvider(engine, cache);
  const r = await provider.evaluate(nacl(5.64), "band-gap");
  assert.equal(r.errorFlag, 0, r.reason);
  // PBE Kohn-Sham gap of NaCl, direct at Γ: about 5.0 eV (Materials Project mp-22862: 5.00 eV;
  // experiment 8.5 eV, PBE underestimates). This engine: 5.12 eV (5x5x5, 400 eV and 7x7x7, 500 eV).
  assert.ok(r.value! > 4.6 && r.value! < 5.5, `gap ${r.value} eV`);
  assert.equal(r.unit, "eV");
  assert.equal(r.engine, "gpaw");
  assert.deepEqual(r.details?.["kpts"], [5, 5, 5]);
  assert.equal(r.details?.["nelectrons"], 14);
  t.diagnostic(`NaCl gap ${r.value!.toFixed(3)} eV in ${r.seconds.toFixed(2)} s (one SCF + 0.7 s start), ${String(r.details?.["iterations"])} iterations`);
  assert.equal(engine.settings["gpaw"], probe.ok ? probe.gpaw : null);
  const again = await provider.evaluate(nacl(5.64), "band-gap");
  assert.equal(again.details?.["cached"], true);
  assert.equal(again.value, r.value);
  assert.equal(again.seconds, r.seconds);
  assert.equal(provider.stats.misses, 1);
  cache.close();
});

test("NaCl bulk modulus from a Birch-Murnaghan fit centred on the energy minimum", { skip }, async (t) => {
  const r = await gpaw(fast).evaluate(nacl(5.7), "bulk-modulus");
  assert.equal(r.errorFlag, 0, r.reason);
  assert.equal(r.unit, "GPa");
  // PBE: 23-24 GPa (environment.md: GPAW a = 5.696 Å, B = 23.2 GPa; this engine at 500 eV/7x7x7: 23.4);
  // experiment 24-27 GPa. The reduced settings here gave 23.8 GPa.
  assert.ok(r.value! > 20 && r.value! < 28, `B = ${r.value} GPa`);
  const v0 = r.details?.["v0"] as number;
  assert.ok(Math.abs(Math.cbrt(4 * v0) - 5.70) < 0.05, `a0 = ${Math.cbrt(4 * v0)} Å`);
  const n = r.details?.["evaluations"] as number;
  t.diagnostic(`NaCl B = ${r.value!.toFixed(2)} GPa, a0 = ${Math.cbrt(4 * v0).toFixed(3)} Å, ${n} SCFs in ${r.seconds.toFixed(1)} s`);
});

test("NaCl density after a short cell relaxation", { skip }, async () => {
  const r = await gpaw(fast).evaluate(nacl(5.64), "density");
  assert.equal(r.errorFlag, 0, r.reason);
  // Experiment 2.165 g/cm³ (a = 5.64 Å); PBE's larger lattice (a ≈ 5.70 Å) gives about 2.10-2.12.
  assert.ok(r.value! > 2.0 && r.value! < 2.2, `density ${r.value} g/cm3`);
  assert.ok(r.value! < (r.details?.["initialDensity"] as number), "PBE expands NaCl");
  assert.equal(r.details?.["steps"], 1, "one BFGS step, as CrystalGym's vc-relax with nstep = 1");
});

test("failed calculations are results with an error flag and a reason, never exceptions", { skip }, async () => {
  const engine = gpaw({ ...fast, kpts: [2, 2, 2] });
  // No PAW setup for technetium in gpaw-data: flag 3, GPAW's own message.
  const tc = await engine.evaluate(nacl(5.0, ["Tc", "O"]), "band-gap");
  assert.equal(tc.errorFlag, 3);
  assert.equal(tc.value, null);
  assert.match(tc.reason!, /Tc\.PBE/);
  // Na + O: 19 electrons; fixed occupations cannot give a gap (QE: "charge is wrong"): flag 2.
  const odd = await engine.evaluate(nacl(4.8, ["Na", "O"]), "band-gap");
  assert.equal(odd.errorFlag, 2);
  assert.match(odd.reason!, /odd number of valence electrons/);
  // Two SCF iterations cannot converge: flag 1.
  const short = await gpaw({ ...fast, kpts: [2, 2, 2], maxiter: 2 }).evaluate(nacl(5.64), "band-gap");
  assert.equal(short.errorFlag, 1);
  assert.match(short.reason!, /not converged after 2 iterations/);
  // Misuse is an exception.
  await assert.rejects(engine.evaluate(nacl(5.64), "melting-point" as never), /unknown property/);
  assert.throws(() => gpaw({ ecut: -1 }), /ecut must be a positive number/);
});

test("a timeout or an abort kills the GPAW process and gives errorFlag 4", { skip }, async () => {
  const engine = gpaw({ ...fast, timeoutMs: 1500 });
  const pids = new Set<number>();
  const sample = setInterval(() => engine.pids.forEach((p) => pids.add(p)), 20);
  const r = await engine.evaluate(nacl(5.64), "bulk-modulus");
  assert.equal(r.errorFlag, 4);
  assert.match(r.reason!, /timed out after 1500 ms/);
  assert.ok(r.seconds < 5, `${r.seconds} s`);

  const controller = new AbortController();
  setTimeout(() => controller.abort(), 1000);
  const aborted = await engine.evaluate(nacl(5.64), "bulk-modulus", { signal: controller.signal });
  clearInterval(sample);
  assert.equal(aborted.errorFlag, 4);
  assert.equal(aborted.details?.["aborted"], true);
  assert.ok(pids.size >= 1, "a worker ran");
  for (const pid of pids) assert.ok(!running(pid), `GPAW worker ${pid} is gone`);
  assert.deepEqual(engine.pids, []);
});
