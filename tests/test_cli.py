"""The command line and the edges of a run: custom specs, hangs, atomic reports, bad arguments."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import grader.reports.feedback
import grader.reports.overview
from grader.model import Options
from grader.reports.write import write_reports
from grader.run import grade_all
from grader.spec import SpecError, load
from notebooks import BACKPROP, notebook

TINY = Path(__file__).parent / "assignments" / "tiny"


def grader_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "GRADER_SEED"}
    return subprocess.run([sys.executable, "-m", "grader.cli", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_grader_run_writes_reports_and_a_summary(tmp_path):
    notebook(tmp_path / "subs" / "ada.ipynb")
    notebook(tmp_path / "subs" / "bea.ipynb", "def relu_forward(a):\n    return a")
    done = grader_cli("run", "subs", "--out", "out", "--seed", "5", "--jobs", "2", "--timeout", "5", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    grades = pd.read_csv(tmp_path / "out" / "grades.csv").set_index("student_id")
    assert grades.loc["ada", "percent"] == 100 and grades.loc["bea", "total"] < 18
    assert "ada" in done.stdout and "18/18" in done.stdout
    assert set(grades.seed) == {5}


def _reports(out: Path) -> dict[str, bytes]:
    """Every report file under `out`, by relative path (the store and the seed are not reports)."""
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file() and not p.name.startswith(".grader-")}


def test_without_a_seed_the_output_folder_keeps_one_and_a_rerun_reuses_everything(tmp_path):
    notebook(tmp_path / "subs" / "ada.ipynb")
    notebook(tmp_path / "subs" / "bea.ipynb", "def relu_backward(dL_dh, a):\n    return (a > 0).astype(float)")
    first = grader_cli("run", "subs", "--out", "out", "--jobs", "2", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    kept = tmp_path / "out" / ".grader-seed"
    seed = kept.read_text().strip()
    assert seed.isdigit() and f"drew the seed {seed}" in first.stderr.replace("\n", " ")
    assert kept.stat().st_mode & 0o077 == 0  # the instructor's alone
    assert set(pd.read_csv(tmp_path / "out" / "grades.csv").seed) == {int(seed)}
    reports = _reports(tmp_path / "out")
    assert {"grades.csv", "exercises.csv", "trials.csv", "index.html", "lms.csv", "feedback/ada.md", "feedback/bea.html"} <= set(reports)

    again = grader_cli("run", "subs", "--out", "out", "--jobs", "2", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    said = " ".join(again.stderr.split())
    assert f"grading with the seed {seed} kept in" in said and "2 result(s) reused" in said
    assert _reports(tmp_path / "out") == reports  # byte for byte

    other = grader_cli("run", "subs", "--out", "elsewhere", "--jobs", "2", cwd=tmp_path)
    assert (tmp_path / "elsewhere" / ".grader-seed").read_text().strip().isdigit()  # another folder draws its own
    overridden = grader_cli("run", "subs", "--out", "out", "--seed", "7", "--jobs", "2", cwd=tmp_path)
    assert other.returncode == overridden.returncode == 0
    assert "reused" not in overridden.stderr and set(pd.read_csv(tmp_path / "out" / "grades.csv").seed) == {7}
    assert kept.read_text().strip() == seed  # --seed does not replace the folder's seed


def test_a_stored_result_that_cannot_be_read_back_is_graded_again(tmp_path):
    import sqlite3

    notebook(tmp_path / "subs" / "ada.ipynb")
    notebook(tmp_path / "subs" / "bea.ipynb", "def relu_forward(a):\n    return a")
    first = grader_cli("run", "subs", "--out", "out", "--seed", "3", "--jobs", "2", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    grades = (tmp_path / "out" / "grades.csv").read_bytes()
    with sqlite3.connect(tmp_path / "out" / ".grader-store.sqlite") as db:
        keys = [k for (k,) in db.execute("SELECT key FROM results ORDER BY student_id")]
        db.execute("UPDATE results SET result = '{\"not\": \"a result\"' WHERE key = ?", (keys[0],))  # cut short
        db.execute("UPDATE results SET result = '{\"student_id\": 7, \"exercises\": [[1]]}' WHERE key = ?", (keys[1],))  # another schema
    again = grader_cli("run", "subs", "--out", "out", "--seed", "3", "--jobs", "2", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "reused" not in again.stderr and (tmp_path / "out" / "grades.csv").read_bytes() == grades
    third = grader_cli("run", "subs", "--out", "out", "--seed", "3", "--jobs", "2", cwd=tmp_path)
    assert "2 result(s) reused" in " ".join(third.stderr.split())  # the regraded results replaced the bad ones


def test_the_terminal_shows_a_students_text_as_text(tmp_path):
    """Rich would read '[/bold]' as a closing tag (and fail) and '[link=...]' as a link."""
    shutil.copy(BACKPROP / "selfcheck.bundle", tmp_path)
    notebook(tmp_path / "mark.ipynb", "def relu_forward(a):\n    raise ValueError('[/bold] [link=https://example.org]click[/link] \\x1b[2J')")
    done = grader_cli("check", "mark.ipynb", cwd=tmp_path)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert "[/bold]" in done.stdout and "[link=https://example.org]click" in "".join(done.stdout.split()) and "\x1b" not in done.stdout


def test_no_report_cell_is_a_spreadsheet_formula(tmp_path):
    for name in ("=HYPERLINK(\"evil\",\"click\")", "+1+1", "-2", "@SUM(A1)", "ada"):
        notebook(tmp_path / "subs" / f"{name}.ipynb")
    done = grader_cli("run", "subs", "--out", "out", "--seed", "1", "--assignment", str(TINY), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    for report in ("grades.csv", "exercises.csv", "trials.csv", "lms.csv"):
        cells = [c for row in csv.reader(open(tmp_path / "out" / report, encoding="utf-8")) for c in row]
        assert not any(c[:1] in "=+-@" and c[:1] for c in cells), report
        assert "'=HYPERLINK(\"evil\",\"click\")" in cells and "'-2" in cells and "ada" in cells, report


def test_an_unreadable_seed_file_is_a_clear_error(tmp_path):
    notebook(tmp_path / "subs" / "ada.ipynb")
    (tmp_path / "out" / ".grader-seed").mkdir(parents=True)
    done = grader_cli("run", "subs", "--out", "out", "--assignment", str(TINY), cwd=tmp_path)
    assert done.returncode == 2 and "cannot read the grading seed" in done.stderr
    assert not (tmp_path / "out" / "grades.csv").exists()


@pytest.mark.parametrize(
    "args, words",
    [
        (["run", "nowhere"], "no submissions folder"),
        (["run", "subs", "--assignment", "nosuch"], "no assignment at 'nosuch'"),
        (["run", "subs", "--timeout", "0"], "--timeout must be positive"),
    ],
)
def test_bad_arguments_get_a_clear_error(tmp_path, args, words):
    (tmp_path / "subs").mkdir()
    done = grader_cli(*args, cwd=tmp_path)
    assert done.returncode == 2 and words in done.stderr
    assert not (tmp_path / "reports").exists()


@pytest.mark.parametrize("executor", ["fork", "kernel"])
def test_a_custom_assignment_by_path_and_a_notebook_that_ignores_the_alarm(tmp_path, executor):
    """A cell that disables the per-cell alarm and loops is stopped by the notebook's overall budget
    (by the kernel executor, once nbclient's own timeout for the cell has passed)."""
    notebook(tmp_path / "subs" / "ok.ipynb")
    notebook(tmp_path / "subs" / "stuck.ipynb", "import signal\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\nwhile True:\n    pass")
    assignment = load(TINY)
    results = {r.student_id: r for r in grade_all(tmp_path / "subs", assignment, Options(timeout=0.5, jobs=2, executor=executor))}
    assert results["ok"].total == 1 and results["ok"].status == "ok"
    assert results["stuck"].status == "timeout" and results["stuck"].total == 0
    assert "stopped after" in results["stuck"].message


@pytest.mark.parametrize("module, failing", [(grader.reports.feedback, "feedback"), (grader.reports.overview, "index_html")])  # in this process, and in the one drawing the overview
def test_reports_are_complete_or_absent(tmp_path, monkeypatch, module, failing):
    notebook(tmp_path / "subs" / "ada.ipynb")
    assignment = load(TINY)
    results = grade_all(tmp_path / "subs", assignment, Options(jobs=1))
    out = tmp_path / "out"
    write_reports(results, assignment, out, 0)
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}

    def broken(*args):
        raise OSError("disk full")

    monkeypatch.setattr(module, failing, broken)
    with pytest.raises(OSError):
        write_reports(list(results) * 2, assignment, out, 0)
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    assert sorted(p.name for p in out.iterdir()) == ["exercises.csv", "feedback", "grades.csv", "index.html", "lms.csv", "trials.csv"]


@pytest.mark.parametrize(
    "text, words",
    [
        ("title = 'x'", "no [[exercises]]"),
        ("[[exercises]]\nid = 'e'\nreference = 'reference:relu.forward'\nargs = { a = 'normal(m)' }", "unknown dimension 'm'"),
        ("[dims]\nn=[1,2]\n[[exercises]]\nid = 'e'\nreference = 'reference:nothing.here'\nargs = { a = 'normal(n)' }", "cannot be found"),
        ("[dims]\nn=[1,2]\n[[exercises]]\nid = 'e'\nreference = 'reference:relu.forward'\nargs = { a = 'uniform(n)' }", "normal or nonzero"),
        ("[dims]\nn=[0,2]", "1 <= low <= high"),
        ("title = ", "not valid TOML"),
    ],
)
def test_bad_specs_say_which_field(tmp_path, text, words):
    (tmp_path / "assignment.toml").write_text(text)
    with pytest.raises(SpecError) as info:
        load(tmp_path)
    assert words in str(info.value)


def test_with_a_store_memory_keeps_summaries_and_reports_read_full_results_back(tmp_path):
    from grader.store import Store

    for name in ("ada", "bea"):
        notebook(tmp_path / "subs" / f"{name}.ipynb")
    store = Store(tmp_path / "store.sqlite")
    graded = grade_all(tmp_path / "subs", load(TINY), Options(seed=2, jobs=2), store=store)
    assert [s.trials for s in graded.summaries] == [[], []] and graded.reused == 0
    assert [len(r.trials) for r in graded] == [3, 3]  # read back from the store
    again = grade_all(tmp_path / "subs", load(TINY), Options(seed=2, jobs=2), store=store)
    assert again.reused == 2 and [r.trials for r in again] == [r.trials for r in graded]
    store.close()
