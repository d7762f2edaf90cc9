"""Functional models: graphs of layers on symbolic tensors, checked against NumPy forward passes,
Keras 3's layer order (keras/src/ops/function.py: map_graph, layers by decreasing depth, ties in
traversal order), Keras 3's multi-output compile semantics (keras/src/trainers/compile_utils.py:
per-output unweighted `<output>_loss` logs, `<output>_<metric>` names, the total as the weighted
sum), the equivalence with Sequential, and training on MNIST subsets."""
import io

import numpy as np
import pytest

import nnx
from nnx.datasets import mnist
from nnx.layers import (Activation, Add, Concatenate, Conv2D, Dense, Flatten, Input, InputLayer,
                        MaxPooling2D, SymbolicTensor)
from nnx.models import Model, Sequential


@pytest.fixture(scope="module")
def digits():
    (x, y), (xt, yt) = mnist.load_data()
    scale = lambda a: (a / 255.0).astype(np.float32)[..., None]   # noqa: E731
    return (scale(x[:2000]), y[:2000]), (scale(xt[:500]), yt[:500])


def relu(a):
    return np.maximum(a, 0)


def softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


# --- symbolic tensors and graph building -------------------------------------------------------------
def test_input_and_layer_calls_make_symbolic_tensors():
    x = Input(shape=(28, 28, 1), name="pixels")
    assert isinstance(x, SymbolicTensor) and x.shape == (None, 28, 28, 1) and x.dtype == np.float32
    assert isinstance(x.layer, InputLayer) and x.layer.name == "pixels"
    conv = Conv2D(4, 3, name="c")
    y = conv(x)
    assert y.shape == (None, 26, 26, 4) and y.layer is conv and conv.built
    assert conv.output is y and conv.input is x
    assert conv.kernel.shape == (3, 3, 1, 4)        # built while the graph was written
    with pytest.raises(TypeError, match="symbolic"):
        np.asarray(y)


def test_shape_errors_at_graph_building_name_layer_and_both_shapes():
    x = Input((28, 28, 1))
    dense = Dense(8, name="d8")
    dense(Input((16,)))
    with pytest.raises(ValueError, match=r"Dense 'd8': expected input with 16 on axis -1 \(built for "
                                         r"input shape \(None, 16\)\), got shape \(None, 32\)"):
        dense(Input((32,)))
    with pytest.raises(ValueError, match=r"Conv2D 'c2'.*rank 4.*got shape \(None, 16\)"):
        Conv2D(2, 3, name="c2")(Input((16,)))
    with pytest.raises(ValueError, match=r"Conv2D 'c3'.*"):
        Conv2D(2, 30, name="c3")(x)     # kernel larger than the image
    assert dense.inbound_nodes and len(dense.inbound_nodes) == 1   # failed calls record nothing


def test_model_matches_numpy_forward():
    nnx.manual_seed(0)
    inp = Input((5,))
    out = Dense(3, activation="softmax")(Dense(8, activation="relu")(inp))
    model = Model(inp, out)
    x = np.random.default_rng(1).standard_normal((7, 5)).astype(np.float32)
    k1, b1, k2, b2 = model.get_weights()
    expected = softmax(relu(x @ k1 + b1) @ k2 + b2)
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model(x).numpy(), expected, rtol=1e-5, atol=1e-6)
    assert model.input is inp and model.output is out and model.inputs == [inp]


def test_layers_in_keras_order_fix_get_weights():
    inp = Input((4,), name="in")
    early = Dense(3, name="early")          # made first, but nearer the output than deep1
    deep1, deep2 = Dense(5, name="deep1"), Dense(3, name="deep2")
    out = Add(name="sum")([deep2(deep1(inp)), early(inp)])
    model = Model(inp, out)
    # depths from the output: sum 0, deep2 and early 1 (traversal meets deep2 first), deep1 2, in 3
    assert [l.name for l in model.layers] == ["in", "deep1", "deep2", "early", "sum"]
    shapes = [w.shape for w in model.get_weights()]
    assert shapes == [(4, 5), (5,), (5, 3), (3,), (4, 3), (3,)]
    assert model.get_layer("early") is early and model.get_layer(index=1) is deep1
    with pytest.raises(ValueError, match="no layer named 'nope'"):
        model.get_layer("nope")
    with pytest.raises(ValueError, match="index 9"):
        model.get_layer(index=9)


def test_shared_layer_has_one_weight_set_and_gets_both_gradients():
    a, b = Input((3,), dtype="float64"), Input((3,), dtype="float64")
    shared = Dense(2, name="shared", dtype="float64")
    model = Model([a, b], Add()([shared(a), shared(b)]))
    assert len(model.weights) == 2 and len(shared.inbound_nodes) == 2
    xa, xb = np.random.default_rng(0).standard_normal((2, 4, 3))
    k, bias = shared.get_weights()
    np.testing.assert_allclose(model.predict([xa, xb], verbose=0), xa @ k + xb @ k + 2 * bias)
    loss = model([xa, xb]).sum()
    loss.backward()
    np.testing.assert_allclose(shared.kernel.grad, (xa + xb).sum(0)[:, None] * np.ones((1, 2)))


def test_nested_models_used_as_layers_share_weights():
    inner = Sequential([Dense(4, activation="relu", input_shape=(3,)), Dense(2)])
    x = Input((3,))
    branch = Model(x, Dense(2, name="tail")(x))
    inp = Input((3,))
    outer = Model(inp, Concatenate()([inner(inp), branch(inp)]))
    data = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    expected = np.concatenate([inner.predict(data, verbose=0), branch.predict(data, verbose=0)], 1)
    np.testing.assert_allclose(outer.predict(data, verbose=0), expected, rtol=1e-6)
    assert len(outer.weights) == 6 and all(any(w is v for v in outer.weights) for w in inner.weights)


def test_feature_extractor_shares_weights_and_matches_inner_layer():
    nnx.manual_seed(0)
    inp = Input((6, 6, 1))
    h = Conv2D(3, 3, activation="relu", name="conv2d_a")(inp)
    h = Conv2D(2, 3, activation="relu", name="conv2d_b")(h)
    out = Dense(2, activation="softmax")(Flatten()(h))
    model = Model(inp, out)
    features = Model(model.inputs, model.get_layer("conv2d_b").output)
    x = np.random.default_rng(0).random((4, 6, 6, 1), dtype=np.float32)
    layers = model.get_layer("conv2d_a"), model.get_layer("conv2d_b")
    np.testing.assert_array_equal(features.predict(x, verbose=0), layers[1](layers[0](x)).numpy())
    assert all(a is b for a, b in zip(features.weights, model.weights[:4]))
    model.compile("sgd", "sparse_categorical_crossentropy")
    model.fit(x, np.array([0, 1, 0, 1]), epochs=2, verbose=0)      # training the model moves the
    np.testing.assert_array_equal(features.predict(x, verbose=0),  # extractor's weights too
                                  layers[1](layers[0](x)).numpy())


def test_graph_errors():
    a, b = Input((3,)), Input((3,))
    out = Add()([Dense(2)(a), Dense(2)(b)])
    with pytest.raises(ValueError, match="Graph disconnected"):
        Model(a, out)
    with pytest.raises(TypeError, match="symbolic tensors"):
        Model(np.zeros((2, 3)), out)
    c = Input((3,), name="same")
    with pytest.raises(ValueError, match="name 'same' is used 2 times"):
        Model(c, Dense(2, name="same")(c))
    model = Model([a, b], out)
    with pytest.raises(ValueError, match=r"input 'input_layer.*' expects shape \(None, 3\), got \(4, 5\)"):
        model.predict([np.zeros((4, 5)), np.zeros((4, 3))], verbose=0)
    with pytest.raises(ValueError, match="has 2 inputs"):
        model.predict(np.zeros((4, 3)), verbose=0)
    with pytest.raises(ValueError, match="lacks"):
        model.predict({a.layer.name: np.zeros((4, 3))}, verbose=0)


def test_summary_shows_connected_to():
    a = Input((4,), name="in_a")
    d = Dense(3, name="proj")
    out = Add(name="join")([d(a), Dense(3, name="other")(a)])
    text = io.StringIO()
    Model(a, out, name="net").summary(print_fn=lambda s: text.write(s))
    lines = text.getvalue().splitlines()
    assert "Connected to" in lines[2]
    assert any(l.split()[:2] == ["join", "(Add)"] and l.split()[-1] == "proj[0][0]" for l in lines)
    assert any(l.split() == ["other[0][0]"] for l in lines)
    assert any(l.split()[:2] == ["in_a", "(InputLayer)"] and l.split()[-1] == "-" for l in lines)
    assert "Total params: 30" in text.getvalue()


# --- training ------------------------------------------------------------------------------------------
def test_functional_trains_exactly_like_sequential():
    def stack():
        return [Dense(16, activation="relu"), Dense(3, activation="softmax")]

    rng = np.random.default_rng(0)
    x = rng.standard_normal((96, 4)).astype(np.float32)
    y = rng.integers(0, 3, 96)
    seq_layers, fn_layers = stack(), stack()
    seq = Sequential([Input((4,))] + seq_layers)
    inp = Input((4,))
    fn = Model(inp, fn_layers[1](fn_layers[0](inp)))
    fn.set_weights(seq.get_weights())
    for model in (seq, fn):
        model.compile(nnx.optimizers.Adam(0.01), "sparse_categorical_crossentropy", metrics=["accuracy"])
        nnx.manual_seed(3)
        model.history_ = model.fit(x, y, epochs=3, batch_size=16, verbose=0).history
    for a, b in zip(seq.get_weights(), fn.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert seq.history_ == fn.history_


def residual_cnn():
    inp = Input((28, 28, 1))
    x = Conv2D(8, 3, padding="same", activation="relu")(inp)
    x = MaxPooling2D()(x)
    y = Conv2D(8, 3, padding="same", activation="relu")(x)
    y = Conv2D(8, 3, padding="same")(y)
    x = Activation("relu")(Add()([x, y]))                    # the residual branch
    x = MaxPooling2D()(x)
    out = Dense(10, activation="softmax")(Flatten()(x))
    return Model(inp, out, name="resnet")


@pytest.mark.slow
def test_residual_cnn_trains_on_mnist_subset(digits):
    (x, y), (xt, yt) = digits
    nnx.manual_seed(0)
    model = residual_cnn()
    model.compile(nnx.optimizers.Adam(0.003), "sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=3, batch_size=32, verbose=0)
    assert history.history["loss"][2] < history.history["loss"][0]
    loss, acc = model.evaluate(xt, yt, verbose=0)
    assert acc > 0.88, acc
    # the loss from the logits equals NumPy's cross-entropy of the predicted probabilities
    p = model.predict(xt, verbose=0)
    np.testing.assert_allclose(loss, -np.mean(np.log(p[np.arange(len(yt)), yt])), rtol=1e-4)


def two_input_two_output():
    top, bottom = Input((14, 28), name="top"), Input((14, 28), name="bottom")
    shared = Dense(64, activation="relu", name="rows")           # one weight set for both halves
    h = Concatenate()([Flatten()(shared(top)), Flatten()(shared(bottom))])
    h = Dense(64, activation="relu")(h)
    digit = Dense(10, activation="softmax", name="digit")(h)
    even = Dense(1, activation="sigmoid", name="even")(h)
    return Model([top, bottom], [digit, even])


@pytest.mark.slow
def test_two_input_two_output_model_trains_on_mnist_subset(digits):
    (x, y), (xt, yt) = digits
    split = lambda a: [a[:, :14, :, 0], a[:, 14:, :, 0]]   # noqa: E731
    nnx.manual_seed(0)
    model = two_input_two_output()
    assert model.output_names == ["digit", "even"] and model.input_names == ["top", "bottom"]
    model.compile("adam", loss={"digit": "sparse_categorical_crossentropy", "even": "binary_crossentropy"},
                  loss_weights={"digit": 1.0, "even": 0.5},
                  metrics={"digit": "accuracy", "even": ["accuracy"]})
    history = model.fit(split(x), {"digit": y, "even": (y % 2 == 0)}, epochs=3, batch_size=32,
                        validation_split=0.1, verbose=0).history
    assert list(history) == ["loss", "digit_loss", "even_loss", "digit_accuracy", "even_accuracy",
                             "val_loss", "val_digit_loss", "val_even_loss", "val_digit_accuracy",
                             "val_even_accuracy"]
    results = model.evaluate(split(xt), [yt, (yt % 2 == 0)], verbose=0)
    loss, digit_loss, even_loss, digit_acc, even_acc = results
    assert digit_acc > 0.85 and even_acc > 0.85, results
    p_digit, p_even = model.predict(split(xt), verbose=0)
    assert p_digit.shape == (500, 10) and p_even.shape == (500, 1)
    # hand-computed from the predictions: per-output losses unweighted, the total weighted
    ce = -np.mean(np.log(p_digit[np.arange(500), yt]))
    t = (yt % 2 == 0)[:, None]
    p = np.clip(p_even, 1e-7, 1 - 1e-7)
    bce = -np.mean(t * np.log(p) + (1 - t) * np.log(1 - p))
    np.testing.assert_allclose([digit_loss, even_loss], [ce, bce], rtol=2e-3)
    np.testing.assert_allclose(loss, digit_loss + 0.5 * even_loss, rtol=1e-5)
    np.testing.assert_allclose(digit_acc, np.mean(p_digit.argmax(1) == yt), atol=1e-6)
    as_dict = model.evaluate({"top": split(xt)[0], "bottom": split(xt)[1]}, [yt, t], verbose=0,
                             return_dict=True)
    assert list(as_dict) == ["loss", "digit_loss", "even_loss", "digit_accuracy", "even_accuracy"]


def test_compile_argument_errors_name_outputs():
    model = two_input_two_output()
    with pytest.raises(ValueError, match=r"loss has 3 entries but the model has 2 outputs"):
        model.compile("adam", loss=["mse", "mse", "mse"])
    with pytest.raises(ValueError, match=r"names \['digits'\], which are not outputs"):
        model.compile("adam", loss={"digits": "mse"})
    with pytest.raises(ValueError, match=r"metrics has 1 entries but the model has 2 outputs"):
        model.compile("adam", loss="mse", metrics=["accuracy"])
    assert model.optimizer is None       # a failed compile leaves the model uncompiled
    model.compile("adam", loss=["sparse_categorical_crossentropy", None])
    out = model.evaluate([np.zeros((2, 14, 28))] * 2, [np.zeros(2), np.zeros((2, 1))], verbose=0,
                         return_dict=True)
    assert list(out) == ["loss", "digit_loss"]


def test_masks_flow_through_the_graph_as_in_sequential():
    from nnx.layers import LSTM, Embedding
    nnx.manual_seed(0)
    seq = Sequential([Embedding(20, 4, mask_zero=True), LSTM(3)])
    tokens = Input((None,))
    fn = Model(tokens, LSTM(3)(Embedding(20, 4, mask_zero=True)(tokens)))
    x = np.array([[3, 5, 0, 0, 0, 0], [1, 2, 3, 4, 5, 6]])
    seq.predict(x, verbose=0)
    fn.set_weights(seq.get_weights())
    np.testing.assert_array_equal(fn.predict(x, verbose=0), seq.predict(x, verbose=0))
    # the padding is masked: the same as the unpadded sequence
    np.testing.assert_allclose(fn.predict(x[:1], verbose=0), fn.predict(x[:1, :2], verbose=0), rtol=1e-6)


def test_resnet_example_cli_on_a_tiny_budget(digits, monkeypatch, capsys):
    from nnx.examples import mnist_cnn, resnet_mnist
    (x, y), (xt, yt) = digits
    monkeypatch.setattr(mnist_cnn, "load", lambda limit=None: ((x[:64], y[:64]), (xt[:64], yt[:64])))
    accuracy = resnet_mnist.main(["--epochs", "1", "--save", ""])
    out = capsys.readouterr().out
    assert "Connected to" in out and "block_1_add (Add)" in out and "Test accuracy" in out
    assert 0.0 <= accuracy <= 1.0
