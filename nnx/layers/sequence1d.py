"""1-D layers over (batch, steps, channels): MaxPooling1D, AveragePooling1D and the global poolings
(Conv1D lives with the other convolutions in nnx.layers.convolutional and is re-exported here). The
windowed poolings are the 2-D ops on a height-1 image (N, 1, steps, C), so they run the same compiled
kernels; GlobalAveragePooling1D skips masked (padded) steps."""
import numpy as np

from nnx import functional as F
from nnx.geometry import output_length, padding_mode, positive_ints
from nnx.layers.base import Layer, format_shape
from nnx.layers.convolutional import Conv1D, drop_height, height_one  # noqa: F401  (Conv1D: re-export)


class _Pooling1D(Layer):
    input_rank = 3
    input_layout = "(batch, steps, channels)"
    pool_op = None

    def __init__(self, pool_size=2, strides=None, padding="valid", **kwargs):
        super().__init__(**kwargs)
        who = self._who()
        (self.pool_size,) = positive_ints(who, "pool_size", pool_size, 1)
        (self.strides,) = positive_ints(who, "strides", self.pool_size if strides is None else strides, 1)
        self.padding = padding_mode(who, padding)

    def compute_output_shape(self, input_shape):
        n, steps, c = input_shape
        out = output_length(steps, self.pool_size, self.strides, self.padding)
        if out is not None and out < 1:
            raise ValueError(f"{self._who()}: input shape {format_shape(input_shape)} is shorter than "
                             f"pool_size {self.pool_size}")
        return (n, out, c)

    def call(self, inputs, training=False):
        self.compute_output_shape(inputs.shape)         # a too-short input fails here, named
        y = type(self).pool_op(height_one(inputs), (1, self.pool_size), (1, self.strides), self.padding)
        return drop_height(y)

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
