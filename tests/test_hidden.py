"""Hidden trials: an exercise's `shown_trials` first trials may show their inputs and expected values;
the others only whether they passed, in every report a student sees (feedback, the returned notebook,
grades.json, Gradescope's tests), with nothing the notebook printed during the calls; Gradescope
shows their details as the spec's `reveal` says."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from grader.spec import SpecError, load
from grader.trials import make_trials
from notebooks import notebook

TINY = Path(__file__).parent / "assignments" / "tiny"
# Right on the first two calls (the shown trials), wrong after; prints every input it is given.
SLY = """
import numpy as np
_calls = []
def relu_forward(a):
    _calls.append(1)
    print("INPUT" + "-LEAK", repr(a.tolist()))
    return np.maximum(a, 0) if len(_calls) <= 2 else np.maximum(a, 0) * 2
"""


def _spec(tmp_path: Path, extra: str) -> Path:
    folder = tmp_path / "hidden"
    shutil.copytree(TINY, folder)
    toml = folder / "assignment.toml"
    toml.write_text(toml.read_text().replace("trials = 3", "trials = 6" + extra))
    return folder


@pytest.mark.parametrize("extra, words", [
    ("\nshown_trials = 7", "shown_trials must be a number of trials from 0 to the exercise's 6, got 7"),
    ("\nshown_trials = -1", "shown_trials must be a number of trials"),
    ("\nshown_trials = true", "shown_trials must be a number of trials"),
    ("\nreveal = \"soon\"", "reveal must be one of visible, hidden, after_due_date, after_published"),
])
def test_bad_hidden_trial_fields_are_refused(tmp_path, extra, words):
    with pytest.raises(SpecError, match=words):
        load(_spec(tmp_path, extra))


def test_hidden_trials_show_only_whether_they_passed_in_every_report(tmp_path):
    folder = _spec(tmp_path, "\nshown_trials = 2\nreveal = \"after_due_date\"")
    notebook(tmp_path / "subs" / "ada.ipynb", SLY)
    env = {k: v for k, v in os.environ.items() if k != "GRADER_SEED"}
    done = subprocess.run([sys.executable, "-m", "grader.cli", "run", "subs", "--assignment", str(folder), "--seed", "3", "--format", "json",
                           "--notebooks"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    reports = tmp_path / "reports"
    student_sees = {
        "feedback.md": (reports / "feedback" / "ada.md").read_text(),
        "feedback.html": (reports / "feedback" / "ada.html").read_text(),
        "notebook": (reports / "feedback" / "ada.ipynb").read_text(),
        "grades.json": (reports / "grades.json").read_text(),
    }
    exercise = json.loads(student_sees["grades.json"])["students"][0]["exercises"][0]
    assert exercise["score"] == pytest.approx(2 / 6) and exercise["message"].startswith("trial 2 (a hidden trial: its inputs are not shown)")
    hidden = [t for t in make_trials(load(folder).exercises[0], "3", "ada") if t.index >= 2]
    numbers = {f"{v:.6g}" for t in hidden for v in [*t.args["a"].ravel(), *np.ravel(t.expected)] if abs(v) > 0.01}
    for name, text in student_sees.items():
        assert "INPUT-LEAK" not in text, name
        assert not [n for n in numbers if n in text], name  # neither a hidden input nor an expected value
    trials = (reports / "trials.csv").read_text()  # the instructor's: every trial's details
    assert "trial" in trials and "expected" in trials
    subprocess.run([sys.executable, "-m", "grader.cli", "run", "subs", "--assignment", str(folder), "--seed", "3", "--format", "gradescope",
                    "--out", "gs"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False)
    results = json.loads((tmp_path / "gs" / "results.json").read_text())
    main, details = results["tests"]
    assert main["name"] == "relu_forward" and "INPUT-LEAK" not in json.dumps(main) and "hidden trial" in main["output"]
    assert details == {"name": "relu_forward: hidden trials", "score": 0.0, "max_score": 0.0, "status": "failed",
                       "output": details["output"], "visibility": "after_due_date"}
    assert details["output"].count("trial ") == 4 and "expected" in details["output"]  # revealed after the due date, in full
