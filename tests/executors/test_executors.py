"""The executors where bubblewrap is missing (macOS, many containers): the namespace layer is off,
every other layer holds, and the grades are the same as with it."""

from __future__ import annotations

import os
import signal
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from grader.discover import discover
from grader.executors.fork import ForkExecutor
from grader.executors.kernel import KernelExecutor
from grader.executors.process import ProcessExecutor
from grader.executors.sandbox import FIRST_UID, Sandbox, _readable_by_all, detect
from grader.grading import grade
from grader.model import Options
from grader.spec import load
from notebooks import notebook


@pytest.mark.parametrize("executor", [ForkExecutor, ProcessExecutor, KernelExecutor])
def test_without_namespaces_every_executor_grades_and_contains(tmp_path: Path, executor: type) -> None:
    subs = tmp_path / "subs"
    notebook(subs / "solution.ipynb")
    notebook(subs / "transposed.ipynb", "def linear_backward(dL_da, h, W, b):\n    return dL_da @ W.T, np.outer(dL_da, h), dL_da")
    notebook(subs / "loops.ipynb", "while True:\n    pass")
    notebook(subs / "dies.ipynb", "import os\nos._exit(3)")
    notebook(subs / "orphan.ipynb", "import subprocess\nchild = subprocess.Popen(['sleep', '331'], start_new_session=True)")
    assignment = load("backprop")
    runner = executor(sandbox=replace(detect(), bwrap=None))
    try:
        results = {s.student_id: grade(s, assignment, Options(seed=5, timeout=2), runner) for s in discover(subs, tmp_path / "scratch")}
    finally:
        runner.close()
    assert results["solution"].total == 18 and results["solution"].status == "ok"
    assert results["transposed"].total == 11 and results["transposed"].status == "ok"
    assert results["loops"].total == 18 and results["loops"].cells[0].status == "timeout"
    assert results["dies"].status == "crashed" and "exit code 3" in results["dies"].message
    assert results["orphan"].total == 18
    alive = [p for p in Path("/proc").glob("[0-9]*") if _cmdline(p) == "sleep 331"]
    for proc in alive:  # what outlived its notebook: only the warm server reaps without a PID namespace
        os.kill(int(proc.name), signal.SIGKILL)
    assert alive == [] or executor is not ForkExecutor


def _cmdline(proc: Path) -> str:
    try:
        return (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return ""


def test_without_namespaces_a_notebook_gets_its_own_uid_only_where_it_can_read_python(tmp_path: Path) -> None:
    private = tmp_path / "home"
    (private / "python").mkdir(parents=True)
    private.chmod(0o700)
    assert not _readable_by_all(private / "python")  # like a pyenv Python under /root
    hidden = Sandbox(None, as_root=True, python_shared=False)
    assert hidden.uid(0) is None and not hidden.layers["unprivileged uid"]
    assert "could not read the Python installation" in hidden.describe()
    assert Sandbox("/usr/bin/bwrap", as_root=True, python_shared=False).uid(0) == FIRST_UID  # the namespace shows it to every uid
    assert Sandbox(None, as_root=True, python_shared=True).uid(1) == FIRST_UID + 1


@pytest.mark.skipif(os.geteuid() != 0, reason="notebooks get uids of their own only when the grader runs as root")
def test_a_working_copy_is_private_to_its_notebooks_uid(tmp_path: Path) -> None:
    """Without the namespaces another notebook's uid can reach /tmp: it must not read this copy."""
    import shutil
    import subprocess
    import tempfile

    from grader.executors.base import stage
    from grader.model import Job
    from grader.model import Limits

    notebook(tmp_path / "subs" / "ada" / "work.ipynb")
    (tmp_path / "subs" / "ada" / "secret.txt").write_text("ada's answers")
    above = Path(tempfile.mkdtemp(prefix="grader-test-"))  # in the system's temporary folder, as a run's are
    box = above / "box"
    stage(box, box / "work", Job([], tmp_path / "subs" / "ada", [], 1.0), Limits(), 10.0, FIRST_UID + 7, above)
    assert (box / "work" / "secret.txt").stat().st_uid == FIRST_UID + 7
    for command in (["cat", str(box / "work" / "secret.txt")], ["ls", str(box / "work")], ["ls", str(box)]):
        other = subprocess.run(command, user=FIRST_UID + 8, group=FIRST_UID + 8, capture_output=True, text=True)
        assert other.returncode != 0 and "Permission denied" in other.stderr, command
    mine = subprocess.run(["cat", str(box / "work" / "secret.txt")], user=FIRST_UID + 7, group=FIRST_UID + 7, capture_output=True, text=True)
    assert mine.stdout == "ada's answers"  # the copy's own uid reads it: the denials above are the copy's own modes
    shutil.rmtree(above)


@pytest.mark.skipif(os.geteuid() != 0, reason="only root gives notebooks uids of their own")
def test_reap_ends_every_process_of_a_notebooks_uid(tmp_path: Path) -> None:
    """Processes in sessions of their own, their children and their children's: none survives."""
    import subprocess
    import time

    from grader.executors.sandbox import reap

    uid = FIRST_UID + 9
    daemon = "for i in 1 2 3; do setsid sh -c 'sleep 337 & sleep 337 & wait' & done; sleep 337"
    for _ in range(2):
        subprocess.Popen(["/bin/sh", "-c", daemon], user=uid, group=uid, start_new_session=True, cwd="/",
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while len(_of(uid)) < 8 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(_of(uid)) >= 8
    reap(uid)
    time.sleep(0.2)
    assert _of(uid) == []
    reap(uid)  # nothing left: no error


@pytest.mark.skipif(os.geteuid() != 0, reason="only root gives notebooks uids of their own")
def test_reap_removes_what_a_notebooks_uid_left_in_the_shared_temporary_folders() -> None:
    """Without the namespaces a notebook's uid can write /tmp, /var/tmp and /dev/shm: what it left
    there (files, folders it made unreadable, links) goes with it; what others own stays."""
    import subprocess

    from grader.executors.sandbox import SHARED_TMP, reap

    uid = FIRST_UID + 11
    left = "d=$1/left-by-{uid}; mkdir -p $d/deep && echo x > $d/deep/f && chmod 000 $d/deep $d; echo y > $1/file-by-{uid}; ln -sf /etc/passwd $1/link-by-{uid}"
    folders = [f for f in SHARED_TMP if os.path.isdir(f) and os.access(f, os.W_OK)]
    for folder in folders:
        subprocess.run(["/bin/sh", "-c", left.format(uid=uid), "sh", folder], user=uid, group=uid, check=True)
    mine = Path(folders[0]) / f"kept-{os.getpid()}"
    mine.write_text("the grader's own")
    try:
        assert all((Path(f) / f"file-by-{uid}").exists() for f in folders)
        reap(uid)
        assert not [p for f in folders for p in Path(f).glob(f"*-by-{uid}")]
        assert mine.read_text() == "the grader's own" and Path("/etc/passwd").exists()
    finally:
        mine.unlink()


def _of(uid: int) -> list[int]:
    """The live (not zombie) processes of `uid`."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            status = (proc / "status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if fields.get("Uid", "").split()[:1] == [str(uid)] and not fields.get("State", "").strip().startswith("Z"):
            found.append(int(proc.name))
    return found


def test_two_runs_on_one_machine_never_share_a_slot(tmp_path: Path) -> None:
    """Neither a run's $TMPDIR nor its own scratch folder (tempfile.tempdir) may give it its own slot
    locks: two runs would then share uids, and each would kill the other's notebooks when reaping."""
    import subprocess
    import tempfile

    from grader.executors.sandbox import claim_slot

    (tmp_path / "elsewhere").mkdir()
    holder = subprocess.Popen([sys.executable, "-c", "from grader.executors.sandbox import claim_slot; print(claim_slot(), flush=True); input()"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "TMPDIR": str(tmp_path / "elsewhere")})  # another run, with a $TMPDIR of its own
    try:
        held = int(holder.stdout.readline())
        previous, tempfile.tempdir = tempfile.tempdir, str(tmp_path)  # as grader.run.scratch() does
        try:
            assert claim_slot() != held
        finally:
            tempfile.tempdir = previous
    finally:
        holder.stdin.close()
        holder.wait()


LEAVE = """
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
segment = libc.shmget(0x5EC, 4096, 0o1666)  # IPC_CREAT | 0o666
queue = libc.msgget(0x5ED, 0o1666)
key = libc.syscall(248, b"user", b"answers", b"42", 2, ctypes.c_int(-4))  # add_key to the user keyring (x86-64)
open("left-in-work.txt", "w").write("answers")
for folder in ["/tmp", "/var/tmp", "/dev/shm"]:
    try:
        open(f"{folder}/left-by-a", "w").write("answers")
    except OSError:
        pass
print("LEFT", segment >= 0, queue >= 0, key > 0)
"""
FIND = """
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
found = [name for name, there in (("shm", libc.shmget(0x5EC, 0, 0) >= 0), ("msg", libc.msgget(0x5ED, 0) >= 0),
         ("key", libc.syscall(249, b"user", b"answers", None, 0) > 0  # request_key: the keyrings this process searches
                 or libc.syscall(250, 10, ctypes.c_int(-4), b"user", b"answers", 0) > 0)) if there]  # KEYCTL_SEARCH of the uid's user keyring
import os
found += [path for path in ["left-in-work.txt", "/tmp/left-by-a", "/var/tmp/left-by-a", "/dev/shm/left-by-a"] if os.path.exists(path)]
print("FOUND", found)
"""


@pytest.mark.parametrize("lingering", [False, True], ids=["alone", "lingering"])
@pytest.mark.parametrize("executor", [ForkExecutor, ProcessExecutor, KernelExecutor])
def test_nothing_a_notebook_leaves_in_the_kernel_reaches_the_next_one(tmp_path: Path, executor: type, lingering: bool) -> None:
    """System V shared memory and message queues, keys in the uid's keyrings, files in the working
    directory and the temporary folders: a channel between two students graded one after the other in
    the same slot, unless cleared in between; also while a process of their uid lingers (a loaded
    machine, where a notebook's processes take a while to die), which keeps a uid's keyrings alive."""
    import subprocess

    from grader.executors.sandbox import claim_slot

    sandbox, slot = detect(), claim_slot()
    if sandbox.uid(slot) is None and sandbox.bwrap is None:
        pytest.skip("neither a uid of its own nor namespaces: notebooks share everything with the grader")
    if lingering and sandbox.uid(slot) is None:
        pytest.skip("no uid of its own for a notebook here")
    notebook(tmp_path / "subs" / "a_leaves.ipynb", LEAVE)
    notebook(tmp_path / "subs" / "b_finds.ipynb", FIND)
    uid = sandbox.uid(slot)
    alive = subprocess.Popen(["sleep", "60"], user=uid, group=uid, extra_groups=[]) if lingering else None
    runner = executor(sandbox=sandbox, slots=[slot])
    try:
        results = [grade(s, load("backprop"), Options(seed=5, timeout=5), runner) for s in discover(tmp_path / "subs", tmp_path / "x")]
    finally:
        runner.close()
        if alive:
            alive.kill()
            alive.wait()
    assert "LEFT True True True" in results[0].output  # it did leave them
    assert "FOUND []" in results[1].output


def test_the_kernel_executor_leaves_nothing_open_in_the_grading_process(tmp_path: Path) -> None:
    """Every notebook's kernel client, ZeroMQ context and event loop are closed after it: otherwise a
    worker leaks descriptors and threads by the notebook, until it runs out, and a worker forked from
    such a process inherits its event loop (one epoll shared by every child: they hang)."""
    import threading

    for name in ("a", "b", "c"):
        notebook(tmp_path / "subs" / f"{name}.ipynb")
    runner = KernelExecutor()
    try:
        subs = discover(tmp_path / "subs", tmp_path / "x")
        grade(subs[0], load("backprop"), Options(seed=5, timeout=5), runner)  # what the first notebook loads stays loaded
        before = (sorted(os.listdir("/proc/self/fd")), threading.active_count())
        results = [grade(s, load("backprop"), Options(seed=5, timeout=5), runner) for s in subs[1:]]
        after = (sorted(os.listdir("/proc/self/fd")), threading.active_count())
    finally:
        runner.close()
    assert [r.total for r in results] == [18, 18]
    assert after == before



def test_emptying_enters_no_other_file_system_and_keeps_the_modes_of_what_stays(tmp_path: Path) -> None:
    """The fork server empties its namespace's /tmp after each notebook, where bubblewrap binds a
    Python installation that lives under /tmp (a clone in /tmp, a CI checkout): emptying set the
    folders above it to 0700, which hid the installation from the next notebook's uid (its first
    import of a module not yet loaded failed). Mounted file systems are left alone, and a folder's
    mode is only opened up for its owner where a notebook closed it."""
    from grader.inside.clean import empty
    from grader.executors.sandbox import detect, mount_tmpfs, unmount

    if not detect().quota_on:
        pytest.skip("the grader may not mount here")
    top = tmp_path / "top"
    (top / "clone" / "venv").mkdir(parents=True)
    (top / "clone").chmod(0o755)
    mount_tmpfs(top / "clone" / "venv", 2**20)
    try:
        (top / "clone" / "venv" / "module.py").write_text("x = 1")
        (top / "closed" / "deeper").mkdir(parents=True)
        (top / "closed" / "deeper" / "left.txt").write_text("answers")
        (top / "closed" / "deeper").chmod(0)
        (top / "closed").chmod(0)
        empty(top)
        assert (top / "clone" / "venv" / "module.py").read_text() == "x = 1"
        assert (top / "clone").stat().st_mode & 0o777 == 0o755
        assert sorted(p.name for p in top.iterdir()) == ["clone"]
    finally:
        unmount(top / "clone" / "venv")


@pytest.mark.parametrize("name", ["fork", "process", "kernel"])
def test_an_executor_gives_back_the_slot_it_claimed_when_closed_and_keeps_one_it_was_given(name: str) -> None:
    """A slot (a uid, a memory cgroup) is held while its executor lives and given back by `close`, for
    the next executor or grading process of the machine; a slot the caller claimed stays the caller's."""
    from grader.executors import executor
    from grader.executors.sandbox import _lock, claim_slot, release_slot

    runner = executor(name)
    [slot] = runner.slots
    assert _lock(slot) is None  # held
    runner.close()
    handle = _lock(slot)
    assert handle is not None  # given back
    handle.close()
    given = claim_slot()
    runner = executor(name, slots=(given,))
    runner.close()
    try:
        assert _lock(given) is None  # still the caller's
    finally:
        release_slot(given)
    handle = _lock(given)
    assert handle is not None
    handle.close()
