import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import {
  cachedProvider,
  PROPERTY_CACHE_SCHEMA_VERSION,
  PropertyCache,
  structureKey,
} from "../../src/calculators/property-cache.js";
import type { PropertyName, PropertyOptions, PropertyProvider, PropertyResult } from "../../src/calculators/property.js";
import { Crystal } from "../../src/structure/crystal.js";
import { Rng } from "../../src/structure/random-source.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "crystal-rl-cache-"));
after(() => rmSync(dir, { recursive: true, force: true }));
let fileNo = 0;
const freshPath = (): string => join(dir, `sub${++fileNo}`, "dft.sqlite");

/**
 * A test double for the cache's logic: counts its calls and returns the crystal's real density, or
 * a scripted failure. (The GPAW engine is tested in gpaw.test.ts.)
 */
class CountingProvider implements PropertyProvider {
  readonly engine = "counting";
  readonly settings = Object.freeze({ model: "mass/volume", version: 1, nested: { b: 2, a: [1, 2] } });
  readonly properties: readonly PropertyName[] = ["density", "band-gap"];
  calls = 0;
  /** What the next calls return instead of a value: an error flag and reason. */
  fail: { errorFlag: 1 | 2 | 3 | 4; reason: string } | undefined;
  delayMs = 0;
  async evaluate(crystal: Crystal, property: PropertyName, options: PropertyOptions = {}): Promise<PropertyResult> {
    this.calls++;
    if (this.delayMs) await new Promise((r) => setTimeout(r, this.delayMs));
    const base = { property, unit: property === "density" ? "g/cm3" : "eV", engine: this.engine, seconds: 12.5 } as const;
    if (options.signal?.aborted) return { ...base, value: null, errorFlag: 4, reason: "aborted", details: { aborted: true } };
    if (this.fail) return { ...base, value: null, ...this.fail };
    return { ...base, value: crystal.density, errorFlag: 0, details: { energies: Float64Array.of(-1.5, -2.5), k: [6, 6, 6] } };
  }
}

// A CrystalGym-like template: a cubic perovskite cell, 5 sites; a composition fills its sites.
const TEMPLATE = {
  cell: [
    [3.905, 0, 0],
    [0, 3.905, 0],
    [0, 0, 3.905],
  ],
  frac: [0, 0, 0, 0.5, 0.5, 0.5, 0.5, 0.5, 0, 0.5, 0, 0.5, 0, 0.5, 0.5],
};
const fill = (symbols: readonly string[]): Crystal => Crystal.fromFractional(TEMPLATE.cell, TEMPLATE.frac, symbols);

test("structure key: the same filled template maps to one key however its atoms are ordered or wrapped", () => {
  const a = fill(["Sr", "Ti", "O", "O", "O"]);
  // Same atoms, another order, one atom shifted by a lattice vector, another 3e-7 off.
  const frac = [0.5, 0.5, 0, 0, 0, 1, 0.5, 0.5, 0.5, 0.5, 0, 0.5, 0, 0.5, 0.5 + 3e-7];
  const b = Crystal.fromFractional(TEMPLATE.cell, frac, ["O", "Sr", "Ti", "O", "O"]);
  assert.equal(structureKey(a), structureKey(b));
  assert.match(structureKey(a), /^[0-9a-f]{64}$/);
  assert.notEqual(structureKey(a), structureKey(fill(["Ba", "Ti", "O", "O", "O"])), "another composition");
  assert.notEqual(structureKey(a), structureKey(fill(["Ti", "Sr", "O", "O", "O"])), "the same composition on other sites");
  const strained = Crystal.fromFractional([[3.906, 0, 0], [0, 3.905, 0], [0, 0, 3.905]], TEMPLATE.frac, a.symbols);
  assert.notEqual(structureKey(a), structureKey(strained), "another cell");
});

test("a repeated composition never reruns the engine, in this process or after reopening the file", async (t) => {
  const path = freshPath();
  const engine = new CountingProvider();
  let cache = PropertyCache.open(path);
  let provider = cachedProvider(engine, cache);
  // A policy that has narrowed down to two elements per site: 32 compositions.
  const choices = [["Sr", "Ba"], ["Ti", "Zr"], ["O", "F"], ["O", "S"], ["O", "N"]];
  const rng = new Rng(7);
  const seen = new Map<string, number>();
  for (let episode = 0; episode < 300; episode++) {
    const symbols = choices.map((pair) => pair[rng.int(2)]!);
    const key = symbols.join("");
    const r = await provider.evaluate(fill(symbols), "density");
    assert.equal(r.errorFlag, 0);
    assert.ok(Math.abs(r.value! - fill(symbols).density) < 1e-12);
    assert.equal(r.seconds, 12.5, "a hit keeps the engine's seconds");
    if (seen.has(key)) assert.equal(r.details?.["cached"], true);
    else assert.equal(r.details?.["cached"], undefined);
    seen.set(key, (seen.get(key) ?? 0) + 1);
  }
  assert.equal(engine.calls, seen.size, "one engine run per distinct composition");
  assert.ok(seen.size <= 32 && seen.size > 20, `${seen.size} distinct compositions`);
  const s = provider.stats;
  assert.equal(s.misses, seen.size);
  assert.equal(s.hits, 300 - seen.size);
  assert.ok(Math.abs(s.hitRate - s.hits / 300) < 1e-12);
  assert.ok(Math.abs(s.engineSeconds - 12.5 * seen.size) < 1e-9);
  assert.ok(Math.abs(s.savedSeconds - 12.5 * s.hits) < 1e-9);
  assert.equal(cache.count(), seen.size);
  // Stored details survive as JSON (typed arrays as arrays).
  const row = cache.rows()[0]!;
  assert.deepEqual(row.details, { energies: [-1.5, -2.5], k: [6, 6, 6] });
  assert.deepEqual(row.settings, { model: "mass/volume", nested: { a: [1, 2], b: 2 }, version: 1 });
  // Lookup cost, for the record.
  const probe = fill(["Sr", "Sr", "Sr", "Sr", "Sr"]);
  await provider.evaluate(probe, "density");
  const t0 = performance.now();
  for (let i = 0; i < 2000; i++) await provider.evaluate(probe, "density");
  t.diagnostic(`a cache hit (structure key + lookup + JSON) takes ${(((performance.now() - t0) / 2000) * 1000).toFixed(1)} µs`);
  cache.close();

  // A new process (here: a new connection and wrapper) sees every result.
  const calls = engine.calls;
  cache = PropertyCache.open(path);
  provider = cachedProvider(engine, cache);
  for (const key of seen.keys()) {
    const symbols = key.match(/[A-Z][a-z]?/g)!;
    const r = await provider.evaluate(fill(symbols), "density");
    assert.equal(r.details?.["cached"], true);
  }
  assert.equal(engine.calls, calls, "no engine call after reopening");
  assert.equal(provider.stats.hitRate, 1);
  // Another property or other settings are other keys.
  await provider.evaluate(probe, "band-gap");
  assert.equal(engine.calls, calls + 1);
  cache.close();
});

test("identical calls in flight share one engine run", async () => {
  const engine = new CountingProvider();
  engine.delayMs = 50;
  const cache = PropertyCache.open(freshPath());
  const provider = cachedProvider(engine, cache);
  const c = fill(["Ba", "Zr", "O", "O", "O"]);
  const results = await Promise.all(Array.from({ length: 8 }, () => provider.evaluate(c, "density")));
  assert.equal(engine.calls, 1);
  assert.ok(results.every((r) => r.value === results[0]!.value && r.errorFlag === 0));
  assert.equal(provider.stats.misses, 1);
  assert.equal(provider.stats.hits, 7);
  assert.equal(cache.count(), 1);
  cache.close();
});

test("a call that joined a run its first caller aborted runs the engine itself", async () => {
  const engine = new CountingProvider();
  engine.delayMs = 50;
  const cache = PropertyCache.open(freshPath());
  const provider = cachedProvider(engine, cache);
  const c = fill(["Ba", "Ti", "O", "O", "O"]);
  const first = new AbortController();
  const waiting = new AbortController();
  const runs = [
    provider.evaluate(c, "density", { signal: first.signal }),
    provider.evaluate(c, "density"),
    provider.evaluate(c, "density", { signal: waiting.signal }),
  ];
  first.abort();
  waiting.abort();
  const [aborted, joined, gaveUp] = await Promise.all(runs);
  assert.equal(aborted!.errorFlag, 4);
  assert.equal(gaveUp!.errorFlag, 4);
  assert.equal(gaveUp!.details?.["abortedWaiting"], true);
  assert.equal(joined!.errorFlag, 0);
  assert.equal(engine.calls, 2);
  assert.equal(cache.count(), 1);
  cache.close();
});

test("timeouts and aborted runs are not stored; deterministic failures are", async () => {
  const engine = new CountingProvider();
  const cache = PropertyCache.open(freshPath());
  const provider = cachedProvider(engine, cache);
  const c = fill(["Sr", "Zr", "O", "O", "O"]);

  engine.fail = { errorFlag: 4, reason: "timed out after 1000 ms" };
  assert.equal((await provider.evaluate(c, "band-gap")).errorFlag, 4);
  assert.equal((await provider.evaluate(c, "band-gap")).errorFlag, 4);
  assert.equal(engine.calls, 2, "a timeout is retried, never served from the cache");

  engine.fail = undefined;
  const controller = new AbortController();
  controller.abort();
  assert.equal((await provider.evaluate(c, "density", { signal: controller.signal })).errorFlag, 4);
  assert.equal(cache.count(), 0);

  engine.fail = { errorFlag: 2, reason: "charge is wrong" };
  const first = await provider.evaluate(c, "band-gap");
  engine.fail = undefined;
  const again = await provider.evaluate(c, "band-gap");
  assert.equal(engine.calls, 4);
  assert.equal(again.errorFlag, 2);
  assert.equal(again.value, null);
  assert.equal(again.reason, first.reason);
  assert.equal(again.details?.["cached"], true);
  assert.equal(provider.stats.notStored, 3);
  assert.equal(provider.stats.stored, 1);
  cache.close();
});

interface Child {
  /** Sends a line to its stdin. */
  send(line: string): void;
  done: Promise<{ code: number | null; signal: string | null; stderr: string }>;
}

/** Runs `code` (an ES module, TypeScript allowed) in a new Node process with tsx; `onLine` sees its stdout. */
function child(code: string, args: string[], onLine?: (line: string, kill: () => void) => void): Child {
  const proc = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", code, ...args], { cwd: ROOT, stdio: ["pipe", "pipe", "pipe"] });
  let stderr = "";
  let buffer = "";
  proc.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  proc.stdout.on("data", (d: Buffer) => {
    buffer += d.toString();
    const lines = buffer.split("\n");
    buffer = lines.pop()!;
    for (const line of lines) onLine?.(line, () => proc.kill("SIGKILL"));
  });
  return {
    send: (line) => proc.stdin.write(line + "\n"),
    done: new Promise((resolve) => proc.on("close", (code, signal) => resolve({ code, signal, stderr }))),
  };
}

// Writes rows [start, start + count) (count -1: forever), each with a 4 kB payload so a row spans
// pages, printing each index once its INSERT has returned. With a 4th argument "wait" it prints
// "ready" once the cache is open and starts on the first line of stdin.
const WRITER = `
import { PropertyCache, cachedProvider } from "./src/calculators/property-cache.ts";
import { Crystal } from "./src/structure/crystal.ts";
const [path, start, count, wait] = process.argv.slice(1);
const cache = PropertyCache.open(path);
if (wait === "wait") {
  process.stdout.write("ready\\n");
  await new Promise((resolve) => process.stdin.once("data", resolve));
  process.stdin.destroy(); // or it keeps this process alive
}
const engine = {
  engine: "counting", settings: { model: "mass/volume" }, properties: ["density"],
  async evaluate(c, property) {
    const i = Math.round((c.cell[0] - 3) * 1e4);
    return { property, value: i, unit: "g/cm3", engine: "counting", seconds: i / 10, errorFlag: 0,
             details: { i, payload: String(i).padEnd(4096, "#") } };
  },
};
const provider = cachedProvider(engine, cache);
for (let i = Number(start); Number(count) < 0 || i < Number(start) + Number(count); i++) {
  const c = Crystal.fromFractional([3 + i * 1e-4, 0, 0, 0, 3, 0, 0, 0, 3], [0, 0, 0], ["Na"]);
  await provider.evaluate(c, "density");
  process.stdout.write(i + "\\n");
}
cache.close();
`;

/** Every row is whole: its value, seconds and 4 kB payload agree with its index. */
function checkRows(path: string): number[] {
  const db = new Database(path, { readonly: true });
  try {
    assert.equal(db.pragma("integrity_check", { simple: true }), "ok");
    const rows = db.prepare("SELECT value, seconds, details, settings FROM results").all() as { value: number; seconds: number; details: string; settings: string }[];
    for (const r of rows) {
      const d = JSON.parse(r.details) as { i: number; payload: string };
      assert.equal(d.i, r.value);
      assert.equal(r.seconds, r.value / 10);
      assert.equal(d.payload, String(d.i).padEnd(4096, "#"));
      assert.deepEqual(JSON.parse(r.settings), { model: "mass/volume" });
    }
    return rows.map((r) => r.value).sort((a, b) => a - b);
  } finally {
    db.close();
  }
}

test("two processes writing one file at the same time lose nothing", async () => {
  const path = freshPath();
  const span = [
    [Infinity, 0],
    [Infinity, 0],
  ];
  let ready = 0;
  const writers: Child[] = [];
  const onLine = (k: number) => (line: string) => {
    if (line === "ready") {
      if (++ready === 2) writers.forEach((w) => w.send("go")); // both open: start together
      return;
    }
    span[k]![0] = Math.min(span[k]![0]!, performance.now());
    span[k]![1] = performance.now();
  };
  writers.push(child(WRITER, [path, "0", "600", "wait"], onLine(0)), child(WRITER, [path, "300", "600", "wait"], onLine(1)));
  const [a, b] = await Promise.all(writers.map((w) => w.done));
  assert.equal(a!.code, 0, a!.stderr);
  assert.equal(b!.code, 0, b!.stderr);
  assert.ok(span[0]![0]! < span[1]![1]! && span[1]![0]! < span[0]![1]!, "the two writers overlapped in time");
  const values = checkRows(path);
  assert.deepEqual(values, Array.from({ length: 900 }, (_, i) => i));
});

test("writers killed with SIGKILL mid-loop leave a sound file with whole rows, which reopens", async () => {
  const path = freshPath();
  let total = 0;
  // Three crashes in a row, each after 100 acknowledged rows (and whatever the writer did before
  // the signal landed), each on the file the previous crash left behind.
  for (let round = 0; round < 3; round++) {
    let acknowledged = -1;
    const r = await child(WRITER, [path, String(total), "-1"], (line, kill) => {
      acknowledged = Number(line);
      if (acknowledged === total + 100) kill();
    }).done;
    assert.equal(r.signal, "SIGKILL", r.stderr);
    assert.ok(existsSync(`${path}-wal`), "killed with its WAL file open");
    const values = checkRows(path);
    // Every INSERT that returned before the kill is there, perhaps the one in flight, nothing else.
    assert.ok(values.length >= acknowledged + 1, `${values.length} rows, ${acknowledged + 1} acknowledged`);
    assert.deepEqual(values, Array.from({ length: values.length }, (_, i) => i));
    total = values.length;
  }
  // Reopen and go on writing, over rows that exist and rows that do not.
  const more = await child(WRITER, [path, String(total - 50), "100"]).done;
  assert.equal(more.code, 0, more.stderr);
  assert.deepEqual(checkRows(path), Array.from({ length: total + 50 }, (_, i) => i));
  const cache = PropertyCache.open(path);
  assert.equal(cache.count(), total + 50);
  cache.close();
});

test("a file that is not SQLite is refused with its name and never written", () => {
  const path = freshPath();
  PropertyCache.open(path).close(); // creates the folder
  rmSync(path);
  for (const f of readdirSync(join(path, ".."))) rmSync(join(path, "..", f));
  const text = "structure,value\nNaCl,5.0\n".repeat(10);
  writeFileSync(path, text);
  assert.throws(() => PropertyCache.open(path), (err: Error) => err.message.includes(path) && /not an SQLite database/.test(err.message));
  assert.equal(readFileSync(path, "utf8"), text);
  assert.deepEqual(readdirSync(join(path, "..")), ["dft.sqlite"], "no -wal or -shm beside it");

  // SQLite's header, then garbage: SQLite itself refuses it, and the error still names the file.
  const garbage = Buffer.concat([Buffer.from("SQLite format 3\0"), Buffer.alloc(4000, 0xa5)]);
  writeFileSync(path, garbage);
  assert.throws(() => PropertyCache.open(path), (err: Error) => err.message.includes(path));
  assert.ok(readFileSync(path).equals(garbage));
});

test("an SQLite file of another application, or of another schema version, is refused", () => {
  const other = freshPath();
  PropertyCache.open(other).close();
  const db = new Database(other);
  db.exec("DROP TABLE results; DROP TABLE meta; CREATE TABLE runs (id INTEGER)");
  db.close();
  assert.throws(() => PropertyCache.open(other), (err: Error) => err.message.includes(other) && /not a crystal-rl property cache/.test(err.message));

  const path = freshPath();
  PropertyCache.open(path).close();
  const raw = new Database(path);
  raw.prepare("UPDATE meta SET value = '99' WHERE key = 'schema_version'").run();
  raw.close();
  assert.throws(
    () => PropertyCache.open(path),
    (err: Error) => err.message.includes(path) && err.message.includes("schema version 99") && err.message.includes(`version ${PROPERTY_CACHE_SCHEMA_VERSION}`),
  );
  assert.throws(() => PropertyCache.open(path, { readonly: true }), /schema version 99/);
});

test("a read-only cache serves hits and stores nothing", async () => {
  const path = freshPath();
  const engine = new CountingProvider();
  const writable = PropertyCache.open(path);
  await cachedProvider(engine, writable).evaluate(fill(["Sr", "Ti", "O", "O", "O"]), "density");
  writable.close();
  const cache = PropertyCache.open(path, { readonly: true });
  const provider = cachedProvider(engine, cache);
  assert.equal((await provider.evaluate(fill(["Sr", "Ti", "O", "O", "O"]), "density")).details?.["cached"], true);
  await provider.evaluate(fill(["Ba", "Ti", "O", "O", "O"]), "density");
  assert.equal(cache.count(), 1);
  assert.equal(provider.stats.notStored, 1);
  cache.close();
  assert.throws(() => PropertyCache.open(join(dir, "missing", "x.sqlite"), { readonly: true }), /no such file/);
});
