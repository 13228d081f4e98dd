"""Grading on a real Dask LocalCluster (processes, 2 workers): the same reports as a local run, also
when a worker is killed mid-run; a submission that kills workers is marked, not retried for ever."""

from __future__ import annotations

import os
import shutil
import signal
import threading
from pathlib import Path

import pytest

distributed = pytest.importorskip("distributed")
import dask  # noqa: E402
from distributed import LocalCluster, WorkerPlugin  # noqa: E402

from grader.model import Options  # noqa: E402
from grader.reports.write import write_reports  # noqa: E402
from grader.run import grade_all  # noqa: E402
from grader.spec import load  # noqa: E402
from grader.store import Store  # noqa: E402
from notebooks import notebook  # noqa: E402

FILES = ["grades.csv", "exercises.csv", "trials.csv", "lms.csv", "index.html"]


def make_class(folder: Path) -> None:
    notebook(folder / "ada.ipynb", "import time\ntime.sleep(0.5)")
    notebook(folder / "bob.ipynb", "def relu_backward(dL_dh, a):\n    return (a > 0).astype(float)")
    notebook(folder / "cy" / "work.ipynb", "import time\ntime.sleep(0.5)")
    notebook(folder / "dee.ipynb", base="student")
    (folder / "eve.ipynb").write_text("not json")
    for i in range(4):
        notebook(folder / f"s{i}.ipynb", "import time\ntime.sleep(0.5)")


def reports(graded, out: Path) -> dict[str, bytes]:
    write_reports(graded, load("backprop"), out, 3)
    names = FILES + [f"feedback/{p.name}" for p in (out / "feedback").iterdir()]
    return {name: (out / name).read_bytes() for name in names}


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, bytes]]:
    root = tmp_path_factory.mktemp("cluster")
    make_class(root / "subs")
    return root, reports(grade_all(root / "subs", load("backprop"), Options(seed=3, jobs=2)), root / "local")


@pytest.fixture
def cluster():
    with dask.config.set({"distributed.scheduler.allowed-failures": 1}):
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
            yield cluster


def test_cluster_reports_equal_a_local_runs(local, cluster, tmp_path):
    root, expected = local
    graded = grade_all(root / "subs", load("backprop"), Options(seed=3, scheduler=cluster.scheduler_address))
    assert reports(graded, tmp_path / "out") == expected


def test_a_worker_killed_mid_run_changes_nothing(local, cluster, tmp_path):
    root, expected = local
    done: list[str] = []
    killed = threading.Event()

    def kill_one_worker(result) -> None:
        done.append(result.student_id)
        if len(done) == 2 and not killed.is_set():
            with distributed.Client(cluster.scheduler_address) as client:
                pids = client.run(os.getpid)
            os.kill(next(iter(pids.values())), signal.SIGKILL)
            killed.set()

    store = Store(tmp_path / "store.sqlite")
    graded = grade_all(root / "subs", load("backprop"), Options(seed=3, scheduler=cluster.scheduler_address), progress=kill_one_worker, store=store)
    assert killed.is_set()
    assert reports(graded, tmp_path / "out") == expected
    store.close()


class Poison(WorkerPlugin):
    """Kills the worker that picks up the submission named `poison` (standing in for a grader-side
    failure that takes the whole worker down); installed again on every restarted worker."""

    def setup(self, worker) -> None:  # type: ignore[no-untyped-def]
        import grader.cluster

        honest = grader.cluster.grade_parcel

        def grade_parcel(parcel, *args):  # type: ignore[no-untyped-def]
            if parcel.student_id == "poison":
                os._exit(1)
            return honest(parcel, *args)

        grader.cluster.grade_parcel = grade_parcel


def test_a_submission_that_kills_workers_is_marked_not_retried_for_ever(cluster, tmp_path):
    notebook(tmp_path / "subs" / "ada.ipynb")
    notebook(tmp_path / "subs" / "poison.ipynb")
    with distributed.Client(cluster.scheduler_address) as client:
        client.register_plugin(Poison())
        results = {r.student_id: r for r in grade_all(tmp_path / "subs", load("backprop"), Options(seed=3, scheduler=cluster.scheduler_address))}
    assert results["ada"].total == 18
    assert results["poison"].status == "crashed" and "killed every Dask worker" in results["poison"].message


def test_an_unreachable_scheduler_is_a_clear_error(tmp_path):
    import subprocess
    import sys

    notebook(tmp_path / "subs" / "ada.ipynb")
    done = subprocess.run([sys.executable, "-m", "grader.cli", "run", "subs", "--seed", "1", "--scheduler", "tcp://127.0.0.1:9"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in done.stderr


def test_without_a_scheduler_nothing_of_dask_is_imported(tmp_path):
    import subprocess
    import sys

    notebook(tmp_path / "subs" / "ada.ipynb")
    code = ("import sys\nfrom grader.cli import main\ncode = main(['run', 'subs', '--seed', '1'])\n"
            "print(code, any(m.split('.')[0] in ('dask', 'distributed') for m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.stdout.split()[-2:] == ["0", "False"], done.stderr


def test_an_assignments_own_module_travels_with_the_task(cluster, tmp_path):
    """A reference in the assignment folder's own module: the Dask workers, which have none of the
    client's files, grade with it, as a local run does."""
    folder = tmp_path / "mine"
    shutil.copytree(Path(__file__).parent / "assignments" / "tiny", folder)
    toml = folder / "assignment.toml"
    toml.write_text(toml.read_text().replace('reference = "reference:relu.forward"', 'reference = "myref:relu_forward"'))
    (folder / "myref.py").write_text("import numpy as np\nfrom helpers import clip\ndef relu_forward(a):\n    return clip(a)\n")
    (folder / "helpers.py").write_text("import numpy as np\ndef clip(a):\n    return np.maximum(a, 0)\n")
    notebook(tmp_path / "subs" / "ada.ipynb")
    notebook(tmp_path / "subs" / "bob.ipynb", "def relu_forward(a):\n    return a")
    assignment = load(folder)
    local = {r.student_id: r.total for r in grade_all(tmp_path / "subs", assignment, Options(seed=2, jobs=1))}
    remote = {r.student_id: r.total for r in grade_all(tmp_path / "subs", assignment, Options(seed=2, scheduler=cluster.scheduler_address))}
    assert remote == local == {"ada": 1.0, "bob": 0.0}
