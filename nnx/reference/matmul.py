"""GEMM reference: alpha * a @ b + beta * out in plain NumPy.

Same signature and results (to rounding) as `nnx.kernels.gemm`. The compiled kernel has several rungs
of an optimisation ladder (see docs/gemm.md); the reference has one, so `rung` is checked and ignored.
"""
import numpy as np

from nnx.rungs import GEMM_RUNGS


def _compute_dtype(*arrays, kernel="gemm"):
    """float32 or float64, as the compiled kernels compute (float16 in float32)."""
    for name, x in arrays:
        if not isinstance(x, np.ndarray):
            raise TypeError(f"{kernel}: {name} must be a NumPy array, got {type(x).__name__}")
        if x.dtype.kind != "f" or x.dtype.itemsize > 8:
            raise TypeError(f"{kernel}: {name} must be float32 or float64 (float16 is computed in "
                            f"float32), got dtype {x.dtype}")
    wide = np.result_type(*(x.dtype for _, x in arrays)).itemsize > 4
    return np.dtype(np.float64 if wide else np.float32)


def gemm_pack_b(b):
    """B (k, n) ready to be gemm's b in many products. The compiled kernel lays it out for its
    micro-kernel once (nnx.kernels.PackedB); here packing is a read-only snapshot of B in the compute
    dtype, which gives the same products."""
    dtype = _compute_dtype(("b", b), kernel="gemm_pack_b")
    if b.ndim != 2:
        raise ValueError(f"gemm_pack_b: expected b of shape (k, n), got shape {b.shape}")
    packed = np.array(b, dtype=dtype, order="C")
    packed.flags.writeable = False
    return packed


def gemm(a, b, out=None, alpha=1.0, beta=0.0, rung="parallel"):
    """alpha * a @ b + beta * out; written into `out` (and `out` returned) when it is given.

    Without `out`, beta is ignored. beta == 0 never reads `out`, so NaN there does not leak.
    b may come from either backend's gemm_pack_b (the compiled one's PackedB holds its `matrix`)."""
    if not isinstance(b, np.ndarray) and isinstance(getattr(b, "matrix", None), np.ndarray):
        b = b.matrix
    dtype = _compute_dtype(("a", a), ("b", b))
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0]:
        raise ValueError(f"gemm: expected a (m, k) and b (k, n), got shapes {a.shape} and {b.shape}")
    if not isinstance(rung, str):
        raise TypeError(f"gemm: rung must be a str, one of {GEMM_RUNGS}, got {rung!r}")
    if rung not in GEMM_RUNGS:
        raise ValueError(f"gemm: unknown rung {rung!r}; expected one of {GEMM_RUNGS}")
    try:
        alpha, beta = float(alpha), float(beta)
    except (TypeError, ValueError):
        raise TypeError(f"gemm: alpha and beta must be real numbers, got {alpha!r} and {beta!r}") from None
    shape = (a.shape[0], b.shape[1])
    if out is not None:
        if not isinstance(out, np.ndarray):
            raise TypeError(f"gemm: out must be a NumPy array, got {type(out).__name__}")
        if out.dtype.kind != "f" or out.dtype.itemsize > 8:
            raise TypeError(f"gemm: out must be a float array, got dtype {out.dtype}")
        if out.shape != shape:
            raise ValueError(f"gemm: out must have shape {shape} for a {a.shape} @ b {b.shape}, "
                             f"got {out.shape}")
        if not out.flags.writeable:
            raise ValueError(f"gemm: out {out.shape} is read-only")

    product = a.astype(dtype, copy=False) @ b.astype(dtype, copy=False)
    result = dtype.type(alpha) * product
    if out is None:
        return result
    if beta != 0:
        result += dtype.type(beta) * out.astype(dtype)
    out[...] = result
    return out
