#!/usr/bin/env python3
"""Writes the structures shipped in data/structures/ with pymatgen (symmetrised CIFs, so reading
them exercises symmetry expansion). Run with Debian's /usr/bin/python3 (python3-pymatgen):
    /usr/bin/python3 scripts/make_structures.py
Lattice constants: SrTiO3 3.905 Å; rutile TiO2 a 4.594, c 2.959, x(O) 0.305; NaCl 5.640 Å;
MgAl2O4 8.080 Å, x(O) 0.387 (origin choice 1, pymatgen's setting; 0.262 in origin choice 2). Room-temperature experimental values.
"""
import warnings
from pathlib import Path

from pymatgen.core import Lattice, Structure
from pymatgen.io.cif import CifWriter

warnings.simplefilter("ignore")
out = Path(__file__).resolve().parent.parent / "data" / "structures"
out.mkdir(parents=True, exist_ok=True)

structures = {
    "SrTiO3": Structure.from_spacegroup("Pm-3m", Lattice.cubic(3.905), ["Sr", "Ti", "O"],
                                        [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0]]),
    "TiO2-rutile": Structure.from_spacegroup("P4_2/mnm", Lattice.tetragonal(4.594, 2.959), ["Ti", "O"],
                                             [[0, 0, 0], [0.305, 0.305, 0]]),
    "NaCl": Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]),
    "MgAl2O4": Structure.from_spacegroup("Fd-3m", Lattice.cubic(8.08), ["Mg", "Al", "O"],
                                         [[0, 0, 0], [0.625, 0.625, 0.625], [0.387, 0.387, 0.387]]),
}
for name, s in structures.items():
    CifWriter(s, symprec=0.01).write_file(out / f"{name}.cif")
    print(f"{name}: {len(s)} atoms, {s.composition.reduced_formula}, a={s.lattice.a:.4f}")
