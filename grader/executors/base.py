"""What every executor shares: the `Executor` base class, which owns the sandbox, the limits and
the slots (a uid and a memory cgroup each), and the staging of a notebook's job into its box.

An executor takes a `Job` (the cells, the submission's files, the calls to make) and gives back an
`Execution`; that is the whole interface the rest of the grader sees. A subclass says only how one
notebook runs in a slot (`run`); the base class hands out the slots, one notebook at a time each,
and `close` removes the slots' memory cgroups and gives back the slots it claimed.
"""

from __future__ import annotations

import os
import queue
import shutil
import signal
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Sequence

import numpy as np

import grader.inside
from grader.executors.cgroup import MemoryCap
from grader.executors.sandbox import Sandbox, claim_slot, detect, inodes, release_slot
from grader.inside import wire
from grader.model import Execution, Job, Limits

STARTUP_GRACE = 10.0  # seconds on top of the per-cell and per-call limits, for starting Python and IPython
INSIDE_PROGRAM = Path(grader.inside.__file__).parent  # copied into each box as wire.PACKAGE
LAUNCH = f"import sys; sys.path.insert(0, sys.argv[1]); import {wire.PACKAGE}.main as m; sys.path.remove(sys.argv[1]); m.main(sys.argv[2:])"


class Executor(ABC):
    """Runs notebooks in the sandbox, one at a time per slot."""

    def __init__(self, sandbox: Sandbox | None = None, limits: Limits = Limits(), slots: Sequence[int] | None = None) -> None:
        self.sandbox = sandbox or detect()
        self.limits = limits
        self._claimed = [] if slots else [claim_slot()]  # given slots stay their giver's to release
        self.slots = list(slots or self._claimed)
        self.caps: dict[int, MemoryCap | None] = {slot: self.sandbox.memory_cap(slot, limits) for slot in self.slots}
        self._free: queue.Queue[int] = queue.Queue()
        for slot in self.slots:
            self._free.put(slot)

    def execute(self, job: Job) -> Execution:
        slot = self._free.get()
        try:
            return self.run(job, slot)
        finally:
            self._free.put(slot)

    @abstractmethod
    def run(self, job: Job, slot: int) -> Execution:
        """Run one notebook in `slot` (its uid is `self.sandbox.uid(slot)`, its memory cgroup `self.caps[slot]`)."""

    def close(self) -> None:
        """Release what the executor holds once grading is done: what a subclass keeps warm (`shut`),
        the slots' memory cgroups, and the slots it claimed itself."""
        self.shut()
        for cap in self.caps.values():
            if cap is not None:
                cap.remove()
        for slot in self._claimed:
            release_slot(slot)
        self._claimed = []

    def shut(self) -> None:
        """Stop what a subclass keeps between notebooks (warm processes)."""


def launch(python: str, box: Path, *args: str) -> list[str]:
    """The command line that runs the program inside the sandbox from its copy in `box` (as the
    sandbox shows it): the box is on `sys.path` only while that program is imported, so a
    notebook's own imports never find the grader's files."""
    return [python, "-I", "-c", LAUNCH, str(box), *args]


def install_inside(box: Path) -> None:
    """Copy the program that runs inside the sandbox into `box`."""
    shutil.copytree(INSIDE_PROGRAM, box / wire.PACKAGE, ignore=shutil.ignore_patterns("__pycache__"), dirs_exist_ok=True)


def budget(job: Job) -> float:
    """Seconds the whole notebook may take: every cell and every exercise at its limit, and start-up."""
    return job.timeout * (len(job.cells) + len(job.calls) + 1) + STARTUP_GRACE


class StagingError(Exception):
    """The submission's working copy could not be made (larger than the disk quota, a full disk)."""


def stage(folder: Path, work: Path, job: Job, limits: Limits, seconds: float, uid: int | None, *above: Path) -> None:
    """Put the job's file in `folder` and its working copy in `work` (an empty folder, its disk quota);
    with a uid, hand the working copy over (`folder` and the folders `above` it stay root's, traversable only)."""
    try:
        copy_submission(job.files, work)
        (folder / wire.JOB_FILE).write_bytes(pack_job(job, limits.as_dict(seconds), uid))
    except OSError as exc:  # shutil.Error, of copytree, lists every file: not shown
        why = f" ({exc.strerror})" if exc.strerror else ""
        raise StagingError(
            f"its files could not be copied for grading{why}: a submission's files may take at most "
            f"{limits.disk // 2**20} MiB and {inodes(limits.disk)} files, its disk quota (a notebook's saved outputs, "
            "images above all, take room: clear them before handing it in)"
        ) from None
    if uid is not None:
        hand_over(work, uid, *above, folder)


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
        {"id": c.exercise, "function": c.function, "trials": [wire.encode(t, arrays) for t in c.trials]} for c in job.calls
    ]
    manifest = {"cells": job.cells, "exercises": exercises, "timeout": job.timeout, "limits": limits, "uid": uid}
    return wire.pack(manifest, arrays)


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
