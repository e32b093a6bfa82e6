import type { Crystal } from "../../structure/crystal.js";
import { neighbourList } from "../../structure/neighbours.js";
import type { CrystalGraph } from "./types.js";

/**
 * The fixed part of a CrystalGym observation: the template's edges, computed once (lattice and
 * positions never change during an episode, spec §1.1), so a step only copies the node tokens.
 *
 * Edges are radial, not CrystalNN bonds as in the paper (spec §9.1: porting CrystalNN is not worth it):
 * every ordered pair (i, j, image) closer than the cut-off, so each neighbour pair appears in both
 * directions, once per periodic image, a site's own images included.
 *
 * Default cut-off 4 Å: MEGNet's own default cut-off (spec §1.2), and it gives every site of every
 * shipped template a neighbour, the longest nearest-neighbour distance being CsCl's Cs–Cl at 3.57 Å.
 * No shipped template has a distance near the border (the closest are Na–Na at 3.99 Å in rocksalt,
 * kept, and S–S at 4.04 Å in sulvanite, left out), so the graph does not hinge on rounding.
 */
export const DEFAULT_CUTOFF = 4;

export interface TemplateGraph {
  readonly sites: number;
  readonly cutoff: number;
  /** Directed edges, sorted by source site, then distance: both directions of every pair. */
  readonly edgeSrc: Int32Array;
  readonly edgeDst: Int32Array;
  /** |r_dst − r_src + S·cell| in Å. */
  readonly edgeDistance: Float32Array;
  /** The integer image S of each edge (3 per edge): the reverse of (i, j, S) is (j, i, −S). */
  readonly edgeShift: Int32Array;
  /** Distinct neighbour sites of each site, ascending, as CSR: site i's are adjacency[adjStart[i] .. adjStart[i+1]). */
  readonly adjStart: Int32Array;
  readonly adjacency: Int32Array;
}

/**
 * The edge graph of `crystal` within `cutoff` Å. A RangeError naming the site when a site has no
 * neighbour within the cut-off (an isolated node gets no messages: raise the cut-off).
 */
export function templateGraph(crystal: Crystal, cutoff = DEFAULT_CUTOFF): TemplateGraph {
  const n = crystal.natoms;
  const list = neighbourList(crystal, cutoff);
  const order = Array.from({ length: list.count }, (_, k) => k);
  const { i, j, distances: d, shifts: s } = list;
  // A canonical order, independent of the cell list's binning; distances equal to 1e-9 Å tie.
  order.sort(
    (p, q) =>
      i[p]! - i[q]! ||
      (Math.abs(d[p]! - d[q]!) > 1e-9 ? d[p]! - d[q]! : 0) ||
      j[p]! - j[q]! ||
      s[3 * p]! - s[3 * q]! ||
      s[3 * p + 1]! - s[3 * q + 1]! ||
      s[3 * p + 2]! - s[3 * q + 2]!,
  );
  const m = order.length;
  const edgeSrc = new Int32Array(m);
  const edgeDst = new Int32Array(m);
  const edgeDistance = new Float32Array(m);
  const edgeShift = new Int32Array(3 * m);
  order.forEach((p, k) => {
    edgeSrc[k] = i[p]!;
    edgeDst[k] = j[p]!;
    edgeDistance[k] = d[p]!;
    for (let c = 0; c < 3; c++) edgeShift[3 * k + c] = s[3 * p + c]!;
  });

  const adjStart = new Int32Array(n + 1);
  const adj: number[] = [];
  for (let a = 0, k = 0; a < n; a++) {
    adjStart[a] = adj.length;
    const first = k;
    const seen = new Set<number>();
    for (; k < m && edgeSrc[k] === a; k++) seen.add(edgeDst[k]!);
    if (k === first) {
      throw new RangeError(
        `site ${a} (${crystal.symbols[a]}) has no neighbour within the ${cutoff} Å cut-off; ` +
          `pass a larger cutoff (its nearest neighbour is ${nearest(crystal, a).toFixed(3)} Å away)`,
      );
    }
    seen.delete(a); // an edge to the site's own image links no new site
    adj.push(...[...seen].sort((x, y) => x - y));
  }
  adjStart[n] = adj.length;
  return { sites: n, cutoff, edgeSrc, edgeDst, edgeDistance, edgeShift, adjStart, adjacency: Int32Array.from(adj) };
}

/** The distance from site `a` to its nearest periodic neighbour (for the error message). */
function nearest(crystal: Crystal, a: number): number {
  const l = crystal.lattice;
  let r = Math.max(l.a, l.b, l.c);
  for (;;) {
    const list = neighbourList(crystal, r);
    let best = Infinity;
    for (let p = list.start[a]!; p < list.start[a + 1]!; p++) best = Math.min(best, list.distances[p]!);
    if (best < Infinity) return best;
    r *= 2;
  }
}

/**
 * Breadth-first site order from `start` over the edge graph, neighbours visited in ascending index
 * (spec §1.1: DGL's `bfs_nodes_generator`, frontiers concatenated). Sites the search does not reach
 * are appended in index order, so every site appears exactly once (the released code falls back to
 * 0..n−1 for the whole order instead).
 */
export function bfsOrder(graph: TemplateGraph, start: number): Int32Array {
  const n = graph.sites;
  if (!Number.isInteger(start) || start < 0 || start >= n) throw new RangeError(`BFS start ${start} is not a site (0..${n - 1})`);
  const order = new Int32Array(n);
  const seen = new Uint8Array(n);
  let head = 0;
  let tail = 0;
  order[tail++] = start;
  seen[start] = 1;
  while (head < tail) {
    const a = order[head++]!;
    for (let p = graph.adjStart[a]!; p < graph.adjStart[a + 1]!; p++) {
      const b = graph.adjacency[p]!;
      if (!seen[b]) {
        seen[b] = 1;
        order[tail++] = b;
      }
    }
  }
  // Unreached sites, in index order (they do not seed a new search).
  for (let a = 0; a < n && tail < n; a++) if (!seen[a]) order[tail++] = a;
  return order;
}

/** The global state of spec §1.2: [a, b, c (Å), α, β, γ (degrees), target], raw, unnormalised. */
export function latticeState(crystal: Crystal, target: number): Float32Array {
  const p = crystal.lattice.parameters;
  return Float32Array.of(p.a, p.b, p.c, p.alpha, p.beta, p.gamma, target);
}

/**
 * An observation over `graph`: `tokens` is copied, the edge arrays and `state` are shared with every
 * other observation of the same environment (read-only by convention: they never change).
 */
export function crystalGraph(graph: TemplateGraph, tokens: Int32Array, blank: number, current: number, state: Float32Array): CrystalGraph {
  return {
    nodeTokens: tokens.slice(),
    blank,
    current,
    edgeSrc: graph.edgeSrc,
    edgeDst: graph.edgeDst,
    edgeDistance: graph.edgeDistance,
    state,
  };
}
