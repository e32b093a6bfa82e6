/**
 * Atomic checkpoint folders: typed arrays in binary files plus a JSON header, as the SAC agent, the
 * replay buffer and the normaliser save themselves.
 *
 * Layout of a folder:
 *   header.json              { format, generation, meta, blobs: { name: { file, dtype, length } } }
 *   <name>.<generation>.bin  raw little-endian array data
 *
 * Atomicity: each save writes a new generation of binary files (each to a temporary name, fsync'd,
 * renamed), then replaces `header.json` the same way, then removes the previous generation's files.
 * A process killed at any point leaves a header that names complete files: the previous checkpoint
 * or the new one, never a mixture.
 */
import { mkdir, open, readdir, readFile, rename, rm, stat } from "node:fs/promises";
import { join } from "node:path";

/** Array types a checkpoint can hold. */
export type BlobArray = Float32Array | Float64Array | Int32Array | Uint32Array | Uint8Array;
type Dtype = "float32" | "float64" | "int32" | "uint32" | "uint8";

interface BlobEntry {
  file: string;
  dtype: Dtype;
  length: number;
}

interface Header<M> {
  format: string;
  generation: number;
  savedAt: string;
  meta: M;
  blobs: Record<string, BlobEntry>;
}

const CHUNK = 1 << 26; // 64 MiB per write/read call

function dtypeOf(a: BlobArray): Dtype {
  if (a instanceof Float32Array) return "float32";
  if (a instanceof Float64Array) return "float64";
  if (a instanceof Int32Array) return "int32";
  if (a instanceof Uint32Array) return "uint32";
  return "uint8";
}

function allocate(dtype: Dtype, length: number): BlobArray {
  switch (dtype) {
    case "float32":
      return new Float32Array(length);
    case "float64":
      return new Float64Array(length);
    case "int32":
      return new Int32Array(length);
    case "uint32":
      return new Uint32Array(length);
    case "uint8":
      return new Uint8Array(length);
  }
}

async function writeDurably(path: string, data: Uint8Array): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  const fh = await open(tmp, "w");
  try {
    for (let off = 0; off < data.byteLength; ) {
      const { bytesWritten } = await fh.write(data, off, Math.min(CHUNK, data.byteLength - off));
      off += bytesWritten;
    }
    await fh.sync();
  } catch (e) {
    await fh.close();
    await rm(tmp, { force: true });
    throw e;
  }
  await fh.close();
  await rename(tmp, path);
}

async function syncDir(dir: string): Promise<void> {
  try {
    const fh = await open(dir, "r");
    await fh.sync().catch(() => undefined);
    await fh.close();
  } catch {
    // not every platform lets a directory be opened; the renames are still atomic
  }
}

function bytesOf(a: BlobArray): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

async function readHeader<M>(dir: string, format: string): Promise<Header<M>> {
  const path = join(dir, "header.json");
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (e) {
    throw new Error(`no ${format} checkpoint in ${dir}: ${(e as Error).message}`);
  }
  let header: Header<M>;
  try {
    header = JSON.parse(text) as Header<M>;
  } catch (e) {
    throw new Error(`${path}: not valid JSON (${(e as Error).message})`);
  }
  if (header.format !== format) {
    throw new Error(`${path}: holds a "${header.format}" checkpoint, expected "${format}"`);
  }
  return header;
}

/**
 * Saves `meta` (JSON) and `blobs` (typed arrays) into `dir` atomically, replacing any checkpoint of
 * any format there.
 */
export async function writeCheckpoint<M>(dir: string, format: string, meta: M, blobs: Record<string, BlobArray>): Promise<void> {
  await mkdir(dir, { recursive: true });
  let generation = 1;
  try {
    const previous = JSON.parse(await readFile(join(dir, "header.json"), "utf8")) as { generation?: number };
    if (typeof previous.generation === "number") generation = previous.generation + 1;
  } catch {
    // no previous checkpoint
  }
  const entries: Record<string, BlobEntry> = {};
  for (const [name, data] of Object.entries(blobs)) {
    if (!/^[A-Za-z0-9_.-]+$/.test(name)) throw new Error(`checkpoint blob name "${name}" has odd characters`);
    const file = `${name}.${generation}.bin`;
    await writeDurably(join(dir, file), bytesOf(data));
    entries[name] = { file, dtype: dtypeOf(data), length: data.length };
  }
  const header: Header<M> = { format, generation, savedAt: new Date().toISOString(), meta, blobs: entries };
  await syncDir(dir);
  await writeDurably(join(dir, "header.json"), new TextEncoder().encode(JSON.stringify(header, null, 1)));
  await syncDir(dir);
  // The new header is in place; files of other generations (and stray temporaries) can go.
  const keep = new Set(Object.values(entries).map((e) => e.file));
  for (const f of await readdir(dir)) {
    if ((/\.\d+\.bin$/.test(f) && !keep.has(f)) || /\.tmp-\d+-/.test(f)) await rm(join(dir, f), { force: true });
  }
}

/** The JSON `meta` of the checkpoint in `dir` (which must be of `format`), without reading the arrays. */
export async function readCheckpointMeta<M>(dir: string, format: string): Promise<M> {
  return (await readHeader<M>(dir, format)).meta;
}

/**
 * Reads the checkpoint in `dir`. `into` may give preallocated arrays for some blobs (they are filled
 * from the file, which must hold exactly `length` elements up to the array's size: a prefix is read
 * when the array is longer); the rest are allocated.
 */
export async function readCheckpoint<M>(
  dir: string,
  format: string,
  into: Record<string, BlobArray> = {},
): Promise<{ meta: M; blobs: Record<string, BlobArray> }> {
  const header = await readHeader<M>(dir, format);
  const blobs: Record<string, BlobArray> = {};
  for (const [name, entry] of Object.entries(header.blobs)) {
    const path = join(dir, entry.file);
    const given = into[name];
    if (given && (dtypeOf(given) !== entry.dtype || given.length < entry.length)) {
      throw new Error(`${path}: holds ${entry.length} ${entry.dtype}, the target is ${given.length} ${dtypeOf(given)}`);
    }
    const target = given ?? allocate(entry.dtype, entry.length);
    const bytes = new Uint8Array(target.buffer, target.byteOffset, entry.length * target.BYTES_PER_ELEMENT);
    const size = (await stat(path).catch((e: Error) => { throw new Error(`${path}: ${e.message}`); })).size;
    if (size !== bytes.byteLength) throw new Error(`${path}: ${size} bytes, the header says ${bytes.byteLength}`);
    const fh = await open(path, "r");
    try {
      for (let off = 0; off < bytes.byteLength; ) {
        const { bytesRead } = await fh.read(bytes, off, Math.min(CHUNK, bytes.byteLength - off), off);
        if (bytesRead === 0) throw new Error(`${path}: ended early at byte ${off}`);
        off += bytesRead;
      }
    } finally {
      await fh.close();
    }
    blobs[name] = target;
  }
  return { meta: header.meta, blobs };
}

/** The blob `name` of a read checkpoint, checked for type; throws naming the folder when missing. */
export function blob<T extends BlobArray>(blobs: Record<string, BlobArray>, name: string, type: new (n: number) => T, dir: string): T {
  const b = blobs[name];
  if (!(b instanceof type)) throw new Error(`${dir}: checkpoint has no ${type.name} "${name}"`);
  return b;
}
