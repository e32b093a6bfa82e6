import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import vm from "node:vm";
import { afterEach, describe, it } from "node:test";
import * as aq from "arquero";
import { perovskite } from "../../src/structure/prototypes.js";
import { consoleSink, displaySink, registerDisplaySink, type Figure } from "../../src/experiment/display-sink.js";
import { cellEdges, crystalFigure, elementColour } from "../../src/notebook/crystal-view.js";
import { liveDisplay, livePlot, Throttle, type Clock } from "../../src/notebook/live.js";
import {
  figureHtml,
  forgetPlotly,
  plotlyJs,
  plotlyScriptTag,
  PLOTLY_MIME,
  saveFigureHtml,
  showFigure,
} from "../../src/notebook/plotly.js";
import { formatDuration, progress } from "../../src/notebook/progress.js";
import { formatNumber, tableHtml } from "../../src/notebook/table-view.js";
import { inKernel, richBundles, tslab } from "../../src/notebook/tslab.js";

const require = createRequire(import.meta.url);

/** A clock whose time moves only when told; timers fire in time order as it passes them. */
class FakeClock implements Clock {
  t = 0;
  private timers: { at: number; fn: () => void; id: number }[] = [];
  private nextId = 1;
  now(): number {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.nextId++;
    this.timers.push({ at: this.t + ms, fn, id });
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.timers = this.timers.filter((x) => x.id !== handle);
  }
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      this.timers.sort((a, b) => a.at - b.at);
      const next = this.timers[0];
      if (!next || next.at > end) break;
      this.timers.shift();
      this.t = next.at;
      next.fn();
    }
    this.t = end;
  }
  get pendingTimers(): number {
    return this.timers.length;
  }
}

const sampleFigure = (marker = "energy-curve"): Figure => ({
  data: [{ type: "scatter", name: marker, x: [0, 1, 2], y: new Float64Array([3.5, 2.25, 1.125]) }],
  layout: { title: { text: `title ${marker}` } },
});

/** A distinctive piece of plotly.min.js, to count how many copies of the bundle a string holds. */
const plotlyProbe = () => plotlyJs().slice(200_000, 200_200);
const count = (haystack: string, needle: string) => haystack.split(needle).length - 1;

// ---------------------------------------------------------------------------------------------------
// A kernel stand-in: the real tslab 1.0.22 public module, with its message writer replaced by a recorder.

interface Sent {
  content: { data: Record<string, unknown>; metadata: Record<string, unknown>; transient: { display_id?: string } };
  update: boolean;
}

function useRealTslab(): Sent[] {
  const sent: Sent[] = [];
  const jupyter = require("tslab/dist/jupyter") as { lastWriteDisplayData: unknown };
  jupyter.lastWriteDisplayData = (content: Sent["content"], update?: boolean) => sent.push({ content, update: update === true });
  (globalThis as { __tslab__?: unknown }).__tslab__ = { require: (id: string) => require(id) };
  return sent;
}

/** A plain fake tslab (not in Node's module cache): only the public API, one MIME type per call. */
function useFakeTslab() {
  const calls: { display: number; type: string; data: string }[] = [];
  let displays = 0;
  const makeDisplay = (n: number) => ({
    html: (s: string) => calls.push({ display: n, type: "text/html", data: s }),
    text: (s: string) => calls.push({ display: n, type: "text/plain", data: s }),
    raw: (type: string, s: string | Uint8Array) => calls.push({ display: n, type, data: String(s) }),
  });
  const fake = { display: makeDisplay(0), newDisplay: () => makeDisplay(++displays) };
  (globalThis as { __tslab__?: unknown }).__tslab__ = { require: (id: string) => (id === "tslab" ? fake : require(id)) };
  return { calls, displays: () => displays };
}

afterEach(() => {
  delete (globalThis as { __tslab__?: unknown }).__tslab__;
  (require("tslab/dist/jupyter") as { lastWriteDisplayData: unknown }).lastWriteDisplayData = null;
  forgetPlotly();
  registerDisplaySink(consoleSink);
});

// ---------------------------------------------------------------------------------------------------

describe("figureHtml", () => {
  it("holds the data and a Plotly.newPlot call, without plotly.js by default", () => {
    const html = figureHtml(sampleFigure(), { divId: "fig-1" });
    assert.match(html, /<div id="fig-1"/);
    assert.match(html, /Plotly\.newPlot\(/);
    assert.match(html, /"energy-curve"/);
    assert.match(html, /\[3\.5,2\.25,1\.125\]/, "typed arrays become plain arrays");
    assert.equal(count(html, plotlyProbe()), 0);
  });

  it("with inlinePlotly carries plotly.js exactly once, before the figure", () => {
    const html = figureHtml(sampleFigure(), { inlinePlotly: true });
    assert.equal(count(html, plotlyProbe()), 1);
    assert.ok(html.indexOf(plotlyProbe()) < html.indexOf("Plotly.newPlot("));
    const full = figureHtml(sampleFigure(), { inlinePlotly: true, fullHtml: true });
    assert.match(full, /^<!DOCTYPE html>/);
    assert.match(full, /<title>title energy-curve<\/title>/);
  });

  it("cannot be broken out of its script by the data", () => {
    const html = figureHtml({ data: [{ type: "scatter", name: "</script><b>x</b><!--", y: [1] }] });
    assert.equal(count(html.toLowerCase(), "</script>"), 1);
    assert.ok(!html.includes("<b>x</b>"));
  });

  it("draws through window.Plotly.newPlot when run in a page", () => {
    const html = figureHtml(sampleFigure(), { divId: "fig-2" });
    const code = /<script type="text\/javascript">([\s\S]*)<\/script>/.exec(html)![1]!;
    const calls: unknown[][] = [];
    const el = { id: "fig-2" };
    const window = { Plotly: { newPlot: (...args: unknown[]) => calls.push(args) } };
    vm.runInNewContext(code, {
      window,
      document: { getElementById: (id: string) => (id === "fig-2" ? el : null), currentScript: null },
      setInterval,
      clearInterval,
    });
    assert.equal(calls.length, 1);
    const [target, data, layout, config] = calls[0]! as [unknown, { name: string; y: number[] }[], { title: { text: string } }, { responsive: boolean }];
    assert.equal(target, el);
    assert.deepEqual([...data[0]!.y], [3.5, 2.25, 1.125]); // an array of the vm realm
    assert.equal(layout.title.text, "title energy-curve");
    assert.equal(config.responsive, true);
  });

  it("the inlined plotly.js parses and leaves an existing window.Plotly alone", () => {
    const code = /^<script type="text\/javascript">([\s\S]*)<\/script>$/.exec(plotlyScriptTag())![1]!;
    const existing = { newPlot() {}, tag: "already here" };
    const window: Record<string, unknown> = { Plotly: existing };
    vm.runInNewContext(code, { window });
    assert.equal(window["Plotly"], existing);
    assert.ok(!("moduleName" in window));
  });

  it("saveFigureHtml writes a standalone page", () => {
    const dir = mkdtempSync(join(tmpdir(), "crl-fig-"));
    try {
      const file = join(dir, "fig.html");
      saveFigureHtml(file, sampleFigure());
      const text = readFileSync(file, "utf8");
      assert.equal(count(text, plotlyProbe()), 1);
      assert.match(text, /Plotly\.newPlot\(/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("crystalFigure", () => {
  const srtio3 = perovskite("Sr", "Ti", "O", 3.905);
  type Trace = { name: string; mode: string; x: (number | null)[]; y: (number | null)[]; z: (number | null)[]; marker?: { color: string; size: number } };

  it("has one marker trace per element with the right atom counts", () => {
    const fig = crystalFigure(srtio3);
    const atoms = (fig.data as Trace[]).filter((t) => t.mode === "markers");
    assert.deepEqual(
      atoms.map((t) => [t.name, t.x.length]),
      [["Sr", 1], ["Ti", 1], ["O", 3]],
    );
    const o = atoms.find((t) => t.name === "O")!;
    assert.equal(o.marker!.color, elementColour(8));
    assert.equal(elementColour(8), "#FF0D0D");
    assert.ok(atoms.find((t) => t.name === "Sr")!.marker!.size > o.marker!.size, "Sr is drawn larger than O");
    assert.equal((fig.layout!["scene"] as { aspectmode: string }).aspectmode, "data");
  });

  it("repeats atoms for a supercell", () => {
    const fig = crystalFigure(srtio3, { supercell: [2, 2, 2] });
    const atoms = (fig.data as Trace[]).filter((t) => t.mode === "markers");
    assert.deepEqual(
      atoms.map((t) => t.x.length),
      [8, 8, 24],
    );
  });

  it("draws the 12 cell edges as 24 points separated by nulls", () => {
    const fig = crystalFigure(srtio3);
    const cell = (fig.data as Trace[]).find((t) => t.name === "cell")!;
    const points = cell.x.filter((v) => v !== null).length;
    assert.equal(points, 24);
    assert.equal(cell.x.filter((v) => v === null).length, 11);
    const lengths: number[] = [];
    for (let k = 0; k < cell.x.length; k += 3) {
      lengths.push(Math.hypot(cell.x[k + 1]! - cell.x[k]!, cell.y[k + 1]! - cell.y[k]!, cell.z[k + 1]! - cell.z[k]!));
    }
    assert.equal(lengths.length, 12);
    for (const l of lengths) assert.ok(Math.abs(l - 3.905) < 1e-9);
    assert.equal(cellEdges([1, 0, 0, 0, 2, 0, 0, 0, 3]).length, 12);
  });

  it("draws bonds as half-bonds to the midpoint", () => {
    const fig = crystalFigure(srtio3, { bonds: 2.2 });
    const bonds = (fig.data as Trace[]).find((t) => t.name === "bonds")!;
    // Ti has 6 O neighbours at a/2, each O 2 Ti: 12 directed Ti–O pairs, each half of a/2 long.
    const segments = bonds.x.filter((v) => v === null).length + 1;
    assert.equal(segments, 12);
    for (let k = 0; k < bonds.x.length; k += 3) {
      const l = Math.hypot(bonds.x[k + 1]! - bonds.x[k]!, bonds.y[k + 1]! - bonds.y[k]!, bonds.z[k + 1]! - bonds.z[k]!);
      assert.ok(Math.abs(l - 3.905 / 4) < 1e-9);
    }
  });
});

describe("Throttle", () => {
  it("1000 calls within 100 ms make at most 2 sends, and flush sends the last value", () => {
    const clock = new FakeClock();
    const sent: number[] = [];
    const th = new Throttle<number>((v) => sent.push(v), { intervalMs: 250, clock });
    for (let i = 0; i < 1000; i++) {
      th.push(i);
      clock.t += 0.1;
    }
    assert.ok(sent.length <= 2, `sent ${sent.length}`);
    th.flush();
    assert.ok(sent.length <= 2, `sent ${sent.length} after flush`);
    assert.equal(sent.at(-1), 999);
    assert.equal(th.pending, false);
    th.flush();
    assert.equal(sent.length, 2, "a second flush sends nothing new");
  });

  it("a trailing timer sends the latest value when the interval ends", () => {
    const clock = new FakeClock();
    const sent: string[] = [];
    const th = new Throttle<string>((v) => sent.push(v), { intervalMs: 250, clock });
    th.push("a");
    clock.advance(10);
    th.push("b");
    th.push("c");
    assert.deepEqual(sent, ["a"]);
    clock.advance(239);
    assert.deepEqual(sent, ["a"]);
    clock.advance(1);
    assert.deepEqual(sent, ["a", "c"], "sent at 250 ms, latest wins");
    assert.equal(clock.pendingTimers, 0);
    clock.advance(1000);
    assert.deepEqual(sent, ["a", "c"]);
  });

  it("keeps sends at least intervalMs apart over a long run", () => {
    const clock = new FakeClock();
    const times: number[] = [];
    const th = new Throttle<number>(() => times.push(clock.now()), { intervalMs: 100, clock });
    for (let i = 0; i < 5000; i++) {
      th.push(i);
      clock.advance(0.37);
    }
    th.flush();
    for (let k = 1; k < times.length - 1; k++) assert.ok(times[k]! - times[k - 1]! >= 100 - 1e-9);
    assert.ok(times.length >= 18 && times.length <= 21, `${times.length} sends over 1850 ms`);
  });

  it("sends on push once the interval has passed, even when timers are starved", () => {
    const clock = new FakeClock();
    const sent: number[] = [];
    const th = new Throttle<number>((v) => sent.push(v), { intervalMs: 250, clock, trailing: false });
    th.push(1);
    clock.t = 100;
    th.push(2);
    clock.t = 300; // no timer ran (a busy loop), but the next push goes out
    th.push(3);
    assert.deepEqual(sent, [1, 3]);
  });

  it("cancel drops the waiting value", () => {
    const clock = new FakeClock();
    const sent: number[] = [];
    const th = new Throttle<number>((v) => sent.push(v), { intervalMs: 250, clock });
    th.push(1);
    th.push(2);
    th.cancel();
    clock.advance(1000);
    th.flush();
    assert.deepEqual(sent, [1]);
  });
});

describe("tableHtml", () => {
  const table = aq.table({
    method: ["fire", "bfgs", "<lbfgs>"],
    forceCalls: [41, 18, 18],
    fmax: [0.0123456789, 0.04999, 1.5e-7],
    energy: [-123.456789, -123.4, null],
  });

  it("formats numbers to 4 significant digits, integers in full, with a caption", () => {
    const html = tableHtml(table);
    assert.match(html, /^<table[^>]*><caption[^>]*>3 rows × 4 columns<\/caption>/);
    assert.match(html, />0\.01235</);
    assert.match(html, />0\.04999</);
    assert.match(html, />1\.5e-7</);
    assert.match(html, />-123\.5</);
    assert.match(html, />41</);
    assert.match(html, /&lt;lbfgs&gt;/);
    assert.match(html, />null</);
    assert.equal(count(html, "<tr"), 4);
  });

  it("limits rows and says so", () => {
    const html = tableHtml(table, { limit: 2, caption: "run 7" });
    assert.match(html, /run 7: 3 rows × 4 columns \(first 2 shown\)/);
    assert.equal(count(html, "<tr"), 3);
  });

  it("formatNumber", () => {
    assert.equal(formatNumber(3.14159265), "3.142");
    assert.equal(formatNumber(2.5), "2.5");
    assert.equal(formatNumber(1234567.8), "1.235e6");
    assert.equal(formatNumber(-0.000123456), "-1.235e-4");
    assert.equal(formatNumber(1e20), "1e20");
    assert.equal(formatNumber(NaN), "NaN");
    assert.equal(formatNumber(0), "0");
  });
});

describe("in a (fake) tslab kernel", () => {
  it("finds no kernel outside tslab", () => {
    assert.equal(inKernel(), false);
    assert.equal(tslab(), null);
    assert.equal(richBundles(), false);
  });

  it("showFigure sends plotly.js once per session, then only figures, as full bundles", () => {
    const sent = useRealTslab();
    assert.equal(richBundles(), true, "the kernel's bundle writer is found through the module cache");
    showFigure(sampleFigure("one"));
    showFigure(sampleFigure("two"));
    assert.equal(sent.length, 3);
    const probe = plotlyProbe();
    const withPlotly = sent.filter((s) => count(String(s.content.data["text/html"]), probe) > 0);
    assert.equal(withPlotly.length, 1);
    assert.equal(sent[0], withPlotly[0]);
    for (const [k, s] of sent.slice(1).entries()) {
      const data = s.content.data;
      assert.deepEqual(Object.keys(data).sort(), [PLOTLY_MIME, "text/html", "text/plain"].sort());
      assert.match(String(data["text/html"]), /Plotly\.newPlot\(/);
      const json = data[PLOTLY_MIME] as Figure;
      assert.equal(json.data[0]!["name"], k === 0 ? "one" : "two");
      assert.deepEqual(json.data[0]!["y"], [3.5, 2.25, 1.125]);
      assert.equal(s.update, false);
    }
  });

  it("livePlot updates one display in place, throttled, and flush draws the last figure", () => {
    const sent = useRealTslab();
    const clock = new FakeClock();
    const live = livePlot(sampleFigure("step-0"), { clock });
    for (let i = 1; i <= 1000; i++) {
      live.update(sampleFigure(`step-${i}`));
      clock.t += 0.1;
    }
    live.flush();
    const plots = sent.filter((s) => s.content.transient.display_id);
    assert.equal(sent.length - plots.length, 1, "plotly.js went out once, as its own output");
    assert.equal(plots.length, 2, "initial draw + the flushed last state");
    assert.equal(new Set(plots.map((s) => s.content.transient.display_id)).size, 1);
    assert.deepEqual(
      plots.map((s) => s.update),
      [false, true],
    );
    assert.match(String(plots[1]!.content.data["text/html"]), /step-1000/);
    assert.ok(!(PLOTLY_MIME in plots[1]!.content.data), "live figures are HTML (the plotly JSON renderer does not redraw on updates)");
    clock.advance(10_000);
    assert.equal(sent.length, 3);
    assert.equal(live.sent, 2);
  });

  it("with only tslab's public API: plotly.js once, figures as text/html, live plots through one newDisplay", () => {
    const fake = useFakeTslab();
    assert.equal(inKernel(), true);
    assert.equal(richBundles(), false);
    showFigure(sampleFigure("a"));
    showFigure(sampleFigure("b"));
    const oneOff = fake.calls.filter((c) => c.display === 0);
    assert.equal(oneOff.length, 3);
    assert.ok(oneOff.every((c) => c.type === "text/html"));
    assert.equal(oneOff.filter((c) => count(c.data, plotlyProbe()) > 0).length, 1);
    assert.equal(count(oneOff[0]!.data, plotlyProbe()), 1);

    const clock = new FakeClock();
    const live = livePlot(undefined, { clock, intervalMs: 250 });
    for (let i = 0; i < 100; i++) {
      live.update(sampleFigure(`u${i}`));
      clock.advance(1); // 100 ms in all: one send now, the rest wait
    }
    clock.advance(200); // the trailing send at 250 ms
    live.update(sampleFigure("final"));
    live.flush();
    assert.equal(fake.displays(), 1, "one display for the whole loop");
    const updates = fake.calls.filter((c) => c.display === 1);
    assert.deepEqual(
      updates.map((c) => /"name":"([^"]+)"/.exec(c.data)?.[1]),
      ["u0", "u99", "final"],
    );
    assert.equal(fake.calls.filter((c) => count(c.data, plotlyProbe()) > 0).length, 1, "still one plotly.js");
  });

  it("a live display swaps figures, HTML and text in the same output", () => {
    const sent = useRealTslab();
    const clock = new FakeClock();
    const live = liveDisplay({ clock });
    live.text("starting");
    clock.advance(300);
    live.html("<b>half way</b>");
    clock.advance(300);
    live.figure(sampleFigure());
    live.flush();
    const shown = sent.filter((s) => s.content.transient.display_id);
    assert.equal(shown.length, 3);
    assert.equal(new Set(shown.map((s) => s.content.transient.display_id)).size, 1);
    assert.equal(shown[0]!.content.data["text/plain"], "starting");
    assert.equal(shown[1]!.content.data["text/plain"], "half way");
  });

  it("progress draws an HTML bar in place, throttled, with the final state on done", () => {
    const sent = useRealTslab();
    const clock = new FakeClock();
    const bar = progress(100, { label: "relax", clock });
    for (let i = 0; i < 100; i++) {
      clock.t += 10; // 100 steps/s
      bar.tick(1, `step ${i}`);
    }
    bar.done();
    assert.equal(new Set(sent.map((s) => s.content.transient.display_id)).size, 1);
    assert.ok(sent.length >= 4 && sent.length <= 6, `${sent.length} redraws for 1 s of work`);
    const last = sent.at(-1)!.content.data;
    assert.match(String(last["text/html"]), /width:100\.0%/);
    assert.match(String(last["text/plain"]), /relax \[#+\] 100\/100 \(100%\) · 100 it\/s · done in 0:01 step 99/);
  });

  it("importing the notebook index inside tslab registers the notebook sink", async () => {
    useFakeTslab();
    const nb = await import("../../src/notebook/index.js");
    assert.equal(displaySink(), nb.notebookSink);
    assert.equal(displaySink().interactive, true);
  });
});

describe("progress on a console", () => {
  it("writes a one-line bar at most once per second, and the final state", () => {
    const clock = new FakeClock();
    const lines: string[] = [];
    const bar = progress(50, { label: "scan", clock, stream: { write: (s: string) => lines.push(s) } });
    for (let i = 0; i < 50; i++) {
      clock.t += 100; // 5 s in all
      bar.tick();
    }
    bar.done("ok");
    assert.ok(lines.length >= 6 && lines.length <= 7, `${lines.length} lines`);
    assert.ok(lines.every((l) => l.endsWith("\n") && !l.slice(0, -1).includes("\n")));
    assert.match(lines[0]!, /^scan \[\.+\] 0\/50 \(0%\)/);
    assert.match(lines.at(-1)!, /^scan \[#{30}\] 50\/50 \(100%\) · 10\.0 it\/s · done in 0:05 ok\n$/);
  });

  it("rewrites the line in place on a terminal", () => {
    const clock = new FakeClock();
    let out = "";
    const bar = progress(3, { clock, stream: { write: (s: string) => (out += s), isTTY: true } });
    clock.t = 2000;
    bar.tick(3);
    bar.done();
    assert.equal(count(out, "\n"), 1);
    assert.ok(out.startsWith("\r"));
  });

  it("formatDuration", () => {
    assert.equal(formatDuration(7.4), "0:07");
    assert.equal(formatDuration(725), "12:05");
    assert.equal(formatDuration(3723), "1:02:03");
    assert.equal(formatDuration(NaN), "?");
  });
});
