"""A 2-layer classifier on a batch (seed 002's setting): z1 = x W1 + b1, h = tanh(z1),
z2 = h W2 + b2, L = softmax cross-entropy of z2 with the class labels y, summed over the batch;
its backward pass run on the tape."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from reference.ops import linear, tanh
from reference.softmax import softmax_cross_entropy
from reference.tape import Tape, Var

PARAMS = ("W1", "b1", "W2", "b2")


def forward(x: object, y: object, params: Mapping[str, object]) -> Var | np.ndarray:
    missing = [k for k in PARAMS if k not in params]
    if missing:
        raise ValueError(f"classifier: params is missing {', '.join(missing)} (needs {', '.join(PARAMS)})")
    return softmax_cross_entropy(linear(tanh(linear(x, params["W1"], params["b1"])), params["W2"], params["b2"]), y)


def loss_and_grads(x: object, y: object, params: Mapping[str, object]) -> tuple[float, dict[str, np.ndarray]]:
    """The loss and dL/d(each parameter): δ2 = softmax(z2) − onehot(y), ∂L/∂W2 = hᵀδ2, δ1 = δ2 W2ᵀ ⊙ (1 − h²), ∂L/∂W1 = xᵀδ1."""
    tape = Tape()
    variables = {k: tape.var(v) for k, v in params.items() if k in PARAMS}
    loss = forward(x, y, variables)
    grads = tape.backward(loss)
    return float(loss.value), {k: grads[v] for k, v in variables.items()}
