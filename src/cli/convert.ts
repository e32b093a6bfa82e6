import { readStructures, writeStructures } from "../io/index.js";
import { parse, positionals } from "./usage.js";

export const summary = "convert a structure file between CIF, POSCAR and extended XYZ (by extension)";

const HELP = `crystal-rl convert IN OUT

  ${summary}.
  Extensions: .cif; .vasp, .poscar or a name starting POSCAR/CONTCAR; .xyz, .extxyz.
  POSCAR holds one structure: converting a multi-structure file to it is refused.`;

export async function convert(argv: string[]): Promise<string> {
  const { values, positionals: pos } = parse("convert", argv, { help: { type: "boolean", short: "h" } });
  if (values.help) return HELP;
  const [input, output] = positionals("convert", pos, ["in", "out"]);
  const crystals = await readStructures(input!);
  await writeStructures(output!, crystals);
  return `wrote ${crystals.length} structure(s) to ${output}`;
}
