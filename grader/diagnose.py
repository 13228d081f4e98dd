"""Name the mistake: test the classic backprop mistakes, one hypothesis at a time, against a wrong answer.

Every hypothesis is a pure function of the expected array, the student's array and the trial's
inputs; the first that fits explains the failure. A diagnosis only adds words to a failure: it is
asked only after the comparison failed and it never changes a verdict. An assignment spec may add the
lecture's own reasoning for a mistake on a given output (`[hints.dL_dW] transpose = "..."`).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Callable

import numpy as np

from grader.compare import Tolerance

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


def transposed(expected: np.ndarray, actual: np.ndarray, ctx: Context) -> Diagnosis | None:
    if expected.ndim < 2 or actual.ndim != expected.ndim:
        return None
    for perm in itertools.permutations(range(actual.ndim)):
        if perm != tuple(range(actual.ndim)) and close(expected, actual.transpose(perm)):
            if expected.ndim == 2:
                return Diagnosis("transpose", f"your {ctx.name} is the transpose of the expected one")
            return Diagnosis(
                "axes_order",
                f"your {ctx.name} has the right numbers with its axes in another order (axes {perm} of yours are "
                f"the expected ones); the layout is output axes first, then input axes",
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


def scaled(expected: np.ndarray, actual: np.ndarray, ctx: Context) -> Diagnosis | None:
    if actual.shape != expected.shape or not np.any(expected):
        return None
    factors = {-1.0: ("sign", "−1 times the expected one: a sign error"), 2.0: ("double", "twice the expected one"),
               0.5: ("half", "half the expected one")}
    if ctx.batch:
        factors[1.0 / ctx.batch] = ("mean_not_sum", f"the expected one divided by the batch size {ctx.batch}: averaged over the batch instead of summed")
        factors[float(ctx.batch)] = ("times_batch", f"the expected one times the batch size {ctx.batch}")
    for factor, (code, what) in factors.items():
        if close(factor * expected, actual):
            return Diagnosis(code, f"your {ctx.name} is {what}")
    return None


def mask_only(expected: np.ndarray, actual: np.ndarray, ctx: Context) -> Diagnosis | None:
    # Only direct arguments: the sign pattern of a network's parameter (params.b1) can match a hidden
    # layer's Θ(a) by chance, and would name the wrong culprit.
    for name, x in ((n, x) for n, x in ctx.inputs.items() if "." not in n):
        mask = (x > 0).astype(float)
        telling = 0 < mask.sum() < mask.size  # an all-0 or all-1 mask would fit any input of that shape
        if telling and x.shape == actual.shape and close(mask, actual):
            return Diagnosis(
                "mask_only",
                f"your {ctx.name} is the step function Θ({name}) alone: multiply it by the upstream gradient "
                f"(Eq. 23: dL/da_α = Θ(a_α) dL/dh_α)",
            )
    return None


def unchanged_input(expected: np.ndarray, actual: np.ndarray, ctx: Context) -> Diagnosis | None:
    for name, x in ctx.inputs.items():
        if x.shape == actual.shape and close(x, actual):
            return Diagnosis("returned_input", f"your {ctx.name} is the input {name}, unchanged")
    return None


HYPOTHESES: tuple[Hypothesis, ...] = (transposed, reshaped, not_summed, scaled, mask_only, unchanged_input)


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
