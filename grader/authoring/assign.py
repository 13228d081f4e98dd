"""`grader assign`: the student version of an assignment, from the instructor's solution notebook.

Solution regions are marked as in nbgrader, `### BEGIN SOLUTION` … `### END SOLUTION`; each becomes
`# YOUR CODE HERE` and `raise NotImplementedError()` at the region's indentation. The student
notebook records a hash of its cells, so a later run can tell that it was edited by hand and refuse
to overwrite it without `--force`.
"""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from grader.authoring.bundle import BUNDLE, METADATA, write_bundle
from grader.authoring.kit import write_handout
from grader.spec import load

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"


class AssignError(ValueError):
    """The solution notebook's markup is wrong, or the student notebook must not be overwritten."""


def strip_solutions(source: str, where: str = "cell") -> str:
    out: list[str] = []
    inside = False
    for number, line in enumerate(source.splitlines(), start=1):
        marker = line.strip()
        if marker == BEGIN:
            if inside:
                raise AssignError(f"{where}, line {number}: {BEGIN} inside another solution region")
            inside = True
            indent = line[: len(line) - len(line.lstrip())]
            out += [f"{indent}# YOUR CODE HERE", f"{indent}raise NotImplementedError()"]
        elif marker == END:
            if not inside:
                raise AssignError(f"{where}, line {number}: {END} without {BEGIN}")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise AssignError(f"{where}: {BEGIN} is never closed with {END}")
    return "\n".join(out)


def student_notebook(solution: NotebookNode, assignment: str) -> NotebookNode:
    """The solution with every region stripped and every output cleared, marked with its assignment's
    name (so a self-check against another assignment's bundle can say so)."""
    student = copy.deepcopy(solution)
    for number, cell in enumerate(student.cells, start=1):
        if cell.cell_type == "code":
            cell.source = strip_solutions(cell.source, f"cell {number}")
            cell.outputs, cell.execution_count = [], None
    student.metadata[METADATA] = {"assignment": assignment, "cells_sha256": cells_hash(student)}
    return student


def cells_hash(nb: NotebookNode) -> str:
    return hashlib.sha256("\0".join(f"{c.cell_type}:{c.source}" for c in nb.cells).encode()).hexdigest()


def assign(folder: Path, force: bool = False) -> tuple[Path, Path, Path]:
    """Write `folder/student.ipynb` from `folder/solution.ipynb`, the self-check bundle beside it, and
    the handout for students (`folder/handout/`: those two and the student kit)."""
    solution_path, student_path = folder / "solution.ipynb", folder / "student.ipynb"
    if not folder.is_dir():
        raise AssignError(f"no assignment folder at {folder} (it holds assignment.toml and solution.ipynb)")
    if not solution_path.is_file():
        raise AssignError(f"no solution notebook at {solution_path}")
    solution = nbformat.read(solution_path, as_version=4)
    if not any(BEGIN in c.source for c in solution.cells if c.cell_type == "code"):
        raise AssignError(f"{solution_path} has no {BEGIN} regions: the student version would be the solution")
    spec = load(folder)
    student = student_notebook(solution, spec.name)
    if student_path.exists() and not force:
        existing = nbformat.read(student_path, as_version=4)
        recorded = existing.metadata.get(METADATA, {}).get("cells_sha256")
        if recorded != cells_hash(existing):
            raise AssignError(f"{student_path} was changed by hand since it was generated; use --force to overwrite it")
    bundle = write_bundle(spec, folder / BUNDLE)
    nbformat.write(student, student_path)
    return student_path, bundle, write_handout(folder / "handout", student_path, bundle)
