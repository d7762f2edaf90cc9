"""Layers: forward vs NumPy references, weight and input gradients vs finite differences (float64),
Keras defaults and layouts, naming, weights API, and bad input."""
import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st

import nnx
from nnx.testing import layer_gradcheck
from nnx.layers import (Activation, AveragePooling2D, BatchNormalization, Conv2D, Dense, Dropout, Flatten,
                        GlobalAveragePooling2D, GlobalMaxPooling2D, Layer, MaxPooling2D, Reshape,
                        clear_session)


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


# --- NumPy references --------------------------------------------------------------------------------
def conv2d_ref(x, k, b, strides, padding, dilation, groups):
    """Direct loops over output pixels, TensorFlow's 'same' rule."""
    n, h, w, c = x.shape
    kh, kw, cg, f = k.shape
    (sh, sw), (dh, dw) = strides, dilation
    eh, ew = (kh - 1) * dh + 1, (kw - 1) * dw + 1
    if padding == "same":
        oh, ow = -(-h // sh), -(-w // sw)
        ph, pw = max((oh - 1) * sh + eh - h, 0), max((ow - 1) * sw + ew - w, 0)
        x = np.pad(x, ((0, 0), (ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)))
    else:
        oh, ow = (h - eh) // sh + 1, (w - ew) // sw + 1
    y = np.zeros((n, oh, ow, f))
    fg = f // groups
    for i in range(oh):
        for j in range(ow):
            patch = x[:, i * sh:i * sh + eh:dh, j * sw:j * sw + ew:dw, :]   # (n, kh, kw, c)
            for g in range(groups):
                y[:, i, j, g * fg:(g + 1) * fg] = np.einsum(
                    "nhwc,hwcf->nf", patch[..., g * cg:(g + 1) * cg], k[..., g * fg:(g + 1) * fg])
    return y + (0 if b is None else b)


def pool_ref(x, size, strides, reduce):
    n, h, w, c = x.shape
    oh, ow = (h - size[0]) // strides[0] + 1, (w - size[1]) // strides[1] + 1
    y = np.zeros((n, oh, ow, c))
    for i in range(oh):
        for j in range(ow):
            y[:, i, j] = reduce(x[:, i * strides[0]:i * strides[0] + size[0],
                                  j * strides[1]:j * strides[1] + size[1]], axis=(1, 2))
    return y


# --- Dense --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("activation", [None, "relu", "tanh", "sigmoid", "softmax"])
def test_dense_forward_and_gradients(activation):
    layer = Dense(4, activation=activation, dtype="float64")
    x = rand(5, 3)
    y = layer(x)
    assert isinstance(y, nnx.Tensor) and y.shape == (5, 4) and y.dtype == np.float64
    z = x @ layer.kernel.data + layer.bias.data
    want = {None: z, "relu": np.maximum(z, 0), "tanh": np.tanh(z), "sigmoid": 1 / (1 + np.exp(-z)),
            "softmax": np.exp(z) / np.exp(z).sum(-1, keepdims=True)}[activation]
    np.testing.assert_allclose(y.data, want, rtol=1e-12, atol=1e-12)
    layer_gradcheck(layer, x + 0.05, ["kernel", "bias"])


def test_dense_keras_defaults_layout_and_initialisers():
    nnx.manual_seed(0)
    layer = Dense(300)
    layer(np.zeros((2, 200), np.float32))
    assert layer.kernel.shape == (200, 300) and layer.bias.shape == (300,)
    assert layer.kernel.dtype == np.float32
    limit = np.sqrt(6 / (200 + 300))                  # glorot_uniform
    assert np.abs(layer.kernel.data).max() <= limit
    assert np.abs(layer.kernel.data).max() > 0.9 * limit
    assert np.all(layer.bias.data == 0)
    assert [w.shape for w in layer.get_weights()] == [(200, 300), (300,)]
    assert Dense(2, use_bias=False).get_config()["use_bias"] is False


def test_dense_on_3d_input_and_no_bias():
    layer = Dense(2, use_bias=False, dtype="float64")
    x = rand(2, 3, 4)
    np.testing.assert_allclose(layer(x).data, x @ layer.kernel.data, rtol=1e-12)
    assert len(layer.weights) == 1
    layer_gradcheck(layer, x, ["kernel"])


# --- Conv2D -------------------------------------------------------------------------------------------
conv_cases = st.tuples(
    st.integers(1, 2), st.integers(3, 7), st.integers(3, 7), st.sampled_from([(1, 2), (2, 2), (2, 4)]),
    st.sampled_from([(1, 1), (3, 3), (2, 3)]), st.sampled_from([(1, 1), (2, 1), (2, 2)]),
    st.sampled_from(["valid", "same"]), st.sampled_from([(1, 1), (2, 1)]), st.booleans(),
    st.sampled_from([None, "relu"]))


@settings(max_examples=25, deadline=None)
@given(conv_cases)
def test_conv2d_forward_matches_loops(case):
    n, h, w, (groups, mult), ksize, strides, padding, dilation, use_bias, activation = case
    c, f = groups * mult, groups * 3
    assume(padding == "same" or (h >= (ksize[0] - 1) * dilation[0] + 1 and
                                 w >= (ksize[1] - 1) * dilation[1] + 1))
    layer = Conv2D(f, ksize, strides=strides, padding=padding, dilation_rate=dilation, groups=groups,
                   activation=activation, use_bias=use_bias, dtype="float64")
    x = rand(n, h, w, c)
    layer.build((None, h, w, c))
    if use_bias:
        layer.bias.data[:] = rand(f, seed=2)
    y = layer(x)
    assert layer.kernel.shape == ksize + (c // groups, f)
    want = conv2d_ref(x, layer.kernel.data, layer.bias.data if use_bias else None, strides, padding,
                      dilation, groups)
    if activation == "relu":
        want = np.maximum(want, 0)
    assert y.shape[1:] == layer.compute_output_shape((None, h, w, c))[1:]
    np.testing.assert_allclose(y.data, want, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("padding,strides,groups", [("valid", 1, 1), ("same", 2, 1), ("same", 1, 2)])
def test_conv2d_gradients(padding, strides, groups):
    layer = Conv2D(4, (3, 2), strides=strides, padding=padding, groups=groups, activation="tanh",
                   dtype="float64")
    layer.build((None, 5, 4, 2))
    layer.bias.data[:] = rand(4, seed=1) * 0.1
    layer_gradcheck(layer, rand(2, 5, 4, 2), ["kernel", "bias"])


def test_conv2d_keras_layout_and_param_count():
    layer = Conv2D(64, (3, 3), activation="relu")
    layer.build((None, 13, 13, 32))
    assert layer.kernel.shape == (3, 3, 32, 64) and layer.count_params() == 18496
    limit = np.sqrt(6 / (9 * 32 + 9 * 64))             # Keras fans for conv kernels
    assert np.abs(layer.kernel.data).max() <= limit
    assert layer.compute_output_shape((None, 13, 13, 32)) == (None, 11, 11, 64)
    assert Conv2D(8, 3, strides=2, padding="same").compute_output_shape((None, 7, 7, 1)) == (None, 4, 4, 8)


def test_conv2d_bad_input_messages():
    clear_session()
    Conv2D(4, 3)
    layer = Conv2D(4, 3)
    with pytest.raises(ValueError, match=r"Conv2D .conv2d_1.: expected input of rank 4 \(N, H, W, C\), "
                                         r"got shape \(28, 28\)$"):
        layer(np.zeros((28, 28), np.float32))
    layer(np.zeros((1, 5, 5, 3), np.float32))
    with pytest.raises(ValueError, match=r"Conv2D 'conv2d_1'.*3 on axis -1.*\(1, 5, 5, 2\)"):
        layer(np.zeros((1, 5, 5, 2), np.float32))
    with pytest.raises(ValueError, match="strides"):
        Conv2D(4, 3, strides=0)
    with pytest.raises(ValueError, match="too small"):
        Conv2D(4, 5).compute_output_shape((None, 3, 3, 1))
    with pytest.raises(ValueError, match="padding"):
        Conv2D(4, 3, padding="full")
    with pytest.raises(ValueError, match="did you mean"):
        Conv2D(4, 3, activation="rellu")


# --- pooling ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("cls,reduce", [(MaxPooling2D, np.max), (AveragePooling2D, np.mean)])
@pytest.mark.parametrize("size,strides", [((2, 2), None), ((3, 2), (1, 2)), ((2, 2), (1, 1))])
def test_pooling_forward_and_gradients(cls, reduce, size, strides):
    layer = cls(size, strides=strides, dtype="float64")
    x = rand(2, 6, 5, 3)
    y = layer(x)
    want = pool_ref(x, size, strides or size, reduce)
    np.testing.assert_allclose(y.data, want, rtol=1e-12)
    assert y.shape[1:] == layer.compute_output_shape((None, 6, 5, 3))[1:]
    layer_gradcheck(layer, x, [])


def test_pooling_same_padding_shape():
    layer = MaxPooling2D((2, 2), padding="same")
    assert layer(np.zeros((1, 5, 5, 2), np.float32)).shape == (1, 3, 3, 2)
    assert layer.compute_output_shape((None, 5, 5, 2)) == (None, 3, 3, 2)


@pytest.mark.parametrize("cls,reduce", [(GlobalAveragePooling2D, np.mean), (GlobalMaxPooling2D, np.max)])
def test_global_pooling(cls, reduce):
    x = rand(2, 3, 4, 5)
    layer = cls(dtype="float64")
    np.testing.assert_allclose(layer(x).data, reduce(x, axis=(1, 2)), rtol=1e-12)
    assert cls(keepdims=True)(x).shape == (2, 1, 1, 5)
    layer_gradcheck(layer, x, [])


# --- BatchNormalization -------------------------------------------------------------------------------
def test_batchnorm_training_matches_keras_formula_and_updates_moving_stats():
    layer = BatchNormalization(dtype="float64")
    x = rand(8, 3, 3, 4) * 3 + 1
    layer.build((None, 3, 3, 4))
    layer.gamma.data[:] = [1.0, 2.0, 0.5, -1.0]
    layer.beta.data[:] = [0.0, 1.0, -1.0, 0.5]
    y = layer(x, training=True)
    mean, var = x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))
    want = layer.gamma.data * (x - mean) / np.sqrt(var + 1e-3) + layer.beta.data
    np.testing.assert_allclose(y.data, want, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(layer.moving_mean.data, 0.99 * 0 + 0.01 * mean, rtol=1e-12)
    np.testing.assert_allclose(layer.moving_variance.data, 0.99 * 1 + 0.01 * var, rtol=1e-12)  # biased
    # inference uses the moving statistics
    y = layer(x, training=False)
    want = (layer.gamma.data * (x - layer.moving_mean.data) / np.sqrt(layer.moving_variance.data + 1e-3)
            + layer.beta.data)
    np.testing.assert_allclose(y.data, want, rtol=1e-10, atol=1e-12)


def test_batchnorm_weights_order_and_counts():
    layer = BatchNormalization()
    layer.build((None, 10))
    assert [w.name.split("/")[-1] for w in layer.weights] == ["gamma", "beta", "moving_mean",
                                                              "moving_variance"]
    assert len(layer.trainable_weights) == 2 and len(layer.non_trainable_weights) == 2
    np.testing.assert_array_equal(layer.get_weights()[3], np.ones(10))


@pytest.mark.parametrize("training", [True, False])
def test_batchnorm_gradients(training):
    layer = BatchNormalization(dtype="float64")
    layer.build((None, 3, 2))
    layer.gamma.data[:] = [1.5, -0.5]
    layer.beta.data[:] = [0.2, 0.1]
    layer.moving_variance.data[:] = [0.5, 2.0]
    layer_gradcheck(layer, rand(4, 3, 2), ["gamma", "beta"], training=training)


def test_batchnorm_axis_1_keeps_keras_weight_shape():
    layer = BatchNormalization(axis=1, dtype="float64")
    x = rand(5, 3, 4)
    y = layer(x, training=True)
    assert layer.gamma.shape == (3,)
    mean, var = x.mean(axis=(0, 2), keepdims=True), x.var(axis=(0, 2), keepdims=True)
    np.testing.assert_allclose(y.data, (x - mean) / np.sqrt(var + 1e-3), rtol=1e-10, atol=1e-12)
    layer_gradcheck(layer, x, ["gamma", "beta"], training=True)


# --- Dropout, Flatten, Reshape, Activation ---------------------------------------------------------------
def test_dropout():
    x = np.ones((200, 100), np.float32)
    layer = Dropout(0.3)
    assert layer(x).data is x or np.array_equal(layer(x).data, x)
    nnx.manual_seed(1)
    y = layer(x, training=True).data
    kept = y != 0
    assert abs(kept.mean() - 0.7) < 0.02
    np.testing.assert_allclose(y[kept], 1 / 0.7, rtol=1e-6)
    nnx.manual_seed(1)
    np.testing.assert_array_equal(layer(x, training=True).data, y)
    with pytest.raises(ValueError, match="Dropout"):
        Dropout(1.5)


def test_flatten_reshape_activation():
    x = rand(2, 3, 4, 5)
    assert Flatten()(x).shape == (2, 60)
    assert Flatten().compute_output_shape((None, 3, 4, 5)) == (None, 60)
    r = Reshape((4, -1))
    assert r(x).shape == (2, 4, 15) and r.compute_output_shape((None, 3, 4, 5)) == (None, 4, 15)
    with pytest.raises(ValueError, match="Reshape"):
        Reshape((7, 7)).compute_output_shape((None, 3, 4, 5))
    np.testing.assert_allclose(Activation("relu", dtype="float64")(x).data, np.maximum(x, 0))
    layer_gradcheck(Flatten(dtype="float64"), x, [])
    layer_gradcheck(Reshape((60,), dtype="float64"), x, [])
    layer_gradcheck(Activation("tanh", dtype="float64"), x, [])


# --- naming, weights API, registry --------------------------------------------------------------------------
def test_auto_names_like_keras():
    clear_session()
    assert [Conv2D(1, 1).name, Conv2D(1, 1).name, MaxPooling2D().name, Dense(1).name] == \
        ["conv2d", "conv2d_1", "max_pooling2d", "dense"]
    assert BatchNormalization().name == "batch_normalization"
    assert GlobalAveragePooling2D().name == "global_average_pooling2d"
    assert Dense(1, name="head").name == "head"


def test_get_set_weights_and_zero_grad():
    layer = Dense(3)
    assert layer.get_weights() == [] and layer.kernel is None
    with pytest.raises(ValueError, match=r"Dense 'dense.*': set_weights before the layer has an input shape"):
        layer.set_weights([np.zeros((2, 3)), np.zeros(3)])
    layer.build((None, 2))
    new = [np.arange(6, dtype=np.float32).reshape(2, 3), np.ones(3, np.float32)]
    layer.set_weights(new)
    for got, want in zip(layer.get_weights(), new):
        np.testing.assert_array_equal(got, want)
    before = layer.get_weights()
    with pytest.raises(ValueError, match=r"Dense 'dense.*'.*shape \(3, 2\).*\(2, 3\)"):
        layer.set_weights([np.zeros((3, 2)), np.zeros(3)])
    with pytest.raises(ValueError, match="expected 2 arrays"):
        layer.set_weights([np.zeros((2, 3))])
    for got, want in zip(layer.get_weights(), before):    # a failed set_weights changes nothing
        np.testing.assert_array_equal(got, want)
    layer(np.ones((4, 2), np.float32)).sum().backward()
    assert layer.kernel.grad is not None
    layer.zero_grad()
    assert layer.kernel.grad is None and layer.bias.grad is None


def test_registry_and_config_round_trip():
    for cls in (Dense, Conv2D, MaxPooling2D, AveragePooling2D, Flatten, Reshape, Activation, Dropout,
                BatchNormalization, GlobalMaxPooling2D):
        assert Layer.registry[cls.__name__] is cls
    layer = Conv2D(8, (3, 2), strides=2, padding="same", activation="relu", input_shape=(9, 9, 3))
    clone = Conv2D.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    assert "_Pooling2D" not in Layer.registry
    assert "BaseConv" not in Layer.registry       # abstract: a config names Conv1D or Conv2D


def test_dense_input_checks():
    layer = Dense(3)
    with pytest.raises(ValueError, match=r"Dense 'dense.*': expected input of rank >= 2"):
        layer(np.zeros(4, np.float32))
    layer(np.zeros((1, 4), np.float32))
    with pytest.raises(ValueError, match=r"expected input with 4 on axis -1.*\(1, 5\)"):
        layer(np.zeros((1, 5), np.float32))
    with pytest.raises(ValueError, match="units"):
        Dense(0)
