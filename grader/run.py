"""The grading pipeline: discover → execute → call on trials → compare → score, one submission at a time.

Each submission is graded on its own, in its own process; worker processes, one per job, do the
grader's side; nothing one submission does can reach another's result.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import gc
import itertools
import multiprocessing
import multiprocessing.util
import os
import shutil
import signal
import sys
import tempfile
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

from grader.discover import NotebookError, Submission, discover, read_cells
from grader.execute import Executor, ProcessExecutor, StagingError
from grader.job import Calls, Job
from grader.fork import ForkExecutor
from grader.annotate import annotated, defining
from grader.example import reproduce
from grader.grade import ExerciseResult, TrialResult, grade_exercise, score_exercise
from grader.sandbox import Limits, Sandbox, alive, claim_slot, detect, unmount_under
from grader.spec import Assignment, load
from grader.trials import Trial, make_trials, plan

if TYPE_CHECKING:
    from grader.store import Store


def _kernel_executor(**options: Any) -> Executor:
    from grader.kernel import KernelExecutor  # nbclient and ZeroMQ are imported only for this executor

    return KernelExecutor(**options)


EXECUTORS: dict[str, Callable[..., Executor]] = {"fork": ForkExecutor, "process": ProcessExecutor, "kernel": _kernel_executor}


@dataclass
class SubmissionResult:
    student_id: str
    status: str  # ok | error | crashed | timeout
    message: str
    exercises: list[ExerciseResult]
    trials: list[TrialResult] = field(default_factory=list)
    cells: list[dict[str, Any]] = field(default_factory=list)  # the cells that raised or timed out
    output: str = ""
    notebook: str = ""  # the student's notebook with its outputs and feedback cells (.ipynb text), with `--notebooks`; a summary keeps "…" for one

    @property
    def total(self) -> float:
        return sum(e.score for e in self.exercises)

    def summary(self) -> SubmissionResult:
        """The scores without the per-trial details, the printed output and the notebook (whether there is one stays)."""
        return replace(self, trials=[], cells=[], output="", notebook="…" if self.notebook else "")


@dataclass
class Graded:
    """A graded class, in student order. With a store, memory holds only each submission's summary
    and the full results are read back one at a time: memory stays flat however large the class."""

    summaries: list[SubmissionResult]
    keys: list[str | None]
    store: Store | None = None
    reused: int = 0  # results taken from the store instead of graded again

    def __iter__(self) -> Iterator[SubmissionResult]:
        for summary, key in zip(self.summaries, self.keys):
            full = self.store.get(key) if self.store and key else None
            yield full or summary

    def __len__(self) -> int:
        return len(self.summaries)


@dataclass(frozen=True)
class Options:
    seed: int | str = 0
    timeout: float = 10.0
    jobs: int = os.cpu_count() or 1
    limits: Limits = Limits()
    executor: str = "fork"  # fork (warm servers) or process (a fresh Python per notebook)
    scheduler: str | None = None  # a Dask scheduler's address: grade on that cluster
    notebooks: bool = False  # also return each student's notebook with its outputs and feedback cells


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
        return not_run(sub.student_id, assignment, "error", str(exc))
    calls = [Calls(e.id, e.function, [t.args for t in trials[e.id] + examples.get(e.id, [])]) for e in assignment.exercises]
    try:
        execution = executor.execute(Job(cells, sub.files, calls, timeout))
    except StagingError as exc:
        return not_run(sub.student_id, assignment, "error", str(exc))
    results: list[ExerciseResult] = []
    trial_results: list[TrialResult] = []
    for exercise in assignment.exercises:
        made = execution.calls.get(exercise.id)
        if exercise.id in execution.missing:
            why = why_missing(exercise.function, execution.missing[exercise.id], cells, execution.cells)
            results.append(score_exercise(exercise, [], ("missing", why)))
        elif made is None:
            results.append(score_exercise(exercise, [], ("not_run", f"not graded: {execution.message}")))
        else:
            count = len(trials[exercise.id])
            scored, graded = grade_exercise(exercise, trials[exercise.id], made[:count])
            if scored.status != "passed" and examples.get(exercise.id):
                scored = replace(scored, example=reproduce(exercise, examples[exercise.id], made[count:]))
            trial_results += graded
            results.append(scored)
    problems = [c for c in execution.cells if c["status"] != "ok"]
    result = SubmissionResult(sub.student_id, execution.status, execution.message, results, trial_results, problems, execution.output)
    if notebook:
        try:
            result = replace(result, notebook=annotated(sub.notebook, result, assignment, execution.printed))
        except Exception as exc:  # its grade stands; only the returned notebook is missing, and the feedback says why
            result = replace(result, output=result.output + f"\n[the notebook with feedback could not be made: {type(exc).__name__}]")
    return result


def why_missing(function: str, why: str, cells: list[str], reports: list[dict[str, Any]]) -> str:
    """Why a function could not be called: when the code cell that defines it failed, that cell and
    its error (its definition never ran), rather than a bare "not defined"."""
    defines = defining(function)
    failed = {r["cell"]: r for r in reports if r.get("status") != "ok"}
    where = [index for index, source in enumerate(cells, start=1) if defines.search(source)]
    for index in reversed(where):  # the last definition is the one that counts
        if index in failed:
            report = failed[index]
            what = "ran past the time limit" if report["status"] == "timeout" else f"raised {report.get('error', {}).get('message', 'an error')}"
            return f"{function} is {why} in the notebook: code cell {index}, which defines it, {what}, so its definition never ran"
    if not where:
        return f"{function} is {why} in the notebook: no code cell defines it (is it spelled {function}?)"
    return f"{function} is {why} in the notebook"


def grade_all(
    submissions: Path,
    assignment: Assignment,
    options: Options,
    on_start: Callable[[int], None] = lambda count: None,
    progress: Callable[[SubmissionResult], None] = lambda result: None,
    store: Store | None = None,
) -> Graded:
    """Grade every submission under `submissions`; results come back sorted by student id.

    `options.jobs` worker processes each keep one executor warm and grade one submission at a time
    (trials, execution, comparison), so grading uses every core. With a `store`, each result is
    committed as soon as it arrives, and results stored for the same content, assignment, seed and
    limits are reused instead of graded again.
    """
    for exercise in assignment.exercises:
        plan(exercise)  # a spec whose trials cannot discriminate stops here; forked workers inherit the plans
    with scratch(), tempfile.TemporaryDirectory(prefix="grader-unzip-") as unzipped:
        subs = discover(submissions, Path(unzipped))
        on_start(len(subs))
        keys = [store.key(sub, assignment, options) if store else None for sub in subs]
        graded = Graded([], keys, store)
        summaries: dict[str, SubmissionResult] = {}
        todo: list[Submission] = []
        for sub, key in zip(subs, keys):
            stored = store.get(key) if store and key else None
            if stored:
                summaries[sub.student_id] = stored.summary()
                graded.reused += 1
                progress(stored)
            else:
                todo.append(sub)
        stored_as = dict(zip((s.student_id for s in subs), keys))

        def handle(result: SubmissionResult) -> None:
            key = stored_as[result.student_id]
            if store and key:
                store.put(key, result)
            summaries[result.student_id] = result.summary() if store and key else result
            progress(result)

        if todo and options.scheduler:
            from grader.cluster import grade_on_cluster  # Dask is imported only for a cluster run

            grade_on_cluster(options.scheduler, todo, assignment, options, handle)
        elif todo:
            jobs = max(1, min(options.jobs, len(todo)))
            context = multiprocessing.get_context("fork")  # the workers start warm; the caller must hold no threads
            with ProcessPoolExecutor(jobs, context, initializer=_start_worker, initargs=(options, detect(), os.getpid())) as pool:
                queue = iter(todo)
                pending = {pool.submit(_grade_in_worker, sub, assignment.path, options) for sub in itertools.islice(queue, 2 * jobs)}
                while pending:  # a few submissions in flight at a time: finished ones are let go
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        handle(future.result())
                        pending |= {pool.submit(_grade_in_worker, sub, assignment.path, options) for sub in itertools.islice(queue, 1)}
        graded.summaries = [summaries[sub.student_id] for sub in subs]
        return graded


@contextlib.contextmanager
def scratch() -> Iterator[Path]:
    """The folder for what this run writes while grading (working copies, unpacked archives, the warm
    servers' boxes): <tmp>/grader-run-<pid>, which the notebooks' uids may pass through but not list,
    removed at the end. The folders of runs whose grader died (`kill -9`) are removed first."""
    base = Path(tempfile.gettempdir())
    for old in base.glob("grader-run-*"):
        pid = old.name.removeprefix("grader-run-")
        if pid.isdigit() and not alive(int(pid)):
            unmount_under(old)  # its notebooks' disk quotas
            shutil.rmtree(old, ignore_errors=True)
    root = base / f"grader-run-{os.getpid()}"
    root.mkdir(exist_ok=True)
    root.chmod(0o711)
    previous, tempfile.tempdir = tempfile.tempdir, str(root)  # the workers, forked from here, inherit it
    try:
        yield root
    finally:
        tempfile.tempdir = previous
        unmount_under(root)  # what a worker killed before its executor closed left mounted
        shutil.rmtree(root, ignore_errors=True)


_executor: Executor | None = None  # the warm executor of this worker process


def _start_worker(options: Options, sandbox: Sandbox, parent: int) -> None:
    global _executor
    die_with(parent)
    gc.freeze()  # what the worker inherited lives as long as it does: the collector need not scan it each time
    _executor = EXECUTORS[options.executor](sandbox=sandbox, limits=options.limits, slots=(claim_slot(),))
    multiprocessing.util.Finalize(None, _executor.close, exitpriority=10)


def die_with(parent: int) -> None:
    """End this worker (and with it its warm server and its slot) when the grader that started it
    dies, even by SIGKILL, which gives the grader no chance to stop it."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the grader died before that took effect
        os._exit(1)


@functools.cache
def _assignment(path: Path) -> Assignment:
    return load(path)


def _grade_in_worker(sub: Submission, assignment_path: Path, options: Options) -> SubmissionResult:
    assert _executor is not None
    return grade(sub, _assignment(assignment_path), options, _executor)


def grade(sub: Submission, assignment: Assignment, options: Options, executor: Executor) -> SubmissionResult:
    """One submission, on its own grading trials: those of (seed, student id, exercise, trial)."""
    trials = {e.id: make_trials(e, options.seed, sub.student_id) for e in assignment.exercises}
    return grade_submission(sub, assignment, trials, options.timeout, executor, notebook=options.notebooks)


def not_run(student_id: str, assignment: Assignment, status: str, message: str) -> SubmissionResult:
    exercises = [score_exercise(e, [], ("not_run", f"not graded: {message}")) for e in assignment.exercises]
    return SubmissionResult(student_id, status, message, exercises)
