"""1-D layers over (batch, steps, channels): Conv1D, MaxPooling1D, AveragePooling1D and the global
poolings. Conv1D and the windowed poolings are the 2-D ops on a height-1 image (N, 1, steps, C), so
they run the same compiled kernels; GlobalAveragePooling1D skips masked (padded) steps."""
import numpy as np

from nnx import functional as F
from nnx.layers.base import KernelBiasMixin, Layer, format_shape
from nnx.layers.convolutional import window_output_size


def _positive_int(owner, what, value):
    if isinstance(value, (tuple, list)) and len(value) == 1:
        value = value[0]
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{owner}: {what} must be a positive int, got {value!r}")
    return int(value)


def _as_image(x):
    """(N, steps, C) -> (N, 1, steps, C): a view for the 2-D ops."""
    return x.reshape(x.shape[0], 1, x.shape[1], x.shape[2])


def _as_sequence(y):
    return y.reshape(y.shape[0], y.shape[2], y.shape[3])


class Conv1D(KernelBiasMixin, Layer):
    """1-D convolution; kernel (kernel_size, C_in // groups, filters) as in Keras. padding 'valid',
    'same' (TensorFlow's rule) or 'causal' (left padding only: output t sees inputs <= t)."""
    input_rank = 3
    input_layout = "(batch, steps, channels)"

    def __init__(self, filters, kernel_size, strides=1, padding="valid", dilation_rate=1, groups=1,
                 activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        who = self._who()
        self.filters = _positive_int(who, "filters", filters)
        self.kernel_size = _positive_int(who, "kernel_size", kernel_size)
        self.strides = _positive_int(who, "strides", strides)
        self.dilation_rate = _positive_int(who, "dilation_rate", dilation_rate)
        self.groups = _positive_int(who, "groups", groups)
        if self.filters % self.groups:
            raise ValueError(f"{who}: filters ({self.filters}) must be divisible by groups ({self.groups})")
        if not isinstance(padding, str) or padding.lower() not in ("valid", "same", "causal"):
            raise ValueError(f"{who}: padding must be 'valid', 'same' or 'causal', got {padding!r}")
        self.padding = padding.lower()
        self._init_kernel_bias(activation, use_bias, kernel_initializer, bias_initializer)

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None or channels % self.groups:
            raise ValueError(f"{self._who()}: input channels must be known and divisible by groups "
                             f"({self.groups}); input shape {format_shape(input_shape)}")
        self.kernel = self.add_weight(name="kernel",
                                      shape=(self.kernel_size, channels // self.groups, self.filters),
                                      initializer=self.kernel_initializer)
        if self.use_bias:
            self.bias = self.add_weight(name="bias", shape=(self.filters,), initializer=self.bias_initializer)
        self.input_axes = {-1: channels}
        super().build(input_shape)

    def _causal_pad(self):
        return self.dilation_rate * (self.kernel_size - 1)

    def compute_output_shape(self, input_shape):
        n, steps, _ = input_shape
        if self.padding == "causal":
            out = window_output_size(None if steps is None else steps + self._causal_pad(),
                                     self.kernel_size, self.strides, "valid", self.dilation_rate)
        else:
            out = window_output_size(steps, self.kernel_size, self.strides, self.padding,
                                     self.dilation_rate)
        if out == 0:
            raise ValueError(f"{self._who()}: input shape {format_shape(input_shape)} is too short for "
                             f"kernel_size {self.kernel_size} with dilation {self.dilation_rate}")
        return (n, out, self.filters)

    def call_linear(self, inputs, training=False):
        self.compute_output_shape(inputs.shape)         # a too-short input fails here, named
        x, padding = inputs, self.padding
        if padding == "causal":
            zeros = np.zeros((x.shape[0], self._causal_pad(), x.shape[2]), x.dtype)
            x, padding = F.concatenate([zeros, x], axis=1), "valid"
        kernel = self.kernel.reshape(1, *self.kernel.shape)
        y = F.conv2d(_as_image(x), kernel, self.bias, (1, self.strides), padding,
                     (1, self.dilation_rate), self.groups)
        return _as_sequence(y)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "strides": self.strides, "padding": self.padding, "dilation_rate": self.dilation_rate,
                "groups": self.groups, **self._kernel_bias_config()}


class _Pooling1D(Layer):
    input_rank = 3
    input_layout = "(batch, steps, channels)"
    pool_op = None

    def __init__(self, pool_size=2, strides=None, padding="valid", **kwargs):
        super().__init__(**kwargs)
        who = self._who()
        self.pool_size = _positive_int(who, "pool_size", pool_size)
        self.strides = self.pool_size if strides is None else _positive_int(who, "strides", strides)
        if not isinstance(padding, str) or padding.lower() not in ("valid", "same"):
            raise ValueError(f"{who}: padding must be 'valid' or 'same', got {padding!r}")
        self.padding = padding.lower()

    def compute_output_shape(self, input_shape):
        n, steps, c = input_shape
        out = window_output_size(steps, self.pool_size, self.strides, self.padding)
        if out == 0:
            raise ValueError(f"{self._who()}: input shape {format_shape(input_shape)} is shorter than "
                             f"pool_size {self.pool_size}")
        return (n, out, c)

    def call(self, inputs, training=False):
        self.compute_output_shape(inputs.shape)         # a too-short input fails here, named
        y = type(self).pool_op(_as_image(inputs), (1, self.pool_size), (1, self.strides), self.padding)
        return _as_sequence(y)

    def get_config(self):
        return {**super().get_config(), "pool_size": self.pool_size, "strides": self.strides,
                "padding": self.padding}


class MaxPooling1D(_Pooling1D):
    """Max over windows of pool_size steps."""
    pool_op = staticmethod(F.max_pool2d)


class AveragePooling1D(_Pooling1D):
    """Mean over windows of pool_size steps ('same' padding excluded from the count)."""
    pool_op = staticmethod(F.avg_pool2d)


class _GlobalPooling1D(Layer):
    input_rank = 3
    input_layout = "(batch, steps, channels)"

    def __init__(self, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        self.keepdims = bool(keepdims)

    def compute_output_shape(self, input_shape):
        n, _, c = input_shape
        return (n, 1, c) if self.keepdims else (n, c)

    def get_config(self):
        return {**super().get_config(), "keepdims": self.keepdims}


class GlobalAveragePooling1D(_GlobalPooling1D):
    """Mean over the steps; with a mask, the mean over the unmasked steps only (a sample whose steps
    are all masked gives zeros)."""
    accepts_mask = True

    def call(self, inputs, training=False, mask=None):
        if mask is None:
            return inputs.mean(axis=1, keepdims=self.keepdims)
        mask = np.asarray(getattr(mask, "data", mask))
        if mask.shape != tuple(inputs.shape[:2]):
            raise ValueError(f"{self._who()}: mask shape {mask.shape} does not match the input's "
                             f"(batch, steps) {tuple(inputs.shape[:2])}")
        weights = mask.astype(inputs.dtype)[:, :, None]
        count = np.maximum(weights.sum(axis=1, keepdims=self.keepdims), 1)
        return (inputs * weights).sum(axis=1, keepdims=self.keepdims) / count


class GlobalMaxPooling1D(_GlobalPooling1D):
    """Max over the steps."""

    def call(self, inputs, training=False):
        return inputs.max(axis=1, keepdims=self.keepdims)
