#!/usr/bin/env python3
"""LAMMPS side of bench/ionic.ts: times the Pedone et al. (2006) rigid-ion model on given structures.

    /usr/bin/python3 bench/ionic_lammps.py INPUT.json     (needs `lmp`: Debian's lammps, Sep 2021)

INPUT.json: a list of {natoms, cell (rows; a along x, b in xy), positions, symbols, charges, pedone
({symbol: [D, a, r0, C]} for each symbol-O pair, "O" for O-O), cutoff, alpha, rcut, accuracy, steps}.
For each structure, LAMMPS Sep 2021 (no pair_style pedone) runs the model as
    pair_style hybrid/overlay coul/long RCUT morse CUT lj/cut CUT buck CUT     (see
    scripts/make_ewald_reference.py: lj/cut + buck with A = 0 make C/r^12 exactly)
    pair_modify shift yes
    kspace_style ewald ACCURACY ; kspace_modify gewald ALPHA
i.e. the same Ewald splitting and real-space cut-off as crystal-rl, with LAMMPS choosing its k-space
cut-off for the same nominal accuracy (its `accuracy` is relative to the force between two unit
charges 1 A apart), and its default tabulated erfc for coul/long. Each step is one force call:
`run STEPS` of NVE with a 1e-6 ps step (atoms move ~1e-4 A), timed by LAMMPS's "Loop time", twice:
neighbour list rebuilt every step (`neigh_modify every 1 delay 0 check no`, as a fresh force call)
and LAMMPS's usual Verlet-list reuse (`check yes`, skin 2 A). One process, one thread
(OMP_NUM_THREADS=1). Prints one JSON line per structure: ms per step both ways, and the energy and
forces of step 0.
"""
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

MASSES = {"Sr": 87.62, "Ti": 47.867, "O": 15.999}


def run(s, d, check):
    symbols = s["symbols"]
    types = sorted(set(symbols), key=symbols.index)
    tid = {t: k + 1 for k, t in enumerate(types)}
    cell = s["cell"]
    lines = ["crystal-rl bench", "", f"{len(symbols)} atoms", f"{len(types)} atom types",
             f"0 {cell[0][0]!r} xlo xhi", f"0 {cell[1][1]!r} ylo yhi", f"0 {cell[2][2]!r} zlo zhi",
             f"{cell[1][0]!r} {cell[2][0]!r} {cell[2][1]!r} xy xz yz", "", "Masses", ""]
    lines += [f"{tid[t]} {MASSES.get(t, 20.0)}" for t in types]
    lines += ["", "Atoms # charge", ""]
    lines += [f"{a + 1} {tid[t]} {q!r} {p[0]!r} {p[1]!r} {p[2]!r}"
              for a, (t, q, p) in enumerate(zip(symbols, s["charges"], s["positions"]))]
    (d / "data").write_text("\n".join(lines) + "\n")
    cut = s["cutoff"]
    coeffs = ["pair_coeff * * coul/long"]
    for t, k in tid.items():
        if "O" not in tid or t not in s["pedone"]:
            continue
        D, a, r0, C = s["pedone"][t]
        i, j = sorted((k, tid["O"]))
        coeffs += [f"pair_coeff {i} {j} morse {D} {a} {r0}", f"pair_coeff {i} {j} lj/cut {C / 4!r} 1.0",
                   f"pair_coeff {i} {j} buck 0.0 1.0 {-C!r}"]
    nl = "\n"
    inp = f"""units metal
atom_style charge
boundary p p p
box tilt large
read_data data
pair_style hybrid/overlay coul/long {s['rcut']!r} morse {cut} lj/cut {cut} buck {cut}
{nl.join(coeffs)}
pair_modify shift yes
kspace_style ewald {s['accuracy']!r}
kspace_modify gewald {s['alpha']!r}
neigh_modify every 1 delay 0 check {check}
thermo_style custom step pe
thermo_modify format float %.17g
dump f all custom 1000000 forces id fx fy fz
dump_modify f sort id format float %.17g
timestep 1e-6
fix 1 all nve
run {s['steps']}
"""
    (d / "in").write_text(inp)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    out = subprocess.run(["lmp", "-in", "in", "-log", "log", "-screen", "none"], cwd=d, capture_output=True, text=True, env=env)
    log = (d / "log").read_text()
    if out.returncode != 0:
        raise RuntimeError(f"lmp failed:\n{log[-3000:]}\n{out.stderr}")
    loop = float(re.search(r"Loop time of ([0-9.eE+-]+) on", log).group(1))
    energy = float(re.search(r"^\s*Step\s+PotEng\s*\n\s*0\s+(\S+)", log, re.M).group(1))
    kvec = re.search(r"KSpace vectors: actual max1d max3d = (\d+)", log)
    rows = (d / "forces").read_text().splitlines()
    start = rows.index("ITEM: ATOMS id fx fy fz") + 1
    forces = [[float(x) for x in r.split()[1:]] for r in rows[start:start + len(symbols)]]
    return 1000 * loop / s["steps"], energy, forces, int(kvec.group(1)) if kvec else None


def main():
    structures = json.loads(Path(sys.argv[1]).read_text())
    for s in structures:
        with tempfile.TemporaryDirectory() as d:
            d = Path(d)
            ms_rebuild, energy, forces, kvec = run(s, d, "no")
            ms_reuse, _, _, _ = run(s, d, "yes")
        print(json.dumps({"natoms": s["natoms"], "ms_rebuild": ms_rebuild, "ms_reuse": ms_reuse,
                          "energy": energy, "forces": forces, "kvectors": kvec}), flush=True)


if __name__ == "__main__":
    main()
