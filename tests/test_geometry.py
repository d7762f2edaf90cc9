"""nnx.geometry: output lengths and padding of convolution, pooling and transposed convolution against
hand-computed values, Keras 3's formulas and brute-force window counting; the argument checks."""
import ast
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import nnx.geometry as G


def keras_conv_output_length(size, k, stride, padding, dilation):
    """Transcribed from Keras 3 keras/src/ops/operation_utils.py compute_conv_output_shape:
    'valid' floor((size - dilation * (k - 1) - 1) / stride) + 1, 'same' floor((size - 1) / stride) + 1."""
    if padding == "valid":
        return math.floor((size - dilation * (k - 1) - 1) / stride) + 1
    return math.floor((size - 1) / stride) + 1


def keras_pool_output_length(size, pool, stride, padding):
    """Transcribed from Keras 3 keras/src/ops/operation_utils.py compute_pooling_output_shape."""
    if padding == "valid":
        return math.floor((size - pool) / stride) + 1
    return math.floor((size - 1) / stride) + 1


def counted_positions(size, k, stride, before, after, dilation):
    """Brute force: the window starts (every stride-th pixel of the padded axis) whose last tap lies
    inside the padded axis."""
    padded = before + size + after
    return sum(1 for start in range(0, padded, stride) if start + (k - 1) * dilation < padded)


# --- hand-computed -------------------------------------------------------------------------------
@pytest.mark.parametrize("size, k, stride, dilation, expected", [
    (5, 3, 2, 1, (1, 1)), (6, 3, 2, 1, (0, 1)), (28, 3, 1, 1, (1, 1)), (4, 2, 2, 1, (0, 0)),
    (5, 2, 1, 1, (0, 1)), (7, 3, 1, 2, (2, 2)), (1, 3, 1, 1, (1, 1)), (10, 4, 3, 1, (1, 2)),
])
def test_same_padding_follows_tensorflow(size, k, stride, dilation, expected):
    assert G.same_padding(size, k, stride, dilation) == expected
    pads = G.per_side("same", (size, size), (k, k), (stride, stride), (dilation, dilation))
    assert pads == (expected, expected)
    out = (size + sum(expected) - (k - 1) * dilation - 1) // stride + 1
    assert out == -(-size // stride) == G.output_length(size, k, stride, "same", dilation)


def test_padding_forms():
    def sides(padding):
        return G.per_side(G.padding_arg("op", padding), (5, 5), (3, 3), (1, 1), (1, 1))
    assert sides("valid") == sides("VALID") == ((0, 0), (0, 0))
    assert sides(2) == sides(np.int64(2)) == ((2, 2), (2, 2))
    assert sides((1, 2)) == sides([1, 2]) == ((1, 1), (2, 2))
    assert sides(((0, 1), (2, 0))) == sides([[0, 1], [2, 0]]) == ((0, 1), (2, 0))
    # padding_arg keeps the form a config saves
    assert G.padding_arg("op", 2) == 2 and G.padding_arg("op", [1, 2]) == (1, 2)
    assert G.padding_arg("op", [[0, 1], [2, 0]]) == ((0, 1), (2, 0))


@pytest.mark.parametrize("args, expected", [
    ((28, 3, 1), 26), ((28, 3, 1, (1, 1)), 28), ((7, 3, 2), 3), ((7, 3, 2, "same"), 4),
    ((9, 3, 1, "valid", 2), 5), ((4, 5, 1), 0), ((None, 3, 1), None), ((5, 2, 2, (0, 1)), 3),
])
def test_output_length_by_hand(args, expected):
    assert G.output_length(*args) == expected


def test_window_output_and_its_error():
    assert G.window_output("op", (2, 7, 6, 3), (3, 2), (2, 1), ((1, 1), (0, 0))) == (4, 5)
    with pytest.raises(ValueError, match=r"^max_pool2d: window \(5, 5\) does not fit input shape "
                                         r"\(1, 3, 3, 2\) with padding \(\(0, 0\), \(0, 0\)\) and dilation "
                                         r"\(1, 1\): output would be -1x-1$"):
        G.window_output("max_pool2d", (1, 3, 3, 2), (5, 5), (1, 1), ((0, 0), (0, 0)))


def test_pool_padding_must_be_smaller_than_the_window():
    G.check_pool_padding("op", (1, 4, 4, 1), (2, 3), ((1, 0), (0, 2)))
    with pytest.raises(ValueError, match=r"avg_pool2d: padding \(\(2, 0\), \(0, 0\)\) must be smaller than "
                                         r"pool_size \(2, 2\).*input shape \(1, 4, 4, 1\)"):
        G.check_pool_padding("avg_pool2d", (1, 4, 4, 1), (2, 2), ((2, 0), (0, 0)))


@pytest.mark.parametrize("size, k, s, d, padding, output_padding, expected", [
    (4, 3, 2, 1, "valid", None, 9), (4, 3, 2, 1, "same", None, 8), (4, 2, 3, 1, "valid", None, 12),
    (4, 3, 2, 1, "valid", 1, 10), (4, 3, 2, 1, "same", 1, 8), (3, 3, 1, 2, "valid", None, 7),
])
def test_transpose_output_length_by_hand(size, k, s, d, padding, output_padding, expected):
    assert G.transpose_output_length(size, k, s, d, padding, output_padding) == expected


# --- properties ----------------------------------------------------------------------------------
sizes = st.integers(1, 64)
windows = st.integers(1, 7)
steps = st.integers(1, 5)


@settings(max_examples=300, deadline=None)
@given(sizes, windows, steps, steps, st.sampled_from(["valid", "same"]))
def test_output_length_matches_keras_conv_formula(size, k, stride, dilation, padding):
    expected = keras_conv_output_length(size, k, stride, padding, dilation)
    assert G.output_length(size, k, stride, padding, dilation) == expected
    if dilation == 1:
        assert G.output_length(size, k, stride, padding) == keras_pool_output_length(size, k, stride, padding)


@settings(max_examples=300, deadline=None)
@given(sizes, windows, steps, steps, st.integers(0, 6), st.integers(0, 6))
def test_output_length_counts_the_window_positions(size, k, stride, dilation, before, after):
    got = G.output_length(size, k, stride, (before, after), dilation)
    assert max(got, 0) == counted_positions(size, k, stride, before, after, dilation)


@settings(max_examples=300, deadline=None)
@given(sizes, windows, steps, steps)
def test_same_padding_gives_ceil_and_puts_the_odd_pixel_after(size, k, stride, dilation):
    before, after = G.same_padding(size, k, stride, dilation)
    assert 0 <= after - before <= 1
    assert G.output_length(size, k, stride, (before, after), dilation) == -(-size // stride)


@settings(max_examples=300, deadline=None)
@given(sizes, windows, steps, steps, st.sampled_from(["valid", "same"]), st.data())
def test_transpose_padding_makes_the_forward_convolution_give_back_the_size(size, k, stride, dilation,
                                                                            padding, data):
    output_padding = data.draw(st.none() | st.integers(0, stride - 1))
    out = G.transpose_output_length(size, k, stride, dilation, padding, output_padding)
    if out < 1:
        return
    pads = G.transpose_padding(size, out, k, stride, dilation, padding, output_padding)
    assert min(pads) >= 0
    assert G.output_length(out, k, stride, pads, dilation) == size


# --- argument checks -----------------------------------------------------------------------------
def test_pair_and_positive_ints():
    assert G.pair("op", "strides", 2) == (2, 2)
    assert G.pair("op", "strides", [np.int32(1), 3]) == (1, 3)
    assert type(G.pair("op", "strides", np.int64(2))[0]) is int
    assert G.positive_ints("op", "kernel_size", 3, 1) == (3,)
    assert G.positive_ints("op", "kernel_size", [3], 1) == (3,)
    for bad in (0, -1, True, (1, 0), (1, 2, 3), "2", 1.5, None, (1.0, 2)):
        with pytest.raises(ValueError, match=r"^Conv2D 'c': strides must be a positive int or a pair of "
                                             r"them, got "):
            G.pair("Conv2D 'c'", "strides", bad)
    with pytest.raises(ValueError, match=r"^Conv1D 'c': kernel_size must be a positive int or a tuple of 1"):
        G.positive_ints("Conv1D 'c'", "kernel_size", (3, 3), 1)
    with pytest.raises(ValueError, match=r"^op: groups must be a positive int, got True"):
        G.positive_int("op", "groups", True)


def test_padding_checks_name_the_owner():
    assert G.padding_mode("op", "Causal", ("valid", "same", "causal")) == "causal"
    with pytest.raises(ValueError, match=r"^L 'x': padding must be 'valid' or 'same', got 'causal'$"):
        G.padding_mode("L 'x'", "causal")
    with pytest.raises(ValueError, match=r"^L: padding must be 'valid', 'same' or 'causal', got 3$"):
        G.padding_mode("L", 3, ("valid", "same", "causal"))
    for bad in ("full", -1, (1, -1), ((0, 1), (2,)), (1, 2, 3), True, 1.0):
        with pytest.raises(ValueError, match=r"^conv2d: padding must be 'valid', 'same', an int"):
            G.padding_arg("conv2d", bad)
    with pytest.raises(ValueError, match=r"^ZeroPadding2D 'z': padding must be an int, \(h, w\)"):
        G.pixel_pairs("ZeroPadding2D 'z'", "padding", (1, -2))


def test_output_padding_must_be_smaller_than_the_stride():
    assert G.output_padding_arg("op", None, (2, 2)) is None
    assert G.output_padding_arg("op", 1, (2, 3)) == (1, 1)
    for bad in (2, (0, 3), -1, (1,), True):
        with pytest.raises(ValueError, match=r"^ct: output_padding must be None or non-negative ints "
                                             r"smaller than the strides \(2, 3\)"):
            G.output_padding_arg("ct", bad, (2, 3))


def test_geometry_is_a_leaf_module():
    """Every level of nnx imports it (the bindings too), so it imports nothing from nnx."""
    tree = ast.parse(open(G.__file__).read())
    imported = [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
    imported += [node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    assert imported and not [name for name in imported if name.split(".")[0] == "nnx"]
