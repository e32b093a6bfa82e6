import { UsageError } from "./usage.js";

/** `--calc-options '{"pairStyle": "eam", ...}'`: a JSON object handed to the calculator's factory. */
export function calcOptions(command: string, text: string | undefined): Record<string, unknown> {
  if (text === undefined) return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new UsageError(`${command}: --calc-options is not valid JSON (${(e as Error).message})`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new UsageError(`${command}: --calc-options must be a JSON object, e.g. '{"epsilon": 0.0104}'`);
  }
  return value as Record<string, unknown>;
}
