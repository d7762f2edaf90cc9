"""The convolution and pooling layers work out their window arguments (padding per side, the checks of
the window against the input) once per input shape and keep them: the kept path gives what the
functional ops give from the raw arguments, every new shape is checked afresh, and bad input still
gets the error naming the layer, on the first call and after the cache has been filled."""
import numpy as np
import pytest

import nnx
import nnx.functional as F
from nnx.functional import convolution
from nnx.layers import AveragePooling2D, Conv1D, Conv2D, MaxPooling2D, clear_session
from nnx.layers.sequence1d import MaxPooling1D


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _conv2d_raw(layer, x):
    """What the layer computes, through the functional op given the raw configuration."""
    return F.conv2d(x, layer.kernel, layer.bias, layer.strides, layer.padding, layer.dilation_rate,
                    layer.groups, activation="relu").data


@pytest.mark.parametrize("kwargs", [dict(padding="same", strides=2), dict(padding=((1, 0), (2, 1))),
                                    dict(dilation_rate=2, groups=2)])
def test_conv2d_kept_window_matches_the_raw_arguments_for_every_shape(kwargs, monkeypatch):
    computed = []
    geometry = convolution.conv2d_geometry
    monkeypatch.setattr("nnx.layers.convolutional.conv2d_geometry",
                        lambda *a: computed.append(a[0]) or geometry(*a))
    layer = Conv2D(4, 3, activation="relu", **kwargs)
    for seed, shape in enumerate([(2, 9, 8, 2), (2, 9, 8, 2), (3, 9, 8, 2), (2, 11, 7, 2), (2, 9, 8, 2)]):
        x = rand(*shape, seed=seed)
        np.testing.assert_array_equal(layer(x).data, _conv2d_raw(layer, x))
    assert computed == [(2, 9, 8, 2), (3, 9, 8, 2), (2, 11, 7, 2)]       # once per input shape


@pytest.mark.parametrize("cls,op", [(MaxPooling2D, F.max_pool2d), (AveragePooling2D, F.avg_pool2d)])
def test_pooling_kept_window_matches_the_raw_arguments(cls, op):
    layer = cls((3, 2), strides=(2, 1), padding="same")
    for seed, shape in enumerate([(2, 7, 6, 3), (2, 7, 6, 3), (1, 5, 9, 3)]):
        x = nnx.Tensor(rand(*shape, seed=seed), requires_grad=True)
        y = layer(x)
        np.testing.assert_array_equal(y.data, op(x.data, (3, 2), (2, 1), "same").data)
        y.sum().backward()                          # the gradient flows through the kept path
        assert x.grad.shape == shape


def test_rank1_layers_keep_their_window_per_shape():
    conv = Conv1D(3, 3, padding="causal", dilation_rate=2)
    conv.build((None, None, 4))
    pool = MaxPooling1D(2)
    for seed, shape in enumerate([(2, 10, 4), (2, 10, 4), (1, 7, 4)]):
        x = rand(*shape, seed=seed)
        # causal: (kernel_size - 1) * dilation = 4 zeros before each sequence
        want = F.conv2d(x[:, None], conv.kernel.reshape(1, *conv.kernel.shape), conv.bias, (1, 1),
                        ((0, 0), (4, 0)), (1, 2)).data[:, 0]
        np.testing.assert_array_equal(conv(x).data, want)
        np.testing.assert_array_equal(pool(x).data, F.max_pool2d(x[:, None], (1, 2)).data[:, 0])


def test_bad_input_is_named_before_and_after_the_window_is_kept():
    clear_session()
    layer = Conv2D(2, 5)                      # 'conv2d'
    for _ in range(2):                         # no window is kept for a shape that failed
        with pytest.raises(ValueError, match=r"Conv2D 'conv2d'.*window \(5, 5\) does not fit input shape "
                                             r"\(1, 3, 3, 1\)"):
            layer(np.zeros((1, 3, 3, 1), np.float32))
    layer(np.zeros((1, 6, 6, 1), np.float32))
    with pytest.raises(ValueError, match=r"Conv2D 'conv2d'.*does not fit input shape \(1, 4, 9, 1\)"):
        layer(np.zeros((1, 4, 9, 1), np.float32))
    with pytest.raises(ValueError, match=r"Conv2D 'conv2d': expected input with 1 on axis -1"):
        layer(np.zeros((1, 6, 6, 3), np.float32))
    geometry = layer._per_input_shape[(1, 6, 6, 1)]         # the op still checks what it is given
    with pytest.raises(ValueError, match=r"conv2d: expected input of rank 4"):
        F.conv2d(np.zeros((6, 6, 1), np.float32), layer.kernel, geometry=geometry)
    short = Conv1D(2, 4)                       # 'conv1d'
    short(np.zeros((1, 8, 1), np.float32))
    with pytest.raises(ValueError, match=r"Conv1D 'conv1d'.*too short"):
        short(np.zeros((1, 3, 1), np.float32))
    pool = MaxPooling2D(4)                     # 'max_pooling2d'
    pool(np.zeros((1, 8, 8, 1), np.float32))
    with pytest.raises(ValueError, match=r"MaxPooling2D 'max_pooling2d'.*max_pool2d.*does not fit"):
        pool(np.zeros((1, 3, 8, 1), np.float32))


def test_a_layer_keeps_a_few_shapes_only():
    layer = MaxPooling2D(2)
    for width in range(2, 40):
        layer(np.zeros((1, 2, width, 1), np.float32))
    assert 1 <= len(layer._per_input_shape) <= 16


def test_functional_geometry_checks_and_matches_the_raw_call():
    x, k, b = rand(2, 6, 7, 4), rand(3, 2, 2, 6), rand(6)
    geometry = convolution.conv2d_geometry(x.shape, k.shape, 2, "same", 1, 2)
    assert geometry == ((2, 2), ((0, 1), (0, 1)), (1, 1), 2)
    np.testing.assert_array_equal(F.conv2d(x, k, b, geometry=geometry).data,
                                  F.conv2d(x, k, b, 2, "same", 1, 2).data)
    with pytest.raises(ValueError, match=r"conv2d: input shape \(2, 6, 7, 4\) .* do not agree for groups=3"):
        convolution.conv2d_geometry(x.shape, k.shape, groups=3)
    with pytest.raises(ValueError, match=r"conv2d: strides must be a positive int"):
        convolution.conv2d_geometry(x.shape, k.shape, strides=0)
    assert convolution.pool_geometry((1, 5, 5, 2), 2, None, "same") == ((2, 2), (2, 2), ((0, 1), (0, 1)))
    with pytest.raises(ValueError, match=r"avg_pool2d: padding \(\(3, 3\), \(0, 0\)\) must be smaller"):
        convolution.pool_geometry((1, 5, 5, 2), 3, 1, ((3, 3), (0, 0)), "avg_pool2d")
