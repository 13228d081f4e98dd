"""The warm server's clean-up after a notebook: every process the notebook left behind is found and killed."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from grader.inside import server as harness

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


@linux_only
def test_the_kernels_list_of_children_and_the_proc_scan_agree():
    sleepers = [subprocess.Popen(["sleep", "30"]) for _ in range(3)]
    try:
        listed = set(harness._children())
        assert {p.pid for p in sleepers} <= listed
        assert listed == set(harness._scan_children())
    finally:
        for p in sleepers:
            p.kill()
            p.wait()


@linux_only
@pytest.mark.parametrize("lister", ["_children", "_scan_children"])
def test_an_orphan_in_its_own_session_is_killed(lister):
    """A notebook's child that called setsid and outlived the notebook is re-parented to the server
    (a subreaper), which must kill it: with the kernel's list of children, and with the /proc scan."""
    script = textwrap.dedent(f"""
        import os, subprocess
        from grader.inside import server as harness
        harness._children = harness.{lister}
        harness._become_subreaper()
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:
            orphan = subprocess.Popen(["sleep", "321"], start_new_session=True)
            os.write(write, str(orphan.pid).encode())
            os._exit(0)
        os.waitpid(pid, 0)
        orphan = int(os.read(read, 100))
        assert os.path.exists(f"/proc/{{orphan}}")
        harness._kill_descendants(pid)
        alive = os.path.exists(f"/proc/{{orphan}}") and open(f"/proc/{{orphan}}/stat").read().split()[2] != "Z"
        print("alive" if alive else "gone")
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-1] == "gone"
