#!/usr/bin/env python3
"""crystal-rl's ASE bridge: any ASE calculator behind a JSON-lines pipe.

Started by src/calculators/external/ase-bridge.ts as

    python3 -u ase_bridge.py '{"calculator": "EMT", "kwargs": {}}'

It builds the calculator, writes one line {"ready": true, ...} (or {"fatal": ..., "traceback": ...}
and exits with status 2), then answers each request line on stdin

    {"id": 1, "cell": [[...], [...], [...]], "positions": [[x, y, z], ...], "numbers": [29, ...],
     "properties": ["energy", "forces", "stress"]}

with one line {"id": 1, "energy": E, "forces": [[...], ...], "stress": [xx, yy, zz, yz, xz, xy]}
(eV, eV/A, eV/A^3 with ASE's sign) or {"id": 1, "error": "Type: message", "traceback": "..."}.
It exits when stdin closes. Non-finite numbers are sent as null.

The calculator name is "EMT", "LennardJones", "MorsePotential" (ase.calculators.*) or a dotted
path "package.module.ClassName" (or "package.module:factory") called with the keyword arguments.
Anything the calculator prints, from Python or from C, goes to stderr: the protocol has its own
copy of the original stdout.
"""

import importlib
import json
import math
import os
import sys
import traceback

ALIASES = {
    "EMT": "ase.calculators.emt.EMT",
    "LennardJones": "ase.calculators.lj.LennardJones",
    "LJ": "ase.calculators.lj.LennardJones",
    "MorsePotential": "ase.calculators.morse.MorsePotential",
    "Morse": "ase.calculators.morse.MorsePotential",
}


def resolve(name):
    path = ALIASES.get(name, name)
    if ":" in path:
        module_name, attr = path.split(":", 1)
    elif "." in path:
        module_name, attr = path.rsplit(".", 1)
    else:
        raise ValueError(
            "unknown ASE calculator %r: use one of %s or a dotted path such as "
            "'mace.calculators.mace_mp'" % (name, ", ".join(sorted(ALIASES)))
        )
    module = importlib.import_module(module_name)
    obj = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise AttributeError("module %r has no attribute %r" % (module_name, attr))
        obj = getattr(obj, part)
    return obj


def clean(x):
    """Nested lists of floats with non-finite values as None (JSON has no NaN)."""
    if isinstance(x, (list, tuple)):
        return [clean(v) for v in x]
    x = float(x)
    return x if math.isfinite(x) else None


def main():
    # The protocol writes to a private copy of stdout; fd 1 and sys.stdout then point at stderr.
    proto = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    def send(obj):
        proto.write(json.dumps(obj, allow_nan=False) + "\n")
        proto.flush()

    try:
        spec = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {"calculator": "EMT"}
        name = spec["calculator"]
        factory = resolve(name)
        calc = factory(**(spec.get("kwargs") or {}))
        if not (hasattr(calc, "get_property") or hasattr(calc, "get_potential_energy")):
            raise TypeError("%s did not return an ASE calculator (got %r)" % (name, type(calc).__name__))
        import ase
        from ase import Atoms
    except BaseException as err:  # noqa: BLE001 - anything here is fatal, report it
        send({"fatal": "%s: %s" % (type(err).__name__, err), "traceback": traceback.format_exc()})
        return 2

    send({
        "ready": True,
        "calculator": "%s.%s" % (type(calc).__module__, type(calc).__name__),
        "ase": ase.__version__,
        "python": sys.version.split()[0],
        "pid": os.getpid(),
    })

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
            props = req.get("properties") or ["energy", "forces"]
            atoms = Atoms(numbers=req["numbers"], positions=req["positions"], cell=req["cell"], pbc=True)
            atoms.calc = calc
            out = {"id": rid, "energy": clean(atoms.get_potential_energy())}
            if "forces" in props:
                out["forces"] = clean(atoms.get_forces().tolist())
            if "stress" in props:
                out["stress"] = clean(atoms.get_stress(voigt=True).tolist())
            send(out)
        except Exception as err:  # noqa: BLE001 - reported to the caller, the bridge lives on
            send({"id": rid, "error": "%s: %s" % (type(err).__name__, err), "traceback": traceback.format_exc()})


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (BrokenPipeError, KeyboardInterrupt):
        sys.exit(1)
