"""Metrics, Keras 3's (keras/src/metrics/): functions and stateful objects, all in NumPy outside
the autograd graph (y_pred may also be a Tensor).

Functions `(y_true, y_pred) -> per-sample float32 array`: one value per sample (for sequence
outputs the extra axes are averaged), so their mean is Keras' metric value.

Objects (`Metric`): `update_state(y_true, y_pred, sample_weight=None)` accumulates a batch,
`result()` gives the value over everything since `reset_state()`, `.name` is the key in logs.
Mean metrics (accuracies, MSE, MAE, RMSE) keep a weighted sum and a count; Precision, Recall and
AUC keep true/false positive/negative counts per threshold (`y_pred > threshold`, O(N x T) per
batch); F1Score keeps per-class counts.

`get('accuracy', loss)` picks the accuracy that fits the loss, as Keras does: sparse categorical
cross-entropy -> sparse_categorical_accuracy, categorical -> categorical_accuracy, binary ->
binary_accuracy (threshold 0.5). For other losses it decides from the shapes at call time, by
Keras 3's rule: a prediction with one unit is binary; labels of lower rank than the prediction, or
with a last axis of 1 against several units, are sparse; otherwise categorical.
"""

import numpy as np

from nnx.labels import class_labels
from nnx.tensor import Tensor
from nnx.utils.names import unknown_name_error

FLOATX = np.float32
EPSILON = 1e-7


def _array(x):
    return np.asarray(x.data if isinstance(x, Tensor) else x)


def _per_sample(values):
    """Average everything but the batch axis."""
    values = values.astype(FLOATX, copy=False)
    return values.reshape(len(values), -1).mean(axis=1) if values.ndim > 1 else values


def _checked(y_true, y_pred, name):
    y_true, y_pred = _array(y_true), _array(y_pred)
    if y_pred.ndim == 0:
        raise ValueError(f"{name}: y_pred needs a batch axis, got a scalar")
    if y_true.ndim == 0 or len(y_true) != len(y_pred):
        raise ValueError(f"{name}: y_true shape {y_true.shape} and y_pred shape {y_pred.shape} "
                         f"have different batch sizes")
    return y_true, y_pred


def _same_shape(y_true, y_pred, name):
    """y_true reshaped to y_pred's shape where only a trailing axis of 1 differs, as in Keras."""
    y_true, y_pred = _checked(y_true, y_pred, name)
    if (y_true.shape == y_pred.shape[:-1] and y_pred.shape[-1:] == (1,)
            or y_true.shape[:-1] == y_pred.shape and y_true.shape[-1:] == (1,)):
        y_true = y_true.reshape(y_pred.shape)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"{name}: y_true shape {y_true.shape} does not match y_pred shape "
                         f"{y_pred.shape}")
    return y_true, y_pred


def _sparse_labels(y_true, y_pred, name):
    """Integer labels in [0, K) of y_pred's batch shape (a trailing axis of 1 is dropped)."""
    y_true, y_pred = _checked(y_true, y_pred, name)
    return class_labels(y_true, y_pred.shape, name), y_pred


# --- metric functions -----------------------------------------------------------------------------
def sparse_categorical_accuracy(y_true, y_pred):
    """1 where argmax(y_pred) equals the integer label (labels (N,) or (N, 1))."""
    y_true, y_pred = _sparse_labels(y_true, y_pred, "sparse_categorical_accuracy")
    return _per_sample(y_pred.argmax(axis=-1) == y_true)


def categorical_accuracy(y_true, y_pred):
    """1 where argmax(y_pred) equals argmax(y_true) (one-hot or probability targets)."""
    name = "categorical_accuracy"
    y_true, y_pred = _checked(y_true, y_pred, name)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"{name}: y_true shape {y_true.shape} does not match y_pred shape "
                         f"{y_pred.shape}")
    return _per_sample(np.argmax(y_pred, axis=-1) == np.argmax(y_true, axis=-1))


def binary_accuracy(y_true, y_pred, threshold=0.5):
    """Share of elements where (y_pred > threshold) equals y_true, averaged over the last axis."""
    y_true, y_pred = _same_shape(y_true, y_pred, "binary_accuracy")
    return _per_sample((y_pred > threshold) == y_true)


def accuracy(y_true, y_pred):
    """1 where y_pred equals y_true exactly (Keras' plain 'Accuracy': for class ids, not scores)."""
    y_true, y_pred = _same_shape(y_true, y_pred, "accuracy")
    return _per_sample(y_pred == y_true)


def _in_top_k(scores, labels, k):
    """True where fewer than k classes score strictly higher than the label (ties straddling the
    k-th place count as inside, as tf.math.in_top_k)."""
    target = np.take_along_axis(scores, labels[..., None].astype(np.intp), axis=-1)
    return np.sum(scores > target, axis=-1) < k


def sparse_top_k_categorical_accuracy(y_true, y_pred, k=5):
    y_true, y_pred = _sparse_labels(y_true, y_pred, "sparse_top_k_categorical_accuracy")
    return _per_sample(_in_top_k(y_pred, y_true, k))


def top_k_categorical_accuracy(y_true, y_pred, k=5):
    name = "top_k_categorical_accuracy"
    y_true, y_pred = _checked(y_true, y_pred, name)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"{name}: y_true shape {y_true.shape} does not match y_pred shape "
                         f"{y_pred.shape}")
    return _per_sample(_in_top_k(y_pred, np.argmax(y_true, axis=-1), k))


def mean_squared_error(y_true, y_pred):
    y_true, y_pred = _same_shape(y_true, y_pred, "mean_squared_error")
    return _per_sample(np.square(y_pred - y_true.astype(y_pred.dtype, copy=False)))


def mean_absolute_error(y_true, y_pred):
    y_true, y_pred = _same_shape(y_true, y_pred, "mean_absolute_error")
    return _per_sample(np.abs(y_pred - y_true.astype(y_pred.dtype, copy=False)))


def accuracy_by_shape(y_true, y_pred):
    """Keras 3's 'accuracy' when the loss does not decide: chosen from the shapes."""
    y_true, y_pred = _array(y_true), _array(y_pred)
    if y_pred.ndim and y_pred.shape[-1] == 1:
        return binary_accuracy(y_true, y_pred)
    if y_true.ndim < y_pred.ndim or (y_true.ndim and y_true.shape[-1] == 1):
        return sparse_categorical_accuracy(y_true, y_pred)
    return categorical_accuracy(y_true, y_pred)


# --- stateful metric objects ----------------------------------------------------------------------
def _sample_weights(sample_weight, n, name):
    """Per-sample weights of shape (n,) (a scalar, (n,) or (n, 1)), or None."""
    if sample_weight is None:
        return None
    w = _array(sample_weight).astype(np.float64)
    if w.ndim == 2 and w.shape[1] == 1:
        w = w[:, 0]
    if w.ndim == 0:
        w = np.full(n, float(w))
    if w.shape != (n,):
        raise ValueError(f"{name}: sample_weight shape {w.shape} does not fit a batch of {n} samples; "
                         f"expected a scalar, ({n},) or ({n}, 1)")
    return w


class Metric:
    """A stateful metric (Keras 3's API): `update_state(y_true, y_pred, sample_weight=None)`
    accumulates a batch, `result()` is the value over everything seen since `reset_state()`."""

    def __init__(self, name):
        self.name = name
        self.reset_state()

    def update_state(self, y_true, y_pred, sample_weight=None):
        raise NotImplementedError

    def result(self):
        raise NotImplementedError

    def reset_state(self):
        raise NotImplementedError

    def __call__(self, y_true, y_pred, sample_weight=None):
        """Keras' shortcut: update the state with this batch and return the result."""
        self.update_state(y_true, y_pred, sample_weight=sample_weight)
        return self.result()

    def get_config(self):
        return {"name": self.name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"{type(self).__name__}(name={self.name!r})"


class MeanMetricWrapper(Metric):
    """The weighted mean of per-sample values `fn(y_true, y_pred, **kwargs)`; `values(y_true,
    y_pred)` gives one batch's per-sample values without touching the state."""

    def __init__(self, fn, name=None, **kwargs):
        if not callable(fn):
            raise TypeError(f"MeanMetricWrapper: fn must be callable, got {type(fn).__name__}")
        self.fn, self._fn_kwargs = fn, kwargs
        super().__init__(name or getattr(fn, "__name__", "metric"))

    def values(self, y_true, y_pred):
        return _array(self.fn(y_true, y_pred, **self._fn_kwargs))

    def update_state(self, y_true, y_pred, sample_weight=None):
        values = self.values(y_true, y_pred).astype(np.float64)
        values = values.reshape(len(values), -1).mean(axis=1) if values.ndim > 1 else values
        w = _sample_weights(sample_weight, len(values), self.name)
        if w is None:
            self.total += float(values.sum())
            self.count += len(values)
        else:
            self.total += float(values @ w)
            self.count += float(w.sum())

    def result(self):
        return self.total / self.count if self.count else 0.0

    def reset_state(self):
        self.total, self.count = 0.0, 0.0

    def get_config(self):
        return {"name": self.name, **self._fn_kwargs}


class Accuracy(MeanMetricWrapper):
    def __init__(self, name="accuracy"):
        super().__init__(accuracy, name)


class SparseCategoricalAccuracy(MeanMetricWrapper):
    def __init__(self, name="sparse_categorical_accuracy"):
        super().__init__(sparse_categorical_accuracy, name)


class CategoricalAccuracy(MeanMetricWrapper):
    def __init__(self, name="categorical_accuracy"):
        super().__init__(categorical_accuracy, name)


class BinaryAccuracy(MeanMetricWrapper):
    def __init__(self, name="binary_accuracy", threshold=0.5):
        super().__init__(binary_accuracy, name, threshold=threshold)
        self.threshold = threshold


class TopKCategoricalAccuracy(MeanMetricWrapper):
    def __init__(self, k=5, name="top_k_categorical_accuracy"):
        super().__init__(top_k_categorical_accuracy, name, k=int(k))


class SparseTopKCategoricalAccuracy(MeanMetricWrapper):
    def __init__(self, k=5, name="sparse_top_k_categorical_accuracy"):
        super().__init__(sparse_top_k_categorical_accuracy, name, k=int(k))


class MeanSquaredError(MeanMetricWrapper):
    def __init__(self, name="mean_squared_error"):
        super().__init__(mean_squared_error, name)


class MeanAbsoluteError(MeanMetricWrapper):
    def __init__(self, name="mean_absolute_error"):
        super().__init__(mean_absolute_error, name)


class RootMeanSquaredError(MeanMetricWrapper):
    """sqrt of the weighted mean squared error over everything seen."""

    def __init__(self, name="root_mean_squared_error"):
        super().__init__(mean_squared_error, name)

    def result(self):
        return float(np.sqrt(super().result()))


class _Confusion(Metric):
    """True/false positives/negatives at one or more thresholds, `y_pred > threshold` (Keras'
    metrics_utils.update_confusion_matrix_variables), weighted by sample_weight."""

    def _counts_init(self, thresholds):
        self.thresholds = np.asarray(thresholds, np.float64).reshape(-1)
        shape = self.thresholds.shape
        self.true_positives, self.false_positives = np.zeros(shape), np.zeros(shape)
        self.true_negatives, self.false_negatives = np.zeros(shape), np.zeros(shape)

    def _accumulate(self, y_true, y_pred, sample_weight):
        y_true, y_pred = _same_shape(y_true, y_pred, self.name)
        labels = y_true.astype(bool).reshape(-1)
        w = _sample_weights(sample_weight, len(y_pred), self.name)
        if w is None:
            w = np.ones(labels.shape)
        else:
            w = np.broadcast_to(w.reshape((-1,) + (1,) * (y_pred.ndim - 1)), y_pred.shape).reshape(-1)
        predicted = y_pred.reshape(-1, 1).astype(np.float64) > self.thresholds    # (elements, T)
        positive, negative = w * labels, w * ~labels
        self.true_positives += positive @ predicted
        self.false_positives += negative @ predicted
        self.false_negatives += positive @ ~predicted
        self.true_negatives += negative @ ~predicted

    def reset_state(self):
        for counts in ("true_positives", "false_positives", "true_negatives", "false_negatives"):
            getattr(self, counts)[...] = 0.0


def _divide_no_nan(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return np.divide(a, b, out=np.zeros(np.broadcast(a, b).shape), where=b != 0)


class _PrecisionRecall(_Confusion):
    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None):
        self.init_thresholds, self.top_k, self.class_id = thresholds, top_k, class_id
        self._counts_init(0.5 if thresholds is None else thresholds)
        super().__init__(name or type(self).__name__.lower())

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred = _array(y_true), _array(y_pred).astype(np.float64)
        if self.top_k is not None:     # Keras: everything outside the top k counts as -inf
            kth = -np.sort(-y_pred, axis=-1)[..., self.top_k - 1:self.top_k]
            y_pred = np.where(y_pred >= kth, y_pred, -np.inf)
        if self.class_id is not None:
            y_true, y_pred = y_true[..., self.class_id], y_pred[..., self.class_id]
        self._accumulate(y_true, y_pred, sample_weight)

    def _value(self, value):
        return float(value[0]) if self.init_thresholds is None or np.ndim(self.init_thresholds) == 0 \
            else [float(v) for v in value]

    def get_config(self):
        return {"name": self.name, "thresholds": self.init_thresholds, "top_k": self.top_k,
                "class_id": self.class_id}


class Precision(_PrecisionRecall):
    """tp / (tp + fp) at `thresholds` (default 0.5); 0 when nothing is predicted positive."""

    def result(self):
        return self._value(_divide_no_nan(self.true_positives,
                                          self.true_positives + self.false_positives))


class Recall(_PrecisionRecall):
    """tp / (tp + fn) at `thresholds` (default 0.5); 0 when there are no positive labels."""

    def result(self):
        return self._value(_divide_no_nan(self.true_positives,
                                          self.true_positives + self.false_negatives))


class AUC(_Confusion):
    """Area under the ROC or PR curve from confusion counts at `num_thresholds` thresholds spread
    evenly over [0, 1] (plus -eps and 1 + eps), summed as Keras does: trapezoids ('interpolation';
    for PR, Davis & Goadrich's interpolation), 'minoring' or 'majoring' rectangles."""

    def __init__(self, num_thresholds=200, curve="ROC", summation_method="interpolation", name=None,
                 thresholds=None, multi_label=False, num_labels=None, label_weights=None,
                 from_logits=False):
        if multi_label or num_labels is not None or label_weights is not None:
            raise ValueError("AUC: multi_label, num_labels and label_weights are not supported; "
                             "use one AUC per label")
        curve, summation_method = str(curve).upper(), str(summation_method).lower()
        if curve not in ("ROC", "PR"):
            raise ValueError(f"AUC: curve must be 'ROC' or 'PR', got {curve!r}")
        if summation_method not in ("interpolation", "minoring", "majoring"):
            raise ValueError(f"AUC: summation_method must be 'interpolation', 'minoring' or "
                             f"'majoring', got {summation_method!r}")
        if thresholds is not None:
            inner = sorted(float(t) for t in thresholds)
            num_thresholds = len(inner) + 2
        else:
            if isinstance(num_thresholds, bool) or int(num_thresholds) <= 1:
                raise ValueError(f"AUC: num_thresholds must be an integer > 1, got {num_thresholds!r}")
            num_thresholds = int(num_thresholds)
            inner = [(i + 1) / (num_thresholds - 1) for i in range(num_thresholds - 2)]
        self.num_thresholds, self.curve, self.summation_method = num_thresholds, curve, summation_method
        self.init_thresholds, self.from_logits = thresholds, bool(from_logits)
        self._counts_init([0.0 - EPSILON] + inner + [1.0 + EPSILON])
        super().__init__(name or "auc")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = _array(y_pred).astype(np.float64)
        if self.from_logits:
            y_pred = 1.0 / (1.0 + np.exp(-y_pred))
        self._accumulate(y_true, y_pred, sample_weight)

    def result(self):
        tp, fp, tn, fn = self.true_positives, self.false_positives, self.true_negatives, self.false_negatives
        if self.curve == "PR" and self.summation_method == "interpolation":
            return self._interpolated_pr_auc()
        recall = _divide_no_nan(tp, tp + fn)
        if self.curve == "ROC":
            x, y = _divide_no_nan(fp, fp + tn), recall
        else:
            x, y = recall, _divide_no_nan(tp, tp + fp)
        if self.summation_method == "interpolation":
            heights = (y[:-1] + y[1:]) / 2.0
        elif self.summation_method == "minoring":
            heights = np.minimum(y[:-1], y[1:])
        else:
            heights = np.maximum(y[:-1], y[1:])
        return float(np.sum((x[:-1] - x[1:]) * heights))

    def _interpolated_pr_auc(self):
        """Precision varies linearly in the predicted positives P between thresholds; the area of
        each interval is slope * (dTP + intercept * log(P_A / P_B)) / positives."""
        tp, fp, fn = self.true_positives, self.false_positives, self.false_negatives
        dtp = tp[:-1] - tp[1:]
        p = tp + fp
        dp = p[:-1] - p[1:]
        slope = _divide_no_nan(dtp, np.maximum(dp, 0))
        intercept = tp[1:] - slope * p[1:]
        both = (p[:-1] > 0) & (p[1:] > 0)
        ratio = np.where(both, _divide_no_nan(p[:-1], np.maximum(p[1:], 0)), 1.0)
        increments = _divide_no_nan(slope * (dtp + intercept * np.log(ratio)),
                                    np.maximum(tp[1:] + fn[1:], 0))
        return float(np.sum(increments))

    def get_config(self):
        config = {"name": self.name, "num_thresholds": self.num_thresholds, "curve": self.curve,
                  "summation_method": self.summation_method, "from_logits": self.from_logits}
        if self.init_thresholds is not None:
            config["thresholds"] = [float(t) for t in self.init_thresholds]
        return config


class F1Score(Metric):
    """Keras 3's F1Score (FBetaScore with beta=1): predictions are the argmax one-hot (all tied
    maxima; threshold=None) or y_pred > threshold; per-class tp, fp, fn accumulate;
    f1 = 2 p r / (p + r + eps) with p = tp / (tp + fp + eps), r = tp / (tp + fn + eps), eps=1e-7;
    average None (per class), 'micro' (pooled counts), 'macro' (mean) or 'weighted' (by support)."""

    def __init__(self, average=None, threshold=None, name="f1_score"):
        if average not in (None, "micro", "macro", "weighted"):
            raise ValueError(f"F1Score: average must be None, 'micro', 'macro' or 'weighted', got "
                             f"{average!r}")
        if threshold is not None and not 0.0 < float(threshold) <= 1.0:
            raise ValueError(f"F1Score: threshold must be in (0, 1], got {threshold!r}")
        self.average, self.threshold = average, threshold
        self.true_positives = None
        super().__init__(name)

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred = _checked(y_true, y_pred, self.name)
        if y_true.shape != y_pred.shape or y_pred.ndim != 2:
            raise ValueError(f"{self.name}: expected one-hot y_true and y_pred of one shape "
                             f"(batch, classes), got {y_true.shape} and {y_pred.shape}")
        y_true = y_true.astype(np.float64)
        if self.threshold is None:
            predicted = (y_pred == y_pred.max(axis=-1, keepdims=True)).astype(np.float64)
        else:
            predicted = (y_pred > self.threshold).astype(np.float64)
        w = _sample_weights(sample_weight, len(y_pred), self.name)
        w = np.ones((len(y_pred), 1)) if w is None else w[:, None]
        if self.true_positives is None:
            self._zeros(y_pred.shape[-1])
        elif self.true_positives.shape != (y_pred.shape[-1],):
            raise ValueError(f"{self.name}: built for {self.true_positives.shape[0]} classes, got "
                             f"y_pred shape {y_pred.shape}")
        self.true_positives += np.sum(predicted * y_true * w, axis=0)
        self.false_positives += np.sum(predicted * (1 - y_true) * w, axis=0)
        self.false_negatives += np.sum((1 - predicted) * y_true * w, axis=0)
        self.support += np.sum(y_true * w, axis=0)

    def _zeros(self, classes):
        self.true_positives, self.false_positives = np.zeros(classes), np.zeros(classes)
        self.false_negatives, self.support = np.zeros(classes), np.zeros(classes)

    def result(self):
        if self.true_positives is None:
            return 0.0
        tp, fp, fn = self.true_positives, self.false_positives, self.false_negatives
        if self.average == "micro":
            tp, fp, fn = tp.sum(), fp.sum(), fn.sum()
        precision = tp / (tp + fp + EPSILON)
        recall = tp / (tp + fn + EPSILON)
        f1 = 2.0 * precision * recall / (precision + recall + EPSILON)
        if self.average == "weighted":
            return float(np.sum(f1 * self.support / (self.support.sum() + EPSILON)))
        if self.average is not None:
            return float(np.mean(f1))
        return f1.tolist()

    def reset_state(self):
        if self.true_positives is not None:
            self._zeros(len(self.true_positives))

    def get_config(self):
        return {"name": self.name, "average": self.average, "threshold": self.threshold}


# --- lookup ---------------------------------------------------------------------------------------
_BY_NAME = {
    "Accuracy": Accuracy,
    "top_k_categorical_accuracy": TopKCategoricalAccuracy,
    "sparse_top_k_categorical_accuracy": SparseTopKCategoricalAccuracy,
    "root_mean_squared_error": RootMeanSquaredError, "rmse": RootMeanSquaredError,
    "precision": Precision, "recall": Recall, "auc": AUC, "f1_score": F1Score,
    "sparse_categorical_accuracy": SparseCategoricalAccuracy,
    "categorical_accuracy": CategoricalAccuracy,
    "binary_accuracy": BinaryAccuracy,
    "mean_squared_error": MeanSquaredError, "mse": MeanSquaredError,
    "mean_absolute_error": MeanAbsoluteError, "mae": MeanAbsoluteError,
}
_BY_NAME.update({cls.__name__: cls for cls in set(_BY_NAME.values())})
_ACCURACY_FOR_LOSS = {
    "sparse_categorical_crossentropy": sparse_categorical_accuracy,
    "categorical_crossentropy": categorical_accuracy,
    "binary_crossentropy": binary_accuracy,
}


def _loss_name(loss):
    """Canonical name of a built-in loss (name, function or object), else None."""
    if loss is None:
        return None
    from nnx import losses
    try:
        return losses.serialize(type(losses.get(loss))())   # the class's name, whatever its config
    except (ValueError, TypeError):
        return None


def get(identifier, loss=None):
    """A metric from a name ('accuracy' / 'acc' resolved by `loss`, 'sparse_categorical_accuracy',
    'mse', ...), a metric object or class or a function `fn(y_true, y_pred)` giving
    per-sample values. The result's `.name` is the key used in logs and History."""
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return identifier()
    if isinstance(identifier, str):
        if identifier in ("accuracy", "acc"):
            fn = _ACCURACY_FOR_LOSS.get(_loss_name(loss), accuracy_by_shape)
            return MeanMetricWrapper(fn, name=identifier)
        cls = _BY_NAME.get(identifier) or _BY_NAME.get(identifier.lower())
        if cls is None:
            raise unknown_name_error("metrics.get", "metric", identifier,
                                     ["accuracy"] + sorted(_BY_NAME))
        return cls(name=identifier) if identifier[:1].islower() else cls()
    if callable(identifier):
        return MeanMetricWrapper(identifier)
    raise TypeError(f"metrics.get: expected a name, metric or function, got "
                    f"{type(identifier).__name__}")
