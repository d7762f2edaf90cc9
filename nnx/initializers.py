"""Weight initialisers with Keras' names, formulas and fan rules.

An initialiser is a callable `(shape, dtype='float32') -> ndarray`. The random ones draw from
`nnx.random.get_rng()` at call time, so `nnx.manual_seed(n)` makes initialisation reproducible.

Fans follow Keras: a Dense kernel (in, out) has fan_in = in, fan_out = out; a convolution kernel
(KH, KW, Cin, Cout) has fan_in = KH*KW*Cin and fan_out = KH*KW*Cout; a vector has both equal to its
length. The variance-scaling family draws with variance `scale / n`, n being fan_in, fan_out or
their mean: glorot_* (scale 1, fan_avg), he_* (scale 2, fan_in), lecun_* (scale 1, fan_in).
"Normal" means a normal truncated at two standard deviations whose stddev is divided by 0.8796...,
the stddev of a standard normal truncated at +-2, so the drawn values keep the intended variance
(as Keras does).
"""
import math

import numpy as np

from nnx.random import get_rng
from nnx.utils.config import Configurable
from nnx.utils.names import get_by_name

# Standard deviation of a unit normal truncated to [-2, 2]: dividing by it restores variance 1.
_TRUNCATED_STDDEV = 0.87962566103423978


def compute_fans(shape):
    """(fan_in, fan_out) of a weight shape, by Keras' rules."""
    shape = tuple(shape)
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive_field = math.prod(shape[:-2])
    return shape[-2] * receptive_field, shape[-1] * receptive_field


def _check(shape, dtype, who, floating=True):
    try:
        shape = tuple(int(d) for d in shape)
    except TypeError:
        raise TypeError(f"{who}: shape must be a tuple of ints, got {shape!r}") from None
    if any(d < 0 for d in shape):
        raise ValueError(f"{who}: shape must not have negative dimensions, got {shape}")
    dtype = np.dtype(dtype)
    if floating and dtype.kind != "f":
        raise TypeError(f"{who}: random initialisers need a floating-point dtype, got {dtype}")
    return shape, dtype


def _truncated_normal(shape, dtype, stddev, mean=0.0):
    """Normal(mean, stddev) with every draw beyond 2 stddev redrawn (TensorFlow's rule)."""
    rng = get_rng()
    z = rng.standard_normal(shape, dtype=np.float64)
    outside = np.abs(z) > 2.0
    while outside.any():  # each round redraws ~4.6% of the previous round: a handful of rounds
        z[outside] = rng.standard_normal(int(outside.sum()))
        outside = np.abs(z) > 2.0
    return (z * stddev + mean).astype(dtype, copy=False)


class Initializer(Configurable):
    """Base class: subclasses implement `__call__(shape, dtype)`; config = constructor arguments."""

    def __call__(self, shape, dtype="float32"):
        raise NotImplementedError


class Zeros(Initializer):
    def __call__(self, shape, dtype="float32"):
        shape, dtype = _check(shape, dtype, "Zeros", floating=False)
        return np.zeros(shape, dtype)


class Ones(Initializer):
    def __call__(self, shape, dtype="float32"):
        shape, dtype = _check(shape, dtype, "Ones", floating=False)
        return np.ones(shape, dtype)


class Constant(Initializer):
    def __init__(self, value=0.0):
        self.value = float(value)

    def __call__(self, shape, dtype="float32"):
        shape, dtype = _check(shape, dtype, "Constant", floating=False)
        return np.full(shape, self.value, dtype)

    def get_config(self):
        return {"value": self.value}


class RandomUniform(Initializer):
    def __init__(self, minval=-0.05, maxval=0.05):
        if not maxval > minval:
            raise ValueError(f"RandomUniform: need minval < maxval, got {minval} and {maxval}")
        self.minval, self.maxval = float(minval), float(maxval)

    def __call__(self, shape, dtype="float32"):
        shape, dtype = _check(shape, dtype, "RandomUniform")
        u = get_rng().random(shape, dtype=np.float64)
        return (u * (self.maxval - self.minval) + self.minval).astype(dtype, copy=False)

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval}


class RandomNormal(Initializer):
    def __init__(self, mean=0.0, stddev=0.05):
        self.mean, self.stddev = float(mean), float(stddev)

    def __call__(self, shape, dtype="float32"):
        shape, dtype = _check(shape, dtype, "RandomNormal")
        z = get_rng().standard_normal(shape, dtype=np.float64)
        return (z * self.stddev + self.mean).astype(dtype, copy=False)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev}


class TruncatedNormal(RandomNormal):
    """Normal(mean, stddev) truncated at two standard deviations (no variance correction)."""

    def __call__(self, shape, dtype="float32"):
        shape, dtype = _check(shape, dtype, "TruncatedNormal")
        return _truncated_normal(shape, dtype, self.stddev, self.mean)


class VarianceScaling(Initializer):
    """Variance `scale / n` with n = fan_in, fan_out or (fan_in + fan_out) / 2."""

    _MODES = ("fan_in", "fan_out", "fan_avg")
    _DISTRIBUTIONS = ("truncated_normal", "untruncated_normal", "uniform")

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal"):
        if not scale > 0:
            raise ValueError(f"VarianceScaling: scale must be positive, got {scale}")
        if mode not in self._MODES:
            raise ValueError(f"VarianceScaling: mode must be one of {self._MODES}, got {mode!r}")
        if distribution == "normal":  # Keras' older spelling
            distribution = "truncated_normal"
        if distribution not in self._DISTRIBUTIONS:
            raise ValueError(f"VarianceScaling: distribution must be one of {self._DISTRIBUTIONS}, "
                             f"got {distribution!r}")
        self.scale, self.mode, self.distribution = float(scale), mode, distribution

    def __call__(self, shape, dtype="float32"):
        shape, dtype = _check(shape, dtype, type(self).__name__)
        fan_in, fan_out = compute_fans(shape)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[self.mode]
        variance = self.scale / max(1.0, n)
        if self.distribution == "uniform":
            limit = math.sqrt(3.0 * variance)
            u = get_rng().random(shape, dtype=np.float64)
            return (u * (2 * limit) - limit).astype(dtype, copy=False)
        if self.distribution == "untruncated_normal":
            z = get_rng().standard_normal(shape, dtype=np.float64)
            return (z * math.sqrt(variance)).astype(dtype, copy=False)
        return _truncated_normal(shape, dtype, math.sqrt(variance) / _TRUNCATED_STDDEV)

    def get_config(self):
        return {"scale": self.scale, "mode": self.mode, "distribution": self.distribution}


class GlorotUniform(VarianceScaling):
    """Uniform in [-limit, limit], limit = sqrt(6 / (fan_in + fan_out))."""

    def __init__(self):
        super().__init__(1.0, "fan_avg", "uniform")

    def get_config(self):
        return {}


class GlorotNormal(VarianceScaling):
    """Truncated normal, stddev = sqrt(2 / (fan_in + fan_out))."""

    def __init__(self):
        super().__init__(1.0, "fan_avg", "truncated_normal")

    def get_config(self):
        return {}


class HeUniform(VarianceScaling):
    """Uniform in [-limit, limit], limit = sqrt(6 / fan_in)."""

    def __init__(self):
        super().__init__(2.0, "fan_in", "uniform")

    def get_config(self):
        return {}


class HeNormal(VarianceScaling):
    """Truncated normal, stddev = sqrt(2 / fan_in)."""

    def __init__(self):
        super().__init__(2.0, "fan_in", "truncated_normal")

    def get_config(self):
        return {}


class LecunUniform(VarianceScaling):
    """Uniform in [-limit, limit], limit = sqrt(3 / fan_in)."""

    def __init__(self):
        super().__init__(1.0, "fan_in", "uniform")

    def get_config(self):
        return {}


class LecunNormal(VarianceScaling):
    """Truncated normal, stddev = sqrt(1 / fan_in)."""

    def __init__(self):
        super().__init__(1.0, "fan_in", "truncated_normal")

    def get_config(self):
        return {}


class Orthogonal(Initializer):
    """An orthogonal matrix (QR of a Gaussian matrix, signs fixed by diag(R)) times `gain`.

    Shapes of rank > 2 are treated as (prod(shape[:-1]), shape[-1]); with fewer rows than columns
    the rows are orthonormal, otherwise the columns. Keras' default for recurrent kernels.
    """

    def __init__(self, gain=1.0):
        self.gain = float(gain)

    def __call__(self, shape, dtype="float32"):
        shape, dtype = _check(shape, dtype, "Orthogonal")
        if len(shape) < 2:
            raise ValueError(f"Orthogonal: the shape must have rank >= 2, got {shape}")
        rows, cols = math.prod(shape[:-1]), shape[-1]
        a = get_rng().standard_normal((max(rows, cols), min(rows, cols)))
        q, r = np.linalg.qr(a)
        q *= np.sign(np.diag(r))  # makes the decomposition unique, so Q is Haar-distributed
        if rows < cols:
            q = q.T
        return (self.gain * q).reshape(shape).astype(dtype, copy=False)

    def get_config(self):
        return {"gain": self.gain}


_CLASSES = {cls.__name__: cls for cls in (
    Zeros, Ones, Constant, RandomUniform, RandomNormal, TruncatedNormal, VarianceScaling,
    GlorotUniform, GlorotNormal, HeUniform, HeNormal, LecunUniform, LecunNormal, Orthogonal)}

_ALIASES = {
    "zeros": Zeros, "ones": Ones, "constant": Constant,
    "uniform": RandomUniform, "random_uniform": RandomUniform,
    "normal": RandomNormal, "random_normal": RandomNormal, "truncated_normal": TruncatedNormal,
    "variance_scaling": VarianceScaling,
    "glorot_uniform": GlorotUniform, "glorot_normal": GlorotNormal,
    "he_uniform": HeUniform, "he_normal": HeNormal,
    "lecun_uniform": LecunUniform, "lecun_normal": LecunNormal, "orthogonal": Orthogonal,
}


def get(identifier):
    """An initialiser from a name ('glorot_uniform', 'HeNormal', ...), a config dict
    {'class_name': ..., 'config': {...}}, an Initializer class, or any callable (returned as is)."""
    return get_by_name(identifier, "initializers.get", "initializer", Initializer,
                       {**_ALIASES, **_CLASSES}, from_callable=lambda fn: fn)


def serialize(initializer):
    """A JSON-able identifier that `get` turns back into an equivalent initialiser."""
    if isinstance(initializer, Initializer) and type(initializer).__name__ in _CLASSES:
        return {"class_name": type(initializer).__name__, "config": initializer.get_config()}
    if isinstance(initializer, str):
        return initializer
    raise ValueError(f"initializers.serialize: cannot serialise {initializer!r}; use a built-in "
                     f"initializer or a name")


# Keras exposes the snake_case names as module attributes too.
zeros, ones = Zeros, Ones
glorot_uniform, glorot_normal = GlorotUniform, GlorotNormal
he_uniform, he_normal = HeUniform, HeNormal
lecun_uniform, lecun_normal = LecunUniform, LecunNormal
orthogonal = Orthogonal
