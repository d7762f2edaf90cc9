"""Convolution variants with Keras 3's arguments and weight layouts:
- Conv2DTranspose: kernel (KH, KW, filters, in_channels), the adjoint of a convolution; it runs on
  the convolution's input-gradient kernel (F.conv2d_transpose).
- DepthwiseConv2D: kernel (KH, KW, C, depth_multiplier), one small filter bank per input channel; it
  runs on the grouped convolution with groups = C (F.depthwise_conv2d).
- SeparableConv2D: a depthwise convolution, then a 1x1 convolution mixing the channels:
  depthwise_kernel (KH, KW, C, depth_multiplier), pointwise_kernel (1, 1, C * depth_multiplier,
  filters), bias (filters,).
"""
from nnx import functional as F
from nnx.geometry import output_padding_arg, positive_int, transpose_output_length
from nnx.layers.base import format_shape
from nnx.layers.convolutional import _ConvWindow


class Conv2DTranspose(_ConvWindow):
    """Transposed 2-D convolution (Keras 3's Conv2DTranspose); output size as Keras computes it:
    'valid' (H - 1) * stride + KH_eff + output_padding (default max(KH_eff, stride) - KH_eff),
    'same' H * stride, or (H - 1) * stride + KH_eff % 2 + output_padding when output_padding is given."""

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", output_padding=None,
                 dilation_rate=(1, 1), activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        who = self._who()
        self.filters = positive_int(who, "filters", filters)
        self._init_window(kernel_size, strides, padding, dilation_rate)
        self.output_padding = output_padding_arg(who, output_padding, self.strides)
        self._init_kernel_bias(activation, use_bias, kernel_initializer, bias_initializer)

    def build(self, input_shape):
        channels = self._channels(input_shape)
        self.kernel = self.add_weight(name="kernel", shape=self.kernel_size + (self.filters, channels),
                                      initializer=self.kernel_initializer)
        self._add_bias(self.filters)
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        n, h, w, _ = input_shape
        oh, ow = (transpose_output_length(size, k, s, d, self.padding, op) for size, k, s, d, op in zip(
            (h, w), self.kernel_size, self.strides, self.dilation_rate, self.output_padding or (None, None)))
        if (oh is not None and oh < 1) or (ow is not None and ow < 1):
            raise ValueError(f"{self._who()}: input shape {format_shape(input_shape)} gives an empty output "
                             f"(kernel {self.kernel_size}, strides {self.strides}, padding {self.padding!r}, "
                             f"output_padding {self.output_padding})")
        return (n, oh, ow, self.filters)

    def flops(self, input_shape):
        """2 per multiply-add, per sample: every input pixel meets the whole kernel."""
        _, h, w, c = input_shape
        return 2 * h * w * self.kernel_size[0] * self.kernel_size[1] * c * self.filters

    def call_linear(self, inputs, training=False):
        return F.conv2d_transpose(inputs, self.kernel, self.bias, self.strides, self.padding,
                                  self.output_padding, self.dilation_rate)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, **self._window_config(),
                "output_padding": None if self.output_padding is None else list(self.output_padding),
                **self._kernel_bias_config()}


class DepthwiseConv2D(_ConvWindow):
    """Depthwise 2-D convolution (Keras 3): input channel c gives output channels
    c * depth_multiplier ... c * depth_multiplier + depth_multiplier - 1;
    kernel (KH, KW, C, depth_multiplier)."""
    fuses_relu = True
    regularizer_args = {"depthwise_regularizer": "kernel", "bias_regularizer": "bias"}

    def __init__(self, kernel_size, strides=(1, 1), padding="valid", depth_multiplier=1,
                 dilation_rate=(1, 1), activation=None, use_bias=True,
                 depthwise_initializer="glorot_uniform", bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        self.depth_multiplier = positive_int(self._who(), "depth_multiplier", depth_multiplier)
        self._init_window(kernel_size, strides, padding, dilation_rate)
        self._init_kernel_bias(activation, use_bias, depthwise_initializer, bias_initializer)

    def build(self, input_shape):
        channels = self._channels(input_shape)
        self.kernel = self.add_weight(name="kernel",
                                      shape=self.kernel_size + (channels, self.depth_multiplier),
                                      initializer=self.kernel_initializer)
        self._add_bias(channels * self.depth_multiplier)
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        channels = None if input_shape[-1] is None else input_shape[-1] * self.depth_multiplier
        return self._window_output_shape(input_shape, channels)

    def flops(self, input_shape):
        _, oh, ow, channels_out = self.compute_output_shape(input_shape)
        return 2 * oh * ow * self.kernel_size[0] * self.kernel_size[1] * channels_out

    def call_linear(self, inputs, training=False, fused_activation=None):
        return F.depthwise_conv2d(inputs, self.kernel, self.bias, self.strides, self.padding,
                                  self.dilation_rate, activation=fused_activation)

    def get_config(self):
        config = {**super().get_config(), **self._window_config(),
                  "depth_multiplier": self.depth_multiplier, **self._kernel_bias_config()}
        config["depthwise_initializer"] = config.pop("kernel_initializer")
        return config


class SeparableConv2D(_ConvWindow):
    """Depthwise convolution (strides, padding and dilation apply here) followed by a 1x1 convolution
    to `filters` channels, then bias and activation (Keras 3's SeparableConv2D)."""
    fuses_relu = True
    regularizer_args = {"depthwise_regularizer": "depthwise_kernel",
                        "pointwise_regularizer": "pointwise_kernel", "bias_regularizer": "bias"}

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", dilation_rate=(1, 1),
                 depth_multiplier=1, activation=None, use_bias=True,
                 depthwise_initializer="glorot_uniform", pointwise_initializer="glorot_uniform",
                 bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        who = self._who()
        self.filters = positive_int(who, "filters", filters)
        self.depth_multiplier = positive_int(who, "depth_multiplier", depth_multiplier)
        self._init_window(kernel_size, strides, padding, dilation_rate)
        self._init_kernel_bias(activation, use_bias, depthwise_initializer, bias_initializer)
        self.pointwise_initializer = pointwise_initializer
        self.depthwise_kernel = self.pointwise_kernel = None

    def build(self, input_shape):
        channels = self._channels(input_shape)
        m = self.depth_multiplier
        self.depthwise_kernel = self.add_weight(name="depthwise_kernel",
                                                shape=self.kernel_size + (channels, m),
                                                initializer=self.kernel_initializer)
        self.pointwise_kernel = self.add_weight(name="pointwise_kernel",
                                                shape=(1, 1, channels * m, self.filters),
                                                initializer=self.pointwise_initializer)
        self._add_bias(self.filters)
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        return self._window_output_shape(input_shape, self.filters)

    def flops(self, input_shape):
        """The depthwise part, then the 1x1 convolution, 2 per multiply-add, per sample."""
        _, oh, ow, _ = self.compute_output_shape(input_shape)
        middle = input_shape[-1] * self.depth_multiplier
        return 2 * oh * ow * middle * (self.kernel_size[0] * self.kernel_size[1] + self.filters)

    def call_linear(self, inputs, training=False, fused_activation=None):
        depthwise = F.depthwise_conv2d(inputs, self.depthwise_kernel, None, self.strides, self.padding,
                                       self.dilation_rate)
        return F.conv2d(depthwise, self.pointwise_kernel, self.bias, activation=fused_activation)

    def get_config(self):
        config = {**super().get_config(), "filters": self.filters, **self._window_config(),
                  "depth_multiplier": self.depth_multiplier, **self._kernel_bias_config(),
                  "pointwise_initializer": self.pointwise_initializer}
        config["depthwise_initializer"] = config.pop("kernel_initializer")
        return config
