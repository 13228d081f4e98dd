"""The class at a glance: index.html in a real browser, the Canvas CSV read back, Gradescope JSON."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from notebooks import notebook

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--enable-logging=stderr", "--v=0"]


HOSTILE_MARKUP = (  # a student's output and error messages are text, never markup in the instructor's browser
    "print('```\\n<script>document.title = \"pwned\"</script>')\n"
    "def relu_forward(a):\n    raise ValueError('<img src=x onerror=alert(1)>')"
)


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("overview")
    notebook(root / "subs" / "ada.ipynb")
    notebook(root / "subs" / "bob.ipynb", "def linear_backward(dL_da, h, W, b):\n    return dL_da @ W.T, np.outer(dL_da, h), dL_da")
    notebook(root / "subs" / "cy rus.ipynb", "def relu_backward(dL_dh, a):\n    return (a > 0).astype(float)")
    (root / "subs" / "dee.ipynb").write_text("{ broken")
    notebook(root / "subs" / "eve.ipynb", HOSTILE_MARKUP)
    done = subprocess.run([sys.executable, "-m", "grader.cli", "run", "subs", "--out", "out", "--seed", "4"], cwd=root,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, done.stderr  # reports written; dee's notebook could not be read
    return root / "out"


def browse(tmp_path: Path, url: str, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *extra, url],
                          capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium: install Debian's chromium (`.ci/run` does)")
def test_index_loads_in_a_browser_with_its_plots(reports, tmp_path):
    url = (reports / "index.html").as_uri()
    dom = browse(tmp_path, url, "--dump-dom")
    assert dom.returncode == 0
    assert dom.stdout.count("<svg") == 2 and "Distribution of scores" in dom.stdout and "Pass rate per exercise" in dom.stdout
    assert "transpose (1)" in dom.stdout and "mask_only (1)" in dom.stdout  # the diagnosed mistakes, counted
    assert "dee" in dom.stdout and "not a readable Jupyter notebook" in dom.stdout  # the submission that needs a look
    assert "Uncaught" not in dom.stderr and "Failed to load resource" not in dom.stderr
    shot = browse(tmp_path, url, "--screenshot=" + str(tmp_path / "index.png"), "--window-size=1100,1400")
    assert shot.returncode == 0 and (tmp_path / "index.png").stat().st_size > 20_000


def test_a_students_output_and_messages_stay_text_in_the_feedback_page(reports):
    page = (reports / "feedback" / "eve.html").read_text()
    assert "<script>" not in page and "<img" not in page
    assert "&lt;script&gt;document.title" in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    markdown = (reports / "feedback" / "eve.md").read_text()
    printed = markdown.split("## What your notebook printed (start)")[1].strip()
    assert printed.startswith("````\n") and printed.endswith("\n````")  # the printed ``` cannot close the fence


def test_every_student_link_opens_their_feedback(reports):
    page = (reports / "index.html").read_text()
    links = set(re.findall(r"href='([^']+)'", page))
    assert links == {"feedback/ada.html", "feedback/bob.html", "feedback/cy%20rus.html", "feedback/dee.html", "feedback/eve.html"}
    bob = (reports / "feedback" / "bob.html").read_text()
    assert "<table>" in bob and "transpose of the expected one" in bob


def test_canvas_csv_has_the_gradebook_columns_and_the_totals(reports):
    lms = pd.read_csv(reports / "lms.csv", keep_default_na=False)
    assert list(lms.columns) == ["Student", "ID", "SIS Login ID", "Section", "Backprop by hand (points)"]
    grades = pd.read_csv(reports / "grades.csv").set_index("student_id")
    for _, row in lms.iterrows():
        assert row["SIS Login ID"] == row["Student"]
        assert row["Backprop by hand (points)"] == pytest.approx(grades.loc[row["Student"], "total"], abs=0.01)


def test_gradescope_results_json(tmp_path):
    notebook(tmp_path / "submission" / "anything.ipynb", "def relu_forward(a):\n    return a")
    done = subprocess.run([sys.executable, "-m", "grader.cli", "run", "submission", "--out", "results", "--format", "gradescope",
                           "--seed", "1"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    results = json.loads((tmp_path / "results" / "results.json").read_text())
    assert set(results) == {"score", "execution_time", "output", "tests"} and results["execution_time"] > 0
    assert len(results["tests"]) == 14
    for test in results["tests"]:
        assert set(test) == {"name", "score", "max_score", "status", "output", "visibility"} and test["visibility"] == "visible"
    assert results["score"] == pytest.approx(sum(t["score"] for t in results["tests"]), abs=1e-3)  # each rounded to 4 places
    relu = next(t for t in results["tests"] if t["name"] == "relu_forward")
    assert relu["score"] < relu["max_score"] and "is wrong" in relu["output"]


def test_gradescope_wants_exactly_one_submission(tmp_path):
    notebook(tmp_path / "submission" / "a.ipynb")
    notebook(tmp_path / "submission" / "b.ipynb")
    done = subprocess.run([sys.executable, "-m", "grader.cli", "run", "submission", "--out", "results", "--format", "gradescope"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and "grades one submission" in done.stderr
    assert not (tmp_path / "results" / "results.json").exists()
