"""The reference engine against finite differences, explicit Jacobians and the tape."""

from __future__ import annotations

import re

import numpy as np
import pytest

from numerics import contract, numerical_jacobian
from reference import Tape, columns, jacobian, linear, mlp, relu, sigmoid, sqerr

# (n_in, n_out, batch): size-1 dimensions, non-square W, single datapoints (None) and batches.
SHAPES = [(1, 1, None), (1, 4, None), (5, 1, None), (3, 2, None), (2, 7, None), (4, 3, 2), (1, 5, 3), (6, 1, 1), (3, 3, 4)]
TOL = dict(rtol=1e-6, atol=1e-7)


def linear_inputs(n_in: int, n_out: int, batch: int | None, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    lead = () if batch is None else (batch,)
    return [rng.normal(size=lead + (n_in,)), rng.normal(size=(n_in, n_out)), rng.normal(size=n_out)]


def away_from_kink(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    z = np.random.default_rng(seed).normal(size=shape)
    return np.sign(z) * (np.abs(z) + 0.1)


@pytest.mark.parametrize("n_in, n_out, batch", SHAPES)
def test_linear_backward_matches_jacobian_contraction_and_finite_differences(n_in, n_out, batch):
    inputs = linear_inputs(n_in, n_out, batch)
    out = linear.forward(*inputs)
    dL_da = np.random.default_rng(1).normal(size=out.shape)
    grads = linear.backward(dL_da, *inputs)
    jacs = linear.jacobian(*inputs)
    for i, (grad, jac, x) in enumerate(zip(grads, jacs, inputs)):
        assert grad.shape == x.shape
        np.testing.assert_allclose(grad, contract(dL_da, jac), **TOL)
        np.testing.assert_allclose(grad, contract(dL_da, numerical_jacobian(linear.forward, inputs, i)), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("n_in, n_out, batch", SHAPES)
def test_linear_closed_form_jacobians_match_the_tape_and_finite_differences(n_in, n_out, batch):
    inputs = linear_inputs(n_in, n_out, batch, seed=2)
    closed = linear.jacobian(*inputs)
    taped = jacobian(lambda h, W, b: linear(h, W, b), *inputs)
    for i, (c, t) in enumerate(zip(closed, taped)):
        assert c.shape == linear.forward(*inputs).shape + inputs[i].shape
        np.testing.assert_allclose(c, t, **TOL)
        np.testing.assert_allclose(c, numerical_jacobian(linear.forward, inputs, i), rtol=1e-5, atol=1e-6)


def test_linear_jacobians_are_the_lectures_answers():
    h, W, b = linear_inputs(3, 2, None, seed=3)
    da_dh, da_dW, da_db = linear.jacobian(h, W, b)
    np.testing.assert_array_equal(da_dh, W.T)  # Eq. 39: ∂a_j/∂h_α = W_αj
    for j in range(2):
        for a in range(3):
            for c in range(2):
                assert da_dW[j, a, c] == h[a] * (j == c)  # Eq. 43
    np.testing.assert_array_equal(da_db, np.eye(2))  # Eq. 46


def test_batched_bias_gradient_sums_over_the_batch():
    h, W, b = linear_inputs(3, 2, 5, seed=4)
    dL_da = np.random.default_rng(5).normal(size=(5, 2))
    _, dL_dW, dL_db = linear.backward(dL_da, h, W, b)
    np.testing.assert_allclose(dL_db, dL_da.sum(axis=0))  # seed 003: ∇b = 1ᵀG
    np.testing.assert_allclose(dL_dW, h.T @ dL_da)  # seed 003: ∇W = OᵀG


@pytest.mark.parametrize("op", [relu, sigmoid])
@pytest.mark.parametrize("shape", [(1,), (4,), (3, 2)])
def test_elementwise_ops(op, shape):
    a = away_from_kink(shape, seed=6)
    dL_dh = np.random.default_rng(7).normal(size=shape)
    grad = op.backward(dL_dh, a)
    jac = op.jacobian(a)
    assert jac.shape == shape + shape
    np.testing.assert_allclose(grad, contract(dL_dh, jac), **TOL)
    np.testing.assert_allclose(jac, numerical_jacobian(op.forward, [a], 0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(jac, jacobian(lambda x: op(x), a), **TOL)


def test_relu_passes_or_zeroes_the_gradient():
    a = np.array([-2.0, 0.5, -0.1, 3.0])
    np.testing.assert_array_equal(relu.backward(np.ones(4) * 7, a), [0, 7, 0, 7])  # Eq. 23
    np.testing.assert_array_equal(relu.jacobian(a), np.diag([0, 1, 0, 1]))  # Eq. 20


@pytest.mark.parametrize("shape", [(1,), (5,), (3, 4)])
def test_sqerr(shape):
    rng = np.random.default_rng(8)
    f, y = rng.normal(size=shape), rng.normal(size=shape)
    assert sqerr.forward(f, y) == pytest.approx(0.5 * np.sum((f - y) ** 2))
    dL_df, dL_dy = sqerr.backward(f, y)  # Eq. 29b with dL/dL = 1
    np.testing.assert_allclose(dL_df, f - y)
    np.testing.assert_allclose(dL_dy, y - f)
    for i, (closed, taped) in enumerate(zip(sqerr.jacobian(f, y), jacobian(lambda f, y: sqerr(f, y), f, y))):
        np.testing.assert_allclose(closed, taped, **TOL)
        np.testing.assert_allclose(closed, numerical_jacobian(sqerr.forward, [f, y], i), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("n_in, n_out, batch", SHAPES)
def test_column_convention_is_the_transpose_of_rows(n_in, n_out, batch):
    h, W, b = linear_inputs(n_in, n_out, batch, seed=9)
    x, Wc = h.T, W.T  # z = Wx + b with datapoints as columns
    np.testing.assert_allclose(columns.linear.forward(x, Wc, b), linear.forward(h, W, b).T)
    dL_dz = np.random.default_rng(10).normal(size=columns.linear.forward(x, Wc, b).shape)
    dL_dx, dL_dW, dL_db = columns.linear.backward(dL_dz, x, Wc, b)
    if batch is None:
        np.testing.assert_allclose(dL_dW, np.outer(dL_dz, x), **TOL)  # seed 004: ∂J/∂W = δxᵀ
    inputs = [x, Wc, b]
    for i, (grad, jac) in enumerate(zip((dL_dx, dL_dW, dL_db), columns.linear.jacobian(*inputs))):
        assert grad.shape == inputs[i].shape
        np.testing.assert_allclose(jac, numerical_jacobian(columns.linear.forward, inputs, i), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(grad, contract(dL_dz, jac), **TOL)
    for closed, taped in zip(columns.linear.jacobian(*inputs), jacobian(lambda *v: columns.linear(*v), *inputs)):
        np.testing.assert_allclose(closed, taped, **TOL)


def mlp_params(sizes: tuple[int, int, int, int], seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    params = {}
    for layer, (n_in, n_out) in enumerate(zip(sizes, sizes[1:]), start=1):
        params[f"W{layer}"] = rng.normal(size=(n_in, n_out))
        params[f"b{layer}"] = rng.normal(size=n_out)
    return params


@pytest.mark.parametrize("sizes", [(1, 1, 1, 1), (3, 5, 2, 4), (6, 1, 4, 2), (2, 8, 8, 1)])
def test_mlp_gradients_match_finite_differences(sizes):
    params = mlp_params(sizes, seed=sum(sizes))
    rng = np.random.default_rng(11)
    x, y = rng.normal(size=sizes[0]), rng.normal(size=sizes[-1])
    loss, grads = mlp.loss_and_grads(x, y, params)
    assert set(grads) == set(mlp.PARAMS)
    names = list(mlp.PARAMS)

    def loss_of(*values):
        return mlp.forward(x, y, dict(zip(names, values)))

    for i, name in enumerate(names):
        assert grads[name].shape == params[name].shape
        np.testing.assert_allclose(grads[name], numerical_jacobian(loss_of, [params[k] for k in names], i), rtol=1e-5, atol=1e-6)
    assert loss == pytest.approx(float(mlp.forward(x, y, params)))


def test_tape_walks_the_record_in_reverse_and_accumulates_shared_inputs():
    tape = Tape()
    a = tape.var([1.5, -2.0, 0.3])
    loss = sqerr(relu(a), np.zeros(3))
    assert [r.op.name for r in tape.records] == ["relu", "sqerr"]
    np.testing.assert_allclose(tape.backward(loss)[a], [1.5, 0.0, 0.3])
    # h reaches the loss by two paths, through linear and through relu: the tape adds both.
    rng = np.random.default_rng(12)
    h0, W, b = away_from_kink((3,), seed=13), rng.normal(size=(3, 3)), rng.normal(size=3)
    tape = Tape()
    h = tape.var(h0)
    grad = tape.backward(sqerr(linear(h, W, b), relu(h)))[h]
    expected = numerical_jacobian(lambda v: sqerr.forward(linear.forward(v, W, b), relu.forward(v)), [h0], 0)
    np.testing.assert_allclose(grad, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "call, words",
    [
        (lambda: linear.forward(np.ones(3), np.ones((4, 2)), np.ones(2)), ["h", "(3,)", "(4, 2)"]),
        (lambda: linear.forward(np.ones(3), np.ones((3, 2)), np.ones(3)), ["b", "(3,)", "(3, 2)"]),
        (lambda: linear.forward(np.ones(3), np.ones(3), np.ones(3)), ["W", "(3,)"]),
        (lambda: linear.backward(np.ones(3), np.ones(3), np.ones((3, 2)), np.ones(2)), ["dL_da", "(3,)", "(2,)"]),
        (lambda: relu.backward(np.ones(2), np.ones(3)), ["dL_dh", "(2,)", "(3,)"]),
        (lambda: sqerr.forward(np.ones(2), np.ones((2, 1))), ["y", "(2, 1)", "(2,)"]),
        (lambda: linear.forward(np.array(["a", "b"]), np.ones((2, 2)), np.ones(2)), ["h", "numeric"]),
        (lambda: relu.forward([[1, 2], [3]]), ["a", "numeric"]),
        (lambda: columns.linear.forward(np.ones(3), np.ones((3, 2)), np.ones(2)), ["x", "(3,)", "(3, 2)"]),
        (lambda: mlp.loss_and_grads(np.ones(2), np.ones(1), {"W1": np.ones((2, 1))}), ["b1", "W3"]),
    ],
)
def test_bad_input_names_the_argument_and_shapes(call, words):
    with pytest.raises(ValueError) as info:
        call()
    for word in words:
        assert word in str(info.value)


@pytest.mark.parametrize("sizes", [(1, 1, 1), (3, 5, 2), (6, 2, 1)])
def test_column_two_layer_network_matches_finite_differences(sizes):
    n0, n1, n2 = sizes
    rng = np.random.default_rng(sum(sizes))
    params = {"W1": rng.normal(size=(n1, n0)), "b1": rng.normal(size=n1), "W2": rng.normal(size=(n2, n1)), "b2": rng.normal(size=n2)}
    x, y = rng.normal(size=n0), rng.normal(size=n2)
    loss, grads = columns.two_layer_loss_and_grads(x, y, params)
    names = list(params)

    def loss_of(*values):
        p = dict(zip(names, values))
        o = p["W2"] @ np.maximum(p["W1"] @ x + p["b1"], 0) + p["b2"]
        return 0.5 * np.sum((y - o) ** 2)

    assert loss == pytest.approx(loss_of(*params.values()))
    for i, name in enumerate(names):
        np.testing.assert_allclose(grads[name], numerical_jacobian(loss_of, list(params.values()), i), rtol=1e-5, atol=1e-6)
    delta2 = (params["W2"] @ np.maximum(params["W1"] @ x + params["b1"], 0) + params["b2"]) - y
    np.testing.assert_allclose(grads["W2"], np.outer(delta2, np.maximum(params["W1"] @ x + params["b1"], 0)))  # δ aᵀ


# The softmax family and the new elementwise op and loss: forward, VJP and closed-form Jacobian
# against each other, finite differences and the tape, one datapoint and batches, both conventions.
from reference import log_softmax, mse, softmax, softmax_cross_entropy, softmax_cross_entropy_onehot, tanh  # noqa: E402

CLASSES = [(1, None), (4, None), (3, 1), (2, 5), (5, 3)]  # (k, batch)


@pytest.mark.parametrize("op", [softmax, log_softmax, columns.softmax, columns.log_softmax])
@pytest.mark.parametrize("k, batch", CLASSES)
def test_softmax_and_log_softmax(op, k, batch):
    rows = op in (softmax, log_softmax)
    shape = ((batch, k) if rows else (k, batch)) if batch else (k,)
    z = np.random.default_rng(k).normal(size=shape) * 3
    g = np.random.default_rng(9).normal(size=shape)
    jac = op.jacobian(z)
    assert jac.shape == shape + shape
    np.testing.assert_allclose(op.backward(g, z), contract(g, jac), **TOL)
    np.testing.assert_allclose(jac, numerical_jacobian(op.forward, [z], 0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(jac, jacobian(lambda x: op(x), z), **TOL)
    if op in (softmax, columns.softmax):
        np.testing.assert_allclose(op.forward(z).sum(axis=-1 if rows else 0), 1.0)


@pytest.mark.parametrize("rows", [True, False])
@pytest.mark.parametrize("k, batch", CLASSES)
def test_softmax_cross_entropy_with_labels_and_with_one_hot_targets(rows, k, batch):
    rng = np.random.default_rng(k + 10)
    y = rng.integers(0, k, size=() if batch is None else (batch,))
    z = rng.normal(size=(k,) if batch is None else (batch, k))
    t = np.eye(k)[y]
    ce, onehot = (softmax_cross_entropy, softmax_cross_entropy_onehot) if rows else (columns.softmax_cross_entropy, columns.softmax_cross_entropy_onehot)
    if not rows:
        z, t = z.T, t.T
    loss = ce.forward(z, y)
    np.testing.assert_allclose(loss, onehot.forward(z, t))
    np.testing.assert_allclose(loss, -np.sum(np.log(softmax.forward(z if rows else z.T))[..., :] * (t if rows else t.T)), rtol=1e-12)
    dL_dz, dL_dy = ce.backward(z, y)
    np.testing.assert_allclose(dL_dz, (softmax.forward(z) - t) if rows else (softmax.forward(z.T) - t.T).T, **TOL)  # the one-hot subtraction
    np.testing.assert_allclose(dL_dz, numerical_jacobian(lambda zz: ce.forward(zz, y), [z], 0), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(dL_dy, np.zeros(np.shape(y)))
    np.testing.assert_allclose(ce.jacobian(z, y)[0], dL_dz, **TOL)
    grads = onehot.backward(z, t)
    for i in (0, 1):
        np.testing.assert_allclose(grads[i], numerical_jacobian(onehot.forward, [z, t], i), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(grads[0], dL_dz, **TOL)


@pytest.mark.parametrize("shape", [(1,), (4,), (3, 2)])
def test_tanh_and_mse(shape):
    a = np.random.default_rng(11).normal(size=shape)
    g = np.random.default_rng(12).normal(size=shape)
    np.testing.assert_allclose(tanh.backward(g, a), contract(g, tanh.jacobian(a)), **TOL)
    np.testing.assert_allclose(tanh.jacobian(a), numerical_jacobian(tanh.forward, [a], 0), rtol=1e-5, atol=1e-6)
    f, y = a, np.random.default_rng(13).normal(size=shape)
    np.testing.assert_allclose(mse.forward(f, y), np.mean((f - y) ** 2))
    for i, grad in enumerate(mse.backward(f, y)):
        np.testing.assert_allclose(grad, numerical_jacobian(mse.forward, [f, y], i), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(grad, mse.jacobian(f, y)[i], **TOL)
    assert columns.tanh is tanh and columns.mse is mse  # no convention of their own


@pytest.mark.parametrize("call, words", [
    (lambda: softmax_cross_entropy.forward(np.zeros((2, 3)), np.array([0, 3])), "classes 0 … 2"),
    (lambda: softmax_cross_entropy.forward(np.zeros((2, 3)), np.array([0])), "y must be (2,) class label(s)"),
    (lambda: softmax_cross_entropy_onehot.forward(np.zeros((2, 3)), np.zeros((3, 2))), "t has shape (3, 2) but z of shape (2, 3) needs (2, 3)"),
    (lambda: softmax.forward(np.zeros((2, 3, 4))), "z must be (k,) or (B, k)"),
])
def test_bad_softmax_input_names_the_argument(call, words):
    with pytest.raises(ValueError, match=re.escape(words)):
        call()


@pytest.mark.parametrize("sizes, batch", [((3, 4, 2), None), ((1, 1, 1), 1), ((5, 3, 4), 6)])
def test_classifier_gradients_match_finite_differences(sizes, batch):
    from reference import classifier

    rng = np.random.default_rng(14)
    n0, n1, k = sizes
    params = {"W1": rng.normal(size=(n0, n1)), "b1": rng.normal(size=n1), "W2": rng.normal(size=(n1, k)), "b2": rng.normal(size=k)}
    x = rng.normal(size=(n0,) if batch is None else (batch, n0))
    y = rng.integers(0, k, size=() if batch is None else (batch,))
    loss, grads = classifier.loss_and_grads(x, y, params)
    names = list(params)
    for i, name in enumerate(names):
        def f(*values: np.ndarray) -> np.ndarray:
            return np.asarray(classifier.loss_and_grads(x, y, dict(zip(names, values)))[0])
        np.testing.assert_allclose(grads[name], numerical_jacobian(f, [params[n] for n in names], i), rtol=1e-5, atol=1e-6)
