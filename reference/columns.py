"""The column-vector convention of seeds 000 and 004: z = Wx + b, ∂J/∂W = δxᵀ.

Here W is (n_out, n_in), x is (n_in,) or, for a batch, (n_in, B) with one datapoint per column.
Every array is the transpose of its row-convention twin (z = Wx + b ⇔ zᵀ = xᵀWᵀ + bᵀ), so this op
delegates to `reference.ops.linear` and transposes; a Jacobian transposes by reversing its output
axes and its input axes. The softmax family runs over the feature axis, the first here, by the same
transposes (`FeaturesFirst`). The elementwise ops, sqerr and mse do not depend on the convention and
are re-exported, so `reference.columns` is a complete namespace for a column-convention assignment.
"""

from __future__ import annotations

import numpy as np

from reference.checks import as_array
from reference.ops import Arrays, Loss, Op, linear as row_linear, mse, relu, sigmoid, sqerr, tanh
from reference.softmax import log_softmax as row_log_softmax, softmax as row_softmax
from reference.softmax import softmax_cross_entropy as row_ce, softmax_cross_entropy_onehot as row_ce_onehot
from reference.tape import Tape

__all__ = ["linear", "log_softmax", "mse", "relu", "sigmoid", "softmax", "softmax_cross_entropy", "softmax_cross_entropy_onehot", "sqerr",
           "tanh", "two_layer_loss_and_grads"]


class ColumnLinear(Op):
    """linear(x, W, b) = Wx + b."""

    name = "linear (columns)"

    def _transposed(self, x: object, W: object, b: object) -> Arrays:
        x, W, b = (as_array(self.name, n, v) for n, v in (("x", x), ("W", W), ("b", b)))
        if W.ndim != 2 or x.ndim not in (1, 2) or x.shape[0] != W.shape[-1] or b.shape != W.shape[:1]:
            raise ValueError(
                f"{self.name}: x has shape {x.shape}, W {W.shape}, b {b.shape}; need W (n_out, n_in), "
                "x (n_in,) or (n_in, B), b (n_out,)"
            )
        return x.T, W.T, b

    def forward(self, x: object, W: object, b: object) -> np.ndarray:
        return row_linear.forward(*self._transposed(x, W, b)).T

    def vjp(self, dL_dz: object, x: object, W: object, b: object) -> Arrays:
        """dL/dx = Wᵀδ, dL/dW = δxᵀ, dL/db = δ (summed over the batch's columns), with δ = dL/dz."""
        dL_dz = as_array(self.name, "dL_dz", dL_dz)
        return tuple(g.T for g in row_linear.vjp(dL_dz.T, *self._transposed(x, W, b)))

    def jacobian(self, x: object, W: object, b: object) -> Arrays:
        """∂z_j/∂x_α = W_jα, ∂z_j/∂W_βα = δ_jβ x_α, ∂z_j/∂b_α = δ_jα (with a δ over the batch)."""
        inputs = self._transposed(x, W, b)
        out_ndim = inputs[0].ndim
        return tuple(
            _reverse_axes(jac, out_ndim, arg.ndim) for jac, arg in zip(row_linear.jacobian(*inputs), inputs)
        )


def _reverse_axes(jac: np.ndarray, out_ndim: int, in_ndim: int) -> np.ndarray:
    """The Jacobian of transposed output w.r.t. transposed input: reverse each group of axes."""
    out_axes = list(range(out_ndim))[::-1]
    in_axes = list(range(out_ndim, out_ndim + in_ndim))[::-1]
    return jac.transpose(out_axes + in_axes)


class FeaturesFirst(Op):
    """A softmax-family op for the column convention: z is (k,) or (k, B), one datapoint per column,
    so the op runs on z's transpose (and t's; class labels y stay as they are)."""

    def __init__(self, row: Op, transposed: tuple[bool, ...]) -> None:
        self.row, self.transposed, self.name = row, transposed, f"{row.name} (columns)"

    def _rows(self, inputs: tuple[object, ...]) -> tuple[np.ndarray, ...]:
        return tuple(np.asarray(x).T if t else np.asarray(x) for x, t in zip(inputs, self.transposed))

    def forward(self, *inputs: object) -> np.ndarray:
        return self.row.forward(*self._rows(inputs)).T

    def vjp(self, grad_out: object, *inputs: object) -> Arrays:
        grads = self.row.vjp(np.asarray(grad_out).T, *self._rows(inputs))
        return tuple(g.T if t else g for g, t in zip(grads, self.transposed))

    def jacobian(self, *inputs: object) -> np.ndarray | Arrays:
        rows = self._rows(inputs)
        jacs = self.row.jacobian(*rows)
        out_ndim = np.ndim(self.row.forward(*rows))
        if isinstance(jacs, np.ndarray):
            return _reverse_axes(jacs, out_ndim, rows[0].ndim)
        return tuple(_reverse_axes(j, out_ndim, x.ndim) if t else j for j, x, t in zip(jacs, rows, self.transposed))


class FeaturesFirstLoss(FeaturesFirst, Loss):
    """A loss of the softmax family: its output is the loss, so `backward(z, y)` takes no upstream
    gradient (`Loss`'s); its Jacobian is `FeaturesFirst`'s, transposed back like every other's."""


linear = ColumnLinear()
softmax = FeaturesFirst(row_softmax, (True,))
log_softmax = FeaturesFirst(row_log_softmax, (True,))
softmax_cross_entropy = FeaturesFirstLoss(row_ce, (True, False))
softmax_cross_entropy_onehot = FeaturesFirstLoss(row_ce_onehot, (True, True))


def two_layer_loss_and_grads(x: object, y: object, params: dict[str, object]) -> tuple[float, dict[str, np.ndarray]]:
    """Seed 004's two-layer network, z1 = W1 x + b1, a = relu(z1), o = W2 a + b2, J = ½ Σ (y − o)²,
    recorded on a tape and walked back: δ2 = o − y, ∂J/∂W2 = δ2 aᵀ, δ1 = W2ᵀ δ2 ⊙ relu'(z1), ∂J/∂W1 = δ1 xᵀ."""
    names = ("W1", "b1", "W2", "b2")
    missing = [k for k in names if k not in params]
    if missing:
        raise ValueError(f"two-layer network: params is missing {', '.join(missing)} (needs {', '.join(names)})")
    tape = Tape()
    p = {k: tape.var(params[k]) for k in names}
    loss = sqerr(linear(relu(linear(x, p["W1"], p["b1"])), p["W2"], p["b2"]), y)
    grads = tape.backward(loss)
    return float(loss.value), {k: grads[v] for k, v in p.items()}
