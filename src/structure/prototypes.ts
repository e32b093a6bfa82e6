import { Crystal } from "./crystal.js";
import { isElementSymbol } from "./elements.js";
import { Lattice } from "./lattice.js";

/**
 * Conventional cells of common structure prototypes, for given species and lattice constants.
 * Atoms come grouped by role, in the order of the arguments (e.g. rocksalt: 4 cations, then 4 anions),
 * at fractional coordinates wrapped into [0, 1). Lattice vectors: a along x, b along y, c along z.
 *
 * Example constants in the doc comments are room-temperature experimental values, rounded as commonly
 * quoted; they are examples, not defaults (except rutile's u and spinel's u, which are typical values).
 * Nearest-neighbour distances agree with ASE 3.22.1 `ase.build.bulk` and pymatgen 2022.11.7
 * `Structure.from_spacegroup` (test/structure/prototypes.test.ts).
 */

/** Fractional translations of a face-centred (F) lattice. */
const F_CENTRING: ReadonlyArray<readonly [number, number, number]> = [
  [0, 0, 0],
  [0, 0.5, 0.5],
  [0.5, 0, 0.5],
  [0.5, 0.5, 0],
];

type Frac = readonly [number, number, number];

/** Every site plus every centring translation, wrapped into [0, 1). */
function centred(sites: readonly Frac[], centring: readonly Frac[] = F_CENTRING): Frac[] {
  const out: Frac[] = [];
  for (const s of sites) for (const t of centring) out.push([wrap(s[0] + t[0]), wrap(s[1] + t[1]), wrap(s[2] + t[2])]);
  return out;
}

function wrap(x: number): number {
  const y = x - Math.floor(x);
  // 0.9999999999999999 and 1e-17 are both 0: keep coordinates canonical.
  return y > 1 - 1e-12 || y < 1e-12 ? 0 : y;
}

/** Builds a crystal from groups of (species, fractional sites). */
function build(lattice: Lattice, groups: ReadonlyArray<readonly [string, readonly Frac[]]>): Crystal {
  const frac: number[] = [];
  const symbols: string[] = [];
  for (const [symbol, sites] of groups) {
    for (const s of sites) {
      frac.push(wrap(s[0]), wrap(s[1]), wrap(s[2]));
      symbols.push(symbol);
    }
  }
  return Crystal.fromFractional(lattice, frac, symbols);
}

function checkSpecies(prototype: string, species: Record<string, string>): void {
  for (const [role, s] of Object.entries(species)) {
    if (!isElementSymbol(s)) throw new RangeError(`${prototype}: ${role} "${s}" is not an element symbol`);
  }
}

function checkLength(prototype: string, name: string, x: number): void {
  if (!(x > 0) || !Number.isFinite(x)) throw new RangeError(`${prototype}: lattice constant ${name} must be a positive number of Å, got ${x}`);
}

function checkFraction(prototype: string, name: string, x: number, lo: number, hi: number): void {
  if (!(x > lo && x < hi)) throw new RangeError(`${prototype}: ${name} must lie in (${lo}, ${hi}), got ${x}`);
}

/**
 * Rocksalt (B1, Fm-3m, NaCl type): cation on 4a (0,0,0), anion on 4b (1/2,1/2,1/2); 8 atoms.
 * Example: NaCl a = 5.64 Å (Wyckoff, Crystal Structures vol. 1, 2nd ed., 1963); nearest cation–anion
 * distance a/2.
 */
export function rocksalt(cation: string, anion: string, a: number): Crystal {
  checkSpecies("rocksalt", { cation, anion });
  checkLength("rocksalt", "a", a);
  return build(Lattice.cubic(a), [
    [cation, centred([[0, 0, 0]])],
    [anion, centred([[0.5, 0.5, 0.5]])],
  ]);
}

/**
 * Caesium chloride (B2, Pm-3m): `a` at (0,0,0), `b` at (1/2,1/2,1/2); 2 atoms.
 * Example: CsCl a0 = 4.123 Å (Wyckoff 1963); nearest a–b distance a0·√3/2.
 */
export function cesiumChloride(a: string, b: string, a0: number): Crystal {
  checkSpecies("cesiumChloride", { a, b });
  checkLength("cesiumChloride", "a0", a0);
  return build(Lattice.cubic(a0), [
    [a, [[0, 0, 0]]],
    [b, [[0.5, 0.5, 0.5]]],
  ]);
}

/**
 * Cubic perovskite ABX3 (Pm-3m, E2_1): A on 1a (0,0,0), B on 1b at the body centre, X on 3c (face
 * centres (1/2,1/2,0), (1/2,0,1/2), (0,1/2,1/2)); 5 atoms.
 * Example: SrTiO3 a = 3.905 Å (room temperature; macs-spec §8.3); Ti–O = a/2 = 1.9525 Å.
 */
export function perovskite(A: string, B: string, X: string, a: number): Crystal {
  checkSpecies("perovskite", { A, B, X });
  checkLength("perovskite", "a", a);
  return build(Lattice.cubic(a), [
    [A, [[0, 0, 0]]],
    [B, [[0.5, 0.5, 0.5]]],
    [
      X,
      [
        [0.5, 0.5, 0],
        [0.5, 0, 0.5],
        [0, 0.5, 0.5],
      ],
    ],
  ]);
}

/**
 * Fluorite (C1, Fm-3m, CaF2 type): cation on 4a (0,0,0), anion on 8c (1/4,1/4,1/4) and (3/4,3/4,3/4);
 * 12 atoms. Example: CaF2 a = 5.463 Å (Wyckoff 1963); Ca–F = a·√3/4 = 2.3655 Å.
 */
export function fluorite(cation: string, anion: string, a: number): Crystal {
  checkSpecies("fluorite", { cation, anion });
  checkLength("fluorite", "a", a);
  return build(Lattice.cubic(a), [
    [cation, centred([[0, 0, 0]])],
    [
      anion,
      centred([
        [0.25, 0.25, 0.25],
        [0.75, 0.75, 0.75],
      ]),
    ],
  ]);
}

/**
 * Zincblende (sphalerite, B3, F-43m): cation on 4a (0,0,0), anion on 4c (1/4,1/4,1/4); 8 atoms.
 * Example: ZnS a = 5.409 Å (Wyckoff 1963); Zn–S = a·√3/4 = 2.342 Å.
 */
export function zincblende(cation: string, anion: string, a: number): Crystal {
  checkSpecies("zincblende", { cation, anion });
  checkLength("zincblende", "a", a);
  return build(Lattice.cubic(a), [
    [cation, centred([[0, 0, 0]])],
    [anion, centred([[0.25, 0.25, 0.25]])],
  ]);
}

/**
 * Rutile (C4, P4_2/mnm, no. 136): cation on 2a (0,0,0), (1/2,1/2,1/2); anion on 4f (u,u,0), (-u,-u,0),
 * (1/2+u,1/2-u,1/2), (1/2-u,1/2+u,1/2); 6 atoms.
 * Example: TiO2 a = 4.594 Å, c = 2.959 Å, u = 0.305 (Abrahams & Bernstein, J. Chem. Phys. 55, 3206
 * (1971): a = 4.5937, c = 2.9587, x = 0.30479); 4 Ti–O at 1.948 Å and 2 at 1.982 Å.
 */
export function rutile(cation: string, anion: string, a: number, c: number, u = 0.305): Crystal {
  checkSpecies("rutile", { cation, anion });
  checkLength("rutile", "a", a);
  checkLength("rutile", "c", c);
  checkFraction("rutile", "u", u, 0, 0.5);
  return build(Lattice.fromParameters(a, a, c, 90, 90, 90), [
    [
      cation,
      [
        [0, 0, 0],
        [0.5, 0.5, 0.5],
      ],
    ],
    [
      anion,
      [
        [u, u, 0],
        [-u, -u, 0],
        [0.5 + u, 0.5 - u, 0.5],
        [0.5 - u, 0.5 + u, 0.5],
      ],
    ],
  ]);
}

/**
 * Normal spinel AB2X4 (H1_1, Fd-3m, no. 227), conventional cubic cell of 56 atoms, in **origin choice 2**
 * (origin at the centre of symmetry, -3m; pymatgen's `"Fd-3m:2"`): A on 8a (1/8,1/8,1/8), B on 16d
 * (1/2,1/2,1/2), X on 32e (u,u,u). The ideal close-packed anion lattice has u = 1/4 here; origin choice
 * 1 (pymatgen's plain `"Fd-3m"`) writes the same structure with u + 1/8 (ideal 3/8).
 * A–X = a·√3·(u − 1/8); B–X = a·√(3u² − 2u + 3/8).
 * Example: MgAl2O4 a = 8.08 Å, u ≈ 0.262 in this setting (approximate literature values, cf. Finger,
 * Hazen & Hofmeister, Phys. Chem. Minerals 13, 215 (1986); check the setting before copying a u:
 * origin-choice-1 papers quote ≈ 0.387), giving Mg–O = 1.917 Å and Al–O = 1.928 Å.
 * Default u = 0.263, a typical oxide-spinel value.
 */
export function spinel(A: string, B: string, X: string, a: number, u = 0.263): Crystal {
  checkSpecies("spinel", { A, B, X });
  checkLength("spinel", "a", a);
  // The 32e sites merge with other sites at u = 0 and 1/8; keep to the physical neighbourhood of 1/4.
  checkFraction("spinel", "u", u, 0.125, 0.375);
  const x = u;
  // International Tables A, no. 227, origin choice 2: coordinates before the F-centring translations.
  const a8: Frac[] = [
    [1 / 8, 1 / 8, 1 / 8],
    [7 / 8, 3 / 8, 3 / 8],
  ];
  const d16: Frac[] = [
    [1 / 2, 1 / 2, 1 / 2],
    [1 / 4, 3 / 4, 0],
    [3 / 4, 0, 1 / 4],
    [0, 1 / 4, 3 / 4],
  ];
  const e32: Frac[] = [
    [x, x, x],
    [-x + 3 / 4, -x + 1 / 4, x + 1 / 2],
    [-x + 1 / 4, x + 1 / 2, -x + 3 / 4],
    [x + 1 / 2, -x + 3 / 4, -x + 1 / 4],
    [-x, -x, -x],
    [x + 1 / 4, x + 3 / 4, -x + 1 / 2],
    [x + 3 / 4, -x + 1 / 2, x + 1 / 4],
    [-x + 1 / 2, x + 1 / 4, x + 3 / 4],
  ];
  return build(Lattice.cubic(a), [
    [A, centred(a8)],
    [B, centred(d16)],
    [X, centred(e32)],
  ]);
}

/** Names accepted by `prototype()`. */
export type PrototypeName = "rocksalt" | "cesiumChloride" | "perovskite" | "fluorite" | "zincblende" | "rutile" | "spinel";

/** What `prototype()` needs for one prototype, with a worked example. */
export interface PrototypeInfo {
  readonly name: PrototypeName;
  /** Strukturbericht / common name and space group. */
  readonly description: string;
  /** Roles of the species, in argument order. */
  readonly roles: readonly string[];
  /** Parameter names; those in `defaults` may be left out. */
  readonly params: readonly string[];
  readonly defaults: Readonly<Record<string, number>>;
  /** Atoms in the conventional cell. */
  readonly atoms: number;
  /** Atoms per role in the conventional cell. */
  readonly counts: readonly number[];
  readonly example: { readonly species: readonly string[]; readonly params: Readonly<Record<string, number>> };
}

/** The prototypes, with their roles, parameters and an example each (constants as cited on each function). */
const PROTOTYPE_LIST: PrototypeInfo[] = [
  {
    name: "rocksalt",
    description: "rocksalt, B1, Fm-3m (225)",
    roles: ["cation", "anion"],
    params: ["a"],
    defaults: {},
    atoms: 8,
    counts: [4, 4],
    example: { species: ["Na", "Cl"], params: { a: 5.64 } },
  },
  {
    name: "cesiumChloride",
    description: "caesium chloride, B2, Pm-3m (221)",
    roles: ["a", "b"],
    params: ["a"],
    defaults: {},
    atoms: 2,
    counts: [1, 1],
    example: { species: ["Cs", "Cl"], params: { a: 4.123 } },
  },
  {
    name: "perovskite",
    description: "cubic perovskite ABX3, E2_1, Pm-3m (221)",
    roles: ["A", "B", "X"],
    params: ["a"],
    defaults: {},
    atoms: 5,
    counts: [1, 1, 3],
    example: { species: ["Sr", "Ti", "O"], params: { a: 3.905 } },
  },
  {
    name: "fluorite",
    description: "fluorite, C1, Fm-3m (225)",
    roles: ["cation", "anion"],
    params: ["a"],
    defaults: {},
    atoms: 12,
    counts: [4, 8],
    example: { species: ["Ca", "F"], params: { a: 5.463 } },
  },
  {
    name: "zincblende",
    description: "zincblende (sphalerite), B3, F-43m (216)",
    roles: ["cation", "anion"],
    params: ["a"],
    defaults: {},
    atoms: 8,
    counts: [4, 4],
    example: { species: ["Zn", "S"], params: { a: 5.409 } },
  },
  {
    name: "rutile",
    description: "rutile, C4, P4_2/mnm (136)",
    roles: ["cation", "anion"],
    params: ["a", "c", "u"],
    defaults: { u: 0.305 },
    atoms: 6,
    counts: [2, 4],
    example: { species: ["Ti", "O"], params: { a: 4.594, c: 2.959, u: 0.305 } },
  },
  {
    name: "spinel",
    description: "normal spinel AB2X4, H1_1, Fd-3m (227), origin choice 2",
    roles: ["A", "B", "X"],
    params: ["a", "u"],
    defaults: { u: 0.263 },
    atoms: 56,
    counts: [8, 16, 32],
    example: { species: ["Mg", "Al", "O"], params: { a: 8.08, u: 0.262 } },
  },
];
export const PROTOTYPES: readonly PrototypeInfo[] = Object.freeze(PROTOTYPE_LIST);

/**
 * A prototype by name: `prototype("perovskite", ["Sr", "Ti", "O"], { a: 3.905 })`.
 * Throws a RangeError naming what is wrong: an unknown name, the wrong number of species, or a
 * missing or unknown parameter.
 */
export function prototype(name: string, species: readonly string[], params: Readonly<Record<string, number>>): Crystal {
  const info = PROTOTYPES.find((p) => p.name === name);
  if (!info) {
    throw new RangeError(`unknown prototype "${name}"; known: ${PROTOTYPES.map((p) => p.name).join(", ")}`);
  }
  if (species.length !== info.roles.length) {
    throw new RangeError(`${name} takes ${info.roles.length} species (${info.roles.join(", ")}), got ${species.length}`);
  }
  for (const k of Object.keys(params)) {
    if (!info.params.includes(k)) throw new RangeError(`${name} has no parameter "${k}"; it takes ${info.params.join(", ")}`);
  }
  const p: Record<string, number> = { ...info.defaults, ...params };
  for (const k of info.params) {
    if (p[k] === undefined) throw new RangeError(`${name} needs parameter "${k}" (it takes ${info.params.join(", ")})`);
  }
  const s = (i: number): string => species[i]!;
  const v = (k: string): number => p[k]!;
  switch (info.name) {
    case "rocksalt":
      return rocksalt(s(0), s(1), v("a"));
    case "cesiumChloride":
      return cesiumChloride(s(0), s(1), v("a"));
    case "perovskite":
      return perovskite(s(0), s(1), s(2), v("a"));
    case "fluorite":
      return fluorite(s(0), s(1), v("a"));
    case "zincblende":
      return zincblende(s(0), s(1), v("a"));
    case "rutile":
      return rutile(s(0), s(1), v("a"), v("c"), v("u"));
    case "spinel":
      return spinel(s(0), s(1), s(2), v("a"), v("u"));
  }
}
