#!/usr/bin/env python3
"""Reads structure files with ASE and pymatgen and prints what they see, as JSON lines.

    /usr/bin/python3 scripts/oracle_read.py FILE...
One line per file: {"file", "ase": {"cell", "positions", "numbers"}, "pymatgen": {...} | null}.
pymatgen reads CIF and POSCAR; ASE reads all three formats. Used by test/io/interop.test.ts to show
that files crystal-rl writes are read the same way by the tools its users hand them to.
"""
import json
import sys
import warnings

import ase.io
from pymatgen.core import Structure

warnings.simplefilter("ignore")

for path in sys.argv[1:]:
    fmt = "extxyz" if path.endswith((".xyz", ".extxyz")) else None
    atoms = ase.io.read(path, format=fmt) if fmt else ase.io.read(path)
    seen = {"file": path, "ase": {"cell": atoms.cell.array.tolist(), "positions": atoms.positions.tolist(), "numbers": atoms.numbers.tolist()}}
    seen["pymatgen"] = None
    if fmt is None:
        s = Structure.from_file(path)
        seen["pymatgen"] = {"cell": s.lattice.matrix.tolist(), "positions": s.cart_coords.tolist(), "numbers": [site.specie.Z for site in s]}
    print(json.dumps(seen), flush=True)
