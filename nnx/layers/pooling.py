"""Pooling layers over (N, H, W, C): MaxPooling2D, AveragePooling2D (via `F.max_pool2d` /
`F.avg_pool2d`), and the global ones (a max / mean over H and W)."""
from nnx import functional as F
from nnx.geometry import output_length, padding_mode, pair
from nnx.layers.base import Layer, format_shape


class _Pooling2D(Layer):
    input_rank = 4
    input_layout = "(N, H, W, C)"
    pool_op = None

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", **kwargs):
        super().__init__(**kwargs)
        who = self._who()
        self.pool_size = pair(who, "pool_size", pool_size)
        self.strides = self.pool_size if strides is None else pair(who, "strides", strides)
        self.padding = padding_mode(who, padding)

    def compute_output_shape(self, input_shape):
        n, h, w, c = input_shape
        oh, ow = (output_length(size, k, s, self.padding)
                  for size, k, s in zip((h, w), self.pool_size, self.strides))
        if (oh is not None and oh < 1) or (ow is not None and ow < 1):
            raise ValueError(f"{self._who()}: input shape {format_shape(input_shape)} is smaller than "
                             f"the pool {self.pool_size}")
        return (n, oh, ow, c)

    def call(self, inputs, training=False):
        return type(self).pool_op(inputs, self.pool_size, self.strides, self.padding)

    def flops(self, input_shape):
        _, oh, ow, c = self.compute_output_shape(input_shape)
        return oh * ow * c * self.pool_size[0] * self.pool_size[1]

    def get_config(self):
        return {**super().get_config(), "pool_size": list(self.pool_size), "strides": list(self.strides),
                "padding": self.padding}


class MaxPooling2D(_Pooling2D):
    """Max over each window (ties: the first maximum in row-major order gets the gradient)."""
    pool_op = staticmethod(F.max_pool2d)


class AveragePooling2D(_Pooling2D):
    """Mean over each window ('same' padding excluded from the count)."""
    pool_op = staticmethod(F.avg_pool2d)


class _GlobalPooling2D(Layer):
    input_rank = 4
    input_layout = "(N, H, W, C)"

    def __init__(self, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        self.keepdims = bool(keepdims)

    def compute_output_shape(self, input_shape):
        n, _, _, c = input_shape
        return (n, 1, 1, c) if self.keepdims else (n, c)

    def flops(self, input_shape):
        return int(input_shape[1] * input_shape[2] * input_shape[3])

    def get_config(self):
        return {**super().get_config(), "keepdims": self.keepdims}


class GlobalAveragePooling2D(_GlobalPooling2D):
    def call(self, inputs, training=False):
        return inputs.mean(axis=(1, 2), keepdims=self.keepdims)


class GlobalMaxPooling2D(_GlobalPooling2D):
    def call(self, inputs, training=False):
        return inputs.max(axis=(1, 2), keepdims=self.keepdims)
