/**
 * Many structures of different sizes playing the relaxation game together, TorchSim-style: one
 * Float32Array of observations for all their atoms (total atoms × obsSize) with a per-atom `system`
 * index and per-structure `offsets`, so one policy call serves every atom of every structure.
 *
 * `step(actions)` moves each structure by its slice of `actions` (3 per atom, same row order as
 * `obs`), makes exactly one force call per structure (`computeSync` when the calculator has it,
 * otherwise `compute`, all structures' calls in flight together), and returns per-atom rewards,
 * per-structure `terminated` / `truncated` flags and infos. A finished structure is replaced by a
 * fresh one from `source` (`autoReset`, for training) or left done (for evaluation: it takes no more
 * steps, costs nothing, and its rows keep their last observation).
 *
 * Auto-reset is Gymnasium's "same-step" mode: the step's result keeps the transitions apart from
 * what to act on next: `nextObs`, `reward`, `system` and `offsets` are the layout of the atoms that
 * just stepped (a replay buffer's s'), while `obs` (also `batch.obs`, `batch.system`,
 * `batch.offsets`) is the layout after the finished structures were replaced.
 *
 * Every array a step returns is new (the batch never writes it again), so a learner may keep them.
 *
 * Forces. `forces: "each"` (default) calls the calculator once per structure. `forces: "batched"`
 * evaluates all structures in one call of the calculator's batched twin on TensorFlow.js
 * (calculators/batched: ionic() and lj() have one; float32, so observations and rewards agree with
 * "each" to float32, not bit for bit), on the backend in use: meant for a GPU backend (on wasm, 2
 * cores, 64 random 40-atom SrTiO3 cells take 174 ms a batched call against 84 ms one by one in
 * TypeScript, bench/batched-forces.ts, 2026-11-23). The twin is
 * built on the first structures; a structure replaced on auto-reset (or redrawn) is swapped in with
 * `BatchedModel.replace`, which rebuilds only the lists of the group of ~6 structures that holds it
 * (bench/batched-forces.ts --macs, wasm: 10-17 ms for one slot, against 600-710 ms to build the
 * 64-structure model anew). Every slot is evaluated in each call (a finished one at its last
 * positions, evaluation mode); the calculator's `counts` still count one call per structure that
 * needed one, as "each" does. `dispose()` frees the twin's device memory.
 *
 * @example
 * const batch = RelaxationBatch.createSync({
 *   calculator: ionic(), size: 16, seed: 1,
 *   source: randomSource([{ composition: "SrTiO3", atoms: 40 }, { composition: "Ca3Ti2O7", atoms: 48 }]),
 * });
 * let obs = batch.obs;
 * for (let t = 0; t < 1000; t++) {
 *   const actions = policy(obs, batch.totalAtoms);             // one call for all atoms
 *   const r = batch.stepSync(actions);
 *   replay.add(obs, actions, r.reward, r.nextObs, perAtom(r.terminated, r.system));
 *   obs = r.obs;
 * }
 */
import { batchedTwin, hasBatchedTwin, type BatchedModel, type BatchOptions, type BatchResult } from "../calculators/batched/index.js";
import type { CallCounts, Calculator, Computed } from "../calculators/calculator.js";
import type { Crystal } from "../structure/crystal.js";
import { Rng } from "../structure/random-source.js";
import { macsParameters, type MacsParameters } from "./features.js";
import { observationSize } from "./observation.js";
import type { CrystalSource } from "./sources.js";
import { evaluate, evaluateSync, RelaxationState, type RelaxationInfo } from "./state.js";

export interface RelaxationBatchOptions extends Partial<MacsParameters> {
  calculator: Calculator;
  /** The first structure of every slot (evaluation; or the first episodes of training). */
  structures?: readonly Crystal[];
  /** Fresh structures: for the slots when `structures` is not given, and for auto-resets. */
  source?: CrystalSource;
  /** Number of structures when they come from `source`. Default: `structures.length`. */
  size?: number;
  /** Replace a finished structure by a fresh one from `source`. Default: true when there is a source. */
  autoReset?: boolean;
  /** Seed of the stream the source draws from: draw e uses `new Rng(seed).fork(e)`. Default 0. */
  seed?: number;
  /** Fresh draws in a row that may already be converged before a slot gives up. Default 100. */
  maxRedraws?: number;
  /**
   * "each" (default): one calculator call per structure; "batched": one call of the calculator's
   * batched TensorFlow.js twin for all structures (ionic and lj only; see the file comment).
   */
  forces?: "each" | "batched";
  /** Options of the batched twin (candidate lists, memory): `forces: "batched"` only. */
  batchOptions?: BatchOptions;
}

export interface BatchStep {
  /** Observations after this step, in this step's layout (`system`, `offsets`): the transitions' s'. */
  nextObs: Float32Array;
  /** Per atom of this step's layout: log|g_i^t| − log|g_i^{t+1}| (0 for a structure that was already done). */
  reward: Float32Array;
  /** Structure of each atom in this step's layout. */
  system: Int32Array;
  /** First atom of each structure in this step's layout (size + 1 entries). */
  offsets: Int32Array;
  /** Per structure: the episode ended at this step in a terminal state (converged, or blew up: see `failed`). */
  terminated: Uint8Array;
  /** Per structure: hit the step cap at this step without converging. */
  truncated: Uint8Array;
  /** Per structure: blew up at this step (fmax past `blowUpFmax`, training only): terminal, and a failure. */
  failed: Uint8Array;
  /** Per structure: took part in this step (was not done before it). */
  active: Uint8Array;
  /** Per structure, after this step (a replaced structure's finished episode). */
  info: RelaxationInfo[];
  /** Structures replaced by fresh ones after this step. */
  reset: number[];
  /** What to act on next: `nextObs` when nothing was replaced, else the new layout (`batch.system`, `batch.offsets`). */
  obs: Float32Array;
  /** Milliseconds of this step: all of it, and the force calls within it. */
  timing: { totalMs: number; forceMs: number };
}

/** Structures to evaluate: the slots and their structures. */
interface Request {
  slots: number[];
  crystals: Crystal[];
}

/**
 * The work of a reset or a step as a generator: it yields the structures to evaluate and receives
 * their results, so that one body serves the synchronous and the asynchronous drivers.
 */
type Plan<T> = Generator<Request, T, Computed[]>;

export class RelaxationBatch {
  readonly params: MacsParameters;
  readonly calculator: Calculator;
  readonly size: number;
  readonly autoReset: boolean;
  /** How forces are computed: one call per structure, or one batched call for all. */
  readonly forces: "each" | "batched";
  /** Numbers per atom in an observation (204 for k = 12). */
  readonly obsSize: number;
  /** Observations to act on: totalAtoms × obsSize. */
  obs: Float32Array = new Float32Array(0);
  /** Structure of each atom (replaced, never written, when the layout changes). */
  system: Int32Array = new Int32Array(0);
  /** First atom of each structure (size + 1). */
  offsets: Int32Array = new Int32Array(0);
  /** Per structure: finished and left as it is (evaluation mode). */
  readonly done: Uint8Array;
  /** Structures drawn from the source so far. */
  draws = 0;
  private states: RelaxationState[] = [];
  private readonly source?: CrystalSource;
  private readonly root: Rng;
  private readonly maxRedraws: number;
  private forceMs = 0;
  /** The batched twin ("batched"), the structure each of its slots holds, and their last positions. */
  private twin: BatchedModel | null = null;
  private twinCrystals: Crystal[] = [];
  private readonly batchOptions: BatchOptions;

  private constructor(options: RelaxationBatchOptions) {
    const { calculator, structures, source, size, autoReset, seed = 0, maxRedraws = 100, forces = "each", batchOptions = {}, ...params } = options;
    this.params = macsParameters(params);
    this.calculator = calculator;
    this.source = source;
    this.size = size ?? structures?.length ?? 0;
    if (!Number.isInteger(this.size) || this.size < 1) throw new RangeError(`a batch needs at least one structure (size ${this.size})`);
    if (structures && structures.length !== this.size) throw new RangeError(`size is ${this.size} but ${structures.length} structures were given`);
    if (!structures && !source) throw new RangeError("a batch needs structures or a source");
    this.autoReset = autoReset ?? source !== undefined;
    if (this.autoReset && !source) throw new RangeError("autoReset needs a source of fresh structures");
    this.root = new Rng(seed);
    this.maxRedraws = maxRedraws;
    this.obsSize = observationSize(this.params.k);
    this.done = new Uint8Array(this.size);
    if (forces !== "each" && forces !== "batched") throw new RangeError(`forces must be "each" or "batched", got ${String(forces)}`);
    if (forces === "batched" && !hasBatchedTwin(calculator)) {
      throw new RangeError(`forces: "batched" needs a calculator with a batched twin (ionic, lj); ${calculator.name} has none: use forces: "each"`);
    }
    this.forces = forces;
    this.batchOptions = batchOptions;
  }

  /** A batch with its first force calls made (`computeSync` when the calculator has it). */
  static async create(options: RelaxationBatchOptions): Promise<RelaxationBatch> {
    const batch = new RelaxationBatch(options);
    await batch.runAsync(batch.initPlan(options.structures));
    return batch;
  }

  /** `create` with the calculator's `computeSync`. */
  static createSync(options: RelaxationBatchOptions): RelaxationBatch {
    const batch = new RelaxationBatch(options);
    batch.runSync(batch.initPlan(options.structures));
    return batch;
  }

  /** Atoms over all structures: rows of `obs`. */
  get totalAtoms(): number {
    return this.system.length;
  }

  /** Atoms of structure `s`. */
  natoms(s: number): number {
    return this.offsets[s + 1]! - this.offsets[s]!;
  }

  /** The current structure in slot `s`. */
  crystal(s: number): Crystal {
    return this.slot(s).crystal;
  }

  /** What slot `s` reports now. */
  info(s: number): RelaxationInfo {
    return this.slot(s).info();
  }

  /** The game state of slot `s` (forces, g, features, neighbours). */
  state(s: number): RelaxationState {
    return this.slot(s);
  }

  /** Every structure is done (evaluation: each converged or truncated). */
  get allDone(): boolean {
    return this.done.every((x) => x === 1);
  }

  /** The batched twin ("batched", once built), e.g. for its counts and memory. */
  get batched(): BatchedModel | null {
    return this.twin;
  }

  /** Frees the batched twin's device memory ("batched"; nothing to do for "each"). */
  dispose(): void {
    this.twin?.dispose();
    this.twin = null;
  }

  async step(actions: ArrayLike<number>): Promise<BatchStep> {
    const t0 = performance.now();
    this.forceMs = 0;
    const r = await this.runAsync(this.stepPlan(actions));
    r.timing = { totalMs: performance.now() - t0, forceMs: this.forceMs };
    return r;
  }

  /** `step` with the calculator's `computeSync`. */
  stepSync(actions: ArrayLike<number>): BatchStep {
    const t0 = performance.now();
    this.forceMs = 0;
    const r = this.runSync(this.stepPlan(actions));
    r.timing = { totalMs: performance.now() - t0, forceMs: this.forceMs };
    return r;
  }

  // ---------------------------------------------------------------------------------------------
  // Plans

  private *initPlan(structures?: readonly Crystal[]): Plan<void> {
    const crystals = structures ? [...structures] : Array.from({ length: this.size }, () => this.draw());
    this.states = crystals.map((c) => new RelaxationState(c, this.params));
    const results = yield { slots: crystals.map((_, s) => s), crystals };
    this.states.forEach((st, s) => st.start(results[s]!));
    yield* this.settle(Array.from({ length: this.size }, (_, s) => s));
    this.layout();
  }

  private *stepPlan(actions: ArrayLike<number>): Plan<BatchStep> {
    const n = this.totalAtoms;
    if (actions.length !== 3 * n) throw new RangeError(`expected ${3 * n} action components (3 per atom of ${this.size} structures), got ${actions.length}`);
    const { system, offsets, obsSize } = this;
    const active = new Uint8Array(this.size);
    const moving: number[] = [];
    const crystals: Crystal[] = [];
    for (let s = 0; s < this.size; s++) {
      if (this.done[s]) continue;
      active[s] = 1;
      moving.push(s);
      crystals.push(this.states[s]!.move(actions, 3 * offsets[s]!));
    }
    const results = crystals.length > 0 ? yield { slots: moving, crystals } : [];

    const reward = new Float32Array(n);
    const terminated = new Uint8Array(this.size);
    const truncated = new Uint8Array(this.size);
    const failed = new Uint8Array(this.size);
    const nextObs = new Float32Array(n * obsSize);
    const finished: number[] = [];
    moving.forEach((s, j) => {
      const st = this.states[s]!;
      st.advance(results[j]!, reward, offsets[s]!);
      st.observe(nextObs, offsets[s]! * obsSize);
      terminated[s] = st.converged || st.blownUp ? 1 : 0;
      truncated[s] = st.truncated ? 1 : 0;
      failed[s] = st.blownUp ? 1 : 0;
      if (st.finished) finished.push(s);
    });
    // Done structures keep their last observation.
    for (let s = 0; s < this.size; s++) {
      if (!active[s]) nextObs.set(this.obs.subarray(offsets[s]! * obsSize, offsets[s + 1]! * obsSize), offsets[s]! * obsSize);
    }
    const info = this.states.map((st) => st.info());

    let obs: Float32Array = nextObs;
    let reset: number[] = [];
    if (this.autoReset && finished.length > 0) {
      reset = finished;
      const old = this.states;
      this.states = [...old];
      for (const s of reset) this.states[s] = new RelaxationState(this.draw(), this.params);
      const fresh = yield { slots: reset, crystals: reset.map((s) => this.states[s]!.crystal) };
      reset.forEach((s, j) => this.states[s]!.start(fresh[j]!));
      yield* this.settle(reset);
      this.layout(nextObs, offsets, new Set(reset));
      obs = this.obs;
    } else {
      for (const s of finished) this.done[s] = 1;
      this.obs = nextObs;
    }
    return { nextObs, reward, system, offsets, terminated, truncated, failed, active, info, reset, obs, timing: { totalMs: 0, forceMs: 0 } };
  }

  /**
   * Slots among `slots` whose fresh structure is already converged: redrawn (auto-reset; an episode of
   * no steps teaches nothing) or marked done (evaluation).
   */
  private *settle(slots: readonly number[]): Plan<void> {
    let pending = slots.filter((s) => this.states[s]!.finished);
    if (!this.autoReset) {
      for (const s of pending) this.done[s] = 1;
      return;
    }
    for (let round = 0; pending.length > 0; round++) {
      if (round >= this.maxRedraws) throw new Error(`${this.maxRedraws} fresh structures in a row were already converged or out of steps`);
      for (const s of pending) this.states[s] = new RelaxationState(this.draw(), this.params);
      const results = yield { slots: pending, crystals: pending.map((s) => this.states[s]!.crystal) };
      pending.forEach((s, j) => this.states[s]!.start(results[j]!));
      pending = pending.filter((s) => this.states[s]!.finished);
    }
  }

  /**
   * Rebuilds `system`, `offsets` and `obs` from the states. With `previous`, rows of structures not in
   * `fresh` are copied from that observation array (laid out by `previousOffsets`).
   */
  private layout(previous?: Float32Array, previousOffsets?: Int32Array, fresh?: ReadonlySet<number>): void {
    const size = this.obsSize;
    const offsets = new Int32Array(this.size + 1);
    for (let s = 0; s < this.size; s++) offsets[s + 1] = offsets[s]! + this.states[s]!.natoms;
    const total = offsets[this.size]!;
    const system = new Int32Array(total);
    for (let s = 0; s < this.size; s++) system.fill(s, offsets[s]!, offsets[s + 1]!);
    const obs = new Float32Array(total * size);
    for (let s = 0; s < this.size; s++) {
      if (previous && previousOffsets && !fresh?.has(s)) {
        obs.set(previous.subarray(previousOffsets[s]! * size, previousOffsets[s + 1]! * size), offsets[s]! * size);
      } else {
        this.states[s]!.observe(obs, offsets[s]! * size);
      }
    }
    this.obs = obs;
    this.system = system;
    this.offsets = offsets;
  }

  private draw(): Crystal {
    if (!this.source) throw new RangeError("no source of fresh structures");
    return this.source(this.root.fork(this.draws++));
  }

  private slot(s: number): RelaxationState {
    const st = this.states[s];
    if (!st) throw new RangeError(`no structure ${s} in a batch of ${this.size}`);
    return st;
  }

  // ---------------------------------------------------------------------------------------------
  // Drivers

  private runSync<T>(plan: Plan<T>): T {
    let r = plan.next();
    while (!r.done) {
      const t0 = performance.now();
      const request = r.value;
      const results = this.forces === "batched" ? this.fromTwin(request, this.prepareTwin(request).compute(this.twinPositions())) : request.crystals.map((c) => evaluateSync(this.calculator, c));
      this.forceMs += performance.now() - t0;
      r = plan.next(results);
    }
    return r.value;
  }

  private async runAsync<T>(plan: Plan<T>): Promise<T> {
    let r = plan.next();
    while (!r.done) {
      const t0 = performance.now();
      const request = r.value;
      const results =
        this.forces === "batched"
          ? this.fromTwin(request, await this.prepareTwin(request).computeAsync(this.twinPositions()))
          : await Promise.all(request.crystals.map((c) => evaluate(this.calculator, c)));
      this.forceMs += performance.now() - t0;
      r = plan.next(results);
    }
    return r.value;
  }

  /**
   * The twin, holding the request's structures: built on the first request (every slot), then new
   * structures (a reset, a redraw) swapped in with `replace`; moved ones only change positions.
   */
  private prepareTwin(request: Request): BatchedModel {
    if (!this.twin) {
      if (request.slots.length !== this.size) throw new Error("the first batched request must hold every slot");
      const crystals: Crystal[] = new Array(this.size);
      request.slots.forEach((s, k) => (crystals[s] = request.crystals[k]!));
      this.twin = batchedTwin(this.calculator, crystals, this.batchOptions);
      this.twinCrystals = crystals;
      return this.twin;
    }
    const slots: number[] = [];
    const fresh: Crystal[] = [];
    request.slots.forEach((s, k) => {
      const c = request.crystals[k]!;
      if (!sameStructure(this.twinCrystals[s]!, c)) {
        slots.push(s);
        fresh.push(c);
      }
      this.twinCrystals[s] = c;
    });
    if (slots.length > 0) this.twin.replace(slots, fresh);
    return this.twin;
  }

  /** Positions of every slot: each slot's latest structure (a finished one keeps its last). */
  private twinPositions(): Float64Array[] {
    return this.twinCrystals.map((c) => c.positions);
  }

  /** The requested slots' results of a batched call; counted on the calculator, one call each. */
  private fromTwin(request: Request, r: BatchResult): Computed[] {
    const offsets = this.twin!.batch.offsets;
    const counts = this.calculator.counts as CallCounts;
    counts.calls += request.slots.length;
    counts.forceCalls += request.slots.length;
    return request.slots.map((s) => ({ energy: r.energies[s]!, forces: r.forces.slice(3 * offsets[s]!, 3 * offsets[s + 1]!) }));
  }
}

/** Same cell and atoms (positions may differ): the twin's lists still hold. */
function sameStructure(a: Crystal, b: Crystal): boolean {
  if (a === b) return true;
  if (a.natoms !== b.natoms) return false;
  if (a.lattice !== b.lattice) {
    const p = a.cell;
    const q = b.cell;
    for (let k = 0; k < 9; k++) if (p[k] !== q[k]) return false;
  }
  if (a.numbers !== b.numbers) for (let i = 0; i < a.natoms; i++) if (a.numbers[i] !== b.numbers[i]) return false;
  return true;
}

/**
 * A per-structure flag spread over that structure's atoms (`system` of the same layout): e.g. each
 * atom-transition's `terminated` for a replay buffer, `perAtom(r.terminated, r.system)`.
 */
export function perAtom(flags: ArrayLike<number>, system: Int32Array): Uint8Array {
  const out = new Uint8Array(system.length);
  for (let i = 0; i < system.length; i++) out[i] = flags[system[i]!]! ? 1 : 0;
  return out;
}
