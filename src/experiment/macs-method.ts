/**
 * MACS as an experiment `Method` (kind "macs"): the trained policy relaxes like any optimiser, and
 * `.train(macs({ ... }))` trains it first (src/rl/macs.ts's loop). Importing this module registers the
 * kind, so a run's config.json and worker threads can rebuild it.
 */
import type { MacsParameters } from "../envs/features.js";
import { policyMethod, type Policy } from "../envs/policy.js";
import { loadMacsPolicy, macsTraining, type MacsConfig, type MacsPolicy } from "../rl/macs.js";
import { registerMethodKind, type Method } from "./method.js";

export interface MacsMethodOptions extends Partial<MacsConfig> {
  /** A trained policy (a training folder or a Sac checkpoint). Without it, `train` must run first. */
  policy?: string;
  /** Default "macs". */
  name?: string;
}

/**
 * MACS as a `Method` (kind "macs"): `evaluate` relaxes with the deterministic policy (loaded lazily
 * from `policy`), `train(ctx)` trains on the config's compositions (never on the experiment's own
 * structures) into `ctx.checkpointDir`, `save`/`load` write and read a policy-only checkpoint.
 */
export function macs(options: MacsMethodOptions = {}): Method {
  const { policy: policyDir, name = "macs", ...config } = options;
  let loaded: Promise<MacsPolicy> | null = null;
  let path = policyDir;
  const get = (): Promise<MacsPolicy> => {
    if (!loaded) {
      if (!path) throw new Error("macs: no policy (give { policy: DIR } or train first)");
      loaded = loadMacsPolicy(path);
    }
    return loaded;
  };
  const lazy: Policy = async (obs, natoms) => (await get()).actAsync(obs, natoms);
  const params: Partial<Omit<MacsParameters, "fmax" | "maxSteps">> = {};
  if (config.gMax !== undefined) params.gMax = config.gMax;
  if (config.cMax !== undefined) params.cMax = config.cMax;
  const base = policyMethod(lazy, { name, kind: "macs", options: JSON.parse(JSON.stringify(options)) as Record<string, unknown>, params });
  const reload = (dir: string): void => {
    void loaded?.then((p) => p.dispose()).catch(() => undefined);
    loaded = null;
    path = dir;
  };
  return {
    ...base,
    async *train(ctx) {
      const run = macsTraining({ seed: ctx.seed, ...config }, { checkpointDir: ctx.checkpointDir, signal: ctx.signal, calculator: ctx.calculator });
      for (;;) {
        const r = await run.next();
        if (r.done) break;
        yield r.value;
      }
      reload(ctx.checkpointDir);
    },
    async save(dir) {
      const p = await get();
      await p.agent.save(dir, { policyOnly: true });
    },
    async load(dir) {
      reload(dir);
      await get();
    },
  };
}

registerMethodKind("macs", (_name, options) => macs(options as MacsMethodOptions));
