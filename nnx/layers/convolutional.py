"""Conv2D: channels-last 2-D convolution, kernel (KH, KW, C_in // groups, filters), via `F.conv2d`."""
import math

import numpy as np

from nnx import functional as F
from nnx.layers.base import KernelBiasMixin, Layer, format_shape


def pair(owner, what, value):
    """An int or a pair of positive ints -> (h, w); errors name the layer and the argument."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        value = (value, value)
    if (not isinstance(value, (tuple, list)) or len(value) != 2 or
            not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v > 0 for v in value)):
        raise ValueError(f"{owner}: {what} must be a positive int or a pair of them, got {value!r}")
    return int(value[0]), int(value[1])


def padding_arg(owner, padding):
    """'valid' / 'same' (any case), or explicit pixels as F.conv2d takes them: int or (ph, pw)."""
    if isinstance(padding, str):
        if padding.lower() not in ("valid", "same"):
            raise ValueError(f"{owner}: padding must be 'valid' or 'same', got {padding!r}")
        return padding.lower()
    if isinstance(padding, (int, np.integer)) and not isinstance(padding, bool) and padding >= 0:
        return int(padding)
    if (isinstance(padding, (tuple, list)) and len(padding) == 2 and
            all(isinstance(p, (int, np.integer)) and not isinstance(p, bool) and p >= 0 for p in padding)):
        return int(padding[0]), int(padding[1])
    raise ValueError(f"{owner}: padding must be 'valid', 'same', an int or (ph, pw), got {padding!r}")


def window_output_size(size, window, stride, padding, dilation=1):
    """Output length along one axis for a conv/pool window (TensorFlow's 'same' rule)."""
    if size is None:
        return None
    if padding == "same":
        return math.ceil(size / stride)
    pad = 0 if padding == "valid" else 2 * padding
    span = dilation * (window - 1) + 1
    return (size + pad - span) // stride + 1 if size + pad >= span else 0


class Conv2D(KernelBiasMixin, Layer):
    """2-D convolution over (N, H, W, C) inputs (Keras arguments and defaults)."""
    fuses_relu = True
    input_rank = 4
    input_layout = "(N, H, W, C)"

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", dilation_rate=(1, 1),
                 groups=1, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        who = self._who()
        if isinstance(filters, bool) or not isinstance(filters, (int, np.integer)) or filters <= 0:
            raise ValueError(f"{who}: filters must be a positive int, got {filters!r}")
        if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups <= 0:
            raise ValueError(f"{who}: groups must be a positive int, got {groups!r}")
        if filters % groups:
            raise ValueError(f"{who}: filters ({filters}) must be divisible by groups ({groups})")
        self.filters = int(filters)
        self.kernel_size = pair(who, "kernel_size", kernel_size)
        self.strides = pair(who, "strides", strides)
        self.padding = padding_arg(who, padding)
        self.dilation_rate = pair(who, "dilation_rate", dilation_rate)
        self.groups = int(groups)
        self._init_kernel_bias(activation, use_bias, kernel_initializer, bias_initializer)

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None:
            raise ValueError(f"{self._who()}: the channel axis of the input must be known to build, "
                             f"got shape {format_shape(input_shape)}")
        if channels % self.groups:
            raise ValueError(f"{self._who()}: input channels ({channels}) must be divisible by groups "
                             f"({self.groups}); input shape {format_shape(input_shape)}")
        self.kernel = self.add_weight(
            name="kernel", shape=self.kernel_size + (channels // self.groups, self.filters),
            initializer=self.kernel_initializer)
        if self.use_bias:
            self.bias = self.add_weight(name="bias", shape=(self.filters,), initializer=self.bias_initializer)
        self.input_axes = {-1: channels}
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        n, h, w, _ = input_shape
        oh, ow = (window_output_size(size, k, s, p, d) for size, k, s, p, d in zip(
            (h, w), self.kernel_size, self.strides, self._padding_per_axis(), self.dilation_rate))
        if oh == 0 or ow == 0:
            raise ValueError(f"{self._who()}: input shape {format_shape(input_shape)} is too small for "
                             f"kernel {self.kernel_size} with dilation {self.dilation_rate} and padding "
                             f"{self.padding!r}")
        return (n, oh, ow, self.filters)

    def _padding_per_axis(self):
        p = self.padding
        return (p, p) if isinstance(p, (str, int)) else p

    def call_linear(self, inputs, training=False, fused_activation=None):
        return F.conv2d(inputs, self.kernel, self.bias, self.strides, self.padding,
                        self.dilation_rate, self.groups, activation=fused_activation)

    def flops(self, input_shape):
        _, oh, ow, f = self.compute_output_shape(input_shape)
        kh, kw = self.kernel_size
        return 2 * oh * ow * f * kh * kw * (input_shape[-1] // self.groups)

    def get_config(self):
        padding = self.padding if isinstance(self.padding, (str, int)) else list(self.padding)
        return {**super().get_config(), "filters": self.filters, "kernel_size": list(self.kernel_size),
                "strides": list(self.strides), "padding": padding,
                "dilation_rate": list(self.dilation_rate), "groups": self.groups,
                **self._kernel_bias_config()}
