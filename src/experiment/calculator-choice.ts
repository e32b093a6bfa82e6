/**
 * The calculator of an experiment: an instance, or a registry name with options. config.json records
 * its name and options so a reloaded run can rebuild it; for an instance the options are read off its
 * public settings (numbers, strings, booleans, plain objects of them, one level flattened), and a
 * rebuilt calculator is checked against a stored energy before a run resumes with it.
 */
import type { Calculator } from "../calculators/calculator.js";
import { calculatorFromName, calculatorNames } from "../calculators/registry.js";
import { describe } from "./method.js";

export type CalculatorChoice = { instance: Calculator } | { name: string; options: Record<string, unknown> };

/** How config.json describes the calculator. `byName`: built from the registry, so rebuilt exactly. */
export interface CalculatorDescription {
  name: string;
  options: Record<string, unknown>;
  byName: boolean;
}

function isCalculator(x: unknown): x is Calculator {
  return typeof x === "object" && x !== null && typeof (x as Calculator).compute === "function" && typeof (x as Calculator).name === "string";
}

const isScalar = (v: unknown): boolean => typeof v === "number" || typeof v === "string" || typeof v === "boolean" || v === null;
const isPlain = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && Object.getPrototypeOf(v) === Object.prototype;
const isJsonScalarish = (v: unknown): boolean => isScalar(v) || (Array.isArray(v) && v.every(isScalar));

/** Checks the argument of `.calculator()` now: an unknown name fails at the call, listing the known ones. */
export function chooseCalculator(calc: unknown, options: Record<string, unknown> = {}): CalculatorChoice {
  if (typeof calc === "string") {
    const known = calculatorNames().map((c) => c.name);
    if (!(calc.startsWith("ase:") && calc.length > 4) && !known.includes(calc)) {
      throw new RangeError(`calculator "${calc}" is unknown: use one of ${known.join(", ")}, or pass a Calculator`);
    }
    if (!isPlain(options)) throw new TypeError(`calculator options must be a plain object, got ${describe(options)}`);
    return { name: calc, options: { ...options } };
  }
  if (isCalculator(calc)) return { instance: calc };
  throw new TypeError(`calculator must be a Calculator (ionic(), emt(), ...) or a registry name ("ionic"), got ${describe(calc)}`);
}

export function describeCalculator(choice: CalculatorChoice): CalculatorDescription {
  if ("name" in choice) return { name: choice.name, options: JSON.parse(JSON.stringify(choice.options)) as Record<string, unknown>, byName: true };
  const calc = choice.instance;
  const options: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(calc)) {
    if (k === "name" || k === "counts") continue;
    if (isJsonScalarish(v)) options[k] = v;
    else if (isPlain(v)) for (const [k2, v2] of Object.entries(v)) if (isJsonScalarish(v2) && !(k2 in options)) options[k2] = v2;
  }
  return { name: calc.name, options, byName: false };
}

/** The calculator to use: the instance, or a new one from the registry. */
export function makeCalculator(choice: CalculatorChoice): Calculator {
  return "instance" in choice ? choice.instance : calculatorFromName(choice.name, choice.options);
}
