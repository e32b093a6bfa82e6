#!/usr/bin/env python3
"""ASE's FIRE on the structure bench/fire.ts writes (JSON on argv): prints one JSON line
{"steps", "forceCalls", "energy", "fmax", "seconds"} (seconds: best of `repeats`).
Run with Debian's /usr/bin/python3 (python3-ase).
"""
import json
import sys
import time

import numpy as np
from ase import Atoms
from ase.calculators.emt import EMT
from ase.optimize import FIRE


class CountingEMT(EMT):
    calls = 0

    def calculate(self, atoms=None, properties=None, system_changes=None):
        if system_changes:
            CountingEMT.calls += 1
        super().calculate(atoms, properties or ["energy"], system_changes)


path, fmax, repeats = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
with open(path) as f:
    s = json.load(f)
best = float("inf")
for _ in range(repeats):
    atoms = Atoms(numbers=s["numbers"], positions=np.array(s["positions"]).reshape(-1, 3), cell=np.array(s["cell"]).reshape(3, 3), pbc=True)
    CountingEMT.calls = 0
    atoms.calc = CountingEMT()
    t = time.perf_counter()
    opt = FIRE(atoms, logfile=None)
    opt.run(fmax=fmax, steps=1000)
    best = min(best, time.perf_counter() - t)
f = atoms.get_forces()
print(json.dumps({"steps": opt.nsteps, "forceCalls": CountingEMT.calls, "energy": float(atoms.get_potential_energy()),
                  "fmax": float(np.sqrt((f ** 2).sum(1).max())), "seconds": best}))
