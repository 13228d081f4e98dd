"""Name the mistake: test the classic backprop mistakes, one hypothesis at a time, against a wrong answer.

Every hypothesis is a pure function of the expected array, the student's array and the trial's
inputs; the first that fits explains the failure. Most are the wrong answers of the catalogue
(`grader.mistakes`), the same that every trial is drawn to tell apart; two more recognise answers
of another shape (a size-1 axis too many, a batch axis not summed). A diagnosis only adds words to a
failure: it is asked only after the comparison failed and it never changes a verdict. An assignment
spec may add the lecture's own reasoning for a mistake on a given output
(`[hints.dL_dW] transpose = "..."`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from grader.compare import Tolerance
from grader.mistakes import wrong_answers

FITS = Tolerance(rtol=1e-4, atol=1e-6)  # "fits" means: equal up to the grading tolerance of the built-in assignment


@dataclass(frozen=True)
class Diagnosis:
    code: str  # a short name for reports and counts: transpose, sign, not_summed, ...
    message: str


@dataclass(frozen=True)
class Context:
    """What a hypothesis may look at besides the two arrays: the trial's inputs, named."""

    name: str  # the graded output's name, e.g. dL_dW
    inputs: dict[str, np.ndarray]  # flattened: params.W1 for nested dicts
    batch: int | None = None  # the batch size, when the trial has a batch axis


Hypothesis = Callable[[np.ndarray, np.ndarray, Context], Diagnosis | None]


def close(expected: np.ndarray, actual: np.ndarray) -> bool:
    return expected.shape == actual.shape and bool(np.all(np.abs(actual - expected) <= FITS.bound(expected)))


def reshaped(expected: np.ndarray, actual: np.ndarray, ctx: Context) -> Diagnosis | None:
    if actual.shape != expected.shape and actual.size == expected.size and np.squeeze(actual).shape == np.squeeze(expected).shape:
        if close(expected, actual.reshape(expected.shape)):
            return Diagnosis(
                "reshape",
                f"the values are right but {ctx.name} has shape {actual.shape} instead of {expected.shape}: only a "
                f"size-1 axis differs, so reshaping (e.g. .reshape({expected.shape}) or .ravel()) would make it right",
            )
    return None


def not_summed(expected: np.ndarray, actual: np.ndarray, ctx: Context) -> Diagnosis | None:
    """A batch axis left in: first (rows are datapoints, seed 003) or last (columns are, seed 004)."""
    if not ctx.batch:
        return None
    for axis, shape in ((0, (ctx.batch,) + expected.shape), (-1, expected.shape + (ctx.batch,))):
        if actual.shape == shape and close(expected, actual.sum(axis=axis)):
            where = "row" if axis == 0 else "column"
            return Diagnosis(
                "not_summed",
                f"{ctx.name} has one {where} per datapoint: summing over the batch axis gives the expected "
                "answer; a parameter's gradient adds up the contributions of every datapoint (seed 003: ∇b = 1ᵀG)",
            )
    return None


# What each wrong answer of the catalogue (grader.mistakes) means, in a student's words.
MESSAGES = {
    "transpose": "your {name} is the transpose of the expected one",
    "axes_order": "your {name} has the right numbers with its axes in another order (yours are the expected axes {detail}); "
                  "the layout is output axes first, then input axes",
    "sign": "your {name} is −1 times the expected one: a sign error",
    "double": "your {name} is twice the expected one",
    "half": "your {name} is half the expected one",
    "mean_not_sum": "your {name} is the expected one divided by the batch size {batch}: averaged over the batch instead of summed",
    "times_batch": "your {name} is the expected one times the batch size {batch}",
    "mask_only": "your {name} is the step function Θ({detail}) alone: multiply it by the upstream gradient "
                 "(Eq. 23: dL/da_α = Θ(a_α) dL/dh_α)",
    "returned_input": "your {name} is the input {detail}, unchanged",
}


def catalogued(expected: np.ndarray, actual: np.ndarray, ctx: Context) -> Diagnosis | None:
    """The first wrong answer of the catalogue that `actual` is."""
    for wrong in wrong_answers(expected, ctx.inputs, ctx.batch):
        # An all-0 or all-1 mask would fit any input of that shape, and name the wrong culprit.
        if wrong.code == "mask_only" and not 0 < wrong.value.sum() < wrong.value.size:
            continue
        if close(wrong.value, actual):
            return Diagnosis(wrong.code, MESSAGES[wrong.code].format(name=ctx.name, detail=wrong.detail, batch=ctx.batch))
    return None


HYPOTHESES: tuple[Hypothesis, ...] = (catalogued, reshaped, not_summed)


def diagnose(expected: np.ndarray, actual: np.ndarray, ctx: Context, hints: dict[str, dict[str, str]] | None = None) -> Diagnosis | None:
    """The first hypothesis that explains `actual`, with the spec's hint for it appended, if any."""
    expected, actual = np.asarray(expected, dtype=np.float64), np.asarray(actual, dtype=np.float64)
    if not np.all(np.isfinite(actual)) or close(expected, actual):
        return None
    for hypothesis in HYPOTHESES:
        found = hypothesis(expected, actual, ctx)
        if found:
            hint = (hints or {}).get(ctx.name, {}).get(found.code)
            return Diagnosis(found.code, f"{found.message}. {hint}" if hint else found.message)
    return None


def diagnose_error(error_type: str, message: str) -> Diagnosis | None:
    """Explain an exception the student's function raised, when its kind says something."""
    if error_type == "ValueError" and any(w in message for w in ("matmul", "not aligned", "could not be broadcast", "mismatch")):
        return Diagnosis(
            "shape_mismatch",
            "the shapes in a product or sum do not line up; the trials use non-square W, so a missing or extra "
            "transpose shows up as this error (dL/dh = dL/da Wᵀ has h's shape, dL/dW = hᵀ dL/da has W's shape)",
        )
    if error_type == "NameError":
        return Diagnosis("name_error", "the function uses a name that is not defined when it runs: define or import it in the notebook")
    if error_type in ("IndexError", "KeyError"):
        return Diagnosis(error_type.lower(), "check the shapes and keys the function assumes against the contract")
    return None
