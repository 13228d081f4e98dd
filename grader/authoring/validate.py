"""`grader validate`: is an assignment ready to hand out and to grade?

The solution notebook must score full marks on several seeds; the student template must score 0 and
fail only with NotImplementedError; every reference callable must accept the arguments the spec
generates (so the argument shapes are consistent); the student notebook and the self-check bundle
must be up to date with the solution.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat
import numpy as np

from grader.authoring.assign import cells_hash, student_notebook
from grader.authoring.bundle import BUNDLE, public_trials, read_bundle
from grader.executors.base import Executor
from grader.executors.process import ProcessExecutor
from grader.grading import grade
from grader.model import ExerciseStatus, Options, Submission, SubmissionResult
from grader.scoring.compare import Tolerance, compare
from grader.spec import Assignment, SpecError
from grader.trials import Trial, make_trials

SEEDS = (0, 1, 2)


def validate(assignment: Assignment, timeout: float = 10.0, executor: Executor | None = None) -> list[str]:
    """Every problem found, as a sentence; an empty list means the assignment is ready."""
    if executor is None:
        own = ProcessExecutor()
        try:
            return validate(assignment, timeout, own)
        finally:
            own.close()
    problems = _references(assignment)
    if problems:
        return problems  # nothing else can be checked without ground truth
    folder = assignment.path
    solution, student = folder / "solution.ipynb", folder / "student.ipynb"
    for path in (solution, student):
        if not path.is_file():
            problems.append(f"{path} is missing")
    if problems:
        return problems
    for seed in SEEDS:
        result = _grade(assignment, solution, seed, timeout, executor)
        problems += [
            f"solution.ipynb, seed {seed}: {e.exercise} scored {e.score:g}/{e.max_score:g}: {e.message}"
            for e in result.exercises
            if e.status != ExerciseStatus.PASSED
        ]
        problems += [f"solution.ipynb: code cell {c.cell} {c.error.message if c.error else 'timed out'}" for c in result.cells]
    template = _grade(assignment, student, SEEDS[0], timeout, executor)
    problems += [
        f"student.ipynb: {e.exercise} should fail only with NotImplementedError, but is {e.status}: {e.message}"
        for e in template.exercises
        if e.status != ExerciseStatus.NOT_IMPLEMENTED
    ]
    problems += _up_to_date(assignment)
    return problems


def _references(assignment: Assignment) -> list[str]:
    problems = []
    for exercise in assignment.exercises:
        for seed in SEEDS:
            try:
                make_trials(exercise, seed, "validate")
            except SpecError as exc:
                problems.append(str(exc))
                break
            except Exception as exc:
                problems.append(f"exercise {exercise.id}: reference {exercise.reference_name} fails on the spec's arguments: {exc}")
                break
    return problems


def _grade(assignment: Assignment, notebook: Path, seed: int, timeout: float, executor: Executor) -> SubmissionResult:
    return grade(Submission(notebook.stem, notebook, notebook), assignment, Options(seed=seed, timeout=timeout), executor)


def _up_to_date(assignment: Assignment) -> list[str]:
    folder = assignment.path
    problems = []
    solution = nbformat.read(folder / "solution.ipynb", as_version=4)
    student = nbformat.read(folder / "student.ipynb", as_version=4)
    if cells_hash(student_notebook(solution, assignment.name)) != cells_hash(student):
        problems.append("student.ipynb differs from what solution.ipynb gives: run `grader assign` (with --force to replace hand edits)")
    try:
        bundled, trials, _ = read_bundle(folder / BUNDLE)
    except (FileNotFoundError, ValueError) as exc:
        return problems + [f"{exc}; run `grader assign`"]
    stale = _stale(assignment, bundled, trials)
    if stale:
        problems.append(f"{BUNDLE} is out of date with the spec ({stale}): run `grader assign`")
    return problems


def _stale(assignment: Assignment, bundled: Assignment, trials: dict[str, list[Trial]]) -> str:
    """How the bundle differs from what the spec gives now ('' if it does not). Inputs are drawn
    bit-for-bit alike on every machine and must be equal; expected answers come from BLAS, whose
    last bits differ between CPUs, so they must agree within the exercise's tolerance."""
    if [e.id for e in bundled.exercises] != [e.id for e in assignment.exercises]:
        return "its exercises are not the spec's"
    fresh = public_trials(assignment)
    for spec, kept in zip(assignment.exercises, bundled.exercises):
        fields = ("function", "output", "outputs", "points", "rtol", "atol", "hints", "scoring")
        changed = [f for f in fields if getattr(spec, f) != getattr(kept, f)]
        if changed:
            return f"exercise {spec.id}: {', '.join(changed)} changed"
        if len(fresh[spec.id]) != len(trials[spec.id]):
            return f"exercise {spec.id}: the number of trials changed"
        for new, old in zip(fresh[spec.id], trials[spec.id]):
            if not _same(new.args, old.args) or new.batch != old.batch:
                return f"exercise {spec.id}, trial {new.index}: other inputs"
            check = compare(new.expected, old.expected, spec.graded_name, Tolerance(spec.rtol, spec.atol), spec.outputs)
            if not check.passed:
                return f"exercise {spec.id}, trial {new.index}: other expected answers: {check.message}"
    return ""


def _same(a: Any, b: Any) -> bool:
    """Equal nested inputs (arrays, dicts of arrays), bit for bit."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
