"""Each mistake hypothesis on its own, as a pure function of arrays; and comparison never loosened."""

from __future__ import annotations

import numpy as np
import pytest

from grader.scoring.compare import Tolerance, compare
from grader.scoring.diagnose import Cause, Context, REGISTRY, causes, common, error_cause, explain
from reference import linear, relu, sqerr

rng = np.random.default_rng(0)
h, W, b = rng.normal(size=3), rng.normal(size=(3, 2)), rng.normal(size=2)
dL_da = rng.normal(size=2)
H, G = rng.normal(size=(4, 3)), rng.normal(size=(4, 2))
a = np.array([0.5, -1.2, 2.0, -0.3])
dL_dh = rng.normal(size=4)
f, y = rng.normal(size=3), rng.normal(size=3)


def ctx(name: str, batch: int | None = None, **inputs: np.ndarray) -> Context:
    return Context(name, inputs, batch)


CASES = [
    # (expected, the mistaken answer, context, the code that must be found)
    (linear.backward(dL_da, h, W, b)[1], np.outer(dL_da, h), ctx("dL_dW", h=h, W=W), "transpose"),
    (linear.jacobian(h, W, b)[1], linear.jacobian(h, W, b)[1].transpose(1, 2, 0), ctx("da_dW"), "axes_order"),
    (linear.backward(G, H, W, b)[2], G, ctx("dL_db", batch=4, dL_da=G), "not_summed"),
    (linear.backward(G, H, W, b)[1], H.T @ G / 4, ctx("dL_dW", batch=4), "mean_not_sum"),
    (linear.backward(G, H, W, b)[2], G.T, ctx("dJ_db", batch=4), "not_summed"),  # columns: (n_out, B)
    (sqerr.backward(f, y)[1], f - y, ctx("dL_dy", f=f, y=y), "sign"),
    (sqerr.forward(f, y), 2 * sqerr.forward(f, y), ctx("L"), "double"),
    (sqerr.backward(f, y)[0], 0.5 * (f - y), ctx("dL_df"), "half"),
    (relu.backward(dL_dh, a), (a > 0).astype(float), ctx("dL_da", dL_dh=dL_dh, a=a), "mask_only"),
    (linear.forward(h, W, b), linear.forward(h, W, b)[None, :], ctx("a"), "reshape"),
    (relu.backward(dL_dh, a), dL_dh, ctx("dL_da", dL_dh=dL_dh, a=a), "returned_input"),
]


@pytest.mark.parametrize("expected, actual, context, code", CASES, ids=[c[3] for c in CASES])
def test_each_mistake_is_named(expected, actual, context, code):
    found = causes(expected, actual, context)
    assert code in {c.code for c in found} and all(c.output == context.name for c in found)
    named = explain(common([found]), {})
    assert code in named.code.split("+") and context.name in named.message


@pytest.mark.parametrize("expected, actual, context, code", CASES, ids=[c[3] for c in CASES])
def test_each_hypothesis_fits_its_own_mistake_and_no_right_answer(expected, actual, context, code):
    """Run every registered hypothesis alone: the one named fits, and none fits a right answer."""
    expected, actual = np.asarray(expected, float), np.asarray(actual, float)
    assert code in {h.code for h in REGISTRY.values() if any(True for _ in h.test(expected, actual, context))}
    assert causes(expected, expected.copy(), context) == frozenset()


def test_random_wrong_answers_get_no_diagnosis():
    expected = rng.normal(size=(3, 2))
    assert causes(expected, rng.normal(size=(3, 2)), ctx("dL_dW", W=W)) == frozenset()
    assert causes(expected, np.full((3, 2), np.nan), ctx("dL_dW")) == frozenset()


def test_hints_from_the_spec_are_appended_for_outputs_and_functions():
    found = explain([Cause("transpose", "dL_dW")], {"dL_dW": {"transpose": "hᵀ dL/da (Eq. 53)"}})
    assert found.message.endswith("hᵀ dL/da (Eq. 53)")
    raised = explain([Cause("shape_mismatch", "")], {"linear_backward": {"shape_mismatch": "W's shape."}}, ("linear_backward", "dL_dh"))
    assert raised.code == "shape_mismatch" and raised.message.endswith("W's shape.")


def test_errors_are_explained():
    assert error_cause("ValueError", "matmul: Input operand 1 has a mismatch in its core dimension 0").code == "shape_mismatch"
    assert error_cause("NameError", "name 'np' is not defined").code == "name_error"
    assert error_cause("RuntimeError", "boom") is None


def test_a_failed_comparison_hands_over_the_wrong_outputs_and_nothing_else():
    """Comparison only compares: the outputs it found wrong are what the diagnosis looks at."""
    expected = linear.backward(dL_da, h, W, b)
    for actual in ((expected[0], np.outer(dL_da, h), expected[2]), (expected[0], -expected[1], expected[2])):
        check = compare(expected, actual, "grads", Tolerance(1e-4, 1e-6), ("dL_dh", "dL_dW", "dL_db"))
        assert not check.passed and [w.name for w in check.wrong] == ["dL_dW"] and "—" not in check.message


def test_float32_formula_passes_and_small_errors_fail():
    tol = Tolerance(1e-4, 1e-6)
    for seed in range(200):
        r = np.random.default_rng(seed)
        h32, W32, g32 = (r.normal(size=s).astype(np.float32) for s in ((8,), (8, 7), (7,)))
        expected = linear.backward(g32.astype(float), h32.astype(float), W32.astype(float), np.zeros(7))
        actual = (g32 @ W32.T, np.outer(h32, g32), g32)
        assert compare(expected, actual, "grads", tol, ("dL_dh", "dL_dW", "dL_db")).passed
    wrong = expected[1].copy()
    wrong[0, 0] += 1e-2
    assert not compare(expected[1], wrong, "dL_dW", tol).passed
