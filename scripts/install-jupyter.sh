#!/usr/bin/env bash
# Installs Jupyter for crystal-rl's tslab kernel: the classic notebook, nbconvert, nbclient (the notebook
# runner, scripts/run_notebooks.py) and jupyter_kernel_test (the kernel's protocol tests). Idempotent:
# does nothing when everything is already importable. Used by CI and by `crystal-rl doctor`'s fix hint.
#
#   bash scripts/install-jupyter.sh          # Debian/Ubuntu: apt (as root or with sudo); elsewhere: pip --user
#   bash scripts/install-jupyter.sh --pip    # force pip (e.g. to get JupyterLab, which Debian 12 does not package)
#
# Afterwards: `npx crystal-rl jupyter install` registers the kernel, `npx crystal-rl doctor` checks it all.
set -euo pipefail

mode=auto
for arg in "$@"; do
  case "$arg" in
    --pip) mode=pip ;;
    --apt) mode=apt ;;
    -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install-jupyter.sh: unknown option $arg" >&2; exit 2 ;;
  esac
done

# What the project needs from Python, checked by importing it.
check_py() {
  "$1" - <<'EOF' >/dev/null 2>&1
import jupyter_core, jupyter_client, nbformat, nbclient, nbconvert, jupyter_kernel_test, notebook
EOF
}

if [ "$mode" = auto ] && command -v apt-get >/dev/null && [ -x /usr/bin/python3 ]; then mode=apt; fi
[ "$mode" = auto ] && mode=pip

if [ "$mode" = apt ]; then
  if check_py /usr/bin/python3 && [ -x /usr/bin/jupyter ]; then
    echo "install-jupyter.sh: Jupyter is already installed ($(/usr/bin/python3 -c 'import notebook, nbclient; print("notebook", notebook.__version__, "nbclient", nbclient.__version__)'))"
    exit 0
  fi
  pkgs=(jupyter-core jupyter-client jupyter-nbconvert jupyter-notebook python3-nbclient python3-jupyter-kernel-test python3-ipykernel)
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "install-jupyter.sh: need root or sudo for: apt-get install ${pkgs[*]}" >&2; exit 1; }
    sudo="sudo"
  fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y --no-install-recommends "${pkgs[@]}"
  check_py /usr/bin/python3 || { echo "install-jupyter.sh: apt finished but Jupyter does not import in /usr/bin/python3" >&2; exit 1; }
  echo "install-jupyter.sh: installed with apt: ${pkgs[*]}"
  exit 0
fi

# pip: a per-user install into whichever python3 is first on PATH (a venv when one is active).
py=$(command -v python3 || command -v python || true)
[ -n "$py" ] || { echo "install-jupyter.sh: no python3 found; install Python 3.9+ first" >&2; exit 1; }
if check_py "$py"; then
  echo "install-jupyter.sh: Jupyter is already installed for $py"
  exit 0
fi
user=--user
[ -n "${VIRTUAL_ENV:-}${CONDA_PREFIX:-}" ] && user=""
"$py" -m pip install $user --upgrade jupyterlab notebook nbclient nbconvert nbformat jupyter_client jupyter_kernel_test ipykernel
check_py "$py" || { echo "install-jupyter.sh: pip finished but Jupyter does not import in $py" >&2; exit 1; }
echo "install-jupyter.sh: installed with pip for $py (make sure its scripts folder is on PATH for 'jupyter')"
