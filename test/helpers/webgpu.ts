import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, type TestContext } from "node:test";
import { probeBackend, useBackend } from "../../src/tensor/backend.js";

/**
 * Starts the webgpu backend (a GPU's adapter, or a software one such as Mesa's llvmpipe); returns
 * null when it runs, else why not (the probe's reason), for `t.skip(reason)`. Nothing is faked.
 */
export async function startWebgpu(): Promise<string | null> {
  const probe = await probeBackend("webgpu");
  if (!probe.available) return `webgpu: ${probe.reason ?? "unavailable"}`;
  try {
    await useBackend("webgpu");
    return null;
  } catch (e) {
    return (e as Error).message;
  }
}

/**
 * A test file on webgpu: before its tests, starts webgpu (`startWebgpu`) and makes a temporary folder
 * (`root()`); after them, removes the folder and goes back to wasm. `runs(t)` skips a test with the
 * probe's reason when webgpu cannot run here, and says whether it can.
 */
export function onWebgpu(name: string): { runs(t: TestContext): boolean; root(): string } {
  let unavailable: string | null = "not probed";
  let root = "";
  before(async () => {
    root = await mkdtemp(join(tmpdir(), `${name}-`));
    unavailable = await startWebgpu();
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
    await useBackend("wasm");
  });
  return {
    runs(t) {
      if (unavailable === null) return true;
      t.skip(unavailable);
      return false;
    },
    root: () => root,
  };
}
