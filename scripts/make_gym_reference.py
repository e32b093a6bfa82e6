#!/usr/bin/env python3
"""Reference values for the CrystalGym tests, from pymatgen (and ASE's covalent radii).

Run with Debian's /usr/bin/python3 (python3-pymatgen 2022.11.7, python3-ase):
    /usr/bin/python3 scripts/make_gym_reference.py
Reads data/templates/cubic.json (the shipped templates) and writes
test/envs/fixtures/crystal-gym-reference.json with, for a few templates:
  - edges: per site, the (neighbour index, distance) pairs of Structure.get_all_neighbors(cutoff),
    sorted; a site's own periodic images included, as crystal-rl's graph keeps them;
  - densities: Structure.density of the template filled with given species;
  - analytic: the hard-sphere density of src/calculators/analytic-density.ts, computed independently:
    s = max over all pairs and images (r_i + r_j)/d_ij with ASE's covalent radii (Cordero 2008, the
    radii of crystal-rl's element table), then Structure.scale_lattice(V * s**3).density.
"""
import json
import math
import warnings
from importlib.metadata import version
from pathlib import Path

from ase.data import covalent_radii
from pymatgen.core import Element, Lattice, Structure

warnings.simplefilter("ignore")
root = Path(__file__).resolve().parent.parent
templates = {t["name"]: t for t in json.loads((root / "data/templates/cubic.json").read_text())["templates"]}
CUTOFF = 4.0


def structure(name, species=None):
    t = templates[name]
    if t["cell"] == "cubic":
        lattice = Lattice.from_parameters(t["a"], t["a"], t["a"], 90, 90, 90)
    else:  # fcc-primitive: a/sqrt(2) at 60 degrees
        p = t["a"] / math.sqrt(2)
        lattice = Lattice.from_parameters(p, p, p, 60, 60, 60)
    species = species or [s[0] for s in t["sites"]]
    return Structure(lattice, species, [s[1:] for s in t["sites"]])


def edges(s, cutoff):
    out = []
    for nbrs in s.get_all_neighbors(cutoff):
        out.append(sorted([[int(n.index), float(n.nn_distance)] for n in nbrs]))
    return out


def hard_sphere_scale(s):
    r = [float(covalent_radii[Element(site.specie.symbol).Z]) for site in s]
    big = 10.0  # every pair that can set the maximum: checked below
    best = 0.0
    for i, nbrs in enumerate(s.get_all_neighbors(big)):
        for n in nbrs:
            best = max(best, (r[i] + r[n.index]) / n.nn_distance)
    assert 2 * max(r) / big < best, "radius too small to be sure of the maximum"
    return best


fills = [
    ("perovskite", None),
    ("perovskite", ["Ba", "Zr", "S", "S", "S"]),
    ("perovskite", ["Li", "H", "H", "H", "H"]),
    ("cesium-chloride", None),
    ("rocksalt", ["Rb", "Br"]),
    ("fluorite", None),
    ("heusler", ["Li", "Mg", "C", "Br"]),
    ("sulvanite", None),
    ("sulvanite", ["Sr", "O", "N", "F", "Cl", "Se", "P", "Be"]),
    ("zincblende-conventional", ["Ga", "Ga", "Ga", "Ga", "As", "As", "As", "As"]),
]

reference = {
    "about": f"scripts/make_gym_reference.py, pymatgen {version('pymatgen')}",
    "cutoff": CUTOFF,
    "edges": {name: edges(structure(name), CUTOFF) for name in ["perovskite", "fluorite", "sulvanite"]},
    "densities": [],
}
for name, species in fills:
    s = structure(name, species)
    scale = hard_sphere_scale(s)
    scaled = s.copy()
    scaled.scale_lattice(s.volume * scale**3)
    reference["densities"].append({
        "template": name,
        "species": [site.specie.symbol for site in s],
        "density": float(s.density),
        "scale": scale,
        "analytic": float(scaled.density),
    })
    print(f"{name:24s} {s.composition.reduced_formula:10s} rho={float(s.density):.4f} s={scale:.4f} analytic={float(scaled.density):.4f}")

out = root / "test/envs/fixtures/crystal-gym-reference.json"
out.parent.mkdir(parents=True, exist_ok=True)
out.write_text(json.dumps(reference, indent=1) + "\n")
print(f"wrote {out.relative_to(root)}")
