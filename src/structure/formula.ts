import { elementBySymbol, isElementSymbol } from "./elements.js";

/** Element symbol -> amount, in order of first appearance. */
export type Composition = Map<string, number>;

/**
 * Parses a chemical formula such as "SrTiO3", "Y2O3", "Ca3(PO4)2" or "Fe0.5O" into a composition.
 * Throws a RangeError that names the formula and the offending position.
 */
export function parseFormula(formula: string): Composition {
  let pos = 0;
  const fail = (why: string): never => {
    throw new RangeError(`bad formula "${formula}" at character ${pos + 1}: ${why}`);
  };
  const number = (): number => {
    const m = /^\d+(\.\d+)?/.exec(formula.slice(pos));
    if (!m) return 1;
    pos += m[0].length;
    return Number(m[0]);
  };
  const group = (closing: string | null): Composition => {
    const out: Composition = new Map();
    while (pos < formula.length) {
      const ch = formula[pos]!;
      if (ch === " ") {
        pos++;
        continue;
      }
      if (ch === "(" || ch === "[") {
        pos++;
        const inner = group(ch === "(" ? ")" : "]");
        const n = number();
        for (const [s, k] of inner) out.set(s, (out.get(s) ?? 0) + k * n);
        continue;
      }
      if (ch === ")" || ch === "]") {
        if (ch !== closing) fail(`unexpected "${ch}"`);
        pos++;
        return out;
      }
      const m = /^[A-Z][a-z]?/.exec(formula.slice(pos));
      if (!m) fail(`expected an element symbol, found "${ch}"`);
      // Prefer a two-letter symbol, fall back to one letter ("Co" vs "C" + "o" is not an issue: "o" is never a symbol).
      let sym = m![0];
      if (!isElementSymbol(sym) && sym.length === 2 && isElementSymbol(sym[0]!)) sym = sym[0]!;
      if (!isElementSymbol(sym)) fail(`unknown element "${sym}"`);
      pos += sym.length;
      const n = number();
      out.set(sym, (out.get(sym) ?? 0) + n);
    }
    if (closing) fail(`missing "${closing}"`);
    return out;
  };
  if (!formula.trim()) fail("empty formula");
  const comp = group(null);
  if (comp.size === 0) fail("no elements");
  return comp;
}

const electronegativity = (s: string): number => {
  const x = elementBySymbol(s).electronegativity;
  return Number.isNaN(x) ? Infinity : x;
};

/** Symbols sorted by Pauling electronegativity, then by symbol, as pymatgen orders a formula. */
export function sortByElectronegativity(symbols: Iterable<string>): string[] {
  return [...symbols].sort((a, b) => electronegativity(a) - electronegativity(b) || (a < b ? -1 : a > b ? 1 : 0));
}

function formatAmount(x: number): string {
  if (x === 1) return "";
  if (Number.isInteger(x)) return String(x);
  return String(Number(x.toFixed(8)));
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

/** "Sr8Ti8O24": every element with its full count, ordered by electronegativity (pymatgen's formula, without spaces). */
export function formatFormula(comp: Composition): string {
  return sortByElectronegativity(comp.keys())
    .map((s) => s + formatAmount(comp.get(s)!))
    .join("");
}

/**
 * The reduced formula and the factor it was divided by, following pymatgen's `reduce_formula`:
 * electronegativity order, divide by the gcd of integer amounts, and write a trailing polyanion
 * (last two elements with electronegativity difference < 1.65 and a factor > 1) in brackets, e.g. "Ca3(PO4)2".
 */
export function reduceFormula(comp: Composition): { formula: string; factor: number } {
  const amounts = [...comp.values()];
  let factor = 1;
  if (amounts.every((x) => Number.isInteger(x))) factor = Math.abs(amounts.reduce((g, x) => gcd(g, x), 0)) || 1;
  let syms = sortByElectronegativity([...comp.keys()].filter((s) => Math.abs(comp.get(s)!) > 1e-8));
  let polyanion = "";
  if (syms.length >= 3) {
    const [s1, s2] = [syms[syms.length - 2]!, syms[syms.length - 1]!];
    if (electronegativity(s2) - electronegativity(s1) < 1.65) {
      const poly = reduceFormula(
        new Map([
          [s1, comp.get(s1)! / factor],
          [s2, comp.get(s2)! / factor],
        ]),
      );
      if (poly.factor !== 1) {
        polyanion = `(${poly.formula})${poly.factor}`;
        syms = syms.slice(0, -2);
      }
    }
  }
  return { formula: syms.map((s) => s + formatAmount(comp.get(s)! / factor)).join("") + polyanion, factor };
}
