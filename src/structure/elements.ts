import { ELEMENT_ROWS } from "./elements-data.js";

/** One chemical element: atomic number, symbol, mass (amu), covalent radius (Å), Pauling electronegativity. */
export interface Element {
  readonly z: number;
  readonly symbol: string;
  readonly mass: number;
  readonly covalentRadius: number;
  /** NaN where pymatgen has none (noble gases). */
  readonly electronegativity: number;
}

const ELEMENTS: readonly Element[] = ELEMENT_ROWS.map(([symbol, mass, covalentRadius, electronegativity], i) => ({
  z: i + 1,
  symbol,
  mass,
  covalentRadius,
  electronegativity,
}));

const BY_SYMBOL = new Map(ELEMENTS.map((e) => [e.symbol, e]));

/** The element with atomic number `z`; throws a RangeError naming `z` when there is none. */
export function elementByNumber(z: number): Element {
  const e = Number.isInteger(z) ? ELEMENTS[z - 1] : undefined;
  if (!e) throw new RangeError(`no element with atomic number ${z}`);
  return e;
}

/** The element named `symbol` (case as in the periodic table: "Sr", not "SR"). */
export function elementBySymbol(symbol: string): Element {
  const e = BY_SYMBOL.get(symbol);
  if (!e) throw new RangeError(`unknown element symbol "${symbol}"`);
  return e;
}

/** True when `symbol` names an element. */
export function isElementSymbol(symbol: string): boolean {
  return BY_SYMBOL.has(symbol);
}

/** Atomic number of `symbol`. */
export const atomicNumber = (symbol: string): number => elementBySymbol(symbol).z;

/** Symbol of atomic number `z`. */
export const symbolOf = (z: number): string => elementByNumber(z).symbol;

/** Number of elements in the table (1..count). */
export const elementCount = ELEMENTS.length;
