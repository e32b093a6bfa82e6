import { readStructure } from "../io/index.js";
import { calculatorFromName, calculatorNames } from "../calculators/registry.js";
import { calcOptions } from "./calc-options.js";
import { parse, positionals, table, UsageError } from "./usage.js";

export const summary = "energy (eV), forces (eV/Å) and stress (eV/Å³, Voigt) of a structure";

const help = () => `crystal-rl energy FILE --calc NAME [--calc-options JSON] [--json]

  ${summary}.
  Calculators:
${calculatorNames().map((c) => `    ${c.name.padEnd(10)} ${c.summary}`).join("\n")}`;

export async function energy(argv: string[]): Promise<string> {
  const { values, positionals: pos } = parse("energy", argv, {
    calc: { type: "string" },
    "calc-options": { type: "string" },
    json: { type: "boolean", default: false },
    help: { type: "boolean", short: "h" },
  });
  if (values.help) return help();
  const [file] = positionals("energy", pos, ["file"]);
  if (!values.calc) throw new UsageError("energy: --calc NAME is required");
  const crystal = await readStructure(file!);
  const calc = calculatorFromName(values.calc, calcOptions("energy", values["calc-options"]));
  try {
    const r = await calc.compute(crystal, { forces: true, stress: true });
    const forces = Array.from({ length: crystal.natoms }, (_, i) => Array.from(r.forces!.subarray(3 * i, 3 * i + 3)));
    const stress = Array.from(r.stress ?? []);
    if (values.json) return JSON.stringify({ energy: r.energy, forces, stress }, null, 2);
    let fmax = 0;
    for (const f of forces) fmax = Math.max(fmax, Math.hypot(f[0]!, f[1]!, f[2]!));
    return table([
      ["structure", `${file} (${crystal.formula}, ${crystal.natoms} atoms)`],
      ["calculator", calc.name],
      ["energy", `${r.energy.toFixed(6)} eV (${(r.energy / crystal.natoms).toFixed(6)} eV/atom)`],
      ["fmax", `${fmax.toFixed(6)} eV/Å`],
      ["stress", `${stress.map((s) => s.toExponential(4)).join(" ")} eV/Å³ (xx yy zz yz xz xy)`],
    ]);
  } finally {
    await calc.close?.();
  }
}
