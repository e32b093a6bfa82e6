/**
 * A persistent cache of property results (DFT band gaps, bulk moduli, densities) in one SQLite file,
 * shared by every worker thread and process that opens it.
 *
 * ```ts
 * const cache = PropertyCache.open("runs/dft-cache.sqlite");
 * const qe = cachedProvider(espresso(), cache);
 * const r = await qe.evaluate(crystal, "band-gap");   // runs pw.x once ...
 * const s = await qe.evaluate(crystal, "band-gap");   // ... and never again: s.details.cached === true
 * qe.stats;                                           // { hits: 1, misses: 1, hitRate: 0.5, engineSeconds, ... }
 * cache.close();
 * ```
 *
 * Why it is exact: the engines are deterministic for a given structure and settings, and CrystalGym's
 * policies revisit compositions all the time (spec §9.2 "Cost budget"). A row is keyed by
 * (structure key, property, engine, settings hash):
 * - the structure key is a SHA-256 of the cell (rounded to 1e-6 Å) and the sorted (species,
 *   fractional coordinates wrapped into [0, 1) and rounded to 1e-6) of its atoms, so a filled
 *   template (CrystalGym's template + composition) maps to the same key however its atoms are ordered
 *   or wrapped. The cell is taken as given (no Niggli reduction): the same template gives the same cell.
 * - the settings hash is a SHA-256 of the provider's `settings` as canonical JSON (sorted keys), which
 *   hold everything that changes the numbers, engine version included; the JSON is stored readable.
 *
 * Durability: WAL journal, one INSERT per result (a whole row or nothing, also under SIGKILL), a
 * busy timeout so concurrent writers wait for each other instead of failing. WAL needs a local
 * filesystem (not NFS). A file that is not SQLite, or a cache of another schema version, is refused
 * with an error naming the file and is never written.
 */
import { createHash } from "node:crypto";
import { closeSync, existsSync, mkdirSync, openSync, readSync, statSync } from "node:fs";
import { dirname, resolve } from "node:path";
import Database from "better-sqlite3";
import type { Crystal } from "../structure/crystal.js";
import { PROPERTY_UNITS, type ErrorFlag, type PropertyName, type PropertyOptions, type PropertyProvider, type PropertyResult } from "./property.js";

/** The layout this code reads and writes; a file of another version is refused, never migrated silently. */
export const PROPERTY_CACHE_SCHEMA_VERSION = 1;

const SQLITE_MAGIC = "SQLite format 3\0";
const KEY_PREFIX = "crystal-rl/structure-key/v1";

export interface PropertyCacheOptions {
  /** How long a statement waits for another writer's lock before failing (ms). Default 30 000. */
  busyTimeoutMs?: number;
  /** Open an existing cache for lookups only. */
  readonly?: boolean;
}

/** The four parts of a row's key. */
export interface PropertyCacheKey {
  structureKey: string;
  property: PropertyName;
  engine: string;
  settingsHash: string;
}

/** One stored row, as `rows()` returns it. */
export interface PropertyCacheRow extends PropertyCacheKey {
  formula: string;
  value: number | null;
  unit: string;
  errorFlag: ErrorFlag;
  reason: string | null;
  surrogate: boolean;
  seconds: number;
  details: Record<string, unknown> | null;
  settings: Record<string, unknown>;
  createdAt: string;
}

interface RawRow {
  structure_key: string;
  property: string;
  engine: string;
  settings_hash: string;
  formula: string;
  value: number | null;
  unit: string;
  error_flag: number;
  reason: string | null;
  surrogate: number;
  seconds: number;
  details: string | null;
  settings: string;
  created_at: string;
}

const SCHEMA = `
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE results (
  structure_key TEXT NOT NULL,
  property      TEXT NOT NULL,
  engine        TEXT NOT NULL,
  settings_hash TEXT NOT NULL,
  formula       TEXT NOT NULL,
  structure     TEXT NOT NULL,   -- canonical cell + species + fractional coordinates (JSON)
  value         REAL,            -- eV, GPa or g/cm3; NULL when error_flag > 0
  unit          TEXT NOT NULL,
  error_flag    INTEGER NOT NULL,
  reason        TEXT,
  surrogate     INTEGER NOT NULL,
  seconds       REAL NOT NULL,   -- the engine's wall-clock seconds when it ran
  details       TEXT,            -- JSON
  settings      TEXT NOT NULL,   -- the provider's settings (engine version included), JSON
  created_at    TEXT NOT NULL,   -- ISO 8601
  PRIMARY KEY (structure_key, property, engine, settings_hash)
) WITHOUT ROWID;
`;

/** A persistent store of property results; see the module comment. */
export class PropertyCache {
  /** Absolute path of the database file. */
  readonly path: string;
  readonly readonly: boolean;
  private readonly db: Database.Database;
  private readonly getStmt: Database.Statement;
  private readonly putStmt: Database.Statement | undefined;

  private constructor(path: string, db: Database.Database, readonly: boolean) {
    this.path = path;
    this.db = db;
    this.readonly = readonly;
    this.getStmt = db.prepare(
      "SELECT * FROM results WHERE structure_key = ? AND property = ? AND engine = ? AND settings_hash = ?",
    );
    this.putStmt = readonly
      ? undefined
      : db.prepare(
          `INSERT OR REPLACE INTO results (structure_key, property, engine, settings_hash, formula, structure, value, unit,
             error_flag, reason, surrogate, seconds, details, settings, created_at)
           VALUES (@structure_key, @property, @engine, @settings_hash, @formula, @structure, @value, @unit,
             @error_flag, @reason, @surrogate, @seconds, @details, @settings, @created_at)`,
        );
  }

  /**
   * Opens (or creates, with its parent folders) the cache at `path`. Throws an Error naming the file
   * when it is not SQLite, not a crystal-rl cache, corrupt, or of another schema version.
   */
  static open(path: string, options: PropertyCacheOptions = {}): PropertyCache {
    const file = resolve(path);
    const readonly = options.readonly ?? false;
    const what = `property cache ${file}`;
    if (existsSync(file)) {
      if (!statSync(file).isFile()) throw new Error(`${what}: not a regular file`);
      assertSqliteHeader(file, what);
    } else if (readonly) {
      throw new Error(`${what}: no such file (a read-only cache must exist)`);
    } else {
      mkdirSync(dirname(file), { recursive: true });
    }
    let db: Database.Database | undefined;
    try {
      db = new Database(file, { readonly, fileMustExist: readonly });
      db.pragma(`busy_timeout = ${Math.max(0, Math.round(options.busyTimeoutMs ?? 30_000))}`);
      if (!readonly) {
        db.pragma("journal_mode = WAL");
        db.pragma("synchronous = NORMAL"); // with WAL: safe against a killed process, not a power cut
      }
      const version = readonly ? readVersion(db, what) : db.transaction(() => initialise(db!, what)).immediate();
      if (version !== PROPERTY_CACHE_SCHEMA_VERSION) {
        throw new Error(
          `${what}: schema version ${version}, but this crystal-rl reads version ${PROPERTY_CACHE_SCHEMA_VERSION}; ` +
            "open it with the crystal-rl that wrote it, or use a new file",
        );
      }
      return new PropertyCache(file, db, readonly);
    } catch (err) {
      db?.close();
      if (err instanceof Error && err.message.startsWith(what)) throw err;
      throw new Error(`${what}: cannot open: ${(err as Error).message}`, { cause: err });
    }
  }

  /** The stored result for `crystal` (or a structure key), or undefined. A hit has `details.cached = true`. */
  get(crystal: Crystal | string, property: PropertyName, engine: string, settings: Readonly<Record<string, unknown>> | string): PropertyResult | undefined {
    const key = [
      typeof crystal === "string" ? crystal : structureKey(crystal),
      property,
      engine,
      typeof settings === "string" ? settings : settingsHash(settings),
    ];
    const row = this.run(() => this.getStmt.get(...key)) as RawRow | undefined;
    if (!row) return undefined;
    const details = row.details ? (JSON.parse(row.details) as Record<string, unknown>) : {};
    const result: PropertyResult = {
      property: row.property as PropertyName,
      value: row.value,
      unit: row.unit as PropertyResult["unit"],
      engine: row.engine,
      seconds: row.seconds,
      errorFlag: row.error_flag as ErrorFlag,
      details: { ...details, cached: true, cachedAt: row.created_at },
    };
    if (row.reason !== null) result.reason = row.reason;
    if (row.surrogate) result.surrogate = true;
    return result;
  }

  /** Stores `result` for `crystal` under `settings` (one INSERT: the whole row or nothing). */
  put(crystal: Crystal, result: PropertyResult, settings: Readonly<Record<string, unknown>>): void {
    if (!this.putStmt) throw new Error(`property cache ${this.path}: opened read-only`);
    const canonical = canonicalStructure(crystal);
    const row: RawRow & { structure: string } = {
      structure_key: canonical.key,
      property: result.property,
      engine: result.engine,
      settings_hash: settingsHash(settings),
      formula: crystal.formula,
      structure: canonical.json,
      value: result.errorFlag === 0 && Number.isFinite(result.value) ? result.value : null,
      unit: result.unit,
      error_flag: result.errorFlag,
      reason: result.reason ?? null,
      surrogate: result.surrogate ? 1 : 0,
      seconds: Number.isFinite(result.seconds) ? result.seconds : 0,
      details: result.details ? JSON.stringify(result.details, jsonReplacer) : null,
      settings: canonicalJson(settings),
      created_at: new Date().toISOString(),
    };
    const stmt = this.putStmt;
    this.run(() => this.db.transaction(() => stmt.run(row)).immediate());
  }

  /** How many results are stored. */
  count(): number {
    return (this.run(() => this.db.prepare("SELECT count(*) AS n FROM results").get()) as { n: number }).n;
  }

  /** Every stored row (for tables and inspection), oldest first. */
  rows(): PropertyCacheRow[] {
    const raw = this.run(() => this.db.prepare("SELECT * FROM results ORDER BY created_at").all()) as RawRow[];
    return raw.map((r) => ({
      structureKey: r.structure_key,
      property: r.property as PropertyName,
      engine: r.engine,
      settingsHash: r.settings_hash,
      formula: r.formula,
      value: r.value,
      unit: r.unit,
      errorFlag: r.error_flag as ErrorFlag,
      reason: r.reason,
      surrogate: r.surrogate === 1,
      seconds: r.seconds,
      details: r.details ? (JSON.parse(r.details) as Record<string, unknown>) : null,
      settings: JSON.parse(r.settings) as Record<string, unknown>,
      createdAt: r.created_at,
    }));
  }

  get open(): boolean {
    return this.db.open;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  /** Runs a statement; SQLite's errors come back naming the file. */
  private run<T>(fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      throw new Error(`property cache ${this.path}: ${(err as Error).message}`, { cause: err });
    }
  }
}

function assertSqliteHeader(file: string, what: string): void {
  const size = statSync(file).size;
  if (size === 0) return; // SQLite's own empty database
  const buf = Buffer.alloc(16);
  const fd = openSync(file, "r");
  let n: number;
  try {
    n = readSync(fd, buf, 0, 16, 0);
  } finally {
    closeSync(fd);
  }
  if (n < 16 || buf.toString("latin1") !== SQLITE_MAGIC) {
    const head = JSON.stringify(buf.subarray(0, n).toString("latin1"));
    throw new Error(`${what}: not an SQLite database (it starts with ${head}); refusing to open or overwrite it`);
  }
}

/** Creates the schema in an empty database, or returns the version of an existing one. */
function initialise(db: Database.Database, what: string): number {
  const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[]).map((t) => t.name);
  if (tables.length === 0) {
    db.exec(SCHEMA);
    db.prepare("INSERT INTO meta (key, value) VALUES ('schema_version', ?), ('created_by', 'crystal-rl'), ('created_at', ?)").run(
      String(PROPERTY_CACHE_SCHEMA_VERSION),
      new Date().toISOString(),
    );
    return PROPERTY_CACHE_SCHEMA_VERSION;
  }
  return readVersion(db, what, tables);
}

function readVersion(db: Database.Database, what: string, tables?: string[]): number {
  tables ??= (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[]).map((t) => t.name);
  if (!tables.includes("meta") || !tables.includes("results")) {
    throw new Error(`${what}: an SQLite database but not a crystal-rl property cache (tables: ${tables.join(", ") || "none"}); refusing to write to it`);
  }
  const row = db.prepare("SELECT value FROM meta WHERE key = 'schema_version'").get() as { value: string } | undefined;
  const version = Number(row?.value);
  if (!Number.isInteger(version)) throw new Error(`${what}: its meta table has no schema_version`);
  return version;
}

/** Typed arrays as plain arrays (JSON would write them as objects). */
function jsonReplacer(_key: string, value: unknown): unknown {
  return ArrayBuffer.isView(value) && !(value instanceof DataView) ? Array.from(value as unknown as ArrayLike<number>) : value;
}

/** JSON with object keys sorted at every depth: equal settings give equal text. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(JSON.parse(JSON.stringify(value ?? null, jsonReplacer)) as unknown));
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === "object") {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) out[k] = sortKeys((v as Record<string, unknown>)[k]);
    return out;
  }
  return v;
}

/** SHA-256 (hex) of the settings as canonical JSON. */
export function settingsHash(settings: Readonly<Record<string, unknown>>): string {
  return sha256(canonicalJson(settings));
}

const ROUND = 1e6; // 1e-6 Å for the cell, 1e-6 for fractional coordinates

/**
 * The canonical form of a crystal: cell components in units of 1e-6 Å, and (Z, fractional a, b, c
 * in units of 1e-6, wrapped into [0, 1e6)) per atom, sorted. `key` is its SHA-256 (hex).
 */
export function canonicalStructure(crystal: Crystal): { key: string; json: string } {
  const cell = Array.from(crystal.cell, (x) => Math.round(x * ROUND) + 0); // + 0: no "-0"
  const frac = crystal.fractional();
  const sites: number[][] = [];
  for (let i = 0; i < crystal.natoms; i++) {
    const site = [crystal.numbers[i]!];
    for (let d = 0; d < 3; d++) {
      const f = frac[3 * i + d]!;
      site.push((((Math.round((f - Math.floor(f)) * ROUND) % ROUND) + ROUND) % ROUND) + 0);
    }
    sites.push(site);
  }
  sites.sort((a, b) => a[0]! - b[0]! || a[1]! - b[1]! || a[2]! - b[2]! || a[3]! - b[3]!);
  const json = JSON.stringify({ cell, sites });
  return { key: sha256(`${KEY_PREFIX}\n${json}`), json };
}

/** The cache's structure key of a crystal (see `canonicalStructure`). */
export function structureKey(crystal: Crystal): string {
  return canonicalStructure(crystal).key;
}

function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

// ----------------------------------------------------------------------------------------------
// cachedProvider

export interface CachedProviderOptions {
  /** Look results up but never store new ones. */
  readOnly?: boolean;
  /** Ignore stored results: run the engine every time and overwrite the rows. */
  refresh?: boolean;
}

export interface PropertyCacheStats {
  /** Results served without running the engine (from the file, or shared with an identical call in flight). */
  hits: number;
  /** Results the engine computed. */
  misses: number;
  /** hits / (hits + misses); 0 before the first call. */
  hitRate: number;
  /** Engine seconds spent on misses, in this process. */
  engineSeconds: number;
  /** Engine seconds the hits would have cost (their stored `seconds`). */
  savedSeconds: number;
  /** Misses stored in the file. */
  stored: number;
  /** Misses not stored: timeouts, aborted runs, results marked `details.cacheable === false`, read-only. */
  notStored: number;
  /** Results whose store failed (disk full, lock held past the busy timeout); a warning is emitted once. */
  storeErrors: number;
  /** Seconds spent in cache lookups. */
  lookupSeconds: number;
}

export interface CachedPropertyProvider extends PropertyProvider {
  readonly provider: PropertyProvider;
  readonly cache: PropertyCache;
  readonly stats: Readonly<PropertyCacheStats>;
  resetStats(): void;
}

/**
 * `provider` behind `cache`: a hit returns the stored result (`details.cached = true`, `seconds` =
 * the engine's original seconds, so DFT time shares stay reportable); a miss runs the engine and
 * stores its result. Timeouts (errorFlag 4, machine-dependent), aborted runs and results marked
 * `details.cacheable === false` are never stored; deterministic failures (flags 1-3) are. Identical
 * calls in flight in this process share one engine run.
 */
export function cachedProvider(provider: PropertyProvider, cache: PropertyCache, options: CachedProviderOptions = {}): CachedPropertyProvider {
  const counts = emptyCounts();
  const stats: PropertyCacheStats = Object.defineProperty(counts, "hitRate", {
    enumerable: true,
    get: () => (counts.hits + counts.misses === 0 ? 0 : counts.hits / (counts.hits + counts.misses)),
  }) as PropertyCacheStats;
  const inflight = new Map<string, Promise<PropertyResult>>();
  let hashed: { settings: unknown; hash: string } | undefined;
  const hashOf = (settings: Readonly<Record<string, unknown>>): string => {
    if (hashed?.settings !== settings) hashed = { settings, hash: settingsHash(settings) };
    return hashed.hash;
  };
  let warned = false;

  const runEngine = async (crystal: Crystal, property: PropertyName, settings: Readonly<Record<string, unknown>>, signal: AbortSignal | undefined) => {
    const result = await provider.evaluate(crystal, property, signal ? { signal } : {});
    stats.misses++;
    stats.engineSeconds += result.seconds;
    const storable = !options.readOnly && !cache.readonly && result.errorFlag !== 4 && !signal?.aborted && result.details?.["cacheable"] !== false;
    if (!storable) {
      stats.notStored++;
      return result;
    }
    try {
      cache.put(crystal, result, settings);
      stats.stored++;
    } catch (err) {
      stats.storeErrors++;
      if (!warned) {
        warned = true;
        process.emitWarning(`${(err as Error).message} (the result is returned but not cached)`, "PropertyCacheWarning");
      }
    }
    return result;
  };

  const evaluate = async (crystal: Crystal, property: PropertyName, opts: PropertyOptions = {}): Promise<PropertyResult> => {
    const settings = provider.settings;
    const sKey = structureKey(crystal);
    const hash = hashOf(settings);
    if (!options.refresh) {
      const t0 = performance.now();
      const hit = cache.get(sKey, property, provider.engine, hash);
      stats.lookupSeconds += (performance.now() - t0) / 1000;
      if (hit) {
        stats.hits++;
        stats.savedSeconds += hit.seconds;
        return hit;
      }
    }
    const flightKey = `${sKey}\0${property}\0${provider.engine}\0${hash}`;
    const running = inflight.get(flightKey);
    if (running) {
      const shared = await raceAbort(running, opts.signal, property, provider);
      // The run we joined was aborted by its own caller: ours was not, so run it ourselves.
      if (shared.errorFlag === 4 && shared.details?.["aborted"] === true && !opts.signal?.aborted) return evaluate(crystal, property, opts);
      if (shared.details?.["abortedWaiting"] !== true) {
        stats.hits++;
        stats.savedSeconds += shared.seconds;
      }
      return shared;
    }
    const run = runEngine(crystal, property, settings, opts.signal).finally(() => inflight.delete(flightKey));
    inflight.set(flightKey, run);
    return run;
  };

  return {
    engine: provider.engine,
    get settings() {
      return provider.settings;
    },
    properties: provider.properties,
    provider,
    cache,
    stats,
    resetStats: () => void Object.assign(counts, emptyCounts()),
    evaluate,
    close: provider.close ? () => provider.close!() : undefined,
  } satisfies CachedPropertyProvider;
}

function emptyCounts(): Omit<PropertyCacheStats, "hitRate"> {
  return { hits: 0, misses: 0, engineSeconds: 0, savedSeconds: 0, stored: 0, notStored: 0, storeErrors: 0, lookupSeconds: 0 };
}

/** `shared`, or an aborted result as soon as this caller's own signal fires. */
function raceAbort(shared: Promise<PropertyResult>, signal: AbortSignal | undefined, property: PropertyName, provider: PropertyProvider): Promise<PropertyResult> {
  if (!signal) return shared;
  const aborted = (): PropertyResult => ({
    property,
    value: null,
    unit: PROPERTY_UNITS[property],
    engine: provider.engine,
    seconds: 0,
    errorFlag: 4,
    reason: "aborted while waiting for an identical calculation in flight",
    details: { aborted: true, abortedWaiting: true },
  });
  if (signal.aborted) return Promise.resolve(aborted());
  return new Promise((resolveResult, reject) => {
    const onAbort = () => resolveResult(aborted());
    signal.addEventListener("abort", onAbort, { once: true });
    shared.then(
      (r) => {
        signal.removeEventListener("abort", onAbort);
        resolveResult(r);
      },
      (err: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(err);
      },
    );
  });
}
