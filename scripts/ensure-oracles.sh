#!/usr/bin/env bash
# Runs before `npm test`: the tests read files back with ASE and pymatgen (Debian's /usr/bin/python3),
# drive LAMMPS, Quantum ESPRESSO and GPAW, and check in Chromium that notebook plots drew. Installs what is missing (Debian, as
# root or with sudo); otherwise says how.
set -euo pipefail
if /usr/bin/python3 -c "import ase, pymatgen.core" >/dev/null 2>&1 && command -v lmp >/dev/null \
  && [ -f /usr/share/lammps/potentials/Cu_u3.eam ] && command -v chromium >/dev/null \
  && command -v pw.x >/dev/null && command -v ld1.x >/dev/null && /usr/bin/python3 -c "import gpaw" >/dev/null 2>&1; then
  exit 0
fi
echo "crystal-rl tests: ASE, pymatgen, LAMMPS, Quantum ESPRESSO, GPAW or Chromium is missing; installing them" >&2
if command -v apt-get >/dev/null && { [ "$(id -u)" -eq 0 ] || command -v sudo >/dev/null; }; then
  exec bash "$(dirname "$0")/install-system.sh" --ci
fi
echo "crystal-rl tests: install python3-ase python3-pymatgen lammps lammps-data quantum-espresso quantum-espresso-data gpaw gpaw-data chromium (bash scripts/install-system.sh --ci)" >&2
exit 1
