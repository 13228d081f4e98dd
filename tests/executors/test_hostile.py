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
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from grader.discover import discover
from grader.executors.cgroup import Hierarchy, MemoryCap, V2_FOLDER, find
from grader.executors.fork import ForkExecutor
from grader.executors.kernel import KernelExecutor
from grader.executors.process import ProcessExecutor
from grader.executors.sandbox import Sandbox, claim_slot, detect
from grader.grading import grade
from grader.model import Limits, Options
from grader.spec import load
from grader.store import FILE as STORE
from notebooks import notebook
from same import assert_same_reports

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
    # a process in a session of its own that keeps moving to a new pid (a chain of forks), then sleeps
    "hopper": "import os, time\nif os.fork() == 0:\n    os.setsid()\n    for _ in range(3000):\n        if os.fork():\n            os._exit(0)\n"
              "    os.execvp('sleep', ['sleep', '319'])",
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

# Code in a graded function reaching the harness's own Run object (up the call stack) and writing on
# its result channel. Each forger sends one kind of forged or broken report, once.
FORGE = """
import sys, json
import numpy as np
_sent = []
def _harness():
    f = sys._getframe()
    while f is not None:
        if type(f.f_locals.get("self")).__name__ == "Run":
            return f.f_locals["self"]
        f = f.f_back
def relu_forward(a):
    if not _sent:
        _sent.append(1)
        run = _harness()
        FORGERY
    return np.maximum(a, 0)
"""
FORGERIES = {
    "forge_unasked": 'run.send({"event": "exercise", "id": "bonus_points", "calls": []})',
    "forge_types": 'run.send({"event": "cell", "cell": "seven", "status": 5, "error": ["not", "a", "dict"]})',
    "forge_call": 'run.send({"event": "exercise", "id": "mlp_backward", "calls": [{"status": "ok", "result": {"array": "nowhere"}}] * 6})',
    "forge_early": 'run.send({"event": "exercise", "id": "sqerr_forward", "calls": [{"status": "ok", "result": {"array": "a0"}, '
                   '"changed": []}] * 6}, {"a0": np.zeros(())})',
    "forge_changed": 'run.send({"event": "exercise", "id": "sqerr_backward", "calls": [{"status": "ok", "result": {"array": "a0"}, '
                     '"changed": ["secret_input"]}] * 6}, {"a0": np.zeros(3)})',  # an input the call was not given
    "forge_changed_type": 'run.send({"event": "exercise", "id": "sqerr_backward", "calls": [{"status": "ok", "result": {"array": "a0"}, '
                          '"changed": [["f"], {"y": 1}]}] * 6}, {"a0": np.zeros(3)})',  # names that are not text
    "forge_done": 'run.send({"event": "done"})',
    "forge_garbage": 'run.channel.write((13).to_bytes(8, "big") + bytes(range(250, 256)) + b"garbage"); run.channel.flush()',
    "forge_flood": 'for _ in range(200):\n            run.channel.write(bytes(2**20))',
    "forge_cut": 'run.channel.write((10**9).to_bytes(8, "big") + b"{"); run.channel.flush()',
    "forge_deep": 'body = (\'{"manifest": \' + \'{"event": "cell", "x": \' * 200000 + "1" + "}" * 200001 + \', "arrays": {}}\').encode()\n'
                  '        run.channel.write((len(body) + 8).to_bytes(8, "big") + len(body).to_bytes(8, "big") + body); run.channel.flush()',
    "forge_text": 'run.send({"event": "exercise", "id": "relu_jacobian", "calls": [{"status": "raised", "error": {"type": "X", '
                  '"message": "\\ud800\\x1b[31m<script>alert(1)</script>" * 100000, "where": ""}}] * 6})',
}
HOSTILE |= {name: FORGE.replace("FORGERY", forgery) for name, forgery in FORGERIES.items()}

# Links and special files in a folder submission: refused, and never read (reading could block).
LINKS = {
    "thief": ("work2.ipynb", "SUBMISSIONS/ada.ipynb"),  # another student's notebook as its own (and two notebooks)
    "zeroes": ("data.npy", "/dev/zero"),
    "piped": ("data.csv", "FIFO"),
    "looped": ("again", "."),
    "passwd": ("data.txt", "/etc/passwd"),
}

# Code that catches the time limit's interrupt and runs on, in a cell or in a graded function.
HOSTILE |= {
    "swallow_cell": "while True:\n    try:\n        sum(range(10**6))\n    except BaseException:\n        pass",
    "swallow_call": "import time\ndef relu_forward(a):\n    while True:\n        try:\n            time.sleep(5)\n        except:\n            pass",
}

# Odd but honest return values and exceptions: graded as what they are, never called tampering.
ODD = {
    "namedtuple": ("from collections import namedtuple\nGrads = namedtuple('Grads', 'dL_dh dL_dW dL_db')\n_lb = linear_backward\n"
                   "def linear_backward(dL_da, h, W, b):\n    return Grads(*_lb(dL_da, h, W, b))", None),
    "deep": ("def relu_forward(a):\n    x = a\n    for _ in range(40):\n        x = [x]\n    return x", "relu_forward"),
    "wide": ("def relu_forward(a):\n    return {f'k{i}': i for i in range(200_000)}", "relu_forward"),
    "badstr": ("class Weird(Exception):\n    def __str__(self):\n        raise RuntimeError('no')\n"
               "def relu_forward(a):\n    raise Weird()", "relu_forward"),
}
HOSTILE |= {name: cell for name, (cell, _) in ODD.items()}

# The disk: every notebook's working directory holds at most --disk (64M here), in bytes and in files.
# Each stops well short of filling a machine without the quota (192 MiB, 20 000 files).
FILL = ("import os\nwritten = 0\ntry:\n    for i in range(24):\n        with open(f'fill{i}.bin', 'wb') as f:\n"
        "            f.write(b'x' * 8 * 2**20)\n        written += 8\n    print('WROTE ALL')\n"
        "except OSError as exc:\n    print('FULL after', written, 'MiB', type(exc).__name__)\n")
HOSTILE |= {
    "diskfill": FILL + "for name in os.listdir('.'):\n    if name.startswith('fill'):\n        os.remove(name)",  # then tidies up
    "diskhog": FILL,  # and leaves it full
    "diskcrash": FILL + "os._exit(3)",  # leaves it full, and dies
    "inodes": "import os\nmade = 0\ntry:\n    for made in range(20_000):\n        open(f'f{made}', 'w').close()\n    print('MADE ALL')\n"
              "except OSError as exc:\n    print('NO MORE FILES after', made, type(exc).__name__)\n"
              "for name in os.listdir('.'):\n    if name.startswith('f') and name[1:].isdigit():\n        os.remove(name)",
    # deeper than Python's recursion limit, and than the longest path: the working directory is emptied anyway
    "deeptree": "import os\nfd = os.open('.', os.O_RDONLY)\nfor i in range(2500):\n    os.mkdir('d', dir_fd=fd)\n"
                "    inner = os.open('d', os.O_RDONLY, dir_fd=fd)\n    os.close(fd)\n    fd = inner\nos.chmod('d', 0)",
    "tmpfill": "for folder in ['/tmp', '/var/tmp', '/dev/shm']:\n    try:\n        open(f'{folder}/left-by-tmpfill', 'wb').write(b'x' * 2**20)\n"
               "        print('WROTE', folder)\n    except OSError as exc:\n        print('refused', folder, type(exc).__name__)",
}
QUOTA = detect().layers["disk quota"]

# Text a student controls, in every place text comes out of a notebook.
HOSTILE |= {
    "surrogates": 'import sys\ndef relu_forward(a):\n    raise ValueError("lone \\ud800 surrogate")\n'
                  'sys.stdout.buffer.write(b"\\xed\\xa0\\x80 an encoded surrogate\\n")\nraise ValueError("lone \\udfff in a cell")',
    "controls": 'import os\nprint("\\x1b[31mred\\x1b[0m\\x07\\x00\\x08 \\u202eevil \\r overwritten")\nos.write(1, b"\\xff\\xfe not UTF-8\\n")\n'
                'def relu_backward(dL_dh, a):\n    raise RuntimeError("\\x1b]0;title\\x07\\x00 \\u2066hidden\\u2069 \\ud83d")',
    "markup": 'import numpy as np\nclass Evil: pass\nEvil.__name__ = "<img src=x onerror=alert(2)>"\n'
              'def relu_forward(a):\n    raise ValueError("<script>alert(1)</script> **bold** [x](javascript:alert(1)) | col | (___strong___) __em__ &lt;b&gt;")\n'
              'def linear_forward(h, W, b):\n    return {"<b>\\ud800</b>": h, "`k`": 1}\n'
              'def relu_jacobian(a):\n    return Evil()\n'
              'print("</pre><script>alert(3)</script>\\n```\\n# heading")',
}


def survivors(marker: str) -> list[str]:
    """Live processes whose command line holds `marker`."""
    ps = subprocess.run(["ps", "-ww", "-eo", "stat,args"], capture_output=True, text=True).stdout
    return [line for line in ps.splitlines() if marker in line and not line.startswith("Z")]


def mounts_under(folder: Path) -> list[str]:
    """The mount points below `folder`."""
    with open("/proc/self/mountinfo") as table:
        return [line.split()[4] for line in table if line.split()[4].startswith(f"{folder}/")]


def leftovers() -> list[str]:
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    return [line for line in ps.splitlines() if line.strip() in ("sleep 313", "sleep 317", "sleep 319")]


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
    notebook(subs / os.fsdecode(b"caf\xe9-\xff.ipynb"))  # honest, named in bytes that are not UTF-8
    notebook(subs / ("y" * 255) / "work.ipynb")  # honest, in a folder whose name is as long as a name may be
    for student, cell in HOSTILE.items():
        notebook(subs / f"{student}.ipynb", cell.replace("SUBMISSIONS", str(subs)).replace("PORT", str(port)))
    for student, (name, target) in LINKS.items():  # a folder submission with a link or a special file in it
        notebook(subs / student / "work.ipynb")
        os.mkfifo(subs / student / name) if target == "FIFO" else os.symlink(str(target).replace("SUBMISSIONS", str(subs)), subs / student / name)
    os.symlink(subs / "ada.ipynb", subs / "copycat.ipynb")
    notebook(subs / "manyfiles" / "work.ipynb")
    for i in range(9000):  # more files than a 64M quota holds
        (subs / "manyfiles" / f"{i}.txt").touch()
    notebook(subs / "bigfiles" / "work.ipynb")
    with open(subs / "bigfiles" / "data.bin", "wb") as data:
        data.truncate(70 * 2**20)  # sparse here, 70 MiB in a working copy
    notebook(subs / "linked" / "work.ipynb", "import numpy as np\nassert open('data.csv').read() == '1,2'")  # a link to its own file
    (subs / "linked" / "data").mkdir()
    (subs / "linked" / "data" / "values.csv").write_text("1,2")
    os.symlink("data/values.csv", subs / "linked" / "data.csv")
    hashes = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in subs.rglob("*") if p.is_file()}
    env = {**os.environ, "GRADER_SEED": SEED}
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "grader.cli", "run", str(subs), "--out", str(root / "reports"), "--timeout", "3", "--jobs", "2", "--memory", "1G", "--disk", "64M", "--executor", request.param],
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
    assert class_run["done"].returncode == 1, class_run["done"].stderr  # reports written; the attackers were not graded in full
    grades = class_run["grades"]
    odd = sorted(set(grades.index) - {"ada", "zoe", "linked", "copycat", "bigfiles", "manyfiles", *HOSTILE, *LINKS})
    assert len(odd) == 2 and odd[0].startswith("caf\ufffd-\ufffd~") and odd[1].startswith("y" * 150) and len(odd[1].encode()) <= 200
    for honest in ("ada", "zoe", "linked", *odd):
        assert grades.loc[honest, "total"] == 18 and grades.loc[honest, "status"] == "ok"
        assert (class_run["root"] / "reports" / "feedback" / f"{honest}.html").is_file()
    assert {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in class_run["subs"].rglob("*") if p.is_file()} == class_run["hashes"]
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


@pytest.mark.skipif(not QUOTA, reason="this machine does not let the grader mount a tmpfs: no disk quota")
def test_a_notebook_cannot_write_more_than_its_disk_quota(class_run):
    """In bytes and in files. Its reports to the grader do not share its quota, so a notebook that
    fills it is graded in full; one that then dies is told it had filled it; a submission larger than
    the quota is that submission's error; the others are graded as if none of them were there."""
    feedback = {name: " ".join(class_run["feedback"][name].split()) for name in ("diskfill", "diskhog", "diskcrash", "inodes")}
    written = int(feedback["diskfill"].split("FULL after ")[1].split()[0])
    assert 40 <= written <= 64 and "OSError" in feedback["diskfill"]
    assert class_run["grades"].loc["diskfill", "total"] == 18
    made = int(feedback["inodes"].split("NO MORE FILES after ")[1].split()[0])
    assert 4000 <= made <= 8192 and class_run["grades"].loc["inodes", "total"] == 18
    hog = class_run["grades"].loc["diskhog"]  # its reports do not share its quota: graded in full
    assert hog.status == "ok" and hog.total == 18 and "FULL after" in feedback["diskhog"]
    crash = class_run["grades"].loc["diskcrash"]
    assert crash.status == "crashed" and "filled its disk quota of 64 MiB" in feedback["diskcrash"]
    for big in ("bigfiles", "manyfiles"):  # submission folders larger than the quota, in bytes and in files
        row, shown = class_run["grades"].loc[big], " ".join(class_run["feedback"][big].split())
        assert row.status == "error" and row.total == 0
        assert "at most 64 MiB and 8192 files, its disk quota" in shown and "grader-" not in shown and len(shown) < 20_000
    assert class_run["grades"].loc["deeptree", "total"] == 18


@pytest.mark.skipif(not NAMESPACES and os.geteuid() != 0, reason="notebooks run as the grader's own user: its /tmp is theirs")
def test_shared_temporary_folders_are_the_notebooks_own_or_closed(class_run):
    """/tmp, /var/tmp and /dev/shm: inside the namespaces, none the host's, and nothing of them is left;
    without them, what a notebook's uid wrote there is removed after it."""
    assert class_run["grades"].loc["tmpfill", "total"] == 18
    assert not any(Path(folder, "left-by-tmpfill").exists() for folder in ("/tmp", "/var/tmp", "/dev/shm"))


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


@pytest.mark.parametrize("student", ODD)
def test_odd_but_honest_results_are_graded_as_what_they_are(class_run, student):
    row, broken = class_run["grades"].loc[student], ODD[student][1]
    assert row.status == "ok", (student, class_run["feedback"][student][:500])
    assert row.total == 18 if broken is None else (row[broken] == 0 and row.total == 18 - 1 - 4)  # relu_forward, and the network using it
    assert "result channel" not in class_run["feedback"][student]


@pytest.mark.parametrize("student", [*LINKS, "copycat"])
def test_links_that_leave_a_submission_and_special_files_refuse_it(class_run, student):
    row = class_run["grades"].loc[student]
    assert row.status == "error" and row.total == 0
    feedback = " ".join(class_run["feedback"][student].split())
    assert ("is a link, not a submission" if student == "copycat" else "that leaves the submission" if student != "piped"
            else "neither a file nor a folder") in feedback


@pytest.mark.parametrize("student, where", [("swallow_cell", "code cell 9"), ("swallow_call", "exercise relu_forward")])
def test_code_that_catches_the_time_limit_is_stopped_anyway(class_run, student, where):
    row = class_run["grades"].loc[student]
    assert row.status == "crashed" and row.total < 18
    feedback = " ".join(class_run["feedback"][student].split())
    assert "caught the interrupt of a time limit" in feedback and where in feedback


@pytest.mark.parametrize("student", FORGERIES)
def test_forged_or_broken_results_make_that_submission_an_error(class_run, student):
    """Reports the grader did not ask for, of the wrong types, broken frames, a frame that never ends,
    JSON nested 200 000 deep: that submission's error, nothing of it used, and the run goes on."""
    row = class_run["grades"].loc[student]
    assert row.status == "error" and row.total == 0
    assert "did not ask for or cannot read" in class_run["feedback"][student]


@pytest.mark.parametrize("student", ["surrogates", "controls", "markup", "forge_text"])
def test_text_a_student_controls_is_written_as_safe_text(class_run, student):
    reports = class_run["root"] / "reports"
    for path in [reports / "exercises.csv", reports / "trials.csv", reports / "index.html", *(reports / "feedback").glob(f"{student}.*")]:
        text = path.read_text(encoding="utf-8")  # valid UTF-8: no lone surrogate could be written
        assert not any(c in text for c in "\x00\x07\x08\x1b\u202e\u2066"), path.name
        assert "<script>" not in text or path.suffix in (".csv", ".md"), path.name  # shown as text in every page
        assert "<img src=x" not in text or path.suffix in (".csv", ".md"), path.name
    messages = pd.read_csv(reports / "exercises.csv", keep_default_na=False).set_index(["student_id", "exercise"]).message
    if student == "markup":
        page = (reports / "feedback" / "markup.html").read_text()
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "**bold**" in page and "[x](javascript:alert(1))" in page
        assert "<strong>bold</strong>" not in page and "href" not in page  # Markdown in a message stays text too
        assert "<strong>strong</strong>" not in page and "<em>" not in page and "(___strong___) __em__ &amp;lt;b&amp;gt;" in page
        assert "<img src=x onerror=alert(2)>" in messages[("markup", "relu_jacobian")]  # the type's name, as text
    if student == "surrogates":
        assert "lone \ufffd surrogate" in messages[("surrogates", "relu_forward")]
    if student == "forge_text":
        assert len(class_run["feedback"]["forge_text"]) < 10_000  # 4.5 MB of forged text, not kept


KERNEL_FORGERIES = {  # messages on the kernel's own sockets, in forms nbclient does not accept
    "display": "k = get_ipython().kernel\nk.session.send(k.iopub_socket, 'display_data', content={'data': 5}, parent=k.get_parent('shell'))",
    "stream": "k = get_ipython().kernel\nk.session.send(k.iopub_socket, 'stream', content={'name': 7}, parent=k.get_parent('shell'))",
    "error": "k = get_ipython().kernel\nk.session.send(k.iopub_socket, 'error', content={}, parent=k.get_parent('shell'))",
    "listtext": "k = get_ipython().kernel\nk.session.send(k.iopub_socket, 'stream', {'name': 'stdout', 'text': ['list ', 'text\\n']}, "
                "parent=k.get_parent(), ident=b'stream.stdout')",  # valid for nbformat: it is kept, and must not break the output
    "tracelist": "k = get_ipython().kernel\nk.session.send(k.iopub_socket, 'error', {'ename': ['E'], 'evalue': 5, 'traceback': [['x'], 7]}, "
                 "parent=k.get_parent(), ident=b'error')",
}


def test_malformed_jupyter_messages_are_that_submissions_error(tmp_path):
    notebook(tmp_path / "subs" / "ada.ipynb")
    for name, cell in KERNEL_FORGERIES.items():
        notebook(tmp_path / "subs" / f"{name}.ipynb", cell)
    done = subprocess.run([sys.executable, "-m", "grader.cli", "run", "subs", "--seed", "1", "--timeout", "3", "--executor", "kernel"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, done.stderr  # reports written; the forgers' submissions were not graded in full
    grades = pd.read_csv(tmp_path / "reports" / "grades.csv").set_index("student_id")
    assert grades.loc["ada", "total"] == 18
    for name in ("display", "stream", "error"):
        assert grades.loc[name, "status"] == "error" and grades.loc[name, "total"] == 0
        assert "a Jupyter message the grader cannot read" in (tmp_path / "reports" / "feedback" / f"{name}.md").read_text()
    assert grades.loc["listtext", "total"] == 18 and "list text" in (tmp_path / "reports" / "feedback" / "listtext.md").read_text()
    assert grades.loc["tracelist", "status"] in ("ok", "error")  # whatever nbclient makes of it, the run completes


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
    left = Path(tempfile.gettempdir()) / f"grader-run-{killed.pid}"
    assert left.is_dir()  # its working copies, which nothing could remove
    assert mounts_under(left) or not QUOTA  # and their disk quotas, still mounted
    deadline = time.monotonic() + 10
    while survivors(str(tmp_path / "a")) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert survivors(str(tmp_path / "a")) == []  # its workers (and their warm servers) died with it
    resumed = subprocess.run([*command, "--out", str(tmp_path / "a")], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0 and "reused from an earlier run" in resumed.stderr
    assert not left.exists() and mounts_under(left) == []  # unmounted and removed by the next run
    straight = subprocess.run([*command, "--out", str(tmp_path / "b")], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert straight.returncode == 0
    files = ["grades.csv", "exercises.csv", "trials.csv", *(f"feedback/s{i}.md" for i in range(6))]
    assert_same_reports({f: (tmp_path / "a" / f).read_bytes() for f in files}, {f: (tmp_path / "b" / f).read_bytes() for f in files})
    fresh = subprocess.run([*command, "--out", str(tmp_path / "a"), "--fresh"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert fresh.returncode == 0 and "reused" not in fresh.stderr


# Memory held outside any one address space, a piece at a time: the memory cgroup of a notebook's slot
# caps the sum (here 1 GiB of address space plus twice 64 MiB of disk: 1152 MiB). Each holds at most
# 1.5 GiB, so a machine without the cap is not brought down.
OUTSIDE = {
    "a_memfd": "import os\nprint('SERVER', os.getppid(), open(f'/proc/{os.getppid()}/stat').read().split()[21])\nheld = []\n"
               "for i in range(25):  # pieces of 60 MiB, each under the file size limit, in no address space\n"
               "    fd = os.memfd_create(f'm{i}')\n    os.write(fd, b'x' * 60 * 2**20)\n    held.append(fd)\n"
               "    print('HELD', (i + 1) * 60, flush=True)\nprint('HELD ALL')",
    "b_sysv": "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\nlibc.shmat.restype = ctypes.c_void_p\n"
              "libc.shmat.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_int]\nlibc.shmdt.argtypes = [ctypes.c_void_p]\n"
              "for i in range(25):  # each segment filled, then detached: held by the kernel alone\n"
              "    segment = libc.shmget(0, 60 * 2**20, 0o1600)\n    address = libc.shmat(segment, None, 0)\n"
              "    ctypes.memset(address, 1, 60 * 2**20)\n    libc.shmdt(address)\n    print('HELD', (i + 1) * 60, flush=True)\nprint('HELD ALL')",
    "c_posix": "from multiprocessing import shared_memory\nheld = []\ntry:\n    for i in range(25):\n"
               "        block = shared_memory.SharedMemory(create=True, size=60 * 2**20)\n        block.buf[:] = b'x' * (60 * 2**20)\n"
               "        held.append(block)\n        print('HELD', (i + 1) * 60, flush=True)\n    print('HELD ALL')\n"
               "except OSError as exc:\n    print('REFUSED', type(exc).__name__)",
    "d_processes": "import os, time\nimport numpy as np\nchildren = []\n"
                   "for i in range(6):  # 250 MiB each, well under each one's own address space limit\n    pid = os.fork()\n"
                   "    if pid == 0:\n        try:\n            hog = np.ones(250 * 2**17)\n            time.sleep(1.5)\n"
                   "        finally:\n            os._exit(0)\n    children.append(pid)\n"
                   "print('CHILDREN', [os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in children])",
    "e_honest": "import os\nprint('SERVER', os.getppid(), open(f'/proc/{os.getppid()}/stat').read().split()[21])",
}


@pytest.mark.parametrize("namespaces", [True, False], ids=["bwrap", "no-bwrap"])
@pytest.mark.parametrize("executor", [ForkExecutor, ProcessExecutor, KernelExecutor])
def test_memory_held_outside_the_address_space_is_capped_for_all_processes_together(tmp_path, executor, namespaces):
    """memfd, System V and POSIX shared memory filled a piece at a time, and many processes each under
    its own limit: the kernel ends the notebook's process (never the fork server) when their sum
    reaches the cap, the notebook is told why, and the next notebook in the slot is graded in full."""
    sandbox = detect() if namespaces else replace(detect(), bwrap=None)
    if namespaces and sandbox.bwrap is None:
        pytest.skip("bubblewrap is not available: no namespaces")
    if not sandbox.capped:
        pytest.skip(f"no memory cgroup here: {sandbox.describe()}")
    for name, cell in OUTSIDE.items():
        notebook(tmp_path / "subs" / f"{name}.ipynb", cell)
    slot = claim_slot()
    runner = executor(sandbox=sandbox, limits=Limits(memory=2**30, disk=64 * 2**20), slots=[slot])
    try:
        results = {s.student_id: grade(s, load("backprop"), Options(seed=5, timeout=5), runner) for s in discover(tmp_path / "subs", tmp_path / "x")}
    finally:
        runner.close()
    for name in ("a_memfd", "b_sysv"):
        held = [int(line.split()[1]) for line in results[name].output.splitlines() if line.startswith("HELD ")]
        assert results[name].status == "crashed" and "HELD ALL" not in results[name].output and 960 <= max(held) <= 1152
        assert "reached their memory cap of 1152 MiB together" in results[name].message
    posix = results["c_posix"]  # /dev/shm: the namespace's own, closed to the notebook's uid, or the host's and capped
    assert "HELD ALL" not in posix.output and ("REFUSED" in posix.output or "memory cap of 1152 MiB" in posix.message)
    children = results["d_processes"]  # some of its processes were ended; the notebook itself ran on
    assert children.status == "ok" and children.total == 18 and -9 in eval(children.output.split("CHILDREN")[1].splitlines()[0])
    honest = results["e_honest"]
    assert honest.status == "ok" and honest.total == 18
    if executor is ForkExecutor:  # the same warm server: not the process the kernel ended
        assert results["a_memfd"].output.split("\n")[0] == honest.output.split("\n")[0]
    assert not [p for p in sandbox.cgroups.base.iterdir() if p.name.endswith(f"slot-{slot}")]  # removed at close


def test_the_memory_cgroup_is_found_in_either_cgroup_version(tmp_path):
    """Where memory is controlled, read from /proc's text as machines write it; and the files a slot's
    cgroup is set up with, in each version's own words (here on a folder, so both are checked anywhere)."""
    v1 = ("35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
          "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n")
    hybrid = "4:memory:/user.slice/session 1\n0::/user.slice/session 1\n"
    assert find(v1, hybrid) == Hierarchy(Path("/sys/fs/cgroup/memory"), "/user.slice/session 1", 1)
    v2 = "29 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n"
    assert find(v2, "0::/system.slice/grader.service\n") == Hierarchy(Path("/sys/fs/cgroup"), "/system.slice/grader.service", 2)
    assert find("22 1 0:20 / /sys/fs/cgroup\\040x rw - cgroup cgroup rw,cpu,memory\n", "3:cpu,memory:/\n").mount == Path("/sys/fs/cgroup x")
    assert find("25 1 8:1 / / rw - ext4 /dev/sda1 rw\n", "0::/\n") is None  # no cgroup at all (a chroot, macOS-like)
    assert find(v1.splitlines()[1], "0::/\n").version == 2
    for version, limit, swap in ((1, "memory.limit_in_bytes", "memory.memsw.limit_in_bytes"), (2, "memory.max", "memory.swap.max")):
        root = tmp_path / f"v{version}"
        (root / "own").mkdir(parents=True)
        cap = MemoryCap(Hierarchy(root, "/own", version), "slot-3", 3 * 2**30)
        assert (cap.path / limit).read_text() == str(3 * 2**30)
        assert (cap.path / swap).read_text() == (str(3 * 2**30) if version == 1 else "0")  # no swap on top
        assert cap.path == (root / "own" / "slot-3" if version == 1 else root / V2_FOLDER / "slot-3")
        if version == 2:  # cgroup v2's rule: memory handed down from the top, past the grader's own (busy) cgroup
            assert (root / "cgroup.subtree_control").read_text() == "+memory" == (root / V2_FOLDER / "cgroup.subtree_control").read_text()
        assert cap.join(["python", "x y"])[-2:] == ["python", "x y"] and str(cap.procs) in cap.join([])
        (cap.path / ("memory.oom_control" if version == 1 else "memory.events")).write_text("oom_kill_disable 0\noom_kill 2\n")
        assert cap.reached() and not cap.reached()


def test_the_memory_cgroup_is_on_only_where_notebooks_cannot_lift_it():
    """Notebooks running as root outside namespaces could lift their cap, and would leave the shared
    memory they made charged to the next notebook of their slot: there the layer is off, and says why."""
    where = Hierarchy(Path("/sys/fs/cgroup/memory"), "/", 1)
    assert Sandbox("/usr/bin/bwrap", as_root=True, cgroups=where).capped
    assert Sandbox(None, as_root=True, python_shared=True, cgroups=where).capped
    alone = Sandbox(None, as_root=True, python_shared=False, cgroups=where)
    assert not alone.capped and alone.memory_cap(0, Limits()) is None
    assert "could lift it" in alone.describe() and not Sandbox("/usr/bin/bwrap", as_root=True).capped


def test_a_killed_runs_memory_cgroups_are_removed_by_the_next_and_held_ones_are_kept():
    from grader.executors.sandbox import _lock, cap_name, sweep_caps

    sandbox = detect()
    if not sandbox.capped:
        pytest.skip(f"no memory cgroup here: {sandbox.describe()}")
    for free in range(183, 100, -1):  # a slot no process holds
        handle = _lock(free)
        if handle is not None:
            handle.close()
            break
    stale = MemoryCap(sandbox.cgroups, cap_name(sandbox.cgroups, free), 2**26)  # as a run killed in slot `free` left it
    held = sandbox.memory_cap(claim_slot(), Limits())
    sweep_caps.__wrapped__(sandbox.cgroups)
    try:
        assert not stale.path.exists() and held.path.exists()
    finally:
        held.remove()
