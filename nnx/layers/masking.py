"""Masking: marks padding time steps for the sequence layers after it (Keras' Masking layer)."""
import numpy as np

from nnx.layers.base import Layer


class Masking(Layer):
    """A step of (N, steps, features) whose features all equal `mask_value` is padding: its output is
    zeroed and the mask passed on (False there) makes the recurrent and pooling layers after it skip
    it, as Embedding(mask_zero=True) does for token ids."""
    min_rank = 3
    input_layout = "(N, steps, features)"

    def __init__(self, mask_value=0.0, **kwargs):
        super().__init__(**kwargs)
        if isinstance(mask_value, bool) or not isinstance(mask_value, (int, float, np.integer, np.floating)):
            raise ValueError(f"{self._who()}: mask_value must be a number, got {mask_value!r}")
        self.mask_value = float(mask_value)

    def _keep(self, inputs):
        return np.any(np.asarray(getattr(inputs, "data", inputs)) != self.mask_value, axis=-1)

    def call(self, inputs, training=False):
        return inputs * self._keep(inputs)[..., None]

    def compute_mask(self, inputs, mask=None):
        return self._keep(inputs)

    def get_config(self):
        return {**super().get_config(), "mask_value": self.mask_value}
