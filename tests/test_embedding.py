"""Embedding: lookup, scatter-add gradient for repeated ids, mask_zero, and bad input."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

from nnx.functional import embedding
from nnx.layers.embedding import Embedding
from nnx.tensor import Tensor


def test_lookup_and_output_shape():
    layer = Embedding(7, 3, input_length=4)
    assert layer.input_shape_arg == (4,)
    ids = np.array([[1, 2, 0, 6], [6, 6, 5, 3]])
    y = layer(ids)
    assert y.shape == (2, 4, 3) == layer.compute_output_shape((2, 4))
    np.testing.assert_array_equal(y.data, layer.embeddings.data[ids])
    assert np.abs(layer.embeddings.data).max() <= 0.05          # Keras' 'uniform' initialiser


@given(vocab=st.integers(1, 6), dim=st.integers(1, 4), shape=st.lists(st.integers(1, 4), min_size=1,
       max_size=3), seed=st.integers(0, 2 ** 16))
def test_gradient_scatter_adds_repeated_ids(vocab, dim, shape, seed):
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, vocab, size=shape)
    table = Tensor(rng.normal(size=(vocab, dim)), requires_grad=True)
    g = rng.normal(size=tuple(shape) + (dim,))
    (embedding(ids, table) * g).sum().backward()
    want = np.zeros((vocab, dim))
    for index in np.ndindex(ids.shape):                          # one row at a time
        want[ids[index]] += g[index]
    np.testing.assert_allclose(table.grad, want, rtol=1e-12, atol=1e-12)


def test_layer_gradient_reaches_the_table_and_accepts_whole_floats():
    layer = Embedding(4, 2)
    y = layer(np.array([[3.0, 3.0, 1.0]]))
    y.sum().backward()
    np.testing.assert_array_equal(layer.embeddings.grad, [[0, 0], [1, 1], [0, 0], [2, 2]])


def test_mask_zero():
    ids = np.array([[4, 2, 0, 0], [1, 0, 0, 0]])
    np.testing.assert_array_equal(Embedding(5, 2, mask_zero=True).compute_mask(ids), ids != 0)
    assert Embedding(5, 2).compute_mask(ids) is None


@pytest.mark.parametrize("ids,match", [
    (np.array([[1, 7]]), r"Embedding 'words'.*token id 7.*input_dim=7"),
    (np.array([[-1, 2]]), r"Embedding 'words'.*token id -1"),
    (np.array([[0.5, 2.0]]), r"Embedding 'words'.*whole numbers"),
    ([[1, 2, 3], [4]], r"Embedding 'words'.*pad_sequences"),
])
def test_bad_ids_raise_value_errors_naming_the_layer(ids, match):
    with pytest.raises(ValueError, match=match):
        Embedding(7, 2, name="words")(ids)


def test_functional_checks_range_and_dtype():
    with pytest.raises(ValueError, match="embedding: token id 5"):
        embedding(np.array([5]), np.zeros((5, 2)))
    with pytest.raises(TypeError, match="embedding"):
        embedding(np.array(["a"]), np.zeros((5, 2)))


def test_config_round_trip():
    layer = Embedding(10, 4, mask_zero=True, input_length=6, name="emb")
    config = layer.get_config()
    assert Embedding.from_config(config).get_config() == config


def test_ragged_lists_given_to_a_model_suggest_pad_sequences():
    from nnx.layers import LSTM, Dense
    from nnx.models import Sequential
    model = Sequential([Embedding(10, 3), LSTM(2), Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    for call in (lambda: model.fit([[1, 2, 3], [4]], np.zeros(2), verbose=0),
                 lambda: model.predict([[1, 2, 3], [4]], verbose=0)):
        with pytest.raises(ValueError, match=r"Sequential .*pad_sequences"):
            call()
