import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { cli } from "../helpers/cli.js";
import { emt } from "../../src/calculators/emt.js";
import { formatPoscar } from "../../src/io/poscar.js";
import { parseExtxyz } from "../../src/io/extxyz.js";
import { Crystal } from "../../src/structure/crystal.js";
import { Lattice } from "../../src/structure/lattice.js";
import { Rng } from "../../src/structure/random-source.js";

const STO = "data/structures/SrTiO3.cif";


let dir = "";
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "crystal-rl-cli-"));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("crystal-rl info", () => {
  it("prints the JSON keys users script against", async () => {
    const r = await cli("info", STO, "--json");
    assert.equal(r.code, 0, r.err);
    const j = JSON.parse(r.out);
    assert.deepEqual(Object.keys(j), ["formula", "reducedFormula", "natoms", "volume", "density", "a", "b", "c", "alpha", "beta", "gamma"]);
    assert.equal(j.formula, "SrTiO3");
    assert.equal(j.natoms, 5);
    assert.ok(Math.abs(j.volume - 3.905 ** 3) < 1e-6);
    assert.ok(Math.abs(j.alpha - 90) < 1e-9);
  });

  it("expands the symmetry of the shipped spinel to 56 atoms", async () => {
    const j = JSON.parse((await cli("info", "data/structures/MgAl2O4.cif", "--json")).out);
    assert.equal(j.natoms, 56);
    assert.equal(j.reducedFormula, "MgAl2O4");
  });

  it("prints a readable table", async () => {
    const r = await cli("info", STO);
    assert.match(r.out, /formula\s+SrTiO3 \(reduced SrTiO3\)/);
    assert.match(r.out, /density\s+5\.11\d+ g\/cm³/);
  });

  it("exits 2 with a one-line reason for a missing file, a bad file and bad options", async () => {
    const missing = await cli("info", join(dir, "nope.cif"));
    assert.equal(missing.code, 2);
    assert.match(missing.err, /nope\.cif/);
    const bad = join(dir, "bad.cif");
    await writeFile(bad, "data_x\n_cell_length_a 3\n_cell_length_b oops\n");
    const r = await cli("info", bad);
    assert.equal(r.code, 2);
    assert.match(r.err, /bad\.cif/);
    assert.equal(r.err.trim().split("\n").length, 1);
    assert.equal((await cli("info")).code, 2);
    assert.equal((await cli("info", STO, "--bogus")).code, 2);
    assert.equal((await cli("info", join(dir, "x.txt"))).code, 2);
    assert.equal((await cli("frobnicate")).code, 2);
  });
});

describe("crystal-rl convert", () => {
  it("converts CIF -> POSCAR -> extxyz -> CIF and keeps the crystal", async () => {
    const vasp = join(dir, "rutile.vasp");
    const xyz = join(dir, "rutile.extxyz");
    const cif = join(dir, "rutile.cif");
    assert.equal((await cli("convert", "data/structures/TiO2-rutile.cif", vasp)).code, 0);
    assert.equal((await cli("convert", vasp, xyz)).code, 0);
    assert.equal((await cli("convert", xyz, cif)).code, 0);
    const a = JSON.parse((await cli("info", "data/structures/TiO2-rutile.cif", "--json")).out);
    const b = JSON.parse((await cli("info", cif, "--json")).out);
    for (const k of Object.keys(a)) {
      if (typeof a[k] === "number") assert.ok(Math.abs(a[k] - b[k]) < 1e-6, k);
      else assert.equal(a[k], b[k]);
    }
    assert.match(await readFile(vasp, "utf8"), /^\s*Ti\s+O\s*$/m);
  });
});

describe("crystal-rl random", () => {
  it("writes seeded random crystals with the composition and volume asked for", async () => {
    const out = join(dir, "starts");
    const r = await cli("random", "--composition", "SrTiO3", "--atoms", "40", "--count", "3", "--seed", "1", "--out", out, "--json");
    assert.equal(r.code, 0, r.err);
    const rows = JSON.parse(r.out);
    assert.equal(rows.length, 3);
    assert.equal((await readdir(out)).length, 3);
    for (const row of rows) {
      const j = JSON.parse((await cli("info", row.file, "--json")).out);
      assert.equal(j.formula, "Sr8Ti8O24");
      assert.ok(row.minDistance >= 1 - 1e-9);
    }
    const again = JSON.parse((await cli("random", "--composition", "SrTiO3", "--atoms", "40", "--count", "3", "--seed", "1", "--out", join(dir, "again"), "--json")).out);
    assert.deepEqual(again.map((x: { volume: number }) => x.volume), rows.map((x: { volume: number }) => x.volume));
  });

  it("names the problem when the atom count is not whole formula units", async () => {
    const r = await cli("random", "--composition", "SrTiO3", "--atoms", "42", "--out", join(dir, "x"));
    assert.equal(r.code, 2);
    assert.match(r.err, /42/);
    assert.equal((await cli("random", "--composition", "SrTiO3", "--atoms", "forty", "--out", dir)).code, 2);
    assert.equal((await cli("random", "--composition", "SrTiQ3", "--atoms", "5", "--out", dir)).code, 2);
  });
});

describe("crystal-rl energy and relax", () => {
  /** A rattled 32-atom Cu cell written as POSCAR. */
  async function rattledCu(): Promise<string> {
    const file = join(dir, "cu.vasp");
    const c = fccCu();
    await writeFile(file, formatPoscar(c));
    return file;
  }
  function fccCu() {
    const base = Crystal.fromFractional(Lattice.cubic(3.61), [0, 0, 0, 0.5, 0.5, 0, 0.5, 0, 0.5, 0, 0.5, 0.5], ["Cu", "Cu", "Cu", "Cu"]).supercell([2, 2, 2]);
    const rng = new Rng(4);
    return base.withPositions(base.positions.map((x) => x + rng.uniform(-0.1, 0.1)));
  }

  it("energy prints energy, forces and stress as JSON", async () => {
    const file = await rattledCu();
    const r = await cli("energy", file, "--calc", "emt", "--json");
    assert.equal(r.code, 0, r.err);
    const j = JSON.parse(r.out);
    assert.deepEqual(Object.keys(j), ["energy", "forces", "stress"]);
    assert.equal(j.forces.length, 32);
    assert.equal(j.stress.length, 6);
    const direct = emt().computeSync(fccCu(), { stress: true });
    assert.ok(Math.abs(j.energy - direct.energy) < 1e-9);
  });

  it("relax converges with every optimiser and reports the JSON keys", async () => {
    const file = await rattledCu();
    for (const o of ["fire", "bfgs", "lbfgs", "bfgsls", "cg", "mdmin", "fire+bfgsls"]) {
      const r = await cli("relax", file, "--calc", "emt", "--optimizer", o, "--json");
      assert.equal(r.code, 0, `${o}: ${r.err}`);
      const j = JSON.parse(r.out);
      assert.deepEqual(Object.keys(j), ["converged", "steps", "forceCalls", "energy", "fmax", "seconds"]);
      assert.ok(j.converged && j.fmax < 0.05, o);
      assert.ok(j.forceCalls >= j.steps, o);
    }
  });

  it("relax writes the relaxed structure and a trajectory that reads back", async () => {
    const file = await rattledCu();
    const out = join(dir, "relaxed.cif");
    const traj = join(dir, "traj.extxyz");
    const r = await cli("relax", file, "--calc", "lj", "--calc-options", '{"sigma": 2.3, "epsilon": 0.4}', "--optimizer", "bfgs", "--out", out, "--trajectory", traj, "--json");
    assert.equal(r.code, 0, r.err);
    const j = JSON.parse(r.out);
    const frames = parseExtxyz(await readFile(traj, "utf8"));
    assert.ok(frames.length >= j.steps);
    assert.ok(Math.abs(frames.at(-1)!.energy! - j.energy) < 1e-9);
    const relaxed = JSON.parse((await cli("energy", out, "--calc", "lj", "--calc-options", '{"sigma": 2.3, "epsilon": 0.4}', "--json")).out);
    assert.ok(Math.abs(relaxed.energy - j.energy) < 1e-6);
  });

  it("names unknown calculators, optimisers and bad options", async () => {
    const file = await rattledCu();
    const a = await cli("relax", file, "--calc", "nope");
    assert.equal(a.code, 2);
    assert.match(a.err, /unknown calculator "nope"/);
    const b = await cli("relax", file, "--calc", "emt", "--optimizer", "newton");
    assert.equal(b.code, 2);
    assert.match(b.err, /unknown optimizer "newton"/);
    assert.equal((await cli("energy", file, "--calc", "lj", "--calc-options", "{oops")).code, 2);
    const c = await cli("energy", STO, "--calc", "emt");
    assert.equal(c.code, 2);
    assert.match(c.err, /Sr/);
  });
});

describe("crystal-rl train", () => {
  it("refuses a backend it does not know, listing the ones it does", async () => {
    const r = await cli("train", "macs", "--backend", "cuda", "--steps", "1");
    assert.equal(r.code, 2);
    assert.match(r.err, /--backend must be one of auto, tensorflow, webgpu, wasm, cpu.*got "cuda"/);
  });
});

describe("the installed bin", () => {
  it("runs as a process and returns exit code 2 on bad input", async () => {
    const run = promisify(execFile);
    const ok = await run(process.execPath, ["--import", "tsx", "src/cli/main.ts", "info", STO, "--json"]);
    assert.equal(JSON.parse(ok.stdout).reducedFormula, "SrTiO3");
    await assert.rejects(run(process.execPath, ["--import", "tsx", "src/cli/main.ts", "info", "missing.cif"]), (e: { code: number; stderr: string }) => {
      assert.equal(e.code, 2);
      assert.match(e.stderr, /missing\.cif/);
      return true;
    });
  });
});
