/**
 * Where fresh structures come from when an episode starts: a function of a seeded stream, so the
 * same seed gives the same structures (spec §6.4: each episode draws a training composition
 * uniformly at random and builds a fresh random structure of it).
 *
 * @example
 * const source = randomSource([
 *   { composition: "SrTiO3", atoms: 40 },
 *   { composition: "Ca3Ti2O7", atoms: 48 },
 * ]);
 * const crystal = source(new Rng(7));
 */
import type { Crystal } from "../structure/crystal.js";
import { randomCrystal, type RandomCrystalOptions } from "../structure/random.js";
import type { Rng } from "../structure/random-source.js";

/** A fresh structure from a seeded stream: the same stream state gives the same structure. */
export type CrystalSource = (rng: Rng) => Crystal;

/** Random crystals (AIRSS-like, structure/random.ts), the composition picked uniformly from `choices` per draw. */
export function randomSource(choices: RandomCrystalOptions | readonly RandomCrystalOptions[]): CrystalSource {
  const list: readonly RandomCrystalOptions[] = Array.isArray(choices) ? choices : [choices as RandomCrystalOptions];
  if (list.length === 0) throw new RangeError("randomSource needs at least one composition");
  return (rng) => randomCrystal(list.length === 1 ? list[0]! : list[rng.int(list.length)]!, rng);
}

/** The given structures in turn (cycling), whatever the stream: for tests and fixed sets. */
export function cycleSource(structures: readonly Crystal[]): CrystalSource {
  if (structures.length === 0) throw new RangeError("cycleSource needs at least one structure");
  let next = 0;
  return () => structures[next++ % structures.length]!;
}
