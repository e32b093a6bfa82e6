/**
 * A consistent PBE pseudopotential set for Quantum ESPRESSO, built from what a Debian machine has.
 *
 * CrystalGym used SSSP 1.3 PBE Efficiency (spec §5), which neither Debian nor npm ships. pw.x
 * refuses to mix functionals (spec §9.2), and Debian's `quantum-espresso-data` has PBE files for
 * only some elements, so the set ("crl-pbe-1") is:
 * - Debian's PBE UPF files (`/usr/share/espresso/pseudo`) where they exist: H B C N O Si Cr Fe Ni Cu
 *   Ge Rh I (US/PAW, Si norm-conserving);
 * - for every other element of CrystalGym's small, medium and large vocabularies (spec §3), a
 *   norm-conserving Troullier–Martins pseudopotential that Debian's `ld1.x` generates from this
 *   project's own input (`data/pseudo/ld1/<El>.in`: configuration and radii chosen for crystal-rl,
 *   not pslibrary's), once, into a cache folder. Recipes and the lattice constants that validate
 *   them: `data/pseudo/ld1/README.md` (mostly within 1 % of PBE literature values).
 *
 * Absolute numbers (gaps, B, ρ) therefore differ from the paper's; the set's name, its file names
 * and a digest of its inputs go into every result's settings so cached values never mix sets.
 *
 * Cut-offs: each entry carries a recommended ecutwfc/ecutrho (Ry); a calculation uses the largest
 * over its elements, with ecutrho at least 4 ecutwfc (norm-conserving) and at least the US/PAW
 * entry's own (8x) value. The paper used 50/400 Ry for every element (spec §5).
 *
 * The cache folder is, first found: the `dir` option, `$CRYSTAL_RL_PSEUDO_DIR`,
 * `$XDG_CACHE_HOME/crystal-rl/pseudo`, `~/.cache/crystal-rl/pseudo`. Generated files are named
 * `<El>.pbe-tm.crl-<hash of the input>.UPF`, written to a temporary name and renamed, so a crash or
 * two processes generating at once never leave half a file under the final name.
 */
import { createHash, randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { execa } from "execa";

/** Name of this pseudopotential set (bump the number when an entry changes meaning). */
export const PSEUDO_SET = "crl-pbe-1";

/** Debian's folder of UPF files (package quantum-espresso-data). */
export const DEBIAN_PSEUDO_DIR = "/usr/share/espresso/pseudo";

/** Where the ld1.x inputs live (shipped with the package under data/). */
export const LD1_INPUT_DIR = fileURLToPath(new URL("../../../data/pseudo/ld1/", import.meta.url));

export interface PseudoEntry {
  symbol: string;
  /** "debian": a file of quantum-espresso-data; "ld1": generated here from data/pseudo/ld1/<El>.in. */
  source: "debian" | "ld1";
  /** The UPF file name (for "ld1", the cache name, which includes a hash of the input). */
  file: string;
  /** For "ld1": the input file it is generated from. */
  input?: string;
  type: "NC" | "US" | "PAW";
  /** Valence electrons (the UPF's z_valence). */
  valence: number;
  /** Recommended cut-offs (Ry). */
  ecutwfc: number;
  ecutrho: number;
  /** What is in the valence, and anything worth knowing. */
  note: string;
}

/** A pseudopotential ready for pw.x: its entry and the absolute path of the UPF file. */
export interface ResolvedPseudo extends PseudoEntry {
  path: string;
}

export class PseudopotentialError extends Error {
  override readonly name = "PseudopotentialError";
}

type Row = Omit<PseudoEntry, "symbol" | "file" | "input"> & { file?: string };

// Debian's PBE files. Cut-offs: the file's suggested minimum rounded up with some margin, ecutrho
// 8x for US/PAW (spec §5 used 50/400 Ry everywhere); files that suggest none get 40/320 Ry.
const DEBIAN: Readonly<Record<string, Row>> = {
  H: { source: "debian", file: "H.pbe-kjpaw.UPF", type: "PAW", valence: 1, ecutwfc: 50, ecutrho: 400, note: "1s" },
  B: { source: "debian", file: "B.pbe-n-kjpaw_psl.1.0.0.UPF", type: "PAW", valence: 3, ecutwfc: 45, ecutrho: 360, note: "2s2p, pslibrary 1.0.0" },
  C: { source: "debian", file: "C.pbe-n-kjpaw_psl.0.1.UPF", type: "PAW", valence: 4, ecutwfc: 40, ecutrho: 320, note: "2s2p, pslibrary 0.1" },
  N: { source: "debian", file: "N.pbe-n-kjpaw_psl.1.0.0.UPF", type: "PAW", valence: 5, ecutwfc: 45, ecutrho: 360, note: "2s2p, pslibrary 1.0.0" },
  O: { source: "debian", file: "O.pbe-kjpaw.UPF", type: "PAW", valence: 6, ecutwfc: 45, ecutrho: 360, note: "2s2p" },
  Si: { source: "debian", file: "Si.pbe-rrkj.UPF", type: "NC", valence: 4, ecutwfc: 30, ecutrho: 120, note: "3s3p, RRKJ norm-conserving (30 Ry: E to 0.1 mRy, P to 0.1 kbar)" },
  Cr: { source: "debian", file: "Cr.pbe-spn-kjpaw_psl.1.0.0.UPF", type: "PAW", valence: 14, ecutwfc: 50, ecutrho: 460, note: "3s3p3d4s, pslibrary 1.0.0" },
  Fe: { source: "debian", file: "Fe.pbe-nd-rrkjus.UPF", type: "US", valence: 8, ecutwfc: 40, ecutrho: 320, note: "3d4s, nonlinear core correction" },
  Ni: { source: "debian", file: "Ni.pbe-nd-rrkjus.UPF", type: "US", valence: 10, ecutwfc: 40, ecutrho: 320, note: "3d4s, nonlinear core correction" },
  Cu: { source: "debian", file: "Cu.pbe-kjpaw.UPF", type: "PAW", valence: 11, ecutwfc: 50, ecutrho: 400, note: "3d4s" },
  Ge: { source: "debian", file: "Ge.pbe-kjpaw.UPF", type: "PAW", valence: 4, ecutwfc: 30, ecutrho: 240, note: "4s4p, 3d in the core" },
  Rh: { source: "debian", file: "Rh.pbe-rrkjus_lb.UPF", type: "US", valence: 9, ecutwfc: 40, ecutrho: 320, note: "4d5s" },
  I: { source: "debian", file: "I.pbe-n-kjpaw_psl.1.0.0.UPF", type: "PAW", valence: 7, ecutwfc: 40, ecutrho: 320, note: "5s5p, pslibrary 1.0.0" },
};

// Generated norm-conserving (TM) pseudopotentials: valence and cut-off per element (Ry, where the
// ld1.x Bessel-basis eigenvalues converge to about 1 mRy); checks in data/pseudo/ld1/README.md.
const LD1: Readonly<Record<string, Row>> = {
  Li: { source: "ld1", type: "NC", valence: 3, ecutwfc: 80, ecutrho: 320, note: "1s2s (from Li+), all electrons in the valence" },
  Be: { source: "ld1", type: "NC", valence: 2, ecutwfc: 40, ecutrho: 160, note: "2s2p, nonlinear core correction" },
  Na: { source: "ld1", type: "NC", valence: 9, ecutwfc: 80, ecutrho: 320, note: "2s2p semicore + 3s (from Na+)" },
  Mg: { source: "ld1", type: "NC", valence: 2, ecutwfc: 40, ecutrho: 160, note: "3s3p, nonlinear core correction (2s2p semicore: MgO 0.7 % instead of 1.3 % too large, at 100 Ry)" },
  K: { source: "ld1", type: "NC", valence: 9, ecutwfc: 50, ecutrho: 200, note: "3s3p semicore + 4s (from K+), nonlinear core correction" },
  Ca: { source: "ld1", type: "NC", valence: 10, ecutwfc: 60, ecutrho: 240, note: "3s3p semicore + 4s (from Ca2+), 3d projector, nonlinear core correction" },
  Rb: { source: "ld1", type: "NC", valence: 9, ecutwfc: 50, ecutrho: 200, note: "4s4p semicore + 5s (from Rb+), 4d projector, nonlinear core correction" },
  Sr: { source: "ld1", type: "NC", valence: 10, ecutwfc: 55, ecutrho: 220, note: "4s4p semicore + 5s (from Sr2+), 4d projector, nonlinear core correction" },
  P: { source: "ld1", type: "NC", valence: 5, ecutwfc: 45, ecutrho: 180, note: "3s3p" },
  S: { source: "ld1", type: "NC", valence: 6, ecutwfc: 50, ecutrho: 200, note: "3s3p" },
  Se: { source: "ld1", type: "NC", valence: 6, ecutwfc: 45, ecutrho: 180, note: "4s4p, 3d in the core, nonlinear core correction" },
  F: { source: "ld1", type: "NC", valence: 7, ecutwfc: 90, ecutrho: 360, note: "2s2p (rc 1.2 bohr: softer radii gave NaF 2-4 % too large)" },
  Cl: { source: "ld1", type: "NC", valence: 7, ecutwfc: 50, ecutrho: 200, note: "3s3p" },
  Br: { source: "ld1", type: "NC", valence: 7, ecutwfc: 45, ecutrho: 180, note: "4s4p, 3d in the core, nonlinear core correction" },
  // Medium vocabulary (spec §3).
  Al: { source: "ld1", type: "NC", valence: 3, ecutwfc: 30, ecutrho: 120, note: "3s3p, nonlinear core correction" },
  Mn: { source: "ld1", type: "NC", valence: 7, ecutwfc: 85, ecutrho: 340, note: "3d4s4p (from 3d6 4s1), nonlinear core correction; no spin polarisation (nspin=1)" },
  Co: { source: "ld1", type: "NC", valence: 9, ecutwfc: 85, ecutrho: 340, note: "3d4s4p (from 3d8 4s1), nonlinear core correction; no spin polarisation (nspin=1)" },
  Zn: { source: "ld1", type: "NC", valence: 12, ecutwfc: 85, ecutrho: 340, note: "3d10 4s2 (4p projector), nonlinear core correction" },
  Sn: { source: "ld1", type: "NC", valence: 4, ecutwfc: 30, ecutrho: 120, note: "5s5p, 4d in the core, nonlinear core correction" },
  // Large vocabulary (spec §3).
  Ti: { source: "ld1", type: "NC", valence: 12, ecutwfc: 85, ecutrho: 340, note: "3s3p semicore + 3d4s (from Ti2+), nonlinear core correction" },
  V: { source: "ld1", type: "NC", valence: 13, ecutwfc: 90, ecutrho: 360, note: "3s3p semicore + 3d4s (from V2+), nonlinear core correction" },
  Ga: { source: "ld1", type: "NC", valence: 3, ecutwfc: 45, ecutrho: 180, note: "4s4p, 3d in the core with a nonlinear core correction, d projector on the unbound 4d" },
  As: { source: "ld1", type: "NC", valence: 5, ecutwfc: 45, ecutrho: 180, note: "4s4p, 3d in the core with a nonlinear core correction, d projector on the unbound 4d" },
  Y: { source: "ld1", type: "NC", valence: 11, ecutwfc: 60, ecutrho: 240, note: "4s4p semicore + 4d5s (from Y2+), 3d in the core, nonlinear core correction" },
  Zr: { source: "ld1", type: "NC", valence: 12, ecutwfc: 65, ecutrho: 260, note: "4s4p semicore + 4d5s (from Zr2+), 3d in the core, nonlinear core correction" },
  Mo: { source: "ld1", type: "NC", valence: 14, ecutwfc: 70, ecutrho: 280, note: "4s4p semicore + 4d5s (from Mo2+), 3d in the core, nonlinear core correction" },
  Pd: { source: "ld1", type: "NC", valence: 10, ecutwfc: 60, ecutrho: 240, note: "4d5s (5p projector), 4s4p in the core, nonlinear core correction" },
  Ag: { source: "ld1", type: "NC", valence: 11, ecutwfc: 60, ecutrho: 240, note: "4d5s (5p projector), 4s4p in the core, nonlinear core correction" },
  In: { source: "ld1", type: "NC", valence: 3, ecutwfc: 45, ecutrho: 180, note: "5s5p, 4d in the core with a nonlinear core correction, d projector on the unbound 5d" },
  Sb: { source: "ld1", type: "NC", valence: 5, ecutwfc: 45, ecutrho: 180, note: "5s5p, 4d in the core with a nonlinear core correction, d projector on the unbound 5d" },
  Te: { source: "ld1", type: "NC", valence: 6, ecutwfc: 45, ecutrho: 180, note: "5s5p, 4d in the core with a nonlinear core correction, d projector on the unbound 5d" },
  Cs: { source: "ld1", type: "NC", valence: 9, ecutwfc: 60, ecutrho: 240, note: "5s5p semicore + 6s (from Cs+), 5d projector, 4d in the core, nonlinear core correction" },
  Ba: { source: "ld1", type: "NC", valence: 10, ecutwfc: 60, ecutrho: 240, note: "5s5p semicore + 6s (from Ba2+), 5d projector, 4d in the core, nonlinear core correction" },
  La: { source: "ld1", type: "NC", valence: 11, ecutwfc: 65, ecutrho: 260, note: "5s5p semicore + 5d6s (from La2+), 4d in the core, nonlinear core correction; no f projector" },
  Au: { source: "ld1", type: "NC", valence: 11, ecutwfc: 55, ecutrho: 220, note: "5d6s (6p projector), 5s5p4f in the core, nonlinear core correction" },
  Pt: { source: "ld1", type: "NC", valence: 10, ecutwfc: 55, ecutrho: 220, note: "5d6s (6p projector), 5s5p4f in the core, nonlinear core correction (Debian's Pt file is fully relativistic: pw.x 6.7 then demands lspinorb)" },
  Bi: { source: "ld1", type: "NC", valence: 5, ecutwfc: 45, ecutrho: 180, note: "6s6p, 5d in the core with a nonlinear core correction, d projector on the unbound 6d" },
};

let tableCache: readonly PseudoEntry[] | undefined;

/**
 * Every element of the set with its source, file name and recommended cut-offs, sorted by symbol.
 * Generated entries are named after a hash of their ld1 input, so changing an input changes the
 * file name (and the settings that key cached results).
 */
export function pseudoTable(): readonly PseudoEntry[] {
  if (tableCache) return tableCache;
  const rows: PseudoEntry[] = [];
  for (const [symbol, row] of Object.entries(DEBIAN)) rows.push({ symbol, ...row, file: row.file! });
  for (const [symbol, row] of Object.entries(LD1)) {
    const input = join(LD1_INPUT_DIR, `${symbol}.in`);
    let text: string;
    try {
      text = readFileSync(input, "utf8");
    } catch (err) {
      throw new PseudopotentialError(`pseudopotential set ${PSEUDO_SET}: the ld1.x input for ${symbol} is missing (${input}): ${(err as Error).message}`);
    }
    rows.push({ symbol, ...row, file: `${symbol}.pbe-tm.crl-${digest(text).slice(0, 8)}.UPF`, input });
  }
  rows.sort((a, b) => (a.symbol < b.symbol ? -1 : a.symbol > b.symbol ? 1 : 0));
  tableCache = Object.freeze(rows.map((r) => Object.freeze(r)));
  return tableCache;
}

/** A digest of the whole set (file names, which include the inputs' hashes, and cut-offs): part of the settings. */
export function pseudoSetDigest(): string {
  return digest(JSON.stringify(pseudoTable().map((e) => [e.symbol, e.file, e.ecutwfc, e.ecutrho]))).slice(0, 12);
}

/** The set's entry for `symbol`; throws a PseudopotentialError naming the element when there is none. */
export function pseudoEntry(symbol: string): PseudoEntry {
  const entry = pseudoTable().find((e) => e.symbol === symbol);
  if (!entry) {
    throw new PseudopotentialError(
      `no PBE pseudopotential for ${symbol} in the set ${PSEUDO_SET}; available: ${pseudoTable()
        .map((e) => e.symbol)
        .join(" ")} (add data/pseudo/ld1/${symbol}.in, or pass your own with the "pseudos" option)`,
    );
  }
  return entry;
}

/** Cut-offs for a calculation with these pseudopotentials: the largest ecutwfc; ecutrho the largest of 4 ecutwfc and each entry's. */
export function cutoffsFor(entries: Iterable<Pick<PseudoEntry, "ecutwfc" | "ecutrho">>): { ecutwfc: number; ecutrho: number } {
  let ecutwfc = 0;
  let ecutrho = 0;
  for (const e of entries) {
    ecutwfc = Math.max(ecutwfc, e.ecutwfc);
    ecutrho = Math.max(ecutrho, e.ecutrho);
  }
  if (ecutwfc === 0) throw new RangeError("cutoffsFor: no pseudopotentials given");
  return { ecutwfc, ecutrho: Math.max(ecutrho, 4 * ecutwfc) };
}

export interface PseudoOptions {
  /** Cache folder of generated files; default $CRYSTAL_RL_PSEUDO_DIR, else ~/.cache/crystal-rl/pseudo. */
  dir?: string;
  /** Debian's UPF folder; default $CRYSTAL_RL_QE_PSEUDO, else /usr/share/espresso/pseudo. */
  debianDir?: string;
  /** The ld1.x executable; default $CRYSTAL_RL_LD1, else "ld1.x". */
  ld1?: string;
}

/** The cache folder of generated pseudopotentials (see the module comment). */
export function pseudoCacheDir(options: Pick<PseudoOptions, "dir"> = {}): string {
  if (options.dir) return resolve(options.dir);
  const env = process.env["CRYSTAL_RL_PSEUDO_DIR"];
  if (env) return resolve(env);
  const xdg = process.env["XDG_CACHE_HOME"];
  return join(xdg ? resolve(xdg) : join(homedir(), ".cache"), "crystal-rl", "pseudo");
}

const generating = new Map<string, Promise<void>>();

/**
 * The pseudopotential file of each symbol, generating missing ones with ld1.x (about 0.5 s each,
 * once per cache folder). Throws a PseudopotentialError naming the element when the set has none,
 * Debian's file is not installed, or ld1.x fails.
 */
export async function resolvePseudos(symbols: Iterable<string>, options: PseudoOptions = {}): Promise<Map<string, ResolvedPseudo>> {
  const out = new Map<string, ResolvedPseudo>();
  for (const symbol of new Set(symbols)) {
    const entry = pseudoEntry(symbol);
    if (entry.source === "debian") {
      const dir = options.debianDir ?? process.env["CRYSTAL_RL_QE_PSEUDO"] ?? DEBIAN_PSEUDO_DIR;
      const path = join(dir, entry.file);
      if (!existsSync(path)) {
        throw new PseudopotentialError(`the pseudopotential for ${symbol} (${entry.file}) is not in ${dir}: install Debian's quantum-espresso-data (apt-get install quantum-espresso-data)`);
      }
      out.set(symbol, { ...entry, path });
    } else {
      const dir = pseudoCacheDir(options);
      const path = join(dir, entry.file);
      if (!existsSync(path)) {
        let job = generating.get(path);
        if (!job) {
          job = generate(entry, dir, options.ld1 ?? process.env["CRYSTAL_RL_LD1"] ?? "ld1.x").finally(() => generating.delete(path));
          generating.set(path, job);
        }
        await job;
      }
      out.set(symbol, { ...entry, path });
    }
  }
  return out;
}

/** Runs ld1.x on the entry's input in a temporary folder inside `dir`, checks the file, renames it into place. */
async function generate(entry: PseudoEntry, dir: string, ld1: string): Promise<void> {
  const input = await readFile(entry.input!, "utf8");
  const named = input.match(/file_pseudopw\s*=\s*'([^']+)'/);
  if (!named) throw new PseudopotentialError(`${entry.input}: no file_pseudopw='...' in the ld1.x input for ${entry.symbol}`);
  await mkdir(dir, { recursive: true });
  const work = await mkdtemp(join(dir, `.ld1-${entry.symbol}-`));
  try {
    const result = await execa(ld1, [], {
      cwd: work,
      input,
      reject: false,
      timeout: 120_000,
      env: { OMP_NUM_THREADS: "1", OMPI_MCA_ess_singleton_isolated: "1", OMPI_MCA_pml: "ob1", OMPI_MCA_btl: "self" },
    });
    const log = `${String(result.stdout ?? "")}\n${String(result.stderr ?? "")}`;
    if ((result as { code?: string }).code === "ENOENT") {
      throw new PseudopotentialError(`cannot generate the ${entry.symbol} pseudopotential: "${ld1}" not found (apt-get install quantum-espresso, or set CRYSTAL_RL_LD1)`);
    }
    const error = log.match(/Error in routine\s+(\S+)\s*\([^)]*\):\s*\n\s*(.*)/);
    const upf = join(work, named[1]!);
    if (error || result.failed || !existsSync(upf)) {
      const why = error ? `${error[1]}: ${error[2]!.trim()}` : result.timedOut ? "timed out" : `exit code ${result.exitCode}`;
      throw new PseudopotentialError(`ld1.x failed to generate the ${entry.symbol} pseudopotential from ${entry.input} (${why})`);
    }
    const header = parseUpfHeader(await readFile(upf, "utf8"));
    if (!/PBE|SLA\s+PW\s+PBX\s+PBC/i.test(header.functional ?? "")) {
      throw new PseudopotentialError(`${entry.input}: ld1.x wrote a ${header.functional} pseudopotential for ${entry.symbol}, not PBE`);
    }
    if (header.valence !== entry.valence) {
      throw new PseudopotentialError(`${entry.input}: the ${entry.symbol} pseudopotential has ${header.valence} valence electrons, the set says ${entry.valence}`);
    }
    await writeFile(join(work, "ld1.out"), log);
    // Atomic: the final name appears whole or not at all.
    const tmp = join(dir, `.${entry.file}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`);
    await rename(upf, tmp);
    await rename(tmp, join(dir, entry.file));
    await rename(join(work, "ld1.out"), join(dir, `${entry.file}.ld1.out`)).catch(() => undefined);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** The header fields of a UPF file (version 1 or 2) that matter here. */
export function parseUpfHeader(text: string): { functional?: string; type?: string; valence?: number } {
  const v2 = text.match(/<PP_HEADER\b[^>]*>/s)?.[0];
  if (v2 && /z_valence\s*=/.test(v2)) {
    const attr = (name: string): string | undefined => v2.match(new RegExp(`\\b${name}\\s*=\\s*"([^"]*)"`, "i"))?.[1]?.trim();
    const z = attr("z_valence");
    return { functional: attr("functional"), type: attr("pseudo_type"), valence: z === undefined ? undefined : Number(z.replace(/[dD]/, "e")) };
  }
  const block = text.match(/<PP_HEADER>([\s\S]*?)<\/PP_HEADER>/)?.[1] ?? "";
  const line = (label: RegExp): string | undefined => block.split("\n").find((l) => label.test(l));
  const z = line(/Z valence/)?.trim().split(/\s+/)[0];
  return {
    functional: line(/Exchange-Correlation functional/)?.replace(/Exchange-Correlation functional/, "").trim(),
    type: line(/pseudopotential|\bNC\b|\bUS\b|\bPAW\b/)?.trim().split(/\s+/)[0],
    valence: z === undefined ? undefined : Number(z.replace(/[dD]/, "e")),
  };
}

function digest(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}
