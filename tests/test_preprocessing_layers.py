"""Normalization and Rescaling: Keras 3's docstring values
(keras/src/layers/preprocessing/normalization.py, rescaling.py), adapt against NumPy's mean and
population variance (whole arrays, batches, Datasets), axis choices, invert, and statistics that
travel with the model through save / load."""
import numpy as np
import pytest

import nnx
from nnx.data import Dataset
from nnx.layers import Dense, Normalization, Rescaling
from nnx.models import Sequential, load_model


def test_keras_docstring_examples():
    layer = Normalization(axis=None)
    layer.adapt(np.array([1.0, 2.0, 3.0, 4.0, 5.0], np.float32))
    np.testing.assert_allclose(layer(np.array([1.0, 2.0, 3.0], np.float32)).data,
                               [-1.4142135, -0.70710677, 0.0], rtol=1e-6)
    given = Normalization(mean=3.0, variance=2.0)
    np.testing.assert_allclose(given(np.array([[1.0], [2.0], [3.0]], np.float32)).data,
                               [[-1.4142135], [-0.70710677], [0.0]], rtol=1e-6)
    inverse = Normalization(mean=3.0, variance=2.0, invert=True)
    np.testing.assert_allclose(inverse(np.array([[-1.4142135], [0.0]], np.float32)).data,
                               [[1.0], [3.0]], rtol=1e-6)


def test_adapt_per_channel_and_per_axes():
    rng = np.random.default_rng(0)
    x = rng.normal(5.0, 3.0, (40, 6, 6, 3)).astype(np.float32)
    channel = Normalization()
    channel.adapt(x)
    np.testing.assert_allclose(channel.mean.data, x.astype(np.float64).mean(axis=(0, 1, 2)), rtol=1e-6)
    np.testing.assert_allclose(channel.variance.data, x.astype(np.float64).var(axis=(0, 1, 2)), rtol=1e-6)
    out = channel(x).data
    np.testing.assert_allclose(out.mean(axis=(0, 1, 2)), 0.0, atol=1e-5)
    np.testing.assert_allclose(out.std(axis=(0, 1, 2)), 1.0, rtol=1e-4)
    pixel = Normalization(axis=(1, 2))
    pixel.adapt(x)
    assert pixel.mean.shape == (6, 6)
    np.testing.assert_allclose(pixel.mean.data, x.astype(np.float64).mean(axis=(0, 3)), rtol=1e-6)


def test_adapt_in_batches_matches_the_whole_array():
    rng = np.random.default_rng(1)
    x = rng.normal(1e3, 1.0, (103, 4)).astype(np.float32)       # a large offset: needs Chan's update
    y = np.zeros(103)
    whole, batched, from_dataset = Normalization(), Normalization(), Normalization()
    whole.adapt(x)
    batched.adapt(np.array_split(x, 7))
    from_dataset.adapt(Dataset.from_tensor_slices((x, y)).batch(10))
    for layer in (batched, from_dataset):
        np.testing.assert_allclose(layer.mean.data, whole.mean.data, rtol=1e-6)
        np.testing.assert_allclose(layer.variance.data, x.astype(np.float64).var(axis=0), rtol=1e-4)
        assert float(layer.count.data) == 103


def test_statistics_are_saved_with_the_model(tmp_path):
    rng = np.random.default_rng(2)
    x_train = rng.normal(10.0, 4.0, (50, 3)).astype(np.float32)
    x_test = rng.normal(-10.0, 1.0, (20, 3)).astype(np.float32)  # other statistics: must not be used
    norm = Normalization(input_shape=(3,))
    model = Sequential([norm, Dense(2)])
    norm.adapt(x_train)
    model.compile(optimizer="sgd", loss="mse")
    before = model.predict(x_test, verbose=0)
    model.save(tmp_path / "m.nnx")
    loaded = load_model(tmp_path / "m.nnx")
    np.testing.assert_array_equal(loaded.predict(x_test, verbose=0), before)
    np.testing.assert_allclose(loaded.layers[0].mean.data, x_train.astype(np.float64).mean(axis=0),
                               rtol=1e-6)
    assert norm.trainable_weights == []                          # statistics are not trained


def test_rescaling_and_gradients():
    images = np.array([[0, 128, 255]], np.uint8)
    out = Rescaling(1 / 127.5, offset=-1.0)(images)
    assert out.dtype == np.float32
    # float32: x * scale (up to 2) rounds to 2 * 2^-24 and the offset adds as much
    np.testing.assert_allclose(out.data, [[-1.0, 128 / 127.5 - 1, 1.0]], rtol=0, atol=4 * 2.0 ** -24)
    x = nnx.Tensor(np.ones((2, 3)), requires_grad=True)
    layer = Normalization(mean=1.0, variance=4.0, dtype="float64")
    layer(x).sum().backward()
    np.testing.assert_allclose(x.grad, 0.5)
    assert Rescaling.from_config(Rescaling(0.5, 2.0).get_config()).get_config()["offset"] == 2.0


def test_bad_arguments():
    with pytest.raises(ValueError, match="both mean and variance"):
        Normalization(mean=1.0)
    with pytest.raises(ValueError, match="axis"):
        Normalization(axis="last")
    with pytest.raises(ValueError, match="out of range"):
        Normalization(axis=3).adapt(np.ones((4, 2)))
    with pytest.raises(ValueError, match="no data"):
        Normalization().adapt([])
    with pytest.raises(TypeError, match="scale"):
        Rescaling("half")
    with pytest.raises(ValueError, match=r"variance of shape \(3,\)"):
        Normalization(mean=[0.0, 0.0], variance=[1.0, 1.0, 1.0])(np.ones((2, 2), np.float32))
