"""The compiled kernels (csrc/, bound in nnx/_C), on NumPy arrays, without autograd.

Same names, signatures and results (to rounding) as `nnx.reference`. See API.md section 4.
"""
from nnx._C import _native
from nnx._C._native import (  # noqa: F401  (re-exported)
    GEMM_RUNGS, gemm,
    conv2d_forward, conv2d_backward_input, conv2d_backward_weight,
    max_pool2d_forward, max_pool2d_backward, avg_pool2d_forward, avg_pool2d_backward,
    affine_transform,
)


class KernelInfo(dict):
    """A dict that prints as an aligned table."""

    def __repr__(self):
        width = max(len(k) for k in self)
        return "\n".join(f"{k:<{width}}  {v}" for k, v in self.items())


def info():
    """What the compiled kernels run on: SIMD path, threads, OpenMP, compiler."""
    return KernelInfo(
        simd=_native.simd_path(),
        simd_available=_native.simd_paths(),
        threads=_native.get_num_threads(),
        openmp=_native.have_openmp(),
        compiler=_native.compiler(),
        gemm_rungs=list(GEMM_RUNGS),
    )
