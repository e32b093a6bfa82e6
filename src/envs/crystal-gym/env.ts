/**
 * CrystalGym (spec §1): an agent fills the sites of a fixed crystal template with elements, one site
 * per step, and the finished crystal's property (band gap, bulk modulus or density) gives the reward.
 * Gymnasium's contract: `reset({ seed })` → `{ obs, info }`, `step(action)` → `{ obs, reward,
 * terminated, truncated, info }`; it is structurally rl/'s `DiscreteEnv<CrystalGraph>` (envs/ does not
 * import rl/).
 *
 * @example
 * const env = new CrystalGymEnv({ template: "perovskite", property: "density", provider: analyticDensity() });
 * let { obs } = await env.reset({ seed: 1 });
 * for (;;) {
 *   const r = await env.step(policy(obs));
 *   obs = r.obs;
 *   if (r.terminated) { console.log(r.reward, r.info.composition); break; }
 * }
 *
 * Departures from the released code (spec §1, §9.2), on purpose:
 * - The focus advances: `obs.current` is the site the next action fills (−1 once all are filled).
 *   The released code sets the focus to the BFS start at reset and never moves it (spec §1.2); a
 *   policy that wants that signal reads `info.start` of the reset.
 * - The last step is `terminated` only; `truncated` stays false (the released code sets both, which
 *   would make a learner bootstrap through a true terminal state).
 * - Edges are every pair within a radial cut-off, not CrystalNN bonds (see graph.ts).
 * - A site the BFS cannot reach is appended in index order rather than dropping the BFS altogether.
 * - Any errorFlag > 0 gets the failure reward (the released density path crashes on missing output).
 */
import type { PropertyName, PropertyProvider, PropertyResult } from "../../calculators/property.js";
import { Crystal } from "../../structure/crystal.js";
import { Rng } from "../../structure/random-source.js";
import { bfsOrder, crystalGraph, DEFAULT_CUTOFF, latticeState, templateGraph, type TemplateGraph } from "./graph.js";
import { DEFAULT_TARGETS, propertyReward, type RewardOptions } from "./rewards.js";
import { template as namedTemplate, templateFromCrystal, type CrystalTemplate } from "./templates.js";
import type { CrystalGraph } from "./types.js";
import { vocabulary as makeVocabulary, type Vocabulary, type VocabularyName } from "./vocabulary.js";

export interface CrystalGymOptions {
  /** A shipped template's name ("perovskite"), a template (`templateFromCif(...)`), or a Crystal. */
  template: string | CrystalTemplate | Crystal;
  property: PropertyName;
  /** p̂: spec §4's defaults when left out (1.12 eV, 300 GPa, 3.0 g/cm³). Fed raw into the state. */
  target?: number;
  /** Elements the agent may place (spec §3): "small" (the default, 18), "medium", "large", or symbols. */
  vocabulary?: VocabularyName | readonly string[] | Vocabulary;
  /** Computes the property of a finished crystal (a DFT engine, a cache, or `analyticDensity()`). */
  provider: PropertyProvider;
  /** Edge cut-off in Å (default 4, see graph.ts). */
  cutoff?: number;
  /** Seeds the start-site stream until a `reset({ seed })` reseeds it (default 0). */
  seed?: number;
  /** Reward knobs other than the target: density β, bulk-modulus floor, failure reward (spec §4 defaults). */
  reward?: Omit<RewardOptions, "target">;
}

export interface CrystalGymStep {
  obs: CrystalGraph;
  /** 0 until the last site; then the property reward (spec §4). */
  reward: number;
  /** True on the step that fills the last site. */
  terminated: boolean;
  /** Always false: an episode ends only by filling every site. */
  truncated: boolean;
  info: Record<string, unknown>;
}

export class CrystalGymEnv {
  readonly template: CrystalTemplate;
  readonly vocabulary: Vocabulary;
  readonly property: PropertyName;
  readonly target: number;
  readonly provider: PropertyProvider;
  /** The template's edges, computed once. */
  readonly graph: TemplateGraph;
  /** [a, b, c, α, β, γ, p̂], shared by every observation (spec §1.2). */
  readonly state: Float32Array;
  /** Number of actions: the vocabulary's size. */
  readonly actions: number;
  private readonly rewardOptions: RewardOptions;
  private readonly positions: Float64Array;
  private rng: Rng;
  private readonly tokens: Int32Array;
  private order: Int32Array = new Int32Array(0);
  /** Sites filled so far; −1 before the first reset. */
  private t = -1;

  constructor(options: CrystalGymOptions) {
    const { property, provider } = options;
    this.template =
      typeof options.template === "string"
        ? namedTemplate(options.template)
        : options.template instanceof Crystal
          ? templateFromCrystal(options.template)
          : options.template;
    this.vocabulary = makeVocabulary(options.vocabulary ?? "small");
    if (!(property in DEFAULT_TARGETS)) {
      throw new RangeError(`unknown property "${String(property)}"; CrystalGym rewards ${Object.keys(DEFAULT_TARGETS).join(", ")}`);
    }
    if (!provider.properties.includes(property)) {
      throw new RangeError(`the ${provider.engine} provider does not compute "${property}" (it computes ${provider.properties.join(", ")})`);
    }
    this.property = property;
    this.provider = provider;
    this.target = options.target ?? DEFAULT_TARGETS[property];
    if (!Number.isFinite(this.target) || (property !== "band-gap" && !(this.target > 0))) {
      throw new RangeError(`target for ${property} must be a ${property === "band-gap" ? "finite" : "positive"} number, got ${this.target}`);
    }
    this.rewardOptions = { ...options.reward, target: this.target };
    this.graph = templateGraph(this.template.crystal, options.cutoff ?? DEFAULT_CUTOFF);
    this.state = latticeState(this.template.crystal, this.target);
    this.actions = this.vocabulary.size;
    this.positions = this.template.crystal.positions;
    this.rng = new Rng(options.seed ?? 0);
    this.tokens = new Int32Array(this.sites).fill(this.vocabulary.blank);
  }

  /** Sites in the template = steps per episode. */
  get sites(): number {
    return this.graph.sites;
  }

  /** The episode's fill order (a copy); empty before the first reset. */
  get fillOrder(): Int32Array {
    return this.order.slice();
  }

  /** True once every site of the current episode is filled. */
  get done(): boolean {
    return this.t === this.sites;
  }

  /**
   * Blanks every site and picks a uniformly random BFS start site (spec §1.1). `seed` reseeds the
   * stream (Gymnasium's `reset(seed=)`); later resets without one continue it.
   */
  async reset(options: { seed?: number } = {}): Promise<{ obs: CrystalGraph; info: Record<string, unknown> }> {
    if (options.seed !== undefined) this.rng = new Rng(options.seed);
    const start = this.rng.int(this.sites);
    this.order = bfsOrder(this.graph, start);
    this.tokens.fill(this.vocabulary.blank);
    this.t = 0;
    return {
      obs: this.observe(),
      info: { start, order: Array.from(this.order), sites: this.sites, template: this.template.name },
    };
  }

  /**
   * Writes element `action` on the current site and moves to the next. The last site's step calls
   * the provider on the filled crystal and returns the reward; its info holds property, value, unit,
   * errorFlag, reason, seconds, engine, composition (reduced formula), surrogate and target.
   * A RangeError for an action that is not an integer in [0, actions), before a reset, or after the end.
   */
  async step(action: number): Promise<CrystalGymStep> {
    if (!Number.isInteger(action) || action < 0 || action >= this.actions) {
      throw new RangeError(`action ${String(action)} is not an integer in [0, ${this.actions}) (the ${this.vocabulary.name} vocabulary)`);
    }
    if (this.t < 0) throw new RangeError(`action ${action}: call reset() before step()`);
    if (this.t === this.sites) throw new RangeError(`action ${action}: the episode is over (all ${this.sites} sites are filled); call reset()`);
    const site = this.order[this.t]!;
    this.tokens[site] = action;
    this.t++;
    if (this.t < this.sites) {
      return { obs: this.observe(), reward: 0, terminated: false, truncated: false, info: { site } };
    }
    const crystal = this.filledCrystal();
    const result = await this.provider.evaluate(crystal, this.property);
    const reward = propertyReward(this.property, result, this.rewardOptions);
    return { obs: this.observe(), reward, terminated: true, truncated: false, info: { site, ...finalInfo(result, crystal), target: this.target } };
  }

  /** The observation now: a copy of the tokens over the shared edges and state. */
  observe(): CrystalGraph {
    const current = this.t >= 0 && this.t < this.sites ? this.order[this.t]! : -1;
    return crystalGraph(this.graph, this.tokens, this.vocabulary.blank, current, this.state);
  }

  /**
   * The template filled with `tokens` (one per site, in site order), or with this episode's tokens
   * when left out. A RangeError naming the site when a token is blank or out of the vocabulary.
   */
  filledCrystal(tokens: ArrayLike<number> = this.tokens): Crystal {
    if (tokens.length !== this.sites) throw new RangeError(`the ${this.template.name} template has ${this.sites} sites, got ${tokens.length} tokens`);
    const numbers = new Int32Array(this.sites);
    for (let i = 0; i < this.sites; i++) {
      const t = tokens[i]!;
      if (t === this.vocabulary.blank) throw new RangeError(`site ${i} is not filled yet`);
      if (!Number.isInteger(t) || t < 0 || t >= this.vocabulary.size) {
        throw new RangeError(`site ${i}: token ${t} is not in the ${this.vocabulary.name} vocabulary (0..${this.vocabulary.size - 1})`);
      }
      numbers[i] = this.vocabulary.numbers[t]!;
    }
    return new Crystal({ cell: this.template.crystal.lattice, positions: this.positions, numbers });
  }
}

function finalInfo(result: PropertyResult, crystal: Crystal): Record<string, unknown> {
  return {
    property: result.property,
    value: result.value,
    unit: result.unit,
    errorFlag: result.errorFlag,
    reason: result.reason ?? null,
    seconds: result.seconds,
    engine: result.engine,
    composition: crystal.reducedFormula,
    surrogate: result.surrogate ?? false,
  };
}
