"""The compiled kernels (csrc/, bound in nnx/_C), on NumPy arrays, without autograd.

Same names, signatures and results (to rounding) as `nnx.reference`. See docs/api.md section 4.
Three names have no reference twin, as they compute nothing: `fma_peak()`, the multiply-add peak of the
SIMD path in use in GFLOP/s, measured by csrc/peak.c (the ladder's "% of peak" divides by it), and
`reusing_buffers()` / `buffer_cache_bytes()`, the cache of big freed arrays behind Model.fit,
evaluate and predict (csrc/buffers.c).

The SIMD path: every kernel runs the widest path the CPU has ('avx512', then 'avx2+fma', then
'portable') unless `set_simd(name)` or the environment variable NNX_SIMD (read when this module is
first imported) forces a narrower one, so that every path can be tested and timed on one machine.

This module is the only one that loads the compiled extension (nnx._C._native), on its first import:
`import nnx` does not, so a copy of nnx without the extension runs on the 'reference' backend.
"""
import os

from nnx._C import BUILD_HINT, load_native
from nnx.rungs import GEMM_RUNGS  # noqa: F401  (re-exported)

try:
    _native = load_native()
except ImportError as err:
    raise ImportError(f"nnx's compiled kernels (nnx._C._native) are not available ({err}); "
                      f"{BUILD_HINT}. Without them, nnx.set_backend('reference') runs every op "
                      f"on the NumPy reference kernels") from err
from nnx._C._native import (  # noqa: F401, E402  (re-exported)
    SIMD_NAMES, set_simd, get_num_threads, set_num_threads,
    gemm, gemm_pack_b, PackedB,
    CONV_RUNGS, conv2d_forward, conv2d_backward_input, conv2d_backward_weight,
    max_pool2d_forward, max_pool2d_backward, avg_pool2d_forward, avg_pool2d_backward,
    affine_transform,
    bias_relu_forward, bias_relu_backward,
    lstm_cell_forward, lstm_cell_backward, lstm_forward, lstm_backward,
    adam_update,
    fma_peak,
    reusing_buffers, buffer_cache_bytes,
)


class KernelInfo(dict):
    """A dict that prints as an aligned table."""

    def __repr__(self):
        width = max(len(k) for k in self)
        return "\n".join(f"{k:<{width}}  {v}" for k, v in self.items())


def info():
    """What the compiled kernels run on: SIMD path in use and those the CPU runs, threads, OpenMP,
    compiler, and the rungs of the GEMM and convolution ladders (slowest first)."""
    return KernelInfo(
        simd=_native.simd_path(),
        simd_available=_native.simd_paths(),
        threads=_native.get_num_threads(),
        openmp=_native.have_openmp(),
        compiler=_native.compiler(),
        gemm_rungs=list(GEMM_RUNGS),
        conv_rungs=list(CONV_RUNGS),
    )


def _simd_from_environment():
    name = os.environ.get("NNX_SIMD", "")
    if name:
        try:
            set_simd(name)
        except ValueError as err:
            raise ValueError(f"environment variable NNX_SIMD={name!r}: {err}") from None


_simd_from_environment()
