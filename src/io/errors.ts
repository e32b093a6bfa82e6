/**
 * The one error every parser in `io/` throws for bad input, plus the strict token readers they share.
 * A caller can rely on this: a parse either returns whole, finite structures or throws a ParseError
 * that names the file and (where it makes sense) the 1-based line.
 */

export interface ParseErrorWhere {
  /** File name shown in the message; "<input>" when not given. */
  file?: string | undefined;
  /** 1-based line number of the offending data. */
  line?: number | undefined;
  /** The error that caused this one (a RangeError from Lattice or Crystal, say). */
  cause?: unknown;
}

export class ParseError extends Error {
  override readonly name = "ParseError";
  readonly file: string;
  readonly line: number | undefined;
  readonly reason: string;

  /** `new ParseError("expected 3 numbers", { file: "POSCAR", line: 3 })` -> "POSCAR:3: expected 3 numbers". */
  constructor(reason: string, where: ParseErrorWhere = {}) {
    const file = where.file ?? "<input>";
    const line = where.line;
    super(line === undefined ? `${file}: ${reason}` : `${file}:${line}: ${reason}`, { cause: where.cause });
    this.file = file;
    this.line = line;
    this.reason = reason;
  }
}

/**
 * Runs `build` (typically Lattice or Crystal construction, which throw RangeError) and turns any
 * error it throws into a ParseError at `where`, so no TypeError/RangeError escapes a parser.
 */
export function wrapErrors<T>(build: () => T, where: ParseErrorWhere): T {
  try {
    return build();
  } catch (e) {
    if (e instanceof ParseError) throw e;
    const reason = e instanceof Error ? e.message : String(e);
    throw new ParseError(reason, { ...where, cause: e });
  }
}

// A decimal number as all three formats write it. Deliberately stricter than Number(): Number("")
// is 0, Number("0x1f") is 31 and Number("Infinity") is Infinity, none of which is a coordinate.
const DECIMAL = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/** The finite number `token` spells, or undefined. */
export function parseDecimal(token: string): number | undefined {
  if (!DECIMAL.test(token)) return undefined;
  const x = Number(token);
  return Number.isFinite(x) ? x : undefined;
}

/** The safe integer `token` spells, or undefined. */
export function parseInteger(token: string): number | undefined {
  if (!/^[+-]?\d+$/.test(token)) return undefined;
  const x = Number(token);
  return Number.isSafeInteger(x) ? x : undefined;
}
