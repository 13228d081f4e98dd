"""Trial inputs: the shape plan, the seeds, the distributions."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from grader.authoring.bundle import BUNDLE, read_bundle
from grader.distributions import KINK_BAND, KINK_MARGIN
from grader.scoring.compare import Tolerance, compare
from grader.scoring.mistakes import cuts, wrong_answers
from grader.spec import Exercise, SpecError, load
from grader.trials import Trial, flat, leaves, make_trials, plan

BACKPROP = load("backprop")
BACKPROP_TOML = BACKPROP.path / "assignment.toml"
TINY = Path(__file__).parent / "assignments" / "tiny"
EXERCISES = {e.id: e for e in BACKPROP.exercises}


def test_size_one_dims_are_covered_unless_they_let_a_mistake_pass():
    for exercise in BACKPROP.exercises:
        forced = plan(exercise).forced
        trials = make_trials(exercise, 0, "ada")
        for k, symbol in enumerate(forced[: exercise.trials]):
            assert any(1 in v.shape for _, v in flat(trials[k].args)), (exercise.id, symbol)
        for t in trials:
            for name, value in flat(t.args):
                assert all(1 <= d <= 8 for d in value.shape) and value.dtype == np.float64
                if name.split(".")[-1].startswith("W") and 1 not in value.shape:
                    assert value.shape[0] != value.shape[1], (exercise.id, name)
    # n = 1 cannot tell relu's mistakes apart: Θ(a) is 0 (like the masked gradient) or 1 (passing the input on),
    # and a single a has one sign, so a mask cut on the other side of 0 fits it (the Jacobian's 1×1 too)
    assert plan(EXERCISES["relu_backward"]).forced == plan(EXERCISES["relu_forward"]).forced == plan(EXERCISES["relu_jacobian"]).forced == ()
    assert set(plan(EXERCISES["mlp_backward"]).forced) == {"n0", "n1", "n2", "n3"}


@pytest.mark.parametrize("name", ["backprop", "backprop-columns"])
def test_every_trial_tells_every_catalogued_mistake_from_the_right_answer(name):
    """Checked with the grading comparison itself, over many seeds and students: each wrong answer of
    the catalogue that is a mistake for the exercise fails every trial."""
    for exercise in load(name).exercises:
        assert plan(exercise).mistakes, exercise.id
        for seed, student in itertools.product(range(12), ("ada", "bea", "李")):
            assert_discriminating(exercise, make_trials(exercise, seed, student))


def assert_discriminating(exercise: Exercise, trials: list[Trial]) -> None:
    mistakes, tol = plan(exercise).mistakes, Tolerance(exercise.rtol, exercise.atol)
    for t in trials:
        inputs = dict(flat(t.args))
        for where, right in leaves(t.expected):
            for wrong in wrong_answers(right, inputs, t.batch):
                if (where, wrong.code, wrong.detail) in mistakes:
                    assert not compare(right, wrong.value, "x", tol).passed, (exercise.id, t.shapes, wrong.code, wrong.detail)


@pytest.mark.parametrize("name", ["backprop", "backprop-columns"])
def test_the_shipped_self_check_bundles_public_trials_discriminate_too(name):
    assignment = load(name)
    _, public, _ = read_bundle(assignment.path / BUNDLE)
    for exercise in assignment.exercises:
        assert_discriminating(exercise, public[exercise.id])


def test_entries_that_are_the_right_answer_are_not_mistakes():
    """The transpose of a symmetric Jacobian, or dL/db = dL/da for one datapoint, is not a mistake."""
    assert not any(code == "transpose" for _, code, _ in plan(EXERCISES["relu_jacobian"]).mistakes)
    assert ((), "axes_order", "(2, 1, 0)") not in plan(EXERCISES["linear_jacobian_W"]).mistakes
    assert ((), "returned_input", "dL_da") not in plan(EXERCISES["linear_backward_b"]).mistakes
    assert ((), "mask_only", "a") in plan(EXERCISES["relu_backward"]).mistakes


def test_a_spec_whose_trials_cannot_discriminate_is_refused(tmp_path):
    spec = (TINY / "assignment.toml").read_text().replace('id = "relu_forward"\nreference = "reference:relu.forward"\nargs = { a = "nonzero(n)" }',
                                                          'id = "relu_backward"\nreference = "reference:relu.backward"\nargs = { dL_dh = "normal(n)", a = "nonzero(n)" }')
    (tmp_path / "assignment.toml").write_text(spec.replace("n = [1, 8]", "n = [1, 1]"))
    with pytest.raises(SpecError, match=r"exercise relu_backward: its trials cannot tell the mistake \w+ .*on h from the right answer: it passes \d+ of 16 draws"):
        make_trials(load(tmp_path).exercises[0], 0, "ada")


def test_a_batch_of_one_row_is_never_graded(tmp_path):
    """An instructor's batch dimension that may be 1: a mean instead of a sum would pass such a trial."""
    spec = BACKPROP_TOML.read_text().replace("B = [2, 8]", "B = [1, 8]")
    (tmp_path / "assignment.toml").write_text(spec)
    batched = {e.id: e for e in load(tmp_path).exercises}["linear_backward_batched"]
    assert "B" not in plan(batched).forced
    for seed in range(30):
        assert all(t.batch >= 2 and t.args["h"].shape[0] >= 2 for t in make_trials(batched, seed, "ada"))


def test_scoring_policy_is_checked(tmp_path):
    (tmp_path / "assignment.toml").write_text((TINY / "assignment.toml").read_text().replace("trials = 3", 'trials = 3\nscoring = "most"'))
    with pytest.raises(SpecError, match="scoring must be one of proportional, all_or_nothing, got 'most'"):
        load(tmp_path)


def test_batches_have_at_least_two_rows_and_optional_axes_alternate():
    for t in make_trials(EXERCISES["linear_backward_batched"], 0, "ada"):
        assert t.args["h"].ndim == 2 and t.args["h"].shape[0] >= 2 and t.batch == t.args["h"].shape[0]
    forward = make_trials(EXERCISES["linear_forward"], 0, "ada")
    assert [t.args["h"].ndim for t in forward] == [1, 2, 1, 2, 1, 2]


def test_relu_inputs_stay_off_the_kink_and_have_both_signs():
    for seed in range(20):
        for t in make_trials(EXERCISES["relu_backward"], seed, "ada"):
            assert np.abs(t.args["a"]).min() >= KINK_MARGIN
            assert t.args["a"].size >= 2 and (t.args["a"] > 0).any() and (t.args["a"] < 0).any()


CUTS = {  # relu's Θ(a) cut elsewhere than at 0, as students write it
    "above 0.3": lambda a: a > 0.3,
    "at or above 0.5": lambda a: a >= 0.5,
    "above 0.15": lambda a: a > 0.15,
    "above 0.12": lambda a: a > KINK_MARGIN + 2 * KINK_BAND,
    "above 1": lambda a: a > 1.0,
    "above -0.3": lambda a: a > -0.3,
    "above -0.12": lambda a: a > -KINK_MARGIN - 2 * KINK_BAND,
    "not below 0.2, by np.where": lambda a: np.where(a < 0.2, 0.0, 1.0),
}
RELU_WITH_A_CUT = {  # each exercise's function, written with a mask `cut`
    "relu_forward": lambda cut: lambda a: a * cut(a),
    "relu_backward": lambda cut: lambda dL_dh, a: dL_dh * cut(a),
    "relu_jacobian": lambda cut: lambda a: np.diag(cut(a).astype(np.float64)),
}


@pytest.mark.parametrize("exercise", sorted(RELU_WITH_A_CUT))
@pytest.mark.parametrize("cut", sorted(CUTS))
def test_a_relu_mask_cut_away_from_0_fails_every_trial_for_every_student(exercise, cut):
    """Same mistake, same score: a cut at 0.3 once passed every trial of about 1 student in 10 (those
    whose draws held no value between 0 and 0.3), and some trials of most others."""
    spec, function = EXERCISES[exercise], RELU_WITH_A_CUT[exercise](CUTS[cut])
    tolerance = Tolerance(spec.rtol, spec.atol)
    for seed, student in itertools.product((1, "course-2026"), (f"s{i:03d}" for i in range(60))):
        for trial in make_trials(spec, seed, student):
            answer = function(*[np.array(v) for v in trial.args.values()])
            assert not compare(trial.expected, answer, spec.graded_name, tolerance, spec.outputs).passed, (seed, student, trial.index)


def test_only_relus_answers_get_the_cut_mask_entries():
    """The catalogue's cut masks are mistakes where the answer is u Θ(x) or diag(Θ(x)), nowhere else
    (dL/db = dL/da is u Θ(b) for a positive b of one entry: no mask, no entry)."""
    for name in ("backprop", "backprop-columns", "classifier"):
        for exercise in load(name).exercises:
            cut = {code for _, code, _ in plan(exercise).mistakes if code.startswith("cut_")}
            assert cut == ({"cut_above", "cut_below"} if exercise.id.startswith("relu_") else set()), (name, exercise.id)


@pytest.mark.parametrize("distribution", ["normal(n)", "uniform[-1, 1](n)", "uniform[-1, 3](n)", "uniform[-0.15, 1](n)"])
@pytest.mark.parametrize("exercise", ["relu_forward", "relu_backward", "relu_jacobian"])
def test_an_instructors_relu_on_other_inputs_is_still_graded(tmp_path, exercise, distribution):
    """Inputs that rarely fall within the cut of 0, or on one side of it only, make a cut that can
    show only where it can: the spec is accepted as before the cut entries (none of these was refused)."""
    spec = BACKPROP_TOML.read_text().replace('a = "nonzero(n)"', f'a = "{distribution}"')
    (tmp_path / "assignment.toml").write_text(spec)
    relu = next(e for e in load(tmp_path).exercises if e.id == exercise)
    for student in ("ada", "bea", "cy"):
        trials = make_trials(relu, 1, student)
        assert len(trials) == relu.trials
        assert_discriminating(relu, trials)


@pytest.mark.parametrize("distribution", ["uniform[0, 0.5](n_out)", "probabilities(n_out)", "uniform[0, 1](n_out)"])
def test_an_identity_jacobian_is_no_relus_however_its_inputs_are_drawn(tmp_path, distribution):
    """da/db is the identity, diag(Θ(b)) for a positive b: no cut entry is a mistake there, and the
    spec is not refused for one."""
    spec = BACKPROP_TOML.read_text().replace('b = "normal(n_out)" }\noutputs = ["da_db"]', f'b = "{distribution}" }}\noutputs = ["da_db"]')
    assert spec != BACKPROP_TOML.read_text()
    (tmp_path / "assignment.toml").write_text(spec)
    exercise = next(e for e in load(tmp_path).exercises if e.id == "linear_jacobian_b")
    assert not {code for _, code, _ in plan(exercise).mistakes if code.startswith("cut_")}


SPARSE_UPSTREAM = """
import numpy as np

def relu_backward(dL_dh, a):
    return dL_dh * (a > 0)

def relu_grad(a):
    return (np.asarray(a) > 0).astype(float)

def through_relu(shape, rng):  # an upstream gradient that came through another relu: half of it exactly 0
    return np.maximum(rng.normal(size=shape), 0.0)
"""


def test_relu_specs_with_a_sparse_upstream_or_a_single_entry_are_accepted_whatever_their_ids(tmp_path):
    """A cut cannot show where the upstream gradient is exactly 0, nor on the other side of a single
    entry: no cut entry is made there, so such specs are accepted as before (and not by the luck of
    an exercise id, which seeds the probe draws)."""
    names = [(name, axes) for name in ("relu_backward", "relu_bwd", "relu_grad", "q3", "task7", "ex4") for axes in ("n", "B?, n")]
    exercises = [f'[[exercises]]\nid = "{name}{"_batched" if "B" in axes else ""}"\nreference = "myref:relu_backward"\n'
                 f'args = {{ dL_dh = "myref:through_relu({axes})", a = "nonzero({axes})" }}\n' for name, axes in names]
    exercises.append('[[exercises]]\nid = "scalar_step"\nreference = "myref:relu_grad"\nargs = { a = "nonzero()" }\n')
    (tmp_path / "myref.py").write_text(SPARSE_UPSTREAM)
    (tmp_path / "assignment.toml").write_text('title = "t"\nconvention = "rows"\npublic_seed = 1\n[dims]\nn = [1, 8]\nB = [2, 8]\n\n' + "\n".join(exercises))
    for exercise in load(tmp_path).exercises:
        plan(exercise)  # raises SpecError if refused
        assert_discriminating(exercise, make_trials(exercise, 1, "ada"))


@pytest.mark.parametrize("layout", ["(n, n)", "(n, 1, n, 1)"])
def test_a_column_relus_jacobian_gets_the_cut_entries_in_either_layout(layout):
    """z of shape (n, 1): its Jacobian as an (n, n) matrix, or with z's axes twice; both cuts made
    where z has an entry near 0 on that side, none for an identity answer."""
    z = np.array([[1.3], [0.105], [-0.104], [-2.0]])
    right = np.diag((z.ravel() > 0).astype(float))
    right = right if layout == "(n, n)" else right.reshape(4, 1, 4, 1)
    made = {w.code: w.value for w in cuts(right, {"z": z})}
    assert set(made) == {"cut_above", "cut_below"} and all(v.shape == right.shape and not np.array_equal(v, right) for v in made.values())
    assert list(cuts(np.eye(4).reshape(right.shape), {"z": np.abs(z)})) == []
    assert list(cuts(right, {"z": z * 10})) == []  # no entry near 0: no cut shows


def test_inputs_are_reproducible_and_differ_between_students_seeds_and_trials():
    exercise = EXERCISES["mlp_backward"]
    first, again = make_trials(exercise, 1, "ada"), make_trials(exercise, 1, "ada")
    for a, b in zip(first, again):
        assert all(np.array_equal(x, y) for (_, x), (_, y) in zip(flat(a.args), flat(b.args)))
    other_student, other_seed = make_trials(exercise, 1, "bea"), make_trials(exercise, 2, "ada")
    assert not np.array_equal(first[4].args["x"], other_student[4].args["x"])
    assert not np.array_equal(first[4].args["x"], other_seed[4].args["x"])


def test_trials_carry_the_reference_answer():
    t = make_trials(EXERCISES["linear_backward_W"], 0, "ada")[2]
    np.testing.assert_allclose(t.expected, np.outer(t.args["h"], t.args["dL_da"]))

