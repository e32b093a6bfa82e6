import { readStructure, writeStructures } from "../io/index.js";
import { calculatorFromName, calculatorNames } from "../calculators/registry.js";
import { optimizerFromName, optimizerNames } from "../optimizers/index.js";
import { calcOptions } from "./calc-options.js";
import { numberOption, parse, positionals, table, UsageError } from "./usage.js";

export const summary = "relax a structure with a classical optimiser (fixed cell, or --cell)";

const help = () => `crystal-rl relax FILE --calc NAME --optimizer NAME [--fmax 0.05] [--steps 1000]
                  [--cell] [--calc-options JSON] [--out FILE] [--trajectory FILE.extxyz] [--json]

  ${summary}. fmax is the largest per-atom force norm (ASE's definition), eV/Å.
  --out writes the relaxed structure (format by extension); --trajectory every step (extended XYZ).
  JSON keys: converged, steps, forceCalls, energy, fmax, seconds.
  Optimizers:
${optimizerNames().map((o) => `    ${o.name.padEnd(12)} ${o.summary}`).join("\n")}
  Calculators:
${calculatorNames().map((c) => `    ${c.name.padEnd(12)} ${c.summary}`).join("\n")}`;

export async function relax(argv: string[]): Promise<string> {
  const { values, positionals: pos } = parse("relax", argv, {
    calc: { type: "string" },
    "calc-options": { type: "string" },
    optimizer: { type: "string", default: "fire" },
    fmax: { type: "string", default: "0.05" },
    steps: { type: "string", default: "1000" },
    cell: { type: "boolean", default: false },
    out: { type: "string" },
    trajectory: { type: "string" },
    json: { type: "boolean", default: false },
    help: { type: "boolean", short: "h" },
  });
  if (values.help) return help();
  const [file] = positionals("relax", pos, ["file"]);
  if (!values.calc) throw new UsageError("relax: --calc NAME is required");
  const fmax = numberOption("relax", "fmax", values.fmax, { min: 0 })!;
  const steps = numberOption("relax", "steps", values.steps, { integer: true, min: 0 })!;
  const spec = optimizerFromName(values.optimizer!, {
    ...(values.cell ? { cell: true } : {}),
    ...(values.trajectory ? { trajectory: values.trajectory } : {}),
  });
  const crystal = await readStructure(file!);
  const calc = calculatorFromName(values.calc, calcOptions("relax", values["calc-options"]));
  try {
    const r = await spec.create(crystal, calc).run({ fmax, steps });
    if (values.out) await writeStructures(values.out, [r.crystal]);
    const result = { converged: r.converged, steps: r.steps, forceCalls: r.forceCalls, energy: r.energy, fmax: r.fmax, seconds: r.seconds };
    if (values.json) return JSON.stringify(result, null, 2);
    return table([
      ["structure", `${file} (${crystal.formula}, ${crystal.natoms} atoms)`],
      ["method", `${spec.name}${values.cell ? " + cell" : ""} on ${calc.name}, fmax ${fmax} eV/Å, at most ${steps} steps`],
      ["converged", r.converged ? "yes" : "no"],
      ["steps", String(r.steps)],
      ["force calls", String(r.forceCalls)],
      ["energy", `${r.energy.toFixed(6)} eV`],
      ["fmax", `${r.fmax.toFixed(6)} eV/Å`],
      ["seconds", r.seconds.toFixed(3)],
      ...(values.out ? ([["written", values.out]] as [string, string][]) : []),
    ]);
  } finally {
    await calc.close?.();
  }
}
