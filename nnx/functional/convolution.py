"""2-D convolution and pooling on channels-last (N, H, W, C) images.

This module turns the user-facing arguments (int or pair strides, 'valid' / 'same' / int / pair
padding) into the explicit pairs the kernels take (docs/api.md section 4), checks shapes with messages
that name the op, and wires the forward and backward kernels of the current backend into autograd.

'same' follows TensorFlow: out = ceil(size / stride), total padding
max((out - 1) * stride + (K - 1) * dilation + 1 - size, 0), the odd pixel at the bottom / right.
"""
import numpy as np

from nnx import backend
from nnx.autograd import Function
from nnx.functional.activations import fused_relu, relu_backward
from nnx.functional.math import _t


def _pair(value, op, what):
    """int or (h, w) -> (h, w) of positive ints."""
    if type(value) is int and value >= 1:  # the common cases, checked cheaply
        return value, value
    if type(value) is tuple and len(value) == 2 and type(value[0]) is int and type(value[1]) is int \
            and value[0] >= 1 and value[1] >= 1:
        return value
    pair = (value, value) if isinstance(value, (int, np.integer)) else value
    try:
        pair = tuple(pair)
    except TypeError:
        pair = ()
    if (len(pair) != 2 or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool)
                                  for v in pair) or min(pair) < 1):
        raise ValueError(f"{op}: {what} must be a positive int or a pair of them, got {value!r}")
    return int(pair[0]), int(pair[1])


def _padding(padding, size, window, strides, dilation, op):
    """Resolve padding to ((top, bottom), (left, right))."""
    if isinstance(padding, str):
        mode = padding.lower()
        if mode == "valid":
            return (0, 0), (0, 0)
        if mode == "same":
            pads = []
            for n, k, s, d in zip(size, window, strides, dilation):
                out = -(-n // s)
                total = max((out - 1) * s + (k - 1) * d + 1 - n, 0)
                pads.append((total // 2, total - total // 2))
            return tuple(pads)
        raise ValueError(f"{op}: padding must be 'valid', 'same', an int or a pair, got {padding!r}")
    if isinstance(padding, (int, np.integer)) and not isinstance(padding, bool):
        pair = (padding, padding)
    else:
        try:
            pair = tuple(padding)
        except TypeError:
            pair = ()
    if len(pair) == 2 and all(isinstance(p, (int, np.integer)) for p in pair):
        pads = ((int(pair[0]),) * 2, (int(pair[1]),) * 2)
    elif len(pair) == 2 and all(len(tuple(p)) == 2 for p in pair):
        pads = tuple((int(a), int(b)) for a, b in pair)
    else:
        raise ValueError(f"{op}: padding must be 'valid', 'same', an int or a pair, got {padding!r}")
    if min(min(p) for p in pads) < 0:
        raise ValueError(f"{op}: padding must be non-negative, got {padding!r}")
    return pads


def _check_image(x, op, what="input"):
    if x.ndim != 4:
        raise ValueError(f"{op}: expected {what} of rank 4 (N, H, W, C), got shape {x.shape}")
    if x.dtype.kind != "f":
        raise TypeError(f"{op}: expected a floating-point {what}, got dtype {x.dtype} (shape {x.shape})")


def _check_output(op, x_shape, window, strides, pads, dilation, extra=""):
    for n, k, s, (a, b), d in zip(x_shape[1:3], window, strides, pads, dilation):
        if n + a + b < (k - 1) * d + 1:
            raise ValueError(f"{op}: window {tuple(window)}{extra} does not fit input shape "
                             f"{tuple(x_shape)} with padding {pads}")


# --- convolution --------------------------------------------------------------------------------
class Conv2D(Function):
    @staticmethod
    def forward(ctx, x, kernel, bias, relu, strides, padding, dilation, groups):
        y = backend.kernels().conv2d_forward(x, kernel, strides, padding, dilation, groups)
        if bias is not None:
            y += bias
        if relu:
            np.maximum(y, 0, out=y)  # fused: in place on the kernel's fresh output
        ctx.saved_tensors = (x, kernel, y if relu else None)
        ctx.args = (strides, padding, dilation, groups)
        return y

    @staticmethod
    def backward(ctx, g):
        kernels = backend.kernels()
        x, kernel, relu_out = ctx.saved_tensors
        need_x, need_kernel, need_bias = ctx.needs_input_grad[:3]
        if relu_out is not None:
            g = relu_backward(g, relu_out)
        dx = (kernels.conv2d_backward_input(g, kernel, x.shape, *ctx.args) if need_x else None)
        dk = (kernels.conv2d_backward_weight(x, g, kernel.shape, *ctx.args) if need_kernel else None)
        db = g.sum(axis=(0, 1, 2)) if need_bias else None
        return dx, dk, db, None, None, None, None, None


def conv2d(x, kernel, bias=None, strides=1, padding="valid", dilation_rate=1, groups=1,
           activation=None):
    """Channels-last 2-D convolution (cross-correlation, as in Keras and PyTorch).

    x (N, H, W, C_in), kernel (KH, KW, C_in // groups, C_out), bias (C_out,) -> (N, OH, OW, C_out).
    `activation='relu'` fuses bias and relu into the op (in place on the kernel's output)."""
    op = "conv2d"
    x, kernel = _t(x, op), _t(kernel, op)
    _check_image(x, op)
    if kernel.ndim != 4:
        raise ValueError(f"{op}: kernel must have rank 4 (KH, KW, C_in // groups, C_out), got shape "
                         f"{kernel.shape} (input shape {x.shape})")
    if kernel.dtype.kind != "f":
        raise TypeError(f"{op}: expected a floating-point kernel, got dtype {kernel.dtype}")
    strides = _pair(strides, op, "stride")
    dilation = _pair(dilation_rate, op, "dilation_rate")
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ValueError(f"{op}: groups must be a positive int, got {groups!r}")
    kh, kw, k_in, c_out = kernel.shape
    c_in = x.shape[3]
    if c_in % groups or c_out % groups or k_in * groups != c_in:
        raise ValueError(f"{op}: input shape {x.shape} (C_in={c_in}) and kernel shape {kernel.shape} "
                         f"do not agree for groups={groups}: need C_in == kernel.shape[2] * groups "
                         f"and C_out divisible by groups")
    if bias is not None:
        bias = _t(bias, op)
        if bias.shape != (c_out,):
            raise ValueError(f"{op}: bias shape {bias.shape} does not match kernel shape "
                             f"{kernel.shape} (expected ({c_out},))")
    pads = _padding(padding, x.shape[1:3], (kh, kw), strides, dilation, op)
    _check_output(op, x.shape, (kh, kw), strides, pads, dilation, f" (dilation {dilation})")
    relu = fused_relu(activation, op)
    return Conv2D.apply(x, kernel, bias, relu, strides, pads, dilation, int(groups))


# --- transposed and depthwise convolution ---------------------------------------------------------
def conv_transpose_length(size, k, s, d, padding, output_padding):
    """Keras 3's output length of a transposed convolution along one axis (None stays None):
    'valid' (size - 1) * s + k_eff + output_padding (default max(k_eff, s) - k_eff); 'same' size * s,
    or (size - 1) * s + k_eff % 2 + output_padding when given; k_eff = (k - 1) * d + 1."""
    if size is None:
        return None
    k_eff = (k - 1) * d + 1
    if padding == "valid":
        return (size - 1) * s + k_eff + (max(k_eff, s) - k_eff if output_padding is None else output_padding)
    return size * s if output_padding is None else (size - 1) * s + k_eff % 2 + output_padding


def _transpose_padding(size, out, k, s, d, padding, output_padding):
    """The padding (top, bottom) of the forward convolution whose adjoint the transposed one is.

    Keras (keras/src/backend/common/backend_utils.py) pads the stride-dilated input with
    left = k_eff - 1 - top zeros; so top = k_eff - 1 - left, and bottom is whatever makes the forward
    convolution of the output give back `size` positions."""
    k_eff = (k - 1) * d + 1
    if padding == "valid":
        left = k_eff - 1
    else:
        pad_len = s + k_eff - 2 if output_padding is None else k_eff + k_eff % 2 - 2 + output_padding
        left = min(pad_len // 2 + pad_len % 2, k_eff - 1)
    top = k_eff - 1 - left
    return top, max((size - 1) * s + k_eff - out - top, 0)


class ConvTranspose2D(Function):
    """The adjoint of Conv2D: its forward is the convolution's input-gradient kernel, its backward the
    convolution's forward (for the input) and weight-gradient kernel (for the kernel, roles swapped)."""

    @staticmethod
    def forward(ctx, x, kernel, bias, out_shape, strides, padding, dilation):
        y = backend.kernels().conv2d_backward_input(x, kernel, out_shape, strides, padding, dilation, 1)
        if bias is not None:
            y += bias
        ctx.saved_tensors = (x, kernel)
        ctx.args = (strides, padding, dilation, 1)
        return y

    @staticmethod
    def backward(ctx, g):
        kernels = backend.kernels()
        x, kernel = ctx.saved_tensors
        need_x, need_kernel, need_bias = ctx.needs_input_grad[:3]
        dx = kernels.conv2d_forward(g, kernel, *ctx.args) if need_x else None
        dk = kernels.conv2d_backward_weight(g, x, kernel.shape, *ctx.args) if need_kernel else None
        db = g.sum(axis=(0, 1, 2)) if need_bias else None
        return dx, dk, db, None, None, None, None


def conv2d_transpose(x, kernel, bias=None, strides=1, padding="valid", output_padding=None,
                     dilation_rate=1):
    """Transposed convolution (Keras' Conv2DTranspose; sometimes called deconvolution).

    x (N, H, W, C_in), kernel (KH, KW, C_out, C_in) in Keras' layout, bias (C_out,) -> (N, OH, OW, C_out)
    with OH as Keras computes it: 'valid' (H - 1) * stride + KH_eff + output_padding (default
    max(KH_eff, stride) - KH_eff), 'same' H * stride (or (H - 1) * stride + KH_eff % 2 + output_padding);
    KH_eff = (KH - 1) * dilation + 1. output_padding: None, an int or (h, w), each < its stride."""
    op = "conv2d_transpose"
    x, kernel = _t(x, op), _t(kernel, op)
    _check_image(x, op)
    if kernel.ndim != 4 or kernel.dtype.kind != "f":
        raise ValueError(f"{op}: kernel must be a floating-point array of rank 4 (KH, KW, C_out, C_in), "
                         f"got shape {kernel.shape} and dtype {kernel.dtype}")
    if kernel.shape[3] != x.shape[3]:
        raise ValueError(f"{op}: input shape {x.shape} has {x.shape[3]} channels but kernel shape "
                         f"{kernel.shape} expects {kernel.shape[3]} (layout (KH, KW, C_out, C_in))")
    strides = _pair(strides, op, "stride")
    dilation = _pair(dilation_rate, op, "dilation_rate")
    if not isinstance(padding, str) or padding.lower() not in ("valid", "same"):
        raise ValueError(f"{op}: padding must be 'valid' or 'same', got {padding!r}")
    if output_padding is not None:
        pair = (output_padding,) * 2 if isinstance(output_padding, (int, np.integer)) else output_padding
        if (not isinstance(pair, (tuple, list)) or len(pair) != 2 or
                not all(isinstance(p, (int, np.integer)) and not isinstance(p, bool) and 0 <= p < s
                        for p, s in zip(pair, strides))):
            raise ValueError(f"{op}: output_padding must be None or non-negative ints smaller than the "
                             f"stride {strides}, got {output_padding!r}")
        output_padding = tuple(int(p) for p in pair)
    if bias is not None:
        bias = _t(bias, op)
        if bias.shape != (kernel.shape[2],):
            raise ValueError(f"{op}: bias shape {bias.shape} does not match kernel shape "
                             f"{kernel.shape} (expected ({kernel.shape[2]},))")
    padding = padding.lower()
    out, pads = [], []
    for n, k, s, d, p in zip(x.shape[1:3], kernel.shape[:2], strides, dilation,
                             output_padding or (None, None)):
        out.append(conv_transpose_length(n, k, s, d, padding, p))
        pads.append(_transpose_padding(n, out[-1], k, s, d, padding, p))
    out_shape = (x.shape[0], out[0], out[1], kernel.shape[2])
    if min(out) < 1:
        raise ValueError(f"{op}: input shape {x.shape} with kernel shape {kernel.shape}, strides {strides}, "
                         f"padding {padding!r} and output_padding {output_padding} gives an empty output "
                         f"{out_shape}")
    return ConvTranspose2D.apply(x, kernel, bias, out_shape, strides, tuple(pads), dilation)


def depthwise_conv2d(x, kernel, bias=None, strides=1, padding="valid", dilation_rate=1, activation=None):
    """Each input channel convolved with its own `depth_multiplier` filters (Keras' depthwise_conv):
    x (N, H, W, C), kernel (KH, KW, C, depth_multiplier) -> (N, OH, OW, C * depth_multiplier), output
    channel c * depth_multiplier + m from input channel c. It is the grouped convolution with
    groups = C and the kernel viewed as (KH, KW, 1, C * depth_multiplier); `activation` as conv2d's."""
    op = "depthwise_conv2d"
    x, kernel = _t(x, op), _t(kernel, op)
    _check_image(x, op)
    if kernel.ndim != 4 or kernel.shape[2] != x.shape[3]:
        raise ValueError(f"{op}: kernel shape {kernel.shape} must be (KH, KW, C, depth_multiplier) with "
                         f"C = {x.shape[3]}, the channels of input shape {x.shape}")
    kh, kw, c, m = kernel.shape
    return conv2d(x, kernel.reshape(kh, kw, 1, c * m), bias, strides, padding, dilation_rate, groups=c,
                  activation=activation)


# --- pooling ------------------------------------------------------------------------------------
class MaxPool2D(Function):
    @staticmethod
    def forward(ctx, x, pool_size, strides, padding):
        y, argmax = backend.kernels().max_pool2d_forward(x, pool_size, strides, padding)
        ctx.saved_tensors = (argmax,)
        ctx.x_shape = x.shape
        return y

    @staticmethod
    def backward(ctx, g):
        (argmax,) = ctx.saved_tensors
        return backend.kernels().max_pool2d_backward(g, argmax, ctx.x_shape), None, None, None


class AvgPool2D(Function):
    @staticmethod
    def forward(ctx, x, pool_size, strides, padding):
        ctx.args = (x.shape, pool_size, strides, padding)
        return backend.kernels().avg_pool2d_forward(x, pool_size, strides, padding)

    @staticmethod
    def backward(ctx, g):
        return backend.kernels().avg_pool2d_backward(g, *ctx.args), None, None, None


def _pool_args(x, pool_size, strides, padding, op):
    x = _t(x, op)
    _check_image(x, op)
    pool_size = _pair(pool_size, op, "pool_size")
    strides = pool_size if strides is None else _pair(strides, op, "stride")
    pads = _padding(padding, x.shape[1:3], pool_size, strides, (1, 1), op)
    if any(max(p) >= k for p, k in zip(pads, pool_size)):
        raise ValueError(f"{op}: padding {pads} must be smaller than pool_size {pool_size} "
                         f"(input shape {x.shape})")
    _check_output(op, x.shape, pool_size, strides, pads, (1, 1))
    return x, pool_size, strides, pads


def max_pool2d(x, pool_size, strides=None, padding="valid"):
    """Max pooling; ties send the gradient to the first maximum of the window (row-major)."""
    return MaxPool2D.apply(*_pool_args(x, pool_size, strides, padding, "max_pool2d"))


def avg_pool2d(x, pool_size, strides=None, padding="valid"):
    """Average pooling; padding is excluded from each window's count."""
    return AvgPool2D.apply(*_pool_args(x, pool_size, strides, padding, "avg_pool2d"))
