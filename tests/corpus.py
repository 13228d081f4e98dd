"""A corpus of mistaken implementations, in the styles real courses use: cs231n-style layers with caches,
layer classes, loops, einsum, float32, the column convention. Each is a cell appended to an
assignment's solution notebook (a later `def` replaces the solution's), with the exercise it gets
wrong and the causes the feedback may name for it (the first is the one it must name; "" where no
hypothesis can tell it, which counts against the share of wrong answers given a cause).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Mistake:
    name: str
    exercise: str
    causes: tuple[str, ...]  # what may be named; the first must be
    cell: str
    assignment: str = "backprop"


CACHE = """
def affine_forward(x, w, b):
    out = x @ w + b
    return out, (x, w, b)

def affine_backward(dout, cache):
    x, w, b = cache
    BODY
    return dx, dw, db

def linear_backward(dL_da, h, W, b):
    _, cache = affine_forward(h, W, b)
    return affine_backward(dL_da, cache)
"""


def cache(body: str) -> str:
    return CACHE.replace("BODY", body.strip().replace("\n", "\n    "))


def rewrapped(body: str, columns: bool = False) -> str:
    """A linear_backward that gets the solution's three answers (dh or dx, dW, db) and returns what
    `body` makes of them: one mistake in one of them."""
    args, first = ("delta, x, W, b", "dx") if columns else ("dL_da, h, W, b", "dh")
    return f"_right = linear_backward\ndef linear_backward({args}):\n    {first}, dW, db = _right({args})\n{body}"


LAYERS = """
class Linear:
    def __init__(self, W, b):
        self.W, self.b = W, b
    def forward(self, h):
        self.h = h
        return h @ self.W + self.b
    def backward(self, g):
        BODY

class ReLU:
    def forward(self, a):
        self.a = a
        RELU_FORWARD
    def backward(self, g):
        RELU_BACKWARD

def linear_backward(dL_da, h, W, b):
    layer = Linear(W, b)
    layer.forward(h)
    return layer.backward(dL_da)
"""


def layers(linear: str = "", forward: str = "", backward: str = "") -> str:
    right = "dW = np.outer(self.h, g) if self.h.ndim == 1 else self.h.T @ g\nreturn g @ self.W.T, dW, g.copy() if g.ndim == 1 else g.sum(axis=0)"
    cell = LAYERS.replace("BODY", (linear or right).strip().replace("\n", "\n        "))
    cell = cell.replace("RELU_FORWARD", forward or "return np.maximum(a, 0)").replace("RELU_BACKWARD", backward or "return g * (self.a > 0)")
    if forward:
        cell += "\ndef relu_forward(a):\n    return ReLU().forward(a)\n"
    if backward:
        cell += "\ndef relu_backward(dL_dh, a):\n    layer = ReLU()\n    layer.forward(a)\n    return layer.backward(dL_dh)\n"
    return cell


MLP = """
def mlp_backward(x, y, params):
    W1, b1, W2, b2, W3, b3 = (params[k] for k in ("W1", "b1", "W2", "b2", "W3", "b3"))
    a1 = x @ W1 + b1; h1 = np.maximum(a1, 0)
    a2 = h1 @ W2 + b2; h2 = np.maximum(a2, 0)
    f = h2 @ W3 + b3
    g = LOSS
    grads = {"W3": np.outer(h2, g), "b3": g}
    g = (g @ W3.T) * (a2 > 0)
    grads |= {"W2": np.outer(h1, g), "b2": g}
    g = (g @ W2.T) * (a1 > 0)
    return grads | {"W1": np.outer(x, g), "b1": g}
"""

CORPUS = [
    # cs231n-style layers with caches
    Mistake("cache_dw_transposed", "linear_backward_W", ("transpose",),
            cache("dx = dout @ w.T\ndw = np.outer(dout, x) if x.ndim == 1 else dout.T @ x\ndb = dout.sum(axis=0) if dout.ndim == 2 else dout")),
    Mistake("cache_mlp_dw_transposed", "mlp_backward", ("transpose",),
            cache("dx = dout @ w.T\ndw = np.outer(dout, x) if x.ndim == 1 else dout.T @ x\ndb = dout.sum(axis=0) if dout.ndim == 2 else dout")),
    Mistake("cache_db_everything", "linear_backward_batched", ("summed_everything",),
            cache("dx = dout @ w.T\ndw = np.outer(x, dout) if x.ndim == 1 else x.T @ dout\ndb = np.sum(dout)")),
    Mistake("cache_db_wrong_axis", "linear_backward_batched", ("wrong_axis",),
            cache("dx = dout @ w.T\ndw = np.outer(x, dout) if x.ndim == 1 else x.T @ dout\ndb = dout.sum(axis=1) if dout.ndim == 2 else dout")),
    Mistake("cache_mean", "linear_backward_batched", ("mean_not_sum",),
            cache("N = x.shape[0] if x.ndim == 2 else 1\ndx = dout @ w.T\ndw = (np.outer(x, dout) if x.ndim == 1 else x.T @ dout) / N\n"
                  "db = dout.mean(axis=0) if dout.ndim == 2 else dout")),
    Mistake("cache_dx_no_transpose", "linear_backward_h", ("shape_mismatch",),
            cache("dx = dout @ w\ndw = np.outer(x, dout) if x.ndim == 1 else x.T @ dout\ndb = dout.sum(axis=0) if dout.ndim == 2 else dout")),
    # layer classes
    Mistake("class_db_not_summed", "linear_backward_batched", ("not_summed",),
            layers("dW = np.outer(self.h, g) if self.h.ndim == 1 else self.h.T @ g\nreturn g @ self.W.T, dW, g.copy()")),
    Mistake("class_relu_clips_low", "relu_forward", ("clipped",), layers(forward="return np.maximum(a, -1.0)")),
    Mistake("class_relu_clip_floor", "relu_forward", ("clipped",), layers(forward="return np.clip(a, -0.5, None)")),
    Mistake("class_relu_inverted", "relu_backward", ("threshold",), layers(backward="return g * (self.a < 0)")),
    Mistake("class_relu_mask_only", "relu_backward", ("mask_only",), layers(backward="return (self.a > 0).astype(float)")),
    Mistake("class_relu_cut_below", "relu_backward", ("threshold",), layers(backward="return np.where(self.a > -0.25, g, 0.0)")),
    Mistake("class_relu_identity", "relu_forward", ("returned_input",), layers(forward="return a.copy()")),
    Mistake("class_mse_forward_mean", "sqerr_forward", ("per_size",),
            "class MSE:\n    def forward(self, f, y):\n        return np.mean((f - y) ** 2) / 2\n"
            "def sqerr_forward(f, y):\n    return MSE().forward(f, y)"),
    Mistake("class_mse_backward_mean", "sqerr_backward", ("per_size",),
            "class MSE:\n    def backward(self, f, y):\n        d = 2 * (f - y) / f.size\n        return d, -d\n"
            "def sqerr_backward(f, y):\n    return MSE().backward(f, y)"),
    # plain functions
    Mistake("loss_without_half", "sqerr_forward", ("double",), "def sqerr_forward(f, y):\n    return np.sum((f - y) ** 2)"),
    Mistake("loss_dy_sign", "sqerr_backward", ("sign",), "def sqerr_backward(f, y):\n    return f - y, f - y"),
    Mistake("loss_df_double", "sqerr_backward", ("double",), "def sqerr_backward(f, y):\n    return 2 * (f - y), -2 * (f - y)"),
    Mistake("relu_returns_list", "relu_forward", ("returned_list",), "def relu_forward(a):\n    return [max(x, 0.0) for x in a]"),
    Mistake("relu_row_vector", "relu_forward", ("reshape",), "def relu_forward(a):\n    return np.maximum(a, 0)[None, :]"),
    Mistake("db_column_vector", "linear_backward_b", ("reshape",),
            rewrapped("    return dh, dW, db[:, None] if db.ndim == 1 else db")),
    Mistake("db_repeated", "linear_backward_batched", ("broadcast",),
            rewrapped("    return dh, dW, np.tile(db, (len(dL_da), 1)) if dL_da.ndim == 2 else db")),
    Mistake("relu_in_place", "relu_backward", ("in_place",), "def relu_backward(dL_dh, a):\n    dL_dh[a <= 0] = 0\n    return dL_dh"),
    Mistake("relu_cut_half", "relu_backward", ("threshold",), "def relu_backward(dL_dh, a):\n    return dL_dh * (a > 0.5)"),
    Mistake("relu_forward_cut", "relu_forward", ("",), "def relu_forward(a):\n    return np.where(a >= 0.3, a, 0.0)"),
    Mistake("relu_jacobian_cut", "relu_jacobian", ("",), "def relu_jacobian(a):\n    return np.diag((a > 0.2).astype(float))"),
    Mistake("linear_in_place", "linear_forward", ("in_place",), "def linear_forward(h, W, b):\n    out = h @ W\n    out += b\n    b[:] = 0\n    return out"),
    # loops
    Mistake("loop_no_bias", "linear_forward", ("left_out",),
            "def linear_forward(h, W, b):\n    out = np.zeros(h.shape[:-1] + (W.shape[1],))\n    for j in range(W.shape[1]):\n"
            "        for i in range(W.shape[0]):\n            out[..., j] += h[..., i] * W[i, j]\n    return out"),
    Mistake("loop_dw_indices", "linear_backward_W", ("transpose",),
            rewrapped("    dW = np.zeros((W.shape[1], W.shape[0]))\n    for j in range(W.shape[1]):\n        for i in range(W.shape[0]):\n"
            "            dW[j, i] = h[i] * dL_da[j] if h.ndim == 1 else h[:, i] @ dL_da[:, j]\n    return dh, dW, db")),
    Mistake("loop_relu_backward_inverted", "relu_backward", ("threshold",),
            "def relu_backward(dL_dh, a):\n    out = np.zeros_like(dL_dh)\n    for i in range(len(a)):\n        if a[i] < 0:\n            out[i] = dL_dh[i]\n    return out"),
    Mistake("loop_relu_jacobian_diagonal", "relu_jacobian", ("diagonal_only",),
            "def relu_jacobian(a):\n    J = np.zeros(len(a))\n    for i in range(len(a)):\n        J[i] = 1.0 if a[i] > 0 else 0.0\n    return J"),
    Mistake("loop_jacobian_h_is_W", "linear_jacobian_h", ("transpose",),
            "def linear_jacobian_h(h, W, b):\n    J = np.zeros(W.shape)\n    for i in range(W.shape[0]):\n        for j in range(W.shape[1]):\n"
            "            J[i, j] = W[i, j]\n    return J"),
    Mistake("loop_jacobian_b_ones", "linear_jacobian_b", ("diagonal_only",),
            "def linear_jacobian_b(h, W, b):\n    J = np.zeros(len(b))\n    for j in range(len(b)):\n        J[j] = 1.0\n    return J"),
    Mistake("loop_loss_no_half", "sqerr_forward", ("double",),
            "def sqerr_forward(f, y):\n    L = 0.0\n    for i in range(len(f)):\n        L += (f[i] - y[i]) ** 2\n    return L"),
    # einsum
    Mistake("einsum_jacobian_w_axes", "linear_jacobian_W", ("axes_order",),
            "def linear_jacobian_W(h, W, b):\n    return np.einsum('a,jb->abj', h, np.eye(W.shape[1]))"),
    Mistake("einsum_dw_transposed", "linear_backward_W", ("transpose",),
            rewrapped("    dW = np.einsum('i,j->ji', h, dL_da) if h.ndim == 1 else np.einsum('bi,bj->ji', h, dL_da)\n    return dh, dW, db")),
    Mistake("einsum_dw_mean", "linear_backward_batched", ("mean_not_sum",),
            rewrapped("    return dh, np.einsum('bi,bj->ij', h, dL_da) / len(h) if h.ndim == 2 else dW, db")),
    # numpy's array subclasses
    Mistake("matrix_forward", "linear_forward", ("matrix", "reshape"),
            "def linear_forward(h, W, b):\n    return np.matrix(h) @ np.matrix(W) + b"),
    Mistake("masked_relu", "relu_forward", ("masked", "returned_input"), "def relu_forward(a):\n    return np.ma.masked_less_equal(a, 0)"),
    # precision
    Mistake("float16_forward", "linear_forward", ("low_precision",),
            "def linear_forward(h, W, b):\n    return (h.astype(np.float16) @ W.astype(np.float16) + b.astype(np.float16))"),
    # networks
    Mistake("mlp_sign", "mlp_backward", ("sign",), MLP.replace("LOSS", "y - f")),
    Mistake("mlp_mean", "mlp_backward", ("per_size",), MLP.replace("LOSS", "(f - y) / len(y)")),
    Mistake("mlp_relu_ignored", "mlp_backward", ("inside_relu",),
            "def relu_backward(dL_dh, a):\n    return dL_dh.copy()"),
    # the column convention
    Mistake("columns_dw_transposed", "linear_backward_W", ("transpose",),
            rewrapped("    return dx, dW.T, db", columns=True),
            "backprop-columns"),
    Mistake("columns_db_rows", "linear_backward_batched", ("wrong_axis",),
            rewrapped("    return dx, dW, delta.sum(axis=0) if delta.ndim == 2 else db", columns=True), "backprop-columns"),
    Mistake("columns_db_not_summed", "linear_backward_batched", ("not_summed",),
            rewrapped("    return dx, dW, delta.copy() if delta.ndim == 2 else db", columns=True), "backprop-columns"),
    Mistake("columns_relu_inverted", "relu_backward", ("threshold",), "def relu_backward(dJ_da, z):\n    return dJ_da * (z < 0)",
            "backprop-columns"),
    Mistake("columns_dx_no_transpose", "linear_backward_x", ("shape_mismatch",),
            rewrapped("    return W @ delta, dW, db", columns=True),
            "backprop-columns"),
    Mistake("columns_net_sign", "net_backward", ("sign",),
            "def net_backward(x, y, params):\n    W1, b1, W2, b2 = params['W1'], params['b1'], params['W2'], params['b2']\n"
            "    z1 = W1 @ x + b1\n    a = np.maximum(z1, 0)\n    o = W2 @ a + b2\n    d2 = y - o\n    d1 = (W2.T @ d2) * (z1 > 0)\n"
            "    return {'W1': np.outer(d1, x), 'b1': d1, 'W2': np.outer(d2, a), 'b2': d2}", "backprop-columns"),
    Mistake("columns_forward_transposed", "linear_forward", ("shape_mismatch",),
            "def linear_forward(x, W, b):\n    return (W.T @ x.T).T + b if x.ndim == 2 else W.T @ x + b", "backprop-columns"),
    Mistake("columns_dw_mean", "linear_backward_batched", ("mean_not_sum",),
            rewrapped("    return dx, dW / x.shape[1] if x.ndim == 2 else dW, db", columns=True), "backprop-columns"),
]

# Right answers in other styles: float32 throughout, and layer classes. They must pass.
HONEST = [
    Mistake("float32_backward", "linear_backward_batched", (),
            "def linear_backward(dL_da, h, W, b):\n    g, h32, W32 = (v.astype(np.float32) for v in (dL_da, h, W))\n"
            "    return g @ W32.T, np.outer(h32, g) if h.ndim == 1 else h32.T @ g, g.copy() if g.ndim == 1 else g.sum(axis=0)"),
    Mistake("class_layers", "linear_backward_batched", (), layers(backward="return g * (self.a > 0)")),
    Mistake("columns_float32", "linear_backward_batched", (),
            "def linear_backward(delta, x, W, b):\n    d, x32, W32 = (v.astype(np.float32) for v in (delta, x, W))\n"
            "    return W32.T @ d, np.outer(d, x32) if x.ndim == 1 else d @ x32.T, d.copy() if d.ndim == 1 else d.sum(axis=1)",
            "backprop-columns"),
]
