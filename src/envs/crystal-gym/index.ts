/**
 * CrystalGym (crystalgym-spec §1–§4): site filling on fixed crystal templates, rewarded by a
 * property of the finished crystal.
 */
export * from "./types.js";
export * from "./vocabulary.js";
export * from "./templates.js";
export * from "./graph.js";
export * from "./rewards.js";
export * from "./env.js";
export * from "./random-policy.js";
