"""The warm server of `--executor fork`: numpy and IPython loaded once, a fresh child forked per
notebook, and everything the child left behind ended before the next one."""

from __future__ import annotations

import gc
import os
import signal
import sys
import time

from .clean import clear_ipc, empty, libc, sweep
from .guard import oom_score
from .runner import forget_failure, run_job, shell
from .wire import FRAMES_FILE, JOB_FILE, frame


def serve(own_namespaces: bool) -> None:
    """A warm server: `--serve [--own-namespaces]`. numpy and IPython are loaded
    once; for each line `JOB_DIR BUDGET` on stdin it forks a child that runs that job in ./work (its
    disk quota), writing its frames to JOB_DIR/frames.bin, waits at most BUDGET seconds, kills
    whatever the child left behind (in namespaces of its own: every other process there, every System
    V object, everything in /tmp), then writes an `exit` frame naming the job on its own stdout,
    which no child can write to. It never runs student code itself."""
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    oom_score(-500)  # in the slot's memory cgroup with its notebooks: they go first, whatever they hold
    warm = shell()
    for source in ("pass", "raise ValueError"):  # IPython initialises much on a first cell and a first traceback
        warm.run_cell(source, store_history=False)
    forget_failure(warm)
    for stream in (sys.stdout, sys.stderr):  # what the warm-up printed must not reach the first child's output
        stream.flush()
    gc.freeze()  # the collector then leaves these objects alone, so the children share their pages
    _become_subreaper()
    work = os.path.abspath("work")  # every notebook's working directory, emptied by the grader after each
    for line in sys.stdin:
        job_dir, budget = line.split()
        capture = os.open(os.path.join(job_dir, "output.txt"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        frames_fd = os.open(os.path.join(job_dir, FRAMES_FILE), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        pid = os.fork()
        if pid == 0:
            try:
                os.close(out.fileno())
                os.setsid()
                os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
                os.dup2(capture, 1)
                os.dup2(capture, 2)
                os.chdir(work)
                os.environ["HOME"] = os.getcwd()
                run_job(os.path.join(job_dir, JOB_FILE), os.fdopen(frames_fd, "wb"))
            finally:
                os._exit(70)
        os.close(capture)
        os.close(frames_fd)
        status, timed_out = _wait(pid, float(budget))
        _kill_descendants(pid)
        if own_namespaces:  # what escaped the list of descendants (a chain of double forks), and what is no process
            if any(p.isdigit() and int(p) not in (1, os.getpid()) for p in os.listdir("/proc")):  # its own /proc
                sweep()
            clear_ipc()  # a shared memory segment must not carry one student's data to the next
            empty("/tmp")  # the namespace's own, writable by a notebook where the grader is not root
        out.write(frame({"event": "exit", "job": job_dir, "returncode": status, "timed_out": timed_out}))
        out.flush()


def _wait(pid: int, budget: float) -> tuple[int, bool]:
    """The child's exit status (negative: killed by that signal), and whether it ran out of time."""
    import select

    deadline = time.monotonic() + budget
    fd = os.pidfd_open(pid) if hasattr(os, "pidfd_open") else None
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        left = deadline - time.monotonic()
        if left <= 0:
            os.killpg(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return -signal.SIGKILL, True
        if fd is not None:
            select.select([fd], [], [], left)
        else:
            time.sleep(min(left, 0.005))
    if fd is not None:
        os.close(fd)
    return os.waitstatus_to_exitcode(status), False


def _become_subreaper() -> None:
    """Orphans of the notebooks are re-parented to this server instead of init, so it can end them."""
    try:
        libc().prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        pass


def _kill_descendants(pid: int) -> None:
    """Kill the child's process group, then every process re-parented to us, until none is left."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    for _ in range(100):  # a process stuck in the kernel cannot stall us for ever
        orphans = _children()
        for orphan in orphans:
            try:
                os.kill(orphan, signal.SIGKILL)
            except ProcessLookupError:
                pass
        while True:  # reap whatever has died
            try:
                if os.waitpid(-1, os.WNOHANG)[0] == 0:
                    break
            except ChildProcessError:
                break
        if not orphans:
            return
        time.sleep(0.001)


def _children() -> list[int]:
    """This process's children (the orphans re-parented to it included): the kernel's own list
    when it keeps one (CONFIG_PROC_CHILDREN), else a scan of /proc, a hundred times slower."""
    try:
        with open(f"/proc/self/task/{os.getpid()}/children") as f:
            return [int(pid) for pid in f.read().split()]
    except OSError:
        return _scan_children()


def _scan_children() -> list[int]:
    me, found = str(os.getpid()), []
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else []:
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[1] == me:  # the parent pid
            found.append(int(entry))
    return found


