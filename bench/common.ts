/**
 * What the benchmarks share: best-of timing, rattled structures, and running a Python peer (ASE,
 * LAMMPS) on the same inputs.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Crystal } from "../src/structure/crystal.js";
import { Rng } from "../src/structure/random-source.js";

/** The shortest of `runs` timed calls of `f` (ms). */
export function best(runs: number, f: () => unknown): number {
  let t = Infinity;
  for (let k = 0; k < runs; k++) {
    const t0 = performance.now();
    f();
    t = Math.min(t, performance.now() - t0);
  }
  return t;
}

/** `crystal` with every coordinate moved by a seeded normal deviate of `sd` Å. */
export function rattle(crystal: Crystal, sd: number, seed: number): Crystal {
  const rng = new Rng(seed);
  return crystal.withPositions(Float64Array.from(crystal.positions, (x) => x + rng.normal(0, sd)));
}

/** A crystal as the Python peers read it: { cell, positions, numbers }. */
export function structureJson(c: Crystal): { cell: number[][]; positions: number[]; numbers: number[] } {
  return { cell: c.lattice.toArray(), positions: [...c.positions], numbers: [...c.numbers] };
}

/**
 * Runs the Python peer `script` (under /usr/bin/python3) on `inputs`, each written as a JSON file in a
 * temporary folder that is removed afterwards; `args` gets those files' paths and gives the command
 * line. Returns the peer's output lines, each parsed as JSON; when the peer cannot run (`name` not
 * installed, say), says so on stderr and returns [], so the benchmark prints crystal-rl alone.
 */
export function runPeer<T>(name: string, script: string, inputs: unknown[], args: (files: string[]) => string[]): T[] {
  const dir = mkdtempSync(join(tmpdir(), "crystal-rl-bench-"));
  try {
    const files = inputs.map((input, k) => {
      const file = join(dir, `input${k}.json`);
      writeFileSync(file, JSON.stringify(input));
      return file;
    });
    const out = execFileSync("/usr/bin/python3", [script, ...args(files)], { encoding: "utf8", maxBuffer: 1 << 28 });
    return out
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as T);
  } catch (e) {
    console.error(`${name} peer unavailable (${(e as Error).message.split("\n")[0]}); printing crystal-rl only`);
    return [];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
