"""Weight and activity penalties, Keras 3's (keras/src/regularizers/regularizers.py):

    L1(l1=0.01)            l1 * sum(|x|)
    L2(l2=0.01)            l2 * sum(x^2)
    L1L2(l1=0.0, l2=0.0)   both terms

A regularizer maps a Tensor to a scalar Tensor (differentiable, so the penalty trains the weight).
Layers take them as `kernel_regularizer=`, `bias_regularizer=`, `activity_regularizer=`, ... by
object, class, name ('l1', 'l2', 'l1_l2') or config dict; `layer.losses` lists the penalties, and
`fit` adds their sum to the loss, as Keras does. Cost: one pass over the weight per step.
"""
import math

from nnx import functional as F
from nnx.utils.config import Configurable
from nnx.utils.names import get_by_name


def _factor(value, what, who):
    if isinstance(value, bool) or not isinstance(value, (int, float)) and not hasattr(value, "__float__"):
        raise TypeError(f"{who}: {what} must be a number, got {value!r}")
    value = float(value)
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{who}: {what} must be non-negative and finite, got {value}")
    return value


class Regularizer(Configurable):
    """Base class: `regularizer(x)` returns a scalar penalty Tensor."""

    def __call__(self, x):
        raise NotImplementedError


class L1L2(Regularizer):
    def __init__(self, l1=0.0, l2=0.0):
        self.l1 = _factor(l1, "l1", type(self).__name__)
        self.l2 = _factor(l2, "l2", type(self).__name__)

    def __call__(self, x):
        penalty = None
        if self.l1:
            penalty = self.l1 * F.sum(F.abs(x))
        if self.l2:
            term = self.l2 * F.sum(F.square(x))
            penalty = term if penalty is None else penalty + term
        return penalty if penalty is not None else F.sum(x) * 0.0

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}


class L1(L1L2):
    def __init__(self, l1=0.01):
        super().__init__(l1=l1)

    def get_config(self):
        return {"l1": self.l1}


class L2(L1L2):
    def __init__(self, l2=0.01):
        super().__init__(l2=l2)

    def get_config(self):
        return {"l2": self.l2}


_CLASSES = {"L1": L1, "L2": L2, "L1L2": L1L2}
_NAMES = {"l1": L1, "l2": L2, "l1_l2": L1L2, "l1l2": L1L2, **_CLASSES}


def get(identifier):
    """None, a Regularizer (returned unchanged), a class, a name ('l1', 'l2', 'l1_l2'), a config
    dict {'class_name', 'config'} or any callable `x -> scalar Tensor`."""
    if identifier is None:
        return None
    return get_by_name(identifier, "regularizers.get", "regularizer", Regularizer, _NAMES,
                       from_callable=lambda fn: fn)


def serialize(regularizer):
    """{'class_name', 'config'} of a built-in regularizer; a custom callable cannot be saved."""
    if type(regularizer) not in _CLASSES.values():
        raise ValueError(f"regularizers.serialize: {regularizer!r} is not a built-in regularizer, so "
                         f"it cannot be saved")
    return {"class_name": type(regularizer).__name__, "config": regularizer.get_config()}
