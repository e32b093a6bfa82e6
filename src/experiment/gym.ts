/**
 * CrystalGym experiments: one task (template, property, target, vocabulary, property engine), several
 * algorithms × seeds trained on it with the MEGNet policy, every episode logged to the run store, a live
 * learning-curve plot, and the comparison as arquero tables. A killed run resumes from each agent's last
 * checkpoint (`.resume(id)`); finished (algorithm, seed) pairs are not rerun.
 *
 * @example
 * const run = await gym("density-perovskite")
 *   .template("perovskite").property("density").engine("analytic")
 *   .algorithms(["ppo", "dqn", "rainbow", "sac"]).seeds([1, 2, 3]).steps(3000)
 *   .live()
 *   .run();
 * run.summary().view();        // mean return of the last episodes against the random policy's
 * run.plot();                  // learning curves, seeds shaded
 * run.episodes().table.filter((d) => d.errorFlag > 0).count();
 *
 * The run folder's layout and its reading back (`loadGymRun`, `GymRun`) are in gym-store.ts.
 */
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { defaultPropertyCachePath, PROPERTY_ENGINES, propertyEngine, withPropertyCache } from "../calculators/property-engines.js";
import type { CachedPropertyProvider } from "../calculators/property-cache.js";
import type { PropertyName, PropertyProvider } from "../calculators/property.js";
import { CrystalGymEnv } from "../envs/crystal-gym/env.js";
import { randomPolicyReward } from "../envs/crystal-gym/random-policy.js";
import type { CrystalTemplate } from "../envs/crystal-gym/templates.js";
import type { CrystalGraph } from "../envs/crystal-gym/types.js";
import type { VocabularyName } from "../envs/crystal-gym/vocabulary.js";
import type { DiscreteEnv } from "../rl/discrete.js";
import type { DiscreteProgress, DiscreteRecord, DiscreteTrainOptions } from "../rl/discrete-replay.js";
import { DQN_DEFAULT_CONFIG, Dqn } from "../rl/dqn.js";
import { megnet, type MegnetOptions } from "../rl/megnet.js";
import { PPO_DEFAULT_CONFIG, Ppo } from "../rl/ppo.js";
import { RAINBOW_DEFAULT_CONFIG, Rainbow } from "../rl/rainbow.js";
import { SAC_DISCRETE_DEFAULT_CONFIG, SacDiscrete } from "../rl/sac-discrete.js";
import { BACKEND_CHOICES, currentBackend, ensureBackend, isBackendChoice, type BackendChoice } from "../tensor/backend.js";
import { DEFAULTS } from "./builder.js";
import { displaySink } from "./display-sink.js";
import {
  curvesFigure,
  GYM_ALGORITHMS,
  keepEpisodesUpTo,
  loadGymRun,
  readBaseline,
  readDone,
  readPairEpisodes,
  readPairState,
  type GymAlgorithmName,
  type GymRecord,
  type GymRun,
  type GymSettings,
  type GymTaskSettings,
} from "./gym-store.js";
import { JsonlAppender, writeJsonAtomic } from "../io/jsonl.js";
import { createRunDir, machine, versions } from "./run-store.js";

/** What an agent of any of the four algorithms offers the experiment. */
interface GymAgent {
  readonly progress: DiscreteProgress;
  /** The hyper-parameters it trained with (defaults, task defaults and `.set()` merged). */
  readonly config: Readonly<object>;
  train(options?: DiscreteTrainOptions): AsyncGenerator<DiscreteRecord, DiscreteProgress, void>;
  load(dir: string): Promise<void>;
  act(obs: CrystalGraph, options?: { greedy?: boolean }): Promise<number>;
  dispose?(): void;
}

/**
 * Mean return of `episodes` greedy episodes (argmax of Q or of the policy): what the trained agent does
 * without exploration. Training curves show the behaviour policy, which for SAC stays broad by design.
 * The env's resets are seeded apart from training's.
 */
async function greedyReturn(agent: GymAgent, env: CrystalGymEnv, episodes: number): Promise<number> {
  let total = 0;
  for (let e = 0; e < episodes; e++) {
    let { obs } = await env.reset({ seed: 1_000_003 + e });
    for (;;) {
      const r = await env.step(await agent.act(obs, { greedy: true }));
      if (r.terminated || r.truncated) {
        total += r.reward;
        break;
      }
      obs = r.obs;
    }
  }
  return total / episodes;
}

function makeAgent(name: GymAlgorithmName, env: DiscreteEnv<CrystalGraph>, network: MegnetOptions, config: Record<string, unknown>): GymAgent {
  const factory = megnet(network);
  switch (name) {
    case "ppo":
      return new Ppo(env, factory, config);
    case "dqn":
      return new Dqn(env, factory, config);
    case "rainbow":
      return new Rainbow(env, factory, config);
    case "sac":
      return new SacDiscrete(env, factory, config);
  }
}

/** Sites filled per (algorithm, seed) unless `.steps()` says otherwise. */
export const DEFAULT_STEPS = 2_000;

/**
 * Hyper-parameters that follow from the task and the budget rather than the algorithm. Explicit
 * `.set()` values win.
 * - Rainbow's C51 support must hold every return, and the tighter it is the finer its atoms (spec §4:
 *   band-gap and density rewards lie in [−1, 1], bulk-modulus rewards in [−5, 0]; Rainbow's own
 *   default [−5, 1] covers all three).
 * - Off-policy learners start after 10 % of the budget, at most the spec's 1,000 steps (1 % of its
 *   100k-step runs): with the default 2,000 steps the spec's value leaves half the run unlearnt.
 *   Density, 3 seeds, 2,000 steps, final return: DQN 0.747 ± 0.167 → 0.862 ± 0.068, Rainbow 0.563 ±
 *   0.242 → 0.735 ± 0.208.
 * - PPO's learning rate 1e-3 (spec: 2.5e-4, tuned for 500k steps): 0.517 ± 0.039 → 0.713 ± 0.155.
 * - Discrete SAC at the rewards' scale: CrystalGym pays one reward in [0, 1] per episode, so the
 *   spec's α = 0.2 (Atari's per-step scale) makes the entropy bonus as large as the reward and the
 *   policy stays uniform (entropy 2.87 of log 18 = 2.89 after 450 updates). α starts at 0.02 and
 *   is tuned towards 0.3·log|A| (≈ 2.4 likely actions) instead of 0.89·log|A| (≈ 13), with learning
 *   rates 1e-3 and twice as many updates on half-size batches (batch 32 every 2 steps: the same
 *   compute): 0.499 ± 0.030 → 0.796 ± 0.068, greedy 0.97 / 0.89 / 0.97 (data/gym/density-perovskite).
 */
export function taskDefaults(algorithm: GymAlgorithmName, property: PropertyName, steps = DEFAULT_STEPS): Record<string, unknown> {
  const learningStarts = Math.min(1_000, Math.round(steps / 10));
  switch (algorithm) {
    case "ppo":
      return { learningRate: 1e-3 };
    case "dqn":
      return { learningStarts };
    case "rainbow":
      return { learningStarts, ...(property === "bulk-modulus" ? { vMin: -5, vMax: 0 } : { vMin: -1, vMax: 1 }) };
    case "sac":
      return { learningStarts, alpha: 0.02, targetEntropyScale: 0.3, policyLr: 1e-3, qLr: 1e-3, alphaLr: 1e-3, batchSize: 32, updateFrequency: 2 };
  }
}

const ALGORITHM_NAMES = GYM_ALGORITHMS.map((a) => a.name);

const DEFAULT_CONFIGS: Readonly<Record<GymAlgorithmName, object>> = {
  ppo: PPO_DEFAULT_CONFIG,
  dqn: DQN_DEFAULT_CONFIG,
  rainbow: RAINBOW_DEFAULT_CONFIG,
  sac: SAC_DISCRETE_DEFAULT_CONFIG,
};

/** A chainable, immutable builder of a CrystalGym experiment. Use `gym(name)`. */
export class GymBuilder {
  readonly #s: GymSettings;
  readonly #template?: CrystalTemplate;
  readonly #provider?: PropertyProvider;

  constructor(settings: GymSettings, template?: CrystalTemplate, provider?: PropertyProvider) {
    this.#s = Object.freeze(settings);
    this.#template = template;
    this.#provider = provider;
    Object.freeze(this);
  }

  /** A new builder with `patch`; `objects` replaces the template or provider object (null: none). */
  #with(patch: Partial<GymSettings>, objects: { template?: CrystalTemplate | null; provider?: PropertyProvider | null } = {}): GymBuilder {
    const template = "template" in objects ? (objects.template ?? undefined) : this.#template;
    const provider = "provider" in objects ? (objects.provider ?? undefined) : this.#provider;
    return new GymBuilder({ ...this.#s, ...patch }, template, provider);
  }

  #task(patch: Partial<GymTaskSettings>): GymBuilder {
    return this.#with({ task: { ...this.#s.task, ...patch } });
  }

  /** A shipped template by name ("perovskite", ...) or a template object (`templateFromCif(...)`). */
  template(t: string | CrystalTemplate): GymBuilder {
    if (typeof t === "string") return this.#with({ task: { ...this.#s.task, template: t } }, { template: null });
    if (!t || typeof t !== "object" || !("name" in t)) throw new TypeError("template takes a template name or a template object");
    return this.#with({ task: { ...this.#s.task, template: t.name } }, { template: t });
  }

  property(p: PropertyName): GymBuilder {
    if (!["band-gap", "bulk-modulus", "density"].includes(p)) throw new RangeError(`property must be band-gap, bulk-modulus or density, got "${p}"`);
    return this.#task({ property: p });
  }

  /** p̂ (default: the spec's 1.12 eV, 300 GPa, 3.0 g/cm³). */
  target(value: number): GymBuilder {
    if (!Number.isFinite(value)) throw new RangeError(`target must be a finite number, got ${value}`);
    return this.#task({ target: value });
  }

  vocabulary(v: VocabularyName | readonly string[]): GymBuilder {
    return this.#task({ vocabulary: typeof v === "string" ? v : [...v] });
  }

  /** The property engine: "analytic", "qe", "gpaw", or a PropertyProvider of your own. */
  engine(e: string | PropertyProvider, options: { timeoutSeconds?: number; ranks?: number } = {}): GymBuilder {
    if (typeof e === "string") {
      if (!PROPERTY_ENGINES.some((k) => k.name === e)) throw new RangeError(`unknown property engine "${e}"; known: ${PROPERTY_ENGINES.map((k) => k.name).join(", ")}`);
      const { timeoutSeconds, ranks } = options;
      if (timeoutSeconds !== undefined && !(timeoutSeconds > 0)) throw new RangeError(`engine: timeoutSeconds must be positive, got ${timeoutSeconds}`);
      if (ranks !== undefined && !(Number.isInteger(ranks) && ranks >= 1)) throw new RangeError(`engine: ranks must be a positive integer, got ${ranks}`);
      return this.#with({ task: { ...this.#s.task, engine: e, engineOptions: { ...options } } }, { provider: null });
    }
    return this.#with({ task: { ...this.#s.task, engine: e.engine, engineOptions: {} } }, { provider: e });
  }

  /**
   * Where property results are cached: a file, true for the default file (`defaultPropertyCachePath`),
   * false for none. Default: the default file for DFT engines, none for the instant "analytic".
   */
  cache(path: string | boolean): GymBuilder {
    if (typeof path === "string" && path.length === 0) throw new RangeError("cache: the path is empty");
    return this.#task({ cache: path === false ? null : path === true ? defaultPropertyCachePath() : path });
  }

  algorithms(names: readonly GymAlgorithmName[]): GymBuilder {
    for (const n of names) if (!ALGORITHM_NAMES.includes(n)) throw new RangeError(`unknown algorithm "${n}"; known: ${ALGORITHM_NAMES.join(", ")}`);
    if (names.length === 0) throw new RangeError("algorithms: give at least one");
    return this.#with({ algorithms: [...names] });
  }

  seeds(seeds: readonly number[]): GymBuilder {
    for (const s of seeds) if (!Number.isInteger(s) || s < 0) throw new RangeError(`seeds must be non-negative integers, got ${s}`);
    if (seeds.length === 0) throw new RangeError("seeds: give at least one");
    return this.#with({ seeds: [...seeds] });
  }

  /** Env steps (sites filled) per (algorithm, seed). */
  steps(n: number): GymBuilder {
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`steps must be a positive integer, got ${n}`);
    return this.#with({ steps: n });
  }

  /** Hyper-parameter overrides of one algorithm (its config object's fields). */
  set(algorithm: GymAlgorithmName, config: Record<string, unknown>): GymBuilder {
    if (!ALGORITHM_NAMES.includes(algorithm)) throw new RangeError(`unknown algorithm "${algorithm}"`);
    const defaults = DEFAULT_CONFIGS[algorithm] as Readonly<Record<string, unknown>>;
    for (const [key, value] of Object.entries(config)) {
      if (!(key in defaults) || key === "totalTimesteps" || key === "seed") {
        throw new RangeError(`set: ${algorithm} has no setting "${key}" to set here (steps and seeds have their own calls); known: ${Object.keys(defaults).filter((k) => k !== "totalTimesteps" && k !== "seed").join(", ")}`);
      }
      if (typeof value !== typeof defaults[key]) throw new RangeError(`set: ${algorithm}.${key} takes a ${typeof defaults[key]}, got ${JSON.stringify(value)}`);
    }
    return this.#with({ configs: { ...this.#s.configs, [algorithm]: { ...this.#s.configs[algorithm], ...config } } });
  }

  /** Episodes of the random policy measured first as the baseline (default 200 on the analytic engine, else 0). */
  baseline(episodes: number): GymBuilder {
    if (!Number.isInteger(episodes) || episodes < 0) throw new RangeError(`baseline episodes must be a non-negative integer, got ${episodes}`);
    return this.#with({ baselineEpisodes: episodes });
  }

  /** Greedy episodes run with each agent after training (default 20; 0: none; DFT engines mostly answer them from the cache). */
  evaluate(episodes: number): GymBuilder {
    if (!Number.isInteger(episodes) || episodes < 0) throw new RangeError(`evaluate: episodes must be a non-negative integer, got ${episodes}`);
    return this.#with({ evaluationEpisodes: episodes });
  }

  checkpointEvery(steps: number): GymBuilder {
    if (!Number.isInteger(steps) || steps < 0) throw new RangeError(`checkpointEvery must be a non-negative integer, got ${steps}`);
    return this.#with({ checkpointInterval: steps });
  }

  /**
   * The TensorFlow.js backend to train on: "auto", "tensorflow", "webgpu", "wasm", "cpu" or an exact
   * name (`useBackend`). Every algorithm reads asynchronously, so webgpu works too. Default: the
   * backend in use, else auto.
   */
  backend(name: BackendChoice): GymBuilder {
    if (!isBackendChoice(name)) throw new RangeError(`backend must be one of ${BACKEND_CHOICES.join(", ")}, got ${JSON.stringify(name)}`);
    return this.#with({ backend: name });
  }

  live(on = true): GymBuilder {
    return this.#with({ live: on });
  }

  store(dir: string): GymBuilder {
    return this.#with({ store: dir });
  }

  /** Continue the run `id` of this builder's store: unfinished pairs resume from their checkpoints. */
  resume(id: string): GymBuilder {
    return this.#with({ resume: id });
  }

  settings(): GymSettings {
    return structuredClone(this.#s);
  }

  /** Trains every (algorithm, seed) in turn; returns the run. */
  async run(options: { signal?: AbortSignal; onRecord?: (r: GymRecord) => void } = {}): Promise<GymRun> {
    const s = this.#s;
    let id: string;
    let settings: GymSettings;
    if (s.resume) {
      id = s.resume;
      const dir = join(s.store, id);
      if (!existsSync(join(dir, "config.json"))) throw new RangeError(`resume: no gym run "${id}" in ${s.store}`);
      const stored = JSON.parse(readFileSync(join(dir, "config.json"), "utf8")) as GymSettings;
      // a run stored before greedy evaluations existed takes this builder's count
      settings = { ...stored, evaluationEpisodes: stored.evaluationEpisodes ?? s.evaluationEpisodes, backend: s.backend ?? stored.backend ?? null, live: s.live, store: s.store, resume: id };
      await ensureBackend(settings.backend);
    } else {
      await ensureBackend(s.backend);
      id = createRunDir(s.store, s.name);
      settings = { ...s, resume: null };
      writeJsonAtomic(join(s.store, id, "config.json"), { ...settings, versions: versions(), machine: machine() });
    }
    const dir = join(s.store, id);
    // CrystalGym's density reward is the first density after one BFGS cell step (spec §4): "paper" mode
    const { timeoutSeconds, ranks } = settings.task.engineOptions ?? {};
    const engine =
      this.#provider ??
      propertyEngine(settings.task.engine, { ...(timeoutSeconds ? { timeoutMs: timeoutSeconds * 1000 } : {}), ...(ranks ? { ranks } : {}), qe: { densityMode: "paper" } });
    const cachePath = settings.task.cache === "auto" ? (settings.task.engine === "analytic" ? null : defaultPropertyCachePath()) : settings.task.cache;
    const provider: PropertyProvider = cachePath === null ? engine : withPropertyCache(engine, cachePath);
    const cached = "stats" in provider ? (provider as CachedPropertyProvider) : null;
    const env = new CrystalGymEnv({
      template: this.#template ?? settings.task.template,
      property: settings.task.property,
      ...(settings.task.target !== null ? { target: settings.task.target } : {}),
      vocabulary: settings.task.vocabulary,
      provider,
      ...(settings.task.cutoff !== null ? { cutoff: settings.task.cutoff } : {}),
    });
    const live = settings.live && displaySink().interactive ? displaySink().live() : null;
    const records: GymRecord[] = [];
    let lastDraw = 0;
    const draw = (force = false) => {
      if (!live || (!force && performance.now() - lastDraw < 1000)) return;
      lastDraw = performance.now();
      live.figure(curvesFigure(records, baseline?.mean, settings.task));
    };
    writeJsonAtomic(join(dir, "status.json"), { state: "running", updated: new Date().toISOString() });
    let baseline: { mean: number; std: number; episodes: number } | undefined;
    try {
      baseline = readBaseline(dir);
      const episodes = settings.baselineEpisodes < 0 ? 0 : settings.baselineEpisodes;
      if (!baseline && episodes > 0) {
        const r = await randomPolicyReward(env, episodes, 12345);
        baseline = { mean: r.mean, std: r.std, episodes };
        writeJsonAtomic(join(dir, "baseline.json"), baseline);
      }
      for (const algorithm of settings.algorithms) {
        for (const seed of settings.seeds) {
          if (options.signal?.aborted) break;
          const pairDir = join(dir, `${algorithm}-s${seed}`);
          for (const r of readPairEpisodes(pairDir)) records.push(r);
          const evaluations = settings.evaluationEpisodes ?? 0;
          const checkpointDir = join(pairDir, "checkpoint");
          const config = { ...taskDefaults(algorithm, settings.task.property, settings.steps), ...settings.configs[algorithm], totalTimesteps: settings.steps, seed };
          const done = readDone(pairDir);
          if (done) {
            // a pair trained before its greedy evaluation ran (or by an older version): evaluate its final agent
            if (done.greedyReturn === undefined && evaluations > 0 && existsSync(join(checkpointDir, "header.json"))) {
              const agent = makeAgent(algorithm, env, { vocabulary: env.vocabulary.symbols.length }, config);
              try {
                await agent.load(checkpointDir);
                writeJsonAtomic(join(pairDir, "done.json"), { ...done, greedyReturn: await greedyReturn(agent, env, evaluations), greedyEpisodes: evaluations });
              } finally {
                agent.dispose?.();
              }
            }
            continue;
          }
          mkdirSync(pairDir, { recursive: true });
          const agent = makeAgent(algorithm, env, { vocabulary: env.vocabulary.symbols.length }, config);
          let previous = { wallSeconds: 0, engineSeconds: 0, hits: 0, misses: 0 };
          if (existsSync(join(checkpointDir, "header.json"))) {
            await agent.load(checkpointDir);
            previous = readPairState(pairDir) ?? previous;
          }
          // episodes logged after the checkpoint (or before the first one) will be played again
          keepEpisodesUpTo(pairDir, agent.progress.globalStep, records, algorithm, seed);
          const log = new JsonlAppender(join(pairDir, "episodes.jsonl"));
          cached?.resetStats();
          const t0 = performance.now();
          let engineSeconds = 0; // without a cache: every episode's evaluation ran the engine
          const pairState = () => ({
            wallSeconds: previous.wallSeconds + (performance.now() - t0) / 1000,
            engineSeconds: previous.engineSeconds + (cached ? cached.stats.engineSeconds : engineSeconds),
            hits: previous.hits + (cached?.stats.hits ?? 0),
            misses: previous.misses + (cached?.stats.misses ?? 0),
          });
          try {
            const run = agent.train({ checkpointDir, checkpointInterval: settings.checkpointInterval, signal: options.signal });
            for (let r = await run.next(); !r.done; r = await run.next()) {
              const rec = r.value;
              if (rec["charts/episodic_return"] === undefined) continue;
              const row = episodeRow(rec, algorithm, seed);
              engineSeconds += row.seconds;
              log.append(row);
              records.push(row);
              options.onRecord?.(row);
              writeJsonAtomic(join(pairDir, "state.json"), pairState());
              draw();
            }
            if (!options.signal?.aborted) {
              const greedy = evaluations > 0 ? { greedyReturn: await greedyReturn(agent, env, evaluations), greedyEpisodes: evaluations } : {};
              writeJsonAtomic(join(pairDir, "done.json"), { ...pairState(), ...greedy, config: agent.config, backend: currentBackend() });
            }
          } finally {
            log.close();
            agent.dispose?.();
          }
          if (options.signal?.aborted) break;
        }
      }
      draw(true);
      writeJsonAtomic(join(dir, "status.json"), { state: options.signal?.aborted ? "aborted" : "done", updated: new Date().toISOString() });
    } catch (e) {
      writeJsonAtomic(join(dir, "status.json"), { state: "failed", error: (e as Error).message, updated: new Date().toISOString() });
      throw e;
    } finally {
      await provider.close?.();
    }
    return loadGymRun(s.store, id);
  }
}

/** A new CrystalGym experiment: density of the perovskite template on the analytic engine, DQN, seed 1, 2000 steps. */
export function gym(name: string): GymBuilder {
  if (typeof name !== "string" || !/^[A-Za-z0-9][A-Za-z0-9._+-]*$/.test(name)) throw new RangeError(`gym: the name must be letters, digits, . _ + -, got "${name}"`);
  return new GymBuilder({
    name,
    task: { template: "perovskite", property: "density", target: null, vocabulary: "small", engine: "analytic", engineOptions: {}, cache: "auto", cutoff: null },
    algorithms: ["dqn"],
    seeds: [1],
    steps: DEFAULT_STEPS,
    configs: {},
    baselineEpisodes: 200,
    evaluationEpisodes: 20,
    checkpointInterval: 500,
    live: false,
    store: DEFAULTS.store,
    resume: null,
  });
}

function episodeRow(rec: DiscreteRecord, algorithm: GymAlgorithmName, seed: number): GymRecord {
  const num = (k: string, fallback: number) => (typeof rec[k] === "number" && Number.isFinite(rec[k]) ? (rec[k] as number) : fallback);
  const value = rec["info/value"];
  return {
    algorithm,
    seed,
    step: rec.step,
    return: num("charts/episodic_return", NaN),
    value: typeof value === "number" && Number.isFinite(value) ? value : null,
    errorFlag: num("info/errorFlag", 0),
    seconds: num("info/seconds", 0),
    composition: typeof rec["info/composition"] === "string" ? (rec["info/composition"] as string) : "",
    ...(typeof rec["info/reason"] === "string" && rec["info/reason"] ? { reason: rec["info/reason"] as string } : {}),
  };
}
