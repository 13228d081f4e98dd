"""The grading pipeline: discover → execute → call on trials → compare → score, one submission at a time.

Each submission is graded on its own, in its own process, by a pool of threads that only wait on
those processes; nothing one submission does can reach another's result.
"""

from __future__ import annotations

import os
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from grader.discover import NotebookError, Submission, discover, read_cells
from grader.execute import Calls, Executor, Job, ProcessExecutor
from grader.grade import ExerciseResult, TrialResult, grade_trial, score_exercise
from grader.sandbox import Limits
from grader.spec import Assignment
from grader.trials import Trial, make_trials

if TYPE_CHECKING:
    from grader.store import Store


@dataclass
class SubmissionResult:
    student_id: str
    status: str  # ok | error | crashed | timeout
    message: str
    exercises: list[ExerciseResult]
    trials: list[TrialResult] = field(default_factory=list)
    cells: list[dict[str, Any]] = field(default_factory=list)  # the cells that raised or timed out
    output: str = ""

    @property
    def total(self) -> float:
        return sum(e.score for e in self.exercises)


@dataclass(frozen=True)
class Options:
    seed: int | str = 0
    timeout: float = 10.0
    jobs: int = os.cpu_count() or 1
    limits: Limits = Limits()


def grade_submission(
    sub: Submission, assignment: Assignment, trials: dict[str, list[Trial]], timeout: float, executor: Executor
) -> SubmissionResult:
    """Run one notebook on the given trials (grading trials, or a bundle's public ones) and score it."""
    try:
        if sub.notebook is None:
            raise NotebookError(sub.error)
        cells = read_cells(sub.notebook)
    except NotebookError as exc:
        return _not_run(sub.student_id, assignment, "error", str(exc))
    calls = [Calls(e.id, e.function, [t.args for t in trials[e.id]]) for e in assignment.exercises]
    execution = executor.execute(Job(cells, sub.files, calls, timeout))
    results: list[ExerciseResult] = []
    trial_results: list[TrialResult] = []
    for exercise in assignment.exercises:
        made = execution.calls.get(exercise.id)
        if exercise.id in execution.missing:
            why = f"{exercise.function} is {execution.missing[exercise.id]} in the notebook"
            results.append(score_exercise(exercise, [], ("missing", why)))
        elif made is None:
            results.append(score_exercise(exercise, [], ("not_run", f"not graded: {execution.message}")))
        else:
            graded = [grade_trial(exercise, t, c) for t, c in zip(trials[exercise.id], made)]
            trial_results += graded
            results.append(score_exercise(exercise, graded))
    problems = [c for c in execution.cells if c["status"] != "ok"]
    return SubmissionResult(sub.student_id, execution.status, execution.message, results, trial_results, problems, execution.output)


def grade_all(
    submissions: Path,
    assignment: Assignment,
    options: Options,
    executor: Executor | None = None,
    on_start: Callable[[int], None] = lambda count: None,
    progress: Callable[[SubmissionResult], None] = lambda result: None,
    store: Store | None = None,
) -> list[SubmissionResult]:
    """Grade every submission under `submissions`; results come back sorted by student id.

    With a `store`, each result is committed as soon as it is graded, and results already in the
    store for the same content, assignment, seed and time limit are reused instead of regraded.
    """
    executor = executor or ProcessExecutor(limits=options.limits, slots=options.jobs)
    with tempfile.TemporaryDirectory(prefix="grader-unzip-") as scratch:
        subs = discover(submissions, Path(scratch))
        on_start(len(subs))

        stopping = threading.Event()

        def one(sub: Submission) -> SubmissionResult:
            stored_as = store.key(sub, assignment, options) if store else None
            result = store.get(stored_as) if store and stored_as else None
            if result is None:
                trials = {e.id: make_trials(e, options.seed, sub.student_id) for e in assignment.exercises}
                result = grade_submission(sub, assignment, trials, options.timeout, executor)
                if stopping.is_set():
                    raise Interrupted()  # killed by us, not by the student's code: not a result
                if store and stored_as:
                    store.put(stored_as, result)
            progress(result)
            return result

        pool = ThreadPoolExecutor(max_workers=max(1, options.jobs))
        try:
            return list(pool.map(one, subs))
        except BaseException:  # Ctrl-C, or a failure of the grader itself: stop the notebooks still running
            stopping.set()
            executor.stop()
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


class Interrupted(Exception):
    """The run was stopped; results still in flight are dropped, not stored."""


def _not_run(student_id: str, assignment: Assignment, status: str, message: str) -> SubmissionResult:
    exercises = [score_exercise(e, [], ("not_run", f"not graded: {message}")) for e in assignment.exercises]
    return SubmissionResult(student_id, status, message, exercises)
