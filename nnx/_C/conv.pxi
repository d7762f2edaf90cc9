# Convolution bindings: check everything, then call csrc/conv.c without the GIL.
#
# x (N, H, W, C), kernel (KH, KW, C // groups, F), y / dy (N, OH, OW, F); padding is explicit
# ((top, bottom), (left, right)); strides and dilation are (h, w) pairs (docs/api.md section 4).

import operator

from nnx.geometry import window_output
from nnx.rungs import CONV_RUNGS   # index i is csrc/conv.c's nnx_conv_rung i; None runs 'fast'


cdef nnx_conv_rung _conv_rung(str kernel, object rung) except *:
    """The C rung for `rung` (None: the fastest), or a clear error."""
    if rung is None:
        return NNX_CONV_FAST
    if not isinstance(rung, str):
        raise TypeError(f"{kernel}: rung must be None or a str, one of {CONV_RUNGS}, got {rung!r}")
    if rung not in CONV_RUNGS:
        raise ValueError(f"{kernel}: unknown rung {rung!r}; expected None or one of {CONV_RUNGS}")
    cdef int index = CONV_RUNGS.index(rung)
    return <nnx_conv_rung>index

cdef object _groups(str kernel, object groups):
    """Check that `groups` is an int >= 1."""
    if isinstance(groups, bool):
        raise TypeError(f"{kernel}: groups must be an int, got {groups!r}")
    try:
        groups = operator.index(groups)
    except TypeError:
        raise TypeError(f"{kernel}: groups must be an int, got {groups!r}") from None
    if groups < 1:
        raise ValueError(f"{kernel}: groups must be >= 1, got {groups}")
    return groups


cdef tuple _rank4(str kernel, str what, object a, str axes):
    """The shape of a rank-4 array with no empty dimension."""
    if a.ndim != 4:
        raise ValueError(f"{kernel}: expected {what} of rank 4 {axes}, got shape {a.shape}")
    if min(a.shape) < 1:
        raise ValueError(f"{kernel}: {what} must not be empty, got shape {a.shape}")
    return tuple(a.shape)


cdef nnx_conv_geom _conv_geom(str kernel, tuple x_shape, tuple k_shape, object strides, object padding,
                              object dilation, object groups) except *:
    """Check a convolution's arguments against the input and kernel shapes; return its geometry."""
    cdef nnx_conv_geom g
    sh, sw = _pair(kernel, "strides", strides, 1)
    dh, dw = _pair(kernel, "dilation", dilation, 1)
    (top, bottom), (left, right) = _padding(kernel, padding)
    groups = _groups(kernel, groups)
    n, h, w, c = x_shape
    kh, kw, kc, f = k_shape
    if kc * groups != c or f % groups:
        raise ValueError(f"{kernel}: input shape {x_shape} (C={c}) and kernel shape {k_shape} do not agree "
                         f"for groups={groups}: need C == kernel.shape[2] * groups and kernel.shape[3] "
                         f"divisible by groups")
    padded_h, padded_w = h + top + bottom, w + left + right
    if max(padded_h, padded_w) > 2**40:
        raise ValueError(f"{kernel}: padding {padding!r} is too large for input shape {x_shape}")
    oh, ow = window_output(kernel, x_shape, (kh, kw), (sh, sw), ((top, bottom), (left, right)), (dh, dw))
    # A stride (or a 1-tap dilation) beyond the padded image only ever multiplies 0: clamp it so that
    # huge values reach C as small ones.
    sh, sw, dh, dw = min(sh, padded_h), min(sw, padded_w), min(dh, padded_h), min(dw, padded_w)
    g.n, g.h, g.w, g.c = n, h, w, c
    g.oh, g.ow, g.f = oh, ow, f
    g.kh, g.kw, g.sh, g.sw, g.dh, g.dw = kh, kw, sh, sw, dh, dw
    g.top, g.left, g.groups = top, left, groups
    return g


cdef void _check_conv_dy(str kernel, tuple dy_shape, nnx_conv_geom g, tuple x_shape) except *:
    expected = (g.n, g.oh, g.ow, g.f)
    if dy_shape != expected:
        raise ValueError(f"{kernel}: dy has shape {dy_shape}, but x_shape {x_shape} convolves to {expected}")


cdef void _check_status(str kernel, int status) except *:
    if status != 0:
        raise MemoryError(f"{kernel}: could not allocate the im2col workspace")


def conv2d_forward(x, kernel, strides, padding, dilation, groups, rung=None, bias=None, relu=False):
    """y (N, OH, OW, F) = the cross-correlation of x (N, H, W, C) with kernel (KH, KW, C // groups, F),
    on rung `rung` of the ladder (CONV_RUNGS; None: the fastest); then relu(y + bias) (bias (F,), the
    bias add when given, relu when `relu` is True: bias_relu_forward's epilogue, fused into the pass)."""
    name = "conv2d_forward"
    dt = _compute_dtype(name, [("x", x), ("kernel", kernel)])
    x_shape = _rank4(name, "x", x, "(N, H, W, C)")
    k_shape = _rank4(name, "kernel", kernel, "(KH, KW, C // groups, F)")
    cdef nnx_conv_geom g = _conv_geom(name, x_shape, k_shape, strides, padding, dilation, groups)
    if bias is not None:
        _compute_dtype(name, [("bias", bias)])   # checked; added in the convolution's dtype
        if tuple(bias.shape) != (g.f,):
            raise ValueError(f"{name}: bias shape {bias.shape} must be ({g.f},), the filters of kernel shape "
                             f"{k_shape}")
    if not isinstance(relu, (bool, np.bool_)):
        raise TypeError(f"{name}: relu must be a bool, got {relu!r}")
    X = _contiguous(x, dt)
    Wt = _contiguous(kernel, dt)
    B = None if bias is None else _contiguous(bias, dt)
    Y = np.empty((g.n, g.oh, g.ow, g.f), dtype=dt)
    cdef cnp.ndarray cX = X, cW = Wt, cY = Y
    cdef cnp.ndarray cB = B   # None allowed: then its data is never read
    cdef void *bp = NULL if B is None else cB.data
    cdef int use_relu = bool(relu)
    cdef int status
    cdef nnx_conv_rung r = _conv_rung(name, rung)
    if dt == np.float32:
        with nogil:
            status = nnx_conv2d_forward_f32(r, &g, <float*>cX.data, <float*>cW.data, <float*>bp, use_relu,
                                            <float*>cY.data)
    else:
        with nogil:
            status = nnx_conv2d_forward_f64(r, &g, <double*>cX.data, <double*>cW.data, <double*>bp, use_relu,
                                            <double*>cY.data)
    _check_status(name, status)
    return Y


def conv2d_backward_input(dy, kernel, x_shape, strides, padding, dilation, groups, rung=None):
    """dx (x_shape): the gradient of conv2d_forward with respect to x, given dy (N, OH, OW, F)."""
    name = "conv2d_backward_input"
    dt = _compute_dtype(name, [("dy", dy), ("kernel", kernel)])
    shape = _shape(name, "x_shape", x_shape, 4)
    dy_shape = _rank4(name, "dy", dy, "(N, OH, OW, F)")
    k_shape = _rank4(name, "kernel", kernel, "(KH, KW, C // groups, F)")
    cdef nnx_conv_geom g = _conv_geom(name, shape, k_shape, strides, padding, dilation, groups)
    _check_conv_dy(name, dy_shape, g, shape)
    DY = _contiguous(dy, dt)
    Wt = _contiguous(kernel, dt)
    DX = np.empty(shape, dtype=dt)
    cdef cnp.ndarray cDY = DY, cW = Wt, cDX = DX
    cdef int status
    cdef nnx_conv_rung r = _conv_rung(name, rung)
    if dt == np.float32:
        with nogil:
            status = nnx_conv2d_backward_input_f32(r, &g, <float*>cDY.data, <float*>cW.data, <float*>cDX.data)
    else:
        with nogil:
            status = nnx_conv2d_backward_input_f64(r, &g, <double*>cDY.data, <double*>cW.data,
                                                   <double*>cDX.data)
    _check_status(name, status)
    return DX


def conv2d_backward_weight(x, dy, kernel_shape, strides, padding, dilation, groups, rung=None, relu_output=None,
                           bias=False):
    """dkernel (kernel_shape): the gradient of conv2d_forward with respect to the kernel. With relu_output
    (the forward's output after its relu, dy's shape) dy is first masked, dy * (relu_output > 0), as
    bias_relu_backward masks it; with bias=True returns (dkernel, dbias), dbias (F,) the (masked) dy
    summed over N, OH, OW as bias_relu_backward sums it (the same numbers). Both fused into the one pass
    over dy."""
    name = "conv2d_backward_weight"
    dt = _compute_dtype(name, [("x", x), ("dy", dy)])
    k_shape = _shape(name, "kernel_shape", kernel_shape, 4)
    x_shape = _rank4(name, "x", x, "(N, H, W, C)")
    dy_shape = _rank4(name, "dy", dy, "(N, OH, OW, F)")
    cdef nnx_conv_geom g = _conv_geom(name, x_shape, k_shape, strides, padding, dilation, groups)
    _check_conv_dy(name, dy_shape, g, x_shape)
    if relu_output is not None:
        _compute_dtype(name, [("relu_output", relu_output)])   # checked; read in the gradient's dtype
        if tuple(relu_output.shape) != dy_shape:
            raise ValueError(f"{name}: relu_output shape {relu_output.shape} must equal dy shape {dy_shape}")
    if not isinstance(bias, (bool, np.bool_)):
        raise TypeError(f"{name}: bias must be a bool, got {bias!r}")
    X = _contiguous(x, dt)
    DY = _contiguous(dy, dt)
    Yo = None if relu_output is None else _contiguous(relu_output, dt)
    DW = np.empty(k_shape, dtype=dt)
    DB = np.empty(g.f, dtype=dt) if bias else None
    cdef cnp.ndarray cX = X, cDY = DY, cDW = DW
    cdef cnp.ndarray cYo = Yo, cDB = DB   # None allowed: then their data is never read
    cdef void *yp = NULL if Yo is None else cYo.data
    cdef void *dbp = NULL if DB is None else cDB.data
    cdef int status
    cdef nnx_conv_rung r = _conv_rung(name, rung)
    if dt == np.float32:
        with nogil:
            status = nnx_conv2d_backward_weight_f32(r, &g, <float*>cX.data, <float*>cDY.data, <float*>yp,
                                                    <float*>cDW.data, <float*>dbp)
    else:
        with nogil:
            status = nnx_conv2d_backward_weight_f64(r, &g, <double*>cX.data, <double*>cDY.data, <double*>yp,
                                                    <double*>cDW.data, <double*>dbp)
    _check_status(name, status)
    return (DW, DB) if bias else DW
