"""The epilogue of a convolution or dense layer in NumPy: the readable version of csrc/epilogue.c.

Arrays of any rank >= 1 whose last axis is the channels (an (N, H, W, F) image is N*H*W rows of F).
    forward   y  = relu(x + bias)            (each part optional; in x's dtype)
    backward  dx = dy * (y > 0),  db = dx summed over every axis but the last   (in dy's dtype)
"""
import numpy as np


def _dtype(kernel, named):
    """float32 or float64, as the compiled kernels compute (float16 in float32)."""
    for name, a in named:
        if not isinstance(a, np.ndarray):
            raise TypeError(f"{kernel}: {name} must be a NumPy array, got {type(a).__name__}")
        if a.dtype.kind != "f" or a.dtype.itemsize > 8:
            raise TypeError(f"{kernel}: {name} must be float32 or float64, got dtype {a.dtype}")
    wide = np.result_type(*(a.dtype for _, a in named)).itemsize > 4
    return np.dtype(np.float64 if wide else np.float32)


def _check_rank(kernel, what, a):
    if a.ndim < 1:
        raise ValueError(f"{kernel}: {what} must have rank >= 1 (..., channels), got shape {a.shape}")


def bias_relu_forward(x, bias, relu, out=None):
    """relu(x + bias) over the last axis; into `out` (x's shape, any float dtype and layout; it may be
    x) when given."""
    kernel = "bias_relu_forward"
    if bias is not None:
        _dtype(kernel, [("bias", bias)])
    dt = _dtype(kernel, [("x", x)])   # the bias joins x's dtype, as in `y += bias`
    _check_rank(kernel, "x", x)
    if bias is not None and bias.shape != x.shape[-1:]:
        raise ValueError(f"{kernel}: bias shape {bias.shape} must be ({x.shape[-1]},), the last axis of x "
                         f"shape {x.shape}")
    if not isinstance(relu, (bool, np.bool_)):
        raise TypeError(f"{kernel}: relu must be a bool, got {relu!r}")
    if out is not None:
        if not isinstance(out, np.ndarray):
            raise TypeError(f"{kernel}: out must be a NumPy array, got {type(out).__name__}")
        if out.dtype.kind != "f" or out.dtype.itemsize > 8 or out.shape != x.shape:
            raise ValueError(f"{kernel}: out must be a float array of x's shape {x.shape}, got shape "
                             f"{out.shape} and dtype {out.dtype}")
        if not out.flags.writeable:
            raise ValueError(f"{kernel}: out {out.shape} is read-only")
    y = x.astype(dt)
    if bias is not None:
        y = y + bias.astype(dt)
    if relu:
        y = np.maximum(y, 0)
    if out is None:
        return y
    out[...] = y
    return out


def bias_relu_backward(dy, y):
    """(dx, db): dx = dy * (y > 0) (dy when y is None), db = dx summed over all axes but the last."""
    kernel = "bias_relu_backward"
    if y is not None:
        _dtype(kernel, [("y", y)])
    dt = _dtype(kernel, [("dy", dy)])   # y is read in dy's dtype
    _check_rank(kernel, "dy", dy)
    if y is not None and y.shape != dy.shape:
        raise ValueError(f"{kernel}: y shape {y.shape} must equal dy shape {dy.shape}")
    dx = dy.astype(dt, copy=False)
    if y is not None:
        dx = dx * (y.astype(dt) > 0)
    return dx, dx.sum(axis=tuple(range(dx.ndim - 1)))
