"""Regularizers: penalties by hand (Keras 3's formulas, keras/src/regularizers/regularizers.py),
names and configs, and the layer side: weight penalties on every layer with weights, activity
penalties of the last call (not divided by the batch size, keras/src/layers/layer.py), `losses` of
nested layers, gradients, and configs that save them."""
import numpy as np
import pytest

import nnx
from nnx import layers, regularizers
from nnx.models import Sequential

W = np.array([[1.0, -2.0], [0.5, 0.0]])


def test_penalties_by_hand():
    x = nnx.Tensor(W)
    assert float(regularizers.L1()(x).data) == pytest.approx(0.01 * 3.5)
    assert float(regularizers.L2(0.1)(x).data) == pytest.approx(0.1 * 5.25)
    assert float(regularizers.L1L2(l1=0.2, l2=0.3)(x).data) == pytest.approx(0.2 * 3.5 + 0.3 * 5.25)
    assert float(regularizers.L1L2()(x).data) == 0.0                  # Keras' defaults: both 0


def test_penalty_gradients():
    x = nnx.Tensor(W.copy(), requires_grad=True)
    regularizers.L1L2(l1=0.2, l2=0.3)(x).backward()
    np.testing.assert_allclose(x.grad, 0.2 * np.sign(W) + 0.3 * 2 * W)


def test_names_configs_and_errors():
    assert type(regularizers.get("l1")) is regularizers.L1 and regularizers.get("l1").l1 == 0.01
    assert type(regularizers.get("l2")) is regularizers.L2 and regularizers.get("l2").l2 == 0.01
    assert type(regularizers.get("l1_l2")) is regularizers.L1L2
    reg = regularizers.L1L2(l1=0.5, l2=0.25)
    again = regularizers.get(regularizers.serialize(reg))
    assert type(again) is regularizers.L1L2 and again.get_config() == {"l1": 0.5, "l2": 0.25}
    with pytest.raises(ValueError, match="did you mean 'l2'"):
        regularizers.get("l22")
    with pytest.raises(ValueError, match="l2 must be non-negative"):
        regularizers.L2(-1.0)
    with pytest.raises(ValueError, match="class_name"):
        regularizers.get({"class_name": "os.system"})
    with pytest.raises(ValueError, match="cannot be saved"):
        regularizers.serialize(lambda x: x.sum())


def _penalty(layer):
    return sum(float(p.data) for p in layer.losses)


@pytest.mark.parametrize("make,x,weights", [
    (lambda **r: layers.Dense(3, **r), np.ones((2, 4), np.float32), ("kernel", "bias")),
    (lambda **r: layers.Conv2D(2, 3, **r), np.ones((1, 5, 5, 2), np.float32), ("kernel", "bias")),
    (lambda **r: layers.LSTM(3, **r), np.ones((2, 4, 2), np.float32),
     ("kernel", "recurrent_kernel", "bias")),
    (lambda **r: layers.Embedding(10, 3, **r), np.ones((2, 4), np.int64), ("embeddings",)),
    (lambda **r: layers.BatchNormalization(**r), np.ones((2, 3), np.float32), ("gamma", "beta")),
])
def test_every_layer_with_weights_takes_its_regularizers(make, x, weights):
    names = {"kernel": "kernel_regularizer", "bias": "bias_regularizer",
             "recurrent_kernel": "recurrent_regularizer", "embeddings": "embeddings_regularizer",
             "gamma": "gamma_regularizer", "beta": "beta_regularizer"}
    layer = make(**{names[w]: regularizers.L2(0.5) for w in weights})
    layer(x)
    rng = np.random.default_rng(0)
    layer.set_weights([rng.standard_normal(w.shape) for w in layer.get_weights()])
    expected = sum(0.5 * np.sum(getattr(layer, w).data.astype(np.float64) ** 2) for w in weights)
    assert _penalty(layer) == pytest.approx(expected, rel=1e-5)
    config = layer.get_config()
    assert all(config[names[w]] == {"class_name": "L2", "config": {"l2": 0.5}} for w in weights)
    assert type(layer).from_config(config).get_config() == config


def test_activity_penalty_is_from_the_last_call_and_not_averaged():
    layer = layers.Dense(2, kernel_initializer="ones", activity_regularizer="l1")
    layer(np.ones((4, 3), np.float32))
    assert _penalty(layer) == pytest.approx(0.01 * 4 * 2 * 3)         # sum |outputs|
    layer(np.ones((1, 3), np.float32))
    assert _penalty(layer) == pytest.approx(0.01 * 2 * 3)
    assert layer.get_config()["activity_regularizer"] == {"class_name": "L1", "config": {"l1": 0.01}}


def test_model_losses_collect_nested_layers_and_skip_frozen_ones():
    first = layers.Dense(3, kernel_regularizer="l2", input_shape=(2,))
    second = layers.Dense(1, kernel_regularizer=regularizers.L1(0.1), bias_regularizer="l2")
    model = Sequential([first, second])
    model.build_for((None, 2))
    expected = 0.01 * np.sum(first.kernel.data ** 2) + 0.1 * np.sum(np.abs(second.kernel.data))
    assert _penalty(model) == pytest.approx(expected, rel=1e-5)
    second.trainable = False
    assert _penalty(model) == pytest.approx(0.01 * np.sum(first.kernel.data ** 2), rel=1e-5)


def test_add_weight_takes_a_regularizer_and_unknown_arguments_are_refused():
    layer = layers.Dense(1)
    w = layer.add_weight(name="extra", shape=(2,), initializer="ones", regularizer="l1")
    assert float(w.regularizer(w).data) == pytest.approx(0.02)
    with pytest.raises(TypeError, match="recurrent_regularizer"):
        layers.Dense(2, recurrent_regularizer="l2")


def test_has_penalties_tells_training_whether_to_sum_them():
    plain = Sequential([layers.Dense(2, input_shape=(3,)), layers.Dense(1)])
    plain.build_for((None, 3))
    assert not plain.has_penalties()
    weighted = Sequential([layers.Dense(2, input_shape=(3,)), layers.Dense(1, bias_regularizer="l2")])
    weighted.build_for((None, 3))
    assert weighted.has_penalties()
    active = Sequential([layers.Dense(2, activity_regularizer="l1", input_shape=(3,))])
    assert active.has_penalties()
