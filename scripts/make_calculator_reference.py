#!/usr/bin/env python3
"""Reference values for the calculator parity tests, from ASE's EMT, LennardJones and MorsePotential.

Run with Debian's /usr/bin/python3 (python3-ase 3.22.1):
    /usr/bin/python3 scripts/make_calculator_reference.py
Writes data/reference/calculators.json: for each case the calculator and its parameters, the
structure (cell, positions, numbers) and what ASE computes for it: energy, per-atom energies,
forces and stress (Voigt xx yy zz yz xz xy, eV/Å³). test/calculators/{emt,pair}.test.ts compare
crystal-rl to these. Everything random is seeded.

MorsePotential in ASE 3.22.1 implements energy and forces only: its stress here is central
differences of ASE's energy on a symmetric strain (step 1e-6), as ASE's calculate_numerical_stress
does it (which itself refuses MorsePotential, asking for a free energy), and it has no per-atom
energies. The JSON records which stresses are numerical.
"""
import json
import platform
import warnings
from importlib.metadata import version
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.calculators.lj import LennardJones
from ase.calculators.morse import MorsePotential

warnings.simplefilter("ignore")
rng = np.random.default_rng(20261123)


def strained(atoms, strain):
    """The cell (and atoms with it) times (I + strain): a triclinic distortion."""
    atoms = atoms.copy()
    atoms.set_cell(atoms.cell.array @ (np.eye(3) + np.array(strain)), scale_atoms=True)
    return atoms


def random_alloy(a, repeat, symbols, rattle, seed):
    """Conventional fcc cell of side `a`, repeated, sites filled at random from `symbols`."""
    atoms = bulk("Cu", "fcc", a=a, cubic=True).repeat(repeat)
    atoms.set_chemical_symbols(list(rng.choice(symbols, size=len(atoms))))
    atoms.rattle(rattle, seed=seed)
    return atoms


def emt_structures():
    cu = bulk("Cu", "fcc", a=3.61, cubic=True).repeat((3, 3, 3))
    cu.rattle(0.1, seed=1)
    yield "Cu fcc 3x3x3 rattled 0.1 (108 atoms)", cu
    yield "CuAu random alloy 3x3x3 (108 atoms)", random_alloy(3.85, (3, 3, 3), ["Cu", "Au"], 0.08, 2)
    yield "AgPd random alloy 2x2x3, sheared (48 atoms)", strained(
        random_alloy(4.0, (2, 2, 3), ["Ag", "Pd"], 0.08, 3), [[0, 0.04, 0], [0.03, 0, -0.02], [0, 0.05, 0.01]])
    yield "NiPt random alloy 3x3x3, 25% Pt (108 atoms)", random_alloy(3.70, (3, 3, 3), ["Ni", "Ni", "Ni", "Pt"], 0.1, 4)
    al = strained(bulk("Al", "fcc", a=4.05).repeat((2, 2, 2)), [[0.03, -0.02, 0.05], [0.01, -0.04, 0.02], [-0.03, 0.06, 0.02]])
    al.rattle(0.1, seed=5)
    yield "Al fcc primitive 2x2x2, triclinic strain (8 atoms)", al
    yield "Al fcc primitive, triclinic strain (1 atom)", strained(
        bulk("Al", "fcc", a=4.05), [[0.02, 0.05, -0.03], [0.0, -0.03, 0.04], [0.06, 0.01, 0.01]])
    seven = random_alloy(3.9, (2, 2, 2), ["Al", "Cu", "Ag", "Au", "Ni", "Pd", "Pt"], 0.12, 6)
    yield "Al-Cu-Ag-Au-Ni-Pd-Pt random 2x2x2, triclinic strain (32 atoms)", strained(
        seven, [[0.02, 0.03, -0.01], [-0.02, 0.01, 0.04], [0.05, -0.03, 0.0]])
    # Cu matrix with H, C, N, O on four Cu sites (ASE's "just for fun" parameters; at octahedral
    # interstitial sites they give O hundreds of eV, so substitution keeps the numbers sane).
    cuo = bulk("Cu", "fcc", a=3.61, cubic=True).repeat((3, 3, 3))
    for site, sym in zip([5, 40, 77, 100], "HCNO"):
        cuo[site].symbol = sym
    cuo.rattle(0.05, seed=7)
    yield "Cu 3x3x3 with H, C, N, O on Cu sites (108 atoms)", cuo


def lj_structures():
    ar = bulk("Ar", "fcc", a=5.26, cubic=True).repeat((3, 3, 3))
    ar.rattle(0.15, seed=11)
    yield "Ar fcc 3x3x3 rattled 0.15 (108 atoms)", ar
    ar2 = strained(bulk("Ar", "fcc", a=5.26, cubic=True).repeat((2, 2, 2)), [[0, 0, 0], [0.35, 0, 0], [0.1, -0.2, 0]])
    ar2.rattle(0.15, seed=12)
    yield "Ar fcc 2x2x2, sheared (32 atoms, heights below rc)", ar2


def morse_structures():
    cu = bulk("Cu", "fcc", a=3.61, cubic=True).repeat((3, 3, 3))
    cu.rattle(0.1, seed=21)
    yield "Cu-like fcc 3x3x3 rattled 0.1 (108 atoms)", cu
    cu2 = strained(bulk("Cu", "fcc", a=3.61).repeat((3, 3, 3)), [[0.04, -0.03, 0.02], [0.0, -0.02, 0.05], [0.03, 0.02, 0.01]])
    cu2.rattle(0.1, seed=22)
    yield "Cu-like fcc primitive 3x3x3, triclinic strain (27 atoms)", cu2


LJ = {"sigma": 3.4, "epsilon": 0.0104, "rc": 10.2}
MORSE = {"epsilon": 0.34, "rho0": 4.0, "r0": 2.55}


def finite_difference_stress(atoms, d=1e-6):
    """σ = (1/V) dE/dε by central differences on a symmetric strain, atoms moving with the cell
    (ase.calculators.calculator.Calculator.calculate_numerical_stress, with the plain energy)."""
    cell = atoms.cell.array.copy()
    volume = atoms.get_volume()
    stress = np.zeros((3, 3))

    def energy(x):
        atoms.set_cell(cell @ x, scale_atoms=True)
        return atoms.get_potential_energy()

    for i in range(3):
        x = np.eye(3)
        x[i, i] += d
        eplus = energy(x)
        x[i, i] -= 2 * d
        eminus = energy(x)
        stress[i, i] = (eplus - eminus) / (2 * d * volume)
        j = i - 2
        x = np.eye(3)
        x[i, j] = x[j, i] = d
        eplus = energy(x)
        x[i, j] = x[j, i] = -d
        eminus = energy(x)
        stress[i, j] = stress[j, i] = (eplus - eminus) / (4 * d * volume)
    atoms.set_cell(cell, scale_atoms=True)
    return stress.flat[[0, 4, 8, 5, 2, 1]]


def case(calculator, parameters, name, atoms, calc, numerical_stress=False, energies=True):
    atoms = atoms.copy()
    atoms.pbc = True
    atoms.calc = calc
    energy = atoms.get_potential_energy()
    forces = atoms.get_forces()
    if numerical_stress:
        stress = finite_difference_stress(atoms)
    else:
        stress = atoms.get_stress(voigt=True)
    return {
        "calculator": calculator,
        "parameters": parameters,
        "name": name,
        "cell": atoms.cell.array.tolist(),
        "positions": atoms.positions.tolist(),
        "numbers": atoms.numbers.tolist(),
        "energy": float(energy),
        "energies": atoms.get_potential_energies().tolist() if energies else None,
        "forces": forces.tolist(),
        "stress": stress.tolist(),
        "stressMethod": "numerical (central differences of the energy, strain step 1e-6)" if numerical_stress else "analytic",
    }


def cases():
    for name, atoms in emt_structures():
        yield case("emt", {}, name, atoms, EMT())
        if name.startswith(("CuAu", "Al fcc primitive 2x2x2")):
            # Asap's cut-off: from the elements present, 4.5 % beyond rc.
            yield case("emt", {"asapCutoff": True}, name + ", asap_cutoff=True", atoms, EMT(asap_cutoff=True))
    for name, atoms in lj_structures():
        yield case("lj", dict(LJ), name, atoms, LennardJones(**LJ))
        # ASE's default onset of the smooth cut-off is ro = 0.66 rc (recorded, so the test can pass it).
        yield case("lj", dict(LJ, smooth=True, ro=0.66 * LJ["rc"]), name + ", smooth", atoms,
                   LennardJones(**LJ, smooth=True))
    for name, atoms in morse_structures():
        yield case("morse", dict(MORSE), name, atoms, MorsePotential(**MORSE), numerical_stress=True, energies=False)


out = {
    "generator": "scripts/make_calculator_reference.py",
    "versions": {"ase": version("ase"), "numpy": np.__version__, "python": platform.python_version()},
    "cases": list(cases()),
}
path = Path(__file__).resolve().parent.parent / "data" / "reference" / "calculators.json"
path.write_text(json.dumps(out, indent=1) + "\n")
print(f"wrote {len(out['cases'])} cases to {path}")
