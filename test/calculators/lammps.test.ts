import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { chmod, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { test } from "node:test";
import { CalculatorError } from "../../src/calculators/calculator.js";
import { Lammps, lammps, lammpsDeck, restrictedTriclinic } from "../../src/calculators/external/lammps.js";
import { LennardJones } from "../../src/calculators/lj.js";
import { Crystal } from "../../src/structure/crystal.js";
import { det3, matmul3 } from "../../src/structure/lattice.js";
import { rocksalt } from "../../src/structure/prototypes.js";
import { Rng } from "../../src/structure/random-source.js";

// Debian: apt-get install -y --no-install-recommends lammps lammps-data
const LMP = process.env["CRYSTAL_RL_LAMMPS"] ?? "lmp";
const haveLammps = LMP.includes("/") ? existsSync(LMP) : (process.env["PATH"] ?? "").split(delimiter).some((d) => existsSync(join(d, LMP)));
const EAM = "/usr/share/lammps/potentials/Cu_u3.eam";

// npm test installs LAMMPS first (scripts/ensure-oracles.sh); say so plainly if it is missing.
test("prerequisite: LAMMPS and its potentials are installed (bash scripts/install-system.sh --ci)", () => {
  assert.ok(haveLammps, `LAMMPS (${LMP}) is not installed: apt-get install lammps lammps-data`);
  assert.ok(existsSync(EAM), `${EAM} is missing: apt-get install lammps-data`);
});

/** A 3x3 rotation from a seed (product of three axis rotations). */
function rotation(seed: number): Float64Array {
  const r = new Rng(seed);
  const [a, b, c] = [r.uniform(0, 2 * Math.PI), r.uniform(0, Math.PI), r.uniform(0, 2 * Math.PI)];
  const rz = (t: number) => [Math.cos(t), -Math.sin(t), 0, Math.sin(t), Math.cos(t), 0, 0, 0, 1];
  const rx = (t: number) => [1, 0, 0, 0, Math.cos(t), -Math.sin(t), 0, Math.sin(t), Math.cos(t)];
  return matmul3(matmul3(rz(a), rx(b)), rz(c));
}

/** Every row of a 3N (or 3x3) array times m. */
function rows(v: ArrayLike<number>, m: ArrayLike<number>): Float64Array {
  const out = new Float64Array(v.length);
  for (let k = 0; k < v.length; k += 3)
    for (let d = 0; d < 3; d++) out[k + d] = v[k]! * m[d]! + v[k + 1]! * m[3 + d]! + v[k + 2]! * m[6 + d]!;
  return out;
}

/**
 * Rattled Cu: fcc primitive cell (a = 3.61 Å) repeated by a skewed integer matrix (8 atoms, tilts
 * beyond LAMMPS's half-box limit), sheared, turned by an arbitrary rotation (a is not along x),
 * positions rattled by 0.05 Å.
 */
function rattledTriclinicCu(seed = 3): Crystal {
  const a = 3.61;
  const prim = new Crystal({ cell: [0, a / 2, a / 2, a / 2, 0, a / 2, a / 2, a / 2, 0], positions: [0, 0, 0], numbers: ["Cu"] });
  const big = prim.supercell([2, 1, 0, 0, 2, 0, 1, 1, 2]);
  const shear = [1.02, 0.03, -0.02, 0.01, 0.99, 0.04, -0.03, 0.02, 1.01];
  const m = matmul3(shear, rotation(seed));
  const r = new Rng(seed);
  const pos = rows(big.positions, m).map((x) => x + r.normal(0, 0.05));
  return new Crystal({ cell: rows(big.cell, m), positions: pos, numbers: big.numbers });
}

/** The same lattice with rows b and a swapped: a left-handed cell. */
function leftHanded(c: Crystal): Crystal {
  const m = c.cell;
  return new Crystal({ cell: [m[3]!, m[4]!, m[5]!, m[0]!, m[1]!, m[2]!, m[6]!, m[7]!, m[8]!], positions: c.positions, numbers: c.numbers });
}

function strained(c: Crystal, i: number, j: number, h: number): Crystal {
  const f = [1, 0, 0, 0, 1, 0, 0, 0, 1];
  if (i === j) f[3 * i + i] = 1 + h;
  else f[3 * i + j] = f[3 * j + i] = h / 2;
  return new Crystal({ cell: rows(c.cell, f), positions: rows(c.positions, f), numbers: c.numbers });
}

const eam = (): Lammps => lammps({ pairStyle: "eam", pairCoeffs: [`{Cu} {Cu} ${EAM}`] });

test("restrictedTriclinic: an orthogonal Q, the same lattice (lengths, volume), reduced tilts", () => {
  const c = rattledTriclinicCu();
  const rc = restrictedTriclinic(c.cell);
  const q = rc.rotation;
  const qqt = matmul3(q, [q[0]!, q[3]!, q[6]!, q[1]!, q[4]!, q[7]!, q[2]!, q[5]!, q[8]!]);
  qqt.forEach((x, k) => assert.ok(Math.abs(x - (k % 4 === 0 ? 1 : 0)) < 1e-14));
  assert.ok(Math.abs(Math.abs(det3(rc.matrix)) - c.volume) < 1e-10);
  assert.ok(rc.lx > 0 && rc.ly > 0 && rc.lz > 0);
  assert.ok(Math.abs(rc.xy) <= rc.lx / 2 && Math.abs(rc.xz) <= rc.lx / 2 && Math.abs(rc.yz) <= rc.ly / 2);
  // The rotated input cell is an integer recombination of the reduced one.
  const rotated = rows(c.cell, [q[0]!, q[3]!, q[6]!, q[1]!, q[4]!, q[7]!, q[2]!, q[5]!, q[8]!]);
  const inv = new Crystal({ cell: rc.matrix, positions: [0, 0, 0], numbers: [1] }).lattice.toFractional(rotated);
  inv.forEach((x) => assert.ok(Math.abs(x - Math.round(x)) < 1e-10, `${x} is not an integer`));
  // A left-handed cell: the reflection goes into Q, lz stays positive.
  const left = restrictedTriclinic(leftHanded(c).cell);
  assert.ok(det3(left.rotation) < 0 && left.lz > 0);
});

test("lammpsDeck: types, placeholders, charges and the I <= J order of pair_coeff", () => {
  const nacl = rocksalt("Na", "Cl", 5.64);
  const deck = lammpsDeck(nacl, {
    pairStyle: "buck/coul/long 10.0",
    pairCoeffs: ["pair_coeff {Cl} {Na} 1 0.3 0", "{Na} {Na} 2 0.3 0", "{Cl} {Cl} 3 0.3 0", "{O} {O} 4 0.3 0", "* * x.eam.alloy {elements}"],
    charges: { Na: 1, Cl: -1 },
    kspace: "ewald 1e-6",
  });
  assert.deepEqual(deck.types, ["Na", "Cl"]); // by atomic number
  const input = deck.input({ data: "/d", dump: "/f" });
  assert.match(input, /^pair_coeff 1 2 1 0\.3 0$/m);
  assert.match(input, /^pair_coeff 1 1 2 0\.3 0$/m);
  assert.match(input, /^pair_coeff 2 2 3 0\.3 0$/m);
  assert.doesNotMatch(input, /4 0\.3 0/); // O is absent: dropped
  assert.match(input, /^pair_coeff \* \* x\.eam\.alloy Na Cl$/m);
  assert.match(input, /^atom_style charge$/m);
  assert.match(input, /^kspace_style ewald 1e-6$/m);
  assert.match(deck.data, /^1 1 1 0 0 0$/m); // id type q x y z
  assert.match(deck.data, /^\d+ 2 -1 /m);
  assert.doesNotMatch(deck.data, /xy xz yz/); // orthogonal: no tilt line
  // With an explicit type list, an absent element is an error and a missing charge too.
  assert.throws(() => lammpsDeck(nacl, { pairStyle: "x", pairCoeffs: ["{O} {O} 1"], elements: ["Na", "Cl"] }), CalculatorError);
  assert.throws(() => lammpsDeck(nacl, { pairStyle: "x", pairCoeffs: [], charges: { Na: 1 } }), /no charge for Cl/);
  assert.throws(() => lammpsDeck(nacl, { pairStyle: "x", pairCoeffs: [], elements: ["Na"] }), /atom 4 is Cl/);
});

test("EAM Cu (triclinic, rattled): forces and stress are finite differences of its own energies", async () => {
  const calc = eam();
  try {
    const c = rattledTriclinicCu();
    const r = await calc.compute(c, { forces: true, stress: true });
    assert.ok(r.energy < 0 && r.forces && r.stress);
    const h = 1e-4;
    let worst = 0;
    for (let k = 0; k < 3 * c.natoms; k++) {
      const plus = Float64Array.from(c.positions);
      const minus = Float64Array.from(c.positions);
      plus[k]! += h;
      minus[k]! -= h;
      const [ep, em] = await Promise.all([calc.compute(c.withPositions(plus), { forces: false }), calc.compute(c.withPositions(minus), { forces: false })]);
      worst = Math.max(worst, Math.abs(-(ep.energy - em.energy) / (2 * h) - r.forces[k]!));
    }
    assert.ok(worst < 1e-5, `largest force error ${worst} eV/Å`);
    const voigt: [number, number][] = [[0, 0], [1, 1], [2, 2], [1, 2], [0, 2], [0, 1]];
    for (const [v, [i, j]] of voigt.entries()) {
      const [ep, em] = await Promise.all([calc.compute(strained(c, i, j, h), { forces: false }), calc.compute(strained(c, i, j, -h), { forces: false })]);
      const fd = (ep.energy - em.energy) / (2 * h) / c.volume;
      assert.ok(Math.abs(fd - r.stress[v]!) < 1e-6, `stress ${v}: ${r.stress[v]} vs finite difference ${fd}`);
    }
    assert.ok(r.stress.some((s) => Math.abs(s) > 1e-3)); // not trivially zero
    assert.deepEqual(calc.counts, { calls: 1 + 6 * c.natoms + 12, forceCalls: 1 });
  } finally {
    await calc.close();
  }
});

test("LAMMPS lj/cut with pair_modify shift yes equals crystal-rl's LennardJones: energy, forces, stress (any frame, left-handed too)", async () => {
  const [epsilon, sigma, rc] = [0.4, 2.3, 5.2];
  const ref = new LennardJones({ epsilon, sigma, rc });
  const calc = lammps({ pairStyle: `lj/cut ${rc}`, pairCoeffs: [`* * ${epsilon} ${sigma}`], commands: ["pair_modify shift yes"] });
  try {
    const base = rattledTriclinicCu(11);
    for (const c of [base, leftHanded(base), rattledTriclinicCu(12)]) {
      const want = ref.computeSync(c, { forces: true, stress: true });
      const got = await calc.compute(c, { forces: true, stress: true });
      assert.ok(Math.abs(got.energy - want.energy) < 1e-6, `energy ${got.energy} vs ${want.energy}`);
      got.forces!.forEach((f, k) => assert.ok(Math.abs(f - want.forces![k]!) < 1e-6, `force ${k}: ${f} vs ${want.forces![k]}`));
      got.stress!.forEach((s, k) => assert.ok(Math.abs(s - want.stress![k]!) < 1e-8, `stress ${k}: ${s} vs ${want.stress![k]}`));
      assert.ok(want.stress!.some((s) => Math.abs(s) > 1e-3) && want.forces!.some((f) => Math.abs(f) > 0.1));
    }
  } finally {
    await calc.close();
  }
});

test("charges and kspace: rocksalt NaCl with coul/long + Ewald gives the Madelung energy", async () => {
  const a = 5.64;
  const calc = lammps({ pairStyle: "coul/long 9.0", pairCoeffs: ["* *"], kspace: "ewald 1e-10", charges: { Na: 1, Cl: -1 } });
  try {
    // The conventional cube (4 pairs) and the primitive rhombohedron (1 pair, a triclinic box).
    const primitive = new Crystal({ cell: [0, a / 2, a / 2, a / 2, 0, a / 2, a / 2, a / 2, 0], positions: [0, 0, 0, a / 2, 0, 0], numbers: ["Na", "Cl"] });
    for (const [c, pairs] of [[rocksalt("Na", "Cl", a), 4], [primitive, 1]] as const) {
      const r = await calc.compute(c, { forces: true, stress: true });
      // Madelung constant of rocksalt 1.747564594633; LAMMPS's qqr2e in metal units is 14.399645 eV·Å.
      const perPair = (-1.747564594633 * 14.399645) / (a / 2);
      assert.ok(Math.abs(r.energy / pairs - perPair) < 1e-5, `${r.energy / pairs} vs ${perPair}`);
      r.forces!.forEach((f) => assert.ok(Math.abs(f) < 1e-6));
      // E ∝ 1/a, so dE/dε = −E under a uniform strain ε: the stress is −E/(3V) on the diagonal (> 0,
      // the lattice wants to shrink), 0 off it.
      const v = c.volume;
      for (let k = 0; k < 3; k++) assert.ok(Math.abs(r.stress![k]! + r.energy / (3 * v)) < 1e-6, `${r.stress![k]} vs ${-r.energy / (3 * v)}`);
      for (let k = 3; k < 6; k++) assert.ok(Math.abs(r.stress![k]!) < 1e-8);
    }
  } finally {
    await calc.close();
  }
});

test("a bad pair style is a CalculatorError quoting LAMMPS's ERROR line and the input path; files are kept until close", async () => {
  const calc = lammps({ pairStyle: "no/such/style", pairCoeffs: ["* *"] });
  const err = await calc.compute(rattledTriclinicCu()).then(
    () => assert.fail("no error"),
    (e: unknown) => e,
  );
  assert.ok(err instanceof CalculatorError);
  assert.equal(err.calculator, "lammps");
  assert.match(err.message, /ERROR: Unrecognized pair style 'no\/such\/style'/);
  const input = /input (\S+\.in)\)/.exec(err.message)?.[1];
  assert.ok(input && existsSync(input), err.message);
  await calc.close();
  assert.ok(!existsSync(input));
});

test("a missing binary and a hung binary are CalculatorErrors", async () => {
  const dir = await mkdtemp(join(tmpdir(), "crystal-rl-lammps-test-"));
  try {
    const missing = lammps({ pairStyle: "lj/cut 3", pairCoeffs: ["* * 1 1"], binary: join(dir, "no-lmp") });
    await assert.rejects(missing.compute(rattledTriclinicCu()), (e: unknown) => e instanceof CalculatorError && /not found/.test(e.message));
    await missing.close();

    const hang = join(dir, "hang.sh");
    await writeFile(hang, "#!/bin/sh\nexec sleep 30\n");
    await chmod(hang, 0o755);
    const hung = lammps({ pairStyle: "lj/cut 3", pairCoeffs: ["* * 1 1"], binary: hang, timeoutMs: 300 });
    const t0 = Date.now();
    await assert.rejects(hung.compute(rattledTriclinicCu()), (e: unknown) => e instanceof CalculatorError && /timed out after 300 ms/.test(e.message));
    assert.ok(Date.now() - t0 < 5000);
    await hung.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("counts calls, cleans each call's files, and close() removes the work folder", async () => {
  const parent = await mkdtemp(join(tmpdir(), "crystal-rl-lammps-parent-"));
  try {
    const calc = lammps({ pairStyle: "lj/cut 5.0", pairCoeffs: ["* * 0.4 2.3"], workDir: parent });
    const c = rattledTriclinicCu();
    const e1 = await calc.compute(c, { forces: false });
    const r2 = await calc.compute(c);
    assert.equal(e1.forces, undefined);
    assert.equal(e1.stress, undefined);
    assert.equal(r2.energy, e1.energy);
    assert.deepEqual(calc.counts, { calls: 2, forceCalls: 1 });
    calc.resetCounts();
    assert.deepEqual(calc.counts, { calls: 0, forceCalls: 0 });
    const [dir] = await readdir(parent);
    if (!dir?.startsWith("crystal-rl-lammps-")) assert.fail(`unexpected folder ${dir}`);
    assert.deepEqual(await readdir(join(parent, dir)), []);
    await calc.close();
    assert.deepEqual(await readdir(parent), []);
  } finally {
    await rm(parent, { recursive: true, force: true });
  }
});
