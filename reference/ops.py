"""The operations of seed 001 (and tanh, mse), each with `forward`, `backward` and `jacobian` (Eq. 14, 26, 28, 29).

Row-vector convention, a = hW + b, with an optional leading batch axis (seed 003): h is (n_in,) or
(B, n_in). Gradients have the shape of what they are gradients of (dL/dh has h's shape); Jacobians
have the layout `output.shape + input.shape`. `backward` never builds a Jacobian (seed 001 §4.1:
O(D) work, not O(D²)); `jacobian` uses the closed forms of the lecture's answers.
"""

from __future__ import annotations

import numpy as np

from reference.checks import as_array, same_shape
from reference.tape import Var

Arrays = tuple[np.ndarray, ...]


class Op:
    """An operation of the compute graph. Subclasses give `forward`, `vjp` and `jacobian`."""

    name = "op"

    def __call__(self, *inputs: object) -> np.ndarray | Var:
        """Forward on plain arrays; on Vars, also record the call on their tape (seed 001 §4.2, step 1)."""
        tape = next((x.tape for x in inputs if isinstance(x, Var)), None)
        return self.forward(*inputs) if tape is None else tape.record(self, inputs)

    def forward(self, *inputs: object) -> np.ndarray:
        raise NotImplementedError

    def vjp(self, grad_out: object, *inputs: object) -> Arrays:
        """dL/d(each input) from dL/d(output): the uniform form the tape calls (Eq. 25)."""
        raise NotImplementedError

    def backward(self, grad_out: object, *inputs: object) -> np.ndarray | Arrays:
        """Eq. 26: dL/d inputs = func.backward(dL/d outputs; inputs); one array for a one-input op."""
        grads = self.vjp(grad_out, *inputs)
        return grads[0] if len(grads) == 1 else grads

    def jacobian(self, *inputs: object) -> np.ndarray | Arrays:
        raise NotImplementedError


class Linear(Op):
    """linear(h, W, b) = hW + b (Eq. 10a); for a batch, every row of h goes through the same W and b."""

    name = "linear"

    def _inputs(self, h: object, W: object, b: object) -> Arrays:
        h, W, b = (as_array(self.name, n, v) for n, v in (("h", h), ("W", W), ("b", b)))
        if W.ndim != 2:
            raise ValueError(f"linear: W must be a matrix (n_in, n_out), got shape {W.shape}")
        if h.ndim not in (1, 2) or h.shape[-1] != W.shape[0]:
            raise ValueError(
                f"linear: h has shape {h.shape} and W has shape {W.shape}; h must be (n_in,) or (B, n_in) "
                f"with n_in = {W.shape[0]}"
            )
        same_shape(self.name, "b", b, f"W of shape {W.shape}", (W.shape[1],))
        return h, W, b

    def forward(self, h: object, W: object, b: object) -> np.ndarray:
        h, W, b = self._inputs(h, W, b)
        return h @ W + b

    def vjp(self, dL_da: object, h: object, W: object, b: object) -> Arrays:
        """Answers 4-6: dL/dh = dL/da Wᵀ, dL/dW = hᵀ dL/da, dL/db = dL/da (summed over a batch, seed 003)."""
        h, W, b = self._inputs(h, W, b)
        dL_da = as_array(self.name, "dL_da", dL_da)
        same_shape(self.name, "dL_da", dL_da, f"a = hW + b for h {h.shape}, W {W.shape}", h.shape[:-1] + b.shape)
        rows_h, rows_g = np.atleast_2d(h), np.atleast_2d(dL_da)
        return dL_da @ W.T, rows_h.T @ rows_g, rows_g.sum(axis=0)

    def jacobian(self, h: object, W: object, b: object) -> Arrays:
        """Answers 1-3: ∂a_j/∂h_α = W_αj, ∂a_j/∂W_αβ = h_α δ_jβ, ∂a_j/∂b_α = δ_jα; with a batch axis the
        output row i depends only on input row i, which adds a δ over the batch."""
        h, W, b = self._inputs(h, W, b)
        eye = np.eye(W.shape[1])
        if h.ndim == 1:
            return W.T.copy(), np.einsum("a,jb->jab", h, eye), eye
        batch_eye = np.eye(h.shape[0])
        return (
            np.einsum("ic,aj->ijca", batch_eye, W),
            np.einsum("ia,jb->ijab", h, eye),
            np.broadcast_to(eye, (h.shape[0],) + eye.shape).copy(),
        )


class Elementwise(Op):
    """An op applied to each element on its own, so its Jacobian is diagonal (Eq. 20)."""

    def derivative(self, a: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def vjp(self, dL_dh: object, a: object) -> Arrays:
        """Eq. 23: dL/da_α = f'(a_α) dL/dh_α, O(D) work."""
        a = as_array(self.name, "a", a)
        dL_dh = as_array(self.name, "dL_dh", dL_dh)
        same_shape(self.name, "dL_dh", dL_dh, f"a of shape {a.shape}", a.shape)
        return (self.derivative(a) * dL_dh,)

    def jacobian(self, a: object) -> np.ndarray:
        """Eq. 20: ∂h_j/∂a_α = δ_jα f'(a_j), as an (a.shape + a.shape) array."""
        a = as_array(self.name, "a", a)
        return np.diag(self.derivative(a).ravel()).reshape(a.shape + a.shape)


class Relu(Elementwise):
    """relu(a) = max(a, 0) (Eq. 19), with derivative Θ(a), taken as 0 at the kink (Eq. 18)."""

    name = "relu"

    def forward(self, a: object) -> np.ndarray:
        return np.maximum(as_array(self.name, "a", a), 0.0)

    def derivative(self, a: np.ndarray) -> np.ndarray:
        return (a > 0).astype(np.float64)


class Sigmoid(Elementwise):
    """σ(a) = 1 / (1 + e^(−a)), with derivative σ(a)(1 − σ(a)) (seed 002)."""

    name = "sigmoid"

    def forward(self, a: object) -> np.ndarray:
        a = as_array(self.name, "a", a)
        return 0.5 * (1.0 + np.tanh(0.5 * a))  # = 1/(1+e^-a) without overflow warnings

    def derivative(self, a: np.ndarray) -> np.ndarray:
        s = self.forward(a)
        return s * (1.0 - s)


class Tanh(Elementwise):
    """tanh(a), with derivative 1 − tanh²(a)."""

    name = "tanh"

    def forward(self, a: object) -> np.ndarray:
        return np.tanh(as_array(self.name, "a", a))

    def derivative(self, a: np.ndarray) -> np.ndarray:
        return 1.0 - np.tanh(a) ** 2


class Loss(Op):
    """An op whose output is the loss: `backward(*inputs)` takes no upstream gradient, as dL/dL = 1
    (Eq. 29b), and a scalar output adds no axes, so its Jacobian is that backward's gradients."""

    def backward(self, *inputs: object) -> Arrays:  # type: ignore[override]
        return self.vjp(1.0, *inputs)

    def jacobian(self, *inputs: object) -> Arrays:
        return self.backward(*inputs)


class Sqerr(Loss):
    """sqerr(f, y) = ½ Σ (f − y)² (Eq. 10b), summed over every axis, so also over a batch:
    ∂L/∂f = f − y and ∂L/∂y = y − f."""

    name = "sqerr"

    def _inputs(self, f: object, y: object) -> Arrays:
        f, y = as_array(self.name, "f", f), as_array(self.name, "y", y)
        same_shape(self.name, "y", y, f"f of shape {f.shape}", f.shape)
        return f, y

    def forward(self, f: object, y: object) -> np.ndarray:
        f, y = self._inputs(f, y)
        return np.asarray(0.5 * np.sum((f - y) ** 2))

    def vjp(self, dL_dL: object, f: object, y: object) -> Arrays:
        f, y = self._inputs(f, y)
        grad = np.asarray(dL_dL, dtype=np.float64) * (f - y)
        return grad, -grad


class Mse(Sqerr):
    """mse(f, y) = mean (f − y)², over every entry: sqerr's sum, times 2/N for N entries, so
    ∂L/∂f = 2(f − y)/N and ∂L/∂y = −2(f − y)/N."""

    name = "mse"

    def forward(self, f: object, y: object) -> np.ndarray:
        f, y = self._inputs(f, y)
        return np.asarray(np.mean((f - y) ** 2))

    def vjp(self, dL_dL: object, f: object, y: object) -> Arrays:
        f, y = self._inputs(f, y)
        grad = np.asarray(dL_dL, dtype=np.float64) * 2.0 * (f - y) / max(f.size, 1)
        return grad, -grad


linear = Linear()
relu = Relu()
sigmoid = Sigmoid()
tanh = Tanh()
sqerr = Sqerr()
mse = Mse()
