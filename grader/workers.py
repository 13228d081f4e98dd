"""The grading worker processes of a local run: each keeps one executor warm and grades one
submission at a time, and dies with the grader, even when the grader is killed with `kill -9`."""

from __future__ import annotations

import ctypes
import functools
import gc
import multiprocessing.util
import os
import signal
import sys
from pathlib import Path

from grader.executors import executor
from grader.executors.base import Executor
from grader.executors.sandbox import Sandbox
from grader.grading import grade
from grader.model import Options, Submission, SubmissionResult
from grader.spec import Assignment, load

_executor: Executor | None = None  # the warm executor of this worker process


def start_worker(options: Options, sandbox: Sandbox, parent: int) -> None:
    """A pool's initializer: the worker's executor, which claims its slot and keeps it until the worker ends."""
    global _executor
    die_with(parent)
    gc.freeze()  # what the worker inherited lives as long as it does: the collector need not scan it each time
    _executor = executor(options.executor, sandbox=sandbox, limits=options.limits)
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


def grade_in_worker(sub: Submission, assignment_path: Path, options: Options) -> SubmissionResult:
    assert _executor is not None
    return grade(sub, _assignment(assignment_path), options, _executor)
