"""2-D convolution and pooling on channels-last (N, H, W, C) images.

This module turns the user-facing arguments (int or pair strides, 'valid' / 'same' / explicit
padding) into the explicit pairs the kernels take (docs/api.md section 4) with nnx.geometry (which
also holds the 'same' rule and Keras' transposed-convolution lengths), checks shapes with messages
that name the op, and wires the forward and backward kernels of the current backend into autograd.
"""
from nnx import backend
from nnx.autograd import Function
from nnx.functional.activations import fused_relu
from nnx.functional.math import _t
from nnx.geometry import (check_pool_padding, output_padding_arg, padding_arg, padding_mode, pair, per_side,
                          positive_int, transpose_output_length, transpose_padding, window_output)


def _check_image(x, op, what="input"):
    if x.ndim != 4:
        raise ValueError(f"{op}: expected {what} of rank 4 (N, H, W, C), got shape {x.shape}")
    if x.dtype.kind != "f":
        raise TypeError(f"{op}: expected a floating-point {what}, got dtype {x.dtype} (shape {x.shape})")


# --- convolution --------------------------------------------------------------------------------
class Conv2DOp(Function):
    @staticmethod
    def forward(ctx, x, kernel, bias, relu, strides, padding, dilation, groups):
        kernels = backend.kernels()
        # bias and relu fused into the kernel's pass, applied to each block of output while in cache
        y = kernels.conv2d_forward(x, kernel, strides, padding, dilation, groups, bias=bias, relu=relu)
        ctx.saved_tensors = (x, kernel, y if relu else None)
        ctx.args = (strides, padding, dilation, groups)
        return y

    @staticmethod
    def backward(ctx, g):
        kernels = backend.kernels()
        x, kernel, relu_out = ctx.saved_tensors
        need_x, need_kernel, need_bias = ctx.needs_input_grad[:3]
        db = None
        if need_kernel and not need_x:
            # a first layer: the weight-gradient kernel masks g and sums db as it reads g, so the
            # separate bias_relu_backward pass (and its masked copy of g) is not needed
            grads = kernels.conv2d_backward_weight(x, g, kernel.shape, *ctx.args, relu_output=relu_out,
                                                   bias=need_bias)
            dk, db = grads if need_bias else (grads, None)
            return None, dk, db, None, None, None, None, None
        if relu_out is not None or need_bias:  # the relu mask and the bias gradient in one pass
            g, db = kernels.bias_relu_backward(g, relu_out)
        dx = (kernels.conv2d_backward_input(g, kernel, x.shape, *ctx.args) if need_x else None)
        dk = (kernels.conv2d_backward_weight(x, g, kernel.shape, *ctx.args) if need_kernel else None)
        return dx, dk, db, None, None, None, None, None


def conv2d_geometry(x_shape, kernel_shape, strides=1, padding="valid", dilation_rate=1, groups=1, op="conv2d"):
    """The window arguments the kernels take, (strides, pads, dilation, groups) with pads
    ((top, bottom), (left, right)), for an input and kernel of these shapes (rank 4 each), checked: a
    ValueError naming `op` for bad arguments, channels that do not agree or a window that does not fit.
    It depends on nothing but the shapes and the arguments, so a layer computes it once per input
    shape and hands it to `conv2d(..., geometry=)`."""
    strides = pair(op, "strides", strides)
    dilation = pair(op, "dilation_rate", dilation_rate)
    groups = positive_int(op, "groups", groups)
    kh, kw, k_in, c_out = kernel_shape
    c_in = x_shape[3]
    if c_in % groups or c_out % groups or k_in * groups != c_in:
        raise ValueError(f"{op}: input shape {x_shape} (C_in={c_in}) and kernel shape {kernel_shape} "
                         f"do not agree for groups={groups}: need C_in == kernel.shape[2] * groups "
                         f"and C_out divisible by groups")
    pads = per_side(padding_arg(op, padding), x_shape[1:3], (kh, kw), strides, dilation)
    window_output(op, x_shape, (kh, kw), strides, pads, dilation)
    return strides, pads, dilation, groups


def conv2d(x, kernel, bias=None, strides=1, padding="valid", dilation_rate=1, groups=1,
           activation=None, geometry=None):
    """Channels-last 2-D convolution (cross-correlation, as in Keras and PyTorch).

    x (N, H, W, C_in), kernel (KH, KW, C_in // groups, C_out), bias (C_out,) -> (N, OH, OW, C_out).
    `activation='relu'` fuses bias and relu into the op: the kernel applies them to its output as it
    writes it; backward, the relu mask and the bias gradient are one pass. `geometry`: what
    conv2d_geometry returned for these shapes and arguments, which then are not looked at again."""
    op = "conv2d"
    x, kernel = _t(x, op), _t(kernel, op)
    _check_image(x, op)
    if kernel.ndim != 4:
        raise ValueError(f"{op}: kernel must have rank 4 (KH, KW, C_in // groups, C_out), got shape "
                         f"{kernel.shape} (input shape {x.shape})")
    if kernel.dtype.kind != "f":
        raise TypeError(f"{op}: expected a floating-point kernel, got dtype {kernel.dtype}")
    if geometry is None:
        geometry = conv2d_geometry(x.shape, kernel.shape, strides, padding, dilation_rate, groups, op)
    if bias is not None:
        bias = _t(bias, op)
        if bias.shape != (kernel.shape[3],):
            raise ValueError(f"{op}: bias shape {bias.shape} does not match kernel shape "
                             f"{kernel.shape} (expected ({kernel.shape[3]},))")
    relu = fused_relu(activation, op)
    return Conv2DOp.apply(x, kernel, bias, relu, *geometry)


# --- transposed and depthwise convolution ---------------------------------------------------------
class ConvTranspose2D(Function):
    """The adjoint of Conv2DOp: its forward is the convolution's input-gradient kernel, its backward the
    convolution's forward (for the input) and weight-gradient kernel (for the kernel, roles swapped)."""

    @staticmethod
    def forward(ctx, x, kernel, bias, out_shape, strides, padding, dilation):
        kernels = backend.kernels()
        y = kernels.conv2d_backward_input(x, kernel, out_shape, strides, padding, dilation, 1)
        if bias is not None:
            y = kernels.bias_relu_forward(y, bias, False, out=y)
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
        db = kernels.bias_relu_backward(g, None)[1] if need_bias else None
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
    strides = pair(op, "strides", strides)
    dilation = pair(op, "dilation_rate", dilation_rate)
    padding = padding_mode(op, padding)
    output_padding = output_padding_arg(op, output_padding, strides)
    if bias is not None:
        bias = _t(bias, op)
        if bias.shape != (kernel.shape[2],):
            raise ValueError(f"{op}: bias shape {bias.shape} does not match kernel shape "
                             f"{kernel.shape} (expected ({kernel.shape[2]},))")
    out, pads = [], []
    for n, k, s, d, p in zip(x.shape[1:3], kernel.shape[:2], strides, dilation,
                             output_padding or (None, None)):
        out.append(transpose_output_length(n, k, s, d, padding, p))
        pads.append(transpose_padding(n, out[-1], k, s, d, padding, p))
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
        # argmax only feeds backward: when the graph does not record this call (inference), the kernel
        # skips it
        y, argmax = backend.kernels().max_pool2d_forward(x, pool_size, strides, padding, argmax=ctx.recording)
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


def pool_geometry(x_shape, pool_size, strides=None, padding="valid", op="max_pool2d"):
    """The window arguments the pooling kernels take, (pool_size, strides, pads), for an input of
    this shape (rank 4), checked (a ValueError naming `op`); as conv2d_geometry, a layer computes it
    once per input shape."""
    pool_size = pair(op, "pool_size", pool_size)
    strides = pool_size if strides is None else pair(op, "strides", strides)
    pads = per_side(padding_arg(op, padding), x_shape[1:3], pool_size, strides, (1, 1))
    check_pool_padding(op, x_shape, pool_size, pads)
    window_output(op, x_shape, pool_size, strides, pads)
    return pool_size, strides, pads


def _pool_args(x, pool_size, strides, padding, geometry, op):
    x = _t(x, op)
    _check_image(x, op)
    return (x,) + (geometry or pool_geometry(x.shape, pool_size, strides, padding, op))


def max_pool2d(x, pool_size, strides=None, padding="valid", geometry=None):
    """Max pooling; ties send the gradient to the first maximum of the window (row-major).
    `geometry`: what pool_geometry returned for x's shape and these arguments."""
    return MaxPool2D.apply(*_pool_args(x, pool_size, strides, padding, geometry, "max_pool2d"))


def avg_pool2d(x, pool_size, strides=None, padding="valid", geometry=None):
    """Average pooling; padding is excluded from each window's count. `geometry`: as max_pool2d's."""
    return AvgPool2D.apply(*_pool_args(x, pool_size, strides, padding, geometry, "avg_pool2d"))
