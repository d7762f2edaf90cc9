"""Metrics: NumPy callables `(y_true, y_pred) -> per-sample float32 array`, each with a `.name`.

They run on plain arrays, outside the autograd graph (y_pred may also be a Tensor). Per-sample means
one value per sample: for sequence outputs the extra axes are averaged, so the mean of the result
is Keras' metric value.

`get('accuracy', loss)` picks the accuracy that fits the loss, as Keras does: sparse categorical
cross-entropy -> sparse_categorical_accuracy, categorical -> categorical_accuracy, binary ->
binary_accuracy (threshold 0.5). For other losses it decides from the shapes at call time, by
Keras 3's rule: a prediction with one unit is binary; labels of lower rank than the prediction, or
with a last axis of 1 against several units, are sparse; otherwise categorical.
"""

import numpy as np

from nnx.tensor import Tensor
from nnx.utils.names import unknown_name_error

FLOATX = np.float32


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


# --- metric functions -----------------------------------------------------------------------------
def sparse_categorical_accuracy(y_true, y_pred):
    """1 where argmax(y_pred) equals the integer label (labels (N,) or (N, 1))."""
    name = "sparse_categorical_accuracy"
    y_true, y_pred = _checked(y_true, y_pred, name)
    if y_true.shape == y_pred.shape[:-1] + (1,) and y_true.ndim == y_pred.ndim:
        y_true = y_true.reshape(y_true.shape[:-1])
    if y_true.shape != y_pred.shape[:-1]:
        raise ValueError(f"{name}: labels of shape {y_true.shape} do not fit y_pred shape "
                         f"{y_pred.shape} (expected {y_pred.shape[:-1]})")
    return _per_sample(np.argmax(y_pred, axis=-1) == y_true)


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


# --- metric objects -------------------------------------------------------------------------------
class MeanMetricWrapper:
    """A named metric around `fn(y_true, y_pred, **kwargs) -> per-sample values`."""

    def __init__(self, fn, name=None, **kwargs):
        if not callable(fn):
            raise TypeError(f"MeanMetricWrapper: fn must be callable, got {type(fn).__name__}")
        self.fn, self.name, self._fn_kwargs = fn, name or fn.__name__, kwargs

    def __call__(self, y_true, y_pred):
        return _array(self.fn(y_true, y_pred, **self._fn_kwargs))

    def __repr__(self):
        return f"{type(self).__name__}(name={self.name!r})"


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


class MeanSquaredError(MeanMetricWrapper):
    def __init__(self, name="mean_squared_error"):
        super().__init__(mean_squared_error, name)


class MeanAbsoluteError(MeanMetricWrapper):
    def __init__(self, name="mean_absolute_error"):
        super().__init__(mean_absolute_error, name)


# --- lookup ---------------------------------------------------------------------------------------
_BY_NAME = {
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
    if isinstance(identifier, MeanMetricWrapper):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, MeanMetricWrapper):
        return identifier()
    if isinstance(identifier, str):
        if identifier.lower() in ("accuracy", "acc"):
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
