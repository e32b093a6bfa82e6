#!/usr/bin/env python3
"""Reference values for the structure parity tests, from pymatgen and ASE.

Run with Debian's /usr/bin/python3 (python3-ase, python3-pymatgen):
    /usr/bin/python3 scripts/make_reference.py
Writes data/reference/structures.json: for each structure its cell, positions and numbers, and what
pymatgen says of it (lattice parameters, volume, density, formulas, reciprocal lattice, fractional
coordinates) and what ASE's neighbor_list says (pair count and distances within a cut-off, and the 12
nearest periodic images of each atom). test/structure/parity.test.ts compares crystal-rl to these.
"""
import json
import warnings
from importlib.metadata import version
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.build import bulk
from ase.geometry import cellpar_to_cell
from ase.neighborlist import neighbor_list
from pymatgen.core import Lattice, Structure
from pymatgen.io.ase import AseAtomsAdaptor
from pymatgen.util.string import formula_double_format

warnings.simplefilter("ignore")
rng = np.random.default_rng(20261122)


def random_atoms(cellpar_or_cell, symbols):
    cell = np.array(cellpar_or_cell, float)
    if cell.shape == (6,):
        cell = cellpar_to_cell(cell)
    frac = rng.random((len(symbols), 3))
    return Atoms(symbols, scaled_positions=frac, cell=cell, pbc=True)


def structures():
    yield "Cu fcc primitive (1 atom)", bulk("Cu", "fcc", a=3.61), 6.0
    yield "Si diamond primitive", bulk("Si", "diamond", a=5.43), 5.0
    yield "triclinic 7 atoms", random_atoms([4.1, 5.3, 6.2, 63, 78, 101], ["Sr", "Ti", "O", "O", "O", "Y", "O"]), 6.0
    yield "rhombohedral 25 degrees", random_atoms([3.0, 3.0, 3.0, 25, 25, 25], ["Al", "O"]), 5.0
    yield "sheared, unreduced cell", random_atoms([[5, 0, 0], [4.9, 1.0, 0], [0.3, 0.2, 4.0]], ["Mg", "O", "O", "Mg"]), 5.0
    yield "small angle 1 atom", random_atoms([2.5, 2.7, 6.0, 87, 92, 15], ["Li"]), 7.0
    yield "Ca3(PO4)2 random triclinic", random_atoms([9.1, 9.4, 8.7, 85, 97, 104], ["Ca"] * 3 + ["P"] * 2 + ["O"] * 8), 4.0
    perov = Structure(Lattice.cubic(3.905), ["Sr", "Ti", "O", "O", "O"],
                      [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    perov.make_supercell([2, 2, 2])
    atoms = AseAtomsAdaptor.get_atoms(perov)
    atoms.rattle(0.05, seed=3)
    yield "SrTiO3 2x2x2 rattled (40 atoms)", atoms, 4.0
    rutile = Structure.from_spacegroup("P4_2/mnm", Lattice.tetragonal(4.594, 2.959), ["Ti", "O"], [[0, 0, 0], [0.305, 0.305, 0]])
    yield "rutile TiO2 (from_spacegroup)", AseAtomsAdaptor.get_atoms(rutile), 4.0
    nacl = bulk("NaCl", "rocksalt", a=5.64, cubic=True).repeat((4, 4, 4))
    nacl.rattle(0.1, seed=5)
    nacl.set_cell(nacl.cell.array @ np.array([[1, 0, 0], [0.1, 1, 0], [0.05, -0.08, 1]]), scale_atoms=True)
    yield "NaCl 4x4x4 sheared and rattled (512 atoms)", nacl, 4.5


def reference(name, atoms, cutoff):
    s = AseAtomsAdaptor.get_structure(atoms)
    comp = s.composition
    # pymatgen's formula ("Sr8 Ti8 O24", "Sr1 Ti1 O3") written as crystal-rl does: no spaces, no 1s.
    amounts = comp.get_el_amt_dict()
    formula = "".join(el + formula_double_format(amounts[el]) for el in (t.rstrip("0123456789.") for t in comp.formula.split()))
    i, j, d = neighbor_list("ijd", atoms, cutoff)
    order = np.lexsort((d, i))
    knn_cut = cutoff
    while True:
        ki, kd = neighbor_list("id", atoms, knn_cut)
        counts = np.bincount(ki, minlength=len(atoms))
        if counts.min() >= 12:
            break
        knn_cut *= 1.5
    knn = [sorted(kd[ki == a])[:12] for a in range(min(len(atoms), 40))]
    lat = s.lattice
    return {
        "name": name,
        "cell": atoms.cell.array.tolist(),
        "positions": atoms.positions.tolist(),
        "numbers": atoms.numbers.tolist(),
        "pymatgen": {
            "abc": list(lat.abc),
            "angles": list(lat.angles),
            "volume": lat.volume,
            "density": float(s.density),
            "natoms": len(s),
            "formula": formula,
            "reducedFormula": comp.reduced_formula,
            "reciprocal": lat.reciprocal_lattice.matrix.tolist(),
            "fractional": s.frac_coords.tolist(),
            "mass": float(comp.weight),
        },
        "ase": {
            "cutoff": cutoff,
            "pairs": int(len(d)),
            "distanceSum": float(d.sum()),
            "distances": d[order].tolist() if len(d) <= 4000 else None,
            "pairsPerAtom": np.bincount(i, minlength=len(atoms)).tolist(),
            "knn12": [list(map(float, row)) for row in knn],
        },
    }


out = {
    "generator": "scripts/make_reference.py",
    "versions": {"ase": version("ase"), "pymatgen": version("pymatgen"), "numpy": np.__version__},
    "structures": [reference(*args) for args in structures()],
}
path = Path(__file__).resolve().parent.parent / "data" / "reference" / "structures.json"
path.write_text(json.dumps(out, indent=1) + "\n")
print(f"wrote {len(out['structures'])} structures to {path}")
