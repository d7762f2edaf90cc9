# Shared argument checks and runtime controls. Included by _native.pyx.

# Sizes, strides and paddings must be integers: operator.index refuses 1.5 (int() would truncate it).
from operator import index as _index
from cython.parallel cimport prange, threadid

SIMD_NAMES = ("avx512", "avx2+fma", "portable")  # widest first; nnx_simd numbers them 2, 1, 0


def simd_paths():
    """The SIMD paths this CPU can run, widest first (e.g. ['avx2+fma', 'portable'])."""
    best = <int>nnx_simd_detect()
    return [nnx_simd_name(<nnx_simd>p).decode() for p in range(best, -1, -1)]


def simd_path():
    """The SIMD path the kernels use now."""
    return nnx_simd_name(nnx_simd_active()).decode()


def set_simd(name):
    """Make every kernel run the SIMD path `name` ('avx512', 'avx2+fma', 'portable'), which must be
    no wider than the CPU has; for tests, benchmarks and learners."""
    if not isinstance(name, str):
        raise TypeError(f"set_simd: name must be a str, one of {SIMD_NAMES}, got {name!r}")
    if name not in SIMD_NAMES:
        raise ValueError(f"set_simd: unknown SIMD path {name!r}; expected one of {SIMD_NAMES}")
    cdef int path = len(SIMD_NAMES) - 1 - SIMD_NAMES.index(name)
    if nnx_simd_select(<nnx_simd>path) != 0:
        raise ValueError(f"set_simd: this CPU cannot run the {name!r} path; it runs {simd_paths()}")


# omp_set_num_threads sets the count of the calling thread only, so set_num_threads stores it here and
# every kernel applies it to the thread it runs on (_use_thread_count, called from _compute_dtype, which
# every kernel calls first): the count then holds for threads started before or after the call.
cdef int _thread_count = 0   # 0: never set, OpenMP's default (OMP_NUM_THREADS or one per core)


cdef inline void _use_thread_count() noexcept nogil:
    if _thread_count > 0 and nnx_get_num_threads() != _thread_count:
        nnx_set_num_threads(_thread_count)


def set_num_threads(int n):
    """Run the kernels on n threads, whichever Python thread calls them."""
    global _thread_count
    if n < 1:
        raise ValueError(f"set_num_threads: need at least 1 thread, got {n}")
    _thread_count = n
    _use_thread_count()


def get_num_threads():
    """The thread count the kernels use (1 without OpenMP)."""
    _use_thread_count()
    return nnx_get_num_threads()


def omp_team_size():
    """How many threads an OpenMP parallel region started now from the calling thread really runs
    (1 without OpenMP): timing-free evidence for the thread-count tests. Does not apply the count."""
    cdef int seen[256]
    cdef int i
    for i in range(256):
        seen[i] = 0
    for i in prange(256, nogil=True, schedule="static", chunksize=1):
        if threadid() < 256:
            seen[threadid()] = 1
    return sum([seen[i] for i in range(256)])


def have_openmp():
    return bool(nnx_have_openmp())


def compiler():
    return nnx_compiler().decode()


_FLOAT32 = np.dtype(np.float32)
_FLOAT64 = np.dtype(np.float64)


cdef object _compute_dtype(str kernel, arrays):
    """The dtype a kernel computes in: float32 or float64 (float16 computes in float32).

    Raises TypeError naming the kernel for anything that is not a floating NumPy-convertible array.
    Every kernel calls this first, so it also gives the calling thread the kernel thread count."""
    cdef Py_ssize_t widest = 0   # the floats' result type is the widest of them (np.result_type, faster)
    for name, a in arrays:
        dt = getattr(a, "dtype", None)
        if dt is None:
            raise TypeError(f"{kernel}: {name} must be a NumPy array, got {type(a).__name__}")
        if dt.kind != "f" or dt.itemsize > 8:
            raise TypeError(f"{kernel}: {name} must be float32 or float64 (float16 is computed in "
                            f"float32), got dtype {dt}")
        widest = max(widest, dt.itemsize)
    _use_thread_count()
    return _FLOAT32 if widest <= 4 else _FLOAT64


cdef object _contiguous(object a, object dtype):
    """A C-contiguous, aligned copy of `a` in `dtype` when `a` is not already one.

    The C kernels read elements through T pointers, which needs the element type's alignment; an array
    built on a byte offset of a buffer is contiguous but misaligned, and ascontiguousarray keeps it."""
    out = np.ascontiguousarray(a, dtype=dtype)
    return out if out.flags.aligned else out.copy()   # copy() allocates with NumPy's aligned allocator


def as_kernel_input(a, dtype):
    """The array a kernel reads for input `a` (a view of it, or an aligned contiguous copy in `dtype`);
    exposed so that tests and learners can see when the bindings copy."""
    return _contiguous(a, np.dtype(dtype))


# The largest element count a kernel accepts for any array: 2**59 keeps every byte offset of a float64
# array (8 * 2**59 = 2**62), and so every product of some of its sizes, inside C's signed 64-bit range.
_MAX_ELEMENTS = 2**59


cdef void _check_elements(str kernel, str what, tuple shape) except *:
    """ValueError naming the kernel when an array of `shape` would be too large to index in C."""
    count = 1
    for s in shape:
        count *= s
    if count > _MAX_ELEMENTS:
        raise ValueError(f"{kernel}: {what} {shape} has {count} elements, more than the {_MAX_ELEMENTS} "
                         f"a kernel accepts")


cdef tuple _pair(str kernel, str what, object value, int minimum):
    """Check that `value` is a pair of ints >= minimum; return it as a tuple."""
    try:
        h, w = value
        h = _index(h); w = _index(w)
    except (TypeError, ValueError):
        raise TypeError(f"{kernel}: {what} must be a pair of ints (h, w), got {value!r}") from None
    if h < minimum or w < minimum:
        raise ValueError(f"{kernel}: {what} must be >= {minimum}, got {value!r}")
    return (h, w)


cdef tuple _padding(str kernel, object value):
    """Check explicit padding ((top, bottom), (left, right)) of non-negative ints."""
    try:
        (t, b), (l, r) = value
        t = _index(t); b = _index(b); l = _index(l); r = _index(r)
    except (TypeError, ValueError):
        raise TypeError(f"{kernel}: padding must be ((top, bottom), (left, right)) of ints, "
                        f"got {value!r}") from None
    if min(t, b, l, r) < 0:
        raise ValueError(f"{kernel}: padding must be non-negative, got {value!r}")
    return ((t, b), (l, r))


cdef tuple _shape(str kernel, str what, object value, int rank):
    """Check a requested shape: a tuple of `rank` positive ints."""
    try:
        shape = tuple(_index(s) for s in value)
    except (TypeError, ValueError):
        raise TypeError(f"{kernel}: {what} must be a tuple of {rank} ints, got {value!r}") from None
    if len(shape) != rank or min(shape) < 1:
        raise ValueError(f"{kernel}: {what} must be {rank} positive ints, got {value!r}")
    _check_elements(kernel, what, shape)
    return shape
