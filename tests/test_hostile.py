"""Hostile and broken submissions: each a real notebook, graded for real beside two honest ones.

Every test checks that the run completed, the offender's status and score, and (through the
`class_run` fixture) that the honest submissions, the submissions folder and the reports are intact.
"""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from grader.sandbox import detect
from grader.store import FILE as STORE
from notebooks import notebook

SEED = "SECRET-SEED-7731"
NAMESPACES = detect().layers["namespaces (pid, network, filesystem)"]
needs_namespaces = pytest.mark.skipif(not NAMESPACES, reason="bubblewrap is not available: no namespaces")

HOSTILE = {
    "bigalloc": "import numpy as np\nhuge = np.ones(10**11)",
    "growing": "import numpy as np\ndef leak():\n    hog = []\n    while True:\n        hog.append(np.empty(2**22))  # 32 MiB more each time\nleak()",
    "forkbomb": "import os, time\nfor _ in range(500):\n    if os.fork() == 0:\n        time.sleep(313)\n        os._exit(0)",
    "sysexit": "import sys\nsys.exit(4)",
    "exitfunction": "import sys\ndef relu_forward(a):\n    sys.exit(1)",
    "orphan": "import subprocess\nsubprocess.Popen(['sleep', '317'], start_new_session=True)",
    "escape": "for target in ['../evil.txt', '../../evil.txt', '/tmp/evil.txt', 'SUBMISSIONS/evil.txt', 'SUBMISSIONS/ada.ipynb']:\n"
              "    try:\n        open(target, 'w').write('pwned')\n        print('WROTE', target)\n"
              "    except OSError as exc:\n        print('refused', target, type(exc).__name__)",
    "seedhunt": "import os, glob\nprint(dict(os.environ))\n"
                "for path in ['/proc/1/environ', f'/proc/{os.getppid()}/environ', f'/proc/{os.getppid()}/cmdline', '/proc/1/cmdline']:\n"
                "    try:\n        print(path, open(path, 'rb').read())\n    except OSError as exc:\n        print(path, exc)\n"
                "for pattern in ['/**/*.sqlite', '/**/grades.csv', '/work/**/*.py', '/root/**']:\n"
                "    for path in glob.glob(pattern, recursive=True)[:50]:\n"
                "        try:\n            print(path, open(path, 'rb').read()[:2000])\n        except OSError as exc:\n            print(path, exc)",
    "socket": "import socket\ntry:\n    socket.create_connection(('127.0.0.1', PORT), timeout=2)\n    print('CONNECTED')\n"
              "except OSError as exc:\n    print('no network:', exc)",
    "recursion": "def relu_forward(a):\n    return relu_forward(a)",
    "segfault": "import ctypes\nctypes.string_at(0)",
    "chatty": "print('x' * 40_000_000)\nprint('more ' * 1000)",
    "selfkill": "import os, signal\ndef relu_forward(a):\n    os.kill(os.getpid(), signal.SIGKILL)",
}


def survivors(marker: str) -> list[str]:
    """Live processes whose command line holds `marker`."""
    ps = subprocess.run(["ps", "-ww", "-eo", "stat,args"], capture_output=True, text=True).stdout
    return [line for line in ps.splitlines() if marker in line and not line.startswith("Z")]


def leftovers() -> list[str]:
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    return [line for line in ps.splitlines() if line.strip() in ("sleep 313", "sleep 317")]


@pytest.fixture(scope="module", params=["fork", "process", "kernel"])
def class_run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The hostile class through each executor: every test below holds for all three."""
    root = tmp_path_factory.mktemp(f"hostile-{request.param}")
    subs = root / "submissions"
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.setblocking(False)
    port = server.getsockname()[1]
    notebook(subs / "ada.ipynb")
    notebook(subs / "zoe.ipynb")
    for student, cell in HOSTILE.items():
        notebook(subs / f"{student}.ipynb", cell.replace("SUBMISSIONS", str(subs)).replace("PORT", str(port)))
    hashes = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in subs.rglob("*")}
    env = {**os.environ, "GRADER_SEED": SEED}
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "grader.cli", "run", str(subs), "--out", str(root / "reports"), "--timeout", "3", "--jobs", "2", "--memory", "1G", "--executor", request.param],
        cwd=root, env=env, capture_output=True, text=True, timeout=600,
    )
    elapsed = time.monotonic() - started
    try:
        server.accept()
        accepted = True
    except BlockingIOError:
        accepted = False
    server.close()
    reports = root / "reports"
    return {
        "done": done, "elapsed": elapsed, "accepted": accepted, "root": root, "subs": subs, "hashes": hashes,
        "grades": pd.read_csv(reports / "grades.csv").set_index("student_id"),
        "feedback": {p.stem: p.read_text() for p in (reports / "feedback").iterdir()},
        "leftovers": leftovers(),
    }


def test_the_run_completes_and_honest_students_are_untouched(class_run):
    assert class_run["done"].returncode == 0, class_run["done"].stderr
    grades = class_run["grades"]
    assert set(grades.index) == {"ada", "zoe", *HOSTILE}
    for honest in ("ada", "zoe"):
        assert grades.loc[honest, "total"] == 18 and grades.loc[honest, "status"] == "ok"
    assert {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in class_run["subs"].rglob("*")} == class_run["hashes"]
    reports = sorted(p.name for p in (class_run["root"] / "reports").iterdir())
    assert reports == [STORE, "exercises.csv", "feedback", "grades.csv", "index.html", "lms.csv", "trials.csv"]
    assert "sandbox layers on:" in class_run["done"].stderr


@pytest.mark.parametrize("student, words", [("bigalloc", "MemoryError"), ("growing", "MemoryError")])
def test_memory_bombs_hit_the_cap_in_their_cell(class_run, student, words):
    assert class_run["grades"].loc[student, "total"] == 18
    assert words in class_run["feedback"][student]


def test_a_fork_bomb_is_bounded_and_leaves_nothing_behind(class_run):
    assert class_run["grades"].loc["forkbomb", "total"] == 18
    assert "BlockingIOError" in class_run["feedback"]["forkbomb"] or "Resource temporarily unavailable" in class_run["feedback"]["forkbomb"]
    assert class_run["leftovers"] == []


def test_sys_exit_in_a_cell_or_a_function(class_run):
    assert class_run["grades"].loc["sysexit", "total"] == 18
    assert class_run["grades"].loc["exitfunction", "relu_forward"] == 0
    assert class_run["grades"].loc["exitfunction", "status"] == "ok"


@needs_namespaces
def test_a_child_that_outlives_its_cell_is_killed(class_run):
    assert class_run["grades"].loc["orphan", "total"] == 18
    assert class_run["leftovers"] == []


def test_writes_outside_the_working_copy_are_refused(class_run):
    feedback = class_run["feedback"]["escape"]
    assert "WROTE" not in feedback and feedback.count("refused") >= 4
    assert not list(class_run["root"].rglob("evil.txt")) and not Path("/tmp/evil.txt").exists()


def test_the_seed_is_nowhere_the_notebook_can_look(class_run):
    feedback = class_run["feedback"]["seedhunt"]
    assert "GRADER_SEED" not in feedback and SEED not in feedback
    assert class_run["grades"].loc["seedhunt", "total"] == 18


@needs_namespaces
def test_no_network(class_run):
    assert not class_run["accepted"]
    assert "CONNECTED" not in class_run["feedback"]["socket"] and "no network" in class_run["feedback"]["socket"]


def test_deep_recursion_and_a_segfault(class_run):
    grades = class_run["grades"]
    assert grades.loc["recursion", "relu_forward"] == 0 and grades.loc["recursion", "status"] == "ok"
    assert "RecursionError" in class_run["feedback"]["recursion"]
    assert grades.loc["segfault", "status"] == "crashed" and grades.loc["segfault", "total"] == 0
    assert "SIGSEGV" in class_run["feedback"]["segfault"]


def test_forty_megabytes_of_output_are_cut(class_run):
    assert class_run["grades"].loc["chatty", "total"] == 18
    assert len(class_run["feedback"]["chatty"]) < 100_000


def test_a_function_that_kills_its_process(class_run):
    grades = class_run["grades"]
    assert grades.loc["selfkill", "status"] == "crashed"
    assert "SIGKILL" in class_run["feedback"]["selfkill"] and "relu_forward" in class_run["feedback"]["selfkill"]
    assert grades.loc["selfkill", "linear_forward"] == 1  # graded before the crash, kept


def test_a_killed_run_resumes_and_its_reports_equal_an_uninterrupted_runs(tmp_path):
    subs = tmp_path / "subs"
    for i in range(6):
        notebook(subs / f"s{i}.ipynb", "import time\ntime.sleep(1)", *(["def relu_forward(a):\n    return a"] if i % 2 else []))
    command = [sys.executable, "-m", "grader.cli", "run", str(subs), "--seed", "11", "--jobs", "1"]
    killed = subprocess.Popen([*command, "--out", str(tmp_path / "a")], cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    store = tmp_path / "a" / STORE
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if store.exists():
            try:
                if sqlite3.connect(store).execute("SELECT COUNT(*) FROM results").fetchone()[0] >= 2:
                    break
            except sqlite3.OperationalError:
                pass
        time.sleep(0.1)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    assert not (tmp_path / "a" / "grades.csv").exists()  # no half-written reports
    deadline = time.monotonic() + 10
    while survivors(str(tmp_path / "a")) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert survivors(str(tmp_path / "a")) == []  # its workers (and their warm servers) died with it
    resumed = subprocess.run([*command, "--out", str(tmp_path / "a")], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0 and "reused from an earlier run" in resumed.stderr
    straight = subprocess.run([*command, "--out", str(tmp_path / "b")], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert straight.returncode == 0
    files = ["grades.csv", "exercises.csv", "trials.csv", *(f"feedback/s{i}.md" for i in range(6))]
    for name in files:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    fresh = subprocess.run([*command, "--out", str(tmp_path / "a"), "--fresh"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert fresh.returncode == 0 and "reused" not in fresh.stderr
