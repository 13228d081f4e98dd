"""Same code, same grade: every catalogued mistake, made for real in a notebook, fails every trial it
changes, on every seed and for every student id, and identical notebooks get identical totals.

The mistaken notebooks are generated from the catalogue itself: each runs `grader/mistakes.py` in
a cell and wraps the solution's functions so that one output returns one catalogued wrong answer.
"""

from __future__ import annotations

import itertools
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import numpy as np
import pytest
from nbformat.v4 import new_code_cell

import grader.scoring.mistakes
from grader.model import Options
from grader.run import grade_all
from grader.scoring.mistakes import wrong_answers
from grader.spec import Assignment, Exercise, load
from grader.trials import flat, leaves, make_trials, plan

ROOT = Path(__file__).resolve().parents[2]
SEEDS = (1, 2, 3)
STUDENTS = ("ada", "李雷", "o'brien-2")

WRAPPER = '''
import copy as _copy
import types as _types

def _isolated(names):
    """The solution's functions, each calling the solution's own helpers (mlp_backward calls
    linear_backward), never a mistaken one: each mistake stays in the one function it is made in."""
    scope = dict(globals())
    for name in names:
        f = scope[name]
        scope[name] = _types.FunctionType(f.__code__, scope, f.__name__, f.__defaults__, f.__closure__)
    return {name: scope[name] for name in names}

def _flat(args, prefix=""):
    items = []
    for name, value in args.items():
        items += _flat(value, f"{prefix}{name}.") if isinstance(value, dict) else [(prefix + name, value)]
    return items

def _get(value, where):
    for key in where:
        value = value[key]
    return value

def _put(value, where, new):
    if not where:
        return new
    if isinstance(value, dict):
        return {**value, where[0]: _put(value[where[0]], where[1:], new)}
    return tuple(_put(v, where[1:], new) if i == where[0] else v for i, v in enumerate(value))

def _mistaken(fn, names, batch_at, where, code, detail):
    def mistaken(*args):
        right = fn(*_copy.deepcopy(args))
        batch = None
        if batch_at is not None and np.ndim(args[batch_at[0]]) == batch_at[2]:
            batch = args[batch_at[0]].shape[batch_at[1]]
        part = np.asarray(_get(right, where), dtype=np.float64)
        for wrong in wrong_answers(part, dict(_flat(dict(zip(names, args)))), batch):
            if (wrong.code, wrong.detail) == (code, detail):
                return _put(right, where, wrong.value)
        return right  # this mistake changes nothing for inputs of these shapes (a 1-D answer's transpose)
    return mistaken
'''


@dataclass(frozen=True)
class Target:
    """One catalogued mistake in one function's return value."""

    function: str
    where: tuple[Any, ...]  # in the student's return value: (1,) is dL_dW, ("W1",) a dict entry
    code: str
    detail: str


def graded_prefix(exercise: Exercise) -> tuple[Any, ...]:
    return () if exercise.output is None else (exercise.output,)


def targets(assignment: Assignment) -> dict[str, list[Target]]:
    """Every mistake of every exercise's plan, by function, in the student's return value (those made
    inside a network's op are made by the student's op function: see the test below)."""
    found: dict[str, set[Target]] = {}
    for e in assignment.exercises:
        found.setdefault(e.function, set()).update(
            Target(e.function, graded_prefix(e) + w, c, d) for w, c, d in plan(e).mistakes if not d.startswith("inside ")
        )
    return {f: sorted(t, key=repr) for f, t in found.items()}


def batch_at(assignment: Assignment, function: str) -> tuple[int, int, int] | None:
    """(argument index, axis, the argument's ndim when it has the batch axis), as the trials draw it."""
    for e in assignment.exercises:
        if e.function == function:
            for index, arg in enumerate(e.args.values()):
                axes = getattr(arg, "axes", ())
                if any(a.dim == e.batch for a in axes):
                    return index, [a.dim for a in axes].index(e.batch), len(axes)
    return None


def mistaken_notebook(assignment: Assignment, chosen: list[Target], path: Path) -> None:
    nb = nbformat.read(assignment.path / "solution.ipynb", as_version=4)
    names = {e.function: tuple(e.args) for e in assignment.exercises}
    calls = [f"_solution = _isolated({list(names)!r})"]
    calls += [f"{f} = _solution[{f!r}]" for f in names]
    calls += [
        f"{t.function} = _mistaken({t.function}, {names[t.function]!r}, {batch_at(assignment, t.function)!r}, {t.where!r}, {t.code!r}, {t.detail!r})"
        for t in chosen
    ]
    nb.cells += [new_code_cell(Path(grader.scoring.mistakes.__file__).read_text()), new_code_cell(WRAPPER + "\n".join(calls))]
    nbformat.write(nb, path)


def fails(exercise: Exercise, trial, chosen: list[Target]) -> bool:
    """Does one of `chosen` change this trial's graded answer (so the trial must fail)?"""
    inputs, prefix = dict(flat(trial.args)), graded_prefix(exercise)
    for t in chosen:
        if t.function != exercise.function or t.where[: len(prefix)] != prefix:
            continue
        part = dict(leaves(trial.expected)).get(t.where[len(prefix):])
        if part is not None and any((w.code, w.detail) == (t.code, t.detail) for w in wrong_answers(part, inputs, trial.batch)):
            return True
    return False


def instructors_own(folder: Path) -> Path:
    """The row assignment as an instructor might write it: batches that may have one row, and the
    forward pass's and the first backward exercise's batch axis optional."""
    spec = (ROOT / "assignments" / "backprop" / "assignment.toml").read_text().replace("B = [2, 8]", "B = [1, 8]")
    spec = spec.replace('args = { dL_da = "normal(n_out)", h = "normal(n_in)", W = "normal(n_in, n_out)", b = "normal(n_out)" }\noutputs',
                        'args = { dL_da = "normal(B?, n_out)", h = "normal(B?, n_in)", W = "normal(n_in, n_out)", b = "normal(n_out)" }\noutputs', 1)
    folder.mkdir()
    (folder / "assignment.toml").write_text(spec)
    shutil.copy(ROOT / "assignments" / "backprop" / "solution.ipynb", folder)
    return folder


@pytest.mark.parametrize("name", ["backprop", "backprop-columns", "instructors-own"])
def test_every_catalogued_mistake_fails_every_trial_it_changes_on_every_seed(tmp_path, name):
    assignment = load(instructors_own(tmp_path / name) if name == "instructors-own" else name)
    if name == "instructors-own":
        assert "B?" in str(assignment.exercises[4].args["h"]) and assignment.exercises[4].dims["B"] == (1, 8)
    by_function = targets(assignment)
    # Notebook k makes, in every function, that function's k-th mistake: one mistake per function at a time.
    notebooks = [[ts[k] for ts in by_function.values() if k < len(ts)] for k in range(max(map(len, by_function.values())))]
    subs = tmp_path / "subs"
    subs.mkdir()
    for k, chosen in enumerate(notebooks):
        mistaken_notebook(assignment, chosen, subs / f"{STUDENTS[0]}~{k}.ipynb")
        for student in STUDENTS[1:]:
            shutil.copy(subs / f"{STUDENTS[0]}~{k}.ipynb", subs / f"{student}~{k}.ipynb")
    always_zero: set[tuple[str, Target]] = set()
    for seed in SEEDS:
        results = {r.student_id: r for r in grade_all(subs, assignment, Options(seed=seed, timeout=5, jobs=2))}
        assert len(results) == len(notebooks) * len(STUDENTS)
        for (k, chosen), student in itertools.product(enumerate(notebooks), STUDENTS):
            result = results[f"{student}~{k}"]
            assert result.status == "ok" and not result.cells, (result.message, result.cells)
            verdicts = {(t.exercise, t.trial): t.verdict for t in result.trials}
            for exercise, scored in zip(assignment.exercises, result.exercises):
                trials = make_trials(exercise, seed, f"{student}~{k}")
                expected = ["fail" if fails(exercise, t, chosen) else "pass" for t in trials]
                got = [verdicts[(exercise.id, t.index)] for t in trials]
                assert got == expected, (name, seed, student, exercise.id, [t for t in chosen if t.function == exercise.function])
                assert scored.score == pytest.approx(exercise.points * expected.count("pass") / exercise.trials)
                if expected.count("fail") == exercise.trials:
                    always_zero |= {(exercise.id, t) for t in chosen if t.function == exercise.function}
    # Every mistake that changes every trial's answer (all but a 1-D answer's transpose) was made at least once.
    for exercise in assignment.exercises:
        assert any(e == exercise.id for e, _ in always_zero), exercise.id


def test_the_classic_mistakes_score_zero_on_the_exercise_they_break_and_copies_score_alike(tmp_path):
    """bob: dL/dW transposed, relu backward returning Θ(a), sqerr without the ½. Twelve copies, four
    seeds: one total everywhere, and 0 on each exercise a mistake breaks. Likewise a relu backward
    that writes into its input, three ways."""
    subs = tmp_path / "subs"
    subs.mkdir()
    for i in range(12):
        shutil.copy(ROOT / "examples" / "submissions" / "bob.ipynb", subs / f"bob{i:02d}.ipynb")
    from notebooks import notebook

    for i, in_place in enumerate(("dL_dh[a <= 0] = 0", "dL_dh *= (a > 0)", "np.multiply(dL_dh, a > 0, out=dL_dh)")):
        notebook(subs / f"inplace{i}.ipynb", f"def relu_backward(dL_dh, a):\n    {in_place}\n    return dL_dh")
    for i in range(4):  # Θ ignored: wrong in relu_backward, and in the network that calls it, whatever its units do
        notebook(subs / f"theta{i}.ipynb", "def relu_backward(dL_dh, a):\n    return dL_dh.copy()")
    assignment = load("backprop")
    totals = set()
    for seed in (1, 2, 3, 4):
        for result in grade_all(subs, assignment, Options(seed=seed, timeout=5, jobs=2)):
            scores = {e.exercise: e.score for e in result.exercises}
            if result.student_id.startswith("inplace"):  # modifies its input wherever some a < 0: every trial
                assert scores["relu_backward"] == 0 and result.total == 17, result.student_id
                continue
            if result.student_id.startswith("theta"):
                assert scores["relu_backward"] == scores["mlp_backward"] == 0 and result.total == 13, (seed, result.student_id)
                continue
            assert scores["linear_backward_W"] == scores["relu_backward"] == scores["sqerr_forward"] == 0
            assert scores["linear_backward_batched"] == scores["mlp_backward"] == 0  # the same functions, used again
            totals.add(round(result.total, 9))
    assert totals == {18 - 1 - 1 - 1 - 2 - 4}


def test_a_mistaken_relu_backward_breaks_the_column_network_on_every_seed(tmp_path):
    """The network of backprop-columns calls the student's relu_backward: with Θ ignored it is wrong
    wherever a hidden unit is inactive, and every trial has one."""
    columns = load("backprop-columns")
    (tmp_path / "subs").mkdir()
    nb = nbformat.read(columns.path / "solution.ipynb", as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("def relu_backward(dJ_da, z):\n    return dJ_da.copy()"))
    for i in range(6):
        nbformat.write(nb, tmp_path / "subs" / f"s{i}.ipynb")
    for seed in (1, 2, 3):
        for result in grade_all(tmp_path / "subs", columns, Options(seed=seed, timeout=5, jobs=2)):
            scores = {e.exercise: e.score for e in result.exercises}
            assert scores["relu_backward"] == scores["net_backward"] == 0, (seed, result.student_id)


def test_all_or_nothing_scoring_from_the_spec(tmp_path):
    """Code right only for some inputs keeps its partial credit by default, and none under all_or_nothing."""
    from notebooks import notebook

    spec = (ROOT / "assignments" / "backprop" / "assignment.toml").read_text()
    folder = tmp_path / "spec"
    folder.mkdir()
    (folder / "assignment.toml").write_text(spec.replace("[defaults]\n", '[defaults]\nscoring = "all_or_nothing"\n'))
    notebook(tmp_path / "subs" / "ada.ipynb")
    notebook(tmp_path / "subs" / "bea.ipynb", "def relu_forward(a):\n    return np.maximum(a, 0) if a.size > 4 else a")
    for assignment, partial in ((load("backprop"), True), (load(folder), False)):
        results = {r.student_id: r for r in grade_all(tmp_path / "subs", assignment, Options(seed=2, timeout=5, jobs=2))}
        assert results["ada"].total == 18
        relu = next(e for e in results["bea"].exercises if e.exercise == "relu_forward")
        assert 0 < relu.passed < relu.trials and relu.status == "partial"
        assert relu.score == (pytest.approx(relu.passed / relu.trials) if partial else 0)
