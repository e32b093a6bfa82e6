/**
 * End to end, as a user sees a notebook: notebooks/01-quickstart.ipynb is executed with the crystal-rl
 * kernel (scripts/run_notebooks.py, nbclient), exported to HTML with nbconvert, and opened in headless
 * Chromium driven over the DevTools protocol (a pipe, no extra package). The test waits for plotly to
 * draw, then checks that every figure drew (a plotly `.main-svg`), that the force-convergence plot has
 * a line with data for each optimiser and its legend names them, that the force-call bars exist, and
 * that the results table lists the three optimisers. One screenshot (1280 x 2000, scrolled to section
 * "5. Compare") is kept as a CI artifact: .ci/artifacts/01-quickstart.png (git-ignored).
 *
 * Needs Jupyter (bash scripts/install-jupyter.sh) and Chromium: on Debian
 * `apt-get install -y --no-install-recommends chromium`. CRYSTAL_RL_CHROMIUM=PATH picks another browser
 * binary. The notebook runs in a copy under a temporary folder (beside a link to data/), so its run
 * store (`runs/`) lands there, not in the checkout.
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import type { Readable, Writable } from "node:stream";
import { after, before, describe, it } from "node:test";
import { jupyterMissing, PYTHON, ROOT, run, tempJupyter, type TempJupyter } from "./helpers.js";

const NOTEBOOK = "01-quickstart.ipynb";
const CHROMIUM = process.env.CRYSTAL_RL_CHROMIUM ?? "/usr/bin/chromium";
const JUPYTER = "/usr/bin/jupyter";
const ARTIFACTS = join(ROOT, ".ci", "artifacts");
const SCREENSHOT = join(ARTIFACTS, NOTEBOOK.replace(/\.ipynb$/, ".png"));
const WIDTH = 1280;
const HEIGHT = 2000;
/** The section the screenshot starts at: the results table and the plots below it. */
const SCREENSHOT_ANCHOR = "5.-Compare";
const METHODS = ["fire", "bfgs", "bfgsls"];

// -------------------------------------------------------------------------------------------------
// A minimal DevTools-protocol client over Chromium's --remote-debugging-pipe (fd 3 in, fd 4 out,
// messages are JSON ended by a NUL byte).

interface CdpMessage {
  id?: number;
  method?: string;
  params?: Record<string, unknown>;
  result?: Record<string, unknown>;
  error?: { code: number; message: string };
  sessionId?: string;
}

class Cdp {
  private nextId = 0;
  private buffer = "";
  private readonly pending = new Map<number, { resolve: (r: Record<string, unknown>) => void; reject: (e: Error) => void; method: string }>();
  private readonly waiters: { method: string; sessionId?: string; resolve: (p: Record<string, unknown>) => void }[] = [];
  private closed: Error | null = null;

  constructor(
    private readonly out: Writable,
    input: Readable,
  ) {
    input.setEncoding("utf8");
    input.on("data", (chunk: string) => {
      this.buffer += chunk;
      for (let end = this.buffer.indexOf("\0"); end >= 0; end = this.buffer.indexOf("\0")) {
        const text = this.buffer.slice(0, end);
        this.buffer = this.buffer.slice(end + 1);
        this.dispatch(JSON.parse(text) as CdpMessage);
      }
    });
    input.on("close", () => this.fail(new Error("the browser closed its DevTools pipe")));
    out.on("error", (e) => this.fail(e));
  }

  private dispatch(msg: CdpMessage): void {
    if (msg.id !== undefined) {
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      if (msg.error) p.reject(new Error(`${p.method}: ${msg.error.message}`));
      else p.resolve(msg.result ?? {});
      return;
    }
    for (let k = this.waiters.length - 1; k >= 0; k--) {
      const w = this.waiters[k]!;
      if (w.method === msg.method && (w.sessionId === undefined || w.sessionId === msg.sessionId)) {
        this.waiters.splice(k, 1);
        w.resolve(msg.params ?? {});
      }
    }
  }

  private fail(e: Error): void {
    if (this.closed) return;
    this.closed = e;
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
  }

  send(method: string, params: Record<string, unknown> = {}, sessionId?: string, timeoutMs = 30_000): Promise<Record<string, unknown>> {
    if (this.closed) return Promise.reject(this.closed);
    const id = ++this.nextId;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${method}: no answer from the browser in ${timeoutMs / 1000} s`));
      }, timeoutMs);
      this.pending.set(id, {
        method,
        resolve: (r) => (clearTimeout(timer), resolve(r)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      });
      this.out.write(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }) + "\0");
    });
  }

  /** Resolves on the next event `method` (register before the command that causes it). */
  once(method: string, sessionId?: string, timeoutMs = 30_000): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${method} event in ${timeoutMs / 1000} s`)), timeoutMs);
      this.waiters.push({ method, sessionId, resolve: (p) => (clearTimeout(timer), resolve(p)) });
    });
  }
}

interface Browser {
  cdp: Cdp;
  child: ChildProcess;
  stderr: () => string;
  close(): Promise<void>;
}

async function launchChromium(userDataDir: string): Promise<Browser> {
  const child = spawn(
    CHROMIUM,
    [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
      "--hide-scrollbars",
      "--mute-audio",
      `--user-data-dir=${userDataDir}`,
      `--window-size=${WIDTH},${HEIGHT}`,
      "--remote-debugging-pipe",
      "about:blank",
    ],
    { stdio: ["ignore", "ignore", "pipe", "pipe", "pipe"] },
  );
  let err = "";
  child.stderr!.setEncoding("utf8");
  child.stderr!.on("data", (s: string) => {
    err = (err + s).slice(-8000);
  });
  const exited = new Promise<void>((done) => child.once("exit", () => done()));
  const spawnError = new Promise<never>((_, reject) => child.once("error", (e) => reject(new Error(`cannot start ${CHROMIUM}: ${e.message}`))));
  const cdp = new Cdp(child.stdio[3] as Writable, child.stdio[4] as Readable);
  await Promise.race([cdp.send("Browser.getVersion"), spawnError]);
  return {
    cdp,
    child,
    stderr: () => err,
    async close() {
      await cdp.send("Browser.close", {}, undefined, 5_000).catch(() => undefined);
      const killer = setTimeout(() => child.kill("SIGKILL"), 5_000);
      await exited;
      clearTimeout(killer);
    },
  };
}

// -------------------------------------------------------------------------------------------------
// What the page shows, read in the browser.

interface FigureReport {
  title: string;
  drawn: boolean;
  mainSvg: number;
  /** Line paths with a drawn `d` (scatter traces in lines mode). */
  lines: number;
  /** Marker and bar paths with a drawn `d`. */
  points: number;
  bars: number;
  /** A 3-D (WebGL) scene: the crystal view. */
  gl: boolean;
  /** Its canvas exists (WebGL worked; without it plotly shows a message instead). */
  webgl: boolean;
  legend: string[];
  xTitle: string;
  yTitle: string;
  text: string;
}

interface PageReport {
  plotly: boolean;
  figures: FigureReport[];
  /** Every HTML table of the outputs: rows of cell texts, the header row first. */
  tables: string[][][];
  errors: string[];
}

/**
 * Runs in the page: a report of every crystal-rl figure and table. Plain JavaScript in a string, since
 * tsx's transform would add helpers (`__name`) to a serialised function that the page lacks.
 */
const INSPECT_PAGE = String.raw`(() => {
  const drawnPath = (p) => {
    const d = p.getAttribute("d") || "";
    return d.length > 4 && d !== "M0,0Z";
  };
  const text = (el) => ((el && el.textContent) || "").trim();
  const figures = Array.from(document.querySelectorAll(".crystal-rl-plot")).map((el) => {
    const q = (sel) => Array.from(el.querySelectorAll(sel));
    const drawn = el.classList.contains("js-plotly-plot");
    return {
      title: text(el.querySelector(".gtitle")),
      drawn,
      mainSvg: q(".main-svg").length,
      lines: q(".scatterlayer .trace path.js-line").filter(drawnPath).length,
      points: q(".scatterlayer .trace path.point, .barlayer .bars .point > path").filter(drawnPath).length,
      bars: q(".barlayer .bars .point > path").filter(drawnPath).length,
      gl: q(".gl-container > [id^='scene']").length > 0,
      webgl: q(".gl-container > [id^='scene'] canvas").length > 0 && q(".no-webgl").length === 0,
      legend: q(".legend .legendtext").map(text),
      xTitle: text(el.querySelector(".xtitle")),
      yTitle: text(el.querySelector(".ytitle")),
      text: drawn ? "" : text(el).slice(0, 200),
    };
  });
  const tables = Array.from(document.querySelectorAll(".jp-OutputArea-output table, .output_html table")).map((t) =>
    Array.from(t.rows).map((r) => Array.from(r.cells).map(text)),
  );
  const errors = Array.from(
    document.querySelectorAll(".jp-RenderedText[data-mime-type='application/vnd.jupyter.stderr'], .output_error, .output_stderr"),
  ).map((e) => text(e).slice(0, 300));
  return { plotly: typeof window.Plotly === "object", figures, tables, errors };
})()`;

async function evaluate<T>(cdp: Cdp, sessionId: string, expression: string): Promise<T> {
  const r = await cdp.send("Runtime.evaluate", { expression, returnByValue: true, awaitPromise: true }, sessionId);
  const ex = r["exceptionDetails"] as { text?: string; exception?: { description?: string } } | undefined;
  if (ex) throw new Error(`in the page: ${ex.exception?.description ?? ex.text ?? "exception"}`);
  return (r["result"] as { value: T }).value;
}

const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

// -------------------------------------------------------------------------------------------------

describe("end to end: 01-quickstart in a browser", () => {
  let jupyter: TempJupyter | undefined;
  let work: string | undefined;
  const missing = jupyterMissing(["jupyter_client", "nbclient", "nbformat", "nbconvert"]);

  before(async () => {
    if (!missing) jupyter = await tempJupyter("crystal-rl");
    work = await mkdtemp(join(tmpdir(), "crystal-rl-e2e-"));
  });
  after(async () => {
    await jupyter?.cleanup();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it("executes, exports to HTML, and the plots draw in headless Chromium", { timeout: 300_000 }, async () => {
    assert.equal(missing, null, missing ?? "");
    assert.ok(
      existsSync(CHROMIUM),
      `Chromium is missing at ${CHROMIUM}: install it with \`apt-get install -y --no-install-recommends chromium\` (Debian), or point CRYSTAL_RL_CHROMIUM at a Chromium or Chrome binary`,
    );
    assert.ok(existsSync(JUPYTER), `${JUPYTER} is missing (nbconvert): install Jupyter with bash scripts/install-jupyter.sh`);
    const j = jupyter!;
    const dir = work!;

    // 1. Execute a copy beside a link to data/, so the notebook's relative paths work; its runs go to
    //    the temp store that tempJupyter sets through CRYSTAL_RL_RUNS.
    mkdirSync(join(dir, "notebooks"));
    symlinkSync(join(ROOT, "data"), join(dir, "data"), "dir");
    const copy = join(dir, "notebooks", NOTEBOOK);
    copyFileSync(join(ROOT, "notebooks", NOTEBOOK), copy);
    const executed = join(dir, "executed");
    const r = await run(PYTHON, [join(ROOT, "scripts", "run_notebooks.py"), "--out", executed, copy], { cwd: ROOT, env: j.env, timeout: 200_000 });
    const report = r.stdout + (r.stderr ? `\nstderr:\n${r.stderr.slice(-4000)}` : "");
    assert.equal(r.code, 0, `running ${NOTEBOOK} failed:\n${report}`);
    assert.ok(existsSync(j.env["CRYSTAL_RL_RUNS"]!), "the notebook's run store was not written to CRYSTAL_RL_RUNS");

    // 2. HTML export.
    const html = join(dir, "html");
    const c = await run(JUPYTER, ["nbconvert", "--to", "html", "--output-dir", html, join(executed, NOTEBOOK)], { cwd: dir, env: j.env, timeout: 120_000 });
    const page = join(html, NOTEBOOK.replace(/\.ipynb$/, ".html"));
    assert.ok(c.code === 0 && existsSync(page), `nbconvert --to html failed (exit ${c.code}):\n${c.stderr.slice(-4000)}`);

    // 3. The browser.
    const browser = await launchChromium(join(dir, "chromium-profile"));
    let shown: PageReport | undefined;
    try {
      const { cdp } = browser;
      const { targetId } = (await cdp.send("Target.createTarget", { url: "about:blank" })) as { targetId: string };
      const { sessionId } = (await cdp.send("Target.attachToTarget", { targetId, flatten: true })) as { sessionId: string };
      await cdp.send("Page.enable", {}, sessionId);
      await cdp.send("Runtime.enable", {}, sessionId);
      await cdp.send("Emulation.setDeviceMetricsOverride", { width: WIDTH, height: HEIGHT, deviceScaleFactor: 1, mobile: false }, sessionId);
      const loaded = cdp.once("Page.loadEventFired", sessionId, 60_000);
      await cdp.send("Page.navigate", { url: pathToFileURL(page).href }, sessionId);
      await loaded;

      // Figures draw from a script that waits for window.Plotly: poll until every one has drawn (or 30 s).
      const deadline = Date.now() + 30_000;
      for (;;) {
        shown = await evaluate<PageReport>(cdp, sessionId, INSPECT_PAGE);
        const done = shown.figures.length > 0 && shown.figures.every((f) => f.drawn && f.mainSvg > 0 && (f.gl || f.lines + f.points > 0));
        if (done || Date.now() > deadline) break;
        await sleep(250);
      }

      // The screenshot: the results table and the plots under it.
      const scrolled = await evaluate<boolean>(
        cdp,
        sessionId,
        // MathJax's "Loading ..." box (nbconvert's template loads MathJax) would sit over the plots: hide it.
        `(() => { const s = document.createElement("style"); s.textContent = "#MathJax_Message { display: none !important; }"; document.head.appendChild(s);
           const h = document.getElementById(${JSON.stringify(SCREENSHOT_ANCHOR)}); if (!h) return false; h.scrollIntoView(); return true; })()`,
      );
      await sleep(500);
      const shot = (await cdp.send("Page.captureScreenshot", { format: "png" }, sessionId, 60_000)) as { data: string };
      mkdirSync(ARTIFACTS, { recursive: true });
      writeFileSync(SCREENSHOT, Buffer.from(shot.data, "base64"));
      assert.ok(scrolled, `section "${SCREENSHOT_ANCHOR}" not found in the HTML (a heading of ${NOTEBOOK} changed?)`);
    } finally {
      await browser.close();
    }

    // 4. What drew.
    const s = shown!;
    const summary = JSON.stringify(s, null, 1).slice(0, 6000);
    assert.ok(s.plotly, `plotly.js did not load in the exported page (it is inlined once per kernel session):\n${summary}`);
    assert.ok(s.figures.length >= 4, `expected at least 4 figures (crystal view, convergence, force calls, energy), found ${s.figures.length}:\n${summary}`);
    for (const f of s.figures) {
      assert.ok(f.drawn && f.mainSvg > 0, `figure "${f.title}" did not draw: ${f.text || "no plotly SVG"}\n${summary}`);
    }
    const twoD = s.figures.filter((f) => !f.gl);
    assert.ok(twoD.some((f) => f.lines + f.points > 0), `no 2-D figure has data points in the DOM:\n${summary}`);

    const convergence = s.figures.find((f) => /force convergence/i.test(f.title));
    assert.ok(convergence, `no force-convergence figure:\n${summary}`);
    assert.ok(convergence.lines >= METHODS.length, `the convergence plot drew ${convergence.lines} lines, expected one per optimiser (${METHODS.join(", ")})`);
    assert.deepEqual(METHODS.filter((m) => !convergence.legend.includes(m)), [], `convergence legend: ${convergence.legend.join(", ")}`);
    assert.match(convergence.xTitle, /step/);
    assert.match(convergence.yTitle, /fmax/);

    const bars = s.figures.find((f) => /force calls/i.test(f.title));
    assert.ok(bars, `no force-calls figure:\n${summary}`);
    assert.equal(bars.bars, METHODS.length, `force-calls bars: ${bars.bars}, expected ${METHODS.length}`);

    const results = s.tables.find((t) => t[0]?.includes("forceCalls"));
    assert.ok(results, `no results table (with a forceCalls column) in the page:\n${summary}`);
    const [head, ...rows] = results;
    const method = head!.indexOf("method");
    const converged = head!.indexOf("converged");
    assert.deepEqual(rows.map((r) => r[method]), METHODS, `results table: ${JSON.stringify(results)}`);
    assert.ok(rows.every((r) => r[converged] === "true"), `every optimiser converges on the rattled cell: ${JSON.stringify(results)}`);
    assert.deepEqual(s.errors, [], "the exported notebook shows errors or stderr output");
  });
});
