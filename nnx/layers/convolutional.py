"""The convolution layers: `BaseConv(rank)` (as Keras 3's keras/src/layers/convolutional/base_conv.py)
and its thin subclasses Conv1D and Conv2D, channels-last, kernel kernel_size + (C_in // groups, filters).

Both run on `F.conv2d`: rank 1 is the 2-D op on a height-1 image (N, 1, steps, C) with a height-1
kernel. `_ConvWindow` holds what every convolution layer shares (the window arguments, the output
shape, the config); the variants in conv_variants.py build on it too.
"""
from nnx import functional as F
from nnx.functional.convolution import conv2d_geometry
from nnx.geometry import (VALID_SAME, output_length, padding_arg, padding_mode, pixel_pairs, positive_int,
                          positive_ints)
from nnx.layers.base import KernelBiasMixin, Layer, format_shape


def height_one(x):
    """(N, steps, C) -> (N, 1, steps, C): a view for the 2-D ops."""
    return x.reshape(x.shape[0], 1, x.shape[1], x.shape[2])


def drop_height(y):
    """(N, 1, steps, C) -> (N, steps, C)."""
    return y.reshape(y.shape[0], y.shape[2], y.shape[3])


class Rank1Layout:
    """Mixed in first by the 1-D layers: one spatial axis, inputs (batch, steps, channels)."""
    rank = 1
    input_rank = 3
    input_layout = "(batch, steps, channels)"


class _ConvWindow(KernelBiasMixin, Layer):
    """kernel_size, strides, padding and dilation_rate over `rank` spatial axes: checks, output shape,
    config. padding: 'valid' / 'same', plus 'causal' at rank 1 and explicit pixels (as F.conv2d takes
    them) for Conv2D (`explicit_padding`)."""
    rank = 2
    input_rank = 4
    input_layout = "(N, H, W, C)"
    explicit_padding = False

    def _init_window(self, kernel_size, strides, padding, dilation_rate):
        who = self._who()
        self.kernel_size = positive_ints(who, "kernel_size", kernel_size, self.rank)
        self.strides = positive_ints(who, "strides", strides, self.rank)
        if self.explicit_padding:
            self.padding = padding_arg(who, padding)
        else:
            self.padding = padding_mode(who, padding, VALID_SAME + ("causal",) * (self.rank == 1))
        self.dilation_rate = positive_ints(who, "dilation_rate", dilation_rate, self.rank)

    def _channels(self, input_shape):
        channels = input_shape[-1]
        if channels is None:
            raise ValueError(f"{self._who()}: the channel axis of the input must be known to build, "
                             f"got shape {format_shape(input_shape)}")
        self.input_axes = {-1: channels}
        return channels

    def _add_bias(self, size):
        if self.use_bias:
            self.bias = self.add_weight(name="bias", shape=(size,), initializer=self.bias_initializer)

    def _axis_padding(self):
        """Per spatial axis: 'valid', 'same' or explicit (before, after)."""
        if self.padding == "causal":
            return [(d * (k - 1), 0) for k, d in zip(self.kernel_size, self.dilation_rate)]
        if isinstance(self.padding, str):
            return [self.padding] * self.rank
        return pixel_pairs(self._who(), "padding", self.padding)

    def _window_output_shape(self, input_shape, channels_out):
        sizes = tuple(output_length(n, k, s, p, d) for n, k, s, p, d in zip(
            input_shape[1:-1], self.kernel_size, self.strides, self._axis_padding(), self.dilation_rate))
        if any(size is not None and size < 1 for size in sizes):
            raise ValueError(f"{self._who()}: input shape {format_shape(input_shape)} is too "
                             f"{'short' if self.rank == 1 else 'small'} for kernel_size {self.kernel_size} "
                             f"with dilation {self.dilation_rate} and padding {self.padding!r}")
        return (input_shape[0],) + sizes + (channels_out,)

    def _window_config(self):
        padding = self.padding
        if isinstance(padding, tuple):
            padding = [list(p) if isinstance(p, tuple) else p for p in padding]
        return {"kernel_size": list(self.kernel_size), "strides": list(self.strides), "padding": padding,
                "dilation_rate": list(self.dilation_rate)}


class BaseConv(_ConvWindow):
    """A `rank`-D convolution over (N, *spatial, C) inputs with Keras' arguments and defaults; kernel
    kernel_size + (C_in // groups, filters). Subclasses fix the rank and the input layout."""
    abstract = True       # Conv1D and Conv2D are the loadable layers
    fuses_relu = True

    def __init__(self, rank, filters, kernel_size, strides=1, padding="valid", dilation_rate=1, groups=1,
                 activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        who = self._who()
        self.rank = rank
        self.filters = positive_int(who, "filters", filters)
        self.groups = positive_int(who, "groups", groups)
        if self.filters % self.groups:
            raise ValueError(f"{who}: filters ({self.filters}) must be divisible by groups ({self.groups})")
        self._init_window(kernel_size, strides, padding, dilation_rate)
        self._init_kernel_bias(activation, use_bias, kernel_initializer, bias_initializer)

    def build(self, input_shape):
        channels = self._channels(input_shape)
        if channels % self.groups:
            raise ValueError(f"{self._who()}: input channels ({channels}) must be divisible by groups "
                             f"({self.groups}); input shape {format_shape(input_shape)}")
        self.kernel = self.add_weight(
            name="kernel", shape=self.kernel_size + (channels // self.groups, self.filters),
            initializer=self.kernel_initializer)
        self._add_bias(self.filters)
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        return self._window_output_shape(input_shape, self.filters)

    def _geometry(self, input_shape):
        """F.conv2d's window arguments for inputs of this shape (checked: a bad shape fails here)."""
        kernel_shape, padding = self.kernel.shape, self.padding
        strides, dilation = self.strides, self.dilation_rate
        if self.rank == 1:       # the 2-D op on a height-1 image with a height-1 kernel
            self.compute_output_shape(input_shape)          # a too-short input fails here, named
            input_shape, kernel_shape = (input_shape[0], 1) + input_shape[1:], (1,) + kernel_shape
            strides, dilation = (1,) + strides, (1,) + dilation
            if padding == "causal":
                padding = ((0, 0), self._axis_padding()[0])
        return conv2d_geometry(input_shape, kernel_shape, strides, padding, dilation, self.groups)

    def call_linear(self, inputs, training=False, fused_activation=None):
        # the window arguments depend only on the configuration and the input's shape: worked out
        # and checked once per shape, not at every step
        geometry = self.per_input_shape(inputs.shape, self._geometry)
        if self.rank == 1:
            y = F.conv2d(height_one(inputs), self.kernel.reshape(1, *self.kernel.shape), self.bias,
                         activation=fused_activation, geometry=geometry)
            return drop_height(y)
        return F.conv2d(inputs, self.kernel, self.bias, activation=fused_activation, geometry=geometry)

    def flops(self, input_shape):
        """2 per multiply-add, per sample."""
        output_shape = self.compute_output_shape(input_shape)
        taps = 1
        for size in output_shape[1:-1] + self.kernel_size:
            taps *= size
        return 2 * taps * self.filters * (input_shape[-1] // self.groups)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, **self._window_config(),
                "groups": self.groups, **self._kernel_bias_config()}


class Conv1D(Rank1Layout, BaseConv):
    """1-D convolution over (batch, steps, channels); kernel (kernel_size, C_in // groups, filters).
    padding 'valid', 'same' (TensorFlow's rule) or 'causal' (left padding only: output t sees
    inputs <= t)."""

    def __init__(self, filters, kernel_size, strides=1, padding="valid", dilation_rate=1, groups=1,
                 activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", **kwargs):
        super().__init__(1, filters, kernel_size, strides, padding, dilation_rate, groups, activation,
                         use_bias, kernel_initializer, bias_initializer, **kwargs)


class Conv2D(BaseConv):
    """2-D convolution over (N, H, W, C); padding 'valid', 'same' or explicit pixels: an int, (h, w) or
    ((top, bottom), (left, right))."""
    explicit_padding = True

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", dilation_rate=(1, 1),
                 groups=1, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", **kwargs):
        super().__init__(2, filters, kernel_size, strides, padding, dilation_rate, groups, activation,
                         use_bias, kernel_initializer, bias_initializer, **kwargs)
