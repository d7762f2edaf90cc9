# The multiply-add peak: check the arguments, then run csrc/peak.c's chains without the GIL and time them.

from math import isfinite as _isfinite
from numbers import Real as _Real
from time import perf_counter as _perf_counter

_PEAK_MAX_SECONDS = 60.0


cdef object _peak_dtype(str kernel, object dtype):
    """float32 or float64 from a dtype-like `dtype`; TypeError naming the kernel for anything else."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt is None or dt not in (np.float32, np.float64):
        raise TypeError(f"{kernel}: dtype must be float32 or float64, got {dtype!r}")
    return dt


def fma_chains(iterations, dtype=np.float32):
    """One run of csrc/peak.c on the current SIMD path and thread count: every thread runs `iterations`
    steps of 12 independent vector multiply-add chains in registers. Returns (flops, checksum): the
    operations all threads did together (2 per lane, chain and step) and the sum of the accumulators
    (each settles at 2.0, the fixed point of acc * 0.5 + 1)."""
    kernel = "fma_chains"
    try:
        n = _index(iterations)
    except TypeError:
        raise TypeError(f"{kernel}: iterations must be an int, got {iterations!r}") from None
    if n < 1 or n > 2**62:
        raise ValueError(f"{kernel}: iterations must be in [1, 2**62], got {n}")
    dt = _peak_dtype(kernel, dtype)
    cdef int64_t steps = n
    cdef double flops, checksum
    _use_thread_count()
    if dt == np.float32:
        with nogil:
            flops = nnx_fma_peak_f32(steps, &checksum)
    else:
        with nogil:
            flops = nnx_fma_peak_f64(steps, &checksum)
    return flops, checksum


def fma_peak(seconds=0.2, dtype=np.float32):
    """The multiply-add peak of the active SIMD path on the current thread count, in GFLOP/s: the best
    rate of csrc/peak.c's chains (`fma_chains`) over about `seconds` of calls (a delayed call only lowers
    its own rate). The calls start short and double while one takes under a hundredth of `seconds`, or
    while doubling still raises the rate a lot: on a busy machine a team's threads may wait a time slice
    to start, and longer calls are how that wait stops counting."""
    kernel = "fma_peak"
    if isinstance(seconds, bool) or not isinstance(seconds, _Real):
        raise TypeError(f"{kernel}: seconds must be a real number, got {seconds!r}")
    if not (_isfinite(seconds) and 0 < seconds <= _PEAK_MAX_SECONDS):
        raise ValueError(f"{kernel}: seconds must be in (0, {_PEAK_MAX_SECONDS:g}], got {seconds!r}")
    dt = _peak_dtype(kernel, dtype)
    iterations, spent, best, last = 16384, 0.0, 0.0, 0.0   # 16384: 5-50 us on one Zen 4 core
    while spent < seconds:
        start = _perf_counter()
        flops, _ = fma_chains(iterations, dt)
        elapsed = _perf_counter() - start
        rate = flops / elapsed
        best, spent = max(best, rate), spent + elapsed
        if elapsed < seconds / 100 or rate > 1.25 * last:
            iterations *= 2
        last = rate
    return best / 1e9
