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


def dropout(x, rate, training=False):
    x = _t(x, "dropout")
    if not 0 <= rate < 1:
        raise ValueError(f"dropout: rate must be in [0, 1), got {rate}")
    if not training or rate == 0:
        return x
    dtype = x.dtype if x.dtype.kind == "f" else np.dtype(np.float32)
    keep = get_rng().random(x.shape, dtype=np.float64 if dtype == np.float64 else np.float32) >= rate
    return Dropout.apply(x, keep.astype(dtype) * dtype.type(1 / (1 - rate)))
