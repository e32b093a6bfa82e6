#!/usr/bin/env python3
"""Times ASE's neighbor_list on structures written by bench/neighbours.ts (JSON on argv).

Prints one JSON line per file: {"natoms", "pairs", "ms"} (best of `repeats`).
Run with Debian's /usr/bin/python3 (python3-ase).
"""
import json
import sys
import time

import numpy as np
from ase import Atoms
from ase.neighborlist import neighbor_list

cutoff = float(sys.argv[1])
repeats = int(sys.argv[2])
for path in sys.argv[3:]:
    with open(path) as f:
        s = json.load(f)
    atoms = Atoms(numbers=s["numbers"], positions=np.array(s["positions"]).reshape(-1, 3), cell=s["cell"], pbc=True)
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        i = neighbor_list("i", atoms, cutoff)
        best = min(best, time.perf_counter() - t)
    print(json.dumps({"natoms": len(atoms), "pairs": int(len(i)), "ms": best * 1e3}), flush=True)
