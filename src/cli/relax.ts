import { readStructure, writeStructures } from "../io/index.js";
import type { Calculator } from "../calculators/calculator.js";
import type { Method } from "../experiment/index.js";
import type { Crystal } from "../structure/crystal.js";
import { calculatorFromName, calculatorNames } from "../calculators/registry.js";
import { optimizerFromName, optimizerNames } from "../optimizers/index.js";
import { calcOptions } from "./calc-options.js";
import { macsMethod } from "./bench.js";
import { numberOption, parse, positionals, table, UsageError } from "./usage.js";

export const summary = "relax a structure with a classical optimiser (fixed cell, or --cell)";

const help = () => `crystal-rl relax FILE --calc NAME --optimizer NAME [--fmax 0.05] [--steps 1000]
                  [--cell] [--calc-options JSON] [--out FILE] [--trajectory FILE.extxyz] [--json]
                  [--policy PATH]  (with --optimizer macs)

  ${summary}. fmax is the largest per-atom force norm (ASE's definition), eV/Å.
  --out writes the relaxed structure (format by extension); --trajectory every step (extended XYZ).
  JSON keys: converged, steps, forceCalls, energy, fmax, seconds.
  Optimizers:
    ${"macs".padEnd(12)} the MACS policy in --policy PATH (a training folder or checkpoint); fixed cell only
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
    policy: { type: "string" },
    help: { type: "boolean", short: "h" },
  });
  if (values.help) return help();
  const [file] = positionals("relax", pos, ["file"]);
  if (!values.calc) throw new UsageError("relax: --calc NAME is required");
  const fmax = numberOption("relax", "fmax", values.fmax, { min: 0 })!;
  const steps = numberOption("relax", "steps", values.steps, { integer: true, min: 0 })!;
  const isMacs = values.optimizer === "macs";
  if (isMacs && values.cell) throw new UsageError("relax: --optimizer macs relaxes the atoms only; it cannot take --cell");
  if (!isMacs && values.policy !== undefined) throw new UsageError("relax: --policy goes with --optimizer macs only");
  const spec = isMacs
    ? null
    : optimizerFromName(values.optimizer!, {
        ...(values.cell ? { cell: true } : {}),
        ...(values.trajectory ? { trajectory: values.trajectory } : {}),
      });
  const method = isMacs ? await macsMethod("relax", values.policy) : null;
  const crystal = await readStructure(file!);
  const calc = calculatorFromName(values.calc, calcOptions("relax", values["calc-options"]));
  try {
    const r = spec ? await spec.create(crystal, calc).run({ fmax, steps }) : await relaxWith(method!, crystal, calc, fmax, steps, values.trajectory);
    if (values.out) await writeStructures(values.out, [r.crystal]);
    const result = { converged: r.converged, steps: r.steps, forceCalls: r.forceCalls, energy: r.energy, fmax: r.fmax, seconds: r.seconds };
    if (values.json) return JSON.stringify(result, null, 2);
    return table([
      ["structure", `${file} (${crystal.formula}, ${crystal.natoms} atoms)`],
      ["method", `${spec?.name ?? `macs (${values.policy})`}${values.cell ? " + cell" : ""} on ${calc.name}, fmax ${fmax} eV/Å, at most ${steps} steps`],
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

/** Runs a Method (MACS through the experiment layer's adapter) to the end, timed as the optimisers time themselves. */
async function relaxWith(method: Method, crystal: Crystal, calc: Calculator, fmax: number, steps: number, trajectory: string | undefined) {
  const t0 = performance.now();
  const relaxation = method.evaluate(crystal, calc, { fmax, steps, seed: 0, index: 0, ...(trajectory ? { trajectory } : {}) });
  for (;;) {
    const next = await relaxation.next();
    if (next.done) {
      const o = next.value;
      return { ...o, crystal: o.crystal ?? crystal, seconds: (performance.now() - t0) / 1000 };
    }
  }
}
