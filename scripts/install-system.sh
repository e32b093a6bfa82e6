#!/usr/bin/env bash
# Installs what crystal-rl uses outside npm, on Debian/Ubuntu (apt) as root.
#
#   bash scripts/install-system.sh            # everything: reference oracles, Jupyter, engines
#   bash scripts/install-system.sh --ci       # what the test suite needs (ASE, pymatgen, LAMMPS, Jupyter, Chromium)
#   bash scripts/install-system.sh --python   # ASE and pymatgen (reference scripts, benchmarks)
#   bash scripts/install-system.sh --jupyter  # Jupyter (scripts/install-jupyter.sh: notebook, nbclient, kernel tests)
#   bash scripts/install-system.sh --engines  # Quantum ESPRESSO (+ pseudopotentials) and LAMMPS
#
# Elsewhere (macOS, other Linux): `pip install ase pymatgen jupyterlab nbclient` covers the Python
# side; Quantum ESPRESSO and LAMMPS come from conda-forge (`conda install -c conda-forge qe lammps`).
set -euo pipefail

want_python=0 want_jupyter=0 want_engines=0 want_lammps=0 want_browser=0
[ $# -eq 0 ] && set -- --python --jupyter --engines
for arg in "$@"; do
  case "$arg" in
    --ci) want_python=1; want_lammps=1; want_jupyter=1; want_browser=1; want_gpaw=1; want_engines=1 ;;  # tests use ASE, pymatgen, LAMMPS, Quantum ESPRESSO, Jupyter, Chromium, GPAW
    --python) want_python=1 ;;
    --jupyter) want_jupyter=1 ;;
    --engines) want_engines=1 ;;
    *) echo "install-system.sh: unknown option $arg" >&2; exit 2 ;;
  esac
done

pkgs=()
[ $want_python = 1 ] && pkgs+=(python3-ase python3-pymatgen)
[ $want_engines = 1 ] && pkgs+=(quantum-espresso quantum-espresso-data) && want_lammps=1
[ $want_lammps = 1 ] && pkgs+=(lammps lammps-data)
[ "${want_gpaw:-0}" = 1 ] && pkgs+=(gpaw gpaw-data)  # the GPAW property engine (test/calculators/gpaw.test.ts)
[ $want_browser = 1 ] && pkgs+=(chromium)  # the notebooks' end-to-end test checks plots drew
# Mesa's EGL and llvmpipe: on a machine without a GPU, the WebGPU tests run through Dawn's OpenGL backend
[ $want_browser = 1 ] && pkgs+=(libegl1 libegl-mesa0 libgl1-mesa-dri)
jupyter() { if [ $want_jupyter = 1 ]; then bash "$(dirname "$0")/install-jupyter.sh"; fi; }
if [ ${#pkgs[@]} -eq 0 ]; then jupyter; exit 0; fi

if ! command -v apt-get >/dev/null; then
  echo "install-system.sh: no apt-get here; install these by hand or with pip/conda: ${pkgs[*]}" >&2
  exit 1
fi
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y --no-install-recommends "${pkgs[@]}"
jupyter
