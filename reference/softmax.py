"""Softmax and the losses of classification: softmax, log-softmax, and softmax cross-entropy with
class labels and with one-hot targets, each over the last axis (a row per datapoint of a batch),
with `forward`, `vjp` and the closed-form `jacobian`, as the ops of seed 001.

With s = softmax(z): ∂s_j/∂z_k = s_j(δ_jk − s_k), so the VJP is s ⊙ (g − Σ_j g_j s_j), O(D) work;
log-softmax's Jacobian is δ_jk − s_k; the cross-entropy L = −Σ log s_y has ∂L/∂z = s − onehot(y)
(the one-hot subtraction), summed over a batch like sqerr. Row convention; `reference.columns`
transposes them for a batch with one datapoint per column.
"""

from __future__ import annotations

import numpy as np

from reference.checks import as_array, same_shape
from reference.ops import Arrays, Loss, Op


def _logits(op: str, z: object) -> np.ndarray:
    z = as_array(op, "z", z)
    if z.ndim not in (1, 2) or z.shape[-1] < 1:
        raise ValueError(f"{op}: z must be (k,) or (B, k) with k classes, got shape {z.shape}")
    return z


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))  # shifted: no overflow, same value
    return e / e.sum(axis=-1, keepdims=True)


def _log_softmax(z: np.ndarray) -> np.ndarray:
    shifted = z - z.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def _rows(block: np.ndarray, batch: int | None) -> np.ndarray:
    """A Jacobian whose output row i depends only on input row i: for a batch, `block[i]` (k, k) on
    the diagonal of a (B, k, B, k) array; for one datapoint, `block` itself."""
    if batch is None:
        return block
    out = np.zeros((batch, block.shape[-2], batch, block.shape[-1]))
    for i in range(batch):
        out[i, :, i, :] = block[i]
    return out


class Softmax(Op):
    name = "softmax"

    def forward(self, z: object) -> np.ndarray:
        return _softmax(_logits(self.name, z))

    def vjp(self, dL_ds: object, z: object) -> Arrays:
        s = self.forward(z)
        g = as_array(self.name, "dL_ds", dL_ds)
        same_shape(self.name, "dL_ds", g, f"z of shape {s.shape}", s.shape)
        return (s * (g - (g * s).sum(axis=-1, keepdims=True)),)

    def jacobian(self, z: object) -> np.ndarray:
        s = self.forward(z)
        block = s[..., :, None] * np.eye(s.shape[-1]) - s[..., :, None] * s[..., None, :]
        return _rows(block, s.shape[0] if s.ndim == 2 else None)


class LogSoftmax(Op):
    name = "log_softmax"

    def forward(self, z: object) -> np.ndarray:
        return _log_softmax(_logits(self.name, z))

    def vjp(self, dL_dl: object, z: object) -> Arrays:
        z = _logits(self.name, z)
        g = as_array(self.name, "dL_dl", dL_dl)
        same_shape(self.name, "dL_dl", g, f"z of shape {z.shape}", z.shape)
        return (g - _softmax(z) * g.sum(axis=-1, keepdims=True),)

    def jacobian(self, z: object) -> np.ndarray:
        s = _softmax(_logits(self.name, z))
        block = np.eye(s.shape[-1]) - s[..., None, :]
        return _rows(block, s.shape[0] if s.ndim == 2 else None)


class SoftmaxCrossEntropy(Loss):
    """L = −Σ log softmax(z)[y], over a batch's rows, with y the class labels (integers 0 … k−1):
    ∂L/∂z = softmax(z) − onehot(y); labels have no gradient (zeros)."""

    name = "softmax_cross_entropy"

    def _inputs(self, z: object, y: object) -> tuple[np.ndarray, np.ndarray]:
        z = _logits(self.name, z)
        labels = np.asarray(y)
        if labels.shape != z.shape[:-1] or labels.dtype.kind not in "iu" and not np.all(np.mod(labels, 1) == 0):
            raise ValueError(f"{self.name}: y must be {z.shape[:-1] or 'one'} class label(s) for z of shape {z.shape}, got {labels!r}")
        labels = labels.astype(np.int64)
        if labels.size and (labels.min() < 0 or labels.max() >= z.shape[-1]):
            raise ValueError(f"{self.name}: y's labels must be classes 0 … {z.shape[-1] - 1} of z's {z.shape[-1]}")
        return z, labels

    def onehot(self, z: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.eye(z.shape[-1])[y]

    def forward(self, z: object, y: object) -> np.ndarray:
        z, y = self._inputs(z, y)
        return np.asarray(-np.sum(_log_softmax(z) * self.onehot(z, y)))

    def vjp(self, dL_dL: object, z: object, y: object) -> Arrays:
        z, y = self._inputs(z, y)
        return np.asarray(dL_dL, dtype=np.float64) * (_softmax(z) - self.onehot(z, y)), np.zeros(y.shape)


class SoftmaxCrossEntropyOneHot(Loss):
    """L = −Σ t ⊙ log softmax(z), over a batch's rows, with t one-hot targets (or any distribution):
    ∂L/∂z = softmax(z) Σt − t (softmax(z) − t for one-hot rows), ∂L/∂t = −log softmax(z)."""

    name = "softmax_cross_entropy_onehot"

    def _inputs(self, z: object, t: object) -> tuple[np.ndarray, np.ndarray]:
        z, t = _logits(self.name, z), as_array(self.name, "t", t)
        same_shape(self.name, "t", t, f"z of shape {z.shape}", z.shape)
        return z, t

    def forward(self, z: object, t: object) -> np.ndarray:
        z, t = self._inputs(z, t)
        return np.asarray(-np.sum(t * _log_softmax(z)))

    def vjp(self, dL_dL: object, z: object, t: object) -> Arrays:
        z, t = self._inputs(z, t)
        g = np.asarray(dL_dL, dtype=np.float64)
        return g * (_softmax(z) * t.sum(axis=-1, keepdims=True) - t), g * -_log_softmax(z)


softmax = Softmax()
log_softmax = LogSoftmax()
softmax_cross_entropy = SoftmaxCrossEntropy()
softmax_cross_entropy_onehot = SoftmaxCrossEntropyOneHot()
