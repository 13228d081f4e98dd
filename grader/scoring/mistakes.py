"""The catalogue of classic wrong answers: what an answer looks like when it makes one known mistake.

Every entry is computed from the right answer and the trial's inputs alone, so the catalogue
applies to any exercise, a built-in one or an instructor's own. The grader uses it twice: a trial is
graded on only if every entry fails it (`grader.trials`), so a known mistake never passes by chance,
and a wrong answer that matches an entry is named (`grader.scoring.diagnose`). `OP_MISTAKES` are mistakes
made inside a network, in one of its ops.

This module imports nothing of the grader: the tests run this very file inside notebooks, to make
each catalogued mistake for real.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np

MAX_PERMUTED_NDIM = 4  # axis orders of answers with more axes are not listed (5! orders and up)
CUT = 0.11  # relu's Θ(x) cut this far from 0, either way: `nonzero` inputs put an entry of each sign closer to 0 than this
CUT_CODES = ("cut_above", "cut_below")  # the entries of `cuts`


@dataclass(frozen=True)
class Wrong:
    """One catalogued wrong answer to a trial."""

    code: str  # transpose, axes_order, sign, double, half, mean_not_sum, times_batch, mask_only, returned_input, no_upstream, cut_above, cut_below, no_onehot, softmax_axis
    detail: str  # which one: the axes order "(1, 0)" or the input's name "a"; "" when the code says it all
    value: np.ndarray


# Mistakes inside a network: an op's backward (its VJP) made wrong, as a student's own relu_backward
# makes it where their network calls it. Listed are those a network's inputs can hide: relu's Θ
# ignored changes nothing where every unit is active (a scaled VJP, by contrast, changes every
# gradient behind it, always). The grader computes the reference network with it (reference.tape.replaced).
OP_MISTAKES: dict[str, dict[str, Callable[..., tuple[np.ndarray, ...]]]] = {
    "relu": {"returned_input": lambda grad_out, a: (np.asarray(grad_out, dtype=np.float64),)},  # dL/da = dL/dh
}


def wrong_answers(right: np.ndarray, inputs: dict[str, np.ndarray], batch: int | None) -> Iterator[Wrong]:
    """Every catalogued wrong answer for `right`, the answer to a trial with these inputs (flattened:
    `params.W1`) and this batch size (None without a batch axis)."""
    yield from reordered(right)
    for code, factor in scalings(batch):
        yield Wrong(code, "", factor * right)
    yield from from_inputs(right, inputs)
    yield from cuts(right, inputs)


def reordered(right: np.ndarray) -> Iterator[Wrong]:
    """dL/dW transposed; a Jacobian with its axes in another order."""
    for code, detail, order in orders(right.ndim):
        yield Wrong(code, detail, right.transpose(order))


def orders(ndim: int) -> Iterator[tuple[str, str, tuple[int, ...]]]:
    """The wrong axis orders of an answer with `ndim` axes: (code, detail, order)."""
    if 2 <= ndim <= MAX_PERMUTED_NDIM:
        for order in itertools.permutations(range(ndim)):
            if order != tuple(range(ndim)):
                yield "transpose" if ndim == 2 else "axes_order", str(order), order


def scalings(batch: int | None) -> Iterator[tuple[str, float]]:
    """The wrong answers that are the right one times a factor: (code, factor)."""
    yield "sign", -1.0  # a sign error (dL/dy = f − y)
    yield "double", 2.0  # the ½ of sqerr dropped
    yield "half", 0.5  # a ½ too many
    if batch:
        yield "mean_not_sum", 1.0 / batch  # averaged over the batch instead of summed
        yield "times_batch", float(batch)


def from_inputs(right: np.ndarray, inputs: dict[str, np.ndarray]) -> Iterator[Wrong]:
    """An input of the answer's shape returned as it came (relu's Θ ignored), or its step function
    Θ(x) alone (relu backward without the upstream gradient; direct arguments only); the local
    derivative alone, the upstream gradient `dL_…` not multiplied in (when that derivative is no step
    function: then it is the one above); and, for an answer with class targets among the inputs
    (labels, or one-hot rows), the mistakes of softmax cross-entropy's backward."""
    for name, x in inputs.items():
        if x.shape == right.shape:
            if "." not in name:
                yield Wrong("mask_only", name, (x > 0).astype(np.float64))
            yield Wrong("returned_input", name, x)
            if name.split(".")[-1].startswith("dL_") and np.all(np.abs(x) > 1e-6):
                local = right / x
                if not np.all((local == 0) | (local == 1)):
                    yield Wrong("no_upstream", name, local)
    yield from _classification(right, inputs)


def cuts(right: np.ndarray, inputs: dict[str, np.ndarray]) -> Iterator[Wrong]:
    """relu's Θ(x) cut at CUT (`cut_above`) or at −CUT (`cut_below`) instead of 0 (`x > 0.3`,
    `x > -0.2`: a cut farther from 0 gets the same entries wrong, and more), for an answer that is
    u Θ(x) (relu's forward, u = x, or its backward, u the upstream gradient) or diag(Θ(x)) (its
    Jacobian, (n, n) or with x's own axes twice). Each is made only where it changes the answer: x
    has an entry between 0 and that cut (`nonzero` inputs always have both), and u is not 0 there.
    The detail is x's name, though u is another input; diagnose's `threshold` names a student's own cut."""
    for name, x in inputs.items():
        if "." in name or not ((x != 0) & (np.abs(x) <= CUT)).any():
            continue
        steps, mixed = (x > CUT, x > -CUT), bool((x > 0).any() and (x < 0).any())  # mixed: Θ(x) has 1s and 0s
        if right.shape in (x.shape + x.shape, (x.size, x.size)) and (mixed or x.size == 1) and np.array_equal(right, _diagonal(x > 0, right.shape)):
            made = [_diagonal(step, right.shape) for step in steps]
        elif right.shape == x.shape and mixed:  # an answer that merely fits an all-0 or all-1 mask is no relu's
            upstream = next((u for u in inputs.values() if u.shape == x.shape and not np.array_equal(right, u)
                             and np.array_equal(right, u * (x > 0))), None)
            if upstream is None:
                continue
            made = [upstream * step for step in steps]
        else:
            continue
        for code, value in zip(CUT_CODES, made):
            if not np.array_equal(value, right):
                yield Wrong(code, name, value)


def _diagonal(step: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """The Jacobian of an elementwise op whose derivative is `step`, in the layout `shape`."""
    return np.diag(step.ravel().astype(np.float64)).reshape(shape)


def _classification(right: np.ndarray, inputs: dict[str, np.ndarray]) -> Iterator[Wrong]:
    """Softmax cross-entropy's backward, softmax(z) − onehot(y), made wrong: the one-hot targets not
    subtracted, or the softmax taken over the batch's axis; only where the inputs hold class targets."""
    if right.ndim not in (1, 2) or not right.shape[-1]:
        return
    k = right.shape[-1]
    targets = {}
    for name, x in inputs.items():
        if x.shape == right.shape[:-1] and x.dtype.kind in "iu" and x.size and x.min() >= 0 and x.max() < k:
            targets[name] = np.eye(k)[x]
        elif x.shape == right.shape and x.size and np.all((x == 0) | (x == 1)) and np.all(x.sum(axis=-1) == 1):
            targets[name] = x.astype(np.float64)
    for name, target in targets.items():
        yield Wrong("no_onehot", name, right + target)
        if right.ndim == 2:
            for z_name, z in inputs.items():
                if z.shape == right.shape and z.dtype.kind == "f" and z_name != name:
                    e = np.exp(z - z.max(axis=0, keepdims=True))
                    yield Wrong("softmax_axis", z_name, e / e.sum(axis=0, keepdims=True) - target)
