"""A memory cgroup per slot: what all of a notebook's processes hold in memory at once, capped.

`RLIMIT_AS` caps one process's address space. Memory outside it (a `memfd`, System V or POSIX
shared memory, files in a tmpfs, the address spaces of many processes) has no such cap; a cgroup
caps the sum. When a notebook's processes together reach it, the kernel ends one of them: the
notebook's own, never the fork executor's server (the harness lowers the server's `oom_score_adj`
and raises each notebook's to the maximum before any student code runs).

- cgroup v1 (a `memory` hierarchy): each slot's cgroup is made below the grader's own.
- cgroup v2: a cgroup that holds processes cannot hand controllers to children of its own, so the
  slots' cgroups are made below `backprop-grader/` at the top of the hierarchy the grader sees,
  which root may do on a machine of its own (a container's namespace often forbids it: then the
  layer is off, and the run says so).
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

V2_FOLDER = "backprop-grader"  # cgroup v2: the slots' parent, at the top of the hierarchy


@dataclass(frozen=True)
class Hierarchy:
    """Where this machine controls memory, and the grader's own cgroup there."""

    mount: Path
    own: str  # the grader's cgroup, as /proc/self/cgroup names it ("/" for the top)
    version: int  # 1 or 2

    @property
    def base(self) -> Path:
        """The folder the slots' cgroups are made in."""
        return self.mount / self.own.lstrip("/") if self.version == 1 else self.mount / V2_FOLDER

    def prepare(self) -> None:
        """cgroup v2: the base exists and hands the memory controller to its children."""
        if self.version == 2:
            if "memory" not in _read(self.mount / "cgroup.subtree_control").split():
                _write(self.mount / "cgroup.subtree_control", "+memory")
            self.base.mkdir(exist_ok=True)
            if "memory" not in _read(self.base / "cgroup.subtree_control").split():
                _write(self.base / "cgroup.subtree_control", "+memory")


def find(mountinfo: str, membership: str) -> Hierarchy | None:
    """The hierarchy that controls memory, from the text of /proc/self/mountinfo and
    /proc/self/cgroup: v1's `memory` one if there is one (a hybrid machine's cgroup v2 has no memory
    controller), else cgroup v2's."""
    v1 = v2 = None
    for line in mountinfo.splitlines():
        fields = line.split()
        if " - " not in line or len(fields) < 5:
            continue
        kind, _, options = line.split(" - ", 1)[1].split()[:3]
        if kind == "cgroup" and "memory" in options.split(","):
            v1 = v1 or Path(unescape(fields[4]))
        elif kind == "cgroup2":
            v2 = v2 or Path(unescape(fields[4]))
    for line in membership.splitlines():
        number, controllers, path = line.split(":", 2)
        if v1 is not None and "memory" in controllers.split(","):
            return Hierarchy(v1, path, 1)
        if v1 is None and v2 is not None and number == "0" and controllers == "":
            return Hierarchy(v2, path, 2)
    return None


def here() -> Hierarchy | None:
    """This process's memory hierarchy, if any (Linux only)."""
    try:
        with open("/proc/self/mountinfo") as mounts, open("/proc/self/cgroup") as membership:
            found = find(mounts.read(), membership.read())
    except OSError:
        return None
    if found is not None and found.version == 2 and "memory" not in _read(found.mount / "cgroup.controllers").split():
        return None
    return found


class MemoryCap:
    """One slot's cgroup, capped at `size` bytes of memory (no swap): every process of the notebook
    graded in that slot joins it (`join`), the fork executor's server too."""

    def __init__(self, hierarchy: Hierarchy, name: str, size: int) -> None:
        hierarchy.prepare()
        self.path = hierarchy.base / name
        self.path.mkdir(exist_ok=True)  # a killed run's: taken over, as the slot is
        self.version, self.size = hierarchy.version, size
        if self.version == 1:
            with contextlib.suppress(FileNotFoundError):  # memory + swap: no file where swap is not accounted
                _write(self.path / "memory.memsw.limit_in_bytes", "-1")  # never below the memory limit, which it must not be
            _write(self.path / "memory.limit_in_bytes", str(size))
            with contextlib.suppress(FileNotFoundError):
                _write(self.path / "memory.memsw.limit_in_bytes", str(size))
        else:
            _write(self.path / "memory.max", str(size))
            with contextlib.suppress(FileNotFoundError):
                _write(self.path / "memory.swap.max", "0")
        self._seen = self.kills()

    @property
    def procs(self) -> Path:
        """The file a process writes its pid to, to join."""
        return self.path / "cgroup.procs"

    def join(self, argv: list[str]) -> list[str]:
        """`argv`, run by a shell that first joins this cgroup (before it exists, nothing it starts can escape)."""
        return ["/bin/sh", "-c", 'echo $$ > "$0" && exec "$@"', str(self.procs), *argv]

    def kills(self) -> int:
        """How many processes the kernel has ended in this cgroup for reaching the cap."""
        text = _read(self.path / ("memory.oom_control" if self.version == 1 else "memory.events"))
        for line in text.splitlines():
            if line.startswith("oom_kill "):
                return int(line.split()[1])
        return int(_read(self.path / "memory.failcnt") or 0) if self.version == 1 else 0  # kernels before 4.13

    def reached(self) -> bool:
        """Whether the cap ended a process since the last time this was asked."""
        kills = self.kills()
        reached, self._seen = kills > self._seen, kills
        return reached

    def remove(self, wait: float = 2.0) -> None:
        """Remove the cgroup once nothing is in it: a notebook's processes, killed, may take a moment to
        leave it; one still there after `wait` seconds keeps it, until the next run takes it over."""
        deadline = time.monotonic() + wait
        while True:
            try:
                self.path.rmdir()
                return
            except OSError as exc:
                if exc.errno != errno.EBUSY or time.monotonic() > deadline:
                    return
            time.sleep(0.01)


def probe(hierarchy: Hierarchy) -> bool:
    """Whether this process can make a capped cgroup and put a process in it: tried for real."""
    import subprocess

    try:
        cap = MemoryCap(hierarchy, f"backprop-grader-probe-{os.getpid()}", 64 * 2**20)
    except OSError:
        return False
    try:
        done = subprocess.run(cap.join(["/bin/sh", "-c", "exit 0"]), capture_output=True, timeout=30)
        return done.returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False
    finally:
        cap.remove()


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _write(path: Path, value: str) -> None:
    with open(path, "w") as f:
        f.write(value)


def unescape(field: str) -> str:
    """A path as /proc/self/mountinfo writes it (space, tab, newline and backslash as octal escapes)."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)
