"""GEMM benchmarks: GFLOP/s of every rung of the ladder beside numpy.matmul (and torch.matmul), n x n.

    python -m pytest benchmarks/bench_gemm.py --benchmark-group-by=group
    OPENBLAS_NUM_THREADS=1 python -m pytest benchmarks/bench_gemm.py -k "threads1"   # numpy on 1 thread

Each group is one problem (dtype, n, thread count), so the ratios inside a group come from one run;
`extra_info['gflops']` holds 2*n^3 / mean time. nnx and torch take their thread count from the test
parameter; numpy's OpenBLAS fixes its own at start-up, so numpy rows run only where
OPENBLAS_NUM_THREADS equals the group's thread count (`benchmarks/gemm_table.py` runs each thread
count in a fresh process and does this for you). The slow rungs are skipped at sizes where one call
takes seconds.
"""
import os

import numpy as np
import pytest

import nnx
import nnx.kernels as K

try:
    import torch
except ImportError:  # torch is optional: only its rows need it
    torch = None

SIZES = (128, 256, 512, 1024, 2048)
THREADS = (1, 2)
IMPLS = K.GEMM_RUNGS + ("numpy", "torch")
LARGEST = {"naive": 256, "reordered": 512, "blocked": 1024}  # beyond this a rung takes seconds per call


def operands(n, dtype):
    rng = np.random.default_rng(n)
    return rng.standard_normal((n, n)).astype(dtype), rng.standard_normal((n, n)).astype(dtype)


def make_call(impl, n, dtype):
    """A no-argument callable computing a @ b with `impl` (a rung name, 'numpy' or 'torch')."""
    a, b = operands(n, dtype)
    out = np.empty((n, n), dtype)  # every side writes into a preallocated output
    if impl == "numpy":
        return lambda: np.matmul(a, b, out=out)
    if impl == "torch":
        ta, tb, tout = torch.from_numpy(a), torch.from_numpy(b), torch.from_numpy(out)
        return lambda: torch.matmul(ta, tb, out=tout)
    return lambda: K.gemm(a, b, out=out, rung=impl)


def skip_reason(impl, n, threads):
    if n > LARGEST.get(impl, n):
        return f"{impl} is too slow at n={n}"
    if impl in K.GEMM_RUNGS[:4] and threads > 1:
        return f"{impl} is single-threaded"
    if impl == "torch" and torch is None:
        return "torch not installed"
    if impl == "numpy" and os.environ.get("OPENBLAS_NUM_THREADS") != str(threads):
        return f"numpy needs OPENBLAS_NUM_THREADS={threads} set before start-up"
    return None


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("threads", THREADS, ids=[f"threads{t}" for t in THREADS])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_gemm(benchmark, dtype, threads, n, impl):
    if dtype == np.float64 and (n not in (512, 1024) or impl not in ("packed", "parallel", "numpy")):
        pytest.skip("float64 is benchmarked at n = 512, 1024 against numpy only")
    reason = skip_reason(impl, n, threads)
    if reason:
        pytest.skip(reason)
    before = nnx.get_num_threads()
    nnx.set_num_threads(threads)
    if torch is not None:
        torch.set_num_threads(threads)
    try:
        benchmark.group = f"gemm {np.dtype(dtype).name} n={n} ({threads} threads)"
        benchmark(make_call(impl, n, dtype))
        if benchmark.stats is not None:  # None under --benchmark-disable
            benchmark.extra_info["gflops"] = 2 * n**3 / benchmark.stats.stats.mean / 1e9
    finally:
        nnx.set_num_threads(before)
