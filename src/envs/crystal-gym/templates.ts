import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parseCif } from "../../io/cif.js";
import { Crystal } from "../../structure/crystal.js";
import { Lattice, type LatticeParameters } from "../../structure/lattice.js";

/**
 * CrystalGym templates: a fixed lattice and fixed sites whose species the agent chooses (spec §1.1,
 * §2). The paper draws cubic crystals of 4–8 sites from MP-20's validation split, which is not at hand
 * (spec §2: val.csv is absent), so the shipped templates are cubic prototypes of 2–8 sites with the
 * lattice of a representative real compound (data/templates/cubic.json, each cited there). Their space
 * groups (221, 225, 216, 215) are those of the paper's pools except F-43m (216, zincblende).
 *
 * Unlike the paper, templates are not Niggli-reduced: the shipped ones are already primitive or
 * deliberately conventional, and a CIF template keeps the cell it was written in.
 */
export interface CrystalTemplate {
  readonly name: string;
  readonly description: string;
  /** Hermann–Mauguin symbol ("Pm-3m"), or "unknown" for a CIF that does not say. */
  readonly spaceGroup: string;
  /** International Tables number, or null when unknown. */
  readonly spaceGroupNumber: number | null;
  /** The real compound the lattice comes from ("SrTiO3"), or the CIF's reduced formula. */
  readonly compound: string;
  /** Where the lattice constant comes from (a citation, or the CIF file). */
  readonly source: string;
  readonly lattice: LatticeParameters;
  /** Fractional coordinates, 3 per site. */
  readonly fractional: Float64Array;
  /** The compound's species on each site, for reference (the environment blanks them). */
  readonly species: readonly string[];
  /** The template with its original species: lattice, Cartesian positions (Å) and site order. */
  readonly crystal: Crystal;
}

/** The most sites a template may have (spec §2: MP-20 holds crystals of at most 20 atoms). */
export const MAX_TEMPLATE_SITES = 20;

interface TemplateRecord {
  name: string;
  description: string;
  spaceGroup: string;
  spaceGroupNumber: number;
  compound: string;
  a: number;
  source: string;
  cell: "cubic" | "fcc-primitive";
  sites: [string, number, number, number][];
}

const DATA_FILE = fileURLToPath(new URL("../../../data/templates/cubic.json", import.meta.url));

function cellOf(record: TemplateRecord): Lattice {
  switch (record.cell) {
    case "cubic":
      return Lattice.cubic(record.a);
    case "fcc-primitive": {
      // The primitive vectors of a face-centred cube, (0,½,½)a, (½,0,½)a, (½,½,0)a: a/√2 at 60°.
      const p = record.a / Math.SQRT2;
      return Lattice.fromParameters(p, p, p, 60, 60, 60);
    }
    default:
      throw new RangeError(`${DATA_FILE}: template "${record.name}" has unknown cell "${String(record.cell)}"`);
  }
}

function fromRecord(record: TemplateRecord): CrystalTemplate {
  const fractional = Float64Array.from(record.sites.flatMap(([, x, y, z]) => [x, y, z]));
  const species = record.sites.map(([s]) => s);
  const crystal = Crystal.fromFractional(cellOf(record), fractional, species);
  return freeze({
    name: record.name,
    description: record.description,
    spaceGroup: record.spaceGroup,
    spaceGroupNumber: record.spaceGroupNumber,
    compound: record.compound,
    source: record.source,
    lattice: crystal.lattice.parameters,
    fractional,
    species,
    crystal,
  });
}

function freeze(t: CrystalTemplate): CrystalTemplate {
  Object.freeze(t.lattice);
  Object.freeze(t.species);
  return Object.freeze(t);
}

function load(): CrystalTemplate[] {
  const json = JSON.parse(readFileSync(DATA_FILE, "utf8")) as { templates: TemplateRecord[] };
  return json.templates.map(fromRecord);
}

/**
 * The shipped templates, smallest first within each family: perovskite (5 sites), cesium-chloride
 * (2), rocksalt (2), zincblende (2), fluorite (3), heusler (4), sulvanite (8), rocksalt-conventional
 * (8), zincblende-conventional (8).
 */
export const TEMPLATES: readonly CrystalTemplate[] = Object.freeze(load());

/** A shipped template by name; a RangeError listing the names otherwise. */
export function template(name: string): CrystalTemplate {
  const t = TEMPLATES.find((x) => x.name === name);
  if (!t) throw new RangeError(`unknown CrystalGym template "${name}"; known: ${TEMPLATES.map((x) => x.name).join(", ")}`);
  return t;
}

/**
 * A template from a crystal: its lattice, its sites in order and its species (for reference).
 * A RangeError when it has no sites or more than MAX_TEMPLATE_SITES.
 */
export function templateFromCrystal(
  crystal: Crystal,
  meta: Partial<Pick<CrystalTemplate, "name" | "description" | "spaceGroup" | "spaceGroupNumber" | "compound" | "source">> = {},
): CrystalTemplate {
  const name = meta.name ?? crystal.reducedFormula;
  checkSites(name, crystal.natoms);
  return freeze({
    name,
    description: meta.description ?? `${crystal.formula}, ${crystal.natoms} sites`,
    spaceGroup: meta.spaceGroup ?? "unknown",
    spaceGroupNumber: meta.spaceGroupNumber ?? null,
    compound: meta.compound ?? crystal.reducedFormula,
    source: meta.source ?? "a Crystal",
    lattice: crystal.lattice.parameters,
    fractional: crystal.fractional(),
    species: crystal.symbols,
    crystal,
  });
}

function checkSites(where: string, n: number): void {
  if (n === 0) throw new RangeError(`${where}: a template needs at least one site`);
  if (n > MAX_TEMPLATE_SITES) {
    throw new RangeError(`${where}: ${n} sites; a CrystalGym template has at most ${MAX_TEMPLATE_SITES} (MP-20, spec §2)`);
  }
}

/**
 * A template from a CIF: a file path, or the CIF text itself (anything with a line break). The first data block with atoms is used, symmetry-expanded by parseCif; the cell is
 * kept as written (no Niggli reduction). Errors name the file: a ParseError for a malformed CIF or one
 * without atom sites, a RangeError for more than MAX_TEMPLATE_SITES sites.
 */
export function templateFromCif(pathOrText: string, options: { name?: string } = {}): CrystalTemplate {
  const isText = /[\r\n]/.test(pathOrText);
  const file = isText ? "<cif text>" : pathOrText;
  let text = pathOrText;
  if (!isText) {
    try {
      text = readFileSync(pathOrText, "utf8");
    } catch (e) {
      throw new RangeError(`cannot read CIF template ${pathOrText}: ${(e as Error).message}`);
    }
  }
  const crystal = parseCif(text, { file })[0]!;
  checkSites(file, crystal.natoms);
  const { symbol, number } = spaceGroupOf(text);
  const base = isText ? crystal.reducedFormula : pathOrText.replace(/^.*[\\/]/, "").replace(/\.cif$/i, "");
  return templateFromCrystal(crystal, {
    name: options.name ?? base,
    description: `${crystal.formula} from ${file}, ${crystal.natoms} sites`,
    spaceGroup: symbol,
    spaceGroupNumber: number,
    source: file,
  });
}

/** The space group a CIF declares (old or new tag names), "unknown"/null where it declares none. */
function spaceGroupOf(text: string): { symbol: string; number: number | null } {
  const sym = /^\s*_(?:symmetry_space_group_name_H-M|space_group_name_H-M_alt)\s+(['"]?)(.+?)\1\s*$/im.exec(text);
  const num = /^\s*_(?:symmetry_Int_Tables_number|space_group_IT_number)\s+(\d+)\s*$/im.exec(text);
  return { symbol: sym ? sym[2]!.trim() : "unknown", number: num ? Number(num[1]) : null };
}
