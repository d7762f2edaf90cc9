"""Stateful metrics: Keras 3's docstring examples (keras/src/metrics/accuracy_metrics.py,
confusion_metrics.py, f_score_metrics.py, regression_metrics.py), hand-computed edge cases
(all-negative labels, ties at the AUC thresholds, nothing predicted positive), accumulation over
batches with sample weights, reset, names in `get`, and AUC against the exact rank statistic."""
import numpy as np
import pytest

from nnx import metrics


def test_keras_docstring_values():
    m = metrics.Accuracy()
    m.update_state([[1], [2], [3], [4]], [[0], [2], [3], [4]])
    assert m.result() == pytest.approx(0.75)
    m = metrics.TopKCategoricalAccuracy(k=1)
    m.update_state([[0, 0, 1], [0, 1, 0]], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]])
    assert m.result() == pytest.approx(0.5)
    m.reset_state()
    m.update_state([[0, 0, 1], [0, 1, 0]], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]], sample_weight=[0.7, 0.3])
    assert m.result() == pytest.approx(0.3)
    m = metrics.SparseTopKCategoricalAccuracy(k=1)
    m.update_state([2, 1], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]])
    assert m.result() == pytest.approx(0.5)
    m = metrics.RootMeanSquaredError()
    m.update_state([[0, 1], [0, 0]], [[1, 1], [0, 0]])
    assert m.result() == pytest.approx(0.5)
    for cls in (metrics.Precision, metrics.Recall):
        m = cls()
        m.update_state([0, 1, 1, 1], [1, 0, 1, 1])
        assert m.result() == pytest.approx(2 / 3)
        m.reset_state()
        m.update_state([0, 1, 1, 1], [1, 0, 1, 1], sample_weight=[0, 0, 1, 0])
        assert m.result() == pytest.approx(1.0)
    m = metrics.AUC(num_thresholds=3)
    m.update_state([0, 0, 1, 1], [0, 0.5, 0.3, 0.9])
    assert m.result() == pytest.approx(0.75)
    m.reset_state()
    m.update_state([0, 0, 1, 1], [0, 0.5, 0.3, 0.9], sample_weight=[1, 0, 0, 1])
    assert m.result() == pytest.approx(1.0)
    m = metrics.F1Score(threshold=0.5)
    m.update_state(np.array([[1, 1, 1], [1, 0, 0], [1, 1, 0]], np.float32),
                   np.array([[0.2, 0.6, 0.7], [0.2, 0.6, 0.6], [0.6, 0.8, 0.0]], np.float32))
    np.testing.assert_allclose(m.result(), [0.5, 0.8, 2 / 3], rtol=1e-5)


def test_all_negative_labels_and_nothing_predicted():
    y_true, y_pred = np.zeros(4), np.array([0.1, 0.7, 0.2, 0.9])
    recall, precision, auc = metrics.Recall(), metrics.Precision(), metrics.AUC()
    for m in (recall, precision, auc):
        m.update_state(y_true, y_pred)
    assert recall.result() == 0.0          # 0 / 0 -> 0 (divide_no_nan)
    assert precision.result() == 0.0       # two false positives, no true ones
    assert auc.result() == 0.0             # the recall axis is 0 everywhere
    p = metrics.Precision()
    p.update_state([1, 0, 1], [0.1, 0.2, 0.3])  # nothing above 0.5
    assert p.result() == 0.0


def test_auc_ties_at_the_thresholds():
    # thresholds -eps, 0.5, 1+eps; y_pred > t is strict, so 0.5 counts as negative at 0.5
    m = metrics.AUC(num_thresholds=3)
    m.update_state([1, 0, 1, 0], [0.5, 0.5, 1.0, 0.0])
    # tp, fp at the three thresholds: (2, 2), (1, 0), (0, 0)
    np.testing.assert_array_equal(m.true_positives, [2, 1, 0])
    np.testing.assert_array_equal(m.false_positives, [2, 0, 0])
    np.testing.assert_array_equal(m.true_negatives, [0, 2, 2])
    # ROC points (fpr, tpr): (1, 1), (0, 0.5), (0, 0): trapezoids 1 * (1 + 0.5) / 2 + 0
    assert m.result() == pytest.approx(0.75)
    minor = metrics.AUC(num_thresholds=3, summation_method="minoring")
    minor.update_state([1, 0, 1, 0], [0.5, 0.5, 1.0, 0.0])
    assert minor.result() == pytest.approx(0.5)


def test_auc_matches_the_rank_statistic_when_thresholds_separate_the_scores():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 300)
    scores = np.clip(np.round(rng.normal(0.4 + 0.2 * labels, 0.2), 2), 0, 0.99) + 0.005  # ties too
    pos, neg = scores[labels == 1], scores[labels == 0]
    exact = np.mean((pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :]))
    m = metrics.AUC(num_thresholds=101)
    for chunk in np.array_split(np.arange(300), 3):          # accumulation over batches
        m.update_state(labels[chunk], scores[chunk])
    assert m.result() == pytest.approx(exact, abs=1e-12)


def test_pr_auc_interpolation_by_hand():
    # one threshold inside (0.5): P = tp + fp at [-eps, 0.5, 1+eps] = [4, 1, 0], tp = [2, 1, 0]
    m = metrics.AUC(num_thresholds=3, curve="PR")
    m.update_state([1, 1, 0, 0], [0.9, 0.2, 0.3, 0.1])
    # all positives: tp + fn = 2 at every threshold
    # interval 1: slope = 1/3, intercept = 1 - 1/3 = 2/3: (1/3)(1 + (2/3) log 4) / 2
    # interval 2: p_B = 0 -> ratio 1: slope 1 * (1 + 0) / 2
    first = (1 / 3) * (1 + (2 / 3) * np.log(4.0)) / 2
    assert m.result() == pytest.approx(first + 1 / 2)


def test_precision_recall_thresholds_top_k_and_class_id():
    m = metrics.Precision(thresholds=[0.3, 0.6])
    m.update_state([1, 0, 1, 0], [0.5, 0.4, 0.7, 0.2])
    assert m.result() == pytest.approx([2 / 3, 1.0])
    top = metrics.Precision(top_k=1)
    y_true, y_pred = [[1, 0, 1], [0, 0, 1]], [[0.9, 0.8, 0.7], [0.6, 0.9, 0.95]]
    top.update_state(y_true, y_pred)
    assert top.result() == pytest.approx(1.0)     # only 0.9 and 0.95 count, both right
    every = metrics.Precision()
    every.update_state(y_true, y_pred)
    assert every.result() == pytest.approx(0.5)   # all six above 0.5, three right
    recall = metrics.Recall(class_id=2)
    recall.update_state([[0, 0, 1], [0, 0, 1]], [[0.1, 0.1, 0.9], [0.9, 0.1, 0.2]])
    assert recall.result() == pytest.approx(0.5)


def test_mean_metrics_accumulate_with_sample_weights_and_reset():
    m = metrics.BinaryAccuracy()
    m.update_state([1, 0], [[0.9], [0.8]])                        # 1 of 2
    m.update_state([1, 1, 1], [[0.9], [0.8], [0.1]], sample_weight=[1.0, 1.0, 2.0])
    assert m.result() == pytest.approx((1 + 2) / (2 + 4))
    m.reset_state()
    assert m.result() == 0.0
    with pytest.raises(ValueError, match="sample_weight shape"):
        m.update_state([1, 0], [[0.9], [0.8]], sample_weight=[1.0, 2.0, 3.0])


def test_f1_averages():
    y_true = np.eye(3)[[0, 1, 2, 2]]
    y_pred = np.array([[0.8, 0.1, 0.1], [0.2, 0.3, 0.5], [0.1, 0.1, 0.8], [0.3, 0.4, 0.3]])
    # argmax one-hot: predicted 0, 2, 2, 1 -> per class tp (1, 0, 1), fp (0, 1, 1), fn (0, 1, 1)
    per_class = [1.0, 0.0, 0.5]
    results = {}
    for average in (None, "micro", "macro", "weighted"):
        m = metrics.F1Score(average=average)
        m.update_state(y_true, y_pred)
        results[average] = m.result()
    np.testing.assert_allclose(results[None], per_class, atol=1e-6)
    assert results["micro"] == pytest.approx(0.5, abs=1e-6)       # tp 2, fp 2, fn 2
    assert results["macro"] == pytest.approx(0.5, abs=1e-6)
    assert results["weighted"] == pytest.approx((1 * 1 + 0 * 1 + 0.5 * 2) / 4, abs=1e-6)


@pytest.mark.parametrize("name,cls", [
    ("precision", metrics.Precision), ("recall", metrics.Recall), ("auc", metrics.AUC),
    ("f1_score", metrics.F1Score), ("top_k_categorical_accuracy", metrics.TopKCategoricalAccuracy),
    ("sparse_top_k_categorical_accuracy", metrics.SparseTopKCategoricalAccuracy),
    ("root_mean_squared_error", metrics.RootMeanSquaredError), ("Accuracy", metrics.Accuracy),
    ("AUC", metrics.AUC),
])
def test_names(name, cls):
    m = metrics.get(name)
    assert type(m) is cls
    assert type(m).from_config(m.get_config()).get_config() == m.get_config()


def test_bad_arguments():
    with pytest.raises(ValueError, match="curve"):
        metrics.AUC(curve="DET")
    with pytest.raises(ValueError, match="num_thresholds"):
        metrics.AUC(num_thresholds=1)
    with pytest.raises(ValueError, match="average"):
        metrics.F1Score(average="mean")
    with pytest.raises(ValueError, match=r"precision: y_true shape \(3,\)"):
        metrics.Precision().update_state([1, 0, 1], [[0.5, 0.5]] * 3)
