import { atomicNumber, isElementSymbol } from "../../structure/elements.js";

/**
 * CrystalGym's action spaces: token i is the i-th element of the list, and the token equal to the
 * list's length means "blank" (spec §3, from the authors' `utils/variables.py`). The order is part of
 * the contract: a trained policy's output k is the k-th symbol here.
 */

// spec §3: small (18), the default.
const SMALL = ["Li", "Na", "K", "Rb", "Be", "Ca", "Mg", "Sr", "H", "C", "N", "O", "P", "S", "Se", "F", "Cl", "Br"] as const;
// spec §3: medium (30) = small + 12.
const MEDIUM = [...SMALL, "B", "Si", "Ge", "Fe", "Cu", "Co", "Ni", "Mn", "Al", "Zn", "Sn", "Cr"] as const;
// spec §3: large (50) = medium + 20.
const LARGE = [
  ...MEDIUM,
  ...["In", "Sb", "V", "Mo", "Ga", "Ag", "Ti", "Ba", "Y", "Te", "I", "Pd", "Rh", "As", "Pt", "Cs", "Au", "Bi", "Zr", "La"],
] as const;

export type VocabularyName = "small" | "medium" | "large";

/** The element lists of spec §3, in token order. */
export const VOCABULARIES: Readonly<Record<VocabularyName, readonly string[]>> = Object.freeze({
  small: Object.freeze([...SMALL]),
  medium: Object.freeze([...MEDIUM]),
  large: Object.freeze([...LARGE]),
});

/** Tokens ↔ elements. */
export interface Vocabulary {
  /** "small", "medium", "large", or "custom". */
  readonly name: string;
  /** Element symbols in token order. */
  readonly symbols: readonly string[];
  /** Atomic number of each token. */
  readonly numbers: Int32Array;
  /** Number of element tokens (= the number of actions). */
  readonly size: number;
  /** The "not yet filled" token (= size, spec §1.1). */
  readonly blank: number;
  /** The token of `symbol`; a RangeError when it is not in the vocabulary. */
  token(symbol: string): number;
  /** The symbol of `token` in [0, size); a RangeError otherwise (the blank has no symbol). */
  symbol(token: number): string;
}

/**
 * A vocabulary by name ("small" is the paper's default) or from a list of element symbols in token
 * order. Throws a RangeError naming the bad symbol (unknown, repeated) or the unknown name.
 *
 * @example
 * vocabulary("small").symbol(7);    // "Sr"
 * vocabulary(["Sr", "Ti", "O"]).blank; // 3
 */
export function vocabulary(spec: VocabularyName | string | readonly string[] | Vocabulary): Vocabulary {
  if (typeof spec === "string") {
    const symbols = (VOCABULARIES as Record<string, readonly string[]>)[spec];
    if (!symbols) {
      throw new RangeError(`unknown vocabulary "${spec}"; known: ${Object.keys(VOCABULARIES).join(", ")}, or a list of element symbols`);
    }
    return build(spec, symbols);
  }
  if (isVocabulary(spec)) return spec;
  return build("custom", spec);
}

function isVocabulary(x: unknown): x is Vocabulary {
  return typeof x === "object" && x !== null && !Array.isArray(x) && "symbols" in x && "blank" in x;
}

function build(name: string, list: readonly string[]): Vocabulary {
  if (list.length === 0) throw new RangeError("a vocabulary needs at least one element symbol");
  const index = new Map<string, number>();
  list.forEach((s, i) => {
    if (typeof s !== "string" || !isElementSymbol(s)) {
      throw new RangeError(`vocabulary: ${JSON.stringify(s)} (position ${i}) is not an element symbol`);
    }
    const seen = index.get(s);
    if (seen !== undefined) throw new RangeError(`vocabulary: "${s}" appears twice (positions ${seen} and ${i})`);
    index.set(s, i);
  });
  const symbols = Object.freeze([...list]);
  const size = symbols.length;
  return Object.freeze({
    name,
    symbols,
    numbers: Int32Array.from(symbols, atomicNumber),
    size,
    blank: size,
    token(symbol: string): number {
      const t = index.get(symbol);
      if (t === undefined) throw new RangeError(`"${symbol}" is not in the ${name} vocabulary (${symbols.join(" ")})`);
      return t;
    },
    symbol(token: number): string {
      if (!Number.isInteger(token) || token < 0 || token >= size) {
        throw new RangeError(`token ${token} is not an element of the ${name} vocabulary (0..${size - 1})`);
      }
      return symbols[token]!;
    },
  });
}
