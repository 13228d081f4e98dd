"""Trial inputs: the shape plan, the seeds, the distributions."""

from __future__ import annotations

import numpy as np

from grader.spec import load
from grader.trials import KINK_MARGIN, flat, make_trials

BACKPROP = load("backprop")
EXERCISES = {e.id: e for e in BACKPROP.exercises}


def test_every_exercise_sees_size_one_dims_and_non_square_W():
    for exercise in BACKPROP.exercises:
        trials = make_trials(exercise, 0, "ada")
        shapes = [value.shape for t in trials for _, value in flat(t.args)]
        assert any(1 in s for s in shapes), exercise.id
        for t in trials:
            for name, value in flat(t.args):
                assert all(1 <= d <= 8 for d in value.shape) and value.dtype == np.float64
                if name.split(".")[-1].startswith("W") and 1 not in value.shape:
                    assert value.shape[0] != value.shape[1], (exercise.id, name)


def test_batches_have_at_least_two_rows_and_optional_axes_alternate():
    for t in make_trials(EXERCISES["linear_backward_batched"], 0, "ada"):
        assert t.args["h"].ndim == 2 and t.args["h"].shape[0] >= 2 and t.batch == t.args["h"].shape[0]
    forward = make_trials(EXERCISES["linear_forward"], 0, "ada")
    assert [t.args["h"].ndim for t in forward] == [1, 2, 1, 2, 1, 2]


def test_relu_inputs_stay_off_the_kink():
    for seed in range(20):
        for t in make_trials(EXERCISES["relu_backward"], seed, "ada"):
            assert np.abs(t.args["a"]).min() >= KINK_MARGIN


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
