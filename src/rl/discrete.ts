import type * as tf from "@tensorflow/tfjs";

/**
 * The contract between the discrete-action algorithms (dqn, rainbow, ppo, sac-discrete) and what they
 * train on. An algorithm is generic over the observation type O: a CrystalGym graph, or anything a
 * network can read. Nothing here knows crystals.
 */

/** One Gymnasium step. Termination and truncation are kept apart (truncation bootstraps). */
export interface DiscreteStep<O> {
  obs: O;
  reward: number;
  terminated: boolean;
  truncated: boolean;
  info: Record<string, unknown>;
}

/** A single environment with `actions` discrete actions. Steps may be slow (a DFT run): async. */
export interface DiscreteEnv<O> {
  readonly actions: number;
  reset(options?: { seed?: number }): Promise<{ obs: O; info: Record<string, unknown> }>;
  step(action: number): Promise<DiscreteStep<O>>;
}

/**
 * A network over a batch of observations: [batch, outputs] (logits, Q-values, a value, or C51 atom
 * logits flattened). Variables in a stable order, so a target copy is `copyWeights(a.variables,
 * b.variables)` between two networks made by the same factory.
 */
export interface ObservationNetwork<O> {
  readonly variables: readonly tf.Variable[];
  apply(observations: readonly O[]): tf.Tensor2D;
  dispose(): void;
}

/** Makes a fresh network with `outputs` outputs, initialised from `seed`. */
export type ObservationNetworkFactory<O> = (outputs: number, seed: number) => ObservationNetwork<O>;
