"""What guards the grader from the student's code in the student's own process: the resource
limits and the uid (set for good before any student code runs), the import blocker (the grader and
the reference engine are out of reach), and the time limit of a cell or a call, which student code
can catch but not outlive."""

from __future__ import annotations

import _signal
import contextlib
import importlib.machinery
import os
import signal
import sys
import types
from typing import Any

from .clean import clear_keyrings
from .wire import GRACE, SWALLOWED

BLOCKED = ("grader", "reference")
own_folder = "\0"  # the notebook's working directory, once `enter` knows it (matches no path before)


class TimeLimit(BaseException):
    """Raised by the alarm when a cell or a call runs past its time limit (BaseException, so that a
    student's `except Exception` does not swallow it)."""


class _Blocker:
    """A meta-path finder that refuses the grader's own packages to the student's code. `import grader`
    gives a stand-in whose `check` does nothing, so a self-check cell does not break the notebook."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if name == "grader":
            return importlib.machinery.ModuleSpec(name, self)
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"'{name}' is not available to graded code")
        return None

    def create_module(self, spec: Any) -> Any:
        module = types.ModuleType(spec.name, "Stand-in for the grader while grading.")
        module.check = lambda *args, **kwargs: print("(self-check is off while the notebook is being graded)")  # type: ignore[attr-defined]
        return module

    def exec_module(self, module: Any) -> None:
        pass


def arm(seconds: float) -> None:
    """Start the time limit of a cell or a call (0: stop it). The handler is set again whenever it is
    not ours: a previous limit's grace period, or a student's own `signal.signal(SIGALRM, ...)`."""
    if seconds and _signal.getsignal(signal.SIGALRM) is not _alarm:  # signal's own getsignal makes an enum each time
        signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)


def _alarm(signum: int, frame: Any) -> None:
    """Interrupt the student's code; should that code catch the interrupt (`except BaseException:`, a
    bare `except:`) and run on, end the whole process GRACE seconds later."""
    signal.signal(signal.SIGALRM, lambda signum, frame: os._exit(SWALLOWED))
    signal.setitimer(signal.ITIMER_REAL, GRACE)
    raise TimeLimit()


def confine(limits: dict[str, int], uid: int | None) -> None:
    """Lower every limit for good, then give up root: nothing after this can raise them again."""
    import resource

    for name, value in limits.items():
        resource.setrlimit(getattr(resource, name), (value, value))
    oom_score(1000)  # the first process its memory cgroup ends; set as root, it cannot lower it again
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # an over-long write fails instead of killing the process
    if uid is not None:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
        clear_keyrings()  # the uid's own: what an earlier notebook of this uid left there, while a process of its lingered


def oom_score(adjustment: int) -> None:
    """How soon the kernel ends this process when its memory cgroup is full (-1000 never, 1000 first);
    lowering it needs root, and where it cannot be set the cgroup is not there either."""
    with contextlib.suppress(OSError):
        fd = os.open("/proc/self/oom_score_adj", os.O_WRONLY)  # no file object: fewer of a forked child's pages copied
        try:
            os.write(fd, str(adjustment).encode())
        finally:
            os.close(fd)


def enter(job: dict[str, Any]) -> None:
    """The last step before student code: the limits, the uid, and the grader out of reach."""
    global own_folder
    confine(job["limits"], job.get("uid"))
    own_folder = os.getcwd() + os.sep  # its own files' folder for tracebacks: where it starts (a later os.chdir changes nothing)
    if "" not in sys.path:  # as in Jupyter: the notebook imports its own modules from its folder (`python -I` leaves it out)
        sys.path.insert(0, "")
    sys.meta_path.insert(0, _Blocker())
    if any(top in sys.modules for top in BLOCKED):  # a submodule is never imported without its package; listing
        for name in [m for m in sys.modules if m.split(".")[0] in BLOCKED]:  # every module's name copies ~200 pages of a forked child
            del sys.modules[name]
