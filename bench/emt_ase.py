#!/usr/bin/env python3
"""Times ASE's EMT (energy + forces) on structures written by bench/emt.ts (JSON files on argv).

Usage: emt_ase.py RUNS FILE...   with RUNS a comma-separated count of timed runs per file.
Prints one JSON line per file: {"natoms", "energy", "ms"} (best of its runs, after one warm-up).
Each run is a full calculation, neighbour list included, as EMT does it for new atoms.
Run with Debian's /usr/bin/python3 (python3-ase).
"""
import json
import sys
import time

import numpy as np
from ase import Atoms
from ase.calculators.calculator import all_changes
from ase.calculators.emt import EMT

runs = [int(x) for x in sys.argv[1].split(",")]
for k, path in enumerate(sys.argv[2:]):
    with open(path) as f:
        s = json.load(f)
    atoms = Atoms(numbers=s["numbers"], positions=np.array(s["positions"]).reshape(-1, 3), cell=s["cell"], pbc=True)
    calc = EMT()
    calc.calculate(atoms, ["energy", "forces"], all_changes)  # warm-up
    best = float("inf")
    for _ in range(runs[min(k, len(runs) - 1)]):
        t = time.perf_counter()
        calc.calculate(atoms, ["energy", "forces"], all_changes)
        best = min(best, time.perf_counter() - t)
    print(json.dumps({"natoms": len(atoms), "energy": float(calc.results["energy"]), "ms": best * 1e3}), flush=True)
