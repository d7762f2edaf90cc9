"""Inverted dropout (Keras scaling): in training, zero each element with probability `rate` and
scale the survivors by 1 / (1 - rate), so inference needs no rescaling."""
import numpy as np

from nnx.autograd import Function
from nnx.functional.math import _t
from nnx.random import get_rng


class Dropout(Function):
    @staticmethod
    def forward(ctx, x, scaled_mask):
        ctx.saved_tensors = (scaled_mask,)
        return x * scaled_mask

    @staticmethod
    def backward(ctx, g):
        return g * ctx.saved_tensors[0], None


def dropout(x, rate, training=False, noise_shape=None):
    """`noise_shape` (Keras' argument) draws one keep/drop decision per entry of a shape that
    broadcasts against x: (N, 1, C) drops whole channels of (N, T, C) sequences (SpatialDropout1D)."""
    x = _t(x, "dropout")
    if not 0 <= rate < 1:
        raise ValueError(f"dropout: rate must be in [0, 1), got {rate}")
    if noise_shape is not None:
        noise_shape = tuple(noise_shape)
        if len(noise_shape) != x.ndim or any(n not in (1, d) for n, d in zip(noise_shape, x.shape)):
            raise ValueError(f"dropout: noise_shape {noise_shape} does not broadcast to input shape "
                             f"{x.shape}")
    if not training or rate == 0:
        return x
    dtype = x.dtype if x.dtype.kind == "f" else np.dtype(np.float32)
    shape = x.shape if noise_shape is None else noise_shape
    keep = get_rng().random(shape, dtype=np.float64 if dtype == np.float64 else np.float32) >= rate
    return Dropout.apply(x, keep.astype(dtype) * dtype.type(1 / (1 - rate)))
