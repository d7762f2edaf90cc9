"""Losses with Keras' names, argument order `(y_true, y_pred)` and semantics.

Functions return PER-SAMPLE losses (the batch shape: the last axis is reduced), differentiable in
y_pred. Classes wrap a function; calling one returns the mean over the batch (Keras'
'sum_over_batch_size'), `.call` gives the per-sample values, and `.from_logits` says whether y_pred
holds logits.

From probabilities (from_logits=False) the formulas are Keras' (TensorFlow backend), with
EPSILON = 1e-7:
    binary_crossentropy        p = clip(y_pred, eps, 1-eps);  mean(-t log p - (1-t) log(1-p), -1)
    categorical_crossentropy   p = clip(y_pred / sum(y_pred, -1), eps, 1-eps);  -sum(t log p, -1)
    sparse_categorical_...     softmax cross-entropy of the logits log(clip(y_pred, eps, 1-eps)),
                               i.e. -log(p_y / sum(p)) with p clipped: renormalised like Keras
From logits they are the fused, stable ops of `nnx.functional` (finite for logits of +-1e4).
The clip passes no gradient where it clamps, as in Keras. As Keras 3 does, a cross-entropy declared
`from_logits=True` warns when y_pred came straight out of a softmax (probabilities, not logits).

The other losses of Keras 3 (keras/src/losses/losses.py), per sample over the last axis:
    huber                 e = y_pred - y_true: mean(0.5 e^2 if |e| <= delta else delta |e| - 0.5 delta^2)
    kl_divergence         t, p clipped to [eps, 1]: sum(t log(t / p))
    hinge                 labels {0, 1} become {-1, 1}: mean(max(1 - t p, 0))
    squared_hinge         mean(max(1 - t p, 0)^2)
    categorical_hinge     max(max((1 - t) p) - sum(t p) + 1, 0)
    log_cosh              mean(e + softplus(-2e) - log 2)
    cosine_similarity     -sum(l2_normalize(t) * l2_normalize(p)) over `axis`
    mean_squared_log...   mean((log(max(p, eps) + 1) - log(max(t, eps) + 1))^2)
    poisson               mean(p - t log(p + eps))
    binary_focal_cross... bce * (1 - p_t)^gamma (times alpha_t with apply_class_balancing)

Targets are cast to y_pred's dtype; a target of shape (N,) against a prediction of shape (N, 1)
(or the reverse) is reshaped to match, as Keras does; any other shape mismatch is a ValueError.
"""

import math
import warnings

import numpy as np

from nnx import functional as F
from nnx.labels import class_labels
from nnx.tensor import Tensor, as_array
from nnx.utils.config import Configurable
from nnx.utils.names import get_by_name

EPSILON = 1e-7


# --- input handling ------------------------------------------------------------------------------
def _prediction(y_pred, name):
    y_pred = y_pred if isinstance(y_pred, Tensor) else Tensor(as_array(y_pred, None, name))
    if y_pred.dtype.kind != "f":
        raise TypeError(f"{name}: y_pred must be floating point, got dtype {y_pred.dtype}")
    if y_pred.ndim == 0:
        raise ValueError(f"{name}: y_pred needs a batch axis, got a scalar")
    return y_pred


def _pair(y_true, y_pred, name, per_element=True):
    """(y_true, y_pred) as Tensors of y_pred's dtype and one shape. With per_element, a rank-1
    prediction (N,) counts as N samples of one value each, so the per-sample loss has shape (N,)."""
    y_pred = _prediction(y_pred, name)
    if isinstance(y_true, Tensor) and y_true.requires_grad:
        if y_true.dtype != y_pred.dtype:
            y_true = F.astype(y_true, y_pred.dtype)
    else:
        data = y_true.data if isinstance(y_true, Tensor) else y_true
        try:
            data = np.asarray(data, dtype=y_pred.dtype)
        except (TypeError, ValueError):
            raise TypeError(f"{name}: y_true must be numeric, "
                            f"got {type(y_true).__name__}") from None
        y_true = Tensor(data)
    shape_true, shape_pred = y_true.shape, y_pred.shape
    if shape_true == shape_pred[:-1] and shape_pred[-1] == 1 \
            or shape_true[:-1] == shape_pred and shape_true[-1:] == (1,):
        y_true = y_true.reshape(shape_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"{name}: y_true shape {shape_true} does not match y_pred shape "
                         f"{shape_pred}")
    if per_element and y_pred.ndim == 1:
        y_true, y_pred = y_true.reshape(-1, 1), y_pred.reshape(-1, 1)
    return y_true, y_pred


def _warn_if_probabilities(y_pred, from_logits, name):
    if from_logits and getattr(y_pred, "produced_by_softmax", False):
        warnings.warn(f"{name} received from_logits=True, but y_pred was produced by a softmax and "
                      f"so does not hold logits. Was this intended?", stacklevel=3)


# --- per-sample loss functions --------------------------------------------------------------------
def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False):
    """Cross-entropy of integer labels y_true (N,) or (N, 1) against y_pred (N, K)."""
    name = "sparse_categorical_crossentropy"
    y_pred = _prediction(y_pred, name)
    _warn_if_probabilities(y_pred, from_logits, name)
    labels = class_labels(y_true, y_pred.shape, name, "y_true")
    logits = y_pred if from_logits else F.log(F.clip(y_pred, EPSILON, 1.0 - EPSILON))
    return F.sparse_softmax_cross_entropy(logits, labels)


def categorical_crossentropy(y_true, y_pred, from_logits=False):
    """Cross-entropy of target distributions y_true (N, K) (e.g. one-hot) against y_pred (N, K)."""
    y_true, y_pred = _pair(y_true, y_pred, "categorical_crossentropy", per_element=False)
    _warn_if_probabilities(y_pred, from_logits, "categorical_crossentropy")
    if from_logits:
        return F.softmax_cross_entropy(y_pred, y_true)
    p = F.clip(y_pred / F.sum(y_pred, axis=-1, keepdims=True), EPSILON, 1.0 - EPSILON)
    return -F.sum(y_true * F.log(p), axis=-1)


def binary_crossentropy(y_true, y_pred, from_logits=False):
    """Binary cross-entropy per element, averaged over the last axis."""
    y_true, y_pred = _pair(y_true, y_pred, "binary_crossentropy")
    if from_logits:
        return F.binary_cross_entropy_with_logits(y_pred, y_true)
    p = F.clip(y_pred, EPSILON, 1.0 - EPSILON)
    return -F.mean(y_true * F.log(p) + (1.0 - y_true) * F.log(1.0 - p), axis=-1)


def mean_squared_error(y_true, y_pred):
    """mean((y_pred - y_true)^2) over the last axis."""
    y_true, y_pred = _pair(y_true, y_pred, "mean_squared_error")
    return F.mean(F.square(y_pred - y_true), axis=-1)


def mean_absolute_error(y_true, y_pred):
    """mean(|y_pred - y_true|) over the last axis."""
    y_true, y_pred = _pair(y_true, y_pred, "mean_absolute_error")
    return F.mean(F.abs(y_pred - y_true), axis=-1)


def huber(y_true, y_pred, delta=1.0):
    """0.5 e^2 where |e| <= delta, delta (|e| - 0.5 delta) beyond, averaged over the last axis;
    written as 0.5 a^2 + delta (|e| - a) with a = min(|e|, delta), the same value and gradient."""
    y_true, y_pred = _pair(y_true, y_pred, "huber")
    abs_error = F.abs(y_pred - y_true)
    inner = F.clip(abs_error, None, delta)
    return F.mean(0.5 * F.square(inner) + delta * (abs_error - inner), axis=-1)


def kl_divergence(y_true, y_pred):
    y_true, y_pred = _pair(y_true, y_pred, "kl_divergence")
    y_true, y_pred = F.clip(y_true, EPSILON, 1.0), F.clip(y_pred, EPSILON, 1.0)
    return F.sum(y_true * F.log(y_true / y_pred), axis=-1)


def _hinge_margin(y_true, y_pred, name):
    y_true, y_pred = _pair(y_true, y_pred, name)
    labels = y_true.data
    if np.all((labels == 0) | (labels == 1)):      # Keras: {0, 1} labels mean {-1, 1}
        y_true = 2.0 * y_true - 1.0
    return F.relu(1.0 - y_true * y_pred)


def hinge(y_true, y_pred):
    return F.mean(_hinge_margin(y_true, y_pred, "hinge"), axis=-1)


def squared_hinge(y_true, y_pred):
    return F.mean(F.square(_hinge_margin(y_true, y_pred, "squared_hinge")), axis=-1)


def categorical_hinge(y_true, y_pred):
    y_true, y_pred = _pair(y_true, y_pred, "categorical_hinge", per_element=False)
    positive = F.sum(y_true * y_pred, axis=-1)
    negative = F.max((1.0 - y_true) * y_pred, axis=-1)
    return F.relu(negative - positive + 1.0)


def log_cosh(y_true, y_pred):
    """log(cosh(e)) = e + softplus(-2e) - log 2, with softplus(z) = relu(z) + log(1 + e^-|z|)."""
    y_true, y_pred = _pair(y_true, y_pred, "log_cosh")
    e = y_pred - y_true
    z = -2.0 * e
    softplus = F.relu(z) + F.log(1.0 + F.exp(-F.abs(z)))
    return F.mean(e + softplus - math.log(2.0), axis=-1)


def cosine_similarity(y_true, y_pred, axis=-1):
    """Minus the cosine of the angle between y_true and y_pred along `axis` (-1: aligned)."""
    y_true, y_pred = _pair(y_true, y_pred, "cosine_similarity", per_element=False)

    def normalized(x):
        return x / F.sqrt(F.clip(F.sum(F.square(x), axis=axis, keepdims=True), 1e-12, None))
    return -F.sum(normalized(y_true) * normalized(y_pred), axis=axis)


def mean_squared_logarithmic_error(y_true, y_pred):
    y_true, y_pred = _pair(y_true, y_pred, "mean_squared_logarithmic_error")
    first = F.log(F.clip(y_pred, EPSILON, None) + 1.0)
    second = F.log(F.clip(y_true, EPSILON, None) + 1.0)
    return F.mean(F.square(first - second), axis=-1)


def poisson(y_true, y_pred):
    y_true, y_pred = _pair(y_true, y_pred, "poisson")
    return F.mean(y_pred - y_true * F.log(y_pred + EPSILON), axis=-1)


def binary_focal_crossentropy(y_true, y_pred, apply_class_balancing=False, alpha=0.25, gamma=2.0,
                              from_logits=False, label_smoothing=0.0):
    """Binary cross-entropy down-weighted by (1 - p_t)^gamma for well-classified elements."""
    y_true, y_pred = _pair(y_true, y_pred, "binary_focal_crossentropy")
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing
    if from_logits:
        y_pred = F.sigmoid(y_pred)
    p = F.clip(y_pred, EPSILON, 1.0 - EPSILON)
    bce = -(y_true * F.log(p) + (1.0 - y_true) * F.log(1.0 - p))
    p_t = y_true * y_pred + (1.0 - y_true) * (1.0 - y_pred)
    focal = (1.0 - p_t) ** gamma * bce
    if apply_class_balancing:
        focal = (y_true * alpha + (1.0 - y_true) * (1.0 - alpha)) * focal
    return F.mean(focal, axis=-1)


mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
kld = KLD = kl_divergence
logcosh = log_cosh
msle = MSLE = mean_squared_logarithmic_error


# --- reduction --------------------------------------------------------------------------------------
def reduce_weighted(per_sample, sample_weight=None, reduction="sum_over_batch_size", name="loss"):
    """Keras 3's reduction (keras/src/losses/loss.py): multiply the per-sample losses by
    `sample_weight` (a scalar, or one weight per sample: shape (N,) or (N, 1), broadcast over
    any further axes), then 'sum_over_batch_size' divides the sum by the number of values (not by
    the sum of the weights), 'sum' sums, 'none' returns the weighted values."""
    if sample_weight is not None:
        if per_sample.ndim == 0:
            raise ValueError(f"{name}: the loss gave one value for the whole batch, so sample "
                             f"weights cannot weight its samples; return per-sample losses")
        w = np.asarray(sample_weight.data if isinstance(sample_weight, Tensor) else sample_weight,
                       dtype=per_sample.dtype)
        if w.ndim >= 1 and per_sample.ndim >= 1:
            if w.ndim == 2 and w.shape[1] == 1 and per_sample.ndim == 1:
                w = w[:, 0]
            if w.shape[0] != per_sample.shape[0] or w.ndim > per_sample.ndim:
                raise ValueError(f"{name}: sample_weight shape {w.shape} does not fit the per-sample "
                                 f"losses of shape {per_sample.shape}")
            w = w.reshape(w.shape + (1,) * (per_sample.ndim - w.ndim))
        per_sample = per_sample * w
    if reduction == "none" or per_sample.ndim == 0:
        return per_sample
    if reduction == "sum":
        return per_sample.sum()
    return per_sample.mean()


# --- loss objects ---------------------------------------------------------------------------------
_REDUCTIONS = ("sum_over_batch_size", "sum", "none")


class Loss(Configurable):
    """A loss object: `loss(y_true, y_pred)` reduces the per-sample values of `call`.

    reduction: 'sum_over_batch_size' (the mean; Keras' default), 'sum', or 'none' / None (the
    per-sample Tensor)."""

    def __init__(self, name=None, reduction="sum_over_batch_size"):
        reduction = "none" if reduction is None else reduction
        if reduction not in _REDUCTIONS:
            raise ValueError(f"{type(self).__name__}: reduction must be one of {_REDUCTIONS}, "
                             f"got {reduction!r}")
        self.name = name or type(self).__name__
        self.reduction = reduction

    def call(self, y_true, y_pred):
        raise NotImplementedError

    def __call__(self, y_true, y_pred, sample_weight=None):
        return reduce_weighted(self.call(y_true, y_pred), sample_weight, self.reduction, self.name)

    def get_config(self):
        return {"name": self.name, "reduction": self.reduction}


class LossFunctionWrapper(Loss):
    """A Loss around a per-sample function `fn(y_true, y_pred, **kwargs)`."""

    def __init__(self, fn, name=None, reduction="sum_over_batch_size", **kwargs):
        if not callable(fn):
            raise TypeError(f"LossFunctionWrapper: fn must be callable, got {type(fn).__name__}")
        super().__init__(name or getattr(fn, "__name__", None), reduction)
        self.fn, self._fn_kwargs = fn, kwargs

    def call(self, y_true, y_pred):
        return self.fn(y_true, _prediction(y_pred, self.name), **self._fn_kwargs)

    def get_config(self):
        return {**super().get_config(), **self._fn_kwargs}


class _CrossEntropy(LossFunctionWrapper):
    """Base of the three cross-entropies: `from_logits` is part of the object."""
    _fn = None
    _default_name = None

    def __init__(self, from_logits=False, name=None, reduction="sum_over_batch_size"):
        super().__init__(type(self)._fn, name or self._default_name, reduction,
                         from_logits=bool(from_logits))
        self.from_logits = bool(from_logits)


class SparseCategoricalCrossentropy(_CrossEntropy):
    _fn = staticmethod(sparse_categorical_crossentropy)
    _default_name = "sparse_categorical_crossentropy"


class CategoricalCrossentropy(_CrossEntropy):
    _fn = staticmethod(categorical_crossentropy)
    _default_name = "categorical_crossentropy"


class BinaryCrossentropy(_CrossEntropy):
    _fn = staticmethod(binary_crossentropy)
    _default_name = "binary_crossentropy"


class MeanSquaredError(LossFunctionWrapper):
    def __init__(self, name="mean_squared_error", reduction="sum_over_batch_size"):
        super().__init__(mean_squared_error, name, reduction)


class MeanAbsoluteError(LossFunctionWrapper):
    def __init__(self, name="mean_absolute_error", reduction="sum_over_batch_size"):
        super().__init__(mean_absolute_error, name, reduction)


class Huber(LossFunctionWrapper):
    def __init__(self, delta=1.0, reduction="sum_over_batch_size", name="huber_loss"):
        super().__init__(huber, name, reduction, delta=float(delta))


class KLDivergence(LossFunctionWrapper):
    def __init__(self, reduction="sum_over_batch_size", name="kl_divergence"):
        super().__init__(kl_divergence, name, reduction)


class Hinge(LossFunctionWrapper):
    def __init__(self, reduction="sum_over_batch_size", name="hinge"):
        super().__init__(hinge, name, reduction)


class SquaredHinge(LossFunctionWrapper):
    def __init__(self, reduction="sum_over_batch_size", name="squared_hinge"):
        super().__init__(squared_hinge, name, reduction)


class CategoricalHinge(LossFunctionWrapper):
    def __init__(self, reduction="sum_over_batch_size", name="categorical_hinge"):
        super().__init__(categorical_hinge, name, reduction)


class LogCosh(LossFunctionWrapper):
    def __init__(self, reduction="sum_over_batch_size", name="log_cosh"):
        super().__init__(log_cosh, name, reduction)


class CosineSimilarity(LossFunctionWrapper):
    def __init__(self, axis=-1, reduction="sum_over_batch_size", name="cosine_similarity"):
        super().__init__(cosine_similarity, name, reduction, axis=int(axis))


class MeanSquaredLogarithmicError(LossFunctionWrapper):
    def __init__(self, reduction="sum_over_batch_size", name="mean_squared_logarithmic_error"):
        super().__init__(mean_squared_logarithmic_error, name, reduction)


class Poisson(LossFunctionWrapper):
    def __init__(self, reduction="sum_over_batch_size", name="poisson"):
        super().__init__(poisson, name, reduction)


class BinaryFocalCrossentropy(LossFunctionWrapper):
    def __init__(self, apply_class_balancing=False, alpha=0.25, gamma=2.0, from_logits=False,
                 label_smoothing=0.0, reduction="sum_over_batch_size",
                 name="binary_focal_crossentropy"):
        super().__init__(binary_focal_crossentropy, name, reduction,
                         apply_class_balancing=bool(apply_class_balancing), alpha=float(alpha),
                         gamma=float(gamma), from_logits=bool(from_logits),
                         label_smoothing=float(label_smoothing))
        self.from_logits = bool(from_logits)


# --- lookup ---------------------------------------------------------------------------------------
_CLASS_OF_FUNCTION = {
    sparse_categorical_crossentropy: SparseCategoricalCrossentropy,
    categorical_crossentropy: CategoricalCrossentropy,
    binary_crossentropy: BinaryCrossentropy,
    mean_squared_error: MeanSquaredError,
    mean_absolute_error: MeanAbsoluteError,
    huber: Huber, kl_divergence: KLDivergence, hinge: Hinge, squared_hinge: SquaredHinge,
    categorical_hinge: CategoricalHinge, log_cosh: LogCosh, cosine_similarity: CosineSimilarity,
    mean_squared_logarithmic_error: MeanSquaredLogarithmicError, poisson: Poisson,
    binary_focal_crossentropy: BinaryFocalCrossentropy,
}
_CANONICAL = {cls: fn.__name__ for fn, cls in _CLASS_OF_FUNCTION.items()}
_BY_NAME = {**{fn.__name__: cls for fn, cls in _CLASS_OF_FUNCTION.items()},
            **{cls.__name__: cls for cls in _CANONICAL},
            "mse": MeanSquaredError, "mae": MeanAbsoluteError, "kld": KLDivergence,
            "logcosh": LogCosh, "msle": MeanSquaredLogarithmicError}


def get(identifier):
    """A Loss object from a name ('sparse_categorical_crossentropy', 'mse', 'BinaryCrossentropy'),
    a config dict {'class_name': ..., 'config': {...}}, a Loss class, a Loss (returned unchanged) or
    a per-sample function `fn(y_true, y_pred)` (wrapped in a LossFunctionWrapper)."""
    return get_by_name(identifier, "losses.get", "loss", Loss, _BY_NAME, from_callable=_from_function)


def _from_function(fn):
    """The built-in Loss class of a built-in per-sample function, else a wrapper around `fn`."""
    cls = _CLASS_OF_FUNCTION.get(fn)
    return cls() if cls is not None else LossFunctionWrapper(fn)


def serialize(loss):
    """The canonical name of a built-in loss with default settings, else {'class_name', 'config'};
    a loss around a custom function cannot be serialised (ValueError)."""
    if isinstance(loss, str) or loss in _CLASS_OF_FUNCTION:
        loss = get(loss)
    cls = type(loss)
    if cls not in _CANONICAL:
        raise ValueError(f"losses.serialize: {loss!r} is not a built-in loss; it cannot be saved "
                         f"by name")
    config = loss.get_config()
    if config == cls().get_config():
        return _CANONICAL[cls]
    return {"class_name": cls.__name__, "config": config}
