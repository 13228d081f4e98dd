"""The corpus of mistaken implementations (tests/corpus.py), graded for real by `grader run`: every
named cause is right, at least 95% of the wrong answers get one, the right answers in other styles
pass, and no feedback file shows a grader path or another course's text."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from nbformat.v4 import new_code_cell

from corpus import CORPUS, HONEST

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def corpus_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[pd.DataFrame, dict[str, str]]]:
    root = tmp_path_factory.mktemp("corpus")
    out = {}
    for assignment in ("backprop", "backprop-columns"):
        subs = root / assignment
        subs.mkdir()
        for entry in [e for e in CORPUS + HONEST if e.assignment == assignment]:
            nb = nbformat.read(ROOT / "assignments" / assignment / "solution.ipynb", as_version=4)
            nb.cells.append(new_code_cell(entry.cell))
            nbformat.write(nb, subs / f"{entry.name}.ipynb")
        reports = root / f"reports-{assignment}"
        done = subprocess.run([sys.executable, "-m", "grader.cli", "run", str(subs), "--assignment", str(ROOT / "assignments" / assignment),
                               "--seed", "17", "--jobs", "2", "--out", str(reports)], capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr
        rows = pd.read_csv(reports / "exercises.csv", keep_default_na=False).set_index(["student_id", "exercise"])
        out[assignment] = rows, {p.stem: p.read_text() for p in (reports / "feedback").glob("*.md")}
    return out


@pytest.mark.parametrize("entry", CORPUS, ids=[e.name for e in CORPUS])
def test_each_mistake_fails_and_any_cause_named_is_right(corpus_run, entry):
    rows, _ = corpus_run[entry.assignment]
    row = rows.loc[(entry.name, entry.exercise)]
    named = set(row.diagnosis.split("+")) - {""}
    assert row.status != "passed"
    assert named <= set(entry.causes) - {""}, f"{entry.name}: named {named}, {row.message}"
    if entry.causes[0]:
        assert entry.causes[0] in named, f"{entry.name}: named {named or 'nothing'}, {row.message}"


def test_nearly_every_wrong_answer_gets_a_cause(corpus_run):
    named = [bool(corpus_run[e.assignment][0].loc[(e.name, e.exercise)].diagnosis) for e in CORPUS]
    assert len(CORPUS) >= 40 and sum(named) >= 0.95 * len(CORPUS)


@pytest.mark.parametrize("entry", HONEST, ids=[e.name for e in HONEST])
def test_right_answers_in_other_styles_pass(corpus_run, entry):
    rows, _ = corpus_run[entry.assignment]
    assert (rows.loc[entry.name].status == "passed").all()


def test_feedback_names_no_grader_path_and_no_other_course(corpus_run):
    for assignment, (_, feedback) in corpus_run.items():
        for name, text in feedback.items():
            for leak in ("/grading", "harness", "backprop_grader_inside", "site-packages", "grader/", "\x1b["):
                assert leak not in text, (name, leak)
            if assignment == "backprop-columns":  # the rows assignment's lecture references
                assert "Answer 5" not in text and "Eq. 53" not in text and "dL/da" not in text, name
