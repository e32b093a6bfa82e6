/**
 * Property engines by name, for the command line and the CrystalGym builders: "qe" (Quantum ESPRESSO),
 * "gpaw" (GPAW through Debian's Python) and "analytic" (the instant hard-sphere density surrogate),
 * each optionally behind the persistent result cache.
 */
import { homedir } from "node:os";
import { join } from "node:path";
import { analyticDensity } from "./analytic-density.js";
import { espresso, type EspressoOptions } from "./external/espresso.js";
import { gpaw, type GpawOptions } from "./external/gpaw.js";
import { cachedProvider, PropertyCache, type CachedPropertyProvider } from "./property-cache.js";
import type { PropertyProvider } from "./property.js";

export type PropertyEngineName = "qe" | "gpaw" | "analytic";

export const PROPERTY_ENGINES: readonly { name: PropertyEngineName; summary: string }[] = Object.freeze([
  { name: "qe", summary: "Quantum ESPRESSO pw.x (PBE; band gap, bulk modulus, density)" },
  { name: "gpaw", summary: "GPAW plane waves through Python (PBE; band gap, bulk modulus, density)" },
  { name: "analytic", summary: "instant hard-sphere density surrogate (density only; not DFT)" },
]);

export interface PropertyEngineOptions {
  /** Wall-clock limit of one evaluation (ms). */
  timeoutMs?: number;
  /** MPI ranks of pw.x. */
  ranks?: number;
  /** Engine-specific options, passed through. */
  qe?: EspressoOptions;
  gpaw?: GpawOptions;
}

/** A fresh engine by name; throws a RangeError naming the known ones for any other name. */
export function propertyEngine(name: string, options: PropertyEngineOptions = {}): PropertyProvider {
  const { timeoutMs } = options;
  switch (name) {
    case "qe":
      return espresso({ ...(timeoutMs ? { timeoutMs } : {}), ...(options.ranks ? { ranks: options.ranks } : {}), ...options.qe });
    case "gpaw":
      return gpaw({ ...(timeoutMs ? { timeoutMs } : {}), ...options.gpaw });
    case "analytic":
      return analyticDensity();
    default:
      throw new RangeError(`unknown property engine "${name}"; known: ${PROPERTY_ENGINES.map((e) => e.name).join(", ")}`);
  }
}

/** The default cache file: $CRYSTAL_RL_PROPERTY_CACHE, else ~/.cache/crystal-rl/properties.sqlite. */
export function defaultPropertyCachePath(): string {
  return process.env["CRYSTAL_RL_PROPERTY_CACHE"] ?? join(homedir(), ".cache", "crystal-rl", "properties.sqlite");
}

/**
 * `engine` behind the cache at `path` (default `defaultPropertyCachePath()`): a repeated structure
 * never reruns the engine. `close()` closes the engine and the cache file.
 */
export function withPropertyCache(engine: PropertyProvider, path: string = defaultPropertyCachePath()): CachedPropertyProvider {
  const cache = PropertyCache.open(path);
  const provider = cachedProvider(engine, cache);
  const close = provider.close?.bind(provider);
  return Object.assign(provider, {
    close: async () => {
      try {
        await close?.();
      } finally {
        cache.close();
      }
    },
  });
}
