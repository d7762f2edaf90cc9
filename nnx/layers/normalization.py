"""BatchNormalization and LayerNormalization, exactly as Keras computes them.

Training: per feature (the `axis`), over every other axis, with the biased batch variance
    y = gamma * (x - mean) / sqrt(var + epsilon) + beta
and the moving statistics follow `moving = moving * momentum + batch * (1 - momentum)` (Keras updates
moving_variance with the same biased variance). Inference: the moving statistics replace the batch ones.

The training transform is one `Function` with the closed-form backward (one pass over the data each
way) instead of a chain of eight elementwise ops:
    dbeta = sum(dy), dgamma = sum(dy * xhat), dx = gamma / (m sqrt(var + eps)) * (m dy - dbeta - xhat dgamma)
"""
import numpy as np

from nnx.autograd import Function
from nnx.functional.normalization import layer_norm
from nnx.layers.base import Layer, format_shape


class _BatchNormTrain(Function):
    """y = gamma * xhat + beta with batch statistics; `stats` receives the batch mean and variance."""

    @staticmethod
    def forward(ctx, x, gamma, beta, axes, epsilon, stats):
        mean = x.mean(axis=axes, keepdims=True)
        centred = x - mean
        var = np.mean(np.square(centred), axis=axes, keepdims=True)
        inv_std = 1.0 / np.sqrt(var + epsilon)
        xhat = centred
        xhat *= inv_std               # in place: `centred` is ours
        stats["mean"], stats["variance"] = mean, var
        ctx.save_for_backward(xhat, inv_std, gamma)
        ctx.axes = axes
        return xhat * gamma + beta

    @staticmethod
    def backward(ctx, dy):
        xhat, inv_std, gamma = ctx.saved_tensors
        axes = ctx.axes
        m = dy.size // inv_std.size
        dbeta = dy.sum(axis=axes, keepdims=True)
        dgamma = (dy * xhat).sum(axis=axes, keepdims=True)
        dx = dy * m
        dx -= dbeta
        dx -= xhat * dgamma
        dx *= (gamma * inv_std) / m
        return dx, dgamma.reshape(gamma.shape), dbeta.reshape(gamma.shape), None, None, None


class BatchNormalization(Layer):
    """Keras' BatchNormalization(axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True);
    weights in Keras' order: gamma, beta, moving_mean, moving_variance."""
    min_rank = 2
    regularizer_args = {"beta_regularizer": "beta", "gamma_regularizer": "gamma"}

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones", moving_mean_initializer="zeros",
                 moving_variance_initializer="ones", **kwargs):
        super().__init__(**kwargs)
        if not isinstance(axis, (int, np.integer)) or isinstance(axis, bool):
            raise ValueError(f"{self._who()}: axis must be an int, got {axis!r}")
        if not 0.0 <= momentum <= 1.0 or not epsilon > 0:
            raise ValueError(f"{self._who()}: need 0 <= momentum <= 1 and epsilon > 0, got momentum="
                             f"{momentum!r}, epsilon={epsilon!r}")
        self.axis = int(axis)
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.center = bool(center)
        self.scale = bool(scale)
        self.beta_initializer = beta_initializer
        self.gamma_initializer = gamma_initializer
        self.moving_mean_initializer = moving_mean_initializer
        self.moving_variance_initializer = moving_variance_initializer
        self.gamma = self.beta = None

    def build(self, input_shape):
        rank = len(input_shape)
        if not -rank <= self.axis < rank or self.axis % rank == 0:
            raise ValueError(f"{self._who()}: axis {self.axis} is not a feature axis of input shape "
                             f"{format_shape(input_shape)}")
        axis = self.axis % rank
        features = input_shape[axis]
        if features is None:
            raise ValueError(f"{self._who()}: axis {self.axis} of the input must be known to build, "
                             f"got shape {format_shape(input_shape)}")
        shape = (features,)
        # the parameters broadcast against the input as (C,) for the last axis, (C, 1, 1) for axis 1 of 4
        self._broadcast_shape = (features,) + (1,) * (rank - 1 - axis)
        if self.scale:
            self.gamma = self.add_weight(name="gamma", shape=shape, initializer=self.gamma_initializer)
        if self.center:
            self.beta = self.add_weight(name="beta", shape=shape, initializer=self.beta_initializer)
        self.moving_mean = self.add_weight(name="moving_mean", shape=shape,
                                           initializer=self.moving_mean_initializer, trainable=False)
        self.moving_variance = self.add_weight(name="moving_variance", shape=shape,
                                               initializer=self.moving_variance_initializer,
                                               trainable=False)
        self.input_rank = rank
        self.input_axes = {axis: features}
        self._reduce_axes = tuple(i for i in range(rank) if i != axis)
        super().build(input_shape)

    def _params(self):
        """gamma, beta, moving mean and variance in the shape that broadcasts against the input."""
        shape = self._broadcast_shape
        gamma = self.gamma if self.scale else np.ones(shape, self.dtype)
        beta = self.beta if self.center else np.zeros(shape, self.dtype)
        if len(shape) > 1:
            gamma, beta = (p.reshape(*shape) for p in (gamma, beta))
        return gamma, beta, self.moving_mean.data.reshape(shape), self.moving_variance.data.reshape(shape)

    def call(self, inputs, training=False):
        gamma, beta, moving_mean, moving_variance = self._params()
        if training:
            stats = {}
            out = _BatchNormTrain.apply(inputs, gamma, beta, self._reduce_axes, self.epsilon, stats)
            decay = 1.0 - self.momentum
            for moving, batch in ((self.moving_mean, stats["mean"]),
                                  (self.moving_variance, stats["variance"])):
                moving.data *= self.momentum
                moving.data += decay * batch.reshape(moving.shape)
            return out
        scale = gamma / np.sqrt(moving_variance + self.epsilon)
        return inputs * scale + (beta - scale * moving_mean)

    def flops(self, input_shape):
        return 4 * int(np.prod(input_shape[1:]))

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "momentum": self.momentum,
                "epsilon": self.epsilon, "center": self.center, "scale": self.scale,
                "beta_initializer": self.beta_initializer, "gamma_initializer": self.gamma_initializer,
                "moving_mean_initializer": self.moving_mean_initializer,
                "moving_variance_initializer": self.moving_variance_initializer}


class LayerNormalization(Layer):
    """Keras 3's LayerNormalization(axis=-1, epsilon=1e-3, center=True, scale=True): per sample, over
    `axis` (an int or a list), y = gamma * (x - mean) / sqrt(var + epsilon) + beta with the biased
    variance. gamma and beta have the sizes of the normalised axes (weights in that order)."""
    supports_masking = True
    min_rank = 2
    regularizer_args = {"beta_regularizer": "beta", "gamma_regularizer": "gamma"}

    def __init__(self, axis=-1, epsilon=1e-3, center=True, scale=True, beta_initializer="zeros",
                 gamma_initializer="ones", **kwargs):
        super().__init__(**kwargs)
        axes = (axis,) if isinstance(axis, (int, np.integer)) else axis
        if (not isinstance(axes, (tuple, list)) or not axes or
                not all(isinstance(a, (int, np.integer)) and not isinstance(a, bool) for a in axes)):
            raise ValueError(f"{self._who()}: axis must be an int or a list of ints, got {axis!r}")
        if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float)) or not epsilon > 0:
            raise ValueError(f"{self._who()}: epsilon must be > 0, got {epsilon!r}")
        self.axis = int(axis) if isinstance(axis, (int, np.integer)) else [int(a) for a in axes]
        self.epsilon = float(epsilon)
        self.center, self.scale = bool(center), bool(scale)
        self.beta_initializer, self.gamma_initializer = beta_initializer, gamma_initializer
        self.gamma = self.beta = None

    def build(self, input_shape):
        rank = len(input_shape)
        axes = (self.axis,) if isinstance(self.axis, int) else self.axis
        distinct = len({a % rank for a in axes}) == len(axes)
        if any(not -rank < a < rank or a % rank == 0 for a in axes) or not distinct:
            raise ValueError(f"{self._who()}: axis {self.axis} must name distinct non-batch axes of input "
                             f"shape {format_shape(input_shape)}")
        self._axes = tuple(sorted(a % rank for a in axes))
        sizes = tuple(input_shape[a] for a in self._axes)
        if None in sizes:
            raise ValueError(f"{self._who()}: the normalised axes {self.axis} of the input must be known "
                             f"to build, got shape {format_shape(input_shape)}")
        # the parameters broadcast as input_shape with 1 outside the normalised axes (as Keras reshapes)
        self._broadcast_shape = tuple(d if a in self._axes else 1 for a, d in enumerate(input_shape))[1:]
        if self.scale:
            self.gamma = self.add_weight(name="gamma", shape=sizes, initializer=self.gamma_initializer)
        if self.center:
            self.beta = self.add_weight(name="beta", shape=sizes, initializer=self.beta_initializer)
        self.input_rank = rank
        self.input_axes = dict(zip(self._axes, sizes))
        super().build(input_shape)

    def call(self, inputs, training=False):
        gamma, beta = self.gamma, self.beta
        if len(self._axes) > 1 or self._axes[0] != len(self._broadcast_shape):
            gamma = None if gamma is None else gamma.reshape(self._broadcast_shape)
            beta = None if beta is None else beta.reshape(self._broadcast_shape)
        return layer_norm(inputs, gamma, beta, self._axes, self.epsilon)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "epsilon": self.epsilon,
                "center": self.center, "scale": self.scale, "beta_initializer": self.beta_initializer,
                "gamma_initializer": self.gamma_initializer}
