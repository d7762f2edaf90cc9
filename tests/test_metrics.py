"""Metrics: per-sample values (`.values`; calling an object updates it, as in Keras), 'accuracy' resolved by the loss (and by shapes), names, errors."""
import numpy as np
import pytest

import nnx
from nnx import losses, metrics

PROBS = np.array([[0.1, 0.7, 0.2],    # argmax 1
                  [0.5, 0.3, 0.2],    # argmax 0
                  [0.2, 0.2, 0.6],    # argmax 2
                  [0.3, 0.4, 0.3]])   # argmax 1


def test_sparse_categorical_accuracy():
    out = metrics.sparse_categorical_accuracy(np.array([1, 2, 2, 0]), PROBS)
    assert out.dtype == np.float32 and out.shape == (4,)
    np.testing.assert_array_equal(out, [1, 0, 1, 0])
    np.testing.assert_array_equal(metrics.sparse_categorical_accuracy([[1], [0], [2], [1]], PROBS), 1)
    np.testing.assert_array_equal(
        metrics.sparse_categorical_accuracy(np.array([1.0, 0.0, 0.0, 1.0], np.float32), PROBS),
        [1, 1, 0, 1])
    # Tensor predictions are accepted
    np.testing.assert_array_equal(
        metrics.sparse_categorical_accuracy(np.array([1, 0, 2, 1], np.uint8), nnx.Tensor(PROBS)), 1)


def test_categorical_accuracy():
    one_hot = np.eye(3)[[1, 2, 2, 0]]
    np.testing.assert_array_equal(metrics.categorical_accuracy(one_hot, PROBS), [1, 0, 1, 0])


def test_binary_accuracy_threshold_and_shapes():
    y_pred = np.array([[0.2], [0.51], [0.5], [0.9]])
    y_true = np.array([0.0, 1.0, 1.0, 1.0])
    # Keras: y_pred > threshold (strict), so exactly 0.5 counts as 0
    np.testing.assert_array_equal(metrics.binary_accuracy(y_true, y_pred), [1, 1, 0, 1])
    np.testing.assert_array_equal(metrics.binary_accuracy(y_true[:, None], y_pred), [1, 1, 0, 1])
    np.testing.assert_array_equal(metrics.binary_accuracy(y_true, y_pred, threshold=0.3), [1, 1, 1, 1])
    multi = metrics.binary_accuracy(np.array([[1, 0, 1, 1]]), np.array([[0.9, 0.1, 0.2, 0.8]]))
    np.testing.assert_allclose(multi, [0.75])


def test_regression_metrics():
    t, p = np.array([[1.0, 2.0], [0.0, 0.0]]), np.array([[1.5, 2.0], [1.0, -1.0]])
    np.testing.assert_allclose(metrics.mean_squared_error(t, p), [0.125, 1.0])
    np.testing.assert_allclose(metrics.mean_absolute_error(t, p), [0.25, 1.0])
    np.testing.assert_allclose(metrics.get("mae").values(np.array([1.0, 2.0]),
                                                         np.array([[2.0], [2.0]])), [1.0, 0.0])


def test_sequence_outputs_average_over_time():
    y_pred = np.zeros((2, 3, 4))
    y_pred[..., 1] = 1.0
    labels = np.array([[1, 1, 0], [1, 1, 1]])
    np.testing.assert_allclose(metrics.sparse_categorical_accuracy(labels, y_pred), [2 / 3, 1.0])


@pytest.mark.parametrize("loss,expected", [
    ("sparse_categorical_crossentropy", metrics.sparse_categorical_accuracy),
    (losses.SparseCategoricalCrossentropy(from_logits=True), metrics.sparse_categorical_accuracy),
    (losses.sparse_categorical_crossentropy, metrics.sparse_categorical_accuracy),
    ("categorical_crossentropy", metrics.categorical_accuracy),
    (losses.CategoricalCrossentropy(), metrics.categorical_accuracy),
    ("binary_crossentropy", metrics.binary_accuracy),
    (losses.BinaryCrossentropy(from_logits=True), metrics.binary_accuracy),
    ("mse", metrics.accuracy_by_shape),
    (None, metrics.accuracy_by_shape),
    (lambda t, p: (p - t) ** 2, metrics.accuracy_by_shape),
])
@pytest.mark.parametrize("name", ["accuracy", "acc"])
def test_accuracy_resolved_by_loss(loss, expected, name):
    m = metrics.get(name, loss)
    assert m.fn is expected and m.name == name


def test_accuracy_by_shape_follows_keras3_rule():
    np.testing.assert_array_equal(metrics.accuracy_by_shape(np.array([1, 0, 2, 1]), PROBS), 1)  # sparse
    np.testing.assert_array_equal(metrics.accuracy_by_shape(np.array([[1], [0], [2], [1]]), PROBS), 1)
    np.testing.assert_array_equal(metrics.accuracy_by_shape(np.eye(3)[[1, 0, 2, 0]], PROBS),
                                  [1, 1, 1, 0])                                             # categorical
    np.testing.assert_array_equal(metrics.accuracy_by_shape(np.array([1.0, 0.0]),
                                                            np.array([[0.8], [0.7]])), [1, 0])  # binary


def test_get_names_objects_and_functions():
    assert metrics.get("sparse_categorical_accuracy").name == "sparse_categorical_accuracy"
    assert metrics.get("SparseCategoricalAccuracy").name == "sparse_categorical_accuracy"
    assert metrics.get("mse").name == "mse"
    assert isinstance(metrics.get("mean_absolute_error"), metrics.MeanAbsoluteError)
    m = metrics.BinaryAccuracy(threshold=0.9)
    assert metrics.get(m) is m
    np.testing.assert_array_equal(m.values(np.array([1.0]), np.array([[0.8]])), [0])
    assert m(np.array([1.0, 1.0]), np.array([[0.8], [0.95]])) == 0.5    # Keras: update + result

    def hits(y_true, y_pred):
        return (np.asarray(y_pred)[:, 0] > 0).astype(np.float32)
    custom = metrics.get(hits)
    assert custom.name == "hits"
    np.testing.assert_array_equal(custom.values(None, np.array([[1.0], [-1.0]])), [1, 0])


def test_unknown_names_suggest():
    with pytest.raises(ValueError, match="did you mean 'accuracy'"):
        metrics.get("acuracy")
    with pytest.raises(ValueError, match="did you mean 'binary_accuracy'"):
        metrics.get("binary_acuracy", "binary_crossentropy")
    with pytest.raises(TypeError):
        metrics.get(5)


def test_bad_shapes():
    with pytest.raises(ValueError, match=r"sparse_categorical_accuracy.*\(4, 2\).*\(4, 3\)"):
        metrics.sparse_categorical_accuracy(np.zeros((4, 2)), PROBS)
    with pytest.raises(ValueError, match=r"categorical_accuracy: y_true shape \(4, 2\)"):
        metrics.categorical_accuracy(np.zeros((4, 2)), PROBS)
    with pytest.raises(ValueError, match="batch sizes"):
        metrics.sparse_categorical_accuracy(np.zeros(3), PROBS)
    with pytest.raises(ValueError, match=r"binary_accuracy: y_true shape \(2, 3\)"):
        metrics.binary_accuracy(np.zeros((2, 3)), np.zeros((2, 2)))


def test_get_accepts_a_class():
    assert metrics.get(metrics.CategoricalAccuracy).name == "categorical_accuracy"
