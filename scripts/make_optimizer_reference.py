#!/usr/bin/env python3
"""Reference relaxations for the optimiser parity tests, from ASE 3.22 (and SciPy for CG).

Run with Debian's /usr/bin/python3 (python3-ase, python3-scipy):
    /usr/bin/python3 scripts/make_optimizer_reference.py
Writes data/reference/optimizers.json. For each starting structure (rattled, seeded, stored in full
precision so crystal-rl starts from the very same numbers) and each optimiser it records what ASE
reports: converged, nsteps, the calculator's force calls, the final energy and fmax, and the
energy/fmax log of every step. test/optimizers/parity.test.ts replays each run with crystal-rl.

Force calls: `forceCalls` counts ASE's calculations at configurations more than 1e-10 Å from the
previous one; `aseForceCalls` counts every calculation ASE made at a changed configuration. They
differ under FrechetCellFilter: its get_positions -> set_positions round trip (logm, then expm)
moves atoms by ~1e-15 Å, past the calculator's 1e-15 cache tolerance, so ASE recomputes the same
configuration at the start of every BFGSLineSearch step and of SciPyFminCG. crystal-rl keeps the
generalised coordinates themselves and does not make those calls. A second call at the same
positions only to add a property the first skipped (ASE's EMT computes the stress only when asked)
counts in neither.

Chaos: each run is repeated from starts perturbed by +-1e-13 Å (one coordinate of atom 0);
`perturbed` records ASE's own spread of steps and energy. Where it is not a single value, round-off
decides the path (MDMin's velocity resets, long oscillating runs), and a port can only be expected
to land inside that spread.

Two optimisers are not in ASE 3.22 and are written out below from newer ASE's source:
- MDMin with `maxstep` (ASE >= 3.23 caps the largest per-atom step; 3.22's MDMin has no cap).
- FrechetCellFilter (ase.filters, ASE >= 3.23), on top of 3.22's UnitCellFilter.
ExpCellFilter and UnitCellFilter (3.22) are run too, at fmax 1e-4 (`tight`): they reach the same
relaxed energy by other paths.

`lineSearches`: SciPy's line_search_wolfe1/wolfe2 and ASE's LineSearch alone, from seeded points of
the 6-D extended Rosenbrock function (test/optimizers/line-search.test.ts), so that their branches
(bracketing, zoom, ASE's warnings) are compared even where the relaxations never take them.

Takes about six minutes (ASE's EMT is pure Python).
"""
import json
import sys
import warnings
from itertools import product
from pathlib import Path

import ase
import numpy as np
import scipy
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.calculators.lj import LennardJones
from ase.constraints import ExpCellFilter, UnitCellFilter, voigt_6_to_full_3x3_stress, full_3x3_to_voigt_6_stress
from ase.optimize import BFGS, FIRE, LBFGS, BFGSLineSearch, MDMin
from ase.optimize.sciopt import SciPyFminCG
from scipy.linalg import expm, expm_frechet, logm

warnings.simplefilter("ignore")
OUT = Path(__file__).resolve().parent.parent / "data" / "reference" / "optimizers.json"
MAX_STEPS = 1000
TIGHT_FMAX = 1e-4


# ------------------------------------------------------------------------------------------------
# Calculators that count their force calls

def counting(cls):
    """cls with class-level counts: `calls`, ASE's calculations at a changed configuration, and
    `configurations`, those more than 1e-10 Å from the previous one (see the module docstring)."""
    class Counting(cls):
        calls = 0
        configurations = 0
        last = None

        def calculate(self, atoms=None, properties=None, system_changes=None):
            if properties is None:
                super().calculate(atoms, system_changes=system_changes)
            else:
                super().calculate(atoms, properties, system_changes)
            if system_changes:
                k = type(self)
                k.calls += 1
                key = np.concatenate([self.atoms.positions.ravel(), self.atoms.cell.array.ravel()])
                if k.last is None or np.abs(key - k.last).max() > 1e-10:
                    k.configurations += 1
                k.last = key

    Counting.__name__ = cls.__name__
    return Counting


CALCULATORS = {
    "lj": lambda o: counting(LennardJones)(**o),
    "emt": lambda o: counting(EMT)(**o),
}


# ------------------------------------------------------------------------------------------------
# From newer ASE (not in 3.22): MDMin's step cap, FrechetCellFilter

class MDMinCapped(MDMin):
    """ASE >= 3.23's MDMin: each step scaled so that no row moves more than maxstep."""

    def __init__(self, atoms, maxstep=0.2, **kw):
        MDMin.__init__(self, atoms, **kw)
        self.maxstep = maxstep

    def step(self, f=None):
        atoms = self.atoms
        if f is None:
            f = atoms.get_forces()
        if self.v is None:
            self.v = np.zeros((len(atoms), 3))
        else:
            self.v += 0.5 * self.dt * f
            vf = np.vdot(self.v, f)
            if vf < 0.0:
                self.v[:] = 0.0
            else:
                self.v[:] = f * vf / np.vdot(f, f)
        self.v += 0.5 * self.dt * f
        r = atoms.get_positions()
        dr = self.dt * self.v
        scaling = self.maxstep / (1e-6 + np.max(np.linalg.norm(dr, axis=1)))
        dr *= np.clip(scaling, 0.0, 1.0)
        atoms.set_positions(r + dr)


class FrechetCellFilter(UnitCellFilter):
    """ase.filters.FrechetCellFilter of ASE >= 3.23, on 3.22's UnitCellFilter."""

    def __init__(self, atoms, exp_cell_factor=None):
        UnitCellFilter.__init__(self, atoms)
        self.exp_cell_factor = float(len(atoms)) if exp_cell_factor is None else exp_cell_factor

    def get_positions(self):
        pos = UnitCellFilter.get_positions(self)
        natoms = len(self.atoms)
        pos[natoms:] = logm(pos[natoms:]) * self.exp_cell_factor
        return pos

    def set_positions(self, new, **kwargs):
        natoms = len(self.atoms)
        new2 = new.copy()
        new2[natoms:] = expm(new[natoms:] / self.exp_cell_factor)
        UnitCellFilter.set_positions(self, new2, **kwargs)

    def get_forces(self, **kwargs):
        stress = self.atoms.get_stress(**kwargs)
        volume = self.atoms.get_volume()
        virial = -volume * (voigt_6_to_full_3x3_stress(stress) + np.diag([self.scalar_pressure] * 3))
        cur_deform_grad = self.deform_grad()
        cur_deform_grad_log = logm(cur_deform_grad)
        ucf_cell_grad = virial @ np.linalg.inv(cur_deform_grad.T)
        deform_grad_log_force = np.zeros((3, 3))
        for mu, nu in product(range(3), repeat=2):
            direction = np.zeros((3, 3))
            direction[mu, nu] = 1.0
            expm_der = expm_frechet(cur_deform_grad_log, direction, compute_expm=False)
            deform_grad_log_force[mu, nu] = np.sum(expm_der * ucf_cell_grad)
        convergence_crit_stress = -(virial / volume)
        atoms_forces = self.atoms.get_forces(**kwargs) @ cur_deform_grad
        natoms = len(self.atoms)
        forces = np.zeros((natoms + 3, 3))
        forces[:natoms] = atoms_forces
        forces[natoms:] = deform_grad_log_force / self.exp_cell_factor
        self.stress = full_3x3_to_voigt_6_stress(convergence_crit_stress)
        return forces


# ------------------------------------------------------------------------------------------------
# Runs

class Log:
    """An observer recording energy and fmax of every logged step."""

    def __init__(self, opt):
        self.opt = opt
        self.energies = []
        self.fmax = []

    def __call__(self):
        f = self.opt.atoms.get_forces()
        self.energies.append(float(self.opt.atoms.get_potential_energy()))
        self.fmax.append(float(np.sqrt((f ** 2).sum(axis=1).max())))


def relax(cls, target, fmax, steps, **kw):
    """One ASE optimiser run; returns (converged, nsteps, log)."""
    opt = cls(target, logfile=None, **kw)
    log = Log(opt)
    opt.attach(log)
    if isinstance(opt, SciPyFminCG):
        opt.run(fmax=fmax, steps=steps)
        f = target.get_forces()
        converged = bool((f ** 2).sum(axis=1).max() < fmax ** 2)
    else:
        converged = bool(opt.run(fmax=fmax, steps=steps))
    return converged, opt.nsteps, log


def fire_then_bfgsls(target, fmax, steps, fire_steps=250):
    """FIRE for up to fire_steps steps, then BFGSLineSearch for the rest (the MACS paper's FIRE+BFGSLS)."""
    converged, n1, log1 = relax(FIRE, target, fmax, fire_steps)
    if converged:
        return converged, n1, log1
    converged, n2, log2 = relax(BFGSLineSearch, target, fmax, steps - fire_steps)
    # The second optimiser logs its step 0 again at the same point: keep one.
    log1.energies += log2.energies[1:]
    log1.fmax += log2.fmax[1:]
    return converged, n1 + n2, log1


# key -> (crystal-rl registry name, crystal-rl options, the ASE run)
OPTIMIZERS = {
    "fire": ("fire", {}, lambda t, fmax, steps: relax(FIRE, t, fmax, steps)),
    "bfgs": ("bfgs", {}, lambda t, fmax, steps: relax(BFGS, t, fmax, steps)),
    "lbfgs": ("lbfgs", {}, lambda t, fmax, steps: relax(LBFGS, t, fmax, steps)),
    "bfgsls": ("bfgsls", {}, lambda t, fmax, steps: relax(BFGSLineSearch, t, fmax, steps)),
    "cg": ("cg", {}, lambda t, fmax, steps: relax(SciPyFminCG, t, fmax, steps)),
    "mdmin": ("mdmin", {}, lambda t, fmax, steps: relax(MDMinCapped, t, fmax, steps)),
    # ASE 3.22's MDMin has no step cap: crystal-rl's with an unreachable maxstep.
    "mdmin-ase322": ("mdmin", {"maxstep": 1e300}, lambda t, fmax, steps: relax(MDMin, t, fmax, steps)),
    # A time step at which the cap (ASE >= 3.23) acts.
    "mdmin-dt0.5": ("mdmin", {"dt": 0.5}, lambda t, fmax, steps: relax(MDMinCapped, t, fmax, steps, dt=0.5)),
    "fire+bfgsls": ("fire+bfgsls", {}, fire_then_bfgsls),
    # The switch itself, early.
    "fire10+bfgsls": ("fire+bfgsls", {"fireSteps": 10}, lambda t, fmax, steps: fire_then_bfgsls(t, fmax, steps, 10)),
}

FILTERS = {
    "frechet": FrechetCellFilter,
    "exp": ExpCellFilter,
    "unit": UnitCellFilter,
}


def structure(atoms):
    return {
        "cell": atoms.cell.array.reshape(-1).tolist(),
        "positions": atoms.positions.reshape(-1).tolist(),
        "numbers": atoms.numbers.tolist(),
    }


def ase_run(case, name, filter_name, shift=0.0):
    """One ASE run of optimiser `name` on the case's start (atom 0's x moved by `shift`)."""
    atoms = case["atoms"].copy()
    atoms.positions[0, 0] += shift
    calc = CALCULATORS[case["calculator"]](case["options"])
    k = type(calc)
    k.calls = k.configurations = 0
    k.last = None
    atoms.calc = calc
    target = FILTERS[filter_name](atoms) if filter_name else atoms
    try:
        converged, nsteps, log = OPTIMIZERS[name][2](target, case["fmax"], MAX_STEPS)
        error = None
    except Exception as e:  # a failed line search: recorded, as the paper counts failures
        converged, nsteps, log, error = False, None, None, f"{type(e).__name__}: {e}"
    f = target.get_forces()
    run = {
        "optimizer": OPTIMIZERS[name][0],
        "options": OPTIMIZERS[name][1],
        "converged": converged,
        "steps": nsteps,
        "forceCalls": k.configurations,
        "aseForceCalls": k.calls,
        "energy": float(target.get_potential_energy()),
        "fmax": float(np.sqrt((f ** 2).sum(axis=1).max())),
    }
    if filter_name:
        run["cell"] = atoms.cell.array.reshape(-1).tolist()
        run["stress"] = atoms.get_stress().tolist()
    if error:
        run["error"] = error
    if log:
        run["log"] = {"energy": log.energies, "fmax": log.fmax}
    return run


def run_case(case, optimizers, filter_name=None, perturb=True):
    out = {k: v for k, v in case.items() if k != "atoms"}
    out["start"] = structure(case["atoms"])
    if filter_name:
        out["filter"] = filter_name
    out["runs"] = {}
    for name in optimizers:
        run = ase_run(case, name, filter_name)
        if perturb:
            others = [ase_run(case, name, filter_name, shift) for shift in (1e-13, -1e-13)]
            steps = [r["steps"] for r in others + [run] if r["steps"] is not None]
            energies = [r["energy"] for r in others + [run]]
            run["perturbed"] = {"steps": [min(steps), max(steps)] if steps else None,
                                "energy": [min(energies), max(energies)]}
        out["runs"][name] = run
        spread = run.get("perturbed", {}).get("steps")
        print(f"{case['name']:<24} {filter_name or '':<8} {name:<13} converged={run['converged']!s:<5} "
              f"steps={run['steps']} {spread} calls={run['forceCalls']}/{run['aseForceCalls']} "
              f"E={run['energy']:.8f} fmax={run['fmax']:.4f}", file=sys.stderr)
    return out


# ------------------------------------------------------------------------------------------------
# Line searches alone, on an analytic function, so that every branch meets its source

def rosenbrock(x):
    """Extended Rosenbrock: sum over pairs of (1 - a)^2 + 100 (b - a^2)^2, and its gradient."""
    x = np.asarray(x, float)
    a, b = x[0::2], x[1::2]
    g = np.zeros_like(x)
    g[0::2] = -2 * (1 - a) - 400 * a * (b - a * a)
    g[1::2] = 200 * (b - a * a)
    return float(((1 - a) ** 2 + 100 * (b - a * a) ** 2).sum()), g


def line_searches():
    """SciPy's wolfe1/wolfe2 and ASE's LineSearch from seeded points of the 6-D Rosenbrock function,
    along the steepest descent scaled by 1e-4 ... 10 (short, right and long first trials)."""
    from scipy.optimize._linesearch import line_search_wolfe1, line_search_wolfe2
    from ase.utils.linesearch import LineSearch

    rng = np.random.default_rng(31)
    out = []
    for _ in range(12):
        x0 = rng.normal(0, 1.2, 6)
        f0, g0 = rosenbrock(x0)
        for scale in (1e-4, 1e-2, 1.0, 10.0):
            pk = -g0 * scale
            calls = {"f": 0, "g": 0}

            def f(x):
                calls["f"] += 1
                return rosenbrock(x)[0]

            def fprime(x):
                calls["g"] += 1
                return rosenbrock(x)[1]

            entry = {"x0": x0.tolist(), "pk": pk.tolist()}
            # old_old as fmin_cg's first step has it (a first trial near |dx| = 1), or none (trial 1).
            for suffix, old_old in (("", f0 + np.linalg.norm(g0) / 2), ("-unit", None)):
                for key, search, kw in (
                    ("wolfe1", line_search_wolfe1, {"c2": 0.4, "amin": 1e-100, "amax": 1e100}),
                    ("wolfe2", line_search_wolfe2, {"c2": 0.4, "amax": 1e100}),
                    ("wolfe2-default", line_search_wolfe2, {}),
                ):
                    calls["f"] = calls["g"] = 0
                    r = search(f, fprime, x0, pk, g0, f0, old_old, **kw)
                    entry[key + suffix] = {"alpha": r[0], "fval": None if r[3] is None else float(r[3]),
                                           "calls": [calls["f"], calls["g"]]}
            for suffix, maxstep in (("", 0.2), ("-long", 5.0)):
                calls["f"] = calls["g"] = 0
                ls = LineSearch()
                stp, fval, _, no_update = ls._line_search(f, fprime, x0, pk, g0, f0, None,
                                                          maxstep=maxstep, c1=0.23, c2=0.46, stpmax=50.0)
                entry["ase" + suffix] = {"maxstep": maxstep, "stp": None if stp is None else float(stp),
                                         "fval": float(fval), "noUpdate": bool(no_update), "task": ls.task,
                                         "calls": [calls["f"], calls["g"]]}
            out.append(entry)
    return out


# ------------------------------------------------------------------------------------------------
# Starting structures

AR = {"epsilon": 0.0104, "sigma": 3.4}  # argon, eV and Å; rc = 3 sigma (ASE's default)


def ar_cluster():
    """A 43-atom fcc argon cluster (centre + 3 shells) in a 32 Å box, rattled 0.2 Å."""
    a = 5.26
    fcc = bulk("Ar", "fcc", a=a, cubic=True).repeat(4)
    centre = fcc.positions[np.argmin(((fcc.positions - 2 * a) ** 2).sum(1))]
    d = np.linalg.norm(fcc.positions - centre, axis=1)
    atoms = fcc[d < a * 1.05]
    atoms.positions += 16.0 - centre
    atoms.set_cell([32.0, 32.0, 32.0])
    atoms.pbc = True
    atoms.rattle(0.2, seed=11)
    return atoms


def ar_fcc():
    atoms = bulk("Ar", "fcc", a=5.26, cubic=True).repeat(3)
    atoms.rattle(0.2, seed=12)
    return atoms


def cu_fcc():
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat(3)
    atoms.rattle(0.1, seed=13)
    return atoms


def cuau_fcc():
    """A random 50/50 CuAu fcc alloy, 108 atoms, a = 3.85 Å (Vegard), rattled 0.1 Å."""
    atoms = bulk("Cu", "fcc", a=3.85, cubic=True).repeat(3)
    rng = np.random.default_rng(14)
    numbers = np.array([29] * 54 + [79] * 54)
    rng.shuffle(numbers)
    atoms.numbers = numbers
    atoms.rattle(0.1, seed=14)
    return atoms


STRAIN = np.array([[1.04, 0.02, 0.0], [0.0, 0.97, 0.015], [0.01, 0.0, 1.03]])


def strained(atoms, seed):
    atoms = atoms.copy()
    atoms.set_cell(atoms.cell.array @ STRAIN, scale_atoms=True)
    atoms.rattle(0.05, seed=seed)
    return atoms


def cases(with_emt):
    yield {"name": "lj-ar-cluster", "calculator": "lj", "options": AR, "fmax": 0.01, "atoms": ar_cluster()}
    hard = ar_cluster()
    hard.rattle(0.4, seed=5)
    yield {"name": "lj-ar-cluster-tight", "calculator": "lj", "options": AR, "fmax": 0.0005, "atoms": hard}
    yield {"name": "lj-ar-fcc108", "calculator": "lj", "options": AR, "fmax": 0.01, "atoms": ar_fcc()}
    if with_emt:
        yield {"name": "emt-cu108", "calculator": "emt", "options": {}, "fmax": 0.05, "atoms": cu_fcc()}
        yield {"name": "emt-cuau108", "calculator": "emt", "options": {}, "fmax": 0.05, "atoms": cuau_fcc()}


def cell_cases(with_emt):
    ar = bulk("Ar", "fcc", a=5.26, cubic=True).repeat(2)
    yield {"name": "lj-ar-fcc32-strained", "calculator": "lj", "options": AR, "fmax": 0.002, "atoms": strained(ar, 21)}
    if with_emt:
        cu = bulk("Cu", "fcc", a=3.61, cubic=True).repeat(2)
        yield {"name": "emt-cu32-strained", "calculator": "emt", "options": {}, "fmax": 0.01, "atoms": strained(cu, 22)}


def main():
    with_emt = "--no-emt" not in sys.argv
    data = {
        "generator": "scripts/make_optimizer_reference.py",
        "versions": {"ase": ase.__version__, "scipy": scipy.__version__, "numpy": np.__version__},
        "maxSteps": MAX_STEPS,
        "cases": [run_case(c, OPTIMIZERS) for c in cases(with_emt)],
        "cellCases": [],
        "lineSearches": line_searches(),
    }
    for c in cell_cases(with_emt):
        out = run_case(c, ["fire", "bfgs", "lbfgs", "bfgsls", "cg", "mdmin"], "frechet")
        # The relaxed cell, tightly converged, by FrechetCellFilter and by 3.22's ExpCellFilter and
        # UnitCellFilter: the same minimum, reached along different paths.
        tight = dict(c, fmax=TIGHT_FMAX)
        out["tight"] = {"fmax": TIGHT_FMAX, "runs": {
            f: run_case(tight, ["bfgs"], f, perturb=False)["runs"]["bfgs"] for f in ("frechet", "exp", "unit")}}
        data["cellCases"].append(out)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(data, indent=1) + "\n")
    print(f"wrote {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
