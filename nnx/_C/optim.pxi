# Optimizer bindings: the fused Adam update of one weight, in place (csrc/optim.c).
#
# The arrays updated in place (the weight and its slots) must already be what C writes through: same
# dtype (float32 or float64), same shape, C-contiguous, aligned, writeable and pairwise disjoint; the
# gradient is only read, so any float array of the weight's shape is taken (copied when it is not
# contiguous in the weight's dtype, or when it shares memory with an array written).

from libc.math cimport isfinite


cdef bint _overlaps(cnp.ndarray a, cnp.ndarray b):
    """Whether the byte ranges of two contiguous arrays intersect."""
    cdef char *pa = a.data
    cdef char *pb = b.data
    return pa < pb + cnp.PyArray_NBYTES(b) and pb < pa + cnp.PyArray_NBYTES(a)


cdef cnp.ndarray _in_place(str kernel, str what, object a, cnp.ndarray w):
    """`a` checked as an array that C updates in place alongside the weight w (w itself when a is w)."""
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{kernel}: {what} must be a NumPy array, got {type(a).__name__}")
    cdef cnp.ndarray arr = a
    if arr is not w and (cnp.PyArray_TYPE(arr) != cnp.PyArray_TYPE(w)
                         or not cnp.PyArray_SAMESHAPE(arr, w)):
        raise ValueError(f"{kernel}: {what} must have the weight's shape {(<object>w).shape} and dtype "
                         f"{(<object>w).dtype}, got shape {a.shape} and dtype {a.dtype}")
    if not cnp.PyArray_ISCARRAY(arr):   # C-contiguous, aligned and writeable
        raise ValueError(f"{kernel}: {what} {a.shape} must be a C-contiguous, aligned, writeable array "
                         f"(it is updated in place)")
    return arr


cdef double _finite(str kernel, str what, object value) except? -1:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{kernel}: {what} must be a number, got {value!r}")
    cdef double x = value
    if not isfinite(x):
        raise ValueError(f"{kernel}: {what} must be finite, got {x}")
    return x


def adam_update(w, g, m, v, v_hat, alpha, beta_1, beta_2, epsilon):
    """One Adam step of weight w from its gradient g, in place on w, m, v (and v_hat, amsgrad's
    running maximum of v; None without amsgrad), as Keras 3 (keras/src/optimizers/adam.py):
        m += (g - m)(1 - beta_1);  v += (g² - v)(1 - beta_2);
        v_hat = max(v_hat, v) (then used as v);  w -= m*alpha / (sqrt(v) + epsilon)
    with alpha = lr*sqrt(1 - beta_2^t)/(1 - beta_1^t).
    float32 or float64, bit-identical to nnx.reference.adam_update; returns None."""
    kernel = "adam_update"
    if not isinstance(w, np.ndarray) or w.dtype.kind != "f" or w.dtype.itemsize not in (4, 8):
        raise TypeError(f"{kernel}: w must be a float32 or float64 NumPy array, got "
                        f"{getattr(w, 'dtype', type(w).__name__)}")
    cdef double a = _finite(kernel, "alpha", alpha), b1 = _finite(kernel, "beta_1", beta_1)
    cdef double b2 = _finite(kernel, "beta_2", beta_2), eps = _finite(kernel, "epsilon", epsilon)
    cdef cnp.ndarray cW = _in_place(kernel, "w", w, w)
    cdef cnp.ndarray cM = _in_place(kernel, "m", m, w)
    cdef cnp.ndarray cV = _in_place(kernel, "v", v, w)
    cdef cnp.ndarray cH = None if v_hat is None else _in_place(kernel, "v_hat", v_hat, w)
    if (_overlaps(cW, cM) or _overlaps(cW, cV) or _overlaps(cM, cV) or cH is not None and (
            _overlaps(cH, cW) or _overlaps(cH, cM) or _overlaps(cH, cV))):
        raise ValueError(f"{kernel}: w, m, v and v_hat must not share memory")
    if not (isinstance(g, np.ndarray) and cnp.PyArray_TYPE(g) == cnp.PyArray_TYPE(cW)):
        _compute_dtype(kernel, [("g", g)])   # a clean error for what is no float array
    if g.shape != w.shape:
        raise ValueError(f"{kernel}: gradient shape {g.shape} does not match weight shape {w.shape}")
    cdef cnp.ndarray cG = _contiguous(g, w.dtype)
    if _overlaps(cG, cW) or _overlaps(cG, cM) or _overlaps(cG, cV) or cH is not None and _overlaps(cG, cH):
        cG = cG.copy()
    _use_thread_count()
    cdef Py_ssize_t n = cnp.PyArray_SIZE(cW)
    cdef void *hp = NULL if cH is None else cH.data
    if n == 0:
        return None
    if w.dtype == np.float32:
        with nogil:
            nnx_adam_update_f32(n, <float*>cW.data, <float*>cG.data, <float*>cM.data, <float*>cV.data,
                                <float*>hp, a, b1, b2, eps)
    else:
        with nogil:
            nnx_adam_update_f64(n, <double*>cW.data, <double*>cG.data, <double*>cM.data, <double*>cV.data,
                                <double*>hp, a, b1, b2, eps)
    return None
