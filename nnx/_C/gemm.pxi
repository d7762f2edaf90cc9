# GEMM binding (placeholder: being rewritten with transposed-view handling and the rung API).

GEMM_RUNGS = ("naive", "reordered", "blocked", "packed", "parallel")


def gemm(a, b, out=None, alpha=1.0, beta=0.0, rung="parallel"):
    """alpha * a @ b + beta * out for 2-D float arrays."""
    dt = _compute_dtype("gemm", [("a", a), ("b", b)])
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0]:
        raise ValueError(f"gemm: expected a (m, k) and b (k, n), got shapes {a.shape} and {b.shape}")
    cdef int r = GEMM_RUNGS.index(rung)
    A = _contiguous(a, dt)
    B = _contiguous(b, dt)
    m, k = A.shape
    n = B.shape[1]
    if beta != 0 and out is not None:
        C = np.array(out, dtype=dt, order="C")
    else:
        C = np.empty((m, n), dtype=dt)
        beta = 0.0
    cdef cnp.ndarray cA = A, cB = B, cC = C
    if dt == np.float32:
        nnx_sgemm(<nnx_gemm_rung>r, 0, 0, m, n, k, alpha, <float*>cA.data, k, <float*>cB.data, n,
                  beta, <float*>cC.data, n)
    else:
        nnx_dgemm(<nnx_gemm_rung>r, 0, 0, m, n, k, alpha, <double*>cA.data, k, <double*>cB.data, n,
                  beta, <double*>cC.data, n)
    return C
