export * from "./calculator.js";
export * from "./pair-sum.js";
export * from "./lj.js";
export * from "./morse.js";
export * from "./emt.js";
export * from "./ewald.js";
export * from "./ionic.js";
export * from "./external/index.js";
