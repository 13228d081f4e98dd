"""One submission, graded: its notebook run on the trials, each exercise compared and scored.

Pure in all but the executor it is given: the same submission, trials and executor give the same
result, whichever process (a local worker, a Dask worker, the self-check) calls it.
"""

from __future__ import annotations

from dataclasses import replace

from grader.discover import NotebookError, read_cells
from grader.executors.base import Executor, StagingError
from grader.executors.received import cap
from grader.model import Calls, CellReport, CellStatus, ExerciseResult, ExerciseStatus, Job, Options, RunStatus, Submission, SubmissionResult, TrialResult
from grader.reports.annotate import annotated, defining
from grader.scoring.example import reproduce
from grader.scoring.score import grade_exercise, score_exercise
from grader.spec import Assignment
from grader.trials import Trial, make_trials


def grade(sub: Submission, assignment: Assignment, options: Options, executor: Executor) -> SubmissionResult:
    """One submission, on its own grading trials: those of (seed, student id, exercise, trial)."""
    trials = {e.id: make_trials(e, options.seed, sub.student_id) for e in assignment.exercises}
    return grade_submission(sub, assignment, trials, options.timeout, executor, notebook=options.notebooks)


def grade_submission(
    sub: Submission, assignment: Assignment, trials: dict[str, list[Trial]], timeout: float, executor: Executor,
    examples: dict[str, list[Trial]] | None = None, notebook: bool = False,
) -> SubmissionResult:
    """Run one notebook on the given trials (grading trials, or a bundle's public ones) and score it;
    with `examples` (the self-check's small cases), a failing exercise also gets the smallest case it
    fails; with `notebook`, the result holds the student's notebook with its outputs and feedback cells."""
    examples = examples or {}
    try:
        if sub.notebook is None:
            raise NotebookError(sub.error)
        cells = read_cells(sub.notebook)
    except NotebookError as exc:
        return not_run(sub.student_id, assignment, RunStatus.ERROR, str(exc))
    calls = [Calls(e.id, e.function, [t.args for t in trials[e.id] + examples.get(e.id, [])]) for e in assignment.exercises]
    try:
        execution = executor.execute(Job(cells, sub.files, calls, timeout))
    except StagingError as exc:
        return not_run(sub.student_id, assignment, RunStatus.ERROR, str(exc))
    results: list[ExerciseResult] = []
    trial_results: list[TrialResult] = []
    for exercise in assignment.exercises:
        made = execution.calls.get(exercise.id)
        if exercise.id in execution.missing:
            why = why_missing(exercise.function, execution.missing[exercise.id], cells, execution.cells)
            results.append(score_exercise(exercise, [], (ExerciseStatus.MISSING, why)))
        elif made is None:
            results.append(score_exercise(exercise, [], (ExerciseStatus.NOT_RUN, f"not graded: {execution.message}")))
        else:
            count = len(trials[exercise.id])
            scored, graded = grade_exercise(exercise, trials[exercise.id], made[:count])
            if scored.status != ExerciseStatus.PASSED and examples.get(exercise.id):
                scored = replace(scored, example=reproduce(exercise, examples[exercise.id], made[count:]))
            trial_results += graded
            results.append(scored)
    problems = [c for c in execution.cells if c.status != CellStatus.OK]
    hidden = any(e.has_hidden for e in assignment.exercises)
    output = cap("".join(execution.printed)) if hidden else execution.output  # what the calls printed could show a hidden trial's inputs
    result = SubmissionResult(sub.student_id, execution.status, execution.message, results, trial_results, problems, output)
    if notebook:
        try:
            result = replace(result, notebook=annotated(sub.notebook, result, assignment, execution.printed))
        except Exception as exc:  # its grade stands; only the returned notebook is missing, and the feedback says why
            result = replace(result, output=result.output + f"\n[the notebook with feedback could not be made: {type(exc).__name__}]")
    return result


def why_missing(function: str, why: str, cells: list[str], reports: list[CellReport]) -> str:
    """Why a function could not be called: when the code cell that defines it failed, that cell and
    its error (its definition never ran), rather than a bare "not defined"."""
    defines = defining(function)
    failed = {r.cell: r for r in reports if r.status != CellStatus.OK}
    where = [index for index, source in enumerate(cells, start=1) if defines.search(source)]
    for index in reversed(where):  # the last definition is the one that counts
        if index in failed:
            report = failed[index]
            what = "ran past the time limit" if report.status == CellStatus.TIMEOUT else f"raised {report.error.message if report.error else 'an error'}"
            return f"{function} is {why} in the notebook: code cell {index}, which defines it, {what}, so its definition never ran"
    if not where:
        return f"{function} is {why} in the notebook: no code cell defines it (is it spelled {function}?)"
    return f"{function} is {why} in the notebook"


def not_run(student_id: str, assignment: Assignment, status: RunStatus, message: str) -> SubmissionResult:
    exercises = [score_exercise(e, [], (ExerciseStatus.NOT_RUN, f"not graded: {message}")) for e in assignment.exercises]
    return SubmissionResult(student_id, status, message, exercises)
