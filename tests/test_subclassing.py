"""Subclassed layers and models: attribute tracking (also in lists, tuples and dicts, as Keras 3's
tracking in keras/src/layers/layer.py), freezing, `add_weight` with Keras 3's keywords, training,
summary, and use inside functional graphs; outputs against NumPy."""
import io

import numpy as np
import pytest

import nnx
from nnx.layers import Add, Dense, Input, Layer
from nnx.models import Model, Sequential


def relu(a):
    return np.maximum(a, 0)


def blobs(n=120, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    x = (np.eye(3, 4, dtype=np.float32)[y] * 3 + rng.standard_normal((n, 4))).astype(np.float32)
    return x, y


class MLP(Model):
    """Hidden layers in a list, the head in an attribute."""

    def __init__(self, widths=(16, 16), **kwargs):
        super().__init__(**kwargs)
        self.widths = list(widths)
        self.hidden = [Dense(w, activation="relu") for w in widths]
        self.head = Dense(3, activation="softmax")

    def call(self, inputs, training=False):
        for layer in self.hidden:
            inputs = layer(inputs)
        return self.head(inputs)

    def get_config(self):
        return {**super().get_config(), "widths": self.widths}


class TwoDense(Layer):
    """The issue's custom layer: two Dense layers in attributes."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.first = Dense(units, activation="relu")
        self.second = Dense(units)

    def call(self, inputs):                      # no training argument, as Keras allows
        return self.second(self.first(inputs))

    def get_config(self):
        return {**super().get_config(), "units": self.units}


class Affine(Layer):
    """A layer with its own weights from add_weight."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1], self.units), name="w")
        self.b = self.add_weight(shape=(self.units,), initializer="zeros", name="b")
        self.steps = self.add_weight(shape=None, initializer="zeros", trainable=False, name="steps")
        super().build(input_shape)

    def call(self, inputs, training=False):
        return inputs @ self.w + self.b

    def get_config(self):
        return {**super().get_config(), "units": self.units}


def test_layers_in_a_list_are_tracked_and_trained_by_fit():
    nnx.manual_seed(0)
    x, y = blobs()
    model = MLP()
    model.compile(nnx.optimizers.Adam(0.01), "sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=10, batch_size=16, verbose=0)
    assert len(model.trainable_weights) == 6
    assert model.layers == model.hidden + [model.head]
    before = model.get_weights()
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    assert all(np.abs(a - b).max() > 0 for a, b in zip(model.get_weights(), before))
    assert history.history["accuracy"][-1] > 0.9
    # predictions against NumPy with the tracked weights, in tracking order
    k1, b1, k2, b2, k3, b3 = model.get_weights()
    z = relu(relu(x @ k1 + b1) @ k2 + b2) @ k3 + b3
    expected = np.exp(z - z.max(1, keepdims=True))
    np.testing.assert_allclose(model.predict(x, verbose=0), expected / expected.sum(1, keepdims=True),
                               rtol=1e-5, atol=1e-6)


def test_custom_layer_with_sublayers_trains_and_counts_parameters():
    nnx.manual_seed(0)
    x, y = blobs()
    block = TwoDense(8)
    model = Sequential([Input((4,)), block, Dense(3, activation="softmax")])
    assert [w.shape for w in block.weights] == [(4, 8), (8,), (8, 8), (8,)]
    text = io.StringIO()
    model.summary(print_fn=text.write)
    assert "two_dense" in text.getvalue() and f"{4 * 8 + 8 + 8 * 8 + 8:,}" in text.getvalue()
    assert f"Total params: {4 * 8 + 8 + 8 * 8 + 8 + 8 * 3 + 3:,}" in text.getvalue()
    before = block.get_weights()
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, verbose=0)
    assert all(np.abs(a - b).max() > 0 for a, b in zip(block.get_weights(), before))


def test_tuples_dicts_and_nested_models_are_tracked_once():
    class Holder(Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            shared = Dense(2)
            self.pair = (shared, Dense(2))
            self.table = {"a": Dense(2), "again": shared}
            self.inner = Sequential([Dense(2, input_shape=(2,))])

        def call(self, x):
            x = self.pair[0](x) + self.pair[1](x) + self.table["a"](x) + self.table["again"](x)
            return self.inner(x)

    holder = Holder()
    holder(np.zeros((1, 2), np.float32))
    assert len(holder.sublayers()) == 4 and len(holder.weights) == 8   # shared Dense once


def test_trainable_false_freezes_everything_below():
    nnx.manual_seed(0)
    x, y = blobs()
    model = MLP()
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, verbose=0)
    model.hidden[0].trainable = False
    assert len(model.trainable_weights) == 4 and len(model.non_trainable_weights) == 2
    frozen = model.hidden[0].get_weights()
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, verbose=0)
    for a, b in zip(model.hidden[0].get_weights(), frozen):
        np.testing.assert_array_equal(a, b)
    model.trainable = False                   # the model freezes every layer it tracks
    assert model.trainable_weights == [] and all(not l.trainable for l in model.layers)
    model.trainable = True
    assert len(model.trainable_weights) == 6
    text = io.StringIO()
    model.hidden[1].trainable = False
    model.summary(print_fn=text.write)
    assert f"Non-trainable params: {16 * 16 + 16:,}" in text.getvalue()


def test_add_weight_keyword_signature():
    layer = Affine(3, dtype="float64")
    x = np.random.default_rng(0).standard_normal((5, 4))
    out = layer(x)
    np.testing.assert_allclose(out.numpy(), x @ layer.w.numpy())   # bias starts at zero
    assert layer.w.name == f"{layer.name}/w" and layer.steps.shape == () and not layer.steps.requires_grad
    assert layer.trainable_weights == [layer.w, layer.b] and layer.non_trainable_weights == [layer.steps]
    limit = np.sqrt(6 / (4 + 3))                                  # glorot_uniform, the default
    assert np.all(np.abs(layer.w.numpy()) <= limit) and np.abs(layer.w.numpy()).max() > 0
    with pytest.raises(TypeError):
        layer.add_weight((2, 2))                                  # keyword arguments only
    def regularizer(t):
        return (t * t).sum()
    w = layer.add_weight(shape=(2,), initializer="ones", regularizer=regularizer)
    assert w.regularizer is regularizer
    assert [float(p.data) for p in layer.losses] == [2.0]          # the penalty of w
    assert nnx.gradcheck(lambda t: (layer(t) * 1.0).sum(), [nnx.Tensor(x, requires_grad=True)])


def test_subclassed_model_with_two_inputs_and_two_outputs():
    class Siamese(Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.encoder = Dense(4, activation="relu")
            self.joint = Add()
            self.classes = Dense(3, activation="softmax")
            self.score = Dense(1)

        def call(self, inputs, training=False):
            a, b = inputs
            h = self.joint([self.encoder(a), self.encoder(b)])
            return [self.classes(h), self.score(h)]

    nnx.manual_seed(0)
    x, y = blobs()
    model = Siamese()
    model.compile("adam", loss=["sparse_categorical_crossentropy", "mse"], metrics=[["accuracy"], []])
    history = model.fit([x, x], [y, y.astype(np.float32)[:, None]], epochs=2, verbose=0)
    assert list(history.history) == ["loss", "output_0_loss", "output_1_loss", "output_0_accuracy"]
    probabilities, score = model.predict([x, x], verbose=0)
    assert probabilities.shape == (120, 3) and score.shape == (120, 1)
    assert len(model.weights) == 6


def test_subclassed_layer_in_a_functional_graph():
    inp = Input((4,))
    block = TwoDense(5)
    out = block(inp)
    assert out.shape == (None, 5)             # found by running call on one sample
    model = Model(inp, Dense(1)(out))
    assert len(model.weights) == 6
    x = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    np.testing.assert_allclose(model.predict(x, verbose=0),
                               model.layers[-1](block(x)).numpy(), rtol=1e-6)


def test_subclassed_model_builds_on_first_call_and_reports_unbuilt():
    model = MLP(widths=(8,))
    assert model.weights == []
    text = io.StringIO()
    model.summary(print_fn=text.write)
    assert "?" in text.getvalue() and "Total params: 0" in text.getvalue()
    model(np.zeros((2, 4), np.float32))
    assert [w.shape for w in model.weights] == [(4, 8), (8,), (8, 3), (3,)]


def test_build_with_an_input_shape_builds_the_layers_inside():
    model = MLP(widths=(8,))
    model.build((None, 4))
    assert [w.shape for w in model.weights] == [(4, 8), (8,), (8, 3), (3,)]
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    text = io.StringIO()
    model.summary(print_fn=text.write)
    assert "(None, 8)" in text.getvalue() and "Total params: 67" in text.getvalue()
