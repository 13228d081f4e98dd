"""How an argument's values are drawn: the distributions a spec names (`a = "nonzero(n)"`).

Each is a function of a shape and a random generator that returns a float64 array of that shape;
`DISTRIBUTIONS` maps the name a spec uses to it, and the spec is checked against these names when it
is loaded. To add one: a function here and one line in `DISTRIBUTIONS`. Whatever it draws, the
fair-grades rule holds (`grader.trials`): every trial must tell each catalogued mistake from the
right answer, and a spec whose draws cannot is refused when it is loaded for grading.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

KINK_MARGIN = 0.1  # `nonzero` values keep this far from 0, where relu's Θ(0) convention would matter

Distribution = Callable[[tuple[int, ...], np.random.Generator], np.ndarray]


def normal(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Standard normal values: every sign and scale an answer may meet."""
    return rng.standard_normal(shape)


def nonzero(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Normal values moved KINK_MARGIN away from 0 (off relu's kink), with both signs whenever there
    are two entries or more (all of one sign, Θ(a) is all 0s or all 1s, and a relu backward that drops
    or keeps everything would pass)."""
    values = rng.standard_normal(shape)
    values = np.sign(values) * (np.abs(values) + KINK_MARGIN)
    if values.size >= 2 and ((values > 0).all() or (values < 0).all()):
        values.flat[0] = -values.flat[0]
    return values


DISTRIBUTIONS: dict[str, Distribution] = {
    "normal": normal,
    "nonzero": nonzero,
}
