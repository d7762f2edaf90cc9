"""Integer labels are checked once by the model's data checks (for all batches of fit, evaluate and the
*_on_batch methods), not again by the softmax cross-entropy at every step; bad labels still get a clear
error naming the model, before anything is trained, and a direct train_step still checks them."""
import numpy as np
import pytest

import nnx
from nnx.functional import losses as functional_losses
from nnx.labels import class_labels
from nnx.layers import Dense
from nnx.models import Sequential


def model_and_data(n=64, seed=0):
    nnx.manual_seed(seed)
    model = Sequential([Dense(8, activation="relu", input_shape=(5,)), Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    rng = np.random.default_rng(seed)
    return model, rng.standard_normal((n, 5)).astype(np.float32), rng.integers(0, 3, n)


def test_the_loss_does_not_check_labels_again_in_fit(monkeypatch):
    checks = []
    real = functional_losses.class_labels
    monkeypatch.setattr(functional_losses, "class_labels",
                        lambda *a, checked=False: checks.append(checked) or real(*a, checked=checked))
    model, x, y = model_and_data()
    model.fit(x, y, batch_size=16, epochs=2, verbose=0)
    model.evaluate(x, y, batch_size=32, verbose=0)
    model.train_on_batch(x[:8], y[:8])
    assert checks == [True] * (8 + 2 + 1)       # fit's 8 steps, evaluate's 2, one train_on_batch


@pytest.mark.parametrize("labels", [np.array([[0], [2], [1], [1]] * 16, np.float64),
                                    np.array([0, 2, 1, 1] * 16, np.uint8)])
def test_labels_in_other_dtypes_and_shapes_train_as_integer_labels(labels):
    results = []
    for y in (labels, labels.reshape(-1).astype(np.int64)):
        model, x, _ = model_and_data()
        history = model.fit(x, y, batch_size=16, epochs=1, verbose=0, shuffle=False)
        results.append((history.history["loss"], [w.copy() for w in model.get_weights()]))
    assert results[0][0] == results[1][0]
    for a, b in zip(results[0][1], results[1][1]):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("bad,message", [
    (3, r"labels must lie in \[0, 3\) for outputs shape \(64, 3\), got values in \[0, 3\]"),
    (-1, r"labels must lie in \[0, 3\).*got values in \[-1, 2\]"),
    (0.5, r"y must hold integer class indices \(whole numbers\)"),
])
def test_bad_labels_are_refused_before_training_naming_the_model(bad, message):
    model, x, y = model_and_data()
    y = y.astype(np.float64)
    y[7] = bad
    before = [w.copy() for w in model.get_weights()]
    for call in (lambda: model.fit(x, y, batch_size=16, verbose=0),
                 lambda: model.evaluate(x, y, verbose=0),
                 lambda: model.train_on_batch(x, y)):
        with pytest.raises(ValueError, match=r"Sequential 'sequential(_\d+)?'\.\w+: " + message):
            call()
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert model.optimizer.iterations == 0


def test_a_direct_train_step_still_checks_its_labels():
    model, x, y = model_and_data()
    model.fit(x, y, batch_size=16, verbose=0)
    with pytest.raises(ValueError, match=r"sparse_softmax_cross_entropy: labels must lie in \[0, 3\)"):
        model.train_step([x[:4]], [np.array([0, 1, 5, 2])])


def test_class_labels_checked_only_converts():
    labels = class_labels(np.array([[2.0], [0.0]]), (2, 3), "op", checked=True)
    assert labels.dtype == np.intp and labels.tolist() == [2, 0]
    with pytest.raises(ValueError, match="op: labels must lie in"):
        class_labels(np.array([[3.0], [0.0]]), (2, 3), "op")
