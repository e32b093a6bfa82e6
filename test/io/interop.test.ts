/**
 * Files crystal-rl writes are read by ASE 3.22.1 and pymatgen 2022.11.7 (Debian's /usr/bin/python3,
 * installed by `scripts/install-system.sh --python`) as the same crystal: same lattice parameters,
 * same atoms at the same fractional coordinates.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";
import { writeStructures } from "../../src/io/index.js";
import { Crystal } from "../../src/structure/crystal.js";
import { shortestVector } from "../../src/structure/neighbours.js";
import { randomCrystal } from "../../src/structure/random.js";

interface Seen {
  cell: number[][];
  positions: number[][];
  numbers: number[];
}

/** Same lattice parameters and, in the same order, the same species at the same periodic positions. */
function assertSame(seen: Seen, expected: Crystal, who: string): void {
  const got = new Crystal({ cell: seen.cell, positions: seen.positions.flat(), numbers: seen.numbers });
  const p = got.lattice.parameters;
  const q = expected.lattice.parameters;
  for (const k of ["a", "b", "c", "alpha", "beta", "gamma"] as const) assert.ok(Math.abs(p[k] - q[k]) < 1e-6, `${who}: ${k} ${p[k]} vs ${q[k]}`);
  assert.deepEqual([...got.numbers], [...expected.numbers], `${who}: species`);
  // Compare in fractional coordinates (a reader may orient the cell differently), modulo lattice vectors.
  const fg = got.fractional();
  const fe = expected.fractional();
  const common = expected.lattice;
  for (let i = 0; i < expected.natoms; i++) {
    const a = common.toCartesian(fg.subarray(3 * i, 3 * i + 3));
    const b = common.toCartesian(fe.subarray(3 * i, 3 * i + 3));
    const d = shortestVector(common, a, b).distance;
    assert.ok(d < 1e-5, `${who}: atom ${i} is ${d} Å away`);
  }
}

test("ASE and pymatgen read our CIF, POSCAR and extended XYZ as the same crystal", async () => {
  const dir = await mkdtemp(join(tmpdir(), "crystal-rl-interop-"));
  try {
    // Species grouped, as POSCAR requires for the order to survive.
    const crystal = randomCrystal({ composition: "SrTiO3", atoms: 10, volumePerAtom: 12 }, 3);
    const files = ["x.cif", "POSCAR", "x.extxyz"].map((f) => join(dir, f));
    for (const f of files) await writeStructures(f, [crystal]);
    const { stdout } = await promisify(execFile)("/usr/bin/python3", ["scripts/oracle_read.py", ...files]);
    const rows = stdout.trim().split("\n").map((l) => JSON.parse(l) as { file: string; ase: Seen; pymatgen: Seen | null });
    assert.equal(rows.length, 3);
    for (const row of rows) {
      assertSame(row.ase, crystal, `ASE ${row.file}`);
      if (row.pymatgen) assertSame(row.pymatgen, crystal, `pymatgen ${row.file}`);
    }
    assert.equal(rows.filter((r) => r.pymatgen).length, 2);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
