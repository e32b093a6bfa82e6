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
