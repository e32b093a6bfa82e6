import type { Crystal } from "../structure/crystal.js";
import { readStructures } from "../io/index.js";
import { numberOption, parse, positionals, table } from "./usage.js";

export const summary = "print formula, atom count, volume, density and lattice parameters of a structure file";

const HELP = `crystal-rl info FILE [--json] [--index N]

  ${summary}.
  FILE is CIF, POSCAR/CONTCAR (.vasp) or extended XYZ; a file with several structures
  prints each, unless --index picks one (0-based).`;

/** The facts `info` prints, with the JSON keys users script against. */
export function describe(c: Crystal) {
  const p = c.lattice.parameters;
  return {
    formula: c.formula,
    reducedFormula: c.reducedFormula,
    natoms: c.natoms,
    volume: c.volume,
    density: c.density,
    a: p.a,
    b: p.b,
    c: p.c,
    alpha: p.alpha,
    beta: p.beta,
    gamma: p.gamma,
  };
}

export async function info(argv: string[]): Promise<string> {
  const { values, positionals: pos } = parse("info", argv, {
    json: { type: "boolean", default: false },
    index: { type: "string" },
    help: { type: "boolean", short: "h" },
  });
  if (values.help) return HELP;
  const [file] = positionals("info", pos, ["file"]);
  let crystals = await readStructures(file!);
  const index = numberOption("info", "index", values.index, { integer: true, min: 0 });
  if (index !== undefined) {
    const c = crystals[index];
    if (!c) throw new RangeError(`${file}: --index ${index} is out of range (the file holds ${crystals.length} structure(s))`);
    crystals = [c];
  }
  const facts = crystals.map(describe);
  if (values.json) return JSON.stringify(facts.length === 1 ? facts[0] : facts, null, 2);
  const f = (x: number, d: number) => x.toFixed(d);
  return facts
    .map((d, k) =>
      table([
        ...(facts.length > 1 ? ([["structure", `${index ?? k} of ${crystals.length}`]] as [string, string][]) : []),
        ["formula", `${d.formula} (reduced ${d.reducedFormula})`],
        ["atoms", String(d.natoms)],
        ["volume", `${f(d.volume, 4)} Å³ (${f(d.volume / d.natoms, 3)} Å³/atom)`],
        ["density", `${f(d.density, 4)} g/cm³`],
        ["a b c", `${f(d.a, 5)} ${f(d.b, 5)} ${f(d.c, 5)} Å`],
        ["α β γ", `${f(d.alpha, 4)} ${f(d.beta, 4)} ${f(d.gamma, 4)} °`],
      ]),
    )
    .join("\n\n");
}
