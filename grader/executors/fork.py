"""The fast executor: one warm server per core forks a fresh child per notebook.

Starting Python and importing numpy and IPython costs far more than running a notebook's cells, so
each slot keeps one server (the harness, `grader.inside`, started with `--serve` inside the same
sandbox as a one-off process) that has paid that once. Each notebook still gets a process of its
own, forked copy-on-write, which sets its limits and drops to its own uid before any student code
runs; after it, the server kills everything it left behind. A server that stops answering is
killed and replaced.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Sequence

from grader.executors.base import Executor, STARTUP_GRACE, budget, environment, install_inside, kill_group, launch, stage
from grader.executors.cgroup import MemoryCap
from grader.executors.received import collected, reached
from grader.executors.sandbox import Sandbox, alive, unmount_under
from grader.inside import wire
from grader.inside.clean import empty
from grader.model import Execution, Job, Limits


class Server:
    """One warm server process (`--serve`), its sandbox directory, in its slot's memory cgroup."""

    def __init__(self, sandbox: Sandbox, slot: int, limits: Limits, cap: MemoryCap | None) -> None:
        self.sandbox, self.uid, self.limits = sandbox, sandbox.uid(slot), limits
        self.cap = cap  # the server's and its notebooks'
        self.box = Path(tempfile.mkdtemp(prefix=f"grader-server-{os.getpid()}-"))
        sweep_stale(Path(tempfile.gettempdir()))
        self.proc: subprocess.Popen[bytes] | None = None
        self.jobs = itertools.count()
        (self.box / "jobs").mkdir()
        (self.box / "work").mkdir()  # every notebook's working directory in turn, emptied after each
        self.quota = contextlib.ExitStack()  # its tmpfs, mounted before the server's namespace is made (which sees it then)
        self.quota.enter_context(sandbox.quota(self.box / "work", limits.disk))

    def start(self) -> None:
        install_inside(self.box)
        if self.uid is not None:
            for folder in (self.box, self.box / "jobs"):
                folder.chmod(0o711)
        inside = self.sandbox.path(self.box)
        own = ["--own-namespaces"] if self.sandbox.bwrap else []  # bubblewrap's: the server may clear them all
        argv = self.sandbox.command(launch(sys.executable, inside, "--serve", *own), self.box, cwd=".", disk=self.limits.disk, cap=self.cap)
        with open(self.box / "server.log", "ab") as log:
            self.proc = subprocess.Popen(
                argv, cwd=self.box, env=environment(inside), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                start_new_session=True,
            )

    def run(self, job: Job) -> Execution:
        if self.proc is None or self.proc.poll() is not None:
            self.start()
        seconds = budget(job)
        name = str(next(self.jobs))
        job_dir = self.box / "jobs" / name
        job_dir.mkdir()
        try:
            stage(job_dir, self.box / "work", job, self.limits, seconds, self.uid, self.box)
            inside = self.sandbox.path(self.box) / "jobs" / name
            self.proc.stdin.write(f"{inside} {seconds}\n".encode())  # type: ignore[union-attr]
            self.proc.stdin.flush()  # type: ignore[union-attr]
            ended = self._wait_exit(str(inside), seconds + STARTUP_GRACE)
            if ended is None:  # the server itself hung or died: start afresh next time
                self.close()
                ended = {"returncode": None, "timed_out": True}
            execution = collected(job, job_dir / wire.FRAMES_FILE, job_dir / "output.txt", ended["returncode"], ended["timed_out"], seconds)
            return reached(execution, self.box / "work", self.limits, self.sandbox, self.cap)
        finally:
            self.sandbox.end(self.uid)  # without namespaces, what escaped the server's own reaping
            shutil.rmtree(job_dir, ignore_errors=True)
            self._clear_work()

    def _clear_work(self) -> None:
        """Nothing of one notebook's files may reach the next: empty the working directory, or, should
        anything stay there, give the next notebook a new one (and a new server, which sees it)."""
        try:
            empty(self.box / "work")
            if not any(os.scandir(self.box / "work")):
                return
        except Exception:
            pass
        self.close()
        self.quota.close()
        (self.box / "work").rename(self.box / f"left-{next(self.jobs)}")  # removed with the box, or unmounted by then
        (self.box / "work").mkdir()
        self.quota = contextlib.ExitStack()
        self.quota.enter_context(self.sandbox.quota(self.box / "work", self.limits.disk))

    def _wait_exit(self, job: str, seconds: float) -> dict | None:
        """The server's `exit` frame for `job` (None if it never came in time): frames for other
        jobs, left over from a job given up on, are skipped."""
        assert self.proc and self.proc.stdout
        fd, deadline, buffer = self.proc.stdout.fileno(), time.monotonic() + seconds, b""
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
            chunk = os.read(fd, 1 << 16) if ready else b""
            if not chunk:
                return None  # out of time, or the server died
            complete, buffer = wire.frames(buffer + chunk)
            for message in complete:
                report, _ = wire.unpack(message)
                if report.get("job") == job:
                    return report
        return None

    def close(self) -> None:
        """Ask the server to finish (end of its input), and kill it if it does not at once."""
        if self.proc is not None:
            try:
                self.proc.stdin.close()  # type: ignore[union-attr]
                self.proc.wait(timeout=2)
            except (OSError, subprocess.TimeoutExpired):
                pass
            kill_group(self.proc.pid)
            self.proc.wait()
            self.proc = None

    def remove(self) -> None:
        self.close()
        self.quota.close()
        remove_box(self.box)


def sweep_stale(folder: Path) -> None:
    """Remove the boxes, and unmount the quotas, of servers whose process died without removing them
    (a Dask worker killed at the end of its cluster's life, a grader killed outside a run's folder)."""
    for box in folder.glob("grader-server-*-*"):
        pid = box.name.split("-")[2]
        if pid.isdigit() and not alive(int(pid)):
            unmount_under(box)
            remove_box(box)


def remove_box(box: Path) -> None:
    with contextlib.suppress(OSError):
        empty(box)  # however deep a notebook's folders went
        box.rmdir()


class ForkExecutor(Executor):
    """`Executor` with one warm server per slot (`--jobs`)."""

    def __init__(self, sandbox: Sandbox | None = None, limits: Limits = Limits(), slots: Sequence[int] | None = None) -> None:
        super().__init__(sandbox, limits, slots)
        self._servers = {slot: Server(self.sandbox, slot, limits, self.caps[slot]) for slot in self.slots}

    def run(self, job: Job, slot: int) -> Execution:
        return self._servers[slot].run(job)

    def shut(self) -> None:
        for server in self._servers.values():
            server.remove()
