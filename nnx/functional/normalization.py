"""Layer normalisation as one op with a closed-form backward.

Over the normalised `axes` (per sample, unlike batch norm), with the biased variance:
    xhat = (x - mean) / sqrt(var + epsilon),   y = gamma * xhat + beta
gamma and beta broadcast against x (Keras' LayerNormalization reshapes them that way). Backward, with
means over the normalised axes and dxhat = dy * gamma:
    dx = (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)) / sqrt(var + epsilon)
    dgamma = dy * xhat, dbeta = dy   (the engine sums them to the parameters' shapes)
"""
import numpy as np

from nnx.autograd import Function
from nnx.functional.math import _axes, _t


class LayerNorm(Function):
    @staticmethod
    def forward(ctx, x, gamma, beta, axes, epsilon):
        mean = x.mean(axis=axes, keepdims=True)
        xhat = x - mean
        inv_std = 1.0 / np.sqrt(np.mean(np.square(xhat), axis=axes, keepdims=True) + epsilon)
        xhat *= inv_std               # in place: `xhat` is ours
        ctx.saved_tensors = (xhat, inv_std, gamma)
        ctx.axes = axes
        y = xhat if gamma is None else xhat * gamma
        return y if beta is None else y + beta

    @staticmethod
    def backward(ctx, g):
        xhat, inv_std, gamma = ctx.saved_tensors
        need_x, need_gamma, need_beta = ctx.needs_input_grad[:3]
        dx = None
        if need_x:
            dxhat = g if gamma is None else g * gamma
            dx = dxhat - dxhat.mean(axis=ctx.axes, keepdims=True)
            dx -= xhat * (dxhat * xhat).mean(axis=ctx.axes, keepdims=True)
            dx *= inv_std
        return dx, (g * xhat if need_gamma else None), (g if need_beta else None), None, None


def layer_norm(x, gamma=None, beta=None, axis=-1, epsilon=1e-3):
    """Normalise x over `axis` (int or tuple) per sample, then scale by gamma and shift by beta (each
    None or broadcastable against x)."""
    op = "layer_norm"
    x = _t(x, op)
    if x.dtype.kind != "f":
        raise TypeError(f"{op}: expected a floating-point tensor, got dtype {x.dtype}")
    if not epsilon > 0:
        raise ValueError(f"{op}: epsilon must be > 0, got {epsilon!r}")
    axes = _axes(axis, x.ndim, op)
    params = []
    for what, p in (("gamma", gamma), ("beta", beta)):
        if p is not None:
            p = _t(p, op)
            try:
                np.broadcast_shapes(p.shape, x.shape)
            except ValueError:
                raise ValueError(f"{op}: {what} of shape {p.shape} does not broadcast against input "
                                 f"shape {x.shape}") from None
        params.append(p)
    return LayerNorm.apply(x, *params, axes, float(epsilon))
