import type { Calculator } from "./calculator.js";
import { emt } from "./emt.js";
import { aseCalculator, type AseCalculatorOptions } from "./external/ase-bridge.js";
import { lammps, type LammpsOptions } from "./external/lammps.js";
import { ionic } from "./ionic.js";
import { lj } from "./lj.js";
import { morse } from "./morse.js";

/** Calculators by the names the CLI and the experiment builders use. */
const FACTORIES: Record<string, { make: (options: Record<string, unknown>) => Calculator; summary: string }> = {
  lj: { make: (o) => lj(o), summary: "Lennard-Jones (ASE's conventions; epsilon, sigma, rc, smooth)" },
  morse: { make: (o) => morse(o), summary: "Morse with a quintic switch (ASE's MorsePotential)" },
  emt: { make: (o) => emt(o), summary: "effective-medium theory: Al Cu Ag Au Ni Pd Pt, H C N O (ASE's EMT)" },
  ionic: { make: (o) => ionic(o), summary: "Pedone et al. (2006) rigid-ion oxide model: Ewald + Morse + C/r^12 (MACS default)" },
  lammps: {
    make: (o) => {
      if (typeof o.pairStyle !== "string" || !Array.isArray(o.pairCoeffs)) {
        throw new RangeError('calculator "lammps" needs options pairStyle (string) and pairCoeffs (string[])');
      }
      return lammps(o as unknown as LammpsOptions);
    },
    summary: "LAMMPS (lmp) with a pair style you name: options pairStyle, pairCoeffs, kspace, charges",
  },
};

const ASE_PREFIX = "ase:";

/** The names `calculatorFromName` accepts, with a line each. */
export function calculatorNames(): { name: string; summary: string }[] {
  return [
    ...Object.entries(FACTORIES).map(([name, f]) => ({ name, summary: f.summary })),
    { name: "ase:NAME", summary: "any ASE calculator through a Python child: ase:EMT, ase:LennardJones, ase:module.Class" },
  ];
}

/**
 * A calculator from its name (`lj`, `morse`, `emt`, `ionic`, `lammps`, `ase:EMT`, ...) and options.
 * Throws a RangeError listing the names when `name` is unknown.
 */
export function calculatorFromName(name: string, options: Record<string, unknown> = {}): Calculator {
  if (name.startsWith(ASE_PREFIX) && name.length > ASE_PREFIX.length) {
    return aseCalculator(name.slice(ASE_PREFIX.length), options as AseCalculatorOptions);
  }
  const f = FACTORIES[name];
  if (!f) throw new RangeError(`unknown calculator "${name}": use one of ${Object.keys(FACTORIES).join(", ")} or ase:NAME`);
  return f.make(options);
}
