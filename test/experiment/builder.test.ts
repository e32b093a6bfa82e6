/** Experiment builders: every call returns a new frozen builder, and every argument is checked at the call. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ionic } from "../../src/calculators/ionic.js";
import { bfgs, fire } from "../../src/optimizers/index.js";
import { experiment, ExperimentBuilder, random, type Method } from "../../src/experiment/index.js";
import { randomCrystals } from "../../src/structure/random.js";

const srtio3 = random({ composition: "SrTiO3", atoms: 10, count: 2, seed: 1 });

describe("experiment builder", () => {
  it("is immutable: each call returns a new builder and leaves the old one as it was", () => {
    const a = experiment("x");
    const b = a.structures(srtio3);
    const c = b.calculator(ionic());
    const d = c.method(fire());
    const e = d.method(bfgs()).fmax(0.01).steps(50).seed(7).live().store("elsewhere").trajectories();
    for (const x of [b, c, d, e]) assert.ok(x instanceof ExperimentBuilder);
    assert.notEqual(a, b);
    assert.equal(a.settings.structures, "none");
    assert.equal(b.settings.structures, "random");
    assert.equal(b.settings.calculator, undefined);
    assert.equal(c.settings.calculator, "ionic");
    assert.deepEqual(c.settings.methods, []);
    assert.deepEqual(d.settings.methods.map((m) => m.label), ["fire"]);
    assert.deepEqual(e.settings.methods.map((m) => m.label), ["fire", "bfgs"]);
    assert.deepEqual(
      { fmax: d.settings.fmax, steps: d.settings.steps, seed: d.settings.seed, live: d.settings.live, store: d.settings.store, trajectories: d.settings.trajectories },
      { fmax: 0.05, steps: 1000, seed: 0, live: false, store: "runs", trajectories: false },
    );
    assert.deepEqual(
      { fmax: e.settings.fmax, steps: e.settings.steps, seed: e.settings.seed, live: e.settings.live, store: e.settings.store, trajectories: e.settings.trajectories },
      { fmax: 0.01, steps: 50, seed: 7, live: true, store: "elsewhere", trajectories: true },
    );
    assert.ok(Object.isFrozen(a));
    assert.throws(() => {
      (a as unknown as Record<string, unknown>)["extra"] = 1;
    }, TypeError);
    // Branching from one base keeps the branches apart.
    const f1 = c.method(fire());
    const f2 = c.methods([bfgs()]);
    assert.deepEqual(f1.settings.methods.map((m) => m.label), ["fire"]);
    assert.deepEqual(f2.settings.methods.map((m) => m.label), ["bfgs"]);
    assert.match(String(e), /experiment\("x"\): structures random, calculator ionic, methods \[fire, bfgs\], fmax 0\.01/);
  });

  it("takes crystals, a function, random and file sources; optimizers by spec or name; calculators by name", () => {
    const crystals = randomCrystals({ composition: "SrTiO3", atoms: 10, count: 2, seed: 1 });
    const x = experiment("x");
    assert.equal(x.structures(crystals).settings.structures, "crystals");
    assert.equal(x.structures(() => crystals).settings.structures, "function");
    assert.equal(x.structures({ file: "data/some.cif" }).settings.structures, "file");
    assert.equal(x.calculator("ionic", { cutoff: 12 }).settings.calculator, "ionic");
    assert.deepEqual(x.method("bfgsls").method(fire(), "fire-2").settings.methods.map((m) => [m.label, m.name, m.kind]), [
      ["bfgsls", "bfgsls", "optimizer"],
      ["fire-2", "fire", "optimizer"],
    ]);
  });

  const cases: [string, () => unknown, RegExp, ErrorConstructor][] = [
    ["experiment name", () => experiment(""), /^experiment name must be a non-empty string, got ""$/, TypeError],
    ["fmax negative", () => experiment("x").fmax(-1), /^fmax must be positive, got -1$/, RangeError],
    ["fmax zero", () => experiment("x").fmax(0), /^fmax must be positive, got 0$/, RangeError],
    ["fmax NaN", () => experiment("x").fmax(NaN), /^fmax must be positive, got NaN$/, RangeError],
    ["fmax infinite", () => experiment("x").fmax(Infinity), /^fmax must be finite, got Infinity$/, RangeError],
    ["fmax string", () => experiment("x").fmax("0.05" as unknown as number), /^fmax must be positive, got "0\.05"$/, RangeError],
    ["steps fraction", () => experiment("x").steps(1.5), /^steps must be a positive whole number, got 1\.5$/, RangeError],
    ["steps zero", () => experiment("x").steps(0), /^steps must be a positive whole number, got 0$/, RangeError],
    ["seed fraction", () => experiment("x").seed(0.5), /^seed must be a safe integer, got 0\.5$/, RangeError],
    ["structures empty", () => experiment("x").structures([]), /^structures must not be empty$/, RangeError],
    ["structures not crystals", () => experiment("x").structures([{}] as never), /^structures\[0\] is not a Crystal, got an object/, TypeError],
    ["structures junk", () => experiment("x").structures(42 as never), /^structures must be an array of Crystals, a function.*got number 42$/, TypeError],
    [
      "random count",
      () => experiment("x").structures(random({ composition: "SrTiO3", atoms: 10, count: 0 })),
      /^structures\.random\.count must be a positive whole number, got 0$/,
      RangeError,
    ],
    [
      "random atoms",
      () => experiment("x").structures(random({ composition: "SrTiO3", atoms: 7, count: 2 })),
      /^structures\.random: SrTiO3 has 5 atoms per formula unit, so atoms must be a multiple of 5/,
      RangeError,
    ],
    ["file format", () => experiment("x").structures({ file: "a.docx" }), /cannot tell the structure format of a\.docx/, RangeError],
    ["calculator name", () => experiment("x").calculator("nope"), /^calculator "nope" is unknown: use one of lj, morse, emt, ionic/, RangeError],
    ["calculator junk", () => experiment("x").calculator(42 as never), /^calculator must be a Calculator .* got number 42$/, TypeError],
    ["method junk", () => experiment("x").method({ foo: 1 } as never), /^method must be an optimizer .* got an object with keys foo$/, TypeError],
    ["method name", () => experiment("x").method("newton"), /^unknown optimizer "newton"/, RangeError],
    ["method twice", () => experiment("x").method(fire()).method(fire()), /^method "fire" is already in experiment "x": give the second one a label/, RangeError],
    ["method label", () => experiment("x").method(fire(), "a/b"), /^method label must be letters, digits/, RangeError],
    ["methods empty", () => experiment("x").methods([]), /^methods must not be empty$/, RangeError],
    ["train without train()", () => experiment("x").train(fire() as unknown as Method), /^train needs a method that learns/, TypeError],
    ["store empty", () => experiment("x").store(""), /^store must be a non-empty folder name, got ""$/, RangeError],
    ["live junk", () => experiment("x").live("yes" as never), /^live takes true or false, got "yes"$/, TypeError],
    ["resume empty", () => experiment("x").resume(""), /^resume needs a run id, got ""$/, RangeError],
  ];
  for (const [name, call, message, type] of cases) {
    it(`validates eagerly: ${name}`, () => {
      assert.throws(call, (e: unknown) => e instanceof type && message.test((e as Error).message));
    });
  }

  it("says what is missing when run() cannot start", async () => {
    await assert.rejects(
      experiment("empty").run(),
      /^Error: experiment "empty" cannot run: no structures \(call \.structures\(\.\.\.\)\), no calculator \(call \.calculator\(\.\.\.\)\), no method \(call \.method\(\.\.\.\)\)$/,
    );
    await assert.rejects(experiment("half").structures(srtio3).method(fire()).run(), /cannot run: no calculator \(call \.calculator\(\.\.\.\)\)$/);
  });
});
