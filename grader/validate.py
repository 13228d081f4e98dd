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

from grader.assign import cells_hash, student_notebook
from grader.bundle import BUNDLE, public_trials, read_bundle
from grader.discover import Submission
from grader.execute import Executor, ProcessExecutor
from grader.run import Options, SubmissionResult, grade
from grader.spec import Assignment
from grader.trials import make_trials

SEEDS = (0, 1, 2)


def validate(assignment: Assignment, timeout: float = 10.0, executor: Executor | None = None) -> list[str]:
    """Every problem found, as a sentence; an empty list means the assignment is ready."""
    executor = executor or ProcessExecutor()
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
            if e.status != "passed"
        ]
        problems += [f"solution.ipynb: code cell {c['cell']} {c.get('error', {}).get('message', 'timed out')}" for c in result.cells]
    template = _grade(assignment, student, SEEDS[0], timeout, executor)
    problems += [
        f"student.ipynb: {e.exercise} should fail only with NotImplementedError, but is {e.status}: {e.message}"
        for e in template.exercises
        if e.status != "not_implemented"
    ]
    problems += _up_to_date(assignment)
    return problems


def _references(assignment: Assignment) -> list[str]:
    problems = []
    for exercise in assignment.exercises:
        for seed in SEEDS:
            try:
                make_trials(exercise, seed, "validate")
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
    if cells_hash(student_notebook(solution)) != cells_hash(student):
        problems.append("student.ipynb differs from what solution.ipynb gives: run `grader assign` (with --force to replace hand edits)")
    try:
        bundled, trials = read_bundle(folder / BUNDLE)
    except (FileNotFoundError, ValueError) as exc:
        return problems + [f"{exc}; run `grader assign`"]
    fresh = public_trials(assignment)
    if [e.id for e in bundled.exercises] != [e.id for e in assignment.exercises] or not all(
        len(trials[k]) == len(v) and all(_same(a.expected, b.expected) for a, b in zip(trials[k], v)) for k, v in fresh.items()
    ):
        problems.append(f"{BUNDLE} is out of date with the spec: run `grader assign`")
    return problems


def _same(a: Any, b: Any) -> bool:
    """Equal nested answers (arrays, tuples, dicts of arrays)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return len(a) == len(b) and all(map(_same, a, b))
    return bool(np.array_equal(np.asarray(a), np.asarray(b)))
