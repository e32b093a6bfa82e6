/** Reinforcement learning: shared-parameter SAC for MACS, its networks, replay buffer and normaliser. */
export {
  SAC_DEFAULT_CONFIG,
  SAC_SMALL_CONFIG,
  PendingSacMetrics,
  Sac,
  squashedGaussian,
  type ActOptions,
  type ImitateOptions,
  type SacConfig,
  type SacMetricName,
  type SacMetrics,
  type SacOptions,
  type SacUpdateMetrics,
  type SaveOptions as SacSaveOptions,
} from "./sac.js";
export { ReplayBuffer, emptyBatch, type Batch, type ReplayBufferOptions, type Transitions } from "./replay-buffer.js";
export { Normaliser, type NormaliserOptions, type NormaliserState } from "./normaliser.js";
export {
  Mlp,
  copyVariables,
  copyWeights,
  dense,
  layersMlp,
  linearInit,
  mlp,
  newVariable,
  parameterCount,
  polyakUpdate,
  type GradientNeeds,
  type Network,
  type NetworkFactory,
  type NetworkOptions,
} from "./networks.js";
export { readCheckpoint, readCheckpointMeta, writeCheckpoint, type BlobArray } from "./checkpoint.js";
export {
  MACS_DEFAULT_CONFIG,
  MACS_TRAINING_COMPOSITIONS,
  MACS_ZERO_SHOT,
  exportMacsPolicy,
  latestCheckpoint,
  loadMacsPolicy,
  macsConfig,
  macsHistory,
  macsTraining,
  parseCompositions,
  trainMacs,
  type MacsComposition,
  type MacsConfig,
  type MacsPolicy,
  type MacsProgress,
  type TrainMacsOptions,
  type TrainMacsResult,
} from "./macs.js";
export { MEGNET_SIZES, Megnet, RELEASED_EDGE_BASIS, megnet, type EdgeBasis, type MegnetOptions } from "./megnet.js";
export { STATE_SIZE, gatherRows, graphTensors, packGraphs, segmentSoftmax, segmentSum, type GraphTensors, type PackOptions, type PackedGraphs } from "./graph-batch.js";
export type { DiscreteEnv, DiscreteStep, ObservationNetwork, ObservationNetworkFactory } from "./discrete.js";
export { DQN_DEFAULT_CONFIG, Dqn, linearSchedule, type DqnConfig, type DqnMetrics } from "./dqn.js";
export {
  NoisyLinear,
  RAINBOW_DEFAULT_CONFIG,
  Rainbow,
  RainbowNetwork,
  duelingCombine,
  projectDistribution,
  type RainbowConfig,
  type RainbowMetrics,
} from "./rainbow.js";
export { PPO_DEFAULT_CONFIG, Ppo, computeGae, type PpoConfig, type PpoMetrics, type Rollout } from "./ppo.js";
export { SAC_DISCRETE_DEFAULT_CONFIG, SacDiscrete, type SacDiscreteConfig, type SacDiscreteMetrics } from "./sac-discrete.js";
export {
  DiscreteReplayBuffer,
  EpisodeStats,
  NStepBuffer,
  PrioritizedReplayBuffer,
  SumTree,
  hasCheckpoint,
  infoMetrics,
  type DiscreteBatch,
  type DiscreteProgress,
  type DiscreteRecord,
  type DiscreteTrainOptions,
  type DiscreteTransition,
  type EnvTransition,
  type PrioritizedReplayOptions,
  type ReplayOptions,
} from "./discrete-replay.js";
export { VectorNetwork, clipByGlobalNorm, vectorNetwork, type VectorNetworkOptions } from "./vector-network.js";
