"""The student's own notebook, returned with feedback (`grader run --notebooks`), as nbgrader users know it.

Each code cell gets what it printed when it was graded (its tracebacks included, as the student's
own frames only); under each cell that defines a graded function comes a feedback cell for each of
its exercises: the score, what is wrong and the hint. Feedback cells are Markdown whose every
character of student or notebook text is escaped (`grader.reports.feedback.text`), so that text shows as
text; outputs are plain text streams. Exercises whose function no cell defines get their feedback
cells at the end. With the feedback, as feedback/<student_id>.ipynb and .notebook.html (rendered by
nbconvert).
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

import nbformat
from nbformat.v4 import new_markdown_cell, new_output

from grader.model import ExerciseResult, ExerciseStatus, RunStatus, SubmissionResult
from grader.reports.page import text
from grader.scoring.score import percent, points
from grader.spec import Assignment

MARK = {"backprop_grader": {"feedback": True}}  # the metadata of the cells the grader added


def annotated(notebook: Path, result: SubmissionResult, assignment: Assignment, printed: list[str]) -> str:
    """The notebook at `notebook`, with each code cell's `printed` output and the feedback cells, as .ipynb text."""
    nb = nbformat.read(notebook, as_version=4)
    functions: dict[str, list[ExerciseResult]] = {}  # each graded function's exercises, in the assignment's order
    for exercise, scored in zip(assignment.exercises, result.exercises):
        functions.setdefault(exercise.function, []).append(scored)
    score = f"{points(result.total)} / {points(assignment.max_total)} ({percent(result.total, assignment.max_total)})"
    title = f"**{text(assignment.title)}: feedback for {text(result.student_id)} — {score}**"
    if result.status != RunStatus.OK:
        title += f"\n\nYour notebook could not be graded in full ({result.status}): {text(result.message)}"
    code_cells = [cell for cell in nb.cells if cell.cell_type == "code"]
    last: dict[int, list[str]] = {}  # code cell -> the functions whose last definition it holds (the one that counts)
    for function in functions:
        defines = [i for i, cell in enumerate(code_cells) if defining(function).search(cell.source)]
        if defines:
            last.setdefault(defines[-1], []).append(function)
    cells, code = [_feedback(title)], -1
    for cell in nb.cells:
        cells.append(cell)
        if cell.cell_type != "code":
            continue
        code += 1
        cell.outputs = [new_output("stream", name="stdout", text=printed[code])] if code < len(printed) and printed[code] else []
        cell.execution_count = None
        cells += [_feedback(_words(r)) for function in last.get(code, []) for r in functions[function]]
    placed = {f for fs in last.values() for f in fs}
    cells += [_feedback(_words(r)) for function, results in functions.items() if function not in placed for r in results]
    for number, cell in enumerate(c for c in cells if c.metadata.get("backprop_grader")):
        if nb.nbformat_minor >= 5:  # not nbformat's random ids: the same results give the same file
            cell.id = f"grader-feedback-{number}"
        else:  # cells of nbformat 4.4 and before have no id
            del cell["id"]
    nb.cells = cells
    return nbformat.writes(nb)


def defining(function: str) -> re.Pattern[str]:
    """A line of a code cell that defines `function`: a `def` (at any indentation) or a top-level assignment."""
    return re.compile(rf"^[ \t]*(?:async[ \t]+)?def[ \t]+{re.escape(function)}\b|^{re.escape(function)}[ \t]*=", re.M)


def _words(result: ExerciseResult) -> str:
    mark = "✓" if result.status == ExerciseStatus.PASSED else "✗"
    head = f"{mark} **{text(result.exercise)}**: {points(result.score)} / {points(result.max_score)} ({result.passed}/{result.trials} trials passed)"
    return head + (f"\n\n{text(result.message)}" if result.message else "")


def _feedback(source: str) -> nbformat.NotebookNode:
    cell = new_markdown_cell(source)
    cell.metadata.update(MARK)
    return cell


def write_notebook(notebook: str, stem: Path) -> None:
    """`stem`.ipynb, the student's notebook with feedback, and `stem`.notebook.html, rendered by nbconvert
    with its HTML sanitised (a student's Markdown cells may hold any HTML)."""
    stem.with_name(stem.name + ".ipynb").write_text(notebook, encoding="utf-8")
    exporter = _exporter()
    body, _ = exporter.from_notebook_node(nbformat.reads(notebook, as_version=4))
    stem.with_name(stem.name + ".notebook.html").write_text(body, encoding="utf-8")


@functools.cache
def _exporter() -> Any:
    from nbconvert import HTMLExporter  # imported only where notebooks are returned (a second to import)

    return HTMLExporter(template_name="lab", sanitize_html=True)
