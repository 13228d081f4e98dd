"""Run one notebook in its own process and bring back what its functions returned, as data.

Executors (this module's one-process-per-notebook `ProcessExecutor`, and `grader.fork`'s warm
servers) are the only places where student processes are started. `Executor` is the whole
interface the rest of the grader sees: a `Job` in (the cells and the calls to make), an
`Execution` out. The helpers below are what both executors share.
"""

from __future__ import annotations

import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Protocol, Sequence

import numpy as np

from grader import harness
from grader.job import Execution, Job
from grader.received import read_frames, safe_text
from grader.cgroup import MemoryCap
from grader.sandbox import Limits, Sandbox, claim_slot, detect, inodes

OUTPUT_CAP = 64 * 1024  # bytes of the notebook's printed output kept for feedback
FRAMES_CAP = Limits.file_size  # bytes of frames read from one notebook: as much as its file size limit lets it write
STARTUP_GRACE = 10.0  # seconds on top of the per-cell and per-call limits, for starting Python and IPython


class Executor(Protocol):
    def execute(self, job: Job) -> Execution: ...

    def close(self) -> None:
        """Release what the executor holds (warm processes, directories) once grading is done."""


class ProcessExecutor:
    """A fresh `python -I` per notebook running `grader/harness.py`, in a temporary copy of the
    submission, with a minimal environment, inside every sandbox layer this machine has."""

    def __init__(self, sandbox: Sandbox | None = None, limits: Limits = Limits(), slots: Sequence[int] | None = None) -> None:
        self.sandbox = sandbox or detect()
        self.limits = limits
        self._slots: queue.Queue[int] = queue.Queue()
        self._caps: dict[int, MemoryCap | None] = {}
        for slot in slots or (claim_slot(),):  # one uid and one memory cgroup per notebook running at once
            self._caps[slot] = self.sandbox.memory_cap(slot, limits)
            self._slots.put(slot)

    def close(self) -> None:
        for cap in self._caps.values():  # nothing else outlives a notebook
            if cap is not None:
                cap.remove()

    def execute(self, job: Job) -> Execution:
        slot = self._slots.get()
        try:
            return self._execute(job, self.sandbox.uid(slot), self._caps[slot])
        finally:
            self._slots.put(slot)

    def _execute(self, job: Job, uid: int | None, cap: MemoryCap | None) -> Execution:
        seconds = budget(job)
        with tempfile.TemporaryDirectory(prefix="grader-") as tmp:
            box = Path(tmp) / "box"  # all the notebook's process may see of the grader's files
            (box / "work").mkdir(parents=True)
            with self.sandbox.quota(box / "work", self.limits.disk):
                return self._run_in(box, job, uid, cap, seconds, Path(tmp))

    def _run_in(self, box: Path, job: Job, uid: int | None, cap: MemoryCap | None, seconds: float, tmp: Path) -> Execution:
        stage(box, box / "work", job, self.limits, seconds, uid, tmp)
        shutil.copy(harness.__file__, box / "harness.py")
        inside = self.sandbox.path(box)
        argv = [sys.executable, "-I", str(inside / "harness.py"), str(inside / harness.JOB_FILE)]
        capture, frames = tmp / "output.txt", tmp / harness.FRAMES_FILE
        returncode, timed_out = self._run(self.sandbox.command(argv, box, disk=self.limits.disk, cap=cap), box / "work", environment(inside), capture, frames, seconds)
        self.sandbox.end(uid)  # without namespaces, what left the process group (a session of its own)
        execution = read_frames(messages_in(frames), job)
        output, execution.printed = read_output(capture, execution.cells)
        execution = finish(execution, output, returncode, timed_out, seconds)
        return reached(execution, box / "work", self.limits, self.sandbox, cap)

    def _run(self, argv: list[str], work: Path, env: dict[str, str], capture: Path, frames: Path, budget: float) -> tuple[int, bool]:
        """Run the harness with its frames going to a file, which the notebook's file size limit caps
        (a pipe has no such limit: a flooding notebook grew the grader to gigabytes)."""
        with open(capture, "ab") as err, open(frames, "wb") as out:
            proc = subprocess.Popen(argv, cwd=work, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err, start_new_session=True)
        timed_out = False
        try:
            proc.wait(timeout=budget)
        except subprocess.TimeoutExpired:
            timed_out = True
            kill_group(proc.pid)
            proc.wait()
        finally:
            kill_group(proc.pid)  # whatever the notebook left running
        return proc.returncode, timed_out


def budget(job: Job) -> float:
    """Seconds the whole notebook may take: every cell and every exercise at its limit, and start-up."""
    return job.timeout * (len(job.cells) + len(job.calls) + 1) + STARTUP_GRACE


def finish(execution: Execution, output: str, returncode: int | None, timed_out: bool, seconds: float) -> Execution:
    """Add how the process ended to what its frames said."""
    execution.output = output
    if timed_out:
        execution.status, execution.message = "timeout", f"the notebook was stopped after {seconds:.0f} s in all ({execution.message})"
    elif execution.status == "crashed":
        execution.message = f"the notebook's process died ({exit_reason(returncode)}) {execution.message}"
    return execution


class StagingError(Exception):
    """The submission's working copy could not be made (larger than the disk quota, a full disk)."""


def stage(folder: Path, work: Path, job: Job, limits: Limits, seconds: float, uid: int | None, *above: Path) -> None:
    """Put the job's file in `folder` and its working copy in `work` (an empty folder, its disk quota);
    with a uid, hand the working copy over (`folder` and the folders `above` it stay root's, traversable only)."""
    try:
        copy_submission(job.files, work)
        (folder / harness.JOB_FILE).write_bytes(pack_job(job, limits.as_dict(seconds), uid))
    except OSError as exc:  # shutil.Error, of copytree, lists every file: not shown
        why = f" ({exc.strerror})" if exc.strerror else ""
        raise StagingError(
            f"its files could not be copied for grading{why}: a submission's files may take at most "
            f"{limits.disk // 2**20} MiB and {inodes(limits.disk)} files, its disk quota"
        ) from None
    if uid is not None:
        hand_over(work, uid, *above, folder)


def reached(execution: Execution, work: Path, limits: Limits, sandbox: Sandbox, cap: MemoryCap | None) -> Execution:
    """Say so when a notebook that did not end well had filled its disk quota (`work`'s tmpfs: its own
    writes failed from then on) or reached its memory cap (the kernel ended one of its processes)."""
    capped = cap is not None and cap.reached()  # asked after every notebook: a kill is counted for its own
    if execution.status == "ok":
        return execution
    if sandbox.quota_on:
        stats = os.statvfs(work)
        if stats.f_bavail * stats.f_frsize < 2**20:
            execution.message += f" (it had filled its disk quota of {limits.disk // 2**20} MiB)"
    if capped:
        execution.message += (f" (its processes had reached their memory cap of {limits.together // 2**20} MiB "
                              "together, and the system ended one of them)")
    return execution


def copy_submission(files: Path | None, work: Path) -> None:
    if files is not None and files.is_dir():
        shutil.copytree(files, work, dirs_exist_ok=True)  # its links (to its own files, as discover allows) become copies
    else:
        work.mkdir(parents=True, exist_ok=True)
        if files is not None:
            shutil.copy2(files, work / files.name)


def hand_over(work: Path, uid: int, *traversable: Path) -> None:
    """Make the working copy the notebook's own uid's, and private to it (another notebook's uid may
    not even list it); the folders above it stay root's, and can be passed through but not listed."""
    for folder in traversable:
        folder.chmod(0o711)
    for path in [work, *work.rglob("*")]:
        os.chown(path, uid, uid, follow_symlinks=False)
    work.chmod(0o700)


def pack_job(job: Job, limits: dict[str, int], uid: int | None) -> bytes:
    arrays: dict[str, np.ndarray] = {}
    exercises = [
        {"id": c.exercise, "function": c.function, "trials": [harness.encode(t, arrays) for t in c.trials]} for c in job.calls
    ]
    manifest = {"cells": job.cells, "exercises": exercises, "timeout": job.timeout, "limits": limits, "uid": uid}
    return harness.pack(manifest, arrays)


def environment(box: Path) -> dict[str, str]:
    """Only what a notebook needs: nothing of the grader's environment (which may hold the seed)."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(box / "work"),
        "USER": "student",  # the notebook's uid has no passwd entry: getpass.getuser() reads these instead
        "LOGNAME": "student",
        "IPYTHONDIR": str(box / "ipython"),
        "MPLBACKEND": "Agg",
        "LANG": "C.UTF-8",
        "PYTHONIOENCODING": "utf-8",
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        **{k: v for k, v in os.environ.items() if k.startswith("OPENBLAS_CORETYPE") or k == "OPENBLAS_L2_SIZE"},
    }


def kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def messages_in(path: Path) -> list[tuple[dict[str, Any], dict[str, np.ndarray]]]:
    """The messages of a frames file, of which at most FRAMES_CAP bytes are read (the rest of a
    larger one makes a broken last frame)."""
    if not path.exists():
        return []
    with open(path, "rb") as f:
        return messages(f.read(FRAMES_CAP))


def messages(stream: bytes) -> list[tuple[dict[str, Any], dict[str, np.ndarray]]]:
    """Every complete frame of a harness's output, unpacked; a malformed one, or bytes after the
    last complete frame (the harness writes each frame whole), end the list with a `malformed` event."""
    out = []
    complete, rest = harness.frames(stream)
    for frame in complete:
        try:
            out.append(harness.unpack(frame))
        except Exception:
            return out + [({"event": "malformed"}, {})]
    return out + ([({"event": "malformed"}, {})] if rest else [])


def read_output(path: Path, cells: list[dict[str, Any]]) -> tuple[str, list[str]]:
    """What the notebook printed (its first OUTPUT_CAP characters) and each code cell's part of it (the
    cell's span of the capture file), as safe text, from one read of the capture file."""
    if not path.exists():
        return "", []
    with open(path, "rb") as f:
        raw = f.read(OUTPUT_CAP + 1)
    kept = raw[:OUTPUT_CAP]
    by_cell = [safe_text(kept[a:b].decode("utf-8", errors="replace"), OUTPUT_CAP) for a, b in (c.get("printed", (0, 0)) for c in cells)]
    return cap(raw.decode("utf-8", errors="replace")), by_cell


def cap(text: str) -> str:
    """What the notebook printed, as safe text cut to the first OUTPUT_CAP characters."""
    return safe_text(text[:OUTPUT_CAP], OUTPUT_CAP) + ("\n[... output cut ...]" if len(text) > OUTPUT_CAP else "")


def exit_reason(returncode: int | None) -> str:
    if returncode is not None and returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            return f"killed by signal {-returncode}"
        why = {"SIGXCPU": ": it used up its CPU time", "SIGXFSZ": ": it wrote a file past the size limit"}.get(name, "")
        return f"killed by signal {-returncode} ({name}){why}"
    if returncode is not None and returncode > 128:  # bubblewrap reports a killed child as 128 + signal
        return exit_reason(128 - returncode)
    if returncode == harness.SWALLOWED:
        return (f"stopped: its code caught the interrupt of a time limit (an `except BaseException:` or a bare `except:`) "
                f"and ran on for {harness.GRACE:g} s more")
    return f"exit code {returncode}"
