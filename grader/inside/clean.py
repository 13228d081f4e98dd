"""Ending what a notebook left behind: its processes, its files, its System V objects and keyrings.

The warm server runs these inside the sandbox after each notebook (in namespaces of its own), and
the grader runs the same functions outside it where there are no namespaces (as the notebook's uid,
`grader.executors.sandbox`), so with `wire` this is the only module both sides import. Standard
library only.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
from typing import Any

SWEEPS = 3  # rounds of SIGKILL to every process that may be signalled: one forked during a round gets the next


def sweep() -> None:
    """SIGKILL every process this one may signal but itself and its namespace's init, a few times
    over. Only where that is a notebook's leftovers alone: in a PID namespace of the notebook's own
    (as root there), or as the notebook's uid (`grader.executors.sandbox.reap`)."""
    with contextlib.suppress(ProcessLookupError):  # none left (some kernels never say so: hence a fixed count)
        for _ in range(SWEEPS):
            os.kill(-1, signal.SIGKILL)


def empty(folder: str | os.PathLike[str]) -> None:
    """Remove everything in `folder`, which stays: however deep (no recursion, and every path relative
    to an open folder, so no path is ever too long), whatever modes a notebook set, following no link
    and entering no other file system (a mount point in it, such as the Python installation that
    bubblewrap binds under the namespace's /tmp, stays as it is, and so do the folders above it).
    For a folder whose processes have all ended: it walks back up through `..`."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    device = os.fstat(fd).st_dev
    above: list[tuple[str, list[str]]] = []  # (the current folder's name in its parent, the parent's folders still to remove)
    pending = _remove_files(fd)
    try:
        while True:
            if pending:
                name = pending.pop()
                try:
                    mode = os.stat(name, dir_fd=fd, follow_symlinks=False)
                    if mode.st_dev != device:
                        continue  # another file system mounted here
                    if mode.st_mode & 0o700 != 0o700:  # made unreadable by a notebook: opened up for its owner alone
                        os.chmod(name, (mode.st_mode & 0o7777) | 0o700, dir_fd=fd)  # a folder, not a link: scandir said so
                    inner = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
                except OSError:
                    continue
                if os.fstat(inner).st_dev != device:  # mounted between the two looks
                    os.close(inner)
                    continue
                above.append((name, pending))
                os.close(fd)
                fd, pending = inner, _remove_files(inner)
            elif above:
                name, pending = above.pop()
                outer = os.open("..", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
                os.close(fd)
                fd = outer
                with contextlib.suppress(OSError):
                    os.rmdir(name, dir_fd=fd)
            else:
                return
    finally:
        os.close(fd)


def _remove_files(fd: int) -> list[str]:
    """Remove what is not a folder in the folder open as `fd`; its folders' names."""
    folders = []
    with os.scandir(fd) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                folders.append(entry.name)
            else:
                with contextlib.suppress(OSError):
                    os.unlink(entry.name, dir_fd=fd)
    return folders


def clear_ipc(owner: int | None = None) -> None:
    """Remove the System V shared memory segments, semaphore sets and message queues of this IPC
    namespace (only `owner`'s, when given): what one notebook leaves there must not reach the next."""
    c = libc()
    remove = {"shm": lambda i: c.shmctl(i, 0, None), "sem": lambda i: c.semctl(i, 0, 0), "msg": lambda i: c.msgctl(i, 0, None)}
    for kind, rmid in remove.items():  # 0 is IPC_RMID
        try:
            with open(f"/proc/sysvipc/{kind}") as table:
                header, *rows = (line.split() for line in table)
        except (OSError, ValueError):
            continue
        for row in rows:
            if owner is None or int(row[header.index("uid")]) == owner:
                rmid(int(row[1]))


KEYCTL = {"x86_64": 250, "aarch64": 219}  # the keyctl system call's number


def clear_keyrings() -> None:
    """Empty this uid's user and user-session keyrings (they outlive a process, and live as long as any
    process of the uid does)."""
    import platform

    keyctl = KEYCTL.get(platform.machine())
    if keyctl:
        for keyring in (-4, -5):  # KEY_SPEC_USER_KEYRING, KEY_SPEC_USER_SESSION_KEYRING
            libc().syscall(keyctl, 7, keyring)  # KEYCTL_CLEAR


@functools.cache


def libc() -> Any:
    """The C library, loaded once per process (clear_ipc runs after every notebook)."""
    import ctypes

    return ctypes.CDLL(None, use_errno=True)
