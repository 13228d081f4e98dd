"""How an argument's values are drawn: the distributions a spec names (`a = "nonzero(n)"`).

A spec writes `name(axes)` or `name[params](axes)`: `normal(B?, n)`, `uniform[-1, 1](n)`,
`labels[k](B?)`. Each parameter is a number or one of the spec's dimensions, whose size in the
trial it takes, so arguments that share a dimension agree (the labels of a batch are classes of the
logits' `k`). `DISTRIBUTIONS` maps a name to its `Distribution`; a name with a colon
(`mydists:spiky`) is an instructor's own, a function of the assignment folder's module (or any
importable one) called as `draw(shape, rng, *params)`. To add one here: a function and one line in
`DISTRIBUTIONS`. Whatever it draws, the fair-grades rule holds (`grader.trials`): every trial must
tell each catalogued mistake from the right answer, and a spec whose draws cannot is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

KINK_MARGIN = 0.1  # `nonzero` and `positive` values keep this far from 0, where relu's Θ(0) convention (or a log) would matter
KINK_BAND = 0.01  # `nonzero` puts one entry of each sign within this of the margin: a mask cut past it fails every trial


def _any(*params: float) -> str:
    return ""


@dataclass(frozen=True)
class Distribution:
    draw: Callable[..., np.ndarray]  # (shape, rng, *params) -> array of that shape
    params: tuple[str, ...] = ()  # the names of its parameters, for messages
    check: Callable[..., str] = _any  # why these (numeric) parameters cannot be used, or ""


def normal(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Standard normal values: every sign and scale an answer may meet."""
    return rng.standard_normal(shape)


def nonzero(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Normal values moved KINK_MARGIN away from 0 (off relu's kink). Whenever there are two entries or
    more, the positive entry nearest 0 is moved to just above the margin and the negative one nearest
    0 to just below minus the margin (within KINK_BAND; an entry's sign is turned where all share one):
    so both signs are there (all of one sign, Θ(a) is all 0s or all 1s, and a relu backward that drops
    or keeps everything would pass), a mask cut anywhere but near 0 (`a > 0.3`, `a > -0.2`) gets an
    entry wrong in every trial, for every student, and the entries far from 0 stay as drawn (a relu
    capped at 1 still meets values above 1). A single entry lies just past the margin too."""
    values = rng.standard_normal(shape)
    values = np.array(np.sign(values) * (np.abs(values) + KINK_MARGIN))  # an array even for shape (), whose entry can be set
    flat = values.reshape(-1)  # a view: setting its entries sets values'
    if flat.size >= 2:
        order = np.argsort(np.abs(flat), kind="stable")  # nearest 0 first
        above = next((i for i in order if flat[i] > 0), order[0])
        below = next((i for i in order if flat[i] < 0 and i != above), next(i for i in order if i != above))
        flat[above] = KINK_MARGIN + KINK_BAND * rng.random()
        flat[below] = -(KINK_MARGIN + KINK_BAND * rng.random())
    elif flat.size == 1:  # one sign only: a cut on the other side cannot show, and the grader knows it
        flat[0] = np.sign(flat[0]) * (KINK_MARGIN + KINK_BAND * rng.random())
    return values


def positive(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Values above KINK_MARGIN (the inputs of a log or a square root), spread over an order of magnitude."""
    return np.abs(rng.standard_normal(shape)) + KINK_MARGIN


def uniform(shape: tuple[int, ...], rng: np.random.Generator, low: float, high: float) -> np.ndarray:
    return rng.uniform(low, high, shape)


def labels(shape: tuple[int, ...], rng: np.random.Generator, k: float) -> np.ndarray:
    """Integer classes 0 … k−1, of more than one class whenever there are two labels or more (labels
    all alike would hide a sum over the wrong axis)."""
    values = rng.integers(0, int(k), shape)
    if values.size >= 2 and int(k) >= 2 and (values == values.flat[0]).all():
        values.flat[0] = (values.flat[0] + 1) % int(k)
    return values


def onehot(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Rows of one 1 and 0s along the last axis (its size is the number of classes)."""
    if not shape:
        return np.ones(())
    classes = labels(shape[:-1], rng, shape[-1])
    return np.eye(shape[-1])[classes]


def probabilities(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Rows on the simplex along the last axis: positive, summing to 1 (a softmax's outputs)."""
    logits = rng.standard_normal(shape)
    if not shape:
        return np.ones(())
    exp = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return exp / exp.sum(axis=-1, keepdims=True)


def _range(low: float, high: float) -> str:
    return "" if low < high else f"low ({low:g}) must be below high ({high:g})"


def _classes(k: float) -> str:
    return "" if float(k).is_integer() and k >= 1 else f"k must be a whole number of classes, at least 1 (got {k:g})"


DISTRIBUTIONS: dict[str, Distribution] = {
    "normal": Distribution(normal),
    "nonzero": Distribution(nonzero),
    "positive": Distribution(positive),
    "uniform": Distribution(uniform, ("low", "high"), _range),
    "labels": Distribution(labels, ("k",), _classes),
    "onehot": Distribution(onehot),
    "probabilities": Distribution(probabilities),
}


def own(draw: Callable[..., Any]) -> Distribution:
    """An instructor's own distribution, a function `(shape, rng, *params)`, which checks nothing itself."""
    return Distribution(draw, ("*",))
