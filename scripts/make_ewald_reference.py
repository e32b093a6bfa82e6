#!/usr/bin/env python3
"""Reference values for the Ewald and ionic (Pedone) parity tests, from pymatgen and LAMMPS.

Run with Debian's /usr/bin/python3 (python3-pymatgen, python3-ase) and LAMMPS's `lmp` on PATH
(Debian: apt-get install -y --no-install-recommends lammps; the Sep 2021 build):
    /usr/bin/python3 scripts/make_ewald_reference.py
Writes data/reference/ewald.json:

- "erfc": Python's math.erfc at a few points (the C library's erfc), for the erfc accuracy test.
- "ewald": point charges in cubic, sheared/rattled, random triclinic, charged and 40-atom random SrTiO3
  cells; pymatgen's EwaldSummation (acc_factor 12, i.e. 1e-12) total energy and forces, and LAMMPS's
  `pair_style coul/long` + `kspace_style ewald 1e-10` energy, forces and stress.
- "ionic": the Pedone et al. (2006) rigid-ion model (partial charges, Morse + C/r^12 for every
  cation-O and O-O pair, Ewald Coulomb) in LAMMPS, energy, forces and stress.

LAMMPS Sep 2021 has no `pair_style pedone` (added in 2024), so the model is composed with
    pair_style hybrid/overlay coul/long 15 morse 15 lj/cut 15 buck 15
    kspace_style ewald 1e-10
    pair_modify shift yes table 0
  * morse: LAMMPS's E = D0 [e^{-2a(r-r0)} - 2 e^{-a(r-r0)}] equals Pedone's D[(1 - e^{-a(r-r0)})^2 - 1]
    exactly (expand the square: 1 - 2x + x^2 - 1 = x^2 - 2x), so D0 = D, alpha = a, r0 = r0.
  * lj/cut with sigma = 1, epsilon = C/4 gives 4 eps (sigma^12/r^12 - sigma^6/r^6) = C/r^12 - C/r^6;
  * buck with A = 0, rho = 1 and C_buck = -C gives -C_buck/r^6 = +C/r^6, cancelling the r^-6 term.
  * `pair_modify shift yes` shifts morse, lj/cut and buck by their value at the 15 A cut-off (together:
    Morse(rc) + C/rc^12, as crystal-rl's Ionic with shift: true); coul/long is not shifted (Ewald).
  * `table 0`: coul/long evaluates erfc analytically, not from its default 2^12-point table.
Only cation-O and O-O pairs get the short-range styles; cation-cation pairs are Coulomb only.
Cells are written with a along x and b in the xy plane (LAMMPS's restricted triclinic form), so
forces and stress need no rotation; `box tilt large` admits tilts beyond half a cell length.
Stress: LAMMPS's pressure tensor (bar, virial only: no velocities) is minus ASE's stress, so
sigma [eV/A^3] = -P [bar] / 1.602176634e6. LAMMPS's metal-unit Coulomb constant is 14.399645
(crystal-rl: 14.3996454784), 3e-8 relative: far below the tests' tolerances. For the charged cell
LAMMPS's energy includes the neutralising-background term -k pi Q^2/(2 V g^2) but its virial leaves it
out; test/calculators/ewald.test.ts adds k pi Q^2/(2 V^2 g^2) back to the diagonal (g = "g_ewald").
"""
import json
import math
import re
import subprocess
import tempfile
import warnings
from importlib.metadata import version
from pathlib import Path

import numpy as np
from ase.geometry import cellpar_to_cell
from pymatgen.analysis.ewald import EwaldSummation
from pymatgen.core import Lattice, Structure

warnings.simplefilter("ignore")
rng = np.random.default_rng(20261123)
ROOT = Path(__file__).resolve().parent.parent
BAR_PER_EV_A3 = 1.602176634e6

# Pedone et al., J. Phys. Chem. B 110, 11780 (2006), Table 1, as transcribed in
# glasagent/amorphouspy, amorphouspy/src/amorphouspy/potentials/pmmcs_potential.py (and in
# src/calculators/ionic.ts, with the same citation): symbol -> (q, D eV, a 1/A, r0 A, C eV A^12) for
# the symbol-O pair; "O" is the O-O pair. Only the elements these references use are listed here.
PEDONE = {
    "Li": (0.6, 0.001114, 3.429506, 2.681360, 1.0),
    "Ca": (1.2, 0.030211, 2.241334, 2.923245, 5.0),
    "Sr": (1.2, 0.019623, 1.886000, 3.328330, 3.0),
    "Ba": (1.2, 0.065011, 1.547596, 3.393410, 5.0),
    "Ti": (2.4, 0.024235, 2.254703, 2.708943, 1.0),
    "Fe3": (1.8, 0.418981, 1.620376, 2.382183, 2.0),
    "Zn": (1.2, 0.001221, 3.150679, 2.851850, 1.0),
    "Al": (1.8, 0.361581, 1.900442, 2.164818, 0.9),
    "Si": (2.4, 0.340554, 2.006700, 2.100000, 1.0),
    "P": (3.0, 0.831326, 2.585833, 1.800790, 1.0),
    "O": (-1.2, 0.042395, 1.379316, 3.618701, 22.0),
}
MASSES = {"Li": 6.94, "Na": 22.99, "Cl": 35.45, "Ca": 40.078, "Sr": 87.62, "Ba": 137.327, "Ti": 47.867,
          "Fe": 55.845, "Zn": 65.38, "Al": 26.982, "Si": 28.085, "P": 30.974, "O": 15.999}
FORMAL = {"Sr": 2, "Ti": 4, "O": -2, "Na": 1, "Cl": -1}


def lammps_cell(cellpar):
    """Cell rows with a along x and b in the xy plane (ASE's cellpar_to_cell = LAMMPS's form)."""
    cell = cellpar_to_cell(cellpar)
    cell[np.abs(cell) < 1e-14] = 0.0
    return cell


def min_distance(cell, frac, p, others):
    """Shortest periodic distance from fractional point p to the points `others` (and p's own images)."""
    d = np.inf
    shifts = np.array([[i, j, k] for i in (-1, 0, 1) for j in (-1, 0, 1) for k in (-1, 0, 1)])
    for o in others:
        v = (frac[o] - p) - np.round(frac[o] - p)
        d = min(d, np.min(np.linalg.norm((v + shifts) @ cell, axis=1)))
    own = np.linalg.norm(shifts[np.any(shifts != 0, axis=1)] @ cell, axis=1)
    return min(d, own.min())


def random_cell(symbols, volume_per_atom, min_dist, contact=None):
    """AIRSS-like random crystal: a Niggli-ish random cell (angles 70-110, lengths within 1.5x) of the
    target volume, atoms placed uniformly at least `min_dist` apart; with `contact`, the last atom is
    put `contact` A from the first (the 1 A contacts of MACS's random starts)."""
    n = len(symbols)
    while True:
        lengths = rng.uniform(1.0, 1.5, 3)
        angles = rng.uniform(70, 110, 3)
        try:
            cell = lammps_cell(np.concatenate([lengths, angles]))
        except Exception:
            continue
        vol = abs(np.linalg.det(cell))
        if vol / np.prod(lengths) < 0.6:
            continue
        cell *= (volume_per_atom * n / vol) ** (1 / 3)
        frac = np.zeros((n, 3))
        ok = True
        for a in range(n):
            for _ in range(5000):
                p = rng.random(3)
                if contact is not None and a == n - 1:
                    u = rng.normal(size=3)
                    cart = frac[0] @ cell + contact * u / np.linalg.norm(u)
                    p = np.linalg.solve(cell.T, cart) % 1.0
                others = range(a)
                if a == 0 or min_distance(cell, frac, p, [o for o in others if not (contact is not None and a == n - 1 and o == 0)]) >= min_dist:
                    frac[a] = p
                    break
            else:
                ok = False
                break
        if ok:
            return cell, frac @ cell


def perovskite_cell(a):
    cell = np.eye(3) * a
    frac = np.array([[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    return cell, frac @ cell, ["Sr", "Ti", "O", "O", "O"]


def sheared_perovskite_supercell():
    """SrTiO3 2x2x2 (40 atoms) in a triclinic cell (7.81, 7.9, 7.7 A, 86, 95, 92 deg) with the ideal
    fractional coordinates, rattled by 0.08 A."""
    base = np.array([[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    frac, symbols = [], []
    for s, sym in zip(base, ["Sr", "Ti", "O", "O", "O"]):
        for i in range(2):
            for j in range(2):
                for k in range(2):
                    frac.append((s + [i, j, k]) / 2)
                    symbols.append(sym)
    cell = lammps_cell([7.81, 7.9, 7.7, 86, 95, 92])
    pos = np.array(frac) @ cell + rng.normal(0, 0.08, (len(frac), 3))
    return cell, pos, symbols


def wrap(cell, pos):
    frac = np.linalg.solve(cell.T, pos.T).T
    frac -= np.floor(frac)
    frac[frac >= 1.0] -= 1.0
    return frac @ cell


def pymatgen_ewald(cell, pos, symbols, charges):
    s = Structure(Lattice(cell), symbols, pos, coords_are_cartesian=True)
    s.add_oxidation_state_by_site([float(q) for q in charges])
    e = EwaldSummation(s, compute_forces=True)
    return {"energy": float(e.total_energy), "forces": e.forces.tolist(), "eta": e._eta, "rmax": e._rmax, "gmax": e._gmax}


def lammps(cell, pos, symbols, charges, style, pairs, kspace, cutoff):
    """Runs `lmp` on one structure; returns energy (eV), forces (eV/A) and stress (Voigt, eV/A^3)."""
    types = sorted(set(symbols), key=symbols.index)
    tid = {s: k + 1 for k, s in enumerate(types)}
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        lines = ["crystal-rl reference", "", f"{len(symbols)} atoms", f"{len(types)} atom types",
                 f"0 {cell[0, 0]!r} xlo xhi", f"0 {cell[1, 1]!r} ylo yhi", f"0 {cell[2, 2]!r} zlo zhi",
                 f"{cell[1, 0]!r} {cell[2, 0]!r} {cell[2, 1]!r} xy xz yz", "", "Masses", ""]
        lines += [f"{tid[s]} {MASSES[s]}" for s in types]
        lines += ["", "Atoms # charge", ""]
        lines += [f"{a + 1} {tid[s]} {q!r} {p[0]!r} {p[1]!r} {p[2]!r}" for a, (s, q, p) in enumerate(zip(symbols, charges, pos))]
        (d / "data").write_text("\n".join(lines) + "\n")
        coeffs = pairs(tid)
        inp = f"""units metal
atom_style charge
boundary p p p
box tilt large
read_data data
pair_style {style}
{coeffs}
pair_modify shift yes table 0
kspace_style {kspace}
compute p all pressure NULL virial
thermo_style custom step pe c_p[1] c_p[2] c_p[3] c_p[4] c_p[5] c_p[6]
thermo_modify format float %.17g
dump f all custom 1 forces id fx fy fz
dump_modify f sort id format float %.17g
run 0
"""
        (d / "in").write_text(inp)
        out = subprocess.run(["lmp", "-in", "in", "-log", "log", "-screen", "none"], cwd=d, capture_output=True, text=True)
        log = (d / "log").read_text()
        if out.returncode != 0:
            raise RuntimeError(f"lmp failed:\n{log[-3000:]}\n{out.stderr}")
        m = re.search(r"^\s*Step\s+PotEng.*\n\s*0\s+(.*)$", log, re.M)
        vals = [float(x) for x in m.group(1).split()]
        energy, pxx, pyy, pzz, pxy, pxz, pyz = vals
        stress = [-p / BAR_PER_EV_A3 for p in (pxx, pyy, pzz, pyz, pxz, pxy)]
        rows = (d / "forces").read_text().splitlines()
        start = rows.index("ITEM: ATOMS id fx fy fz") + 1
        forces = [[float(x) for x in r.split()[1:]] for r in rows[start:start + len(symbols)]]
        gewald = re.search(r"G vector \(1/distance\) = ([0-9.eE+-]+)", log)
        kmax = re.search(r"KSpace vectors: actual max1d max3d = (\d+) (\d+) (\d+)", log)
        return {"energy": energy, "forces": forces, "stress": stress,
                "g_ewald": float(gewald.group(1)) if gewald else None,
                "kvectors": int(kmax.group(1)) if kmax else None, "cutoff": cutoff, "kspace": kspace, "pair_style": style}


def coulomb_only(cutoff):
    return f"coul/long {cutoff}", lambda tid: "pair_coeff * *"


def pedone_styles(cutoff):
    style = f"hybrid/overlay coul/long {cutoff} morse {cutoff} lj/cut {cutoff} buck {cutoff}"

    def pairs(tid):
        out = ["pair_coeff * * coul/long"]
        if "O" not in tid:
            return "\n".join(out)
        for s, t in tid.items():
            key = "Fe3" if s == "Fe" else s
            _, D, a, r0, C = PEDONE[key]
            i, j = sorted((t, tid["O"]))
            out.append(f"pair_coeff {i} {j} morse {D} {a} {r0}")
            out.append(f"pair_coeff {i} {j} lj/cut {C / 4!r} 1.0")
            out.append(f"pair_coeff {i} {j} buck 0.0 1.0 {-C!r}")
        return "\n".join(out)

    return style, pairs


def pedone_charges(symbols):
    return [PEDONE["Fe3" if s == "Fe" else s][0] for s in symbols]


def ewald_cases():
    cell, pos, sym = perovskite_cell(3.905)
    yield "SrTiO3 cubic, formal charges", cell, pos, sym, [FORMAL[s] for s in sym]
    cell, pos, sym = sheared_perovskite_supercell()
    yield "SrTiO3 2x2x2 triclinic, rattled, formal charges", cell, pos, sym, [FORMAL[s] for s in sym]
    sym = ["Na", "Cl"] * 4
    cell, pos = random_cell(sym, 22.0, 1.8)
    yield "NaCl random triclinic (8 atoms), +-1", cell, pos, sym, [FORMAL[s] for s in sym]
    cell = lammps_cell([4.2, 4.6, 5.1, 80, 97, 110])
    pos = np.array([[0.1, 0.2, 0.3], [0.6, 0.55, 0.7], [0.35, 0.9, 0.05]]) @ cell
    yield "charged cell (+1 +1 -1), triclinic", cell, pos, ["Na", "Na", "Cl"], [1.0, 1.0, -1.0]
    sym = ["Sr"] * 8 + ["Ti"] * 8 + ["O"] * 24
    cell, pos = random_cell(sym, 3.905 ** 3 / 5, 1.0, contact=1.02)
    RANDOM40.extend([cell, pos, sym])
    yield "SrTiO3 random 40 atoms, 1 A contacts, Pedone charges", cell, pos, sym, pedone_charges(sym)


def ionic_cases():
    cell, pos, sym = perovskite_cell(3.905)
    yield "SrTiO3 cubic", cell, pos, sym
    cell, pos, sym = sheared_perovskite_supercell()
    yield "SrTiO3 2x2x2 triclinic, rattled", cell, pos, sym
    yield "SrTiO3 random 40 atoms, 1 A contacts", *RANDOM40
    sym = (["Ca"] + ["Al"] * 2 + ["Si"] * 2 + ["O"] * 8) * 2
    cell, pos = random_cell(sym, 12.5, 1.0, contact=1.0)
    yield "CaAl2Si2O8 random 26 atoms", cell, pos, sym
    sym = (["Li"] * 2 + ["Ba", "Zn"] + ["Fe"] * 2 + ["P"] * 2 + ["O"] * 11) * 2
    cell, pos = random_cell(sym, 13.0, 1.2)
    yield "Li2BaZnFe2P2O11 random 38 atoms (Fe3+)", cell, pos, sym


RANDOM40 = []


def main():
    lmp_version = subprocess.run(["lmp", "-h"], capture_output=True, text=True).stdout
    lmp_version = re.search(r"Large-scale Atomic/Molecular Massively Parallel Simulator - (.*)", lmp_version)
    out = {
        "generator": "scripts/make_ewald_reference.py",
        "versions": {"pymatgen": version("pymatgen"), "numpy": np.__version__,
                     "lammps": lmp_version.group(1).strip() if lmp_version else "unknown"},
        "notes": __doc__,
        "erfc": [[x, math.erfc(x)] for x in
                 [-3.0, -0.7, -1e-3, 0.0, 1e-9, 0.05, 0.3, 0.46875, 0.47, 0.8, 1.0, 1.7, 2.5, 3.3, 3.99, 4.0, 4.01, 4.7, 5.5, 7.0, 10.0, 15.0, 20.0, 26.0]],
        "ewald": [],
        "ionic": [],
    }
    for name, cell, pos, sym, q in ewald_cases():
        pos = wrap(cell, pos)
        style, pairs = coulomb_only(10.0)
        out["ewald"].append({
            "name": name, "cell": cell.tolist(), "positions": pos.tolist(), "symbols": sym, "charges": list(map(float, q)),
            "pymatgen": pymatgen_ewald(cell, pos, sym, q),
            "lammps": lammps(cell, pos, sym, q, style, pairs, "ewald 1e-10", 10.0),
        })
        print(name, out["ewald"][-1]["pymatgen"]["energy"], out["ewald"][-1]["lammps"]["energy"])
    for name, cell, pos, sym in ionic_cases():
        pos = wrap(cell, pos)
        q = pedone_charges(sym)
        style, pairs = pedone_styles(15.0)
        out["ionic"].append({
            "name": name, "cell": cell.tolist(), "positions": pos.tolist(), "symbols": sym, "charges": q,
            "cutoff": 15.0, "shift": True,
            "lammps": lammps(cell, pos, sym, q, style, pairs, "ewald 1e-10", 15.0),
        })
        print(name, out["ionic"][-1]["lammps"]["energy"])
    path = ROOT / "data" / "reference" / "ewald.json"
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
