"""Run one notebook in its own process and bring back what its functions returned, as data.

The executor is the only place where processes are started. `Executor` is the whole interface the
rest of the grader sees: a `Job` in (the cells and the calls to make), an `Execution` out.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from grader import harness

OUTPUT_CAP = 64 * 1024  # bytes of the notebook's printed output kept for feedback
STARTUP_GRACE = 10.0  # seconds on top of the per-cell and per-call limits, for starting Python and IPython


@dataclass(frozen=True)
class Calls:
    """The trials of one exercise: call `function` with each of `trials` (ordered argument dicts)."""

    exercise: str
    function: str
    trials: list[dict[str, Any]]


@dataclass(frozen=True)
class Job:
    cells: list[str]
    files: Path | None  # the submission's folder (or notebook file), copied into a working directory
    calls: list[Calls]
    timeout: float  # seconds per cell and per call


@dataclass
class Call:
    status: str  # ok | raised | timeout | skipped
    result: Any = None
    inputs_after: dict[str, Any] | None = None
    error: dict[str, str] | None = None


@dataclass
class Execution:
    status: str  # ok | crashed | timeout
    message: str = ""
    cells: list[dict[str, Any]] = field(default_factory=list)  # harness cell reports
    calls: dict[str, list[Call]] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)  # exercise id -> why it could not be called
    output: str = ""


class Executor(Protocol):
    def execute(self, job: Job) -> Execution: ...


class ProcessExecutor:
    """A fresh `python -I` per notebook running `grader/harness.py`, in its own session, in a
    temporary copy of the submission, with a minimal environment."""

    def execute(self, job: Job) -> Execution:
        with tempfile.TemporaryDirectory(prefix="grader-") as tmp:
            work = Path(tmp) / "work"
            _copy_submission(job.files, work)
            job_file, capture = Path(tmp) / "job.npz", Path(tmp) / "output.txt"
            job_file.write_bytes(_pack_job(job))
            budget = job.timeout * (len(job.cells) + len(job.calls) + 1) + STARTUP_GRACE
            stdout, returncode, timed_out = _run([sys.executable, "-I", harness.__file__, str(job_file), str(capture)], work, capture, budget)
            execution = _read_frames(stdout)
            execution.output = _read_capped(capture)
        if timed_out:
            execution.status, execution.message = "timeout", f"the notebook was stopped after {budget:.0f} s in all ({execution.message})"
        elif execution.status != "ok":
            execution.message = f"the notebook's process died ({_exit_reason(returncode)}) {execution.message}"
        return execution


def _copy_submission(files: Path | None, work: Path) -> None:
    if files is not None and files.is_dir():
        shutil.copytree(files, work, symlinks=True)
    else:
        work.mkdir()
        if files is not None:
            shutil.copy2(files, work / files.name)


def _pack_job(job: Job) -> bytes:
    arrays: dict[str, np.ndarray] = {}
    exercises = [
        {"id": c.exercise, "function": c.function, "trials": [harness.encode(t, arrays) for t in c.trials]} for c in job.calls
    ]
    return harness.pack({"cells": job.cells, "exercises": exercises, "timeout": job.timeout}, arrays)


def _environment(work: Path) -> dict[str, str]:
    """Only what a notebook needs: nothing of the grader's environment (which may hold the seed)."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(work),
        "IPYTHONDIR": str(work.parent / "ipython"),
        "MPLBACKEND": "Agg",
        "LANG": "C.UTF-8",
        "PYTHONIOENCODING": "utf-8",
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        **{k: v for k, v in os.environ.items() if k.startswith("OPENBLAS_CORETYPE") or k == "OPENBLAS_L2_SIZE"},
    }


def _run(argv: list[str], work: Path, capture: Path, budget: float) -> tuple[bytes, int, bool]:
    with open(capture, "ab") as err:
        proc = subprocess.Popen(
            argv, cwd=work, env=_environment(work), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err, start_new_session=True
        )
    timed_out = False
    try:
        stdout, _ = proc.communicate(timeout=budget)
    except subprocess.TimeoutExpired:
        timed_out = True
        _kill_group(proc.pid)
        stdout, _ = proc.communicate()
    _kill_group(proc.pid)  # whatever the notebook left running
    return stdout, proc.returncode, timed_out


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _read_frames(stdout: bytes) -> Execution:
    """Rebuild what the harness reported; where the reports stop says where the process died."""
    execution = Execution(status="crashed", message="before it ran any cell")
    for frame in harness.frames(stdout):
        try:
            report, arrays = harness.unpack(frame)
        except Exception:
            execution.message = "and sent malformed results"
            break
        event = report.get("event")
        if event == "cell_start":
            execution.message = f"while running code cell {report['cell']}"
        elif event == "cell":
            execution.cells.append(report)
            execution.message = f"after code cell {report['cell']}"
        elif event == "exercise_start":
            execution.message = f"while calling the function of exercise {report['id']}"
        elif event == "exercise":
            if "missing" in report:
                execution.missing[report["id"]] = report["missing"]
            execution.calls[report["id"]] = [_call(c, arrays) for c in report["calls"]]
        elif event == "done":
            execution.status, execution.message = "ok", ""
    return execution


def _call(report: dict[str, Any], arrays: Any) -> Call:
    decoded = {k: harness.decode(report[k], arrays) for k in ("result", "inputs_after") if k in report}
    return Call(status=report["status"], error=report.get("error"), **decoded)


def _read_capped(path: Path) -> str:
    if not path.exists():
        return ""
    with open(path, "rb") as f:
        data = f.read(OUTPUT_CAP + 1)
    text = data[:OUTPUT_CAP].decode("utf-8", errors="replace")
    return text + ("\n[... output cut ...]" if len(data) > OUTPUT_CAP else "")


def _exit_reason(returncode: int | None) -> str:
    if returncode is not None and returncode < 0:
        try:
            return f"killed by signal {-returncode} ({signal.Signals(-returncode).name})"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit code {returncode}"
