"""Student self-check: grade functions or a whole notebook on the public trials of a bundle.

In a notebook, `from grader import check` then `check(linear_backward)` (or `check("linear_backward_W")`,
or `check()` for every exercise whose function is defined so far) calls the functions right there
on the public trials and shows what passed and what is wrong, with the same comparison and
diagnosis as the real grading. `grader check notebook.ipynb` (in the student kit, `grader-check`)
runs the whole notebook in its own process, as the real grading does. This module and what it
imports are the student kit (`grader.authoring.kit`): nothing here computes an exercise's answer.
"""

from __future__ import annotations

import argparse
import copy
import inspect
import json
import sys
import traceback
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from grader.authoring.bundle import BUNDLE, METADATA, read_bundle
from grader.executors.process import ProcessExecutor
from grader.grading import grade_submission
from grader.inside.wire import changed_inputs
from grader.model import Call, ExerciseResult, ExerciseStatus, RunStatus, Submission, SubmissionResult
from grader.reports.page import text
from grader.scoring.example import reproduce
from grader.scoring.score import grade_exercise, points


@dataclass
class CheckReport:
    """What `check` found; shown as a table in a notebook."""

    results: list[ExerciseResult]

    @property
    def passed(self) -> bool:
        return all(r.status == ExerciseStatus.PASSED for r in self.results)

    def __str__(self) -> str:
        lines = []
        for r in self.results:
            mark = "✓" if r.status == ExerciseStatus.PASSED else "✗"
            lines.append(f"{mark} {r.exercise}: {r.passed}/{r.trials} public trials passed")
            if r.message:
                lines.append(f"    {r.message}")
            if r.example:
                lines += ["    The smallest case it gets wrong, to paste into a cell:", *(f"        {line}" for line in r.example.splitlines())]
        return "\n".join(lines)

    def _repr_markdown_(self) -> str:
        rows = [f"| {'✓' if r.status == 'passed' else '✗'} | {r.exercise} | {r.passed}/{r.trials} | {text(r.message)} |" for r in self.results]
        cases = [f"**{r.exercise}**: the smallest case it gets wrong, to paste into a cell:\n\n```python\n{r.example}\n```" for r in self.results if r.example]
        return "\n\n".join(["\n".join(["| | exercise | public trials passed | what is wrong |", "| --- | --- | --- | --- |", *rows]), *cases])

    __repr__ = __str__


def find_bundle(bundle: str | Path | None, near: Path = Path.cwd()) -> Path:
    return Path(bundle) if bundle else near / BUNDLE


def check(target: Callable[..., Any] | str | None = None, bundle: str | Path | None = None) -> CheckReport:
    """Check one function (every exercise that grades it), one exercise id, or (no argument) every
    exercise whose function the notebook has defined so far, on the public trials."""
    assignment, trials, cases = read_bundle(find_bundle(bundle))
    here = inspect.currentframe().f_back.f_globals  # type: ignore[union-attr]
    known = ", ".join(dict.fromkeys(e.function for e in assignment.exercises))
    if target is None:
        exercises = [e for e in assignment.exercises if callable(here.get(e.function))]
        if not exercises:
            raise ValueError(f"none of the functions of '{assignment.title}' ({known}) is defined yet: run the cells that define "
                             "them first (or is this the self-check bundle of another assignment?)")
    else:
        name = target if isinstance(target, str) else getattr(target, "__name__", "")
        exercises = [e for e in assignment.exercises if name in (e.id, e.function)]
        if not exercises:
            raise ValueError(f"nothing to check for {name!r}: this self-check bundle is for '{assignment.title}', whose functions "
                             f"are {known} (is it the bundle of your assignment?)")
    results = []
    for e in exercises:
        fn = target if callable(target) else here.get(e.function)
        if not callable(fn):
            raise ValueError(f"{e.function} is not defined yet: run the cell that defines it first")
        result = grade_exercise(e, trials[e.id], [_call(fn, t.args) for t in trials[e.id]])[0]
        if result.status != ExerciseStatus.PASSED:
            result = replace(result, example=reproduce(e, cases[e.id], (_call(fn, t.args) for t in cases[e.id])))  # called up to the first it fails
        results.append(result)
    return CheckReport(results)


def _call(fn: Callable[..., Any], args: dict[str, Any]) -> Call:
    mine = copy.deepcopy(args)
    try:
        result = fn(*mine.values())
    except Exception as exc:
        last = traceback.extract_tb(exc.__traceback__)[-1]
        where = f"line {last.lineno}: `{(last.line or '').strip()}`"
        return Call("raised", error={"type": type(exc).__name__, "message": f"{type(exc).__name__}: {exc}".rstrip(": "), "where": where})
    return Call("ok", result=result, changed=tuple(changed_inputs(args, mine)))


def check_notebook(notebook: Path, bundle: str | Path | None = None, timeout: float = 10.0) -> tuple[SubmissionResult, float]:
    """Run a whole notebook on the public trials, in its own process; returns the result and the bundle's maximum score."""
    assignment, trials, cases = read_bundle(find_bundle(bundle, notebook.parent))
    meant = notebook_assignment(notebook)
    if meant and meant != assignment.name:
        raise ValueError(f"{notebook.name} is from the assignment '{meant}', but this self-check bundle is for '{assignment.name}' "
                         f"({assignment.title}): use the bundle handed out with your notebook")
    sub = Submission(notebook.stem, notebook, notebook)
    executor = ProcessExecutor()
    try:
        return grade_submission(sub, assignment, trials, timeout, executor, cases), assignment.max_total
    finally:
        executor.close()  # its slot goes back: a notebook may self-check many times in one kernel


def notebook_assignment(notebook: Path) -> str:
    """The assignment a student notebook was made for (`grader assign` records it), '' if unknown."""
    try:
        meta = json.loads(notebook.read_bytes()).get("metadata", {}).get(METADATA, {})
    except (OSError, ValueError, AttributeError):
        return ""  # the grading's own reading says what is wrong with the file
    return meta.get("assignment", "") if isinstance(meta, dict) else ""


def report_check(notebook: Path, bundle: str | Path | None = None, timeout: float = 10.0) -> int:
    """`grader check` and the kit's `grader-check`: the table of what passed; exit 0 only if everything did."""
    console = Console(stderr=True)
    try:
        if not notebook.is_file():
            raise FileNotFoundError(f"no notebook at {notebook}")
        result, max_total = check_notebook(notebook, bundle, timeout)
    except (FileNotFoundError, ValueError) as exc:
        console.print(f"[red]error:[/red] {escape(str(exc))}")
        return 2
    if result.nothing_run:
        console.print(f"[red]error:[/red] {escape(result.message)}")  # the notebook cannot be read: nothing was checked
        return 2
    table = Table(title=Text(f"{notebook.name}: {points(result.total)} / {points(max_total)} on the public trials"))
    for column in ("", "exercise", "passed", "what is wrong"):
        table.add_column(column, overflow="fold")
    for e in result.exercises:
        table.add_row("✓" if e.status == ExerciseStatus.PASSED else "✗", e.exercise, f"{e.passed}/{e.trials}", Text(e.message))
    Console().print(table)
    for e in result.exercises:
        if e.example:
            Console().print(Text(f"{e.exercise}: the smallest case it gets wrong, to paste into a cell:\n{e.example}\n"), soft_wrap=True)  # no line broken
    if result.status != RunStatus.OK:
        console.print(f"[red]{result.status}:[/red] {escape(result.message)}")
    for cell in result.cells:
        console.print(escape(f"code cell {cell.cell}: {cell.error.message if cell.error else 'ran past the time limit'}"))
    return 0 if all(e.status == ExerciseStatus.PASSED for e in result.exercises) else 1


def main(argv: list[str] | None = None) -> int:
    """`grader-check NOTEBOOK`: the student kit's command line."""
    parser = argparse.ArgumentParser(prog="grader-check", description="Self-check a notebook on the public trials of its self-check bundle.")
    parser.add_argument("notebook", type=Path, help="the notebook to check, run as the grading runs it")
    parser.add_argument("--bundle", type=Path, help=f"the self-check bundle (default: {BUNDLE} beside the notebook)")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per cell and per call (default: 10)")
    args = parser.parse_args(argv)
    return report_check(args.notebook, args.bundle, args.timeout)


if __name__ == "__main__":
    sys.exit(main())
