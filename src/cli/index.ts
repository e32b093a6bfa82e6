/** The `crystal-rl` command: one file per sub-command, dispatched here. Exit 0 ok, 2 bad input, 1 anything else. */
import { convert, summary as convertSummary } from "./convert.js";
import { demo, summary as demoSummary } from "./demo.js";
import { energy, summary as energySummary } from "./energy.js";
import { relax, summary as relaxSummary } from "./relax.js";
import { jupyter, summary as jupyterSummary } from "./jupyter.js";
import { notebook, summary as notebookSummary } from "./notebook.js";
import { doctor, summary as doctorSummary } from "./doctor.js";
import { train, summary as trainSummary } from "./train.js";
import { bench, summary as benchSummary } from "./bench.js";
import { info, summary as infoSummary } from "./info.js";
import { random, summary as randomSummary } from "./random.js";
import { property, summary as propertySummary } from "./property.js";
import { gym, summary as gymSummary } from "./gym.js";
import { UsageError } from "./usage.js";
import { ParseError } from "../io/errors.js";
import { CalculatorError } from "../calculators/calculator.js";

/** A command's output, and its exit code when it is not 0 (e.g. a property whose engine failed). */
export type CommandOutput = string | { text: string; code: number };

const COMMANDS: Record<string, { run: (argv: string[]) => Promise<CommandOutput>; summary: string }> = {
  info: { run: info, summary: infoSummary },
  convert: { run: convert, summary: convertSummary },
  random: { run: random, summary: randomSummary },
  energy: { run: energy, summary: energySummary },
  relax: { run: relax, summary: relaxSummary },
  property: { run: property, summary: propertySummary },
  gym: { run: gym, summary: gymSummary },
  jupyter: { run: jupyter, summary: jupyterSummary },
  notebook: { run: notebook, summary: notebookSummary },
  doctor: { run: doctor, summary: doctorSummary },
  train: { run: train, summary: trainSummary },
  bench: { run: bench, summary: benchSummary },
  demo: { run: demo, summary: demoSummary },
};

function help(): string {
  const w = Math.max(...Object.keys(COMMANDS).map((k) => k.length));
  return [
    "crystal-rl: reinforcement learning on crystal structures",
    "",
    "usage: crystal-rl COMMAND [options]   (crystal-rl COMMAND --help for its options)",
    "",
    ...Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(w)}  ${c.summary}`),
  ].join("\n");
}

/** Errors that mean the user's input was wrong: a one-line reason and exit code 2. */
function isBadInput(e: unknown): e is Error {
  if (e instanceof UsageError || e instanceof ParseError || e instanceof RangeError || e instanceof CalculatorError) return true;
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  return code === "ENOENT" || code === "EISDIR" || code === "EACCES" || code === "ENOTDIR";
}

export interface Output {
  out: (text: string) => void;
  err: (text: string) => void;
}

const STDIO: Output = { out: (t) => process.stdout.write(t), err: (t) => process.stderr.write(t) };

/** Runs one command line; returns the exit code. Output goes through `io` so tests can capture it. */
export async function main(argv: string[], io: Output = STDIO): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === "--help" || name === "-h" || name === "help") {
    io.out(help() + "\n");
    return 0;
  }
  if (name === "--version") {
    const { createRequire } = await import("node:module");
    io.out(createRequire(import.meta.url)("../../package.json").version + "\n");
    return 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    io.err(`crystal-rl: unknown command "${name}" (try crystal-rl --help)\n`);
    return 2;
  }
  try {
    const out = await command.run(rest);
    const { text, code } = typeof out === "string" ? { text: out, code: 0 } : out;
    if (text) io.out(text + "\n");
    return code;
  } catch (e) {
    // Usage errors already start with the command's name: say it once.
    const message = ((e as Error)?.message ?? String(e)).split("\n")[0]!.replace(new RegExp(`^${name}: `), "");
    if (isBadInput(e)) {
      io.err(`crystal-rl ${name}: ${message}\n`);
      return 2;
    }
    io.err(`crystal-rl ${name}: internal error: ${(e as Error)?.stack ?? message}\n`);
    return 1;
  }
}
