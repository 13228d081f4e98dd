"""The Gradescope autograder, built by `grader gradescope` and run in a faithful imitation of
Gradescope's container layout: the zip unpacked in <root>/source, setup.sh run once (a virtual
environment with the grader's wheel, installed from the zip), then for each submission the files in
<root>/submission, Gradescope's submission_metadata.json, and `run_autograder`, which must leave a
valid results.json, readable by all, alone in <root>/results, whatever was submitted."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from grader.grading import not_run
from grader.model import RunStatus
from grader.platforms.gradescope import SUBMITTED_AS, choose, student
from grader.reports.gradescope import gradescope_json
from grader.spec import load
from notebooks import notebook

TINY = Path(__file__).parents[1] / "assignments" / "tiny"


@pytest.fixture(scope="module")
def container(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """<root> after Gradescope has built the image from the zip."""
    work = tmp_path_factory.mktemp("gradescope")
    built = subprocess.run([sys.executable, "-m", "grader.cli", "gradescope", "backprop", "--out", "autograder.zip", "--seed", "11",
                            "--budget", "120"], cwd=work, capture_output=True, text=True, timeout=120)
    assert built.returncode == 0, built.stderr
    root = work / "autograder"
    (root / "source").mkdir(parents=True)
    with zipfile.ZipFile(work / "autograder.zip") as zf:
        names = zf.namelist()
        for info in zf.infolist():  # as Gradescope unpacks it: the executable bits kept
            zf.extract(info, root / "source")
            mode = info.external_attr >> 16
            if mode:
                os.chmod(root / "source" / info.filename, mode)
    assert {"setup.sh", "run_autograder", "config.json"} <= set(names) and any(n.endswith(".whl") for n in names)
    assert not any(n.startswith(("handout/", "assignment/handout/")) for n in names)
    env = {**os.environ, "AUTOGRADER_ROOT": str(root), "GRADER_PYTHON": getattr(sys, "_base_executable", sys.executable)}
    setup = subprocess.run(["bash", str(root / "source" / "setup.sh")], env=env, capture_output=True, text=True, timeout=600)
    assert setup.returncode == 0, setup.stdout + setup.stderr
    return root


def _submit(root: Path, files: dict[str, str | Path | None], metadata: dict | None = None) -> dict:
    """Put `files` in <root>/submission (text, a notebook to copy, or None: an empty file), run the
    autograder as Gradescope does, and read results.json back."""
    for folder in ("submission", "results"):
        shutil.rmtree(root / folder, ignore_errors=True)
        (root / folder).mkdir()
    for name, content in files.items():
        path = root / "submission" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, Path):
            shutil.copy(content, path)
        else:
            path.write_text(content or "")
    (root / "submission_metadata.json").write_text(json.dumps(metadata or {"users": [{"id": 4242, "email": "s@uni.ac", "name": "S"}]}))
    env = {k: v for k, v in os.environ.items() if k != "GRADER_SEED"} | {"AUTOGRADER_ROOT": str(root)}
    done = subprocess.run(["bash", str(root / "source" / "run_autograder")], cwd=root, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert [p.name for p in (root / "results").iterdir()] == ["results.json"]  # nothing else in the folder Gradescope reads
    path = root / "results" / "results.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    results = json.loads(path.read_text())
    assert set(results) >= {"score", "output", "tests"} and len(results["tests"]) == 14
    for test in results["tests"]:
        assert set(test) == {"name", "score", "max_score", "status", "output", "visibility"} and test["visibility"] == "visible"
    assert results["score"] == pytest.approx(sum(t["score"] for t in results["tests"]))
    return results


def _notebook(tmp_path: Path, name: str, *cells: str) -> Path:
    return notebook(tmp_path / name, *cells)


def test_one_notebook_of_any_name_is_graded_with_the_files_beside_it(container, tmp_path):
    ok = _notebook(tmp_path, "ok.ipynb", "W0 = np.load('weights.npy')")
    np_file = tmp_path / "weights.npy"
    import numpy as np

    np.save(np_file, np.zeros(3))
    results = _submit(container, {"my work.ipynb": ok, "weights.npy": np_file})
    assert results["score"] == 18 and results["output"] == "Backprop by hand: 18 / 18"
    assert all(t["status"] == "passed" for t in results["tests"])


def test_no_notebook_says_what_was_found(container):
    results = _submit(container, {"report.pdf": "%PDF-1.4", "notes/x.txt": "hi"})
    assert results["score"] == 0 and "no notebook (.ipynb) was submitted (it holds notes/x.txt, report.pdf)" in results["output"]
    assert all(t["score"] == 0 and "not graded" in t["output"] for t in results["tests"])
    empty = _submit(container, {})
    assert "no notebook (.ipynb) was submitted (it is empty): submit your notebook, student.ipynb" in empty["output"]


def test_several_notebooks_pick_the_expected_name_or_say_which_were_found(container, tmp_path):
    good, bad = _notebook(tmp_path, "good.ipynb"), _notebook(tmp_path, "bad.ipynb", "def relu_forward(a):\n    return a")
    picked = _submit(container, {"student.ipynb": good, "scratch.ipynb": bad, "old/try.ipynb": bad})
    assert picked["score"] == 18
    unnamed = _submit(container, {"a.ipynb": good, "b.ipynb": bad})
    assert unnamed["score"] == 0
    assert "2 notebooks were submitted (a.ipynb, b.ipynb) and none is named student.ipynb" in unnamed["output"]


@pytest.mark.parametrize("cell, words", [
    ("import os\nos._exit(3)", "Your submission could not be graded in full (crashed)"),
    ("print('{\"score\": 1000, \"tests\": []}')\nimport sys\nsys.stdout.write('}}{{ not json')\n"
     "import pathlib\nfor p in ('/autograder/results/results.json', 'AUTOGRADER/results/results.json', 'AUTOGRADER/results/x.json'):\n"
     "    try:\n        pathlib.Path(p).write_text('{\"score\": 1000}')\n    except OSError:\n        pass", None),
])
def test_a_crash_or_a_hostile_notebook_still_gives_a_valid_results_json(container, tmp_path, cell, words):
    hostile = _notebook(tmp_path, "student.ipynb", cell.replace("AUTOGRADER", str(container)))
    results = _submit(container, {"student.ipynb": hostile})
    if words:
        assert words in results["output"] and results["score"] < 18
    else:
        assert results["score"] == 18  # its prints and writes reached neither results.json nor its folder


def test_the_budget_ends_a_submission_that_runs_too_long_with_a_results_json(container, tmp_path):
    config = container / "source" / "config.json"
    saved = config.read_text()
    config.write_text(json.dumps({**json.loads(saved), "budget": 4, "timeout": 30}))
    try:
        slow = _notebook(tmp_path, "student.ipynb", "import time\ntime.sleep(60)")
        results = _submit(container, {"student.ipynb": slow})
    finally:
        config.write_text(saved)
    assert results["score"] == 0 and "ran past the autograder's budget of 4 s" in results["output"]


def test_the_autograder_writes_results_json_even_when_it_cannot_start(container, tmp_path):
    config = container / "source" / "config.json"
    saved = config.read_text()
    config.write_text("{ broken")
    try:
        for folder in ("submission", "results"):
            shutil.rmtree(container / folder, ignore_errors=True)
            (container / folder).mkdir()
        done = subprocess.run(["bash", str(container / "source" / "run_autograder")], env={**os.environ, "AUTOGRADER_ROOT": str(container)},
                              capture_output=True, text=True, timeout=120)
    finally:
        config.write_text(saved)
    results = json.loads((container / "results" / "results.json").read_text())
    assert done.returncode == 0 and results["score"] == 0 and "not graded" in results["output"]


def _tiny_with(tmp_path: Path, line: str) -> Path:
    """The tiny assignment with `line` added to its exercise; its assignment.toml."""
    shutil.copytree(TINY, tmp_path / "tiny")
    toml = tmp_path / "tiny" / "assignment.toml"
    toml.write_text(toml.read_text().replace('outputs = ["h"]', f'outputs = ["h"]\n{line}'))
    return toml


def test_visibility_comes_from_the_spec_and_the_student_id_from_the_metadata(tmp_path):
    toml = _tiny_with(tmp_path, 'visibility = "after_due_date"')
    spec = toml.parent
    assignment = load(spec)
    results = json.loads(gradescope_json(not_run("x", assignment, RunStatus.ERROR, "why"), assignment, 1.0))
    assert [t["visibility"] for t in results["tests"]] == ["after_due_date"]
    toml.write_text(toml.read_text().replace('"after_due_date"', '"later"'))
    with pytest.raises(Exception, match="visibility must be one of visible, hidden, after_due_date, after_published"):
        load(spec)
    (tmp_path / "submission_metadata.json").write_text(json.dumps({"users": [{"id": 9}, {"id": 3}]}))
    assert student(tmp_path) == "3+9"
    (tmp_path / "submission_metadata.json").write_text("{ broken")
    assert student(tmp_path) == SUBMITTED_AS


def test_choose_never_follows_links_and_skips_checkpoints(tmp_path):
    (tmp_path / "sub" / ".ipynb_checkpoints").mkdir(parents=True)
    (tmp_path / "sub" / ".ipynb_checkpoints" / "student-checkpoint.ipynb").write_text("{}")
    (tmp_path / "sub" / "student.ipynb").write_text("{}")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "other.ipynb").write_text("{}")
    (tmp_path / "sub" / "link").symlink_to(tmp_path / "elsewhere")
    assert choose(tmp_path / "sub", "student.ipynb") == (tmp_path / "sub" / "student.ipynb", "")


@pytest.mark.parametrize("name", [b"bad\xff.txt", "\u202eevil\x1b[31m\nYour score: 18 of 18.txt".encode()])
def test_file_names_a_student_chooses_reach_results_json_as_safe_text(container, name):
    for folder in ("submission", "results"):
        shutil.rmtree(container / folder, ignore_errors=True)
        (container / folder).mkdir()
    (Path(os.fsdecode(bytes(container / "submission"))) / os.fsdecode(name)).write_text("x")
    env = {k: v for k, v in os.environ.items() if k != "GRADER_SEED"} | {"AUTOGRADER_ROOT": str(container)}
    done = subprocess.run(["bash", str(container / "source" / "run_autograder")], env=env, capture_output=True, text=True, timeout=300)
    results = json.loads((container / "results" / "results.json").read_text())
    assert done.returncode == 0 and results["score"] == 0 and "no notebook (.ipynb) was submitted (it holds" in results["output"]
    for text in [results["output"], *(t["output"] for t in results["tests"])]:
        assert not any(c in text for c in ("\u202e", "\x1b", "\n", "\udcff")) and "could not run" not in text


def test_a_large_groups_id_fits_and_hidden_exercises_keep_the_total_to_themselves(tmp_path):
    (tmp_path / "submission_metadata.json").write_text(json.dumps({"users": [{"id": 10_000_000 + i} for i in range(30)]}))
    sid = student(tmp_path)
    assert len(sid.encode()) <= 200 and "~" in sid
    assignment = load(_tiny_with(tmp_path, 'visibility = "hidden"').parent)
    results = json.loads(gradescope_json(not_run("x", assignment, RunStatus.OK, ""), assignment, 1.0))
    assert "the results you may see now are below" in results["output"] and "/ 1" not in results["output"]


@pytest.mark.parametrize("args, words", [
    (["--notebook", "sub/hw.ipynb"], "--notebook 'sub/hw.ipynb': the name of the notebook students submit"),
    (["--notebook", "hw.txt"], "--notebook 'hw.txt'"),
    (["--seed", "a b"], "--seed must be 1 to 100 letters"),
    (["--budget", "0"], "argument --budget: '0': the time limit must be above 0"),
])
def test_the_builders_bad_options_are_refused(tmp_path, args, words):
    done = subprocess.run([sys.executable, "-m", "grader.cli", "gradescope", "backprop", *args], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2 and words in " ".join(done.stderr.split()) and not list(tmp_path.iterdir())


def test_the_zip_goes_into_a_folder_given_as_out_and_leaves_nothing_else(tmp_path):
    (tmp_path / "dist").mkdir()
    done = subprocess.run([sys.executable, "-m", "grader.cli", "gradescope", "backprop", "--out", "dist", "--budget", "900"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert [p.name for p in (tmp_path / "dist").iterdir()] == ["autograder.zip"] and "past Gradescope's default limit of 600 s" in done.stderr
