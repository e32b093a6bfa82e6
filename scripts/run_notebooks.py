#!/usr/bin/python3
"""Executes Jupyter notebooks headless with nbclient and the crystal-rl kernel; CI runs every notebook
in notebooks/ with it (test/notebook/notebooks.test.ts).

    /usr/bin/python3 scripts/run_notebooks.py [PATH ...] [--kernel NAME] [--out DIR] [--timeout S]

PATH is a notebook or a folder of them (default: notebooks/ beside this script's folder). Each notebook
runs top to bottom in a fresh kernel started in the notebook's own folder. Prints, per notebook,
`PASS name (seconds)` or `FAIL name: cell N: ename: evalue` followed by the failing cell's stderr, then
`N passed, N failed`; exits 1 when any failed (2 on bad arguments). With --out, the executed notebooks
(also the failed ones, up to the failing cell) are written there for the HTML export.

Needs Jupyter in /usr/bin/python3 (bash scripts/install-jupyter.sh) and the kernel registered
(npx crystal-rl jupyter install), or a JUPYTER_PATH holding it.
"""

import argparse
import os
import sys
import time
from pathlib import Path

try:
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
except ImportError as e:  # pragma: no cover - depends on the machine
    print(f"run_notebooks: {e}; install Jupyter with: bash scripts/install-jupyter.sh", file=sys.stderr)
    sys.exit(2)

ROOT = Path(__file__).resolve().parent.parent


def find_notebooks(paths):
    found = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            found += sorted(q for q in p.rglob("*.ipynb") if ".ipynb_checkpoints" not in q.parts)
        elif p.suffix == ".ipynb" and p.exists():
            found.append(p)
        else:
            raise SystemExit(f"run_notebooks: {p} is not a notebook or a folder")
    return found


def cell_text(cell, stream):
    return "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream" and o.get("name") == stream)


def failing_cell(nb):
    """(index among code cells, 1-based; cell) of the first cell with an error output."""
    n = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        n += 1
        if any(o.get("output_type") == "error" for o in cell.get("outputs", [])):
            return n, cell
    return None, None


def indent(text, prefix="    "):
    return "".join(prefix + line for line in text.rstrip("\n").splitlines(True)) + "\n" if text.strip() else ""


def run_one(path, kernel, timeout, startup_timeout, out_dir):
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        kernel_name=kernel,
        timeout=timeout,
        startup_timeout=startup_timeout,
        allow_errors=False,
        record_timing=True,
        resources={"metadata": {"path": str(path.parent.resolve())}},
    )
    error = None
    try:
        client.execute()
    except CellExecutionError as e:
        n, cell = failing_cell(nb)
        where = f"cell {n}" if n else "cell ?"
        stderr = cell_text(cell, "stderr") if cell is not None else ""
        error = f"{where}: {e.ename}: {e.evalue}\n" + indent(stderr)
    except CellTimeoutError as e:
        n = sum(1 for c in nb.cells if c.cell_type == "code" and c.get("execution_count"))
        error = f"cell {n or '?'}: timed out after {timeout} s ({str(e).splitlines()[0] if str(e) else 'CellTimeoutError'})\n"
    except DeadKernelError as e:
        error = f"the kernel died: {e}\n"
    except Exception as e:  # kernel did not start, bad notebook, ...
        error = f"{type(e).__name__}: {e}\n"
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, out_dir / path.name)
    return error


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("paths", nargs="*", default=[str(ROOT / "notebooks")], help="notebooks or folders (default: notebooks/)")
    ap.add_argument("--kernel", default=os.environ.get("CRYSTAL_RL_KERNEL", "crystal-rl"), help="kernelspec name (default crystal-rl)")
    ap.add_argument("--out", type=Path, help="folder for the executed notebooks")
    ap.add_argument("--timeout", type=int, default=300, help="seconds per cell (default 300)")
    ap.add_argument("--startup-timeout", type=int, default=60, help="seconds for the kernel to start (default 60)")
    args = ap.parse_args(argv)

    notebooks = find_notebooks(args.paths)
    passed = failed = 0
    for path in notebooks:
        t0 = time.monotonic()
        error = run_one(path, args.kernel, args.timeout, args.startup_timeout, args.out)
        seconds = time.monotonic() - t0
        if error is None:
            passed += 1
            print(f"PASS {path.name} ({seconds:.1f} s)", flush=True)
        else:
            failed += 1
            print(f"FAIL {path.name}: {error}", end="", flush=True)
    print(f"{passed} passed, {failed} failed", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
