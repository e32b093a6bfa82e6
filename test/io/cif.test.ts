import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { elementOfLabel, formatCif, parseCif, parseSymop } from "../../src/io/cif.js";
import { ParseError } from "../../src/io/errors.js";
import { Crystal } from "../../src/structure/crystal.js";
import { Lattice } from "../../src/structure/lattice.js";
import { assertClose, assertSameCrystal, assertSameSites, oneAtom, sortedSites, triclinic } from "./assert-crystal.js";

const fixture = (name: string): string => readFileSync(new URL(`../fixtures/${name}`, import.meta.url), "utf8");

// Rutile TiO2, P4_2/mnm (No. 136), written as a database CIF would be: comments, a text field,
// quoted strings, uncertainties, the 16 operations with mixed spellings, labels with charges.
const RUTILE = `# Rutile, after Burdett et al. (1987)
data_rutile
_publ_section_title
;
 Structural-electronic relationships in inorganic solids:
 powder neutron diffraction studies of the rutile and anatase polymorphs
;
_journal_name_full 'Journal of the American Chemical Society'
_chemical_name_mineral "rutile"
_publ_author_name 'O'Keeffe, M.'   # a quote inside a quoted string
_cell_length_a    4.5937(3)
_cell_length_b    4.5937(3)
_cell_length_c    2.9587(2)
_cell_angle_alpha 90
_cell_angle_beta  90.
_cell_angle_gamma 90.000
_cell_volume      62.43
_symmetry_space_group_name_H-M 'P 42/m n m'
loop_
_space_group_symop_id
_space_group_symop_operation_xyz
1 x,y,z
2 -x,-y,z
3 '-y+1/2,x+1/2,z+1/2'
4 'y+1/2, -x+1/2, z+1/2'
5 "1/2-x, 1/2+y, 1/2-z"
6 x+1/2,-y+1/2,-z+1/2
7 y,x,-z
8 -y,-x,-z
9 -x,-y,-z
10 x,y,-z
11 y+0.5,-x+0.5,-z+0.5
12 -y+1/2,x+1/2,-z+1/2
13 x+1/2,-y+1/2,z+1/2
14 -x+1/2,y+1/2,z+1/2
15 -y,-x,z
16 y,x,z
loop_
_atom_site_label
_atom_site_fract_x
_atom_site_fract_y
_atom_site_fract_z
_atom_site_occupancy
_atom_site_U_iso_or_equiv
Ti4+ 0 0 0 1.0 0.0064(2)
O2- 0.30479(6) 0.30479(6) 0 1.0 ?
loop_
_atom_site_aniso_label
_atom_site_aniso_U_11
Ti4+ 0.0060(3)
`;

test("rutile TiO2 (P4_2/mnm, 16 operations) expands to 2 Ti + 4 O", () => {
  const [c, ...rest] = parseCif(RUTILE, { file: "rutile.cif" });
  assert.equal(rest.length, 0);
  assert.equal(c!.natoms, 6);
  assert.equal(c!.reducedFormula, "TiO2");
  const p = c!.lattice.parameters;
  assertClose(p.a, 4.5937, 1e-12, "a");
  assertClose(p.c, 2.9587, 1e-12, "c");
  // a along x: the cell is diagonal.
  assert.deepEqual(Array.from(c!.cell), [4.5937, 0, 0, 0, 4.5937, 0, 0, 0, 2.9587]);
  const u = 0.30479;
  assertSameSites(sortedSites(c!), [
    { s: "Ti", f: [0, 0, 0] },
    { s: "Ti", f: [0.5, 0.5, 0.5] },
    { s: "O", f: [u, u, 0] },
    { s: "O", f: [1 - u, 1 - u, 0] },
    { s: "O", f: [0.5 + u, 0.5 - u, 0.5] },
    { s: "O", f: [0.5 - u, 0.5 + u, 0.5] },
  ]);
});

test("pymatgen NaCl (Fm-3m, 192 operations) expands to 8 atoms", () => {
  // /usr/bin/python3: CifWriter(Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.6402), ["Na", "Cl"],
  //   [[0,0,0],[0.5,0.5,0.5]]), symprec=0.1).write_file(...); CifParser gives 8 sites, Na4 Cl4.
  const text = fixture("pymatgen-nacl.cif");
  assert.equal((text.match(/^\s+\d+\s+'/gm) ?? []).length, 192);
  const [c] = parseCif(text);
  assert.equal(c!.natoms, 8);
  assert.equal(c!.formula, "Na4Cl4");
  const na = [[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]];
  assertSameSites(sortedSites(c!), [
    ...na.map((f) => ({ s: "Na", f })),
    ...na.map((f) => ({ s: "Cl", f: f.map((x) => (x + 0.5) % 1) })),
  ]);
});

test("pymatgen SrTiO3 (Pm-3m, oxidation-state type symbols) gives the 5-atom cell", () => {
  // /usr/bin/python3, pymatgen 2022.11.7: Structure(Lattice.cubic(3.905), Sr Ti O O O at (0,0,0),
  // (.5,.5,.5), (.5,.5,0), (.5,0,.5), (0,.5,.5)) with oxidation states, CifWriter(s, symprec=0.1).
  // CifParser printed: (3.905, 3.905, 3.905) (90.0, 90.0, 90.0) 5 Sr2+1 Ti4+1 O2-3, sites
  // Sr2+ [0,0,0], Ti4+ [.5,.5,.5], O2- [0,.5,.5], [.5,0,.5], [.5,.5,0].
  const [c] = parseCif(fixture("pymatgen-srtio3.cif"), { file: "pymatgen-srtio3.cif" });
  assert.equal(c!.natoms, 5);
  assert.equal(c!.reducedFormula, "SrTiO3");
  for (const x of [c!.lattice.a, c!.lattice.b, c!.lattice.c]) assertClose(x, 3.905, 1e-12, "a");
  assertClose(c!.volume, 59.54744262, 1e-7, "volume");
  assertSameSites(sortedSites(c!), [
    { s: "Sr", f: [0, 0, 0] },
    { s: "Ti", f: [0.5, 0.5, 0.5] },
    { s: "O", f: [0, 0.5, 0.5] },
    { s: "O", f: [0.5, 0, 0.5] },
    { s: "O", f: [0.5, 0.5, 0] },
  ]);
});

test("pymatgen wurtzite ZnO (P6_3mc, hexagonal x-y operations)", () => {
  // /usr/bin/python3: Structure(Lattice.hexagonal(3.2495, 5.2069), Zn Zn O O at (1/3,2/3,0),
  // (2/3,1/3,1/2), (1/3,2/3,u), (2/3,1/3,1/2+u)), u = 0.3819, CifWriter(s, symprec=0.1).
  // CifParser printed abc (3.2495, 3.2495, 5.2069), angles (90, 90, 120), 4 sites, Zn2 O2.
  const [c] = parseCif(fixture("pymatgen-zno.cif"));
  assert.equal(c!.natoms, 4);
  const p = c!.lattice.parameters;
  assertClose(p.a, 3.2495, 1e-12, "a");
  assertClose(p.c, 5.2069, 1e-12, "c");
  assertClose(p.gamma, 120, 1e-9, "gamma");
  const u = 0.3819;
  // The CIF has 8 decimals (0.33333333), hence the tolerance.
  assertSameSites(
    sortedSites(c!),
    [
      { s: "Zn", f: [1 / 3, 2 / 3, 0] },
      { s: "Zn", f: [2 / 3, 1 / 3, 0.5] },
      { s: "O", f: [1 / 3, 2 / 3, u] },
      { s: "O", f: [2 / 3, 1 / 3, 0.5 + u] },
    ],
    1e-7,
  );
});

test("partial occupancy: keep a site of total occupancy >= 0.5, with its majority species", () => {
  const text = `data_disorder
_cell_length_a 4
_cell_length_b 4
_cell_length_c 4
_cell_angle_alpha 90
_cell_angle_beta 90
_cell_angle_gamma 90
loop_
_atom_site_label
_atom_site_type_symbol
_atom_site_fract_x
_atom_site_fract_y
_atom_site_fract_z
_atom_site_occupancy
Sr1 Sr 0.0 0.0 0.0 0.3
Fe1 Fe 0.5 0.5 0.5 0.6
Mn1 Mn 0.5 0.5 0.5 0.4
La1 La 0.5 0.0 0.0 0.45
Sr2 Sr 0.5 0.0 0.0 0.55
Co1 Co 0.0 0.5 0.0 0.4
Ni1 Ni 0.0 0.5 0.0 0.4
O1  O  0.25 0.25 0.25 0.50(2)
O2  O  0.75 0.75 0.75 0.49
O3  O  0.1 0.1 0.1 .
`;
  const [c] = parseCif(text);
  // Sr1 (0.3) and O2 (0.49) dropped; Fe beats Mn, Sr2 beats La, Co wins the Co/Ni tie (listed first).
  assert.deepEqual(c!.symbols, ["Fe", "Sr", "Co", "O", "O"]);
});

test("two data blocks give two crystals; a block without atoms is skipped", () => {
  const block = (name: string, a: number, el: string): string => `data_${name}
_cell_length_a ${a}
_cell_length_b ${a}
_cell_length_c ${a}
_cell_angle_alpha 90
_cell_angle_beta 90
_cell_angle_gamma 90
loop_
_atom_site_label
_atom_site_fract_x
_atom_site_fract_y
_atom_site_fract_z
${el}1 0 0 0
${el}2 0.5 0.5 0.5
`;
  const text = `data_global\n_journal_year 2024\n_publ_contact_author_name 'A. Author'\n${block("fe", 2.87, "Fe")}${block("cr", 2.91, "Cr")}`;
  const cs = parseCif(text);
  assert.equal(cs.length, 2);
  assert.deepEqual(cs[0]!.symbols, ["Fe", "Fe"]);
  assert.deepEqual(cs[1]!.symbols, ["Cr", "Cr"]);
  assertClose(cs[1]!.lattice.a, 2.91, 1e-12);
});

test("labels without type symbols, Cartesian coordinates, DDLm dotted tags", () => {
  const text = `data_x
_cell.length_a 5
_cell.length_b 6
_cell.length_c 7
_cell.angle_alpha 90
_cell.angle_beta 90
_cell.angle_gamma 90
loop_
_atom_site.label
_atom_site.Cartn_x
_atom_site.Cartn_y
_atom_site.Cartn_z
Sr1 0 0 0
O2- 2.5 3 3.5
Fe3+ 1 1 1
Cl12 4 4 4
`;
  const [c] = parseCif(text);
  assert.deepEqual(c!.symbols, ["Sr", "O", "Fe", "Cl"]);
  [0, 0, 0, 2.5, 3, 3.5, 1, 1, 1, 4, 4, 4].forEach((x, i) => assertClose(c!.positions[i]!, x, 1e-12, `position ${i}`));
});

test("elementOfLabel strips digits and charges", () => {
  const cases: [string, string | undefined][] = [
    ["O2-", "O"],
    ["Sr1", "Sr"],
    ["Fe3+", "Fe"],
    ["OW1", "O"],
    ["CL1", "Cl"],
    ["C12", "C"],
    ["Sr2+", "Sr"],
    ["Xx", undefined],
    ["12", undefined],
  ];
  for (const [label, el] of cases) assert.equal(elementOfLabel(label), el, label);
});

test("parseSymop reads the usual spellings", () => {
  assert.deepEqual(parseSymop("-x+1/2, y, z+0.25"), { rot: [-1, 0, 0, 0, 1, 0, 0, 0, 1], trans: [0.5, 0, 0.25] });
  assert.deepEqual(parseSymop("x-y,x,z+1/2"), { rot: [1, -1, 0, 1, 0, 0, 0, 0, 1], trans: [0, 0, 0.5] });
  assert.deepEqual(parseSymop("1/2+X, -Y+1/4 ,-z"), { rot: [1, 0, 0, 0, -1, 0, 0, 0, -1], trans: [0.5, 0.25, 0] });
  for (const bad of ["x,y", "x,y,", "x,y,w", "2x,y,z", "x y,y,z", "x,y,z+1/0", "x,x,z"]) {
    assert.throws(() => parseSymop(bad), RangeError, bad);
  }
});

test("P1 duplicates (wrap-around) are removed; P1 keeps coordinates as written", () => {
  const text = `data_d
_cell_length_a 3 _cell_length_b 3 _cell_length_c 3
_cell_angle_alpha 90 _cell_angle_beta 90 _cell_angle_gamma 90
loop_ _atom_site_type_symbol _atom_site_fract_x _atom_site_fract_y _atom_site_fract_z
Cu 1.2 0 0
Cu 0.2 0.9999 1.0002
Cu -0.3 0.5 0.5
`;
  const [c] = parseCif(text);
  assert.equal(c!.natoms, 2);
  assert.deepEqual(Array.from(c!.fractional()).map((x) => +x.toFixed(12)), [1.2, 0, 0, -0.3, 0.5, 0.5]);
});

test("malformed CIFs raise ParseError with file and line", () => {
  const good = `data_a
_cell_length_a 3
_cell_length_b 3
_cell_length_c 3
_cell_angle_alpha 90
_cell_angle_beta 90
_cell_angle_gamma 90
loop_
_atom_site_type_symbol
_atom_site_fract_x
_atom_site_fract_y
_atom_site_fract_z
Cu 0 0 0
`;
  assert.equal(parseCif(good).length, 1);
  const cases: [string, number | undefined, RegExp][] = [
    [good.replace("Cu 0 0 0", "Cu 0 0"), 8, /whole number of rows/],
    [good.replace("Cu 0 0 0", "Cu 0 abc 0"), 13, /_atom_site_fract_y/],
    [good.replace("Cu 0 0 0", "Cu 0 ? 0"), 13, /unknown/],
    [good.replace("Cu 0 0 0", "Qq 0 0 0"), 13, /no element/],
    [good.replace("_cell_length_b 3", "_cell_length_b ?"), 3, /unknown/],
    [good.replace("_cell_length_b 3\n", ""), 1, /_cell_length_b/],
    [good.replace(/_cell_angle_(\w+) 90/g, "_cell_angle_$1 150"), 2, /do not form a cell/],
    [good.replace("_cell_length_c 3", "_cell_length_c 'abc"), 4, /unterminated/],
    [good.replace("_cell_length_c 3", "_cell_length_c\n;\nnever closed"), 5, /never closed/],
    [good.replace("data_a\n", ""), 1, /before the first data_/],
    [good + "_cell_length_a 4\n", 14, /appears twice/],
    [good + "_dangling\n", 14, /no value/],
    [good.replace("Cu 0 0 0", ""), undefined, /no data block with atom sites/],
    ["", undefined, /no data block/],
    [good.replace("loop_\n", "loop_\n_symmetry_equiv_pos_as_xyz 'x,y'\nloop_\n"), 9, /3 comma-separated/],
  ];
  for (const [text, line, re] of cases) {
    assert.throws(
      () => parseCif(text, { file: "bad.cif" }),
      (e: unknown) => {
        assert.ok(e instanceof ParseError, `not a ParseError: ${e}`);
        assert.equal(e.file, "bad.cif");
        assert.equal(e.line, line, e.message);
        assert.match(e.reason, re);
        assert.ok(e.message.startsWith(line === undefined ? "bad.cif: " : `bad.cif:${line}: `), e.message);
        return true;
      },
    );
  }
});

test("round trip: formatCif then parseCif (triclinic, 1 atom, cubic perovskite)", () => {
  const perovskite = Crystal.fromFractional(Lattice.cubic(3.905), [0, 0, 0, 0.5, 0.5, 0.5, 0.5, 0.5, 0, 0.5, 0, 0.5, 0, 0.5, 0.5], [
    "Sr",
    "Ti",
    "O",
    "O",
    "O",
  ]);
  for (const c of [triclinic(1), triclinic(2), oneAtom(), perovskite]) {
    const text = formatCif(c, { name: "round trip" });
    assert.match(text, /^data_round_trip$/m);
    const [back, ...rest] = parseCif(text);
    assert.equal(rest.length, 0);
    assertSameCrystal(back!, c, 1e-8, 1e-6);
  }
  assert.match(formatCif(perovskite), /Sr1 .*\n.*Ti1 .*\n.*O1 .*\n.*O2 .*\n.*O3 /);
});

test("round trip of a rotated cell keeps parameters and fractional coordinates", () => {
  const c = triclinic(3);
  // Rotate the cell by swapping x and y: same crystal, different orientation.
  const m = c.cell;
  const rotated = Crystal.fromFractional([m[1]!, m[0]!, m[2]!, m[4]!, m[3]!, m[5]!, m[7]!, m[6]!, m[8]!], c.fractional(), c.numbers);
  const [back] = parseCif(formatCif(rotated));
  const p = rotated.lattice.parameters;
  const q = back!.lattice.parameters;
  for (const k of ["a", "b", "c", "alpha", "beta", "gamma"] as const) assertClose(q[k], p[k], 1e-9, k);
  const f0 = rotated.fractional();
  const f1 = back!.fractional();
  for (let i = 0; i < f0.length; i++) assertClose(f1[i]!, f0[i]!, 1e-10, `frac ${i}`);
});
