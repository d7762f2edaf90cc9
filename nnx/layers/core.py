"""Core layers: Input (and InputLayer), Dense, Flatten, Reshape, Activation, Dropout (Keras names
and defaults)."""
import numpy as np

from nnx import activations, functional as F
from nnx.layers.base import ActivationMixin, KernelBiasMixin, Layer, format_shape
from nnx.layers.symbolic import Node


def _shape_arg(owner, what, value):
    value = tuple(value) if isinstance(value, (tuple, list)) else (value,)
    if not all(d is None or (isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d > 0)
               or (d == -1 and what == "target_shape") for d in value):
        raise ValueError(f"{owner}: {what} must hold positive ints, got {value}")
    return tuple(None if d is None else int(d) for d in value)


class InputLayer(Layer):
    """The source of a functional model's input (Keras' InputLayer): holds the per-sample shape and
    dtype; its one node has no inputs and outputs the symbolic tensor `Input` returns."""

    def __init__(self, shape=None, batch_size=None, dtype=None, name=None, input_tensor_dtype=None):
        super().__init__(name=name, dtype=dtype)
        if shape is None:
            raise ValueError(f"{self._who()}: shape is required, e.g. shape=(28, 28, 1)")
        self.shape = _shape_arg(self._who(), "shape", shape)
        self.batch_size = batch_size
        self.input_shape_arg = self.shape
        # integer inputs (token ids) stay integer in the graph; the layer's float dtype is for data
        self.input_tensor_dtype = np.dtype(input_tensor_dtype or self.dtype)
        self.built = True
        Node(self, None, [(batch_size,) + self.shape], self.input_tensor_dtype, False)

    def call(self, inputs, training=False):
        return inputs

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + self.shape

    def get_config(self):
        config = {"shape": list(self.shape), "batch_size": self.batch_size, "name": self.name,
                  "dtype": self.dtype.name}
        if self.input_tensor_dtype != self.dtype:
            config["input_tensor_dtype"] = self.input_tensor_dtype.name
        return config


def Input(shape=None, batch_size=None, name=None, dtype=None):  # noqa: N802  (Keras' name)
    """`Input(shape=(28, 28, 1))`: a symbolic tensor of shape (None, 28, 28, 1) to call layers on
    and build a `nnx.models.Model(inputs, outputs)`; also the first entry of a Sequential model.
    An integer `dtype` ('int32') declares token ids; the data then flow as the default float."""
    kind = None if dtype is None else np.dtype(dtype)
    if kind is not None and kind.kind in "iub":
        return InputLayer(shape, batch_size, None, name, input_tensor_dtype=kind).output
    return InputLayer(shape, batch_size, dtype, name).output


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
        self.kernel = self.add_weight(name="kernel", shape=(n_in, self.units),
                                      initializer=self.kernel_initializer)
        if self.use_bias:
            self.bias = self.add_weight(name="bias", shape=(self.units,), initializer=self.bias_initializer)
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
