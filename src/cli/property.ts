import { PROPERTY_ENGINES, propertyEngine, withPropertyCache, defaultPropertyCachePath } from "../calculators/property-engines.js";
import { PROPERTY_UNITS, type PropertyName, type PropertyProvider } from "../calculators/property.js";
import { readStructure } from "../io/index.js";
import type { CommandOutput } from "./index.js";
import { numberOption, parse, positionals, table, UsageError } from "./usage.js";

export const summary = "a DFT property of a structure: band gap (eV), bulk modulus (GPa) or density (g/cm³)";

const PROPERTIES = Object.keys(PROPERTY_UNITS) as PropertyName[];

const help = () => `crystal-rl property FILE --property ${PROPERTIES.join("|")} [--engine qe|gpaw|analytic]
                     [--timeout SECONDS] [--ranks N] [--cache PATH | --no-cache] [--json]

  ${summary}.
  Engines:
${PROPERTY_ENGINES.map((e) => `    ${e.name.padEnd(9)} ${e.summary}`).join("\n")}
  Results are cached by structure, property and engine settings in ${defaultPropertyCachePath()}
  (or --cache PATH, or $CRYSTAL_RL_PROPERTY_CACHE): a repeated structure never reruns the engine.
  --json prints { property, value, unit, engine, seconds, errorFlag, reason, cached }; value is null
  when the engine failed (errorFlag 1 not converged, 2 charge/parse, 3 other, 4 timeout), and the exit
  code is then 1.`;

export async function property(argv: string[]): Promise<CommandOutput> {
  const { values, positionals: pos } = parse("property", argv, {
    property: { type: "string" },
    engine: { type: "string", default: "qe" },
    timeout: { type: "string" },
    ranks: { type: "string" },
    cache: { type: "string" },
    "no-cache": { type: "boolean", default: false },
    json: { type: "boolean", default: false },
    help: { type: "boolean", short: "h" },
  });
  if (values.help) return help();
  const [file] = positionals("property", pos, ["file"]);
  const name = values.property as PropertyName | undefined;
  if (!name || !PROPERTIES.includes(name)) throw new UsageError(`property: --property must be one of ${PROPERTIES.join(", ")}${name ? `, got "${name}"` : ""}`);
  if (!PROPERTY_ENGINES.some((e) => e.name === values.engine)) {
    throw new UsageError(`property: unknown --engine "${values.engine}"; known: ${PROPERTY_ENGINES.map((e) => e.name).join(", ")}`);
  }
  const timeout = numberOption("property", "timeout", values.timeout, { min: 1 });
  const ranks = numberOption("property", "ranks", values.ranks, { integer: true, min: 1 });
  const crystal = await readStructure(file!);
  const engine = propertyEngine(values.engine!, { ...(timeout ? { timeoutMs: timeout * 1000 } : {}), ...(ranks ? { ranks } : {}) });
  if (!engine.properties.includes(name)) throw new UsageError(`property: the ${engine.engine} engine does not compute ${name} (it computes ${engine.properties.join(", ")})`);
  const provider: PropertyProvider = values["no-cache"] ? engine : withPropertyCache(engine, values.cache);
  try {
    const r = await provider.evaluate(crystal, name);
    const cached = r.details?.["cached"] === true;
    const code = r.errorFlag > 0 ? 1 : 0;
    if (values.json) {
      const text = JSON.stringify({ property: r.property, value: r.value, unit: r.unit, engine: r.engine, seconds: r.seconds, errorFlag: r.errorFlag, reason: r.reason ?? null, cached }, null, 2);
      return { text, code };
    }
    const text = table([
      ["structure", `${file} (${crystal.formula}, ${crystal.natoms} atoms)`],
      ["property", name],
      ["value", r.value === null ? `failed (errorFlag ${r.errorFlag}): ${r.reason ?? "no reason given"}` : `${r.value.toPrecision(6)} ${r.unit}${r.surrogate ? " (surrogate, not DFT)" : ""}`],
      ["engine", `${r.engine}${cached ? " (cached result)" : ""}`],
      ["seconds", r.seconds.toFixed(2)],
    ]);
    return { text, code };
  } finally {
    await provider.close?.();
  }
}
