/**
 * The observation of CrystalGym: a crystal graph over the template's sites (spec §1.2). Plain typed
 * arrays (no tensors: envs/ does not know TensorFlow.js); rl/ packs a batch of them into tensors.
 * CrystalGymEnv gives every observation its own `nodeTokens`; the edge arrays and `state` are shared
 * by all observations of one environment (the template never changes): read them, never write them.
 */
export interface CrystalGraph {
  /** Per site: the element token in [0, vocabulary size), or `blank` (= vocabulary size) while unfilled. */
  nodeTokens: Int32Array;
  /** The token that means "not yet filled" (= the vocabulary size). */
  blank: number;
  /**
   * The site the next action fills (-1 once every site is filled). It advances with each step, unlike
   * the released code's focus, which stays on the BFS start (spec §1.2).
   */
  current: number;
  /** Directed edges: both directions of every neighbour pair within the cut-off, one per periodic image. */
  edgeSrc: Int32Array;
  edgeDst: Int32Array;
  /** |r_dst - r_src + image| in Å, one per edge. */
  edgeDistance: Float32Array;
  /** Global state: lattice a, b, c (Å), α, β, γ (degrees) and the target value p̂ (spec: raw, unnormalised). */
  state: Float32Array;
}
