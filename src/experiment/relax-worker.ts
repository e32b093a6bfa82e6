/**
 * Entry of a relaxation worker thread (see workers.ts): rebuilds the calculator and, on first use,
 * each method from `workerData`, then relaxes the jobs the main thread sends, one at a time, timing
 * each here. Step records go back in batches (a message per step would cost more than a fast step).
 */
import { parentPort, workerData } from "node:worker_threads";
import type { Calculator } from "../calculators/calculator.js";
import { calculatorFromName } from "../calculators/registry.js";
import { Crystal } from "../structure/crystal.js";
import { drive, rebuildMethod, type Method } from "./method.js";
import type { WorkerCommand, WorkerDone, WorkerJob, WorkerMessage, WorkerSetup, WorkerStep } from "./workers.js";

/** Send step records at most this often (ms), or once this many are waiting. */
const FLUSH_MS = 100;
const FLUSH_STEPS = 500;

const port = parentPort!;
const setup = workerData as WorkerSetup;
const send = (m: WorkerMessage): void => port.postMessage(m);

let modules: Promise<void> | undefined;
let calculator: Promise<Calculator> | undefined;
const methods = new Map<number, Promise<Method>>();

async function buildCalculator(): Promise<Calculator> {
  const { name, options, check } = setup.calculator;
  let calc: Calculator;
  try {
    calc = calculatorFromName(name, options);
  } catch (e) {
    throw new Error(`calculator "${name}" cannot be rebuilt from its name and options: ${(e as Error).message}`, { cause: e });
  }
  if (check) {
    const { energy } = await calc.compute(new Crystal(check.crystal), { forces: false });
    calc.resetCounts();
    if (!(Math.abs(energy - check.energy) <= 1e-9 * Math.max(1, Math.abs(check.energy)))) {
      await calc.close?.();
      throw new Error(
        `calculator "${name}" rebuilt from its visible settings gives ${energy} eV where the given instance gives ${check.energy} eV: pass it by registry name, or use one worker`,
      );
    }
  }
  return calc;
}

async function buildMethod(index: number): Promise<Method> {
  const d = setup.methods[index];
  if (!d) throw new Error(`no method #${index}`);
  await (modules ??= Promise.all(setup.modules.map((m) => import(m))).then(() => undefined));
  const method = rebuildMethod(d.kind, d.name, d.options);
  if (!method) throw new Error(`no factory for method kind "${d.kind}" in a worker thread (registerWorkerModule names a module that registers it)`);
  if (d.load && method.load) await method.load(d.load);
  return method;
}

async function relax(job: WorkerJob): Promise<void> {
  let calc: Calculator;
  let method: Method;
  try {
    calc = await (calculator ??= buildCalculator());
    let m = methods.get(job.method);
    if (!m) methods.set(job.method, (m = buildMethod(job.method)));
    method = await m;
  } catch (e) {
    send({ type: "failed", job: job.id, message: (e as Error)?.message ?? String(e) });
    return;
  }
  const crystal = new Crystal(job.crystal);
  let pending: WorkerStep[] = [];
  let sent = performance.now();
  const flush = (): void => {
    if (pending.length) send({ type: "steps", job: job.id, steps: pending });
    pending = [];
    sent = performance.now();
  };
  let last: WorkerStep | undefined;
  const r = await drive(
    () => method.evaluate(crystal, calc, job.budget),
    (step, seconds) => {
      last = { step: step.step, energy: step.energy, fmax: step.fmax, forceCalls: step.forceCalls, seconds };
      if (step.info) last.info = { ...step.info };
      pending.push(last);
      if (pending.length >= FLUSH_STEPS || performance.now() - sent > FLUSH_MS) flush();
    },
  );
  flush();
  const done: WorkerDone = { seconds: r.seconds, ...(last ? { last } : {}), ...(r.error !== undefined ? { error: r.error } : {}) };
  if (r.outcome) {
    const { converged, steps, forceCalls, energy, fmax } = r.outcome;
    done.outcome = { converged, steps, forceCalls, energy, fmax };
  }
  send({ type: "done", job: job.id, done });
}

let queue: Promise<void> = Promise.resolve();
port.on("message", (m: WorkerCommand) => {
  if (m.type === "job") queue = queue.then(() => relax(m.job));
  else if (m.type === "close") {
    queue = queue.then(async () => {
      const calc = await calculator?.catch(() => undefined);
      await calc?.close?.();
      process.exit(0); // tfjs may hold handles open; exit ends only this thread
    });
  }
});
