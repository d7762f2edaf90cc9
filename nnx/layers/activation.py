"""Activation layers with arguments (Keras 3's keras/src/layers/activations/): ReLU, LeakyReLU, ELU,
PReLU (a learned slope per feature) and Softmax over any axis. Plain named activations are
`Activation('relu')`; these are for the ones that take parameters."""
import numpy as np

from nnx import activations, functional as F
from nnx.layers.base import Layer, format_shape


def non_negative(who, what, value, allow_none=False):
    """A float >= 0 (or None when allowed); errors name the layer and the argument."""
    if value is None and allow_none:
        return None
    if (isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating))
            or not value >= 0):
        raise ValueError(f"{who}: {what} must be a number >= 0, got {value!r}")
    return float(value)


class ReLU(Layer):
    """Keras 3's ReLU(max_value=None, negative_slope=0.0, threshold=0.0):
    f(x) = max_value for x >= max_value, x for threshold <= x < max_value,
    negative_slope * (x - threshold) otherwise."""
    supports_masking = True

    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, **kwargs):
        super().__init__(**kwargs)
        self.max_value = non_negative(self._who(), "max_value", max_value, allow_none=True)
        self.negative_slope = non_negative(self._who(), "negative_slope", negative_slope)
        self.threshold = non_negative(self._who(), "threshold", threshold)

    def call(self, inputs, training=False):
        if self.threshold:
            y = inputs * (inputs.data > self.threshold)
        else:
            y = F.relu(inputs)
        if self.max_value is not None:
            y = F.clip(y, 0.0, self.max_value)
        if self.negative_slope:
            y = y - self.negative_slope * F.relu(self.threshold - inputs)
        return y

    def get_config(self):
        return {**super().get_config(), "max_value": self.max_value,
                "negative_slope": self.negative_slope, "threshold": self.threshold}


class LeakyReLU(Layer):
    """x for x >= 0, negative_slope * x otherwise; Keras 3's default slope is 0.3."""
    supports_masking = True

    def __init__(self, negative_slope=0.3, **kwargs):
        super().__init__(**kwargs)
        self.negative_slope = non_negative(self._who(), "negative_slope", negative_slope)

    def call(self, inputs, training=False):
        return activations.leaky_relu(inputs, self.negative_slope)

    def get_config(self):
        return {**super().get_config(), "negative_slope": self.negative_slope}


class ELU(Layer):
    """x for x > 0, alpha * (e^x - 1) otherwise."""
    supports_masking = True

    def __init__(self, alpha=1.0, **kwargs):
        super().__init__(**kwargs)
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float, np.integer, np.floating)):
            raise ValueError(f"{self._who()}: alpha must be a number, got {alpha!r}")
        self.alpha = float(alpha)

    def call(self, inputs, training=False):
        return activations.elu(inputs, self.alpha)

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha}


class PReLU(Layer):
    """Leaky ReLU with a learned slope: x for x >= 0, alpha * x otherwise. `alpha` has the input's
    per-sample shape, with size 1 along `shared_axes` (1-based, batch excluded, as in Keras)."""
    min_rank = 2
    regularizer_args = {"alpha_regularizer": "alpha"}

    def __init__(self, alpha_initializer="zeros", shared_axes=None, **kwargs):
        super().__init__(**kwargs)
        if shared_axes is None:
            shared = ()
        else:
            shared = (shared_axes,) if isinstance(shared_axes, (int, np.integer)) else tuple(shared_axes)
        if not all(isinstance(a, (int, np.integer)) and not isinstance(a, bool) and a >= 1
                   for a in shared):
            raise ValueError(f"{self._who()}: shared_axes must be axes >= 1 (the batch axis is 0), got "
                             f"{shared_axes!r}")
        self.shared_axes = tuple(int(a) for a in shared)
        self.alpha_initializer = alpha_initializer
        self.alpha = None

    def build(self, input_shape):
        if any(a >= len(input_shape) for a in self.shared_axes):
            raise ValueError(f"{self._who()}: shared_axes {self.shared_axes} out of range for input shape "
                             f"{format_shape(input_shape)}")
        shape = [1 if i in self.shared_axes else d for i, d in enumerate(input_shape)][1:]
        if None in shape:
            raise ValueError(f"{self._who()}: every non-shared axis of the input must be known to build, "
                             f"got shape {format_shape(input_shape)} with shared_axes {self.shared_axes}")
        self.alpha = self.add_weight(name="alpha", shape=tuple(shape), initializer=self.alpha_initializer)
        self.input_rank = len(input_shape)
        self.input_axes = {i: d for i, d in enumerate(input_shape) if i and i not in self.shared_axes}
        super().build(input_shape)

    def call(self, inputs, training=False):
        return activations.leaky_relu(inputs, self.alpha)

    def get_config(self):
        return {**super().get_config(), "alpha_initializer": self.alpha_initializer,
                "shared_axes": list(self.shared_axes) or None}


class Softmax(Layer):
    """Softmax over `axis` (an int or a tuple of ints)."""
    supports_masking = True

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        axes = (axis,) if isinstance(axis, (int, np.integer)) else axis
        if (not isinstance(axes, (tuple, list)) or not axes or
                not all(isinstance(a, (int, np.integer)) and not isinstance(a, bool) for a in axes)):
            raise ValueError(f"{self._who()}: axis must be an int or a tuple of ints, got {axis!r}")
        self.axis = int(axis) if isinstance(axis, (int, np.integer)) else tuple(int(a) for a in axes)

    def check_input_shape(self, shape):
        super().check_input_shape(shape)
        axes = (self.axis,) if isinstance(self.axis, int) else self.axis
        if any(not -len(shape) <= a < len(shape) for a in axes):
            raise ValueError(f"{self._who()}: axis {self.axis} out of range for input shape "
                             f"{format_shape(shape)}")

    def call(self, inputs, training=False, mask=None):
        """`mask` (True = keep), of the inputs' shape: masked entries get -1e9 added first (Keras),
        so they receive (almost) no probability."""
        if mask is not None:
            mask = np.asarray(getattr(mask, "data", mask))
            if mask.shape != inputs.shape:
                raise ValueError(f"{self._who()}: mask shape {mask.shape} differs from the input shape "
                                 f"{inputs.shape}")
            inputs = inputs + (1.0 - mask.astype(inputs.dtype)) * inputs.dtype.type(-1e9)
        return F.softmax(inputs, self.axis)

    def get_config(self):
        axis = self.axis if isinstance(self.axis, int) else list(self.axis)
        return {**super().get_config(), "axis": axis}
