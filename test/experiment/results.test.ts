/** Result tables: the MACS summary on a hand-made table, the figures' traces, and exports that round-trip. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import * as aq from "arquero";
import {
  emaSmooth,
  forceCallsBar,
  forceConvergenceFigure,
  learningCurveFigure,
  macsTrainingFigure,
  ResultTable,
  summarize,
} from "../../src/experiment/index.js";

const row = (method: string, structure: number, steps: number, forceCalls: number, seconds: number, converged: boolean) => ({
  method,
  structure,
  formula: "Sr2Ti2O6",
  natoms: 10,
  steps,
  forceCalls,
  seconds,
  converged,
  energy: -115.123456789012 - structure / 3,
  fmax: converged ? 0.0412345678901234 : 0.7,
});

const HAND = [
  row("fire", 0, 100, 101, 1.5, true),
  row("fire", 1, 200, 201, 2.5, true),
  row("fire", 2, 1000, 1001, 9.0, false),
  row("fire", 3, 300, 301, 3.5, true),
  row("bfgsls", 0, 40, 60, 0.5, true),
  row("bfgsls", 1, 60, 90, 1.0, true),
  row("cg", 0, 1000, 4000, 20, false),
];

describe("summary", () => {
  it("averages steps, force calls and seconds over converged runs only, and counts failures", () => {
    const s = ResultTable.from(HAND).summary().objects();
    assert.deepEqual(s, [
      { method: "fire", count: 4, converged: 3, P_F: 25, N_mean: 200, C_mean: 201, T_mean: 2.5 },
      { method: "bfgsls", count: 2, converged: 2, P_F: 0, N_mean: 50, C_mean: 75, T_mean: 0.75 },
      { method: "cg", count: 1, converged: 0, P_F: 100, N_mean: null, C_mean: null, T_mean: null },
    ]);
  });

  it("groups by other columns on request, and by run when rows come from several", () => {
    const s = summarize(aq.from(HAND.map((r) => ({ ...r, natoms: r.structure < 2 ? 10 : 20 }))), { by: ["method", "natoms"] }).objects() as Record<string, unknown>[];
    assert.deepEqual(s.map((r) => [r["method"], r["natoms"], r["count"]]), [
      ["fire", 10, 2],
      ["fire", 20, 2],
      ["bfgsls", 10, 2],
      ["cg", 10, 1],
    ]);
    const runs = summarize([...HAND.map((r) => ({ run: "a", ...r })), { run: "b", ...row("fire", 0, 10, 11, 0.1, true) }]).objects() as Record<string, unknown>[];
    assert.deepEqual(runs.map((r) => [r["run"], r["method"], r["N_mean"]]), [
      ["a", "fire", 200],
      ["a", "bfgsls", 50],
      ["a", "cg", null],
      ["b", "fire", 10],
    ]);
  });
});

describe("figures", () => {
  /** fmax = scale / (step + 1) for steps 0..last. */
  const curve = (method: string, structure: number, last: number, scale: number) =>
    Array.from({ length: last + 1 }, (_, step) => ({ method, structure, step, fmax: scale / (step + 1) }));
  const metrics = [...curve("fire", 0, 4, 1), ...curve("fire", 1, 2, 2), ...curve("fire", 2, 6, 4), ...curve("bfgs", 0, 3, 1)];

  it("force convergence: median and 25–75 % band per method on a log axis, structures that stopped hold their last fmax", () => {
    const fig = forceConvergenceFigure(metrics, { fmax: 0.05 });
    assert.deepEqual(fig.data.map((t) => t["name"]), ["fire 25 %", "fire 75 %", "fire", "bfgs 25 %", "bfgs 75 %", "bfgs"]);
    const [lo, hi, med] = fig.data;
    assert.deepEqual(med!["x"], [0, 1, 2, 3, 4, 5, 6]);
    // Step 0: values 1, 2, 4 -> quartiles 1.5, 2, 3. Step 5: 1/5 (held), 2/3 (held), 4/6.
    assert.deepEqual((med!["y"] as number[])[0], 2);
    assert.deepEqual((lo!["y"] as number[])[0], 1.5);
    assert.deepEqual((hi!["y"] as number[])[0], 3);
    assert.ok(Math.abs((med!["y"] as number[])[5]! - 2 / 3) < 1e-15);
    assert.equal(hi!["fill"], "tonexty");
    assert.equal(lo!["showlegend"], false);
    assert.equal((fig.layout!["yaxis"] as { type: string }).type, "log");
    assert.equal(((fig.layout!["shapes"] as { y0: number }[])[0]!).y0, 0.05);
    assert.deepEqual(fig.data[5]!["x"], [0, 1, 2, 3]);
    // An arquero table works as well as an array.
    assert.deepEqual(forceConvergenceFigure(aq.from(metrics), { fmax: 0.05 }), fig);
  });

  it("EMA smoothing is TensorBoard's (debiased)", () => {
    assert.deepEqual(emaSmooth([1, 2, 3], 0), [1, 2, 3]);
    const s = emaSmooth([2, 4], 0.5);
    assert.equal(s[0], 2); // debiased: 0.5*2 / (1-0.5)
    assert.equal(s[1], (0.5 * (0.5 * 2) + 0.5 * 4) / 0.75);
    assert.throws(() => emaSmooth([1], 1), /^RangeError: smoothing must lie in \[0, 1\), got 1$/);
  });

  it("learning curves: mean across seeds, min–max or sd band, optional per-seed lines", () => {
    const records = [
      ...[0, 1, 2].map((k) => ({ method: "sac", seed: 1, step: k * 10, "charts/episodic_return": k })),
      ...[0, 1, 2].map((k) => ({ method: "sac", seed: 2, step: k * 10, "charts/episodic_return": k + 2 })),
      ...[0, 1].map((k) => ({ method: "ppo", seed: 1, step: k * 10, "charts/episodic_return": -k })),
    ];
    const fig = learningCurveFigure(records, { smoothing: 0 });
    assert.deepEqual(fig.data.map((t) => t["name"]), ["sac range low", "sac range high", "sac", "ppo"]);
    assert.deepEqual(fig.data[2]!["y"], [1, 2, 3]);
    assert.deepEqual(fig.data[0]!["y"], [0, 1, 2]);
    assert.deepEqual(fig.data[1]!["y"], [2, 3, 4]);
    assert.deepEqual(fig.data[3]!["y"], [0, -1]);
    const sd = learningCurveFigure(records, { smoothing: 0, band: "sd" });
    assert.ok(Math.abs((sd.data[0]!["y"] as number[])[0]! - (1 - Math.SQRT2)) < 1e-12);
    const bySeed = learningCurveFigure(records, { smoothing: 0.9, bySeed: true });
    assert.deepEqual(bySeed.data.map((t) => t["name"]), ["sac range low", "sac range high", "sac seed 1", "sac seed 2", "sac", "ppo seed 1", "ppo"]);
    assert.deepEqual(bySeed.data[2]!["y"], emaSmooth([0, 1, 2], 0.9));
    assert.throws(() => learningCurveFigure([{ step: 1, loss: 2 }]), /no metric given/);
    assert.deepEqual(learningCurveFigure([{ step: 1, loss: 2 }], { metric: "loss" }).data[0]!["y"], [2]);
  });

  it("MACS training: returns, batch fmax and losses on one step axis, the imitation phase shaded", () => {
    const records = [
      { step: 8, "charts/fmax_median": 3, "charts/fmax_min": 1, "charts/fmax_max": 9, "losses/qf_loss": 0.5, "losses/imitation_loss": 2 },
      { step: 16, "charts/episodic_return": 4 },
      { step: 16, "charts/episodic_return": 6 },
      { step: 24, "charts/fmax_median": 0.5, "charts/fmax_min": 0.04, "charts/fmax_max": 2, "losses/qf_loss": 0.25, "losses/actor_loss": -1 },
    ];
    const fig = macsTrainingFigure(records, { imitationSteps: 16, title: "t" });
    const byName = new Map(fig.data.map((d) => [d["name"], d]));
    assert.deepEqual(byName.get("episodic return")!["y"], [4, 6]);
    assert.deepEqual(byName.get("return, moving average")!["x"], [16]); // one point per step
    assert.deepEqual(byName.get("fmax, median of the batch")!["y"], [3, 0.5]);
    assert.deepEqual(byName.get("qf_loss")!["y"], [0.5, 0.25]);
    assert.deepEqual(byName.get("imitation_loss")!["x"], [8]);
    assert.deepEqual(byName.get("actor_loss")!["x"], [24]);
    const layout = fig.layout as { shapes: { x1: number }[]; yaxis2: { type: string }; title: { text: string } };
    assert.equal(layout.shapes[0]!.x1, 16);
    assert.equal(layout.yaxis2.type, "log");
    assert.equal(layout.title.text, "t: step 24");
    assert.equal(macsTrainingFigure([]).data.filter((d) => d["name"]?.toString().includes("loss")).length, 0);
  });

  it("force-call bars: C_mean over converged runs with sd error bars and failure %", () => {
    const fig = forceCallsBar(HAND);
    const bar = fig.data[0]!;
    assert.equal(bar["type"], "bar");
    assert.deepEqual(bar["x"], ["fire", "bfgsls", "cg"]);
    assert.deepEqual(bar["y"], [201, 75, null]);
    assert.deepEqual((bar["error_y"] as { array: number[] }).array, [100, Math.sqrt(450), 0]);
    assert.deepEqual(bar["text"], ["25.0 % failed", "0.0 % failed", "100.0 % failed"]);
  });

  it("a ResultTable plots by name and refuses unknown kinds", () => {
    const t = ResultTable.from(HAND, { metrics: aq.from(metrics.filter((m) => m.method === "fire")) });
    assert.equal(t.figure("forceCalls").data[0]!["type"], "bar");
    assert.deepEqual(t.figure("convergence").data.map((x) => x["name"]), ["fire 25 %", "fire 75 %", "fire"]);
    assert.throws(() => t.figure("pie" as never), /plot kind must be "forceCalls" or "convergence", got "pie"/);
    assert.throws(() => ResultTable.from(HAND).figure("convergence"), /needs the step metrics/);
  });
});

describe("exports", () => {
  const table = ResultTable.from(HAND);

  it("CSV round-trips, numbers exactly", () => {
    const csv = table.toCSV();
    assert.equal(csv.split("\n")[0], "method,structure,formula,natoms,steps,forceCalls,seconds,converged,energy,fmax");
    assert.deepEqual(ResultTable.fromCSV(csv).objects(), table.objects());
  });

  it("JSON round-trips as rows, columns and NDJSON", () => {
    assert.deepEqual(JSON.parse(table.toJSON()), HAND);
    assert.deepEqual(ResultTable.fromJSON(table.toJSON()).objects(), table.objects());
    assert.deepEqual(ResultTable.fromJSON(table.toJSON({ type: "columns" })).objects(), table.objects());
    assert.deepEqual(table.toJSON({ type: "ndjson" }).trim().split("\n").map((l) => JSON.parse(l)), HAND);
  });

  it("Arrow round-trips as a table and as IPC bytes (stream and file)", () => {
    const arrow = table.toArrow();
    assert.equal(arrow.numRows, HAND.length);
    assert.deepEqual(arrow.schema.fields.map((f) => f.name), table.columnNames());
    assert.deepEqual(ResultTable.fromArrow(arrow).objects(), table.objects());
    for (const format of ["stream", "file"] as const) {
      const bytes = table.toArrowIPC(format);
      assert.ok(bytes instanceof Uint8Array && bytes.length > 0);
      assert.deepEqual(ResultTable.fromArrow(bytes).objects(), table.objects());
    }
  });

  it("HTML and markdown views", () => {
    const html = table.toHTML({ limit: 3, caption: "a < b" });
    assert.match(html, /^<p><b>a &lt; b<\/b><\/p><table>/);
    assert.match(html, /… 4 more rows \(7 in all\)/);
    assert.match(table.toMarkdown(), /^\|method\|structure\|/);
  });

  it("toDanfo says how to install danfojs-node when it is absent", async () => {
    await assert.rejects(table.toDanfo(), (e: Error) => /npm install danfojs-node/.test(e.message) && /"xlsx": "0\.18\.5"/.test(e.message));
  });

  it("keeps arquero chains: the table is arquero's, `with` keeps the helpers", () => {
    const counted = table.table.groupby("method").count().objects();
    assert.deepEqual(counted, [
      { method: "fire", count: 4 },
      { method: "bfgsls", count: 2 },
      { method: "cg", count: 1 },
    ]);
    const converged = table.with((t) => t.filter((d: { converged: boolean }) => d.converged));
    assert.ok(converged instanceof ResultTable);
    assert.equal(converged.numRows, 5);
    assert.deepEqual(converged.summary().array("P_F"), [0, 0]);
  });
});
