"""Real notebooks for the tests: the shipped solution or template, with cells appended or replaced."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell

ROOT = Path(__file__).resolve().parent.parent
BACKPROP = ROOT / "assignments" / "backprop"


def notebook(path: Path, *cells: str, base: str = "solution") -> Path:
    """Write `base`.ipynb with `cells` appended as code cells: a later `def` replaces the solution's,
    which is how most of these notebooks make one mistake each."""
    nb = nbformat.read(BACKPROP / f"{base}.ipynb", as_version=4)
    nb.cells += [new_code_cell(source) for source in cells]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path
