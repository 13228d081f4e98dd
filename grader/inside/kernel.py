"""A notebook's Jupyter kernel (`--executor kernel`): ipykernel, started after the limits are set and
the uid is dropped, with each cell under the same time limit as in the other executors."""

from __future__ import annotations

import os
import sys
import traceback
from typing import Any, BinaryIO

from .guard import arm, enter
from .runner import Run, forget_failure, students_tracebacks
from .wire import FRAMES_FILE, KERNEL_MODULE, unpack

_kernel_job: tuple[dict[str, Any], Any, BinaryIO] | None = None


def kernel(connection_file: str, job_path: str) -> None:
    """A notebook's Jupyter kernel: `--kernel CONNECTION JOB` (`--executor kernel`).

    The job is read and the frames file opened while the process may still do so; then the limits
    are set and the uid dropped, and only then does ipykernel start. Each cell runs under the same
    alarm as in a forked child; after the notebook's cells the grader sends one more cell,
    `kernel_calls(...)`, which makes the exercises' calls and writes their frames."""
    global _kernel_job
    with open(job_path, "rb") as f:
        job, job_arrays = unpack(f.read())
    os.unlink(job_path)
    channel = open(os.path.join(os.path.dirname(job_path), FRAMES_FILE), "wb")
    _kernel_job = job, job_arrays, channel
    sys.modules[KERNEL_MODULE] = sys.modules[__name__]  # where the calls cell finds kernel_calls
    enter(job)
    if os.environ.get("JPY_PARENT_PID") != str(os.getppid()):  # in a pid namespace the grader is out of sight:
        os.environ.pop("JPY_PARENT_PID", None)  # ipykernel must not take that for its parent's death
    from ipykernel.kernelapp import IPKernelApp

    app = IPKernelApp.instance()
    app.initialize(["-f", connection_file, "--HistoryManager.hist_file=:memory:", "--InteractiveShell.colors=nocolor"])

    def after_cell(result: Any) -> None:
        arm(0)
        if result.error_in_exec is not None:  # e.g. a MemoryError whose frames still hold the memory
            traceback.clear_frames(result.error_in_exec.__traceback__)
            forget_failure(app.shell)

    students_tracebacks(app.shell)
    app.shell.events.register("pre_run_cell", lambda info: arm(job["timeout"]))
    app.shell.events.register("post_run_cell", after_cell)
    app.start()


def kernel_calls(cell_of_count: dict[int, int]) -> None:
    """The calls cell of `--executor kernel`: every exercise's calls, then `done`, as frames."""
    assert _kernel_job is not None
    job, job_arrays, channel = _kernel_job
    arm(0)  # each call has its own limit
    run = Run(job, job_arrays, channel)
    run.cell_of_count = cell_of_count
    run.call_all()
    run.send({"event": "done"})
    channel.close()
