"""The command line and the edges of a run: custom specs, hangs, atomic reports, bad arguments."""

from __future__ import annotations

import csv
import json
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
        (["run", "nowhere"], "no submissions at nowhere: it does not exist"),
        (["run", "subs/notes.py"], "no submissions at subs/notes.py: it is a file, not a notebook, a zip archive or a folder"),
        (["run", "subs"], "nothing to grade in subs"),
        (["run", "subs", "--assignment", "nosuch"], "no assignment at 'nosuch'"),
        (["run", "subs", "--timeout", "0"], "argument --timeout: '0': the time limit must be above 0 and at most 3600 seconds"),
        (["run", "subs", "--timeout", "-1"], "argument --timeout: '-1': the time limit must be above 0"),
        (["run", "subs", "--timeout", "nan"], "argument --timeout: 'nan': the time limit must be above 0"),
        (["run", "subs", "--timeout", "inf"], "argument --timeout: 'inf': the time limit must be above 0"),
        (["run", "subs", "--timeout", "1e9"], "argument --timeout: '1e9': the time limit must be above 0 and at most 3600 seconds"),
        (["run", "subs", "--timeout", "ten"], "argument --timeout: 'ten' is not a number of seconds"),
        (["check", "x.ipynb", "--timeout", "nan"], "argument --timeout: 'nan': the time limit must be above 0"),
        (["validate", "backprop", "--timeout", "-5"], "argument --timeout: '-5': the time limit must be above 0"),
        (["run", "subs", "--jobs", "0"], "argument --jobs: '0': notebooks graded at once must be from 1 to 184"),
        (["run", "subs", "--jobs", "-2"], "argument --jobs: '-2': notebooks graded at once must be from 1 to 184"),
        (["run", "subs", "--jobs", "100000"], "argument --jobs: '100000': notebooks graded at once must be from 1 to 184"),
        (["run", "subs", "--jobs", "2.5"], "argument --jobs: '2.5' is not a whole number of notebooks"),
        (["run", "subs", "--fail-under", "101"], "argument --fail-under: '101': a percentage of the points is from 0 to 100"),
        (["run", "subs", "--fail-under", "nan"], "argument --fail-under: 'nan': a percentage of the points is from 0 to 100"),
        (["run", "subs", "--memory", "1e400G"], "argument --memory: '1e400G'"),
        (["run", "subs", "--format", "xml"], "argument --format: invalid choice: 'xml'"),
    ],
)
def test_bad_arguments_get_a_clear_error(tmp_path, args, words):
    (tmp_path / "subs").mkdir()
    (tmp_path / "subs" / "notes.py").write_text("print('not a notebook')\n")
    done = grader_cli(*args, cwd=tmp_path)
    assert done.returncode == 2 and words in " ".join(done.stderr.split()), done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "reports").exists()


def test_a_notebook_or_zip_path_grades_that_submission_and_skipped_files_are_listed(tmp_path):
    notebook(tmp_path / "subs" / "ada.ipynb")
    notebook(tmp_path / "subs" / "bea" / "work.ipynb")
    (tmp_path / "subs" / "notes.txt").write_text("my notes\n")
    (tmp_path / "subs" / "helper.py").write_text("x = 1\n")
    shutil.make_archive(str(tmp_path / "cyd"), "zip", tmp_path / "subs" / "bea")
    one = grader_cli("run", "subs/ada.ipynb", "--out", "one", "--seed", "3", "--assignment", str(TINY), cwd=tmp_path)
    assert one.returncode == 0, one.stderr
    assert list(pd.read_csv(tmp_path / "one" / "grades.csv").student_id) == ["ada"]
    zipped = grader_cli("run", "cyd.zip", "--out", "zipped", "--seed", "3", "--assignment", str(TINY), cwd=tmp_path)
    assert zipped.returncode == 0, zipped.stderr
    assert list(pd.read_csv(tmp_path / "zipped" / "grades.csv").student_id) == ["cyd"]
    whole = grader_cli("run", "subs", "--out", "all", "--seed", "3", "--assignment", str(TINY), cwd=tmp_path)
    assert whole.returncode == 0, whole.stderr
    assert "skipped 2 file(s) that are not a notebook, a folder or a zip archive: helper.py, notes.txt" in " ".join(whole.stderr.split())
    assert list(pd.read_csv(tmp_path / "all" / "grades.csv").student_id) == ["ada", "bea"]


def test_exit_codes_tell_a_pipeline_what_happened_and_json_holds_the_class(tmp_path):
    notebook(tmp_path / "good" / "ada.ipynb")
    notebook(tmp_path / "good" / "bea.ipynb", "def relu_forward(a):\n    return a")
    notebook(tmp_path / "bad" / "ada.ipynb")
    notebook(tmp_path / "bad" / "dies.ipynb", "import os\nos._exit(3)")
    (tmp_path / "bad" / "broken.ipynb").write_text("{ not json")
    graded = grader_cli("run", "good", "--out", "g", "--seed", "3", "--assignment", str(TINY), "--format", "json", cwd=tmp_path)
    assert graded.returncode == 0, graded.stderr
    doc = json.loads((tmp_path / "g" / "grades.json").read_text())
    grades = pd.read_csv(tmp_path / "g" / "grades.csv").set_index("student_id")
    assert [s["student_id"] for s in doc["students"]] == ["ada", "bea"] and doc["seed"] == "3"
    for student in doc["students"]:
        assert student["total"] == pytest.approx(grades.loc[student["student_id"], "total"]) and student["status"] == "ok"
        assert [e["exercise"] for e in student["exercises"]] == [e.id for e in load(TINY).exercises]
    bea = {e["exercise"]: e for e in doc["students"][1]["exercises"]}
    assert bea["relu_forward"]["status"] == "failed" and bea["relu_forward"]["message"] and bea["relu_forward"]["score"] == 0
    below = grader_cli("run", "good", "--out", "b", "--seed", "3", "--assignment", str(TINY), "--fail-under", "99", cwd=tmp_path)
    assert below.returncode == 3 and "below --fail-under 99%: bea" in below.stderr
    assert (tmp_path / "b" / "grades.csv").exists() and not (tmp_path / "b" / "grades.json").exists()
    enough = grader_cli("run", "good", "--out", "b", "--seed", "3", "--assignment", str(TINY), "--fail-under", "0", cwd=tmp_path)
    assert enough.returncode == 0, enough.stderr
    incomplete = grader_cli("run", "bad", "--out", "i", "--seed", "3", "--assignment", str(TINY), "--fail-under", "99", cwd=tmp_path)
    assert incomplete.returncode == 1 and "not graded in full: broken, dies" in incomplete.stderr
    assert len(pd.read_csv(tmp_path / "i" / "grades.csv")) == 3


@pytest.mark.parametrize("command", [[], ["run"], ["check"], ["assign"], ["validate"]])
def test_each_commands_help_shows_examples_and_exit_codes(tmp_path, command):
    done = grader_cli(*command, "--help", cwd=tmp_path)
    assert done.returncode == 0 and "examples:" in done.stdout and "exit codes:" in done.stdout
    assert f"grader {command[0]}" in done.stdout if command else "grader run submissions/" in done.stdout


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
        ("[dims]\nn=[1,2]\n[[exercises]]\nid = 'e'\nreference = 'reference:relu.forward'\nargs = { a = 'gaussian(n)' }",
         "distributions: normal, nonzero, positive, uniform[low, high], labels[k], onehot, probabilities; or your own, module:function"),
        ("[dims]\nn=[1,2]\n[[exercises]]\nid = 'e'\nreference = 'reference:relu.forward'\nargs = { a = 'uniform(n)' }",
         "uniform takes 2 parameter(s) in [...] (low, high), got 0"),
        ("[dims]\nn=[1,2]\n[[exercises]]\nid = 'e'\nreference = 'reference:relu.forward'\nargs = { a = 'uniform[1, -1](n)' }",
         "low (1) must be below high (-1)"),
        ("[dims]\nn=[1,2]\n[[exercises]]\nid = 'e'\nreference = 'reference:relu.forward'\nargs = { a = 'labels[c](n)' }",
         "uses unknown dimension 'c'"),
        ("[dims]\nn=[1,2]\n[[exercises]]\nid = 'e'\nreference = 'reference:relu.forward'\nargs = { a = 'labels[2.5](n)' }",
         "k must be a whole number of classes"),
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


def test_nbgrader_submitted_folders_with_several_assignments_per_student(tmp_path):
    """nbgrader's post-collect layout, submitted/<student>/<assignment>/ with its timestamp.txt: the
    layout is found, the assignment chosen by name (asked for when there are several), students
    without it listed; a class of folder submissions that keep a notebook in a subfolder is not it."""
    submitted = tmp_path / "course" / "submitted"
    for sid, assignments in {"ada": ["ps1", "ps2"], "bea": ["ps1"], "cyd": ["ps2"]}.items():
        for name in assignments:
            extra = () if (sid, name) != ("bea", "ps1") else ("def relu_forward(a):\n    return a",)
            notebook(submitted / sid / name / f"{name}.ipynb", *extra)
            (submitted / sid / name / "timestamp.txt").write_text("2026-11-27 10:00:00.000000 UTC")
    both = grader_cli("run", "course/submitted", "--out", "o1", "--seed", "2", "--assignment", str(TINY), cwd=tmp_path)
    assert both.returncode == 2 and "with the assignments ps1, ps2: choose one with --nbgrader ASSIGNMENT" in " ".join(both.stderr.split())
    ps1 = grader_cli("run", "course/submitted", "--nbgrader", "ps1", "--out", "o1", "--seed", "2", "--assignment", str(TINY), cwd=tmp_path)
    assert ps1.returncode == 0, ps1.stderr
    assert "1 student(s) have no ps1 folder: cyd" in " ".join(ps1.stderr.split())
    grades = pd.read_csv(tmp_path / "o1" / "grades.csv").set_index("student_id")
    assert list(grades.index) == ["ada", "bea"] and grades.loc["ada", "total"] == 1 and grades.loc["bea", "total"] == 0
    only = tmp_path / "only"
    notebook(only / "ada" / "ps2" / "ps2.ipynb")
    (only / "ada" / "ps2" / "timestamp.txt").write_text("t")
    found = grader_cli("run", "only", "--out", "o2", "--seed", "2", "--assignment", str(TINY), cwd=tmp_path)
    assert found.returncode == 0 and "nbgrader's layout (<student>/<assignment>/): grading its assignment ps2" in " ".join(found.stderr.split())
    folders = tmp_path / "folders"  # our own layout: <student>/ holding its notebook in a subfolder; one has a timestamp.txt
    notebook(folders / "ada" / "work" / "a.ipynb")
    notebook(folders / "bea" / "mine" / "b.ipynb")
    notebook(folders / "eve" / "x" / "e.ipynb")
    (folders / "eve" / "x" / "timestamp.txt").write_text("t")
    plain = grader_cli("run", "folders", "--out", "o3", "--seed", "2", "--assignment", str(TINY), cwd=tmp_path)
    assert plain.returncode == 0, plain.stderr
    assert "nbgrader" not in plain.stderr and list(pd.read_csv(tmp_path / "o3" / "grades.csv").student_id) == ["ada", "bea", "eve"]
    for name in ("..", ".", "/etc", "a/b", ""):
        bad = grader_cli("run", "course/submitted", "--nbgrader", name, "--assignment", str(TINY), cwd=tmp_path)
        assert bad.returncode == 2 and "the name of an assignment's folder" in " ".join(bad.stderr.split())
    missing = grader_cli("run", "course/submitted", "--nbgrader", "ps9", "--assignment", str(TINY), cwd=tmp_path)
    assert missing.returncode == 2 and "no student has a folder ps9 (the assignments there: ps1, ps2)" in " ".join(missing.stderr.split())


def test_the_readmes_ci_recipe_runs_as_written(tmp_path):
    """The grading step of the README's GitHub Actions recipe, run as the course's job runs it on the
    students' cloned repositories: a student below the threshold fails the job (exit code 3), each
    repository is a student of its own, and grades.json is left for the artifacts."""
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    step = next(line.strip().removeprefix("- run: ") for line in readme.splitlines() if "- run: grader run" in line)
    assert step.startswith("grader run submissions") and "--fail-under" in step
    env = {k: v for k, v in os.environ.items() if k != "GRADER_SEED"} | {"GRADER_SEED": "31337"}
    for repo, source in (("ps1-ada", "solution"), ("ps1-bea", "student")):
        (tmp_path / "submissions" / repo).mkdir(parents=True)
        shutil.copy(BACKPROP / f"{source}.ipynb", tmp_path / "submissions" / repo / "backprop.ipynb")
    done = subprocess.run([sys.executable, "-m", "grader.cli", *step.split()[1:]], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 3 and "below --fail-under 60%: ps1-bea" in done.stderr, done.stderr
    doc = json.loads((tmp_path / "reports" / "grades.json").read_text())
    assert doc["seed"] == "31337" and [(s["student_id"], s["percent"]) for s in doc["students"]] == [("ps1-ada", 100), ("ps1-bea", 0)]
    assert "grader-check backprop.ipynb" in readme and "pip install backprop_selfcheck-*.whl" in readme  # the students' own job: the kit


def test_check_says_when_it_could_check_nothing(tmp_path):
    bundle = BACKPROP / "selfcheck.bundle"
    (tmp_path / "broken.ipynb").write_text("{ not json")
    (tmp_path / "empty.ipynb").write_text("{}")
    for name, words in (("nope.ipynb", "no notebook at nope.ipynb"), ("broken.ipynb", "it is not valid JSON"),
                        ("empty.ipynb", "it is JSON, but not a notebook's")):
        done = grader_cli("check", name, "--bundle", str(bundle), cwd=tmp_path)
        assert done.returncode == 2 and words in " ".join(done.stderr.split()) and "Traceback" not in done.stderr, done.stderr
