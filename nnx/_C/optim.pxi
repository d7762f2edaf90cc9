# Optimizer bindings: the fused Adam update of one weight, or of all the weights of a model in one call,
# in place (csrc/optim.c).
#
# Each weight and its slots (m, v, v_hat) are updated in place: they must be float arrays of one shape
# and dtype, writeable and pairwise disjoint. Any layout and float16 are taken, as by every kernel: C
# then works on aligned contiguous copies in float32 (float64 for float64 weights), written back after.
# The gradient is only read (copied when it is not contiguous in the compute dtype, or when it shares
# memory with an array written). Every weight is checked before any is updated: a refused call changes
# nothing.

from cpython.mem cimport PyMem_Free, PyMem_Malloc

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


cdef str _named(str what, Py_ssize_t index):
    """The argument's name in messages: `m`, or `m[3]` for the fourth weight of a sequence."""
    return what if index < 0 else f"{what}[{index}]"


cdef cnp.ndarray _in_place(str kernel, str what, Py_ssize_t index, object a, cnp.ndarray w):
    """`a` checked as an array updated in place alongside the weight w (w itself when a is w)."""
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{kernel}: {_named(what, index)} must be a NumPy array, got {type(a).__name__}")
    cdef cnp.ndarray arr = a
    if arr is not w and (cnp.PyArray_TYPE(arr) != cnp.PyArray_TYPE(w)
                         or not cnp.PyArray_SAMESHAPE(arr, w)):
        raise ValueError(f"{kernel}: {_named(what, index)} must have the weight's shape {(<object>w).shape} "
                         f"and dtype {(<object>w).dtype}, got shape {a.shape} and dtype {a.dtype}")
    if not cnp.PyArray_ISWRITEABLE(arr):
        raise ValueError(f"{kernel}: {_named(what, index)} {a.shape} is read-only (it is updated in place)")
    return arr


cdef cnp.ndarray _work(cnp.ndarray a, object dt):
    """What C updates for in-place array a: a itself when it is aligned, contiguous and in dt."""
    if cnp.PyArray_ISCARRAY(a) and cnp.PyArray_TYPE(a) == (<cnp.dtype>dt).type_num:
        return a
    return np.array(a, dtype=dt, order="C")   # NumPy's allocator aligns


cdef class _AdamWeight:
    """One weight's arrays, checked: the caller's (W, M, V, H) and what C works on (cW, cG, cM, cV, cH:
    the same arrays, or aligned contiguous copies in the compute dtype dt)."""
    cdef object dt
    cdef cnp.ndarray W, M, V, H, cW, cG, cM, cV, cH

    def __cinit__(self, str kernel, Py_ssize_t index, bint amsgrad, w, g, m, v, v_hat):
        if not isinstance(w, np.ndarray):
            raise TypeError(f"{kernel}: {_named('w', index)} must be a NumPy array, got {type(w).__name__}")
        # the common case without _compute_dtype's cost; the native dtype, not w.dtype, which may be
        # byte-swapped ('>f4' is NPY_FLOAT too): C works on native copies of such arrays
        if cnp.PyArray_TYPE(w) == cnp.NPY_FLOAT:
            dt = _FLOAT32
        elif cnp.PyArray_TYPE(w) == cnp.NPY_DOUBLE:
            dt = _FLOAT64
        else:
            dt = _compute_dtype(kernel, [(_named("w", index), w)])
        W = _in_place(kernel, "w", index, w, w)
        M = _in_place(kernel, "m", index, m, W)
        V = _in_place(kernel, "v", index, v, W)
        H = _in_place(kernel, "v_hat", index, v_hat, W) if amsgrad else None   # every weight, or none
        if (_overlaps(W, M) or _overlaps(W, V) or _overlaps(M, V) or H is not None and (
                _overlaps(H, W) or _overlaps(H, M) or _overlaps(H, V))):
            raise ValueError(f"{kernel}: {_named('w', index)}, m, v and v_hat must not share memory")
        if not (isinstance(g, np.ndarray) and cnp.PyArray_TYPE(g) == cnp.PyArray_TYPE(W)):
            _compute_dtype(kernel, [(_named("g", index), g)])   # a clean error for what is no float array
        if g.shape != w.shape:
            raise ValueError(f"{kernel}: gradient shape {g.shape} does not match weight shape {w.shape}"
                             + ("" if index < 0 else f" (weight {index})"))
        _check_elements(kernel, "w", w.shape)
        cG = _contiguous(g, dt)
        if _overlaps(cG, W) or _overlaps(cG, M) or _overlaps(cG, V) or H is not None and _overlaps(cG, H):
            cG = cG.copy()
        self.dt, self.W, self.M, self.V, self.H, self.cG = dt, W, M, V, H, cG
        self.cW, self.cM, self.cV = _work(W, dt), _work(M, dt), _work(V, dt)
        self.cH = None if H is None else _work(H, dt)

    cdef void write_back(self):
        for work, array in ((self.cW, self.W), (self.cM, self.M), (self.cV, self.V), (self.cH, self.H)):
            if work is not array:
                array[...] = work


cdef list _adam_weights(str kernel, w, g, m, v, v_hat):
    """The checked weights of a call: one, or one per entry of the sequences."""
    if isinstance(w, np.ndarray):
        return [_AdamWeight(kernel, -1, v_hat is not None, w, g, m, v, v_hat)]
    arguments = {"w": w, "g": g, "m": m, "v": v}
    if v_hat is not None:
        arguments["v_hat"] = v_hat
    for name, value in arguments.items():
        if not isinstance(value, (list, tuple)):
            raise TypeError(f"{kernel}: w, g, m, v (and v_hat) must be arrays, or lists of arrays (one per "
                            f"weight), got {name} of type {type(value).__name__}")
    lengths = {name: len(value) for name, value in arguments.items()}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"{kernel}: the lists of arrays must have one entry per weight each, got lengths "
                         f"{lengths}")
    hats = v_hat if v_hat is not None else [None] * len(w)
    return [_AdamWeight(kernel, i, v_hat is not None, *arrays) for i, arrays in enumerate(zip(w, g, m, v, hats))]


cdef void _adam_run(list weights, object dt, double a, double b1, double b2, double eps) except *:
    """One C call for the weights computed in dt (skipping empty ones), without the GIL."""
    cdef Py_ssize_t count = 0, i, size = len(weights)
    cdef bint amsgrad = size > 0 and (<_AdamWeight>weights[0]).H is not None
    cdef Py_ssize_t *n = <Py_ssize_t *>PyMem_Malloc(size * sizeof(Py_ssize_t))
    cdef void **ptrs = <void **>PyMem_Malloc(5 * size * sizeof(void *))
    cdef _AdamWeight x
    if n == NULL or ptrs == NULL:
        PyMem_Free(n)
        PyMem_Free(ptrs)
        raise MemoryError()
    try:
        for x in weights:
            if x.dt is not dt or cnp.PyArray_SIZE(x.cW) == 0:
                continue
            n[count] = cnp.PyArray_SIZE(x.cW)
            ptrs[count] = x.cW.data
            ptrs[size + count] = x.cG.data
            ptrs[2 * size + count] = x.cM.data
            ptrs[3 * size + count] = x.cV.data
            ptrs[4 * size + count] = x.cH.data if amsgrad else NULL
            count += 1
        if count == 0:
            return
        if dt is _FLOAT32:
            with nogil:
                nnx_adam_update_f32(count, n, <float **>ptrs, <const float **>(ptrs + size),
                                    <float **>(ptrs + 2 * size), <float **>(ptrs + 3 * size),
                                    <float **>(ptrs + 4 * size) if amsgrad else NULL, a, b1, b2, eps)
        else:
            with nogil:
                nnx_adam_update_f64(count, n, <double **>ptrs, <const double **>(ptrs + size),
                                    <double **>(ptrs + 2 * size), <double **>(ptrs + 3 * size),
                                    <double **>(ptrs + 4 * size) if amsgrad else NULL, a, b1, b2, eps)
    finally:
        PyMem_Free(n)
        PyMem_Free(ptrs)


def adam_update(w, g, m, v, v_hat, alpha, beta_1, beta_2, epsilon):
    """One Adam step of weight w from its gradient g, in place on w, m, v (and v_hat, amsgrad's
    running maximum of v; None without amsgrad), as Keras 3 (keras/src/optimizers/adam.py):
        m += (g - m)(1 - beta_1);  v += (g² - v)(1 - beta_2);
        v_hat = max(v_hat, v) (then used as v);  w -= m / (sqrt(v) + epsilon) * alpha
    with alpha = lr*sqrt(1 - beta_2^t)/(1 - beta_1^t); computed in float32 (float64 for float64 weights),
    bit-identical to nnx.reference.adam_update; returns None.

    w, g, m, v (and v_hat) may also be lists of arrays, one entry per weight: every weight of a model in
    one call, each updated as a call for it alone would (the weights must not share memory)."""
    kernel = "adam_update"
    cdef double a = _finite(kernel, "alpha", alpha), b1 = _finite(kernel, "beta_1", beta_1)
    cdef double b2 = _finite(kernel, "beta_2", beta_2), eps = _finite(kernel, "epsilon", epsilon)
    weights = _adam_weights(kernel, w, g, m, v, v_hat)      # every check before any update
    _use_thread_count()
    _adam_run(weights, _FLOAT32, a, b1, b2, eps)
    _adam_run(weights, _FLOAT64, a, b1, b2, eps)
    for x in weights:
        (<_AdamWeight>x).write_back()
    return None
