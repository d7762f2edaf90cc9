"""Core layers: Input, Dense, Flatten, Reshape, Activation, Dropout (Keras names and defaults)."""
import numpy as np

from nnx import activations, functional as F
from nnx.layers.base import ActivationMixin, KernelBiasMixin, Layer, format_shape


def _shape_arg(owner, what, value):
    value = tuple(value) if isinstance(value, (tuple, list)) else (value,)
    if not all(d is None or (isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d > 0)
               or (d == -1 and what == "target_shape") for d in value):
        raise ValueError(f"{owner}: {what} must hold positive ints, got {value}")
    return tuple(None if d is None else int(d) for d in value)


class Input(Layer):
    """`Input(shape)`: declares the per-sample input shape of a Sequential model (not a real layer:
    the model records the shape and does not list it)."""

    def __init__(self, shape, batch_size=None, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.shape = _shape_arg("Input", "shape", shape)
        self.batch_size = batch_size
        self.input_shape_arg = self.shape

    def call(self, inputs, training=False):
        return inputs

    def get_config(self):
        return {"shape": list(self.shape), "batch_size": self.batch_size, "name": self.name,
                "dtype": self.dtype.name}


class Dense(KernelBiasMixin, Layer):
    """`activation(inputs @ kernel + bias)` over the last axis; kernel (in, units)."""
    fuses_relu = True
    min_rank = 2
    input_layout = "(N, ..., features)"

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units <= 0:
            raise ValueError(f"{self._who()}: units must be a positive int, got {units!r}")
        self.units = int(units)
        self._init_kernel_bias(activation, use_bias, kernel_initializer, bias_initializer)

    def build(self, input_shape):
        n_in = input_shape[-1]
        if n_in is None:
            raise ValueError(f"{self._who()}: the last axis of the input must be known to build, got "
                             f"shape {format_shape(input_shape)}")
        self.kernel = self.add_weight("kernel", (n_in, self.units), self.kernel_initializer)
        if self.use_bias:
            self.bias = self.add_weight("bias", (self.units,), self.bias_initializer)
        self.input_axes = {-1: n_in}
        super().build(input_shape)

    def call_linear(self, inputs, training=False, fused_activation=None):
        return F.dense(inputs, self.kernel, self.bias, activation=fused_activation)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def flops(self, input_shape):
        """Multiply-adds x2 per sample."""
        return 2 * int(np.prod(input_shape[1:])) * self.units

    def get_config(self):
        return {**super().get_config(), "units": self.units,
                **self._kernel_bias_config()}


class Flatten(Layer):
    """(N, d1, d2, ...) -> (N, d1*d2*...)."""
    min_rank = 1

    def call(self, inputs, training=False):
        return inputs.reshape(inputs.shape[0], -1)

    def compute_output_shape(self, input_shape):
        rest = input_shape[1:]
        return (input_shape[0], None if None in rest else int(np.prod(rest)))


class Reshape(Layer):
    """(N, ...) -> (N, *target_shape); one entry of target_shape may be -1."""

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        self.target_shape = _shape_arg(self._who(), "target_shape", target_shape)
        if self.target_shape.count(-1) > 1:
            raise ValueError(f"{self._who()}: at most one -1 in target_shape, got {self.target_shape}")

    def compute_output_shape(self, input_shape):
        target = self.target_shape
        size = None if None in input_shape[1:] else int(np.prod(input_shape[1:]))
        known = int(np.prod([d for d in target if d != -1]))
        if -1 in target:
            if size is None:
                return (input_shape[0],) + tuple(None if d == -1 else d for d in target)
            if size % known:
                raise ValueError(f"{self._who()}: cannot reshape input of shape "
                                 f"{format_shape(input_shape)} to {target}")
            target = tuple(size // known if d == -1 else d for d in target)
        elif size is not None and size != known:
            raise ValueError(f"{self._who()}: cannot reshape input of shape {format_shape(input_shape)} "
                             f"({size} values per sample) to {target} ({known} values)")
        return (input_shape[0],) + target

    def call(self, inputs, training=False):
        target = self.compute_output_shape((None,) + inputs.shape[1:])[1:]
        return inputs.reshape(inputs.shape[0], *target)

    def get_config(self):
        return {**super().get_config(), "target_shape": list(self.target_shape)}


class Activation(ActivationMixin, Layer):
    """Applies an activation by name ('relu', 'softmax', ...) or callable."""
    supports_masking = True

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.get(activation)

    def call_linear(self, inputs, training=False):
        return inputs

    def get_config(self):
        return {**super().get_config(), "activation": self.activation_name()}


class Dropout(Layer):
    """Inverted dropout while training (kept values scaled by 1/(1-rate)); identity at inference."""
    supports_masking = True

    def __init__(self, rate, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(rate, (int, float, np.floating)) or not 0 <= rate < 1:
            raise ValueError(f"{self._who()}: rate must be in [0, 1), got {rate!r}")
        self.rate = float(rate)

    def call(self, inputs, training=False):
        return F.dropout(inputs, self.rate, training) if training and self.rate else inputs

    def get_config(self):
        return {**super().get_config(), "rate": self.rate}
