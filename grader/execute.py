"""Run one notebook in its own process and bring back what its functions returned, as data.

The executor is the only place where processes are started. `Executor` is the whole interface the
rest of the grader sees: a `Job` in (the cells and the calls to make), an `Execution` out.
"""

from __future__ import annotations

import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from grader import harness
from grader.sandbox import Limits, Sandbox, detect

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

    def stop(self) -> None:
        """Kill every notebook still running (the run was interrupted)."""


class ProcessExecutor:
    """A fresh `python -I` per notebook running `grader/harness.py`, in a temporary copy of the
    submission, with a minimal environment, inside every sandbox layer this machine has."""

    def __init__(self, sandbox: Sandbox | None = None, limits: Limits = Limits(), slots: int = 1) -> None:
        self.sandbox = sandbox or detect()
        self.limits = limits
        self._slots: queue.Queue[int] = queue.Queue()
        for slot in range(max(1, slots)):  # one uid per notebook running at once
            self._slots.put(slot)
        self._live: set[int] = set()  # process groups of the notebooks running now
        self._lock = threading.Lock()

    def stop(self) -> None:
        with self._lock:
            for pgid in self._live:
                _kill_group(pgid)

    def execute(self, job: Job) -> Execution:
        slot = self._slots.get()
        try:
            return self._execute(job, self.sandbox.uid(slot))
        finally:
            self._slots.put(slot)

    def _execute(self, job: Job, uid: int | None) -> Execution:
        budget = job.timeout * (len(job.cells) + len(job.calls) + 1) + STARTUP_GRACE
        with tempfile.TemporaryDirectory(prefix="grader-") as tmp:
            box = Path(tmp) / "box"  # all the notebook's process may see of the grader's files
            _copy_submission(job.files, box / "work")
            shutil.copy(harness.__file__, box / "harness.py")
            (box / "job.npz").write_bytes(_pack_job(job, self.limits.as_dict(budget), uid))
            if uid is not None:
                _hand_over(Path(tmp), box, uid)
            inside = self.sandbox.path(box)
            argv = self.sandbox.command([sys.executable, "-I", str(inside / "harness.py"), str(inside / "job.npz")], box)
            capture = Path(tmp) / "output.txt"
            stdout, returncode, timed_out = self._run(argv, box / "work", _environment(inside), capture, budget)
            execution = _read_frames(stdout)
            execution.output = _read_capped(capture)
        if timed_out:
            execution.status, execution.message = "timeout", f"the notebook was stopped after {budget:.0f} s in all ({execution.message})"
        elif execution.status != "ok":
            execution.message = f"the notebook's process died ({_exit_reason(returncode)}) {execution.message}"
        return execution

    def _run(self, argv: list[str], work: Path, env: dict[str, str], capture: Path, budget: float) -> tuple[bytes, int, bool]:
        with open(capture, "ab") as err:
            proc = subprocess.Popen(
                argv, cwd=work, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err, start_new_session=True
            )
        with self._lock:
            self._live.add(proc.pid)
        timed_out = False
        try:
            stdout, _ = proc.communicate(timeout=budget)
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill_group(proc.pid)
            stdout, _ = proc.communicate()
        finally:
            _kill_group(proc.pid)  # whatever the notebook left running
            with self._lock:
                self._live.discard(proc.pid)
        return stdout, proc.returncode, timed_out


def _copy_submission(files: Path | None, work: Path) -> None:
    if files is not None and files.is_dir():
        shutil.copytree(files, work, symlinks=True)
    else:
        work.mkdir(parents=True)
        if files is not None:
            shutil.copy2(files, work / files.name)


def _hand_over(tmp: Path, box: Path, uid: int) -> None:
    """Make the working copy the notebook's own uid's; the rest stays root's, traversable only."""
    for folder in (tmp, box):
        folder.chmod(0o711)
    (box / "ipython").mkdir()
    for path in [box / "work", box / "ipython", *(box / "work").rglob("*")]:
        os.chown(path, uid, uid, follow_symlinks=False)


def _pack_job(job: Job, limits: dict[str, int], uid: int | None) -> bytes:
    arrays: dict[str, np.ndarray] = {}
    exercises = [
        {"id": c.exercise, "function": c.function, "trials": [harness.encode(t, arrays) for t in c.trials]} for c in job.calls
    ]
    manifest = {"cells": job.cells, "exercises": exercises, "timeout": job.timeout, "limits": limits, "uid": uid}
    return harness.pack(manifest, arrays)


def _environment(box: Path) -> dict[str, str]:
    """Only what a notebook needs: nothing of the grader's environment (which may hold the seed)."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(box / "work"),
        "IPYTHONDIR": str(box / "ipython"),
        "MPLBACKEND": "Agg",
        "LANG": "C.UTF-8",
        "PYTHONIOENCODING": "utf-8",
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        **{k: v for k, v in os.environ.items() if k.startswith("OPENBLAS_CORETYPE") or k == "OPENBLAS_L2_SIZE"},
    }


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
            name = signal.Signals(-returncode).name
        except ValueError:
            return f"killed by signal {-returncode}"
        why = {"SIGXCPU": ": it used up its CPU time", "SIGXFSZ": ": it wrote a file past the size limit"}.get(name, "")
        return f"killed by signal {-returncode} ({name}){why}"
    if returncode is not None and returncode > 128:  # bubblewrap reports a killed child as 128 + signal
        return _exit_reason(128 - returncode)
    return f"exit code {returncode}"
