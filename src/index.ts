/** crystal-rl: the public API. */
export * from "./structure/index.js";
export * from "./io/index.js";
export * from "./calculators/index.js";
export * from "./optimizers/index.js";
export * from "./experiment/index.js";
export * from "./notebook/index.js";
export * from "./envs/index.js";
export * from "./tensor/index.js";
export * from "./rl/index.js";
