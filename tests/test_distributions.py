"""Input distributions: each built-in one draws what its name says, arguments that share a dimension
agree (labels are classes of the logits' k, in every trial), an instructor's own distribution is a
function of the assignment folder, and trials drawn from them still discriminate."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from grader.distributions import DISTRIBUTIONS, KINK_BAND, KINK_MARGIN
from grader.scoring.mistakes import CUT
from grader.spec import load
from grader.trials import make_trials, plan

SHAPES = [(), (1,), (5,), (1, 4), (3, 1), (4, 6)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("seed", range(5))
def test_each_distribution_draws_what_its_name_says(shape, seed):
    rng = np.random.default_rng(seed)
    for name, params in (("normal", ()), ("nonzero", ()), ("positive", ()), ("uniform", (-2.0, 3.0)), ("labels", (4,)),
                         ("onehot", ()), ("probabilities", ())):
        values = DISTRIBUTIONS[name].draw(shape, rng, *params)
        assert values.shape == shape, name
        if name == "nonzero":
            assert (np.abs(values) >= KINK_MARGIN).all()
            if values.size >= 2:  # an entry of each sign just past the margin, within the catalogue's cut masks
                assert ((values >= KINK_MARGIN) & (values < KINK_MARGIN + KINK_BAND) & (values <= CUT)).any()
                assert ((values <= -KINK_MARGIN) & (values > -KINK_MARGIN - KINK_BAND) & (values >= -CUT)).any()
            elif values.size == 1:
                assert KINK_MARGIN <= abs(values.flat[0]) < KINK_MARGIN + KINK_BAND <= CUT
        if name == "positive":
            assert (values >= KINK_MARGIN).all()
        if name == "uniform":
            assert ((values >= -2) & (values < 3)).all()
        if name == "labels":
            assert values.dtype.kind == "i" and ((values >= 0) & (values < 4)).all()
            assert values.size < 2 or len(np.unique(values)) > 1  # never all one class
        if name == "onehot" and shape:
            assert set(np.unique(values)) <= {0.0, 1.0} and (values.sum(axis=-1) == 1).all()
        if name == "probabilities" and shape:
            assert (values > 0).all() and np.allclose(values.sum(axis=-1), 1)


SPEC = """title = "Softmax"
convention = "rows"
public_seed = 1

[dims]
B = [2, 5]
k = [2, 6]

[[exercises]]
id = "ce_backward"
reference = "myref:ce_backward"
args = { logits = "normal(B?, k)", y = "labels[k](B?)" }
outputs = ["dL_dlogits"]
trials = 6

[[exercises]]
id = "ce_onehot_backward"
function = "ce_onehot_backward"
reference = "myref:ce_onehot_backward"
args = { logits = "normal(B?, k)", t = "onehot(B?, k)" }
outputs = ["dL_dlogits"]
trials = 6

[[exercises]]
id = "scale"
reference = "myref:scale"
args = { x = "uniform[0.5, 2](k)", w = "mydists:steps[k](k)" }
outputs = ["y"]
trials = 4
"""
MYREF = """import numpy as np

def _softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)

def ce_backward(logits, y):
    t = np.eye(logits.shape[-1])[y]
    return _softmax(logits) - t

def ce_onehot_backward(logits, t):
    return _softmax(logits) - t

def scale(x, w):
    return x * w
"""
MYDISTS = """import numpy as np

def steps(shape, rng, k):
    return np.arange(1, int(k) + 1, dtype=float)[:shape[-1]] * rng.choice([-1.0, 1.0])
"""
STUDENT = """
import numpy as np
def softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)
def ce_backward(logits, y):
    return softmax(logits) - np.eye(logits.shape[-1])[y]
def ce_onehot_backward(logits, t):
    return softmax(logits) - t
def scale(x, w):
    return x * w
"""
FORGOT_ONEHOT = "def ce_backward(logits, y):\n    return softmax(logits)"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    folder = tmp_path / "softmax"
    folder.mkdir()
    (folder / "assignment.toml").write_text(SPEC)
    (folder / "myref.py").write_text(MYREF)
    (folder / "mydists.py").write_text(MYDISTS)
    return folder


def test_arguments_that_share_a_dimension_agree_in_every_trial(folder):
    assignment = load(folder)
    ce, onehot, scale = assignment.exercises
    assert str(ce.args["y"]) == "labels[k](B?)" and str(scale.args["x"]) == "uniform[0.5, 2](k)"
    for student in ("ada", "bea", "cyd"):
        for trial in make_trials(ce, 5, student):
            logits, y = trial.args["logits"], trial.args["y"]
            assert y.shape == logits.shape[:-1] and y.dtype.kind == "i" and ((y >= 0) & (y < logits.shape[-1])).all()
        for trial in make_trials(onehot, 5, student):
            assert trial.args["t"].shape == trial.args["logits"].shape and (trial.args["t"].sum(axis=-1) == 1).all()
        for trial in make_trials(scale, 5, student):
            assert np.array_equal(np.abs(trial.args["w"]), np.arange(1, trial.args["x"].shape[0] + 1))
    for exercise in assignment.exercises:
        assert plan(exercise).mistakes  # the catalogue still discriminates on these inputs


def test_a_class_graded_on_labels_and_one_hot_targets(folder, tmp_path):
    for name, cells in (("ada", [STUDENT]), ("bea", [STUDENT, FORGOT_ONEHOT])):
        (tmp_path / "subs").mkdir(exist_ok=True)
        nbformat.write(new_notebook(cells=[new_code_cell(c) for c in cells]), tmp_path / "subs" / f"{name}.ipynb")
    env = {k: v for k, v in os.environ.items() if k != "GRADER_SEED"}
    done = subprocess.run([sys.executable, "-m", "grader.cli", "run", "subs", "--assignment", str(folder), "--seed", "4", "--format", "json"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    students = {s["student_id"]: s for s in json.loads((tmp_path / "reports" / "grades.json").read_text())["students"]}
    assert students["ada"]["total"] == 3
    bea = {e["exercise"]: e for e in students["bea"]["exercises"]}
    assert bea["ce_backward"]["score"] == 0 and bea["ce_onehot_backward"]["score"] == 1 and bea["scale"]["score"] == 1


@pytest.mark.parametrize("shape", [(3,), (5,), (8,), (2, 4), (3, 3)])
@pytest.mark.parametrize("seed", range(20))
def test_nonzero_moves_only_the_entries_nearest_0_into_the_band(shape, seed):
    """Two entries become the band's; the others stay as drawn, so the values far from 0 that other
    mistakes need (a relu capped at 1) are still there."""
    drawn = np.random.default_rng(seed).standard_normal(shape)
    plain = np.sign(drawn) * (np.abs(drawn) + KINK_MARGIN)
    values = DISTRIBUTIONS["nonzero"].draw(shape, np.random.default_rng(seed))
    moved = np.flatnonzero(values.ravel() != plain.ravel())
    assert len(moved) == 2
    for i in moved:  # the nearest 0 of the sign it was given, unless its sign was turned (all shared one)
        same_sign = [abs(v) for j, v in enumerate(plain.ravel()) if j not in moved and np.sign(v) == np.sign(values.flat[i])]
        assert not same_sign or abs(plain.flat[i]) <= min(same_sign) or np.sign(plain.flat[i]) != np.sign(values.flat[i])
