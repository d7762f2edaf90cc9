# Pooling bindings: check everything, then call csrc/pool.c without the GIL.
#
# argmax is int32: the flat index h * W + w of each maximum in its image's H*W plane (see nnx.h).

from nnx.geometry import check_pool_padding, window_output

cdef nnx_pool_geom _pool_geom(str kernel, tuple x_shape, object pool_size, object strides,
                              object padding) except *:
    """Check pool size, strides and padding against an (N, H, W, C) shape; return the geometry."""
    cdef nnx_pool_geom g
    ph, pw = _pair(kernel, "pool_size", pool_size, 1)
    sh, sw = _pair(kernel, "strides", strides, 1)
    (top, bottom), (left, right) = _padding(kernel, padding)
    pads = ((top, bottom), (left, right))
    check_pool_padding(kernel, x_shape, (ph, pw), pads)
    n, h, w, c = x_shape
    if h * w > 2**31 - 1:
        raise ValueError(f"{kernel}: H*W = {h * w} of input shape {x_shape} does not fit the int32 argmax")
    padded_h, padded_w = h + top + bottom, w + left + right
    oh, ow = window_output(kernel, x_shape, (ph, pw), (sh, sw), pads)
    # The window fits the padded image, so PH*PW <= padded H*W: bounding that keeps C's window product
    # (and every index) inside int64.
    _check_elements(kernel, f"the padded image (padding {padding!r}) of", (padded_h, padded_w))
    _check_elements(kernel, "the output shape", (n, oh, ow, c))
    # A stride beyond the padded image leaves a single window, whatever its value: clamping it there
    # changes no result and keeps any Python int within C's ptrdiff_t.
    sh, sw = min(sh, padded_h), min(sw, padded_w)
    g.n, g.h, g.w, g.c = n, h, w, c
    g.oh, g.ow, g.ph, g.pw, g.sh, g.sw, g.top, g.left = oh, ow, ph, pw, sh, sw, top, left
    return g


cdef tuple _image_shape(str kernel, str what, object a):
    """The shape of a rank-4 (N, H, W, C) array with no empty dimension."""
    if a.ndim != 4:
        raise ValueError(f"{kernel}: expected {what} of rank 4 (N, H, W, C), got shape {a.shape}")
    if min(a.shape) < 1:
        raise ValueError(f"{kernel}: {what} must not be empty, got shape {a.shape}")
    return tuple(a.shape)


cdef void _check_dy(str kernel, object dy, nnx_pool_geom g, tuple x_shape) except *:
    expected = (g.n, g.oh, g.ow, g.c)
    if tuple(dy.shape) != expected:
        raise ValueError(f"{kernel}: dy has shape {dy.shape}, but x_shape {x_shape} pools to {expected}")


def max_pool2d_forward(x, pool_size, strides, padding, argmax=True):
    """Max pooling of (N, H, W, C) x -> (y, argmax); argmax is int32, the flat index in the H*W plane.

    argmax=False -> (y, None): the same y, bit for bit, without computing or storing the indices
    (what inference needs; only the backward pass reads them)."""
    kernel = "max_pool2d_forward"
    if not isinstance(argmax, (bool, np.bool_)):
        raise TypeError(f"{kernel}: argmax must be True or False, got {argmax!r}")
    dt = _compute_dtype(kernel, [("x", x)])
    cdef nnx_pool_geom g = _pool_geom(kernel, _image_shape(kernel, "x", x), pool_size, strides, padding)
    X = _contiguous(x, dt)
    Y = np.empty((g.n, g.oh, g.ow, g.c), dtype=dt)
    A = np.empty((g.n, g.oh, g.ow, g.c), dtype=np.int32) if argmax else None
    cdef cnp.ndarray cX = X, cY = Y
    cdef cnp.ndarray cA = A   # None allowed: then the kernel gets NULL and writes y alone
    cdef int32_t *a = NULL if A is None else <int32_t*>cA.data
    if dt == np.float32:
        with nogil:
            nnx_max_pool2d_forward_f32(&g, <float*>cX.data, <float*>cY.data, a)
    else:
        with nogil:
            nnx_max_pool2d_forward_f64(&g, <double*>cX.data, <double*>cY.data, a)
    return Y, A


def max_pool2d_backward(dy, argmax, x_shape):
    """dx of max pooling: each dy element added at the position its argmax names (int32 or any int)."""
    kernel = "max_pool2d_backward"
    dt = _compute_dtype(kernel, [("dy", dy)])
    shape = _shape(kernel, "x_shape", x_shape, 4)
    dy_shape = _image_shape(kernel, "dy", dy)
    adt = getattr(argmax, "dtype", None)
    if adt is None or adt.kind not in "iu":
        raise TypeError(f"{kernel}: argmax must be an integer NumPy array, got "
                        f"{adt if adt is not None else type(argmax).__name__}")
    if tuple(argmax.shape) != dy_shape:
        raise ValueError(f"{kernel}: argmax shape {argmax.shape} must equal dy shape {dy_shape}")
    n, h, w, c = shape
    if dy_shape[0] != n or dy_shape[3] != c:
        raise ValueError(f"{kernel}: dy shape {dy_shape} and x_shape {shape} differ in batch or channels")
    if h * w > 2**31 - 1:
        raise ValueError(f"{kernel}: H*W = {h * w} of x_shape {shape} does not fit the int32 argmax")
    if adt != np.int32 and (argmax.min() < 0 or argmax.max() >= h * w):
        raise ValueError(f"{kernel}: argmax values must lie in [0, H*W) = [0, {h * w}) for x_shape "
                         f"{shape}, got [{argmax.min()}, {argmax.max()}]")
    cdef nnx_pool_geom g
    g.n, g.h, g.w, g.c = n, h, w, c
    g.oh, g.ow = dy_shape[1], dy_shape[2]
    g.ph = g.pw = g.sh = g.sw = 1
    g.top = g.left = 0
    DY = _contiguous(dy, dt)
    A = _contiguous(argmax, np.int32)
    DX = np.empty(shape, dtype=dt)
    cdef cnp.ndarray cDY = DY, cA = A, cDX = DX
    cdef Py_ssize_t bad
    if dt == np.float32:
        with nogil:
            bad = nnx_max_pool2d_backward_f32(&g, <float*>cDY.data, <int32_t*>cA.data, <float*>cDX.data)
    else:
        with nogil:
            bad = nnx_max_pool2d_backward_f64(&g, <double*>cDY.data, <int32_t*>cA.data, <double*>cDX.data)
    if bad:
        raise ValueError(f"{kernel}: {bad} argmax values lie outside [0, H*W) = [0, {h * w}) for x_shape "
                         f"{shape}")
    return DX


def avg_pool2d_forward(x, pool_size, strides, padding):
    """Average pooling of (N, H, W, C) x; padding is not counted in the average."""
    kernel = "avg_pool2d_forward"
    dt = _compute_dtype(kernel, [("x", x)])
    cdef nnx_pool_geom g = _pool_geom(kernel, _image_shape(kernel, "x", x), pool_size, strides, padding)
    X = _contiguous(x, dt)
    Y = np.empty((g.n, g.oh, g.ow, g.c), dtype=dt)
    cdef cnp.ndarray cX = X, cY = Y
    if dt == np.float32:
        with nogil:
            nnx_avg_pool2d_forward_f32(&g, <float*>cX.data, <float*>cY.data)
    else:
        with nogil:
            nnx_avg_pool2d_forward_f64(&g, <double*>cX.data, <double*>cY.data)
    return Y


def avg_pool2d_backward(dy, x_shape, pool_size, strides, padding):
    """dx of average pooling: each pixel gathers dy / count from the windows that contain it."""
    kernel = "avg_pool2d_backward"
    dt = _compute_dtype(kernel, [("dy", dy)])
    shape = _shape(kernel, "x_shape", x_shape, 4)
    _image_shape(kernel, "dy", dy)
    cdef nnx_pool_geom g = _pool_geom(kernel, shape, pool_size, strides, padding)
    _check_dy(kernel, dy, g, shape)
    DY = _contiguous(dy, dt)
    DX = np.empty(shape, dtype=dt)
    cdef cnp.ndarray cDY = DY, cDX = DX
    if dt == np.float32:
        with nogil:
            nnx_avg_pool2d_backward_f32(&g, <float*>cDY.data, <float*>cDX.data)
    else:
        with nogil:
            nnx_avg_pool2d_backward_f64(&g, <double*>cDY.data, <double*>cDX.data)
    return DX
