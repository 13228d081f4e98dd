"""The walls around a student's process, layer by layer, and which of them this machine can raise.

- process: its own session, the whole group killed on timeout and at the end (always);
- limits: memory (RLIMIT_AS), CPU time, file size, open files, processes, no core dumps, set by the
  harness before any student code runs (always);
- uid: when the grader runs as root, each running notebook gets its own unprivileged uid, so the
  process limit applies and one student's fork bomb cannot starve another's (root only);
- namespaces: bubblewrap gives a PID namespace (every descendant dies with the notebook, even one
  that called setsid), no network, and a filesystem that holds only the Python installation
  (read-only, with the grader's own packages masked) and the job's own directory (needs `bwrap`);
- disk quota: the notebook's working directory is a tmpfs of `Limits.disk` bytes (root, where the
  machine lets it mount one);
- memory cgroup: what all of a notebook's processes hold in memory at once is capped
  (`Limits.together`; root, where the machine has a memory cgroup the grader may make children in).

Where a layer is unavailable (no bwrap, no namespaces, macOS) the others still hold, and the run
says so; `--strict` refuses to run without all of them.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Iterator

from grader.executors import cgroup
from grader.executors.cgroup import Hierarchy, MemoryCap, unescape
from grader.inside import wire
from grader.inside.clean import clear_ipc, clear_keyrings, empty, libc, sweep
from grader.model import Limits

INSIDE = Path(wire.INSIDE)  # where the job's directory appears inside the namespace
FIRST_UID = 61000  # unprivileged uids FIRST_UID, FIRST_UID + 1, ...: one per notebook running at once
MAX_SLOTS = 184  # so the uids stay below 61184, where systemd's dynamic users begin
# Where slot locks live: one folder for the whole machine, whatever $TMPDIR a run has or its own scratch
# folder (grader.run.scratch) is, or two runs would take the same uids and reap each other's notebooks.
LOCKS = Path("/tmp") if os.path.isdir("/tmp") else Path(tempfile.gettempdir())
SYSTEM_DIRS = ("/usr", "/bin", "/lib", "/lib64", "/sbin")
SHARED_TMP = ("/tmp", "/var/tmp", "/dev/shm")  # where any uid may write outside the namespaces
SYSTEM_CONFIG = ("/etc/fonts",)  # read-only too: matplotlib's text needs fontconfig's configuration


@dataclass(frozen=True)
class Sandbox:
    bwrap: str | None  # the bubblewrap binary, when it works here
    as_root: bool
    python_shared: bool = True  # other users can read the Python installation (needed for a uid of its own without namespaces)
    quota_on: bool = False  # the grader may mount a size-limited tmpfs for each notebook's directory (root, allowed to mount)
    cgroups: Hierarchy | None = None  # where the grader may make a memory cgroup per slot (root, where the machine allows it)

    @property
    def layers(self) -> dict[str, bool]:
        return {
            "process group": True,
            "resource limits": True,
            "unprivileged uid": self.own_uids,
            "namespaces (pid, network, filesystem)": self.bwrap is not None,
            "disk quota": self.quota_on,
            "memory cgroup": self.capped,
        }

    def describe(self) -> str:
        on = [name for name, up in self.layers.items() if up]
        off = [name for name, up in self.layers.items() if not up]
        text = f"sandbox layers on: {', '.join(on)}"
        if off:
            reasons = []
            if not self.as_root:
                reasons.append("notebooks run as your own user (run as root to give each its own uid)")
            elif not self.own_uids:
                reasons.append("notebooks run as root: without the namespaces another uid could not read the Python "
                               f"installation under {', '.join(map(str, python_roots()))} (install bubblewrap, or Python where all users can read it)")
            if self.bwrap is None:
                reasons.append("no working bubblewrap: network and files are not walled off (install the `bubblewrap` package)")
            if not self.quota_on:
                reasons.append("no disk quota: a notebook may fill the disk its working copy is on "
                               f"({'run as root to get one' if not self.as_root else 'this machine does not let the grader mount a tmpfs'})")
            if not self.capped:
                why = ("run as root to get one" if not self.as_root else
                       "this machine gives the grader no memory cgroup of its own: cgroup v1, or v2 with the memory controller at its top"
                       if self.cgroups is None else "notebooks run as root outside namespaces, where they could lift it")
                reasons.append(f"no memory cgroup: the memory a notebook holds outside its address space (shared memory, many processes) is not capped ({why})")
            text += f"; off: {', '.join(off)} — {'; '.join(reasons)}"
        return text

    def path(self, box: Path) -> Path:
        """Where the job's directory is, as the notebook's process sees it."""
        return INSIDE if self.bwrap else box

    def end(self, uid: int | None) -> None:
        """After a notebook: without the namespaces (which end, or whose server sweeps, everything a
        notebook started), end what its uid left behind."""
        if self.bwrap is None:
            reap(uid)

    def uid(self, slot: int) -> int | None:
        return FIRST_UID + slot if self.own_uids else None

    @property
    def own_uids(self) -> bool:
        """Each notebook under a uid of its own: as root, where that uid can read the Python it runs
        (inside the namespaces, always; outside, if the installation is readable by all)."""
        return self.as_root and (self.bwrap is not None or self.python_shared)

    @contextlib.contextmanager
    def quota(self, folder: Path, size: int) -> Iterator[None]:
        """While the block runs, `folder` (an empty directory) is a tmpfs of `size` bytes, where this
        machine lets the grader mount one: the notebook's disk quota. What it holds is gone at the end."""
        if not self.quota_on:
            yield
            return
        mount_tmpfs(folder, size)
        try:
            yield
        finally:
            unmount(folder)

    @property
    def capped(self) -> bool:
        """A memory cgroup per slot, where this machine has them and a notebook can neither lift its cap
        nor leave memory charged to the next notebook of its slot: its namespaces, or the reaping of its
        uid, clear its shared memory and temporary files after it (not so for root outside namespaces)."""
        return self.cgroups is not None and (self.bwrap is not None or self.own_uids)

    def memory_cap(self, slot: int, limits: Limits) -> MemoryCap | None:
        """The slot's memory cgroup, capped at `limits.together`, where notebooks are `capped`."""
        if not self.capped or self.cgroups is None:
            return None
        name = cap_name(self.cgroups, slot)
        sweep_caps(self.cgroups)
        try:
            return MemoryCap(self.cgroups, name, limits.together)
        except OSError as exc:
            raise RuntimeError(f"cannot set up the memory cgroup {self.cgroups.base / name}: {exc.strerror or exc}") from None

    def command(self, argv: list[str], box: Path, cwd: str = "work", disk: int = Limits.disk, cap: MemoryCap | None = None) -> list[str]:
        """`argv` (whose paths are under `self.path(box)`) wrapped in bubblewrap, starting in `box/cwd`,
        in the memory cgroup `cap` from its first instruction on; unchanged without either. The
        namespace's own /tmp holds at most `disk` bytes."""
        if self.bwrap is None:
            return cap.join(argv) if cap else argv
        wrap = [self.bwrap, "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
                "--die-with-parent", "--new-session"]
        if not self.as_root:
            wrap.append("--unshare-user")
        wrap += ["--size", str(disk), "--tmpfs", "/tmp"]  # writable where the grader is no root: capped like a working copy
        for path in SYSTEM_DIRS:
            if os.path.islink(path):
                wrap += ["--symlink", os.readlink(path), path]
            elif os.path.isdir(path):
                wrap += ["--ro-bind", path, path]
        for path in SYSTEM_CONFIG:
            if os.path.isdir(path):
                wrap += _parents(Path(path)) + ["--ro-bind", path, path]
        for root in python_roots():
            wrap += _parents(root) + ["--ro-bind", str(root), str(root)]
        for hidden in grader_packages():
            if any(hidden.is_relative_to(root) for root in python_roots()):
                wrap += ["--tmpfs", str(hidden)]
        wrap += ["--proc", "/proc", "--dev", "/dev", "--bind", str(box), str(INSIDE), "--chdir", str(INSIDE / cwd)]
        wrap += ["--"] + argv
        return cap.join(wrap) if cap else wrap


_claimed: dict[int, IO[str]] = {}  # the lock files of the slots this process holds, open while it holds them


def claim_slot() -> int:
    """A job slot (and with it a uid) no other grading process on this machine holds: the first of
    FIRST_UID, FIRST_UID + 1, ... whose lock file we can lock. The lock goes with the process."""
    for slot in range(MAX_SLOTS):
        handle = _lock(slot)
        if handle is not None:
            _claimed[slot] = handle
            return slot
    raise RuntimeError(f"all {MAX_SLOTS} grading slots of this machine are taken")


def release_slot(slot: int) -> None:
    """Give a slot claimed by this process back, for another executor or grading process to take."""
    handle = _claimed.pop(slot, None)
    if handle is not None:
        handle.close()


def _lock(slot: int) -> IO[str] | None:
    """The slot's lock file, locked by this call; None while any process (this one too) holds it."""
    import fcntl

    path = LOCKS / f"backprop-grader-slot-{slot}.lock"
    try:
        handle = open(path, "a")
    except PermissionError:  # another user's lock file: reading it is enough to lock it
        handle = open(path)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        return None
    return handle


def cap_name(hierarchy: Hierarchy, slot: int) -> str:
    """The name of a slot's memory cgroup (v1's sit beside other cgroups below the grader's own)."""
    return f"backprop-grader-slot-{slot}" if hierarchy.version == 1 else f"slot-{slot}"


@functools.cache
def sweep_caps(hierarchy: Hierarchy) -> None:
    """Remove the memory cgroups of slots that no process holds (a run killed before it could), once
    per process: empty, they would only clutter the machine's cgroups until their slot is taken again."""
    for path in hierarchy.base.glob(cap_name(hierarchy, 0)[:-1] + "*"):
        number = path.name.rsplit("-", 1)[1]
        handle = _lock(int(number)) if number.isdigit() and path.name == cap_name(hierarchy, int(number)) else None
        if handle is not None:
            with contextlib.suppress(OSError):
                path.rmdir()
            handle.close()


def reap(uid: int | None) -> None:
    """End what a notebook's `uid` leaves behind once the notebook is over: every process, wherever it
    hid (a session of its own, a double fork, another PID namespace), the keys of its keyrings, its
    System V objects and its files in the shared temporary folders, so none reaches the next notebook
    of that uid. A child takes the uid and signals
    everything it may, in a few sweeps, then clears. The uid is that notebook's alone while it is
    graded (one per slot)."""
    if uid is None:
        return
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            sweep()  # every process of this uid but this one
            clear_keyrings()
            clear_ipc(uid)
            code = 0
        finally:
            os._exit(code)
    os.waitpid(pid, 0)
    for folder in SHARED_TMP:  # its processes are gone: now its files there
        _remove_owned(folder, uid)


def _remove_owned(folder: str, uid: int) -> None:
    """Remove what `uid` owns at the top of `folder` (it can own nothing deeper that it did not make there)."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        try:
            if entry.stat(follow_symlinks=False).st_uid != uid:
                continue
            if entry.is_dir(follow_symlinks=False):
                empty(entry.path)  # however deep; never follows a link it meets
                os.rmdir(entry.path)
            else:
                os.unlink(entry.path)
        except OSError:
            continue


def alive(pid: int) -> bool:
    """Whether process `pid` exists (another user's included)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        pass
    return True


MS_NOSUID, MS_NODEV, MNT_DETACH = 2, 4, 2


def mount_tmpfs(folder: Path, size: int) -> None:
    """Mount a tmpfs of `size` bytes on `folder` (root only): it cannot hold more, whatever writes there,
    nor more files than one per 8 KiB of it (each costs the kernel memory that `size` does not count)."""
    options = f"size={size},nr_inodes={inodes(size)},mode=0711"
    if libc().mount(b"tmpfs", os.fsencode(folder), b"tmpfs", MS_NOSUID | MS_NODEV, options.encode()) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"cannot mount a tmpfs on {folder}: {os.strerror(error)}")


def inodes(size: int) -> int:
    """How many files and folders a disk quota of `size` bytes may hold."""
    return max(4096, size // 8192)


def unmount(folder: Path) -> None:
    """Unmount `folder` at once, even while something still holds a file there (it goes when that does)."""
    libc().umount2(os.fsencode(folder), MNT_DETACH)


def unmount_under(root: Path) -> None:
    """Unmount everything mounted below `root`, deepest first: a killed run's quotas, before its folder is removed."""
    try:
        with open("/proc/self/mountinfo") as table:
            points = [unescape(line.split()[4]) for line in table]
    except OSError:
        return
    for point in sorted((p for p in points if Path(p).is_relative_to(root)), key=len, reverse=True):
        unmount(Path(point))


def python_roots() -> list[Path]:
    """The directories the student's Python needs: the interpreter, its stdlib and the site-packages,
    those a path file adds included."""
    roots = {Path(sys.prefix), Path(sys.base_prefix), Path(os.path.realpath(sys.executable)).parent.parent}
    roots |= {Path(p) for p in sys.path if p.endswith(("site-packages", "dist-packages")) and os.path.isdir(p)}
    return sorted(r for r in roots if not any(r != o and r.is_relative_to(o) for o in roots))


def grader_packages() -> list[Path]:
    """Where `grader` and `reference` are installed (the student kit has no `reference`): masked
    inside the namespace."""
    found = (importlib.util.find_spec(name) for name in ("grader", "reference"))
    return [Path(spec.origin).parent for spec in found if spec is not None and spec.origin]


def _parents(path: Path) -> list[str]:
    """Create `path`'s ancestors world-traversable (bubblewrap's own would be 0700 for root)."""
    out: list[str] = []
    for parent in reversed(path.parents):
        if str(parent) not in ("/",) and not any(str(parent) == d or str(parent).startswith(d + "/") for d in SYSTEM_DIRS):
            out += ["--perms", "0755", "--dir", str(parent)]
    return out


@functools.cache
def detect() -> Sandbox:
    """Which layers work on this machine: bubblewrap is tried once for real."""
    as_root = hasattr(os, "geteuid") and os.geteuid() == 0
    bwrap = shutil.which("bwrap") if sys.platform.startswith("linux") else None
    if bwrap:
        with tempfile.TemporaryDirectory(prefix="grader-probe-") as box:
            (Path(box) / "work").mkdir()
            argv = Sandbox(bwrap, as_root).command([sys.executable, "-I", "-S", "-c", "pass"], Path(box))
            try:
                ok = subprocess.run(argv, capture_output=True, timeout=60).returncode == 0
            except (OSError, subprocess.TimeoutExpired):
                ok = False
        bwrap = bwrap if ok else None
    hierarchy = cgroup.here() if as_root else None
    return Sandbox(bwrap, as_root, all(_readable_by_all(root) for root in python_roots()), as_root and _can_mount(),
                   hierarchy if hierarchy is not None and cgroup.probe(hierarchy) else None)


def _can_mount() -> bool:
    """Whether this process may mount a tmpfs (root, and not forbidden by a container): tried for real."""
    if not sys.platform.startswith("linux"):
        return False
    with tempfile.TemporaryDirectory(prefix="grader-probe-") as folder:
        try:
            mount_tmpfs(Path(folder), 2**20)
        except OSError:
            return False
        unmount(Path(folder))
    return True


def _readable_by_all(root: Path) -> bool:
    """Whether any user can read `root` (o+rx) and reach it (o+x on every folder above it)."""
    try:
        return root.stat().st_mode & 0o005 == 0o005 and all(p.stat().st_mode & 0o001 for p in root.parents)
    except OSError:
        return False
