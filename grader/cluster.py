"""Grading on a Dask cluster (`grader run --scheduler tcp://HOST:8786`), for classes one machine
cannot keep up with. Imported only when a scheduler is given; needs `pip install -e '.[dask]'`.

Each task grades one submission exactly as a local worker does (same executor, same sandbox), on
whichever Dask worker runs it. The task carries the notebook's files and the assignment's (its spec
and its own modules), so the workers need the grader installed but none of the client's files. Results come back to the client,
which commits them to its store as they arrive. Dask retries a task whose worker died on another
worker; a submission that kills `distributed.scheduler.allowed-failures` workers is marked as
crashed and not retried again.
"""

from __future__ import annotations

import hashlib
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from distributed import Client, as_completed
from distributed.scheduler import KilledWorker

from grader.executors import executor
from grader.executors.base import Executor
from grader.executors.sandbox import detect
from grader.grading import grade, not_run
from grader.model import Options, RunStatus, Submission, SubmissionResult
from grader.spec import Assignment, assignment_files, load


@dataclass(frozen=True)
class Parcel:
    """A submission with its files, as a task carries it to a worker on another machine."""

    student_id: str
    notebook: str  # the notebook's path among `files`
    files: dict[str, bytes]
    folder: bool  # the submission was a folder (its files are copied beside the notebook)

    @classmethod
    def of(cls, sub: Submission) -> Parcel:
        assert sub.notebook is not None and sub.files is not None
        if sub.files.is_dir():
            files = {str(p.relative_to(sub.files)): p.read_bytes() for p in sub.files.rglob("*") if p.is_file()}
            return cls(sub.student_id, str(sub.notebook.relative_to(sub.files)), files, True)
        return cls(sub.student_id, sub.notebook.name, {sub.notebook.name: sub.notebook.read_bytes()}, False)

    def unpack(self, into: Path) -> Submission:
        for name, data in self.files.items():
            (into / name).parent.mkdir(parents=True, exist_ok=True)
            (into / name).write_bytes(data)
        notebook = into / self.notebook
        return Submission(self.student_id, notebook, into if self.folder else notebook)


def grade_on_cluster(
    scheduler: str,
    subs: list[Submission],
    assignment: Assignment,
    options: Options,
    handle: Callable[[SubmissionResult], None],
) -> None:
    """Grade `subs` on the cluster, calling `handle(result)` in this process as each one arrives."""
    spec = assignment_files(assignment)
    for sub in subs:
        if sub.notebook is None:  # nothing to send: its error is known here
            handle(not_run(sub.student_id, assignment, RunStatus.ERROR, sub.error))
    try:
        client = Client(scheduler, timeout="10s")
    except OSError as exc:
        raise ConnectionError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
    with client:
        futures = {
            client.submit(grade_parcel, Parcel.of(sub), assignment.path.name, spec, options, pure=False, key=f"grade-{i}-{sub.student_id}"): sub
            for i, sub in enumerate(subs)
            if sub.notebook is not None
        }
        for future in as_completed(futures):
            try:
                result = future.result()
            except KilledWorker as exc:
                why = f"grading it killed every Dask worker it ran on ({exc}); it was not retried again"
                result = not_run(futures[future].student_id, assignment, RunStatus.CRASHED, why)
            handle(result)
            future.release()


_local = threading.local()  # each worker thread keeps its own warm executor, with its own slot and uid


def _executor(options: Options) -> Executor:
    if getattr(_local, "executor", None) is None:
        _local.executor = executor(options.executor, sandbox=detect(), limits=options.limits)
    return _local.executor


def _assignment(name: str, spec: dict[str, bytes]) -> Assignment:
    """The assignment's files (its spec and its own modules), written once per worker process into a
    folder of the same name, and loaded."""
    cache = getattr(_local, "specs", None) or {}
    _local.specs = cache
    digest = hashlib.sha256(b"\0".join(k.encode() + b"\0" + v for k, v in sorted(spec.items()))).hexdigest()
    if digest not in cache:
        folder = Path(tempfile.mkdtemp(prefix="grader-spec-")) / name
        for relative, data in spec.items():
            (folder / relative).parent.mkdir(parents=True, exist_ok=True)
            (folder / relative).write_bytes(data)
        cache[digest] = load(folder)
    return cache[digest]


def grade_parcel(parcel: Parcel, name: str, spec: dict[str, bytes], options: Options) -> SubmissionResult:
    """The task: one submission, graded on a Dask worker as a local worker would grade it."""
    assignment = _assignment(name, spec)
    with tempfile.TemporaryDirectory(prefix="grader-parcel-") as tmp:
        return grade(parcel.unpack(Path(tmp)), assignment, options, _executor(options))
