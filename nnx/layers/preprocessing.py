"""Preprocessing layers, Keras 3's (keras/src/layers/preprocessing/normalization.py, rescaling.py):

    Normalization(axis=-1, mean=None, variance=None, invert=False)
        (x - mean) / max(sqrt(variance), 1e-7) with one mean and variance per index of `axis`
        (the axes kept; None: one scalar for everything). `adapt(data)` computes them from data
        (population variance), in float64, batch by batch (Chan et al.'s pairwise update), so an
        array, a Dataset or any iterable of batches can be adapted in O(data) time and O(features)
        memory. invert=True maps normalised values back.
    Rescaling(scale, offset=0.0)
        x * scale + offset, e.g. Rescaling(1 / 255) for uint8 images.

The statistics are non-trainable weights (`mean`, `variance`, `count`), so `save`/`load_model` and
`get_weights` carry them: test data is scaled with the training statistics, never its own.
"""
import numpy as np

from nnx import functional as F
from nnx.layers.base import Layer, format_shape
from nnx.tensor import Tensor

EPSILON = 1e-7


def _batches(data):
    """An array is one batch; a Dataset or iterable yields batches (the first component of a
    tuple, e.g. x of (x, y))."""
    if isinstance(data, (np.ndarray, Tensor)) or np.isscalar(data):
        yield np.asarray(data.data if isinstance(data, Tensor) else data)
        return
    for batch in data:
        if isinstance(batch, tuple):
            batch = batch[0]
        yield np.asarray(batch.data if isinstance(batch, Tensor) else batch)


def _as_float(inputs, dtype):
    """Integer inputs (uint8 images, ids) in the layer's float dtype."""
    return inputs if inputs.dtype == dtype else F.astype(inputs, dtype)


class Normalization(Layer):
    """Feature-wise standardisation with statistics from `adapt` or given as mean / variance."""

    def __init__(self, axis=-1, mean=None, variance=None, invert=False, **kwargs):
        super().__init__(**kwargs)
        if axis is None:
            self.axis = ()
        elif isinstance(axis, (int, np.integer)) and not isinstance(axis, bool):
            self.axis = (int(axis),)
        elif isinstance(axis, (tuple, list)) and all(isinstance(a, (int, np.integer)) for a in axis):
            self.axis = tuple(int(a) for a in axis)
        else:
            raise ValueError(f"{self._who()}: axis must be an int, a tuple of ints or None, got {axis!r}")
        if (mean is None) != (variance is None):
            raise ValueError(f"{self._who()}: give both mean and variance, or neither (and call "
                             f"adapt), got mean={mean!r}, variance={variance!r}")
        self.init_mean, self.init_variance = mean, variance
        self.invert = bool(invert)
        self.mean = self.variance = self.count = None

    def _kept_axes(self, input_shape):
        ndim = len(input_shape)
        axes = []
        for a in self.axis:
            if not -ndim < a < ndim or a % ndim == 0:
                raise ValueError(f"{self._who()}: axis {a} is out of range (or the batch axis) for "
                                 f"input shape {format_shape(input_shape)}")
            axes.append(a % ndim)
        return tuple(sorted(axes))

    def build(self, input_shape):
        kept = self._kept_axes(input_shape)
        if any(input_shape[a] is None for a in kept):
            raise ValueError(f"{self._who()}: the normalised axes {self.axis} must have known sizes, "
                             f"got input shape {format_shape(input_shape)}")
        shape = tuple(input_shape[a] for a in kept)
        self._kept = kept
        self._broadcast = tuple(input_shape[a] if a in kept else 1 for a in range(len(input_shape)))
        self.mean = self.add_weight(name="mean", shape=shape, initializer="zeros", trainable=False)
        self.variance = self.add_weight(name="variance", shape=shape, initializer="ones",
                                        trainable=False)
        self.count = self.add_weight(name="count", shape=(), initializer="zeros", trainable=False,
                                     dtype="float64")
        if self.init_mean is not None:
            for weight, value, what in ((self.mean, self.init_mean, "mean"),
                                        (self.variance, self.init_variance, "variance")):
                try:
                    weight.data[...] = np.broadcast_to(np.asarray(value, np.float64), shape)
                except ValueError:
                    raise ValueError(f"{self._who()}: {what} of shape {np.shape(value)} does not fit "
                                     f"the statistics' shape {shape}") from None
        self.input_axes = {a: input_shape[a] for a in kept}
        super().build(input_shape)

    def adapt(self, data):
        """Set mean and variance from `data` (array, Dataset or iterable of batches)."""
        count, mean, m2 = 0.0, None, None
        for batch in _batches(data):
            if batch.ndim == 0 or batch.dtype.kind not in "fiub":
                raise ValueError(f"{self._who()}: adapt needs numeric batches with a batch axis, got "
                                 f"shape {batch.shape} and dtype {batch.dtype}")
            if not self.built:
                self.check_input_shape(batch.shape)
                self.build((None,) + batch.shape[1:])
            self.check_input_shape(batch.shape)
            reduce = tuple(a for a in range(batch.ndim) if a not in self._kept)
            values = batch.astype(np.float64)
            n = float(np.prod([batch.shape[a] for a in reduce]))
            if n == 0:
                continue
            batch_mean = values.mean(axis=reduce)
            batch_m2 = np.square(values - values.mean(axis=reduce, keepdims=True)).sum(axis=reduce)
            if mean is None:
                count, mean, m2 = n, batch_mean, batch_m2
            else:   # Chan et al.: combine (count, mean, M2) of two parts
                delta = batch_mean - mean
                total = count + n
                mean = mean + delta * (n / total)
                m2 = m2 + batch_m2 + np.square(delta) * (count * n / total)
                count = total
        if mean is None:
            raise ValueError(f"{self._who()}: adapt got no data")
        self.mean.data[...] = mean
        self.variance.data[...] = m2 / count
        self.count.data[...] = count

    def call(self, inputs, training=False):
        inputs = _as_float(inputs, self.dtype)
        mean = self.mean.data.reshape(self._broadcast)
        scale = np.maximum(np.sqrt(self.variance.data), EPSILON).reshape(self._broadcast)
        if self.invert:
            return inputs * scale + mean
        return (inputs - mean) / scale

    def get_config(self):
        config = {**super().get_config(), "axis": list(self.axis) if len(self.axis) != 1 else self.axis[0],
                  "invert": self.invert}
        if not self.axis:
            config["axis"] = None
        if self.init_mean is not None:
            config["mean"] = np.asarray(self.init_mean, np.float64).tolist()
            config["variance"] = np.asarray(self.init_variance, np.float64).tolist()
        return config


class Rescaling(Layer):
    """`inputs * scale + offset`, in the layer's float dtype (integer images are cast first)."""

    def __init__(self, scale, offset=0.0, **kwargs):
        super().__init__(**kwargs)
        for what, value in (("scale", scale), ("offset", offset)):
            if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
                raise TypeError(f"{self._who()}: {what} must be a number, got {value!r}")
        self.scale, self.offset = float(scale), float(offset)

    def call(self, inputs, training=False):
        return _as_float(inputs, self.dtype) * self.scale + self.offset

    def get_config(self):
        return {**super().get_config(), "scale": self.scale, "offset": self.offset}
