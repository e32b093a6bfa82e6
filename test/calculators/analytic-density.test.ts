/**
 * The analytic (hard-sphere) density provider against pymatgen: reference scale factors and scaled
 * densities from `/usr/bin/python3 scripts/make_gym_reference.py` (test/envs/fixtures/).
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { analyticDensity, hardSphereScale } from "../../src/calculators/analytic-density.js";
import { template } from "../../src/envs/crystal-gym/templates.js";
import { Crystal } from "../../src/structure/crystal.js";
import { Lattice } from "../../src/structure/lattice.js";

interface Fill {
  template: string;
  species: string[];
  density: number;
  scale: number;
  analytic: number;
}
const FILLS = (
  JSON.parse(readFileSync(new URL("../envs/fixtures/crystal-gym-reference.json", import.meta.url), "utf8")) as { densities: Fill[] }
).densities;

const filled = (f: Fill): Crystal => {
  const t = template(f.template).crystal;
  return new Crystal({ cell: t.lattice, positions: t.positions, numbers: f.species });
};

describe("analyticDensity", () => {
  const provider = analyticDensity();

  it("is the instant surrogate engine for density only", async () => {
    assert.equal(provider.engine, "analytic");
    assert.deepEqual(provider.properties, ["density"]);
    const c = template("rocksalt").crystal;
    await assert.rejects(provider.evaluate(c, "band-gap"), /computes only "density", not "band-gap"/);
    await assert.rejects(provider.evaluate(c, "bulk-modulus"), RangeError);
  });

  it("matches the hard-sphere scale and density computed with pymatgen", async () => {
    for (const f of FILLS) {
      const c = filled(f);
      const what = `${f.template} ${f.species.join("")}`;
      assert.ok(Math.abs(hardSphereScale(c) - f.scale) <= 1e-9 * f.scale, `${what} scale ${hardSphereScale(c)} vs ${f.scale}`);
      const r = await provider.evaluate(c, "density");
      assert.equal(r.errorFlag, 0);
      assert.equal(r.surrogate, true);
      assert.equal(r.unit, "g/cm3");
      assert.equal(r.property, "density");
      assert.ok(r.seconds >= 0 && r.seconds < 0.5, `${what}: ${r.seconds} s`);
      assert.ok(Math.abs(r.value! - f.analytic) <= 1e-9 * f.analytic, `${what}: ${r.value} vs ${f.analytic}`);
    }
  });

  it("does not depend on the template's lattice constant", async () => {
    const c = template("sulvanite").crystal;
    const big = c.withCell(Lattice.cubic(7.5), { scaleAtoms: true });
    const a = (await provider.evaluate(c, "density")).value!;
    const b = (await provider.evaluate(big, "density")).value!;
    assert.ok(Math.abs(a - b) <= 1e-12 * a, `${a} vs ${b}`);
  });

  it("counts a site's own periodic images (a one-atom cell)", () => {
    // Cu (r = 1.32 Å) alone in a 2 Å cube touches its own image: s = 2.64 / 2.
    const cu = new Crystal({ cell: Lattice.cubic(2), positions: [0, 0, 0], numbers: ["Cu"] });
    assert.ok(Math.abs(hardSphereScale(cu) - 1.32) < 1e-12);
  });

  it("reports coinciding atoms and an aborted call as failures, not throws", async () => {
    const twin = new Crystal({ cell: Lattice.cubic(4), positions: [1, 1, 1, 1, 1, 1], numbers: ["O", "O"] });
    const r = await provider.evaluate(twin, "density");
    assert.equal(r.errorFlag, 3);
    assert.equal(r.value, null);
    assert.equal(r.surrogate, true);
    const controller = new AbortController();
    controller.abort();
    const aborted = await provider.evaluate(template("rocksalt").crystal, "density", { signal: controller.signal });
    assert.equal(aborted.errorFlag, 4);
  });
});
