#!/usr/bin/env python3
"""crystal-rl's GPAW worker: plane-wave DFT behind a JSON-lines pipe.

Started by src/calculators/external/gpaw.ts, once per property evaluation, as

    python3 -u gpaw_worker.py '{"ecut": 500, "xc": "PBE", "kpts": [7, 7, 7], "maxiter": 300, ...}'

It imports GPAW, writes one line {"ready": true, "gpaw": ..., "ase": ..., "python": ..., "pid": ...}
(or {"fatal": ..., "traceback": ...} and exits with status 2), then answers each request line

    {"id": 1, "task": "scf", "cell": [[...]x3], "positions": [[x, y, z], ...], "numbers": [11, 17],
     "occupations": "fixed" | "smearing", "gap": true}
    {"id": 2, "task": "relax", ..., "steps": 5, "fmax": 0.05}

with {"id": 1, "ok": true, "energy": E, ...} or {"id": 1, "ok": false, "flag": 1|2|3, "error": "...",
"traceback": "..."} where flag follows CrystalGym's error_flag: 1 SCF not converged, 2 no gap can
exist with fixed occupations (odd electron count: QE's "charge is wrong"), 3 anything else (a missing
PAW setup, atoms on top of each other). Units: eV, Angstrom. It exits when stdin closes.

Every calculation builds a fresh GPAW calculator, so a result never depends on what ran before it
in the same process (the cache relies on that). GPAW's own text output goes to stderr.
"""

import json
import math
import os
import sys
import traceback


def clean(x):
    """Nested lists of floats with non-finite values as None (JSON has no NaN)."""
    if isinstance(x, (list, tuple)):
        return [clean(v) for v in x]
    if isinstance(x, (bool, int)):
        return x
    x = float(x)
    return x if math.isfinite(x) else None


class Failure(Exception):
    def __init__(self, flag, message):
        super().__init__(message)
        self.flag = flag


def make_calc(settings, occupations, log):
    from gpaw import GPAW, PW

    if occupations == "fixed":
        # Zero width: integer occupations, as QE's occupations='fixed' (CrystalGym's band-gap task).
        occ = {"name": "fermi-dirac", "width": 0.0}
    else:
        occ = dict(settings["smearing"])
    return GPAW(
        mode=PW(settings["ecut"]),
        xc=settings["xc"],
        kpts={"size": settings["kpts"], "gamma": True},
        occupations=occ,
        spinpol=False,
        maxiter=settings["maxiter"],
        convergence=settings.get("convergence") or {},
        txt=log,
    )


def build_atoms(req):
    from ase import Atoms

    return Atoms(numbers=req["numbers"], positions=req["positions"], cell=req["cell"], pbc=True)


def check_parity(calc, atoms):
    """Fixed occupations need an even electron count (spin-restricted); QE stops with 'charge is wrong'."""
    calc.initialize(atoms)
    nvalence = calc.wfs.nvalence
    if round(nvalence) % 2 == 1:
        raise Failure(
            2,
            "odd number of valence electrons (%d) with fixed occupations: no gap exists without smearing "
            "(QE stops with 'charge is wrong')" % round(nvalence),
        )
    return nvalence


def scf(req, settings, log):
    atoms = build_atoms(req)
    occupations = req.get("occupations", "smearing")
    calc = make_calc(settings, occupations, log)
    atoms.calc = calc
    out = {}
    if occupations == "fixed":
        check_parity(calc, atoms)
    energy = atoms.get_potential_energy()
    out["energy"] = energy
    out["nelectrons"] = float(calc.wfs.nvalence)
    out["nbands"] = int(calc.wfs.bd.nbands)
    out["iterations"] = int(calc.scf.niter or 0)
    out["ibzkpts"] = len(calc.get_ibz_k_points())
    if req.get("gap"):
        homo, lumo = calc.get_homo_lumo()
        if not math.isfinite(lumo):
            raise Failure(3, "no LUMO: GPAW computed no empty band (nbands = %d)" % out["nbands"])
        out["homo"] = homo
        out["lumo"] = lumo
    if req.get("stress"):
        out["stress"] = atoms.get_stress(voigt=True).tolist()
    return out


def relax(req, settings, log):
    from ase.constraints import ExpCellFilter
    from ase.optimize import BFGS

    atoms = build_atoms(req)
    atoms.calc = make_calc(settings, "smearing", log)
    steps = int(req.get("steps", 5))
    fmax = float(req.get("fmax", 0.05))
    # ExpCellFilter: cell and positions together (ASE 3.22; ase.filters.FrechetCellFilter in later ASE).
    opt = BFGS(ExpCellFilter(atoms), logfile=log, trajectory=None)
    converged = bool(opt.run(fmax=fmax, steps=steps))
    return {
        "energy": atoms.get_potential_energy(),
        "cell": atoms.cell.array.tolist(),
        "positions": atoms.positions.tolist(),
        "steps": int(opt.get_number_of_steps()),
        "converged": converged,
        "stress": atoms.get_stress(voigt=True).tolist(),
        "iterations": int(atoms.calc.scf.niter or 0),
    }


TASKS = {"scf": scf, "relax": relax}


def classify(err, settings):
    """CrystalGym's error_flag for a Python exception, and a one-line reason."""
    from gpaw import KohnShamConvergenceError

    if isinstance(err, Failure):
        return err.flag, str(err)
    if isinstance(err, KohnShamConvergenceError):
        return 1, "SCF not converged after %d iterations (maxiter): %s" % (settings["maxiter"], err)
    lines = [l.strip() for l in str(err).splitlines() if l.strip()]
    return 3, "%s: %s" % (type(err).__name__, lines[0] if lines else "")


def main():
    # The protocol writes to a private copy of stdout; fd 1 and sys.stdout then point at stderr, so
    # whatever GPAW or its C code prints cannot break a reply line.
    proto = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    def send(obj):
        proto.write(json.dumps(obj, allow_nan=False) + "\n")
        proto.flush()

    try:
        settings = json.loads(sys.argv[1])
        import ase
        import gpaw

        log = sys.stderr if settings.get("verbose") else None
    except BaseException as err:  # noqa: BLE001 - anything here is fatal, report it
        send({"fatal": "%s: %s" % (type(err).__name__, err), "traceback": traceback.format_exc()})
        return 2

    send({"ready": True, "gpaw": gpaw.__version__, "ase": ase.__version__, "python": sys.version.split()[0], "pid": os.getpid()})

    while True:
        line = sys.stdin.readline()
        if not line:
            return 0
        line = line.strip()
        if not line:
            continue
        rid = None
        try:
            req = json.loads(line)
            rid = req.get("id")
            task = TASKS.get(req.get("task"))
            if task is None:
                raise Failure(3, "unknown task %r (one of %s)" % (req.get("task"), ", ".join(TASKS)))
            out = task(req, settings, log)
            send({"id": rid, "ok": True, **{k: clean(v) for k, v in out.items()}})
        except Exception as err:  # noqa: BLE001 - reported to the caller, the worker lives on
            flag, reason = classify(err, settings)
            send({"id": rid, "ok": False, "flag": flag, "error": reason, "traceback": traceback.format_exc()})


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (BrokenPipeError, KeyboardInterrupt):
        sys.exit(1)
