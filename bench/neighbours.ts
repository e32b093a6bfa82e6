/**
 * Neighbour-list benchmark: crystal-rl's cell list against ASE's neighbor_list on the same
 * structures (1k, 10k, 100k atoms, triclinic, about 12 Å³ per atom, cutoff 5 Å), measured in the
 * same run. Prints time per atom, to show linear growth, and the ratio to ASE.
 *
 *   npm run bench:neighbours            (needs /usr/bin/python3 with python3-ase for the peer column)
 */
import { Crystal } from "../src/structure/crystal.js";
import { Lattice } from "../src/structure/lattice.js";
import { neighbourList } from "../src/structure/neighbours.js";
import { Rng } from "../src/structure/random-source.js";
import { best, runPeer, structureJson } from "./common.js";

const CUTOFF = 5;
const SIZES = [1_000, 10_000, 100_000];
const REPEATS = 3;

/** A triclinic box of `n` atoms at 12 Å³/atom with seeded uniform positions. */
function box(n: number, seed: number): Crystal {
  const rng = new Rng(seed);
  const lattice = Lattice.fromParameters(1, 1.1, 0.9, 80, 100, 110).scaledToVolume(12 * n);
  const frac = Float64Array.from({ length: 3 * n }, () => rng.next());
  return Crystal.fromFractional(lattice, frac, new Int32Array(n).fill(8));
}

const crystals = SIZES.map((n, k) => box(n, k + 1));
const peer = runPeer<{ natoms: number; pairs: number; ms: number }>("ASE", "bench/neighbours_ase.py", crystals.map(structureJson), (files) => [
  String(CUTOFF),
  String(REPEATS),
  ...files,
]);
console.log(`neighbour list, cutoff ${CUTOFF} Å, best of ${REPEATS}; ${new Date().toISOString().slice(0, 10)}, node ${process.version}`);
console.log("natoms    pairs       crystal-rl ms  µs/atom  ASE ms     ASE/crystal-rl");
for (let k = 0; k < SIZES.length; k++) {
  const c = crystals[k]!;
  let pairs = 0;
  const ms = best(REPEATS, () => (pairs = neighbourList(c, CUTOFF).count));
  const p = peer[k];
  if (p && p.pairs !== pairs) throw new Error(`pair count differs from ASE at ${c.natoms} atoms: ${pairs} vs ${p.pairs}`);
  console.log(
    [
      String(c.natoms).padEnd(9),
      String(pairs).padEnd(11),
      ms.toFixed(1).padStart(13),
      ((1000 * ms) / c.natoms).toFixed(2).padStart(8),
      (p ? p.ms.toFixed(1) : "-").padStart(7),
      (p ? (p.ms / ms).toFixed(2) + "x" : "-").padStart(17),
    ].join(" "),
  );
}
