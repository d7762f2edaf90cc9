"""1-D layers over (batch, steps, channels): MaxPooling1D, AveragePooling1D and the global poolings
(Conv1D lives with the other convolutions in nnx.layers.convolutional and is re-exported here). The
windowed poolings are the 2-D ops on a height-1 image (N, 1, steps, C), so they run the same compiled
kernels; GlobalAveragePooling1D skips masked (padded) steps."""
import numpy as np

from nnx import functional as F
from nnx.layers.convolutional import Conv1D, Rank1Layout  # noqa: F401  (Conv1D: a re-export)
from nnx.layers.pooling import _GlobalPooling, _Pooling


class MaxPooling1D(Rank1Layout, _Pooling):
    """Max over windows of pool_size steps."""
    pool_op = staticmethod(F.max_pool2d)


class AveragePooling1D(Rank1Layout, _Pooling):
    """Mean over windows of pool_size steps ('same' padding excluded from the count)."""
    pool_op = staticmethod(F.avg_pool2d)


class GlobalAveragePooling1D(Rank1Layout, _GlobalPooling):
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


class GlobalMaxPooling1D(Rank1Layout, _GlobalPooling):
    """Max over the steps."""

    def call(self, inputs, training=False):
        return inputs.max(axis=1, keepdims=self.keepdims)
