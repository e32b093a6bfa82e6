import { mkdirSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { runNotebook } from "../notebook/headless.js";
import { numberOption, parse, UsageError } from "./usage.js";

export const summary = "run notebooks headless with the crystal-rl kernel (no Jupyter or Python needed)";

const help = () => `crystal-rl notebook NOTEBOOK.ipynb... [--out DIR] [--timeout SECONDS]

  ${summary}.
  Each notebook runs top to bottom in a fresh kernel started in its own folder (the kernel that
  \`crystal-rl jupyter install\` registers; build first: npm run build), as nbclient does, speaking
  Jupyter's protocol over ZeroMQ itself: for machines without Jupyter's Python side. Prints
  PASS name (seconds) or FAIL name: cell N: ename: evalue per notebook; exit 1 when any failed.
  --out DIR writes the executed notebooks there (a failed one up to its failing cell).
  --timeout caps one cell (default 600 s).`;

export async function notebook(argv: string[]): Promise<{ text: string; code: number } | string> {
  const { values, positionals: paths } = parse("notebook", argv, {
    out: { type: "string" },
    timeout: { type: "string" },
    help: { type: "boolean", short: "h" },
  });
  if (values.help) return help();
  if (paths.length === 0) throw new UsageError("notebook: give at least one .ipynb file");
  for (const p of paths) if (!p.endsWith(".ipynb")) throw new UsageError(`notebook: ${p} is not an .ipynb file`);
  const timeout = numberOption("notebook", "timeout", values.timeout, { min: 1 });
  if (values.out) mkdirSync(values.out, { recursive: true });
  const lines: string[] = [];
  let failed = 0;
  for (const path of paths) {
    const r = await runNotebook(path, { timeout });
    if (values.out) writeFileSync(join(values.out, basename(path)), JSON.stringify(r.notebook, null, 1) + "\n");
    if (r.error) {
      failed++;
      lines.push(`FAIL ${basename(path)}: cell ${r.error.cell}: ${r.error.ename}: ${r.error.evalue}`);
    } else lines.push(`PASS ${basename(path)} (${r.seconds.toFixed(1)} s)`);
  }
  lines.push(`${paths.length - failed} passed, ${failed} failed`);
  return { text: lines.join("\n"), code: failed > 0 ? 1 : 0 };
}
