import { Rng } from "../../structure/random-source.js";

/** What `randomPolicyReward` needs of an environment (any discrete Gymnasium-like env). */
export interface EpisodicEnv {
  readonly actions: number;
  reset(options?: { seed?: number }): Promise<{ info: Record<string, unknown> }>;
  step(action: number): Promise<{ reward: number; terminated: boolean; truncated: boolean; info: Record<string, unknown> }>;
}

export interface RandomPolicyReport {
  episodes: number;
  /** Mean episodic return (undiscounted), the baseline a learning curve should beat. */
  mean: number;
  /** Standard deviation of the returns (population). */
  std: number;
  min: number;
  max: number;
  /** Episodes whose final info had errorFlag > 0. */
  failures: number;
  /** Every episode's return, in order. */
  returns: Float64Array;
}

/**
 * The uniform random policy's mean return over `episodes` episodes: the floor a CrystalGym learning
 * curve is compared with. The first reset is seeded with `seed` (later ones continue the env's stream)
 * and actions come from a separate stream of the same seed, so the same seed gives the same numbers.
 * It resets `env`: do not interleave it with a training loop on the same env.
 */
export async function randomPolicyReward(env: EpisodicEnv, episodes: number, seed = 0): Promise<RandomPolicyReport> {
  if (!Number.isInteger(episodes) || episodes < 1) throw new RangeError(`episodes must be a positive integer, got ${episodes}`);
  const actions = new Rng(seed).fork(1);
  const returns = new Float64Array(episodes);
  let failures = 0;
  for (let e = 0; e < episodes; e++) {
    await env.reset(e === 0 ? { seed } : {});
    let total = 0;
    for (;;) {
      const r = await env.step(actions.int(env.actions));
      total += r.reward;
      if (r.terminated || r.truncated) {
        if (typeof r.info.errorFlag === "number" && r.info.errorFlag > 0) failures++;
        break;
      }
    }
    returns[e] = total;
  }
  let mean = 0;
  for (const r of returns) mean += r / episodes;
  let v = 0;
  for (const r of returns) v += (r - mean) ** 2 / episodes;
  return { episodes, mean, std: Math.sqrt(v), min: Math.min(...returns), max: Math.max(...returns), failures, returns };
}
