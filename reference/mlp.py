"""The 3-layer network of seed 001 (Eq. 11) and its backward pass (Eq. 30), run on the tape."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from reference.ops import linear, relu, sqerr
from reference.tape import Tape, Var

PARAMS = ("W1", "b1", "W2", "b2", "W3", "b3")


def forward(x: object, y: object, params: Mapping[str, object]) -> Var | np.ndarray:
    """Eq. 11: a1 = linear(x, W1, b1), h1 = relu(a1), ..., f = linear(h2, W3, b3), L = sqerr(f, y)."""
    missing = [k for k in PARAMS if k not in params]
    if missing:
        raise ValueError(f"mlp: params is missing {', '.join(missing)} (needs {', '.join(PARAMS)})")
    h1 = relu(linear(x, params["W1"], params["b1"]))
    h2 = relu(linear(h1, params["W2"], params["b2"]))
    return sqerr(linear(h2, params["W3"], params["b3"]), y)


def loss_and_grads(x: object, y: object, params: Mapping[str, object]) -> tuple[float, dict[str, np.ndarray]]:
    """The loss and dL/d(each parameter): record Eq. 11 on a tape, then walk it back (Eq. 30).

    x and y are data, not Vars: their gradients are computed on the way and thrown away.
    """
    tape = Tape()
    variables = {k: tape.var(v) for k, v in params.items() if k in PARAMS}
    loss = forward(x, y, variables)
    grads = tape.backward(loss)
    return float(loss.value), {k: grads[v] for k, v in variables.items()}
