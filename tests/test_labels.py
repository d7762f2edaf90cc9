"""nnx.labels: the one check of integer class labels and ids behind the sparse losses, metrics and ops."""
import numpy as np
import pytest

import nnx
import nnx.functional as F
from nnx import losses, metrics
from nnx.labels import class_labels, integer_indices


def test_whole_floats_bools_and_tensors_become_intp_indices():
    for values in ([0.0, 2.0, 1.0], np.array([0, 2, 1], np.int32), nnx.Tensor([0.0, 2.0, 1.0])):
        out = integer_indices(values, "op", "ids")
        assert out.dtype == np.intp and out.tolist() == [0, 2, 1]
    assert integer_indices(np.array([True, False]), "op", "ids").tolist() == [1, 0]


@pytest.mark.parametrize("values, error, message", [
    ([0.0, 1.5], ValueError, r"op: ids must hold integer indices \(whole numbers\), got non-integer values \(shape \(2,\)\)"),
    ([0.0, np.nan], ValueError, "non-integer"),
    (np.array(["a", "b"]), TypeError, "op: ids must hold integer indices, got dtype <U1"),
])
def test_non_integer_values_are_refused(values, error, message):
    with pytest.raises(error, match=message):
        integer_indices(values, "op", "ids")


def test_class_labels_drop_a_trailing_axis_of_one_and_check_shape_and_range():
    assert class_labels([[2], [0]], (2, 3), "loss").tolist() == [2, 0]
    assert class_labels(np.zeros((2, 5)), (2, 5, 3), "loss").shape == (2, 5)
    with pytest.raises(ValueError, match=r"loss: y_true shape \(3,\) does not match y_pred shape \(2, 3\); "
                                         r"expected integer labels of shape \(2,\)"):
        class_labels([0, 1, 2], (2, 3), "loss", "y_true")
    with pytest.raises(ValueError, match=r"loss: labels must lie in \[0, 3\) for logits shape \(2, 3\), "
                                         r"got values in \[-1, 2\]"):
        class_labels([-1, 2], (2, 3), "loss", scores="logits")


def test_losses_metrics_and_ops_name_themselves_in_label_errors():
    scores = np.full((2, 3), 1 / 3)
    calls = {
        "sparse_categorical_crossentropy": lambda y: losses.sparse_categorical_crossentropy(y, scores),
        "sparse_softmax_cross_entropy": lambda y: F.sparse_softmax_cross_entropy(scores, y),
        "sparse_categorical_accuracy": lambda y: metrics.sparse_categorical_accuracy(y, scores),
        "sparse_top_k_categorical_accuracy":
            lambda y: metrics.sparse_top_k_categorical_accuracy(y, scores, k=1),
    }
    for who, call in calls.items():
        with pytest.raises(ValueError, match=rf"{who}: labels must lie in \[0, 3\).*\[0, 3\]"):
            call([0, 3])
        with pytest.raises(ValueError, match=rf"{who}: .* must hold integer class indices"):
            call([0, 0.5])
    with pytest.raises(ValueError, match=r"embedding: token ids must hold integer indices"):
        F.embedding([0.5], np.zeros((4, 2)))
