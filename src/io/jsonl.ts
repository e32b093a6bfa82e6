/**
 * The two ways a run writes files: JSON Lines appended one whole line per write (a process killed
 * mid-write leaves at most one torn last line, which readers ignore and the next appender cuts off),
 * and JSON documents replaced atomically (a temp file in the same folder, then a rename).
 */
import { randomBytes } from "node:crypto";
import { closeSync, existsSync, fstatSync, ftruncateSync, openSync, readFileSync, readSync, renameSync, unlinkSync, writeFileSync, writeSync } from "node:fs";
import { basename, dirname, join } from "node:path";

/** Appends JSON lines to a file opened in append mode; each record is one `write` of one whole line. */
export class JsonlAppender {
  private fd: number | undefined;

  constructor(readonly path: string) {
    cutTornTail(path);
    this.fd = openSync(path, "a");
  }

  append(record: object): void {
    if (this.fd === undefined) throw new Error(`${this.path} is closed`);
    writeSync(this.fd, JSON.stringify(record) + "\n");
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

/** Cuts a last line that has no newline (a write a killed process never finished), so appends start clean. */
export function cutTornTail(path: string): void {
  if (!existsSync(path)) return;
  const fd = openSync(path, "r+");
  try {
    const size = fstatSync(fd).size;
    if (size === 0) return;
    const one = Buffer.alloc(1);
    readSync(fd, one, 0, 1, size - 1);
    if (one[0] === 0x0a) return;
    // Scan back in chunks for the last newline.
    const chunk = Buffer.alloc(64 * 1024);
    let end = size;
    while (end > 0) {
      const start = Math.max(0, end - chunk.length);
      const n = readSync(fd, chunk, 0, end - start, start);
      const at = chunk.subarray(0, n).lastIndexOf(0x0a);
      if (at >= 0) {
        ftruncateSync(fd, start + at + 1);
        return;
      }
      end = start;
    }
    ftruncateSync(fd, 0);
  } finally {
    closeSync(fd);
  }
}

/**
 * The records of a JSON Lines file ([] when it does not exist). An unterminated last line (a torn
 * write) is ignored; a malformed complete line is an Error naming the file and line.
 */
export function readJsonl<T = Record<string, unknown>>(path: string): T[] {
  if (!existsSync(path)) return [];
  const text = readFileSync(path, "utf8");
  const lines = text.split("\n");
  lines.pop(); // "" after the final newline, or the torn tail
  const out: T[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.trim() === "") continue;
    try {
      out.push(JSON.parse(line) as T);
    } catch (e) {
      throw new Error(`${path}:${i + 1}: not a JSON line (${(e as Error).message}): ${line.slice(0, 80)}`, { cause: e });
    }
  }
  return out;
}

/** Writes `value` as JSON to `path` atomically: readers see the old file or the whole new one. */
export function writeJsonAtomic(path: string, value: unknown): void {
  replaceAtomically(path, JSON.stringify(value, null, 2) + "\n");
}

function replaceAtomically(path: string, text: string): void {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`);
  try {
    writeFileSync(tmp, text, { encoding: "utf8", flag: "wx" });
    renameSync(tmp, path);
  } catch (e) {
    try {
      unlinkSync(tmp);
    } catch {
      // already gone
    }
    throw e;
  }
}

/** Writes `records` as JSON Lines to `path` atomically (a log cut back to a checkpoint, say). */
export function writeJsonlAtomic(path: string, records: readonly object[]): void {
  replaceAtomically(path, records.map((r) => JSON.stringify(r) + "\n").join(""));
}

/** The JSON document at `path`, with an Error naming the file when it is missing or malformed. */
export function readJson<T>(path: string): T {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new Error(`cannot read ${path}: ${(e as Error).message}`, { cause: e });
  }
  try {
    return JSON.parse(text) as T;
  } catch (e) {
    throw new Error(`${path}: malformed JSON (${(e as Error).message})`, { cause: e });
  }
}
