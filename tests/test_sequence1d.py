"""Conv1D, MaxPooling1D, AveragePooling1D and the global 1-D poolings vs explicit NumPy loops, and
gradients vs finite differences (float64)."""
import numpy as np
import pytest

from nnx.layers.sequence1d import (AveragePooling1D, Conv1D, GlobalAveragePooling1D,
                                   GlobalMaxPooling1D, MaxPooling1D)
from nnx.tensor import Tensor
from nnx.testing import numerical_gradient


def conv1d_loops(x, kernel, bias, stride, padding, dilation, groups):
    """Keras Conv1D one output at a time: kernel (K, C_in // groups, F)."""
    n, steps, c_in = x.shape
    k, cg, f = kernel.shape
    span = dilation * (k - 1) + 1
    if padding == "causal":
        left = span - 1
        x = np.concatenate([np.zeros((n, left, c_in)), x], axis=1)
    elif padding == "same":
        out = -(-steps // stride)
        total = max((out - 1) * stride + span - steps, 0)
        x = np.concatenate([np.zeros((n, total // 2, c_in)), x,
                            np.zeros((n, total - total // 2, c_in))], axis=1)
    out = (x.shape[1] - span) // stride + 1
    y = np.zeros((n, out, f))
    fg = f // groups
    for b in range(n):
        for t in range(out):
            for o in range(f):
                g = o // fg
                for j in range(k):
                    for c in range(cg):
                        y[b, t, o] += x[b, t * stride + j * dilation, g * cg + c] * kernel[j, c, o]
    return y + (0 if bias is None else bias)


@pytest.mark.parametrize("padding", ["valid", "same", "causal"])
@pytest.mark.parametrize("stride,dilation,groups", [(1, 1, 1), (2, 1, 1), (1, 2, 2), (3, 1, 2)])
def test_conv1d_matches_loops_and_finite_differences(padding, stride, dilation, groups):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 9, 4))
    layer = Conv1D(6, 3, strides=stride, padding=padding, dilation_rate=dilation, groups=groups,
                   dtype="float64")
    xt = Tensor(x.copy(), requires_grad=True)
    y = layer(xt)
    kernel, bias = (w.data for w in layer.weights)
    assert kernel.shape == (3, 4 // groups, 6)
    want = conv1d_loops(x, kernel, bias, stride, padding, dilation, groups)
    np.testing.assert_allclose(y.data, want, rtol=1e-12, atol=1e-12)
    assert y.shape == layer.compute_output_shape((2, 9, 4))
    g = rng.normal(size=y.shape)
    (y * g).sum().backward()

    def loss():
        return (conv1d_loops(x, kernel, bias, stride, padding, dilation, groups) * g).sum()
    np.testing.assert_allclose(xt.grad, numerical_gradient(loss, x), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(layer.kernel.grad, numerical_gradient(loss, kernel), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(layer.bias.grad, g.sum(axis=(0, 1)), rtol=1e-12)


def test_conv1d_activation_and_config():
    layer = Conv1D(2, 2, activation="relu", padding="causal", name="c")
    y = layer(np.random.default_rng(1).normal(size=(1, 5, 3)).astype(np.float32))
    assert y.shape == (1, 5, 2) and (y.data >= 0).all()
    config = layer.get_config()
    assert Conv1D.from_config(config).get_config() == config


def pool_loops(x, size, stride, padding, reduce):
    n, steps, c = x.shape
    if padding == "same":
        out = -(-steps // stride)
        total = max((out - 1) * stride + size - steps, 0)
        start = -(total // 2)
    else:
        out, start = (steps - size) // stride + 1, 0
    y = np.zeros((n, out, c))
    for t in range(out):
        lo = start + t * stride
        window = x[:, max(lo, 0):min(lo + size, steps)]          # padding never counts
        y[:, t] = reduce(window, axis=1)
    return y


@pytest.mark.parametrize("cls,reduce", [(MaxPooling1D, np.max), (AveragePooling1D, np.mean)])
@pytest.mark.parametrize("size,stride,padding", [(2, None, "valid"), (3, 2, "valid"), (3, 2, "same"),
                                                 (2, 1, "same")])
def test_pooling1d_matches_loops(cls, reduce, size, stride, padding):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(2, 7, 3))
    layer = cls(size, strides=stride, padding=padding, dtype="float64")
    xt = Tensor(x.copy(), requires_grad=True)
    y = layer(xt)
    want = pool_loops(x, size, stride or size, padding, reduce)
    np.testing.assert_allclose(y.data, want, rtol=1e-12)
    assert y.shape == layer.compute_output_shape((2, 7, 3))
    g = rng.normal(size=y.shape)
    (y * g).sum().backward()
    np.testing.assert_allclose(
        xt.grad, numerical_gradient(lambda: (pool_loops(x, size, stride or size, padding, reduce) * g).sum(), x),
        rtol=1e-6, atol=1e-8)


def test_global_average_pooling1d_respects_the_mask():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(3, 5, 2))
    mask = np.array([[1, 1, 1, 0, 0], [1, 0, 0, 0, 0], [0, 0, 0, 0, 0]], bool)
    layer = GlobalAveragePooling1D(dtype="float64")
    xt = Tensor(x, requires_grad=True)
    y = layer(xt, mask=mask)
    want = np.stack([x[0, :3].mean(0), x[1, :1].mean(0), np.zeros(2)])
    np.testing.assert_allclose(y.data, want, rtol=1e-12)
    y.sum().backward()
    counts = np.maximum(mask.sum(1), 1)[:, None, None]
    np.testing.assert_allclose(xt.grad, np.broadcast_to(mask[:, :, None] / counts, x.shape))
    np.testing.assert_allclose(layer(x).data, x.mean(axis=1), rtol=1e-12)
    assert layer.compute_mask(x, mask) is None


def test_global_max_pooling1d_and_keepdims():
    x = np.random.default_rng(4).normal(size=(2, 4, 3))
    np.testing.assert_allclose(GlobalMaxPooling1D(dtype="float64")(x).data, x.max(axis=1))
    assert GlobalAveragePooling1D(keepdims=True)(x.astype(np.float32)).shape == (2, 1, 3)


def test_bad_inputs_name_the_layer():
    with pytest.raises(ValueError, match=r"Conv1D 'c1'.*rank 3"):
        Conv1D(2, 3, name="c1")(np.zeros((4, 5), np.float32))
    with pytest.raises(ValueError, match=r"Conv1D .*too short"):
        Conv1D(2, 5)(np.zeros((1, 3, 2), np.float32))
    with pytest.raises(ValueError, match=r"MaxPooling1D .*padding"):
        MaxPooling1D(padding="full")
    with pytest.raises(ValueError, match=r"GlobalAveragePooling1D .*mask shape"):
        GlobalAveragePooling1D()(np.zeros((2, 3, 1), np.float32), mask=np.ones((2, 4), bool))
    with pytest.raises(ValueError, match=r"MaxPooling1D .*shorter"):
        MaxPooling1D(4)(np.zeros((1, 3, 2), np.float32))


def test_conv1d_config_refuses_a_custom_activation_it_cannot_save():
    layer = Conv1D(2, 3, activation=lambda t: t * 2)
    with pytest.raises(ValueError, match="custom activation"):
        layer.get_config()
    assert Conv1D(2, 3, activation="relu").get_config()["activation"] == "relu"
