"""Dense (fully connected) layer: y = x @ kernel + bias, through the backend's GEMM kernel.

Inputs of rank > 2 are flattened to (rows, in) first, so one GEMM does the work; the backward pass is
two more GEMMs (dx = dy @ kernel^T, dkernel = x^T @ dy) and a column sum for the bias.
The bias add and activation='relu' run as one pass of the epilogue kernel, in place on the GEMM's
output (one graph node, no temporaries); backward, the relu mask and the bias's column sum are one pass.
"""
from nnx import backend
from nnx.autograd import Function
from nnx.functional.activations import fused_relu
from nnx.functional.math import _t


class DenseOp(Function):
    @staticmethod
    def forward(ctx, x, kernel, bias, relu):
        kernels = backend.kernels()
        rows = x if x.ndim == 2 else x.reshape(-1, x.shape[-1])
        y = kernels.gemm(rows, kernel)
        if bias is not None or relu:  # one pass, in place on the GEMM's fresh output
            y = kernels.bias_relu_forward(y, bias, relu, out=y)
        ctx.saved_tensors = (rows, kernel, y if relu else None)
        ctx.x_shape = x.shape
        return y if x.ndim == 2 else y.reshape(x.shape[:-1] + (kernel.shape[1],))

    @staticmethod
    def backward(ctx, g):
        kernels = backend.kernels()
        rows, kernel, relu_out = ctx.saved_tensors
        need_x, need_kernel, need_bias, _ = ctx.needs_input_grad
        g2 = g if g.ndim == 2 else g.reshape(-1, g.shape[-1])
        dbias = None
        if relu_out is not None or need_bias:  # the relu mask and the bias gradient in one pass
            g2, dbias = kernels.bias_relu_backward(g2, relu_out)
        dx = kernels.gemm(g2, kernel.T).reshape(ctx.x_shape) if need_x else None
        dkernel = kernels.gemm(rows.T, g2) if need_kernel else None
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
    return DenseOp.apply(x, kernel, bias, fused_relu(activation, "dense"))
