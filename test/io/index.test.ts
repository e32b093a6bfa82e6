import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import {
  formatOf,
  formatStructures,
  ParseError,
  parseStructures,
  readStructure,
  readStructures,
  writeStructures,
} from "../../src/io/index.js";
import { assertSameCrystal, oneAtom, triclinic } from "./assert-crystal.js";

test("formatOf goes by extension, then by POSCAR/CONTCAR names", () => {
  const cases: [string, string][] = [
    ["a/b/NaCl.cif", "cif"],
    ["X.CIF", "cif"],
    ["run/POSCAR", "poscar"],
    ["CONTCAR_relaxed", "poscar"],
    ["POSCAR.bak", "poscar"],
    ["si.vasp", "poscar"],
    ["si.poscar", "poscar"],
    ["traj.xyz", "extxyz"],
    ["traj.extxyz", "extxyz"],
  ];
  for (const [path, format] of cases) assert.equal(formatOf(path), format, path);
  assert.throws(() => formatOf("dir/structure.json"), /dir\/structure\.json.*\.cif.*POSCAR.*\.xyz/);
});

test("write then read every format through the path API, atomically", async () => {
  const dir = await mkdtemp(join(tmpdir(), "crystal-rl-io-"));
  try {
    const crystals = [triclinic(4), oneAtom()];
    for (const name of ["two.cif", "two.extxyz"]) {
      const path = join(dir, name);
      await writeStructures(path, crystals);
      const back = await readStructures(path);
      assert.equal(back.length, 2);
      // CIF puts the cell in the a-along-x orientation, which triclinic() and oneAtom() already use.
      back.forEach((c, i) => assertSameCrystal(c, crystals[i]!, 1e-8, 1e-6));
    }
    const poscar = join(dir, "POSCAR");
    await writeStructures(poscar, [oneAtom()]);
    assertSameCrystal(await readStructure(poscar), oneAtom());
    assert.throws(() => formatStructures(crystals, poscar), /one structure/);
    assert.throws(() => formatStructures([], join(dir, "x.cif")), /no structures/);
    // No temp files left behind, and a failed write leaves the old file untouched.
    await assert.rejects(writeStructures(poscar, crystals), /one structure/);
    assert.deepEqual((await readdir(dir)).sort(), ["POSCAR", "two.cif", "two.extxyz"]);
    assertSameCrystal(await readStructure(poscar), oneAtom());
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("parse errors name the path", async () => {
  const dir = await mkdtemp(join(tmpdir(), "crystal-rl-io-"));
  try {
    const path = join(dir, "broken.xyz");
    await writeFile(path, "1\nLattice=\"1 0 0 0 1 0 0 0 1\"\nCu 0 0 zero\n");
    await assert.rejects(readStructures(path), (e: unknown) => e instanceof ParseError && e.file === path && e.line === 3);
    assert.throws(() => parseStructures("nonsense", "x.cif"), ParseError);
    assert.equal((await readFile(path, "utf8")).length > 0, true);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
