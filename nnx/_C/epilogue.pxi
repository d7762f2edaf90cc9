# Epilogue bindings: bias + relu after a convolution or dense GEMM, and its gradient (csrc/epilogue.c).
#
# Arrays of any rank >= 1 whose last axis is the channels: an (N, H, W, F) image is N*H*W rows of F.


cdef tuple _rows_channels(str kernel, str what, object a):
    """(rows, channels) of an array seen as rows of its last axis."""
    if a.ndim < 1:
        raise ValueError(f"{kernel}: {what} must have rank >= 1 (..., channels), got shape {a.shape}")
    c = a.shape[a.ndim - 1]   # (the module is compiled without wraparound: no negative index)
    return (a.size // c if c else 0), c


def bias_relu_forward(x, bias, relu, out=None):
    """relu(x + bias) (relu when `relu` is True, the bias add when `bias` is not None) over the last axis,
    computed in x's dtype (float32 or float64; bias converted to it).

    Written into `out` when given (x's shape, any float dtype and layout; it may be x itself, which
    makes the epilogue in place) and `out` returned; else a new array."""
    kernel = "bias_relu_forward"
    if bias is not None:
        _compute_dtype(kernel, [("bias", bias)])   # checked; computed in x's dtype, as `y += bias` is
    dt = _compute_dtype(kernel, [("x", x)])
    rows, c = _rows_channels(kernel, "x", x)
    if bias is not None and tuple(bias.shape) != (c,):
        raise ValueError(f"{kernel}: bias shape {bias.shape} must be ({c},), the last axis of x shape "
                         f"{x.shape}")
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
    X = _contiguous(x, dt)
    # C writes into out itself when it can (x itself included: in place); else into a new array,
    # copied into out at the end
    direct = (out is not None and out.dtype == dt and out.flags.c_contiguous and out.flags.aligned
              and (out.ctypes.data == X.ctypes.data or not np.may_share_memory(out, X)))
    Y = out if direct else np.empty(X.shape, dtype=dt)
    B = None if bias is None else _contiguous(bias, dt)
    if rows == 0 or c == 0:
        return Y if out is None else out
    cdef cnp.ndarray cX = X, cY = Y
    cdef cnp.ndarray cB = B   # None allowed: then its data is never read
    cdef void *bp = NULL if B is None else cB.data
    cdef Py_ssize_t r = rows, n = c
    cdef int use_relu = bool(relu)
    if dt == np.float32:
        with nogil:
            nnx_bias_relu_forward_f32(r, n, <float*>cX.data, <float*>bp, use_relu, <float*>cY.data)
    else:
        with nogil:
            nnx_bias_relu_forward_f64(r, n, <double*>cX.data, <double*>bp, use_relu, <double*>cY.data)
    if out is None or direct:
        return Y
    out[...] = Y
    return out


def bias_relu_backward(dy, y):
    """(dx, db) for the epilogue whose OUTPUT was y: dx = dy * (y > 0) (dy itself when y is None, no
    relu) and db = dx summed over every axis but the last, in fixed blocks (bit-identical for any thread
    count); computed in dy's dtype (y converted to it)."""
    kernel = "bias_relu_backward"
    if y is not None:
        _compute_dtype(kernel, [("y", y)])   # checked; read in dy's dtype, as `dy * (y > 0)` keeps it
    dt = _compute_dtype(kernel, [("dy", dy)])
    rows, c = _rows_channels(kernel, "dy", dy)
    if y is not None and tuple(y.shape) != tuple(dy.shape):
        raise ValueError(f"{kernel}: y shape {y.shape} must equal dy shape {dy.shape}")
    DY = _contiguous(dy, dt)
    Yo = None if y is None else _contiguous(y, dt)
    DX = DY if y is None else np.empty(DY.shape, dtype=dt)
    DB = np.zeros(c, dtype=dt)
    if rows == 0 or c == 0:
        return DX, DB
    cdef cnp.ndarray cDY = DY, cDX = DX, cDB = DB
    cdef cnp.ndarray cYo = Yo
    cdef void *yp = NULL if Yo is None else cYo.data
    cdef Py_ssize_t r = rows, n = c
    cdef int status
    if dt == np.float32:
        with nogil:
            status = nnx_bias_relu_backward_f32(r, n, <float*>cDY.data, <float*>yp, <float*>cDX.data,
                                                <float*>cDB.data)
    else:
        with nogil:
            status = nnx_bias_relu_backward_f64(r, n, <double*>cDY.data, <double*>yp, <double*>cDX.data,
                                                <double*>cDB.data)
    if status:
        raise MemoryError(f"{kernel}: could not allocate the partial sums for dy shape {dy.shape}")
    return DX, DB
