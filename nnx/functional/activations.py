"""Activation functions and (log-)softmax, all numerically stable for inputs of +-1e4."""
import warnings

import numpy as np

from nnx.autograd import Function
from nnx.functional.math import _axes, _t
from nnx.tensor import Tensor


def relu_backward(g, y):
    """The gradient of relu from its OUTPUT y."""
    return g * (y > 0)


def fused_relu(activation, op):
    """Validate the `activation` argument of an op that can fuse an activation: True for 'relu'."""
    if activation is None or activation == "linear":
        return False
    if activation == "relu":
        return True
    raise ValueError(f"{op}: the fused activation must be None, 'linear' or 'relu', got {activation!r}")


class Relu(Function):
    @staticmethod
    def forward(ctx, x):
        y = np.maximum(x, 0)
        ctx.saved_tensors = (y,)
        return y

    @staticmethod
    def backward(ctx, g):
        return relu_backward(g, ctx.saved_tensors[0])


def _stable_sigmoid(x):
    """1 / (1 + e^-x) without overflow: for x < 0 use e^x / (1 + e^x)."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1, e) / (1 + e)


class LeakyRelu(Function):
    """x for x >= 0, slope * x otherwise; `slope` is a number or a Tensor (PReLU's learned alpha)."""

    @staticmethod
    def forward(ctx, x, slope):
        negative = x < 0
        ctx.saved_tensors = (x, negative, slope)
        return np.where(negative, x * slope, x)

    @staticmethod
    def backward(ctx, g):
        x, negative, slope = ctx.saved_tensors
        need_x, need_slope = ctx.needs_input_grad
        dx = np.where(negative, g * slope, g) if need_x else None
        return dx, (g * np.where(negative, x, 0) if need_slope else None)


class Elu(Function):
    """x for x > 0, alpha * (e^x - 1) otherwise; the derivative there is y + alpha."""

    @staticmethod
    def forward(ctx, x, alpha):
        positive = x > 0
        y = np.where(positive, x, alpha * np.expm1(np.minimum(x, 0)))
        ctx.saved_tensors = (positive, y)
        ctx.alpha = alpha
        return y

    @staticmethod
    def backward(ctx, g):
        positive, y = ctx.saved_tensors
        return np.where(positive, g, g * (y + ctx.alpha)), None


class Sigmoid(Function):
    @staticmethod
    def forward(ctx, x):
        y = _stable_sigmoid(x).astype(x.dtype, copy=False)
        ctx.saved_tensors = (y,)
        return y

    @staticmethod
    def backward(ctx, g):
        y = ctx.saved_tensors[0]
        return g * y * (1 - y)


class Tanh(Function):
    @staticmethod
    def forward(ctx, x):
        y = np.tanh(x)
        ctx.saved_tensors = (y,)
        return y

    @staticmethod
    def backward(ctx, g):
        y = ctx.saved_tensors[0]
        return g * (1 - y * y)


class Softmax(Function):
    @staticmethod
    def forward(ctx, x, axis):
        y = x - x.max(axis=axis, keepdims=True)   # largest exponent is e^0: no overflow
        np.exp(y, out=y)
        y /= y.sum(axis=axis, keepdims=True)
        ctx.saved_tensors = (y,)
        ctx.axis = axis
        return y

    @staticmethod
    def backward(ctx, g):
        y = ctx.saved_tensors[0]
        gy = g * y
        gy -= y * gy.sum(axis=ctx.axis, keepdims=True)
        return gy, None


class LogSoftmax(Function):
    @staticmethod
    def forward(ctx, x, axis):
        y = x - x.max(axis=axis, keepdims=True)
        y -= np.log(np.exp(y).sum(axis=axis, keepdims=True))
        ctx.saved_tensors = (y,)
        ctx.axis = axis
        return y

    @staticmethod
    def backward(ctx, g):
        y = ctx.saved_tensors[0]
        return g - np.exp(y) * g.sum(axis=ctx.axis, keepdims=True), None


def relu(x):
    return Relu.apply(_t(x, "relu"))


def leaky_relu(x, negative_slope=0.2):
    """x for x >= 0, negative_slope * x otherwise; negative_slope may be a Tensor that broadcasts
    against x (it then gets a gradient)."""
    x = _t(x, "leaky_relu")
    if not isinstance(negative_slope, Tensor):
        negative_slope = float(negative_slope)
    return LeakyRelu.apply(x, negative_slope)


def elu(x, alpha=1.0):
    return Elu.apply(_t(x, "elu"), float(alpha))


def sigmoid(x):
    return Sigmoid.apply(_t(x, "sigmoid"))


def tanh(x):
    return Tanh.apply(_t(x, "tanh"))


def _float_input(x, op):
    x = _t(x, op)
    if x.dtype.kind != "f":
        raise TypeError(f"{op}: expected a floating-point tensor, got dtype {x.dtype}")
    if x.ndim == 0:
        raise ValueError(f"{op}: expected at least 1-D input, got shape {x.shape}")
    return x


def softmax(x, axis=-1):
    x = _float_input(x, "softmax")
    axes = _axes(axis, x.ndim, "softmax")
    if axes is not None and all(x.shape[a] == 1 for a in axes):   # Keras 3 warns: always 1
        warnings.warn(f"softmax over axis {axis} of a tensor of shape {x.shape}: this axis has size "
                      f"1, so the softmax always returns 1, which is likely not what you intended. "
                      f"Did you mean to use a sigmoid instead?", stacklevel=2)
    out = Softmax.apply(x, axes)
    out.produced_by_softmax = True   # lets a loss warn about from_logits=True on probabilities
    return out


def log_softmax(x, axis=-1):
    x = _float_input(x, "log_softmax")
    return LogSoftmax.apply(x, _axes(axis, x.ndim, "log_softmax"))
