/** The store's file primitives: append-only JSON Lines that survive a torn write, atomic JSON documents. */
import assert from "node:assert/strict";
import { appendFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { cutTornTail, JsonlAppender, readJsonl, writeJsonAtomic } from "../../src/io/jsonl.js";

describe("JSON Lines and atomic JSON", () => {
  const dir = mkdtempSync(join(tmpdir(), "crystal-rl-jsonl-"));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("appends whole lines; a torn last line is ignored on read and cut before the next append", () => {
    const path = join(dir, "m.jsonl");
    const a = new JsonlAppender(path);
    a.append({ step: 0 });
    a.append({ step: 1 });
    a.close();
    appendFileSync(path, '{"step": 2, "ene');
    assert.deepEqual(readJsonl(path), [{ step: 0 }, { step: 1 }]);
    const b = new JsonlAppender(path);
    b.append({ step: 2 });
    b.close();
    assert.equal(readFileSync(path, "utf8"), '{"step":0}\n{"step":1}\n{"step":2}\n');
    assert.deepEqual(readJsonl(join(dir, "absent.jsonl")), []);
  });

  it("cuts a file that is all torn tail to empty, and leaves clean files alone", () => {
    const path = join(dir, "t.jsonl");
    writeFileSync(path, '{"a":');
    cutTornTail(path);
    assert.equal(readFileSync(path, "utf8"), "");
    writeFileSync(path, '{"a":1}\n');
    cutTornTail(path);
    assert.equal(readFileSync(path, "utf8"), '{"a":1}\n');
  });

  it("names the file and line of a malformed complete line", () => {
    const path = join(dir, "bad.jsonl");
    writeFileSync(path, '{"a":1}\nnot json\n{"a":2}\n');
    assert.throws(() => readJsonl(path), (e: Error) => e.message.startsWith(`${path}:2: not a JSON line`));
  });

  it("replaces JSON documents atomically, leaving no temp files", () => {
    const path = join(dir, "status.json");
    writeJsonAtomic(path, { state: "running" });
    writeJsonAtomic(path, { state: "done" });
    assert.deepEqual(JSON.parse(readFileSync(path, "utf8")), { state: "done" });
    assert.deepEqual(readdirSync(dir).filter((f) => f.includes(".tmp")), []);
  });
});
