# GEMM binding: alpha * a @ b + beta * out on the rungs of csrc/gemm.c. Included by _native.pyx.
#
# The C code takes row-major matrices with a leading dimension and a transpose flag, so most layouts
# reach it without a copy: a C-ordered array (or a row slice of one) as it is, an F-ordered array (a
# transposed view) as its transpose with the flag set. Only other strides are copied.

from nnx.rungs import GEMM_RUNGS


cdef tuple _gemm_operand(cnp.ndarray x, object dtype):
    """(array, transposed, ld): a view or copy of x in `dtype` that C can read as row-major
    (transposed == 0) or as the transpose of a row-major matrix (transposed == 1)."""
    cdef Py_ssize_t rows, cols, s0, s1, size
    if x.dtype == dtype and cnp.PyArray_ISALIGNED(x):
        rows, cols = cnp.PyArray_DIMS(x)[0], cnp.PyArray_DIMS(x)[1]
        s0, s1 = cnp.PyArray_STRIDES(x)[0], cnp.PyArray_STRIDES(x)[1]
        size = cnp.PyArray_ITEMSIZE(x)
        if cnp.PyArray_IS_C_CONTIGUOUS(x):
            return x, 0, max(cols, 1)
        if cnp.PyArray_IS_F_CONTIGUOUS(x):
            return x, 1, max(rows, 1)
        if s1 == size and s0 % size == 0 and s0 >= cols * size:  # rows of a wider C array
            return x, 0, s0 // size
        if s0 == size and s1 % size == 0 and s1 >= rows * size:  # columns of a wider F array
            return x, 1, s1 // size
    return _contiguous(x, dtype), 0, max(x.shape[1], 1)


cdef bint _byte_span(cnp.ndarray x, Py_ssize_t *lo, Py_ssize_t *hi) noexcept:
    """The bytes [lo, hi) the elements of x lie in; False when x has no elements."""
    cdef Py_ssize_t start = <Py_ssize_t>cnp.PyArray_BYTES(x), end = start + cnp.PyArray_ITEMSIZE(x), reach
    cdef int d
    for d in range(cnp.PyArray_NDIM(x)):
        if cnp.PyArray_DIMS(x)[d] == 0:
            return False
        reach = cnp.PyArray_STRIDES(x)[d] * (cnp.PyArray_DIMS(x)[d] - 1)
        if reach < 0:
            start += reach
        else:
            end += reach
    lo[0], hi[0] = start, end
    return True


cdef bint _may_overlap(cnp.ndarray x, cnp.ndarray y) noexcept:
    """Whether the byte spans of x and y overlap: numpy.may_share_memory's bounds test, without its
    Python-level cost (a few hundred ns, which counts in the small GEMMs of a training step)."""
    cdef Py_ssize_t xlo, xhi, ylo, yhi
    if not _byte_span(x, &xlo, &xhi) or not _byte_span(y, &ylo, &yhi):
        return False
    return xlo < yhi and ylo < xhi


cdef void _gemm_call(object dtype, int r, int ta, int tb, Py_ssize_t m, Py_ssize_t n, Py_ssize_t k,
                     double alpha, cnp.ndarray A, Py_ssize_t lda, cnp.ndarray B, Py_ssize_t ldb,
                     double beta, cnp.ndarray C, Py_ssize_t ldc):
    cdef char *pa = A.data
    cdef char *pb = B.data
    cdef char *pc = C.data
    cdef nnx_gemm_rung rung = <nnx_gemm_rung>r
    if dtype.itemsize == 4:
        with nogil:
            nnx_sgemm(rung, ta, tb, m, n, k, <float>alpha, <float*>pa, lda, <float*>pb, ldb,
                      <float>beta, <float*>pc, ldc)
    else:
        with nogil:
            nnx_dgemm(rung, ta, tb, m, n, k, alpha, <double*>pa, lda, <double*>pb, ldb,
                      beta, <double*>pc, ldc)


cdef class PackedB:
    """A matrix B (k, n) packed once, by gemm_pack_b, into the panels gemm's micro-kernel reads: pass it
    as gemm's b to multiply many matrices by B without packing B each time (the pre-packed step of the
    ladder, docs/gemm.md). It holds a read-only snapshot of B (`matrix`, also what np.asarray gives),
    so later changes to the array it was packed from do not reach it."""
    cdef readonly object matrix   # the snapshot: C-ordered, read-only, float32 or float64
    cdef readonly str simd        # the SIMD path whose micro-kernel the panels are laid out for
    cdef object _panels           # the packed panels, a 64-byte aligned slice of a NumPy buffer
    cdef nnx_simd _path

    @property
    def shape(self):
        return self.matrix.shape

    @property
    def dtype(self):
        return self.matrix.dtype

    def __array__(self, dtype=None, copy=None):
        return self.matrix if dtype is None else self.matrix.astype(dtype)

    def __repr__(self):
        return f"PackedB(shape={self.shape}, dtype={self.dtype}, simd={self.simd!r})"


def gemm_pack_b(b):
    """B (k, n) packed for gemm's micro-kernel on the SIMD path in use now: a PackedB to pass as gemm's
    b. float16 is packed as float32."""
    dt = _compute_dtype("gemm_pack_b", [("b", b)])
    if b.ndim != 2:
        raise ValueError(f"gemm_pack_b: expected b of shape (k, n), got shape {b.shape}")
    matrix = np.array(b, dtype=dt, order="C")       # a snapshot, aligned by NumPy's allocator
    matrix.flags.writeable = False
    cdef Py_ssize_t k = matrix.shape[0], n = matrix.shape[1]
    cdef nnx_simd path = nnx_simd_active()
    cdef Py_ssize_t size = (nnx_sgemm_packed_b_size(path, k, n) if dt.itemsize == 4
                            else nnx_dgemm_packed_b_size(path, k, n))
    cdef Py_ssize_t lanes = 64 // dt.itemsize
    raw = np.empty(size + lanes, dtype=dt)
    cdef cnp.ndarray M = matrix, R = raw
    cdef Py_ssize_t skip = ((-<size_t>R.data) % 64) // dt.itemsize   # first 64-byte aligned element
    panels = raw[skip:skip + size]
    cdef cnp.ndarray P = panels
    cdef char *pm = M.data
    cdef char *pp = P.data
    if dt.itemsize == 4:
        with nogil:
            nnx_sgemm_pack_b(path, 0, k, n, <float*>pm, max(n, 1), <float*>pp)
    else:
        with nogil:
            nnx_dgemm_pack_b(path, 0, k, n, <double*>pm, max(n, 1), <double*>pp)
    cdef PackedB packed = PackedB.__new__(PackedB)
    packed.matrix, packed._panels, packed._path = matrix, panels, path
    packed.simd = nnx_simd_name(path).decode()
    return packed


cdef int _gemm_with_packed_b(object dtype, int threads, int ta, Py_ssize_t m, Py_ssize_t n, Py_ssize_t k,
                             double alpha, cnp.ndarray A, Py_ssize_t lda, PackedB packed, double beta,
                             cnp.ndarray C, Py_ssize_t ldc) except -1:
    cdef cnp.ndarray P = packed._panels
    cdef char *pa = A.data
    cdef char *pp = P.data
    cdef char *pc = C.data
    cdef nnx_simd path = packed._path
    cdef int status
    if dtype.itemsize == 4:
        with nogil:
            status = nnx_sgemm_with_packed_b(path, threads, ta, m, n, k, <float>alpha, <float*>pa, lda,
                                             <float*>pp, <float>beta, <float*>pc, ldc)
    else:
        with nogil:
            status = nnx_dgemm_with_packed_b(path, threads, ta, m, n, k, alpha, <double*>pa, lda,
                                             <double*>pp, beta, <double*>pc, ldc)
    if status != 0:
        raise MemoryError(f"gemm: cannot allocate the packing buffer for a {(m, k)} @ {(k, n)} product")
    return 0


def gemm(a, b, out=None, alpha=1.0, beta=0.0, rung="parallel"):
    """alpha * a @ b + beta * out for 2-D float arrays a (m, k) and b (k, n).

    float32 and float64 are computed natively, float16 in float32. Without `out` a new C-ordered
    array is returned and beta is ignored; with `out` (shape (m, n), any float dtype and layout) the
    result is written into it and `out` is returned; beta == 0 never reads out. `rung` picks the step
    of the optimisation ladder (GEMM_RUNGS); every rung gives the same result to rounding.
    b may be a PackedB from gemm_pack_b: the packed and parallel rungs then skip packing B (on the SIMD
    path it was packed for; on another path, another rung or dtype, its matrix is used as b)."""
    packed = None
    if isinstance(b, PackedB):
        packed, b = b, b.matrix
    for name, x in (("a", a), ("b", b)):
        if not isinstance(x, np.ndarray):
            raise TypeError(f"gemm: {name} must be a NumPy array, got {type(x).__name__}")
    dt = _compute_dtype("gemm", [("a", a), ("b", b)])
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0]:
        raise ValueError(f"gemm: expected a (m, k) and b (k, n), got shapes {a.shape} and {b.shape}")
    if not isinstance(rung, str):
        raise TypeError(f"gemm: rung must be a str, one of {GEMM_RUNGS}, got {rung!r}")
    if rung not in GEMM_RUNGS:
        raise ValueError(f"gemm: unknown rung {rung!r}; expected one of {GEMM_RUNGS}")
    try:
        alpha = float(alpha)
        beta = float(beta)
    except (TypeError, ValueError):
        raise TypeError(f"gemm: alpha and beta must be real numbers, got {alpha!r} and {beta!r}") from None
    m, k = a.shape
    n = b.shape[1]
    if out is not None:
        if not isinstance(out, np.ndarray):
            raise TypeError(f"gemm: out must be a NumPy array, got {type(out).__name__}")
        if out.dtype.kind != "f" or out.dtype.itemsize > 8:
            raise TypeError(f"gemm: out must be a float array, got dtype {out.dtype}")
        if out.shape != (m, n):
            raise ValueError(f"gemm: out must have shape {(m, n)} for a {a.shape} @ b {b.shape}, "
                             f"got {out.shape}")
        if not cnp.PyArray_ISWRITEABLE(out):
            raise ValueError(f"gemm: out {out.shape} is read-only")
    A, ta, lda = _gemm_operand(a, dt)
    B, tb, ldb = _gemm_operand(b, dt)

    # C: out itself when C can write it as row-major and it overlaps neither input; else a temporary.
    C = None
    if (out is not None and out.dtype == dt and cnp.PyArray_ISALIGNED(out)
            and not _may_overlap(out, A) and not _may_overlap(out, B)):
        if cnp.PyArray_IS_C_CONTIGUOUS(out):
            C, ldc = out, max(n, 1)
        elif out.strides[1] == out.itemsize and out.strides[0] % out.itemsize == 0 \
                and out.strides[0] >= n * out.itemsize:
            C, ldc = out, out.strides[0] // out.itemsize
    if C is None:
        if out is None:
            beta = 0.0
        C = np.empty((m, n), dtype=dt) if beta == 0 else np.array(out, dtype=dt, order="C")
        ldc = max(n, 1)
    if m and n:
        if (packed is not None and packed.dtype == dt and rung in ("packed", "parallel")
                and (<PackedB>packed)._path == nnx_simd_active()):
            _gemm_with_packed_b(dt, 1 if rung == "packed" else nnx_get_num_threads(), ta, m, n, k, alpha,
                                A, lda, packed, beta, C, ldc)
        else:
            _gemm_call(dt, GEMM_RUNGS.index(rung), ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc)
    if out is None or C is out:
        return C
    np.copyto(out, C, casting="unsafe")
    return out
