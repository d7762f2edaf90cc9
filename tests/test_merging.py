"""Merge layers against NumPy, their gradients against finite differences, Keras 3's shape rules
(keras/src/layers/merging/base_merge.py: per-sample shapes aligned from the right, lower ranks get
axes after the batch axis; concatenate.py; dot.py: batch_dot output shapes) and errors that name the
layer and the shapes, both on data and while building a graph."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import nnx
from nnx.layers import (Add, Average, Concatenate, Dense, Dot, Input, Maximum, Minimum, Multiply,
                        Subtract)

RNG = np.random.default_rng(0)


def arrays(*shapes, dtype=np.float64):
    return [RNG.standard_normal(s).astype(dtype) for s in shapes]


ELEMENTWISE = [
    (Add, lambda xs: sum(xs)),
    (Multiply, lambda xs: np.prod(np.broadcast_arrays(*xs), axis=0)),
    (Average, lambda xs: sum(xs) / len(xs)),
    (Maximum, lambda xs: np.maximum.reduce(np.broadcast_arrays(*xs))),
    (Minimum, lambda xs: np.minimum.reduce(np.broadcast_arrays(*xs))),
]


@pytest.mark.parametrize("cls, reference", ELEMENTWISE)
@given(n_inputs=st.integers(1, 4), shape=st.lists(st.integers(1, 4), min_size=1, max_size=3),
       broadcast=st.booleans())
def test_elementwise_merges_match_numpy(cls, reference, n_inputs, shape, broadcast):
    shapes = [(3, *shape)] * n_inputs
    if broadcast and n_inputs > 1:
        shapes[-1] = (3,) + (1,) * len(shape)       # size-1 axes broadcast
    xs = arrays(*shapes)
    out = cls(dtype="float64")(xs)
    np.testing.assert_allclose(out.numpy(), reference(xs), rtol=1e-12)


def test_subtract_and_lower_rank_input_aligned_after_batch():
    a, b = arrays((2, 3, 4), (2, 4))
    np.testing.assert_allclose(Subtract(dtype="float64")([a, b]).numpy(), a - b[:, None, :])
    c = RNG.standard_normal((2, 1))                     # (N, 1) with (N, 3, 4): Keras' expand at axis 1
    np.testing.assert_allclose(Add(dtype="float64")([a, c]).numpy(), a + c[:, :, None])
    assert Add().compute_output_shape([(None, 3, 4), (None, 4)]) == (None, 3, 4)
    assert Add().compute_output_shape([(None, 3, 1), (None, 1, 5)]) == (None, 3, 5)
    assert Add().compute_output_shape([(None, None), (None, 5)]) == (None, None)


@pytest.mark.parametrize("axis", [-1, 1, 2])
def test_concatenate_matches_numpy_and_shapes(axis):
    a, b = arrays((2, 3, 4), (2, 3, 4))
    layer = Concatenate(axis=axis, dtype="float64")
    np.testing.assert_array_equal(layer([a, b]).numpy(), np.concatenate([a, b], axis=axis))
    assert layer.compute_output_shape([(None, 3, 4), (None, 3, 4)]) == \
        (None,) + np.concatenate([a, b], axis=axis).shape[1:]
    assert Concatenate().compute_output_shape([(None, 3, 4), (None, 3, 2)]) == (None, 3, 6)
    assert Concatenate().compute_output_shape([(None, None, 4), (None, 3, 2)]) == (None, 3, 6)
    assert Concatenate(axis=1).compute_output_shape([(None, None, 4), (None, 3, 4)]) == (None, None, 4)


def test_dot_matches_einsum():
    a, b = arrays((5, 4), (5, 4))
    np.testing.assert_allclose(Dot(axes=1, dtype="float64")([a, b]).numpy(),
                               np.einsum("nk,nk->n", a, b)[:, None])        # (N, 1), as Keras
    a, b = arrays((5, 3, 4), (5, 4, 2))
    np.testing.assert_allclose(Dot(axes=(2, 1), dtype="float64")([a, b]).numpy(),
                               np.einsum("nik,nkj->nij", a, b))
    a, b = arrays((5, 4, 3), (5, 4, 2))
    np.testing.assert_allclose(Dot(axes=1, dtype="float64")([a, b]).numpy(),
                               np.einsum("nki,nkj->nij", a, b))
    assert Dot(axes=1).compute_output_shape([(None, 4, 3), (None, 4, 2)]) == (None, 3, 2)
    assert Dot(axes=-1).compute_output_shape([(None, 4), (None, 4)]) == (None, 1)
    # normalize=True: cosine similarity
    a, b = arrays((5, 4), (5, 4))
    cosine = np.sum(a * b, 1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    np.testing.assert_allclose(Dot(axes=1, normalize=True, dtype="float64")([a, b]).numpy()[:, 0],
                               cosine, rtol=1e-12)


@pytest.mark.parametrize("make, shapes", [
    (Add, [(2, 3), (2, 1)]), (Subtract, [(2, 3), (2, 3)]), (Multiply, [(2, 3), (2, 3), (2, 3)]),
    (Average, [(2, 3), (2, 3)]), (Maximum, [(2, 3), (2, 3)]), (Minimum, [(2, 3), (2, 1)]),
    (lambda **k: Concatenate(axis=1, **k), [(2, 3), (2, 2)]),
    (lambda **k: Dot(axes=(1, 2), **k), [(2, 3, 2), (2, 4, 3)]),
    (lambda **k: Dot(axes=1, normalize=True, **k), [(2, 3), (2, 3)]),
])
def test_gradients_match_finite_differences(make, shapes):
    layer = make(dtype="float64")
    tensors = [nnx.Tensor(x, requires_grad=True) for x in arrays(*shapes)]
    weights = RNG.standard_normal(layer(tensors).shape)
    assert nnx.gradcheck(lambda *ts: (layer(list(ts)) * weights).sum(), tensors)


def test_errors_name_the_layer_and_shapes():
    with pytest.raises(ValueError, match=r"Add 'a1'.*\(2, 3\).*\(2, 4\)"):
        Add(name="a1")(arrays((2, 3), (2, 4)))
    with pytest.raises(ValueError, match=r"Subtract 's1': expects 2 inputs, got 3"):
        Subtract(name="s1")(arrays((2, 3), (2, 3), (2, 3)))
    with pytest.raises(ValueError, match=r"Add 'a2': a merge layer is called on a list of inputs"):
        Add(name="a2")(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"different batch sizes"):
        Multiply()(arrays((2, 3), (3, 3)))
    with pytest.raises(ValueError, match=r"Concatenate 'c1'.*matching shapes except.*"
                                         r"\(2, 3, 4\), \(2, 2, 5\)"):
        Concatenate(name="c1")(arrays((2, 3, 4), (2, 2, 5)))
    with pytest.raises(ValueError, match=r"Dot 'd1': incompatible input shapes: axis values 3 .* 4"):
        Dot(1, name="d1")(arrays((2, 3), (2, 4)))
    with pytest.raises(ValueError, match=r"batch axis"):
        Dot(0)(arrays((2, 3), (2, 3)))
    with pytest.raises(ValueError, match=r"Dense 'dense_x': expects one input, got a list of 2"):
        Dense(2, name="dense_x")(arrays((2, 3), (2, 3)))


def test_errors_at_graph_building_time():
    a, b = Input((3,)), Input((4,))
    with pytest.raises(ValueError, match=r"Add 'add_g'.*\(None, 3\), \(None, 4\)"):
        Add(name="add_g")([a, b])
    with pytest.raises(ValueError, match=r"Dot 'dot_g'.*axis values 3.*4"):
        Dot(axes=1, name="dot_g")([a, b])
    out = Concatenate()([a, b])
    assert out.shape == (None, 7)
    assert Dot(axes=1)([a, Input((3,))]).shape == (None, 1)


def test_configs_round_trip():
    for layer in (Concatenate(axis=1), Dot(axes=(1, 2), normalize=True), Add(), Maximum()):
        clone = type(layer).from_config(layer.get_config())
        assert clone.get_config() == layer.get_config()
