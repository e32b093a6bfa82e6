/**
 * Batched calculators on TensorFlow.js: one tensor pass computes energies and analytic forces for a
 * batch of crystals of different sizes (atoms of all structures on one axis with a per-atom structure
 * index, as TorchSim batches them), for the GPU backends and for MACS's many small cells. The only
 * part of calculators/ that imports @tensorflow/tfjs; not re-exported from calculators/index.ts, so
 * the TypeScript models load without it. Float32 throughout (every tfjs backend): see the parity tests
 * in test/calculators/batched.test.ts for how close they come to the float64 models.
 *
 * Candidate pairs per structure (lists.ts): every pair × image for small cells (built once per cell),
 * or a Verlet list (cut-off + skin, from the cell list, rebuilt when atoms move past the skin) for
 * large ones, picked per structure (`neighbours`). `replace` swaps structures (MACS's auto-reset);
 * `batchedTwin` builds the batched model of a TypeScript calculator (ionic, lj) with its settings.
 *
 * @example
 * await useBackend("wasm");
 * const model = batchedIonic(crystals);                  // Pedone et al. (2006), as ionic()
 * const { energies, forces } = model.compute();          // Float64Array(S), Float64Array(3A)
 * const t = model.computeTensors(positionsTensor);       // stays on the device; dispose t.energies, t.forces
 */
export {
  BatchedModel,
  DEFAULT_BATCH_OPTIONS,
  StructureBatch,
  imageShifts,
  selfShifts,
  type BatchOptions,
  type BatchResult,
  type BatchTensors,
  type ListKind,
  type PairTable,
  type PairTerm,
  type PositionsInput,
} from "./batch.js";
export { BatchedIonic, batchedIonic, type BatchedIonicOptions } from "./ionic-batch.js";
export { BatchedLennardJones, batchedLennardJones, type BatchedLennardJonesOptions } from "./lj-batch.js";
export { batchedTwin, hasBatchedTwin } from "./twin.js";
