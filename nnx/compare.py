"""Does a compiled kernel agree with its NumPy reference? One tolerance table and one comparer, used by
the 'shadow' backend (nnx.backend) and by `nnx.testing.assert_kernel_matches_reference`.

Integer results (pooling argmaxes) must be equal. Floating-point results must agree within rtol and
atol * max(1, |reference|) for their dtype: the compiled kernels sum in another order (blocked, SIMD,
threaded), so the bound is a few ulps of the dtype times the problem's scale, not a machine's rounding.
"""
import numpy as np

# dtype -> (rtol, atol); atol is scaled by max(1, the largest |reference| value)
TOLERANCE = {np.dtype(np.float32): (1e-4, 1e-5), np.dtype(np.float64): (1e-10, 1e-12)}


def describe_call(name, args, kwargs):
    """`gemm(array(2, 3):float64, 1.0, out=...)`: arrays by shape and dtype, everything else by repr."""
    def describe(value):
        if isinstance(value, (list, tuple)) and any(isinstance(v, np.ndarray) for v in value):
            return f"[{', '.join(describe(v) for v in value)}]"
        return f"array{value.shape}:{value.dtype}" if isinstance(value, np.ndarray) else repr(value)
    shown = [describe(a) for a in args] + [f"{k}={describe(v)}" for k, v in kwargs.items()]
    return f"{name}({', '.join(shown)})"


def assert_results_match(call, got, want, error=AssertionError):
    """Raise `error` (an AssertionError subclass) unless the kernel's result(s) `got` match the
    reference's `want` (an array or a tuple of arrays) in count, shape, dtype and value. `call`
    describes the call (`describe_call`); the message adds the first element that differs."""
    got_parts = got if isinstance(got, tuple) else (got,)
    want_parts = want if isinstance(want, tuple) else (want,)
    if len(got_parts) != len(want_parts):
        raise error(f"{call}: kernel returned {len(got_parts)} results, reference {len(want_parts)}")
    for k, (g, w) in enumerate(zip(got_parts, want_parts)):
        g, w = np.asarray(g), np.asarray(w)
        where = f"{call}, result {k}"
        if g.shape != w.shape:
            raise error(f"{where}: shape {g.shape} != reference shape {w.shape}")
        if g.dtype != w.dtype:
            raise error(f"{where}: dtype {g.dtype} != reference dtype {w.dtype}")
        if g.dtype.kind != "f":
            bad = np.argwhere(g != w)
            if bad.size:
                i = tuple(int(k) for k in bad[0])
                raise error(f"{where}: {len(bad)} elements differ, first at {i}: "
                            f"{g[i].item()} vs reference {w[i].item()}")
            continue
        rtol, atol = TOLERANCE.get(g.dtype, (1e-3, 1e-3))
        scale = max(1.0, float(np.nanmax(np.abs(w)))) if w.size and not np.all(np.isnan(w)) else 1.0
        close = np.isclose(g, w, rtol=rtol, atol=atol * scale, equal_nan=True)
        if not close.all():
            i = tuple(int(k) for k in np.argwhere(~close)[0])
            worst = float(np.nanmax(np.abs(g.astype(np.float64) - w)))
            raise error(f"{where}: {int((~close).sum())} of {g.size} elements differ beyond "
                        f"rtol={rtol}, atol={atol * scale:g}; first at {i}: {g[i].item()!r} vs "
                        f"reference {w[i].item()!r}; worst absolute difference {worst:g}")
