"""Each mistake hypothesis on its own, as a pure function of arrays; and comparison never loosened."""

from __future__ import annotations

import numpy as np
import pytest

from grader.compare import Tolerance, compare
from grader.diagnose import HYPOTHESES, Context, diagnose, diagnose_error
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
    found = diagnose(expected, actual, context)
    assert found is not None and found.code == code
    assert context.name in found.message


@pytest.mark.parametrize("expected, actual, context, code", CASES, ids=[c[3] for c in CASES])
def test_each_hypothesis_fits_only_its_own_mistake(expected, actual, context, code):
    """Run every hypothesis alone: the one named fits, and a right answer gets no diagnosis at all."""
    expected, actual = np.asarray(expected, float), np.asarray(actual, float)
    fitting = {found.code for hyp in HYPOTHESES if (found := hyp(expected, actual, context))}
    assert code in fitting
    assert diagnose(expected, expected.copy(), context) is None


def test_random_wrong_answers_get_no_diagnosis():
    expected = rng.normal(size=(3, 2))
    assert diagnose(expected, rng.normal(size=(3, 2)), ctx("dL_dW", W=W)) is None
    assert diagnose(expected, np.full((3, 2), np.nan), ctx("dL_dW")) is None


def test_hints_from_the_spec_are_appended():
    found = diagnose(W, W.T, ctx("dL_dW"), {"dL_dW": {"transpose": "hᵀ dL/da (Eq. 53)"}})
    assert found.message.endswith("hᵀ dL/da (Eq. 53)")


def test_errors_are_explained():
    assert diagnose_error("ValueError", "matmul: Input operand 1 has a mismatch in its core dimension 0").code == "shape_mismatch"
    assert diagnose_error("NameError", "name 'np' is not defined").code == "name_error"
    assert diagnose_error("RuntimeError", "boom") is None


def test_a_diagnosis_never_turns_a_wrong_answer_into_a_pass():
    expected = linear.backward(dL_da, h, W, b)[1]
    for actual in (np.outer(dL_da, h), -expected, 2 * expected, expected[None]):
        check = compare(expected, actual, "dL_dW", Tolerance(1e-4, 1e-6, lambda e, a, n: ("x", "explained")))
        assert not check.passed and check.message.endswith("explained")


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
