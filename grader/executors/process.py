"""`--executor process`: a fresh `python -I` per notebook, nothing shared between notebooks, not even
a parent process; each runs in a temporary box inside every sandbox layer this machine has."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from grader.executors.base import Executor, budget, environment, install_inside, kill_group, launch, stage
from grader.executors.received import collected, reached
from grader.inside import wire
from grader.model import Execution, Job


class ProcessExecutor(Executor):
    """A fresh Python per notebook running the program inside the sandbox (`grader.inside`), in a
    temporary copy of the submission, with a minimal environment."""

    def run(self, job: Job, slot: int) -> Execution:
        seconds = budget(job)
        with tempfile.TemporaryDirectory(prefix="grader-") as tmp:
            box = Path(tmp) / "box"  # all the notebook's process may see of the grader's files
            (box / "work").mkdir(parents=True)
            with self.sandbox.quota(box / "work", self.limits.disk):
                return self._run_in(box, job, slot, seconds, Path(tmp))

    def _run_in(self, box: Path, job: Job, slot: int, seconds: float, tmp: Path) -> Execution:
        uid, cap = self.sandbox.uid(slot), self.caps[slot]
        stage(box, box / "work", job, self.limits, seconds, uid, tmp)
        install_inside(box)
        inside = self.sandbox.path(box)
        argv = launch(sys.executable, inside, str(inside / wire.JOB_FILE))
        capture, frames = tmp / "output.txt", tmp / wire.FRAMES_FILE
        returncode, timed_out = self._start(self.sandbox.command(argv, box, disk=self.limits.disk, cap=cap), box / "work", environment(inside), capture, frames, seconds)
        self.sandbox.end(uid)  # without namespaces, what left the process group (a session of its own)
        return reached(collected(job, frames, capture, returncode, timed_out, seconds), box / "work", self.limits, self.sandbox, cap)

    def _start(self, argv: list[str], work: Path, env: dict[str, str], capture: Path, frames: Path, budget: float) -> tuple[int, bool]:
        """Run the program with its frames going to a file, which the notebook's file size limit caps
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
