#!/usr/bin/env node
/**
 * Entry point of the crystal-rl Jupyter kernel, started by the kernelspec that
 * `crystal-rl jupyter install` writes: `node dist/notebook/kernel/main.js {connection_file}`.
 * (tslab's own `--config-path FILE` form is accepted too.)
 */
import { startKernel } from "./kernel.js";

const args = process.argv.slice(2);
const i = args.indexOf("--config-path");
const connectionFile = i >= 0 ? args[i + 1] : args.find((a) => !a.startsWith("-"));
if (!connectionFile) {
  process.stderr.write("usage: node main.js CONNECTION_FILE (started by Jupyter through the crystal-rl kernelspec)\n");
  process.exit(2);
}
await startKernel(connectionFile);
