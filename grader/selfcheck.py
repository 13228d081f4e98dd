"""Student self-check: grade functions or a whole notebook on the public trials of a bundle.

In a notebook, `from grader import check` then `check(linear_backward)` (or `check("linear_backward_W")`)
calls the function right there on the public trials and shows what passed and what is wrong, with
the same comparison and diagnosis as the real grading. `grader check notebook.ipynb` runs the whole
notebook in its own process, as the real grading does.
"""

from __future__ import annotations

import copy
import inspect
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from grader.bundle import BUNDLE, read_bundle
from grader.execute import ProcessExecutor
from grader.job import Call
from grader.grade import ExerciseResult, grade_trial, score_exercise
from grader.run import SubmissionResult, grade_submission
from grader.discover import Submission


@dataclass
class CheckReport:
    """What `check` found; shown as a table in a notebook."""

    results: list[ExerciseResult]

    @property
    def passed(self) -> bool:
        return all(r.status == "passed" for r in self.results)

    def __str__(self) -> str:
        lines = []
        for r in self.results:
            mark = "✓" if r.status == "passed" else "✗"
            lines.append(f"{mark} {r.exercise}: {r.passed}/{r.trials} public trials passed")
            if r.message:
                lines.append(f"    {r.message}")
        return "\n".join(lines)

    def _repr_markdown_(self) -> str:
        rows = [f"| {'✓' if r.status == 'passed' else '✗'} | {r.exercise} | {r.passed}/{r.trials} | {r.message} |" for r in self.results]
        return "\n".join(["| | exercise | public trials passed | what is wrong |", "| --- | --- | --- | --- |", *rows])

    __repr__ = __str__


def find_bundle(bundle: str | Path | None, near: Path = Path.cwd()) -> Path:
    return Path(bundle) if bundle else near / BUNDLE


def check(target: Callable[..., Any] | str, bundle: str | Path | None = None) -> CheckReport:
    """Check one function (every exercise that grades it) or one exercise id on the public trials."""
    assignment, trials = read_bundle(find_bundle(bundle))
    name = target if isinstance(target, str) else getattr(target, "__name__", "")
    exercises = [e for e in assignment.exercises if name in (e.id, e.function)]
    if not exercises:
        known = ", ".join(dict.fromkeys(e.function for e in assignment.exercises))
        raise ValueError(f"nothing to check for {name!r}: the functions in this assignment are {known}")
    fn = target if callable(target) else inspect.currentframe().f_back.f_globals.get(exercises[0].function)  # type: ignore[union-attr]
    if not callable(fn):
        raise ValueError(f"{exercises[0].function} is not defined yet: run the cell that defines it first")
    results = [score_exercise(e, [grade_trial(e, t, _call(fn, t.args)) for t in trials[e.id]]) for e in exercises]
    return CheckReport(results)


def _call(fn: Callable[..., Any], args: dict[str, Any]) -> Call:
    mine = copy.deepcopy(args)
    try:
        result = fn(*mine.values())
    except Exception as exc:
        last = traceback.extract_tb(exc.__traceback__)[-1]
        where = f"line {last.lineno}: `{(last.line or '').strip()}`"
        return Call("raised", error={"type": type(exc).__name__, "message": f"{type(exc).__name__}: {exc}".rstrip(": "), "where": where})
    return Call("ok", result=result, inputs_after=mine)


def check_notebook(notebook: Path, bundle: str | Path | None = None, timeout: float = 10.0) -> tuple[SubmissionResult, int]:
    """Run a whole notebook on the public trials, in its own process; returns the result and the bundle's maximum score."""
    assignment, trials = read_bundle(find_bundle(bundle, notebook.parent))
    sub = Submission(notebook.stem, notebook, notebook)
    return grade_submission(sub, assignment, trials, timeout, ProcessExecutor()), assignment.max_total
