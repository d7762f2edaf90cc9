# Optimizer bindings: the fused Adam update of one weight, in place (csrc/optim.c).
#
# The weight and its slots (m, v, v_hat) are updated in place: they must be float arrays of one shape
# and dtype, writeable and pairwise disjoint. Any layout and float16 are taken, as by every kernel: C
# then works on aligned contiguous copies in float32 (float64 for float64 weights), written back after.
# The gradient is only read (copied when it is not contiguous in the compute dtype, or when it shares
# memory with an array written).

from libc.math cimport isfinite


cdef double _finite(str kernel, str what, object value) except? -1:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{kernel}: {what} must be a number, got {value!r}")
    cdef double x = value
    if not isfinite(x):
        raise ValueError(f"{kernel}: {what} must be finite, got {x}")
    return x


cdef bint _overlaps(cnp.ndarray a, cnp.ndarray b):
    """Whether two arrays may share memory: exact byte ranges when both are contiguous."""
    cdef char *pa = a.data
    cdef char *pb = b.data
    if cnp.PyArray_IS_C_CONTIGUOUS(a) and cnp.PyArray_IS_C_CONTIGUOUS(b):
        return pa < pb + cnp.PyArray_NBYTES(b) and pb < pa + cnp.PyArray_NBYTES(a)
    return np.may_share_memory(a, b)


cdef cnp.ndarray _in_place(str kernel, str what, object a, cnp.ndarray w):
    """`a` checked as an array updated in place alongside the weight w (w itself when a is w)."""
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{kernel}: {what} must be a NumPy array, got {type(a).__name__}")
    cdef cnp.ndarray arr = a
    if arr is not w and (cnp.PyArray_TYPE(arr) != cnp.PyArray_TYPE(w)
                         or not cnp.PyArray_SAMESHAPE(arr, w)):
        raise ValueError(f"{kernel}: {what} must have the weight's shape {(<object>w).shape} and dtype "
                         f"{(<object>w).dtype}, got shape {a.shape} and dtype {a.dtype}")
    if not cnp.PyArray_ISWRITEABLE(arr):
        raise ValueError(f"{kernel}: {what} {a.shape} is read-only (it is updated in place)")
    return arr


cdef cnp.ndarray _work(cnp.ndarray a, object dt):
    """What C updates for in-place array a: a itself when it is aligned, contiguous and in dt."""
    if cnp.PyArray_ISCARRAY(a) and cnp.PyArray_TYPE(a) == (<cnp.dtype>dt).type_num:
        return a
    return np.array(a, dtype=dt, order="C")   # NumPy's allocator aligns


def adam_update(w, g, m, v, v_hat, alpha, beta_1, beta_2, epsilon):
    """One Adam step of weight w from its gradient g, in place on w, m, v (and v_hat, amsgrad's
    running maximum of v; None without amsgrad), as Keras 3 (keras/src/optimizers/adam.py):
        m += (g - m)(1 - beta_1);  v += (g² - v)(1 - beta_2);
        v_hat = max(v_hat, v) (then used as v);  w -= m / (sqrt(v) + epsilon) * alpha
    with alpha = lr*sqrt(1 - beta_2^t)/(1 - beta_1^t); computed in float32 (float64 for float64 weights),
    bit-identical to nnx.reference.adam_update; returns None."""
    kernel = "adam_update"
    if not isinstance(w, np.ndarray):
        raise TypeError(f"{kernel}: w must be a NumPy array, got {type(w).__name__}")
    if cnp.PyArray_TYPE(w) == cnp.NPY_FLOAT or cnp.PyArray_TYPE(w) == cnp.NPY_DOUBLE:
        dt = w.dtype                         # the common case, without _compute_dtype's cost
        _use_thread_count()
    else:
        dt = _compute_dtype(kernel, [("w", w)])
    cdef double a = _finite(kernel, "alpha", alpha), b1 = _finite(kernel, "beta_1", beta_1)
    cdef double b2 = _finite(kernel, "beta_2", beta_2), eps = _finite(kernel, "epsilon", epsilon)
    cdef cnp.ndarray W = _in_place(kernel, "w", w, w)
    cdef cnp.ndarray M = _in_place(kernel, "m", m, W)
    cdef cnp.ndarray V = _in_place(kernel, "v", v, W)
    cdef cnp.ndarray H = None if v_hat is None else _in_place(kernel, "v_hat", v_hat, W)
    if (_overlaps(W, M) or _overlaps(W, V) or _overlaps(M, V) or H is not None and (
            _overlaps(H, W) or _overlaps(H, M) or _overlaps(H, V))):
        raise ValueError(f"{kernel}: w, m, v and v_hat must not share memory")
    if not (isinstance(g, np.ndarray) and cnp.PyArray_TYPE(g) == cnp.PyArray_TYPE(W)):
        _compute_dtype(kernel, [("g", g)])   # a clean error for what is no float array
    if g.shape != w.shape:
        raise ValueError(f"{kernel}: gradient shape {g.shape} does not match weight shape {w.shape}")
    _check_elements(kernel, "w", w.shape)
    cdef cnp.ndarray cG = _contiguous(g, dt)
    if _overlaps(cG, W) or _overlaps(cG, M) or _overlaps(cG, V) or H is not None and _overlaps(cG, H):
        cG = cG.copy()
    cdef cnp.ndarray cW = _work(W, dt), cM = _work(M, dt), cV = _work(V, dt)
    cdef cnp.ndarray cH = None if H is None else _work(H, dt)
    cdef Py_ssize_t n = cnp.PyArray_SIZE(W)
    cdef void *hp = NULL if H is None else cH.data
    if n == 0:
        return None
    if dt == np.float32:
        with nogil:
            nnx_adam_update_f32(n, <float*>cW.data, <float*>cG.data, <float*>cM.data, <float*>cV.data,
                                <float*>hp, a, b1, b2, eps)
    else:
        with nogil:
            nnx_adam_update_f64(n, <double*>cW.data, <double*>cG.data, <double*>cM.data, <double*>cV.data,
                                <double*>hp, a, b1, b2, eps)
    for work, array in ((cW, W), (cM, M), (cV, V), (cH, H)):
        if work is not array:
            array[...] = work
    return None
