/**
 * Environments: the MACS relaxation game (atoms are agents relaxing a fixed-cell crystal; one
 * structure as `RelaxationGame`, many as `RelaxationBatch`), and a policy seen as an optimiser.
 */
export * from "./features.js";
export * from "./observation.js";
export * from "./state.js";
export * from "./sources.js";
export * from "./relaxation-game.js";
export * from "./batch.js";
export * from "./batch-relax.js";
export * from "./policy.js";
export * from "./teacher.js";
export * from "./crystal-gym/index.js";
