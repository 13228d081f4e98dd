"""The reference engine against torch.autograd, where torch is installed (`pip install -e '.[torch]'`)."""

from __future__ import annotations

import numpy as np
import pytest

from reference import columns, linear, mlp, relu, sigmoid, sqerr
from test_reference import SHAPES, away_from_kink, linear_inputs, mlp_params

torch = pytest.importorskip("torch")
functional = pytest.importorskip("torch.autograd.functional")


def t(x: np.ndarray) -> "torch.Tensor":
    return torch.tensor(x, dtype=torch.float64)


@pytest.mark.parametrize("n_in, n_out, batch", SHAPES)
def test_linear_matches_torch(n_in, n_out, batch):
    inputs = linear_inputs(n_in, n_out, batch, seed=20)
    expected = functional.jacobian(lambda h, W, b: h @ W + b, tuple(t(x) for x in inputs))
    for ours, theirs in zip(linear.jacobian(*inputs), expected):
        np.testing.assert_allclose(ours, theirs.numpy(), rtol=1e-12, atol=1e-12)
    dL_da = np.random.default_rng(21).normal(size=linear.forward(*inputs).shape)
    _, vjps = functional.vjp(lambda h, W, b: h @ W + b, tuple(t(x) for x in inputs), t(dL_da))
    for ours, theirs in zip(linear.backward(dL_da, *inputs), vjps):
        np.testing.assert_allclose(ours, theirs.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("n_in, n_out, batch", SHAPES)
def test_column_linear_matches_torch(n_in, n_out, batch):
    h, W, b = linear_inputs(n_in, n_out, batch, seed=22)
    inputs = (h.T, W.T, b)
    fn = (lambda x, W, b: W @ x + b) if batch is None else (lambda x, W, b: W @ x + b[:, None])
    for ours, theirs in zip(columns.linear.jacobian(*inputs), functional.jacobian(fn, tuple(t(x) for x in inputs))):
        np.testing.assert_allclose(ours, theirs.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("op, fn", [(relu, torch.relu), (sigmoid, torch.sigmoid)])
def test_elementwise_matches_torch(op, fn):
    a = away_from_kink((2, 3), seed=23)
    np.testing.assert_allclose(op.forward(a), fn(t(a)).numpy(), rtol=1e-12)
    np.testing.assert_allclose(op.jacobian(a), functional.jacobian(fn, t(a)).numpy(), rtol=1e-12, atol=1e-15)


def test_sqerr_matches_torch():
    rng = np.random.default_rng(24)
    f, y = rng.normal(size=(3, 2)), rng.normal(size=(3, 2))
    theirs = functional.jacobian(lambda f, y: 0.5 * ((f - y) ** 2).sum(), (t(f), t(y)))
    for ours, th in zip(sqerr.backward(f, y), theirs):
        np.testing.assert_allclose(ours, th.numpy(), rtol=1e-12)


@pytest.mark.parametrize("sizes", [(1, 1, 1, 1), (3, 5, 2, 4), (7, 2, 6, 3)])
def test_mlp_matches_torch_autograd(sizes):
    params = mlp_params(sizes, seed=25)
    rng = np.random.default_rng(26)
    x, y = rng.normal(size=sizes[0]), rng.normal(size=sizes[-1])
    loss, grads = mlp.loss_and_grads(x, y, params)
    p = {k: t(v).requires_grad_() for k, v in params.items()}
    h1 = torch.relu(t(x) @ p["W1"] + p["b1"])
    h2 = torch.relu(h1 @ p["W2"] + p["b2"])
    torch_loss = 0.5 * ((h2 @ p["W3"] + p["b3"] - t(y)) ** 2).sum()
    torch_loss.backward()
    assert loss == pytest.approx(torch_loss.item(), rel=1e-12)
    for k in mlp.PARAMS:
        np.testing.assert_allclose(grads[k], p[k].grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("seed", range(8))
def test_softmax_family_matches_torch(seed):
    """On randomised shapes: k classes from 1 to 6, one datapoint or a batch of 1 to 5."""
    from reference import log_softmax, mse, softmax, softmax_cross_entropy, softmax_cross_entropy_onehot, tanh

    rng = np.random.default_rng(27 + seed)
    k, batch = int(rng.integers(1, 7)), [None, *range(1, 6)][int(rng.integers(0, 6))]
    z = rng.normal(size=(k,) if batch is None else (batch, k)) * 3
    y = rng.integers(0, k, size=() if batch is None else (batch,))
    onehot = np.eye(k)[y]
    np.testing.assert_allclose(softmax.jacobian(z), functional.jacobian(lambda x: torch.softmax(x, -1), t(z)).numpy(), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(log_softmax.jacobian(z), functional.jacobian(lambda x: torch.log_softmax(x, -1), t(z)).numpy(), rtol=1e-10, atol=1e-14)
    loss = lambda x: -(torch.log_softmax(x, -1) * t(onehot)).sum()  # noqa: E731
    np.testing.assert_allclose(softmax_cross_entropy.backward(z, y)[0], functional.jacobian(loss, t(z)).numpy(), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(softmax_cross_entropy_onehot.backward(z, onehot)[0], functional.jacobian(loss, t(z)).numpy(), rtol=1e-10, atol=1e-14)
    cols = columns.softmax.jacobian(z.T)
    np.testing.assert_allclose(cols, functional.jacobian(lambda x: torch.softmax(x, 0), t(z.T)).numpy(), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(tanh.jacobian(z), functional.jacobian(torch.tanh, t(z)).numpy(), rtol=1e-12, atol=1e-15)
    f = rng.normal(size=z.shape)
    for ours, theirs in zip(mse.backward(f, z), functional.jacobian(lambda a, b: ((a - b) ** 2).mean(), (t(f), t(z)))):
        np.testing.assert_allclose(ours, theirs.numpy(), rtol=1e-12)


@pytest.mark.parametrize("seed", range(4))
def test_classifier_matches_torch_autograd(seed):
    from reference import classifier

    rng = np.random.default_rng(40 + seed)
    n0, n1, k, batch = (int(v) for v in rng.integers(1, 6, size=4))
    params = {"W1": rng.normal(size=(n0, n1)), "b1": rng.normal(size=n1), "W2": rng.normal(size=(n1, k)), "b2": rng.normal(size=k)}
    x, y = rng.normal(size=(batch, n0)), rng.integers(0, k, size=batch)
    loss, grads = classifier.loss_and_grads(x, y, params)
    tensors = {name: t(value).requires_grad_() for name, value in params.items()}
    logits = torch.tanh(t(x) @ tensors["W1"] + tensors["b1"]) @ tensors["W2"] + tensors["b2"]
    theirs = -torch.log_softmax(logits, -1)[torch.arange(batch), torch.tensor(y)].sum()
    theirs.backward()
    assert loss == pytest.approx(theirs.item(), rel=1e-12)
    for name, tensor in tensors.items():
        np.testing.assert_allclose(grads[name], tensor.grad.numpy(), rtol=1e-10, atol=1e-12)
