# Shared argument checks and runtime controls. Included by _native.pyx.

# Sizes, strides and paddings must be integers: operator.index refuses 1.5 (int() would truncate it).
from operator import index as _index

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


def set_num_threads(int n):
    if n < 1:
        raise ValueError(f"set_num_threads: need at least 1 thread, got {n}")
    nnx_set_num_threads(n)


def get_num_threads():
    return nnx_get_num_threads()


def have_openmp():
    return bool(nnx_have_openmp())


def compiler():
    return nnx_compiler().decode()


cdef object _compute_dtype(str kernel, arrays):
    """The dtype a kernel computes in: float32 or float64 (float16 computes in float32).

    Raises TypeError naming the kernel for anything that is not a floating NumPy-convertible array."""
    dtypes = []
    for name, a in arrays:
        dt = getattr(a, "dtype", None)
        if dt is None:
            raise TypeError(f"{kernel}: {name} must be a NumPy array, got {type(a).__name__}")
        if dt.kind != "f" or dt.itemsize > 8:
            raise TypeError(f"{kernel}: {name} must be float32 or float64 (float16 is computed in "
                            f"float32), got dtype {dt}")
        dtypes.append(dt)
    dt = np.result_type(*dtypes)
    return np.dtype(np.float32) if dt.itemsize <= 4 else np.dtype(np.float64)


cdef object _contiguous(object a, object dtype):
    """A C-contiguous, aligned copy of `a` in `dtype` when `a` is not already one."""
    return np.ascontiguousarray(a, dtype=dtype)


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
    return shape
