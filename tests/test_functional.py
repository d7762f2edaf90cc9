"""nnx.functional: finite-difference gradient checks (float64, both backends, hypothesis shapes),
numerical stability, padding rules, bad input, and that no op mutates its inputs."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import nnx
import nnx.functional as F
import nnx.reference
from nnx.testing import arrays, conv_configs, pool_configs

BACKENDS = ["native", "reference"]


def leaf(shape, seed=0, dtype=np.float64, scale=1.0):
    data = np.random.default_rng(seed).standard_normal(shape) * scale
    return nnx.Tensor(data.astype(dtype), requires_grad=True)


shapes_2d = st.tuples(st.integers(1, 4), st.integers(1, 5))


def test_fused_relu_matches_separate_ops():
    x, w, b = leaf((2, 5, 5, 3), 0), leaf((3, 3, 3, 4), 1), leaf((4,), 2)
    fused = F.conv2d(x, w, b, padding="same", activation="relu")
    separate = F.relu(F.conv2d(x, w, b, padding="same"))
    np.testing.assert_array_equal(fused.data, separate.data)
    grads = []
    for y in (fused, separate):
        (y * np.arange(y.size).reshape(y.shape)).sum().backward()
        grads.append([t.grad.copy() for t in (x, w, b)])
        for t in (x, w, b):
            t.grad = None
    for g_fused, g_separate in zip(*grads):
        np.testing.assert_allclose(g_fused, g_separate, rtol=1e-12)
    with pytest.raises(ValueError, match="dense: the fused activation"):
        F.dense(np.ones((2, 2)), np.ones((2, 2)), activation="tanh")
    with pytest.raises(ValueError, match="conv2d: the fused activation"):
        F.conv2d(x, w, activation="softmax")


# --- gradient checks ----------------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=10)
@given(batch=st.tuples(st.integers(0, 2), st.integers(1, 3)), n_in=st.integers(1, 5),
       n_out=st.integers(1, 4), use_bias=st.booleans(), activation=st.sampled_from([None, "relu"]),
       seed=st.integers(0, 1000))
def test_dense_gradcheck(backend, batch, n_in, n_out, use_bias, activation, seed):
    lead = batch[1:] if batch[0] == 0 else batch  # rank 2 or 3 inputs
    x, w, b = leaf(lead + (n_in,), seed), leaf((n_in, n_out), seed + 1), leaf((n_out,), seed + 2)
    with nnx.use_backend(backend):
        y = F.dense(x, w, b if use_bias else None, activation=activation)
        expected = x.data @ w.data + (b.data if use_bias else 0)
        if activation == "relu":
            expected = np.maximum(expected, 0)
        np.testing.assert_allclose(y.data, expected, rtol=1e-10, atol=1e-12)
        assert nnx.gradcheck(lambda *t: F.dense(*t, activation=activation),
                             [x, w, b] if use_bias else [x, w])


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=15)
@given(config=conv_configs(max_batch=2, max_side=4, max_channels=3, max_kernel=3), bias=st.booleans(),
       activation=st.sampled_from([None, "relu"]), seed=st.integers(0, 1000))
def test_conv2d_gradcheck(backend, config, bias, activation, seed):
    x, kernel = nnx.Tensor(config["x"], requires_grad=True), nnx.Tensor(config["kernel"], requires_grad=True)
    b = leaf((kernel.shape[3],), seed)
    args = dict(strides=config["strides"], padding=config["padding"],
                dilation_rate=config["dilation"], groups=config["groups"], activation=activation)
    with nnx.use_backend(backend):
        y = F.conv2d(x, kernel, b, **args)
        expected = nnx.reference.conv2d_forward(config["x"], config["kernel"], config["strides"],
                                                config["padding"], config["dilation"], config["groups"])
        expected = expected + b.data
        np.testing.assert_allclose(y.data, np.maximum(expected, 0) if activation else expected,
                                   rtol=1e-10, atol=1e-12)
        inputs = [x, kernel, b] if bias else [x, kernel]
        assert nnx.gradcheck(lambda *t: F.conv2d(*t, **args), inputs)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("pool", ["max_pool2d", "avg_pool2d"])
@settings(max_examples=15)
@given(config=pool_configs(max_side=6))
def test_pooling_gradcheck(backend, pool, config):
    x = nnx.Tensor(config["x"], requires_grad=True)
    fn = getattr(F, pool)
    with nnx.use_backend(backend):
        assert nnx.gradcheck(lambda t: fn(t, config["pool_size"], config["strides"], config["padding"]), [x])


@settings(max_examples=10)
@given(shape=st.tuples(st.integers(1, 3), st.integers(1, 4), st.integers(1, 4)),
       axis=st.integers(-3, 2), seed=st.integers(0, 1000))
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@pytest.mark.filterwarnings("ignore:softmax over axis")   # size-1 axes are among the shapes on purpose
def test_softmax_gradcheck(name, shape, axis, seed):
    x = leaf(shape, seed, scale=3.0)
    y = getattr(F, name)(x, axis=axis)
    e = np.exp(x.data - x.data.max(axis=axis, keepdims=True))
    reference = e / e.sum(axis=axis, keepdims=True)
    np.testing.assert_allclose(y.data, reference if name == "softmax" else np.log(reference),
                               rtol=1e-10, atol=1e-12)
    assert nnx.gradcheck(lambda t: getattr(F, name)(t, axis=axis), [x])


@settings(max_examples=10)
@given(shape=st.tuples(st.integers(1, 4), st.integers(1, 4)), seed=st.integers(0, 1000))
@pytest.mark.parametrize("name", ["relu", "sigmoid", "tanh", "exp", "log", "sqrt", "abs", "square"])
def test_elementwise_gradcheck(name, shape, seed):
    x = leaf(shape, seed, scale=2.0)
    if name in ("log", "sqrt"):
        x.data[...] = np.abs(x.data) + 0.1
    if name in ("relu", "abs"):
        x.data[np.abs(x.data) < 1e-3] = 0.25  # stay off the kink
    assert nnx.gradcheck(getattr(F, name), [x])


@settings(max_examples=10)
@given(n=st.integers(1, 4), k=st.integers(1, 5), seed=st.integers(0, 1000))
def test_cross_entropy_gradchecks(n, k, seed):
    logits = leaf((n, k), seed, scale=3.0)
    labels = np.random.default_rng(seed).integers(0, k, n)
    probs = np.random.default_rng(seed + 1).dirichlet(np.ones(k), n)
    targets = nnx.Tensor(probs, requires_grad=True)
    binary = nnx.Tensor(np.random.default_rng(seed + 2).uniform(size=(n, k)), requires_grad=True)
    assert nnx.gradcheck(lambda z: F.sparse_softmax_cross_entropy(z, labels), [logits])
    assert nnx.gradcheck(F.softmax_cross_entropy, [logits, targets])
    assert nnx.gradcheck(F.binary_cross_entropy_with_logits, [logits, binary])


def test_cross_entropy_values_match_the_definitions():
    z = np.array([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]])
    labels = np.array([1, 2])
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    np.testing.assert_allclose(F.sparse_softmax_cross_entropy(z, labels).data, -log_p[[0, 1], labels])
    t = np.array([[0.2, 0.3, 0.5], [1.0, 0.0, 0.0]])
    np.testing.assert_allclose(F.softmax_cross_entropy(z, t).data, -(t * log_p).sum(axis=1))
    s = 1 / (1 + np.exp(-z))
    np.testing.assert_allclose(F.binary_cross_entropy_with_logits(z, t).data,
                               -(t * np.log(s) + (1 - t) * np.log(1 - s)).mean(axis=1))


def test_sparse_cross_entropy_accepts_column_labels_tensor_labels_and_extra_dims():
    z = leaf((2, 3, 4), 0)
    labels = np.array([[0, 1, 3], [2, 2, 0]])
    loss = F.sparse_softmax_cross_entropy(z, labels)
    assert loss.shape == (2, 3)
    np.testing.assert_allclose(F.sparse_softmax_cross_entropy(z[0], labels[0][:, None]).data, loss.data[0])
    np.testing.assert_allclose(F.sparse_softmax_cross_entropy(z[0], nnx.Tensor(labels[0])).data, loss.data[0])
    assert nnx.gradcheck(lambda t: F.sparse_softmax_cross_entropy(t, labels), [z])


@pytest.mark.parametrize("shape", [(5, 4), (2, 3, 4)])
def test_softmax_losses_hand_back_exactly_the_softmax_and_the_same_losses(shape):
    """Training's metrics read the probabilities from the loss: they must be F.softmax's, bit for
    bit, and asking for them must not change the loss or its gradient."""
    z = leaf(shape, 3, dtype=np.float32, scale=4.0)
    labels = np.random.default_rng(3).integers(0, shape[-1], shape[:-1])
    targets = np.random.default_rng(4).dirichlet(np.ones(shape[-1]), shape[:-1]).astype(np.float32)
    want_p = F.softmax(nnx.Tensor(z.data)).data
    for loss_fn, y in ((F.sparse_softmax_cross_entropy, labels), (F.softmax_cross_entropy, targets)):
        plain = loss_fn(z, y)
        plain.sum().backward()
        want_grad, z.grad = z.grad, None
        loss, p = loss_fn(z, y, return_probabilities=True)
        assert isinstance(p, np.ndarray) and p.shape == shape
        np.testing.assert_array_equal(p, want_p)
        np.testing.assert_array_equal(loss.data, plain.data)
        loss.sum().backward()
        np.testing.assert_array_equal(z.grad, want_grad)
        z.grad = None


@settings(max_examples=5)
@given(shape=st.tuples(st.integers(1, 4), st.integers(1, 4)), rate=st.floats(0.1, 0.8))
def test_dropout_gradcheck_with_a_fixed_mask(shape, rate):
    x = leaf(shape)

    def fn(t):
        nnx.manual_seed(3)
        return F.dropout(t, rate, training=True)
    assert nnx.gradcheck(fn, [x])


# --- stability at +-1e4 -------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_family_is_stable_at_large_logits(dtype):
    z = nnx.Tensor(np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4], [1e4, 1e4, -1e4]], dtype),
                   requires_grad=True)
    np.testing.assert_allclose(F.softmax(z).data, [[1, 0, 0], [1 / 3] * 3, [0.5, 0.5, 0]], atol=1e-7)
    np.testing.assert_allclose(F.log_softmax(z).data,
                               [[0, -2e4, -1e4], [-np.log(3)] * 3, [-np.log(2), -np.log(2), -2e4 - np.log(2)]],
                               rtol=1e-6)
    loss = F.sparse_softmax_cross_entropy(z, np.array([1, 0, 0]))
    np.testing.assert_allclose(loss.data, [2e4, np.log(3), np.log(2)], rtol=1e-6)
    loss.sum().backward()
    assert np.all(np.isfinite(z.grad))
    np.testing.assert_allclose(z.grad, [[1, -1, 0], [-2 / 3, 1 / 3, 1 / 3], [-0.5, 0.5, 0]], atol=1e-6)
    t = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]], dtype)
    np.testing.assert_allclose(F.softmax_cross_entropy(z, t).data, [2e4, np.log(3), 2e4 + np.log(2)],
                               rtol=1e-6)
    bce = F.binary_cross_entropy_with_logits(z, t)
    np.testing.assert_allclose(bce.data, [(2e4 + np.log(2)) / 3, 1e4 / 3, 1e4], rtol=1e-6)
    s = F.sigmoid(z)
    assert np.all(np.isfinite(s.data)) and s.data.min() == 0 and s.data.max() == 1
    for y in (F.softmax(z), F.log_softmax(z), F.sigmoid(z), F.tanh(z)):
        assert y.dtype == dtype


# --- padding rules (the rules themselves: tests/test_geometry.py) ---------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
def test_same_padding_shapes_through_the_ops(backend):
    x = leaf((2, 7, 6, 3))
    with nnx.use_backend(backend):
        assert F.max_pool2d(x, 2, padding="same").shape == (2, 4, 3, 3)
        assert F.avg_pool2d(x, (3, 2), strides=(2, 1), padding="same").shape == (2, 4, 6, 3)
        y = F.conv2d(x, leaf((3, 3, 3, 5)), strides=2, padding="same")
        assert y.shape == (2, 4, 3, 5)


# --- bad input ----------------------------------------------------------------------------------
def test_conv2d_bad_input_messages():
    x, k = nnx.Tensor(np.ones((1, 5, 5, 3))), nnx.Tensor(np.ones((3, 3, 3, 4)))
    with pytest.raises(ValueError, match=r"conv2d.*rank 4.*\(5, 5\)"):
        F.conv2d(np.ones((5, 5)), k)
    with pytest.raises(ValueError, match=r"conv2d.*\(1, 5, 5, 2\).*\(3, 3, 3, 4\)"):
        F.conv2d(np.ones((1, 5, 5, 2)), k)
    for bad in (0, -1, (1, 0), (1, 2, 3), 1.5, "2"):
        with pytest.raises(ValueError, match="conv2d.*stride"):
            F.conv2d(x, k, strides=bad)
    with pytest.raises(ValueError, match="conv2d.*dilation"):
        F.conv2d(x, k, dilation_rate=0)
    with pytest.raises(ValueError, match="conv2d.*padding"):
        F.conv2d(x, k, padding="full")
    with pytest.raises(ValueError, match=r"conv2d.*bias.*\(5,\)"):
        F.conv2d(x, k, bias=np.ones(5))
    with pytest.raises(ValueError, match="conv2d.*groups"):
        F.conv2d(x, k, groups=2)
    with pytest.raises(ValueError, match=r"conv2d.*does not fit.*\(1, 2, 2, 3\)"):
        F.conv2d(np.ones((1, 2, 2, 3)), k)
    with pytest.raises(TypeError, match="conv2d"):
        F.conv2d(np.ones((1, 5, 5, 3), dtype=complex), k)


def test_pool_and_dense_bad_input_messages():
    with pytest.raises(ValueError, match=r"max_pool2d.*rank 4.*\(4, 4\)"):
        F.max_pool2d(np.ones((4, 4)), 2)
    with pytest.raises(ValueError, match="avg_pool2d.*stride"):
        F.avg_pool2d(np.ones((1, 4, 4, 1)), 2, strides=0)
    with pytest.raises(ValueError, match="max_pool2d.*does not fit"):
        F.max_pool2d(np.ones((1, 1, 4, 1)), 2)
    with pytest.raises(ValueError, match="max_pool2d.*padding"):
        F.max_pool2d(np.ones((1, 4, 4, 1)), 2, padding=2)
    with pytest.raises(ValueError, match=r"dense.*\(2, 3\).*\(4, 5\)"):
        F.dense(np.ones((2, 3)), np.ones((4, 5)))
    with pytest.raises(ValueError, match=r"dense.*bias.*\(3,\)"):
        F.dense(np.ones((2, 4)), np.ones((4, 5)), np.ones(3))
    with pytest.raises(TypeError, match="dense"):
        F.dense(np.array([["a"]]), np.ones((1, 1)))


def test_loss_bad_input_messages():
    z = np.ones((3, 4))
    with pytest.raises(ValueError, match=r"sparse_softmax_cross_entropy.*\(2,\).*\(3, 4\)"):
        F.sparse_softmax_cross_entropy(z, np.array([0, 1]))
    with pytest.raises(ValueError, match=r"sparse_softmax_cross_entropy.*\[0, 4\)"):
        F.sparse_softmax_cross_entropy(z, np.array([0, 1, 4]))
    with pytest.raises(ValueError, match="integer"):
        F.sparse_softmax_cross_entropy(z, np.array([0, 1, 0.5]))
    with pytest.raises(ValueError, match=r"softmax_cross_entropy.*\(3, 3\).*\(3, 4\)"):
        F.softmax_cross_entropy(z, np.ones((3, 3)))
    with pytest.raises(ValueError, match=r"binary_cross_entropy_with_logits.*\(3,\)"):
        F.binary_cross_entropy_with_logits(z, np.ones(3))
    with pytest.raises(ValueError, match="dropout.*rate"):
        F.dropout(z, 1.0, training=True)


# --- dropout ------------------------------------------------------------------------------------
def test_dropout_scaling_and_inference_identity():
    x = nnx.Tensor(np.ones((200, 200), np.float32))
    assert F.dropout(x, 0.5, training=False) is x
    nnx.manual_seed(0)
    y = F.dropout(x, 0.25, training=True).data
    assert y.dtype == np.float32
    assert set(np.unique(y)) <= {0.0, np.float32(1 / 0.75)}
    assert abs((y == 0).mean() - 0.25) < 0.02 and abs(y.mean() - 1) < 0.03


# --- no op mutates its inputs; float32 in, float32 out ------------------------------------------
OPS = {
    "dense": lambda x, w: F.dense(x.reshape(2, -1), w),
    "conv2d": lambda x, w: F.conv2d(x, w.reshape(1, 1, 3, 4)),
    "conv2d+relu": lambda x, w: F.conv2d(x, w.reshape(1, 1, 3, 4), w[0], activation="relu"),
    "dense+relu": lambda x, w: F.dense(x, w, w[0], activation="relu"),
    "max_pool2d": lambda x, w: F.max_pool2d(x, 2),
    "avg_pool2d": lambda x, w: F.avg_pool2d(x, 2, padding="same"),
    "softmax": lambda x, w: F.softmax(x, axis=1),
    "log_softmax": lambda x, w: F.log_softmax(x),
    "sigmoid+tanh+relu": lambda x, w: F.sigmoid(x) * F.tanh(x) + F.relu(x),
    "losses": lambda x, w: (F.sparse_softmax_cross_entropy(x.reshape(8, 3), np.zeros(8, int)).sum()
                            + F.softmax_cross_entropy(x.reshape(8, 3), np.ones((8, 3)) / 3).sum()
                            + F.binary_cross_entropy_with_logits(x, np.ones((2, 2, 2, 3))).sum()),
    "math": lambda x, w: (x.exp() + x.abs().sqrt() + x.clip(-0.5, 0.5) + x.max(axis=1, keepdims=True)
                          + x[:, 1:2] + x.mean() + x.square()).sum() + (w @ w.T).sum(),
    "dropout": lambda x, w: F.dropout(x, 0.5, training=True),
}


@pytest.mark.parametrize("name", sorted(OPS))
def test_ops_do_not_mutate_inputs_and_keep_float32(name):
    x = leaf((2, 2, 2, 3), 0, dtype=np.float32)
    w = leaf((12 if name == "dense" else 3, 4), 1, dtype=np.float32)
    before = x.data.copy(), w.data.copy()
    y = OPS[name](x, w)
    assert y.dtype == np.float32
    y.backward(np.ones(y.shape, np.float32))
    np.testing.assert_array_equal(x.data, before[0])
    np.testing.assert_array_equal(w.data, before[1])
    assert x.grad is None or x.grad.dtype == np.float32


def test_functional_accepts_numpy_arrays():
    y = F.relu(np.array([-1.0, 2.0]))
    assert isinstance(y, nnx.Tensor) and not y.requires_grad
    np.testing.assert_array_equal(y.data, [0, 2])


def test_concatenate_and_stack_gradcheck():
    a, b = leaf((2, 3), 0), leaf((2, 1), 1)
    assert nnx.gradcheck(lambda a, b: F.concatenate([a, b], axis=1), [a, b])
    assert nnx.gradcheck(lambda a, c: F.stack([a, c], axis=-1), [a, leaf((2, 3), 2)])
    with pytest.raises(ValueError, match="concatenate"):
        F.concatenate([a, b], axis=0)


@settings(max_examples=5)
@given(data=arrays((3, 4)))
def test_astype_gradient(data):
    x = nnx.Tensor(data, requires_grad=True)
    y = x.astype("float32")
    assert y.dtype == np.float32
    (y * 2).sum().backward()
    assert x.grad.dtype == np.float64
    np.testing.assert_array_equal(x.grad, 2)
