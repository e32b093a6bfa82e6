/**
 * A 3-D view of a crystal with plotly: atoms as spheres coloured by element (Jmol colours) and sized by
 * covalent radius, the cell's 12 edges, optional bonds, equal scale on the three axes.
 *
 * @example
 * showCrystal(perovskite("Sr", "Ti", "O", 3.905), { supercell: [2, 2, 2], bonds: 2.2 });
 */
import { elementByNumber, neighbourList, type Crystal } from "../structure/index.js";
import type { Figure } from "../experiment/display-sink.js";
import { showFigure } from "./plotly.js";

/**
 * Jmol's element colours for Z = 1..109 (as hex), from ASE 3.22.1's `ase.data.colors.jmol_colors`
 * (the table Jmol and VESTA-like viewers use).
 */
const JMOL =
  "FFFFFF D9FFFF CC80FF C2FF00 FFB5B5 909090 3050F8 FF0D0D 90E050 B3E3F5 AB5CF2 8AFF00 BFA6A6 F0C8A0 FF8000 FFFF30 " +
  "1FF01F 80D1E3 8F40D4 3DFF00 E6E6E6 BFC2C7 A6A6AB 8A99C7 9C7AC7 E06633 F090A0 50D050 C88033 7D80B0 C28F8F 668F8F " +
  "BD80E3 FFA100 A62929 5CB8D1 702EB0 00FF00 94FFFF 94E0E0 73C2C9 54B5B5 3B9E9E 248F8F 0A7D8C 006985 C0C0C0 FFD98F " +
  "A67573 668080 9E63B5 D47A00 940094 429EB0 57178F 00C900 70D4FF FFFFC7 D9FFC7 C7FFC7 A3FFC7 8FFFC7 61FFC7 45FFC7 " +
  "30FFC7 1FFFC7 00FF9C 00E675 00D452 00BF38 00AB24 4DC2FF 4DA6FF 2194D6 267DAB 266696 175487 D0D0E0 FFD123 B8B8D0 " +
  "A6544D 575961 9E4FB5 AB5C00 754F45 428296 420066 007D00 70ABFA 00BAFF 00A1FF 008FFF 0080FF 006BFF 545CF2 785CE3 " +
  "8A4FE3 A136D4 B31FD4 B31FBA B30DA6 BD0D87 C70066 CC0059 D1004F D90045 E00038 E6002E EB0026";
const JMOL_COLOURS = JMOL.split(" ").map((h) => `#${h}`);

/** The Jmol colour of atomic number `z` ("#FF0D0D" for O); deep pink beyond the table. */
export function elementColour(z: number): string {
  return JMOL_COLOURS[z - 1] ?? "#FF1493";
}

export interface CrystalFigureOptions {
  /** Repeat the cell [na, nb, nc] times before drawing (the original cell's edges are drawn). */
  supercell?: readonly [number, number, number];
  /** Draw bonds between atoms closer than this many Å (across the periodic boundary as half-bonds). */
  bonds?: number;
  /** Move atoms into the cell before drawing (default true). */
  wrap?: boolean;
  /** Marker diameter in px per Å of covalent radius (default 14). */
  atomScale?: number;
  /** Figure title (default: the formula). */
  title?: string;
}

/** The 12 edges of the cell spanned by the rows of a 3x3 matrix (row-major), as pairs of corners. */
export function cellEdges(cell: ArrayLike<number>): [number[], number[]][] {
  const corner = (i: number, j: number, k: number) => [0, 1, 2].map((d) => i * cell[d]! + j * cell[3 + d]! + k * cell[6 + d]!);
  const edges: [number[], number[]][] = [];
  for (let a = 0; a < 2; a++)
    for (let b = 0; b < 2; b++) {
      edges.push([corner(0, a, b), corner(1, a, b)]); // along a
      edges.push([corner(a, 0, b), corner(a, 1, b)]); // along b
      edges.push([corner(a, b, 0), corner(a, b, 1)]); // along c
    }
  return edges;
}

/** Segments as one line trace: x, y, z with a null between segments. */
function segmentsTrace(segments: [number[], number[]][], extra: Record<string, unknown>): Record<string, unknown> {
  const x: (number | null)[] = [];
  const y: (number | null)[] = [];
  const z: (number | null)[] = [];
  segments.forEach(([p, q], s) => {
    if (s > 0) {
      x.push(null);
      y.push(null);
      z.push(null);
    }
    x.push(p[0]!, q[0]!);
    y.push(p[1]!, q[1]!);
    z.push(p[2]!, q[2]!);
  });
  return { type: "scatter3d", mode: "lines", x, y, z, hoverinfo: "skip", ...extra };
}

/**
 * A plotly 3-D figure of a crystal: one scatter3d trace per element (in order of first appearance),
 * a "cell" line trace with the 12 edges (24 points, null-separated), and with `bonds` a "bonds" trace.
 */
export function crystalFigure(crystal: Crystal, options: CrystalFigureOptions = {}): Figure {
  const { wrap = true, atomScale = 14 } = options;
  const cellMatrix = crystal.cell;
  let shown = wrap ? crystal.wrapped() : crystal;
  if (options.supercell) shown = shown.supercell(options.supercell);

  const bySpecies = new Map<number, number[]>();
  for (let i = 0; i < shown.natoms; i++) {
    const z = shown.numbers[i]!;
    let list = bySpecies.get(z);
    if (!list) bySpecies.set(z, (list = []));
    list.push(i);
  }

  const data: Record<string, unknown>[] = [];
  data.push(segmentsTrace(cellEdges(cellMatrix), { name: "cell", line: { color: "#444", width: 3 }, showlegend: false }));

  if (options.bonds !== undefined) {
    if (!(options.bonds > 0)) throw new RangeError(`bonds must be a positive distance in Å, got ${options.bonds}`);
    const nl = neighbourList(shown, options.bonds);
    // Each directed pair i -> j draws from atom i to the bond's midpoint: inside the cell the two halves
    // meet, across the boundary each atom shows a stub towards its periodic neighbour.
    const segments: [number[], number[]][] = [];
    for (let p = 0; p < nl.count; p++) {
      const i = nl.i[p]!;
      const a = shown.position(i);
      const v = [nl.vectors[3 * p]!, nl.vectors[3 * p + 1]!, nl.vectors[3 * p + 2]!];
      segments.push([a, [a[0] + v[0]! / 2, a[1] + v[1]! / 2, a[2] + v[2]! / 2]]);
    }
    if (segments.length) data.push(segmentsTrace(segments, { name: "bonds", line: { color: "#888", width: 4 }, showlegend: false }));
  }

  for (const [z, atoms] of bySpecies) {
    const el = elementByNumber(z);
    const x: number[] = [];
    const y: number[] = [];
    const zs: number[] = [];
    const text: string[] = [];
    for (const i of atoms) {
      const [px, py, pz] = shown.position(i);
      x.push(px);
      y.push(py);
      zs.push(pz);
      text.push(`${el.symbol} ${i}`);
    }
    data.push({
      type: "scatter3d",
      mode: "markers",
      name: el.symbol,
      x,
      y,
      z: zs,
      text,
      hovertemplate: "%{text}<br>(%{x:.3f}, %{y:.3f}, %{z:.3f}) Å<extra></extra>",
      marker: {
        size: Math.max(3, atomScale * el.covalentRadius),
        color: elementColour(z),
        opacity: 1,
        line: { color: "#333", width: 1 },
      },
    });
  }

  const axis = (title: string) => ({ title: { text: title }, showbackground: false, zeroline: false });
  return {
    data,
    layout: {
      title: { text: options.title ?? crystal.formula },
      scene: {
        aspectmode: "data",
        xaxis: axis("x (Å)"),
        yaxis: axis("y (Å)"),
        zaxis: axis("z (Å)"),
      },
      margin: { l: 0, r: 0, t: 40, b: 0 },
      legend: { itemsizing: "constant" },
      height: 500,
    },
  };
}

/** Shows a crystal in 3-D (a notebook figure; a one-line summary on a console). */
export function showCrystal(crystal: Crystal, options: CrystalFigureOptions = {}): void {
  showFigure(crystalFigure(crystal, options));
}
