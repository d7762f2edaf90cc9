"""2-D convolution on channels-last images, in NumPy: the readable version of csrc/conv.c.

x (N, H, W, C), kernel (KH, KW, C // groups, F), y (N, OH, OW, F). Output pixel (oh, ow) of filter f
(in group g = f // (F // groups)) sums x[n, oh*SH - top + i*DH, ow*SW - left + j*DW, g*Cg + c] *
kernel[i, j, c, f] over the taps (i, j) and the group's channels c < Cg, with x = 0 outside the image.

The three functions share one picture: `patches` is a (N, OH, OW, KH, KW, C) view of the padded input
(im2col without copying), and each pass is one einsum over it:
    forward          y  = sum over (i, j, c) of patches * kernel
    weight gradient  dk = sum over (n, oh, ow) of patches * dy
    input gradient   dpatches = dy * kernel summed over f, then added back where each patch came from

Each function takes `rung` like its compiled twin (nnx.kernels) and ignores it: NumPy has one
implementation, and the compiled kernels check the name.
"""
import numpy as np

from nnx.geometry import window_output
from nnx.reference.epilogue import _dtype as _float_dtype
from nnx.reference.epilogue import bias_relu_backward, bias_relu_forward


def _dtype(*arrays):
    """float32 or float64, the dtype the kernels compute in (float16 computes in float32)."""
    dt = np.result_type(*arrays)
    if dt.kind != "f":
        raise TypeError(f"conv2d: expected floating-point arrays, got dtype {dt}")
    return np.dtype(np.float32) if dt.itemsize <= 4 else np.dtype(np.float64)


def _output_shape(x_shape, kernel_shape, strides, padding, dilation, groups):
    n, h, w, c = x_shape
    kh, kw, cg, f = kernel_shape
    if cg * groups != c or f % groups:
        raise ValueError(f"conv2d: input shape {tuple(x_shape)} and kernel shape {tuple(kernel_shape)} do "
                         f"not agree for groups={groups}")
    oh, ow = window_output("conv2d", x_shape, (kh, kw), strides, padding, dilation)
    return n, oh, ow, f


def _patches(xp, kh, kw, oh, ow, strides, dilation):
    """patches[n, oh, ow, i, j, c] = xp[n, oh*SH + i*DH, ow*SW + j*DW, c], a read-only strided view."""
    sn, sh, sw, sc = xp.strides
    return np.lib.stride_tricks.as_strided(
        xp, shape=(xp.shape[0], oh, ow, kh, kw, xp.shape[3]),
        strides=(sn, sh * strides[0], sw * strides[1], sh * dilation[0], sw * dilation[1], sc),
        writeable=False)


def _pad(x, padding):
    (top, bottom), (left, right) = padding
    return np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))


def conv2d_forward(x, kernel, strides, padding, dilation, groups, rung=None, bias=None, relu=False):
    """The convolution, then relu(y + bias) as bias_relu_forward computes it (the compiled kernel fuses
    that epilogue into its pass)."""
    dt = _dtype(x, kernel)
    x, kernel = np.asarray(x, dt), np.asarray(kernel, dt)
    n, oh, ow, f = _output_shape(x.shape, kernel.shape, strides, padding, dilation, groups)
    kh, kw, cg, _ = kernel.shape
    p = _patches(_pad(x, padding), kh, kw, oh, ow, strides, dilation)
    p = p.reshape(n, oh, ow, kh, kw, groups, cg)            # split the channels into groups
    k = kernel.reshape(kh, kw, cg, groups, f // groups)     # split the filters into groups
    y = np.einsum("nhwijgc,ijcgf->nhwgf", p, k, optimize=True)
    y = np.ascontiguousarray(y.reshape(n, oh, ow, f), dtype=dt)
    if bias is not None and np.shape(bias) != (f,):
        raise ValueError(f"conv2d_forward: bias shape {np.shape(bias)} must be ({f},), the filters of kernel "
                         f"shape {kernel.shape}")
    return bias_relu_forward(y, bias, relu, out=y)


def conv2d_backward_weight(x, dy, kernel_shape, strides, padding, dilation, groups, rung=None, relu_output=None,
                           bias=False):
    """The kernel's gradient; with relu_output (the forward's output after its relu) dy is masked first,
    dy * (relu_output > 0), and with bias=True the bias gradient comes too: (dkernel, dbias), both from
    bias_relu_backward's masked dy (the compiled kernel fuses that pass into its own)."""
    kernel = "conv2d_backward_weight"
    if relu_output is not None:
        _float_dtype(kernel, [("relu_output", relu_output)])
    if relu_output is not None and np.shape(relu_output) != np.shape(dy):
        raise ValueError(f"{kernel}: relu_output shape {np.shape(relu_output)} must equal dy shape "
                         f"{np.shape(dy)}")
    if not isinstance(bias, (bool, np.bool_)):
        raise TypeError(f"{kernel}: bias must be a bool, got {bias!r}")
    dt = _dtype(x, dy)
    x, dy = np.asarray(x, dt), np.asarray(dy, dt)
    n, oh, ow, f = _output_shape(x.shape, kernel_shape, strides, padding, dilation, groups)
    if dy.shape != (n, oh, ow, f):
        raise ValueError(f"conv2d: dy shape {dy.shape} does not match the output shape {(n, oh, ow, f)}")
    dy, db = bias_relu_backward(dy, relu_output)
    kh, kw, cg, _ = kernel_shape
    p = _patches(_pad(x, padding), kh, kw, oh, ow, strides, dilation).reshape(n, oh, ow, kh, kw, groups, cg)
    d = dy.reshape(n, oh, ow, groups, f // groups)
    dk = np.einsum("nhwijgc,nhwgf->ijcgf", p, d, optimize=True)
    dk = np.ascontiguousarray(dk.reshape(kh, kw, cg, f), dtype=dt)
    return (dk, db) if bias else dk


def conv2d_backward_input(dy, kernel, x_shape, strides, padding, dilation, groups, rung=None):
    dt = _dtype(dy, kernel)
    dy, kernel = np.asarray(dy, dt), np.asarray(kernel, dt)
    n, oh, ow, f = _output_shape(x_shape, kernel.shape, strides, padding, dilation, groups)
    if dy.shape != (n, oh, ow, f):
        raise ValueError(f"conv2d: dy shape {dy.shape} does not match the output shape {(n, oh, ow, f)}")
    kh, kw, cg, _ = kernel.shape
    (top, bottom), (left, right) = padding
    _, h, w, c = x_shape
    d = dy.reshape(n, oh, ow, groups, f // groups)
    k = kernel.reshape(kh, kw, cg, groups, f // groups)
    dpatches = np.einsum("nhwgf,ijcgf->nhwijgc", d, k, optimize=True).reshape(n, oh, ow, kh, kw, c)
    # col2im: tap (i, j) of every output pixel came from the padded input at (oh*SH + i*DH, ow*SW + j*DW)
    dxp = np.zeros((n, h + top + bottom, w + left + right, c), dt)
    for i in range(kh):
        for j in range(kw):
            rows = slice(i * dilation[0], i * dilation[0] + strides[0] * (oh - 1) + 1, strides[0])
            cols = slice(j * dilation[1], j * dilation[1] + strides[1] * (ow - 1) + 1, strides[1])
            dxp[:, rows, cols, :] += dpatches[:, :, :, i, j, :]
    return np.ascontiguousarray(dxp[:, top:top + h, left:left + w, :])
