export * from "./elements.js";
export * from "./units.js";
export * from "./lattice.js";
export * from "./formula.js";
export * from "./crystal.js";
export * from "./neighbours.js";
