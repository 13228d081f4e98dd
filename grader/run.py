"""A class, graded: discover the submissions, reuse what the store holds, grade the rest in worker
processes (or on a Dask cluster), and stream each result into the store as it arrives.

Each submission is graded on its own (`grader.grading`), its notebook in its own process; nothing
one submission does can reach another's result.
"""

from __future__ import annotations

import contextlib
import itertools
import multiprocessing
import os
import shutil
import tempfile
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator

from grader.discover import discover
from grader.executors.sandbox import alive, detect, unmount_under
from grader.model import Options, Submission, SubmissionResult
from grader.spec import Assignment
from grader.trials import plan
from grader.workers import grade_in_worker, start_worker

if TYPE_CHECKING:
    from grader.store import Store


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
        subs = discover(submissions, Path(unzipped), options.nbgrader)
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
            with ProcessPoolExecutor(jobs, context, initializer=start_worker, initargs=(options, detect(), os.getpid())) as pool:
                queue = iter(todo)
                pending = {pool.submit(grade_in_worker, sub, assignment.path, options) for sub in itertools.islice(queue, 2 * jobs)}
                while pending:  # a few submissions in flight at a time: finished ones are let go
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        handle(future.result())
                        pending |= {pool.submit(grade_in_worker, sub, assignment.path, options) for sub in itertools.islice(queue, 1)}
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
