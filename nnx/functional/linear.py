"""Dense (fully connected) layer: y = x @ kernel + bias, through the backend's GEMM kernel.

Inputs of rank > 2 are flattened to (rows, in) first, so one GEMM does the work; the backward pass is
two more GEMMs (dx = dy @ kernel^T, dkernel = x^T @ dy) and a column sum for the bias.
With activation='relu' the bias add and the relu run in place on the GEMM's output: one graph node
and no extra temporaries instead of three ops.
"""
import numpy as np

from nnx import backend
from nnx.autograd import Function
from nnx.functional.activations import fused_relu, relu_backward
from nnx.functional.math import _t


class Dense(Function):
    @staticmethod
    def forward(ctx, x, kernel, bias, relu):
        gemm = backend.kernels().gemm
        rows = x if x.ndim == 2 else x.reshape(-1, x.shape[-1])
        y = gemm(rows, kernel)
        if bias is not None:
            y += bias
        if relu:
            np.maximum(y, 0, out=y)
        ctx.saved_tensors = (rows, kernel, y if relu else None)
        ctx.x_shape = x.shape
        return y if x.ndim == 2 else y.reshape(x.shape[:-1] + (kernel.shape[1],))

    @staticmethod
    def backward(ctx, g):
        gemm = backend.kernels().gemm
        rows, kernel, relu_out = ctx.saved_tensors
        need_x, need_kernel, need_bias, _ = ctx.needs_input_grad
        g2 = g if g.ndim == 2 else g.reshape(-1, g.shape[-1])
        if relu_out is not None:
            g2 = relu_backward(g2, relu_out)
        dx = gemm(g2, kernel.T).reshape(ctx.x_shape) if need_x else None
        dkernel = gemm(rows.T, g2) if need_kernel else None
        dbias = g2.sum(axis=0) if need_bias else None
        return dx, dkernel, dbias, None


def dense(x, kernel, bias=None, activation=None):
    """x (..., in) @ kernel (in, out) + bias (out,), then the fused `activation` (None or 'relu')."""
    x, kernel = _t(x, "dense"), _t(kernel, "dense")
    if kernel.ndim != 2:
        raise ValueError(f"dense: kernel must be 2-D (in, out), got shape {kernel.shape}")
    if x.ndim < 1 or x.shape[-1] != kernel.shape[0]:
        raise ValueError(f"dense: input shape {x.shape} does not match kernel shape {kernel.shape} "
                         f"(last input dimension must be {kernel.shape[0]})")
    if bias is not None:
        bias = _t(bias, "dense")
        if bias.shape != (kernel.shape[1],):
            raise ValueError(f"dense: bias shape {bias.shape} does not match kernel shape "
                             f"{kernel.shape} (expected ({kernel.shape[1]},))")
    for t in (x, kernel) if bias is None else (x, kernel, bias):
        if t.dtype.kind != "f":
            raise TypeError(f"dense: expected floating-point tensors, got dtype {t.dtype} "
                            f"(shape {t.shape})")
    return Dense.apply(x, kernel, bias, fused_relu(activation, "dense"))
