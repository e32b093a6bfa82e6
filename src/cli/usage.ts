import { parseArgs, type ParseArgsConfig } from "node:util";

/** Bad command-line input: the CLI prints the message on one line and exits with code 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

export type Options = NonNullable<ParseArgsConfig["options"]>;
type Parsed<T extends Options> = ReturnType<typeof parseArgs<{ options: T; allowPositionals: true; strict: true }>>;

/** node's parseArgs, with its errors turned into UsageErrors naming the sub-command. */
export function parse<T extends Options>(command: string, argv: string[], options: T): Parsed<T> {
  try {
    return parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError(`${command}: ${(e as Error).message}`);
  }
}

/** A numeric option: finite, and an integer when `integer` is set. */
export function numberOption(
  command: string,
  name: string,
  value: string | undefined,
  { integer = false, min = -Infinity }: { integer?: boolean; min?: number } = {},
): number | undefined {
  if (value === undefined) return undefined;
  const x = Number(value);
  if (value.trim() === "" || !Number.isFinite(x) || (integer && !Number.isInteger(x)) || x < min) {
    const kind = integer ? "an integer" : "a number";
    throw new UsageError(`${command}: --${name} must be ${kind}${min > -Infinity ? ` >= ${min}` : ""}, got "${value}"`);
  }
  return x;
}

/** Exactly `count` positional arguments, named in the message when missing. */
export function positionals(command: string, given: string[], names: string[]): string[] {
  if (given.length !== names.length) {
    throw new UsageError(`${command}: expected ${names.map((n) => n.toUpperCase()).join(" ")}, got ${given.length} argument(s)`);
  }
  return given;
}

/** Left-aligned key/value lines for human-readable output. */
export function table(rows: [string, string][]): string {
  const w = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join("\n");
}
