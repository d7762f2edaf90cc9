"""Regularisation layers that are active only while training (Keras 3's keras/src/layers/
regularization/): SpatialDropout1D/2D drop whole channels, GaussianNoise adds N(0, stddev^2) noise,
GaussianDropout multiplies by N(1, rate / (1 - rate)) noise. At inference each is the identity.
Randomness comes from nnx's generator, so `nnx.manual_seed` makes it reproducible."""
import math

import numpy as np

from nnx import functional as F
from nnx.layers.core import Dropout
from nnx.layers.base import Layer
from nnx.random import get_rng
from nnx.tensor import Tensor


class SpatialDropout1D(Dropout):
    """Dropout of whole feature channels of (N, steps, channels) sequences: one decision per sample
    and channel, shared by every step (survivors scaled by 1 / (1 - rate))."""
    input_rank = 3
    input_layout = "(N, steps, channels)"

    def call(self, inputs, training=False):
        if not (training and self.rate):
            return inputs
        n, c = inputs.shape[0], inputs.shape[-1]
        return F.dropout(inputs, self.rate, True, noise_shape=(n,) + (1,) * (inputs.ndim - 2) + (c,))


class SpatialDropout2D(SpatialDropout1D):
    """Dropout of whole feature maps of (N, H, W, C) images: one decision per sample and channel."""
    input_rank = 4
    input_layout = "(N, H, W, C)"


def _unit_interval(who, what, value, high_open):
    if (isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating))
            or not 0 <= value <= 1 or (high_open and value == 1)):
        interval = "[0, 1)" if high_open else "[0, 1]"
        raise ValueError(f"{who}: {what} must be a number in {interval}, got {value!r}")
    return float(value)


def _normal(inputs, mean, stddev):
    draw = get_rng().standard_normal(inputs.shape, dtype=np.float64 if inputs.dtype == np.float64
                                     else np.float32)
    return Tensor(draw * inputs.dtype.type(stddev) + inputs.dtype.type(mean))


class GaussianNoise(Layer):
    """Training: inputs + noise ~ N(0, stddev^2) (Keras: 0 <= stddev <= 1)."""
    supports_masking = True

    def __init__(self, stddev, **kwargs):
        super().__init__(**kwargs)
        self.stddev = _unit_interval(self._who(), "stddev", stddev, high_open=False)

    def call(self, inputs, training=False):
        if not (training and self.stddev):
            return inputs
        return inputs + _normal(inputs, 0.0, self.stddev)

    def get_config(self):
        return {**super().get_config(), "stddev": self.stddev}


class GaussianDropout(Layer):
    """Training: inputs * noise ~ N(1, rate / (1 - rate)), multiplicative noise with the variance of
    dropout at that rate (Keras)."""
    supports_masking = True

    def __init__(self, rate, **kwargs):
        super().__init__(**kwargs)
        self.rate = _unit_interval(self._who(), "rate", rate, high_open=True)

    def call(self, inputs, training=False):
        if not (training and self.rate):
            return inputs
        return inputs * _normal(inputs, 1.0, math.sqrt(self.rate / (1.0 - self.rate)))

    def get_config(self):
        return {**super().get_config(), "rate": self.rate}
