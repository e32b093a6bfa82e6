/**
 * The device banner: one line saying which TensorFlow.js backend and device run and why each other
 * backend is skipped, printed once per kernel. Inside a tslab kernel, `index.ts` prints it when
 * something first picks a backend (training from a cell: the MACS method, the gym builder, or loading
 * a policy), so the cell that starts training shows where it trains.
 *
 * @example
 * await backendBanner();                 // prints it now unless this kernel has shown it
 * await backendBanner({ force: true });  // again
 */
import { deviceReport, ensureBackend, formatDeviceReport, onBackendChange } from "../tensor/backend.js";

let shown = false;

export interface BannerOptions {
  /** Print even if this kernel has shown it already. */
  force?: boolean;
  /** Where the line goes (default console.log: the cell's output). */
  print?: (line: string) => void;
}

/**
 * Prints `TensorFlow.js: <formatDeviceReport>` once per kernel (choosing the best backend first when
 * none is chosen) and returns the line; null when it was shown before and `force` is not set.
 */
export async function backendBanner(options: BannerOptions = {}): Promise<string | null> {
  if (shown && !options.force) return null;
  shown = true; // before ensureBackend: its change listener (below) must not print a second banner
  await ensureBackend();
  const line = `TensorFlow.js: ${formatDeviceReport(await deviceReport())}`;
  (options.print ?? console.log)(line);
  return line;
}

/** Prints the banner the first time a backend is chosen; returns the function that stops listening. */
export function bannerOnFirstBackend(options: Omit<BannerOptions, "force"> = {}): () => void {
  const off = onBackendChange(async () => {
    off();
    await backendBanner(options);
  });
  return off;
}

/** Forget that the banner was shown (tests). */
export function resetBackendBanner(): void {
  shown = false;
}
