"""GEMM (nnx.kernels.gemm): every rung, dtype and SIMD path against nnx.reference.gemm and a @ b.

Tolerances, elementwise: |computed - exact| <= (sqrt(k) + 3) * eps * (|alpha| * (|a| @ |b|) + |beta| * |c|)
with eps of the dtype. Rounding errors of a k-term sum of random terms grow like sqrt(k) (the
worst-case bound k * eps is far looser). On this data every rung measured at most 1.7 eps * scale for
k from 1 to 4000 (numpy: 1.3), against bounds of 4 (k = 1), 7 (k = 17) and 20 (k = 300) eps * scale.
"""
import contextlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nnx.kernels as K
import nnx.reference as R
from nnx._C import _native

RUNGS = K.GEMM_RUNGS
DTYPES = (np.float32, np.float64)
FAST_RUNGS = ("packed", "parallel")

pytestmark = pytest.mark.usefixtures("simd")  # every test on every SIMD path (tests/conftest.py)


@contextlib.contextmanager
def threads(n):
    before = _native.get_num_threads()
    _native.set_num_threads(n)
    try:
        yield
    finally:
        _native.set_num_threads(before)


def exact(a, b, c, alpha, beta):
    """The result computed in float64, and the scale of its rounding error: alpha*|a|@|b| + beta*|c|."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    want = alpha * (a @ b)
    scale = abs(alpha) * (np.abs(a) @ np.abs(b))
    if c is not None and beta != 0:
        want = want + beta * c.astype(np.float64)
        scale = scale + abs(beta) * np.abs(c.astype(np.float64))
    return want, scale


def error_bound(a, b, c=None, alpha=1.0, beta=0.0, dtype=np.float32):
    """The float64 result and the rounding-error bound of computing it in `dtype` (plus the float64
    comparison result's own error)."""
    want, scale = exact(a, b, c, alpha, beta)
    eps = np.finfo(dtype).eps + np.finfo(np.float64).eps
    return want, (np.sqrt(a.shape[1]) + 3) * eps * scale + np.finfo(dtype).tiny


def assert_close(got, a, b, c=None, alpha=1.0, beta=0.0, dtype=None, want=None):
    """got is within the error bound of a computation in `dtype` (default: got's dtype); compared with
    `want` if given (itself a rounded result: twice the bound), else with the float64 result."""
    exact_want, bound = error_bound(a, b, c, alpha, beta, np.dtype(dtype or got.dtype))
    if want is not None:
        bound = 2 * bound
    else:
        want = exact_want
    err = np.abs(got.astype(np.float64) - want)
    worst = np.unravel_index(np.argmax(err - bound), err.shape) if err.size else None
    assert got.shape == want.shape
    assert np.all(err <= bound), f"error {err[worst]} > bound {bound[worst]} at {worst}"


def random(rng, shape, dtype):
    return rng.uniform(-1, 1, shape).astype(dtype)


# ---- every rung x dtype x SIMD path, hypothesis shapes ------------------------------------------

# around the micro-tiles (portable 4 x 8, AVX2 6 x 16 / 6 x 8, AVX-512 12 x 32 / 12 x 16) and MC = 144
dims = st.one_of(st.integers(1, 40), st.sampled_from([1, 5, 6, 7, 8, 11, 12, 13, 15, 16, 17, 23, 24, 25, 31, 32,
                                                      33, 97, 143, 144, 145, 150]))


@pytest.mark.parametrize("dtype", DTYPES)
@given(m=dims, k=dims, n=dims, seed=st.integers(0, 2**32 - 1),
       order=st.sampled_from(["CC", "CF", "FC", "FF"]))
@settings(max_examples=15)
def test_rungs_match_reference(dtype, m, k, n, seed, order):
    rng = np.random.default_rng(seed)
    a = np.asarray(random(rng, (m, k), dtype), order=order[0])
    b = np.asarray(random(rng, (k, n), dtype), order=order[1])
    a_before, b_before = a.copy(), b.copy()
    want_ref = R.gemm(a, b)
    for rung in RUNGS:
        got = K.gemm(a, b, rung=rung)
        assert got.dtype == dtype and got.flags.c_contiguous
        assert_close(got, a, b)
        assert_close(got, a, b, want=want_ref)
        assert_close(got, a, b, want=a @ b)
    np.testing.assert_array_equal(a, a_before)
    np.testing.assert_array_equal(b, b_before)


@pytest.mark.parametrize("dtype", DTYPES)
@given(m=dims, k=dims, n=dims, seed=st.integers(0, 2**32 - 1),
       alpha=st.sampled_from([1.0, -0.5, 2.0, 0.0]), beta=st.sampled_from([0.0, 1.0, -1.5, 0.25]))
@settings(max_examples=10)
def test_alpha_beta_out(dtype, m, k, n, seed, alpha, beta):
    rng = np.random.default_rng(seed)
    a, b, c = random(rng, (m, k), dtype), random(rng, (k, n), dtype), random(rng, (m, n), dtype)
    for rung in RUNGS:
        out = c.copy()
        got = K.gemm(a, b, out=out, alpha=alpha, beta=beta, rung=rung)
        assert got is out
        assert_close(out, a, b, c, alpha, beta)
        ref_out = c.copy()
        R.gemm(a, b, out=ref_out, alpha=alpha, beta=beta)
        assert_close(ref_out, a, b, c, alpha, beta)


# ---- shapes that cross every cache block (MC, KC, NC) of the packed rungs ----------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m, k, n", [(301, 600, 37), (7, 3, 4100), (150, 257, 4099), (1, 1000, 1),
                                     (289, 9, 33), (17, 530, 8200), (145, 385, 40), (288, 769, 64)])
def test_packed_crosses_blocks(dtype, m, k, n):
    rng = np.random.default_rng(m * k * n)
    a, b, c = random(rng, (m, k), dtype), random(rng, (k, n), dtype), random(rng, (m, n), dtype)
    for rung in FAST_RUNGS:
        assert_close(K.gemm(a, b, rung=rung), a, b)
        assert_close(K.gemm(a, b, out=c.copy(), alpha=-1.5, beta=0.5, rung=rung), a, b, c, -1.5, 0.5)


@pytest.mark.parametrize("dtype", DTYPES)
def test_slow_rungs_cross_blocks(dtype):
    """The blocked rung's 128 x 64 x 1024 blocks, crossed in every dimension."""
    rng = np.random.default_rng(1)
    a, b = random(rng, (130, 70), dtype), random(rng, (70, 1030), dtype)
    for rung in ("naive", "reordered", "blocked"):
        assert_close(K.gemm(a.T.copy().T, b, rung=rung), a, b)
        assert_close(K.gemm(a, np.asfortranarray(b), rung=rung), a, b)


# ---- memory layouts ---------------------------------------------------------------------------

def layouts(x):
    """Views of the same matrix in many layouts: C, F, strided, a row slice of a wider array, a
    column slice of a wider F array, reversed."""
    m, k = x.shape
    wide = np.zeros((m, k + 5), x.dtype)
    wide[:, 2:2 + k] = x
    wide_f = np.zeros((m + 3, k), x.dtype, order="F")
    wide_f[1:1 + m] = x
    spaced = np.zeros((2 * m, 3 * k), x.dtype)
    spaced[::2, ::3] = x
    return {
        "C": x, "F": np.asfortranarray(x), "T-of-C": x.T.copy().T, "rows-of-wider": wide[:, 2:2 + k],
        "cols-of-wider-F": wide_f[1:1 + m], "strided": spaced[::2, ::3],
        "reversed": x[::-1, ::-1].copy()[::-1, ::-1],
    }


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("rung", RUNGS)
def test_every_layout(dtype, rung):
    rng = np.random.default_rng(2)
    a0, b0 = random(rng, (23, 19), dtype), random(rng, (19, 29), dtype)
    for name_a, a in layouts(a0).items():
        for name_b, b in layouts(b0).items():
            np.testing.assert_array_equal(a, a0)
            got = K.gemm(a, b, rung=rung)
            assert_close(got, a0, b0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_out_layouts_and_dtypes(dtype):
    rng = np.random.default_rng(3)
    a, b = random(rng, (13, 21), dtype), random(rng, (21, 11), dtype)
    for out_name, c in layouts(random(rng, (13, 11), dtype)).items():
        before = c.copy()
        got = K.gemm(a, b, out=c, alpha=0.5, beta=2.0)
        assert got is c, out_name
        assert_close(c, a, b, before, 0.5, 2.0)
    for out_dtype in (np.float16, np.float32, np.float64):
        c = np.ones((13, 11), out_dtype)
        got = K.gemm(a, b, out=c, beta=-1.0)
        assert got is c and c.dtype == out_dtype
        # computed in `dtype`, then rounded once more to out's dtype
        want, bound = error_bound(a, b, np.ones((13, 11)), 1.0, -1.0, dtype)
        assert np.all(np.abs(c - want) <= bound + np.finfo(out_dtype).eps * np.abs(want))


def test_out_aliasing_an_input():
    rng = np.random.default_rng(4)
    a = random(rng, (16, 16), np.float64)
    b = random(rng, (16, 16), np.float64)
    want = 2 * (a @ b) + a
    got = K.gemm(a, b, out=a, alpha=2.0, beta=1.0)
    assert got is a
    np.testing.assert_allclose(a, want, rtol=1e-13, atol=1e-13)
    a = random(rng, (16, 16), np.float64)
    want = a.T @ a
    K.gemm(a.T, a, out=a)
    np.testing.assert_allclose(a, want, rtol=1e-13, atol=1e-13)


def test_out_overlapping_an_input_part_way():
    """out sharing some rows with a (or b) is written only after the product is computed; out beside
    them in the same buffer is written in place."""
    rng = np.random.default_rng(5)
    for dtype in DTYPES:
        buf, b = random(rng, (24, 16), dtype), random(rng, (16, 16), dtype)
        a, out = buf[:16], buf[8:]
        want = R.gemm(a.copy(), b)
        assert K.gemm(a, b, out=out) is out
        assert_close(out, a, b, want=want)
        buf = random(rng, (40, 16), dtype)
        a, out = buf[:16], buf[24:]
        a_before, want = a.copy(), R.gemm(a, b)
        K.gemm(a, b, out=out)
        assert_close(out, a, b, want=want)
        np.testing.assert_array_equal(a, a_before)
        cols = random(rng, (16, 40), dtype)  # out overlapping b, both column slices of one array
        b, out = cols[:, :20], cols[:, 10:30]
        a, b_before = random(rng, (16, 16), dtype), b.copy()
        want = R.gemm(a, b_before)
        K.gemm(a, b, out=out)
        assert_close(out, a, b_before, want=want)


def test_beta_zero_never_reads_out():
    a, b = np.ones((5, 7), np.float32), np.ones((7, 9), np.float32)
    for rung in RUNGS:
        out = np.full((5, 9), np.nan, np.float32)
        K.gemm(a, b, out=out, beta=0.0, rung=rung)
        np.testing.assert_array_equal(out, 7)
        out = np.full((5, 9), np.nan, np.float32)
        R.gemm(a, b, out=out, beta=0.0)
        np.testing.assert_array_equal(out, 7)


def test_nan_and_inf_propagate():
    a, b = np.ones((7, 7), np.float32), np.ones((7, 7), np.float32)
    a[2, 3], b[4, 5] = np.nan, np.inf
    for rung in RUNGS:
        got = K.gemm(a, b, rung=rung)
        np.testing.assert_array_equal(np.isnan(got), np.isnan(a @ b))
        np.testing.assert_array_equal(np.isinf(got), np.isinf(a @ b))


def test_float16_computes_in_float32():
    rng = np.random.default_rng(5)
    a, b = random(rng, (9, 33), np.float16), random(rng, (33, 5), np.float16)
    got = K.gemm(a, b)
    assert got.dtype == np.float32 and R.gemm(a, b).dtype == np.float32
    assert_close(got, a.astype(np.float32), b.astype(np.float32))
    assert K.gemm(a, b.astype(np.float64)).dtype == np.float64


@pytest.mark.parametrize("rung", RUNGS)
def test_zero_sizes(rung):
    for m, k, n in [(0, 3, 4), (3, 0, 4), (3, 4, 0), (0, 0, 0)]:
        a, b = np.ones((m, k), np.float32), np.ones((k, n), np.float32)
        got = K.gemm(a, b, rung=rung)
        assert got.shape == (m, n)
        np.testing.assert_array_equal(got, np.zeros((m, n)))
        out = np.full((m, n), 3.0, np.float32)
        assert K.gemm(a, b, out=out, beta=0.5, rung=rung) is out
        np.testing.assert_array_equal(out, np.full((m, n), 1.5 + k))
        np.testing.assert_array_equal(R.gemm(a, b, out=np.full((m, n), 3.0), beta=0.5), out)


# ---- threads: bit-identical results, and the skinny shapes convolution produces ----------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m, k, n, ta", [(2000, 9, 32, False), (500, 288, 64, False),
                                         (288, 3000, 64, True), (64, 300, 700, False),
                                         (13, 1100, 4200, False), (300, 700, 300, True)])
def test_threads_bit_identical(dtype, m, k, n, ta):
    rng = np.random.default_rng(6)
    a = random(rng, (k, m), dtype).T if ta else random(rng, (m, k), dtype)
    b, c = random(rng, (k, n), dtype), random(rng, (m, n), dtype)
    with threads(1):
        one = K.gemm(a, b, out=c.copy(), alpha=0.75, beta=-0.5)
        packed = K.gemm(a, b, out=c.copy(), alpha=0.75, beta=-0.5, rung="packed")
    with threads(2):
        two = K.gemm(a, b, out=c.copy(), alpha=0.75, beta=-0.5)
    with threads(3):
        three = K.gemm(a, b, out=c.copy(), alpha=0.75, beta=-0.5)
    np.testing.assert_array_equal(one, two)
    np.testing.assert_array_equal(one, three)
    np.testing.assert_array_equal(one, packed)
    assert_close(two, a, b, c, 0.75, -0.5)


@pytest.mark.parametrize("dtype", DTYPES)
@given(tall=st.booleans(), rows=st.integers(0, 700), cols=st.integers(0, 220), k=st.integers(60, 100),
       count=st.integers(2, 5), seed=st.integers(0, 2**32 - 1))
@settings(max_examples=8, deadline=None)
def test_any_thread_count_splits_c_exactly_and_bit_identically(dtype, tall, rows, cols, k, count, seed):
    """The parallel rung cuts C into equal units, as many as a multiple of the threads: more row blocks
    for a tall C (here 1000 to 1700 rows), more column chunks for a wide one, each block or chunk a
    share of the tiles that differs from the others' by one at most. Whatever the cut, every element of
    C is computed once, over the same k blocks as on one thread: the same bits, within the rounding
    bound."""
    m, n = (1000 + rows, 40 + cols // 5) if tall else (100 + rows // 3, 100 + cols)
    rng = np.random.default_rng(seed)
    a, b, c = random(rng, (m, k), dtype), random(rng, (k, n), dtype), random(rng, (m, n), dtype)
    with threads(1):  # (beta = 0.3: beta * c is rounded, so a tile cut in two would change the bits)
        one = K.gemm(a, b, out=c.copy(), alpha=0.75, beta=0.3)
    with threads(count):
        many = K.gemm(a, b, out=c.copy(), alpha=0.75, beta=0.3)
    np.testing.assert_array_equal(many, one)
    assert_close(many, a, b, c, 0.75, 0.3)


# ---- small products: A and B read where they lie (the direct micro-kernels) ---------------------

def operand(rng, shape, dtype, layout):
    """A (rows, cols) operand in one of the layouts the C code reads without a copy."""
    rows, cols = shape
    if layout == "C":
        return random(rng, shape, dtype)
    if layout == "F":  # a transposed view
        return random(rng, (cols, rows), dtype).T
    if layout == "rows of a wider C array":
        return random(rng, (rows, cols + 5), dtype)[:, 2:cols + 2]
    return random(rng, (cols, rows + 4), dtype)[:, 1:rows + 1].T  # columns of a wider F array


LAYOUTS = ("C", "F", "rows of a wider C array", "columns of a wider F array")


@pytest.mark.parametrize("dtype", DTYPES)
@given(m=st.integers(1, 150), k=st.integers(1, 400), n=st.integers(1, 300), seed=st.integers(0, 2**32 - 1),
       layouts=st.tuples(st.sampled_from(LAYOUTS), st.sampled_from(LAYOUTS)), beta=st.sampled_from([0.0, -0.5]))
@settings(max_examples=10, deadline=None)
def test_small_products_read_operands_in_place(dtype, m, k, n, seed, layouts, beta):
    """One row block of C (m <= MC) reads B in place, a unit of C a few B panels wide reads A in place
    (csrc/gemm_ukernel.h, UK_DIRECT); more threads narrow the units, so A switches between packed and
    in place, and a pre-packed B is never read in place: every variant bit-identical, all of them
    within the rounding bound."""
    rng = np.random.default_rng(seed)
    a, b = operand(rng, (m, k), dtype, layouts[0]), operand(rng, (k, n), dtype, layouts[1])
    c = random(rng, (m, n), dtype)
    packed = K.gemm_pack_b(b)
    results = []
    for count in (1, 2, 3):
        with threads(count):
            results.append(K.gemm(a, b, out=c.copy(), alpha=0.75, beta=beta))
            results.append(K.gemm(a, packed, out=c.copy(), alpha=0.75, beta=beta))
    for got in results[1:]:
        np.testing.assert_array_equal(got, results[0])
    assert_close(results[0], a, b, c, 0.75, beta)


# ---- bad input: always a clean TypeError / ValueError naming gemm -----------------------------

GOOD_A = np.ones((3, 4), np.float32)
GOOD_B = np.ones((4, 5), np.float32)
BAD_VALUES = [
    None, 3, 2.5, "abc", [[1.0, 2.0]], (1.0,), object(), np.ones((3, 4), np.int32),
    np.ones((3, 4), np.complex64), np.array([["a"]]), np.empty((3, 4), object), np.ones(4, np.float32),
    np.ones((2, 3, 4), np.float32), np.float32(1.0), np.ones((3, 4), bool), np.ones((5, 5), np.float32),
    np.ones((5, 3), np.float64), np.ones((3, 4), np.longdouble),
]


@given(slot=st.sampled_from(["a", "b", "out", "alpha", "beta", "rung"]),
       bad=st.sampled_from(range(len(BAD_VALUES))))
@settings(max_examples=60)
def test_bad_input_fuzz(slot, bad):
    value = BAD_VALUES[bad]
    kwargs = dict(a=GOOD_A, b=GOOD_B, out=None, alpha=1.0, beta=0.0, rung="parallel")
    kwargs[slot] = value
    for impl in (K.gemm, R.gemm):
        try:
            got = impl(**kwargs)
        except (TypeError, ValueError) as e:
            assert "gemm" in str(e)
        else:
            # Only harmless substitutions may succeed: a real number for alpha/beta, None for out,
            # or an out of the right shape and a float dtype.
            assert slot in ("alpha", "beta", "out"), (slot, value)
            assert got.shape == (3, 5)


@pytest.mark.parametrize("impl", [K.gemm, R.gemm])
def test_errors_name_the_shapes(impl):
    with pytest.raises(ValueError, match=r"gemm.*\(3, 4\).*\(5, 5\)"):
        impl(GOOD_A, np.ones((5, 5), np.float32))
    with pytest.raises(ValueError, match=r"gemm.*out.*\(3, 5\).*\(5, 3\)"):
        impl(GOOD_A, GOOD_B, out=np.ones((5, 3), np.float32))
    with pytest.raises(ValueError, match="gemm.*rung"):
        impl(GOOD_A, GOOD_B, rung="fastest")
    with pytest.raises(TypeError, match="gemm.*int32"):
        impl(GOOD_A.astype(np.int32), GOOD_B)
    with pytest.raises(TypeError, match="gemm.*list"):
        impl([[1.0]], GOOD_B)
    with pytest.raises(ValueError, match="gemm.*read-only"):
        ro = np.ones((3, 5), np.float32)
        ro.flags.writeable = False
        impl(GOOD_A, GOOD_B, out=ro)


def test_rungs_exported():
    assert K.GEMM_RUNGS == R.GEMM_RUNGS == ("naive", "reordered", "blocked", "packed", "parallel")


def test_views_the_c_code_can_read_are_not_copied():
    """Transposed (F-ordered) and row-sliced operands go to C as they are, with a transpose flag or a
    leading dimension; only other strides are copied. numpy reports its allocations to tracemalloc."""
    import tracemalloc

    big = np.ones((800, 1000), np.float32)  # 3.2 MB: a copy would show
    small = np.ones((800, 3), np.float32)

    def peak_bytes(fn):
        tracemalloc.start()
        try:
            fn()
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    assert peak_bytes(lambda: K.gemm(big.T, small)) < 100_000               # F-ordered: trans flag
    assert peak_bytes(lambda: K.gemm(small.T, big[:, 100:900])) < 100_000   # rows of a wider array
    assert peak_bytes(lambda: K.gemm(small.T, big[:, ::2])) > big.nbytes // 2 - 100_000  # copied


def test_big_endian_and_unaligned_operands():
    rng = np.random.default_rng(7)
    a, b = random(rng, (5, 9), np.float32), random(rng, (9, 4), np.float32)

    def unaligned(x):
        raw = np.zeros(x.nbytes + 1, np.uint8)[1:].view(x.dtype).reshape(x.shape)
        raw[...] = x
        assert not raw.flags.aligned
        return raw

    assert_close(K.gemm(a.astype(">f4"), b.astype(">f4")), a, b)
    assert_close(K.gemm(unaligned(a), unaligned(b)), a, b)
    out = unaligned(np.zeros((5, 4), np.float32))
    assert K.gemm(a, b, out=out) is out
    assert_close(out, a, b)


# ---- Tensor @ runs on the backend's GEMM: one thread pool, not NumPy's BLAS beside nnx's -------

@pytest.mark.parametrize("sa, sb", [((7, 5), (5, 3)), ((4, 7, 5), (5, 3)), ((5,), (5, 3))])
def test_tensor_matmul_runs_on_the_backend_gemm(monkeypatch, sa, sb):
    import nnx

    calls = []

    def counting_gemm(a, b, **kwargs):
        calls.append((a.shape, b.shape))
        return R.gemm(a, b, **kwargs)

    monkeypatch.setattr(K, "gemm", counting_gemm)
    rng = np.random.default_rng(8)
    a0, b0 = rng.standard_normal(sa), rng.standard_normal(sb)
    a, b = nnx.Tensor(a0, requires_grad=True), nnx.Tensor(b0, requires_grad=True)
    y = a @ b
    np.testing.assert_allclose(y.numpy(), a0 @ b0, rtol=1e-12)
    g = rng.standard_normal(y.shape)
    y.backward(g)
    assert len(calls) == 3  # forward, and one product per gradient
    a2, g2 = a0.reshape(-1, sa[-1]), g.reshape(-1, sb[-1])
    np.testing.assert_allclose(a.grad, (g2 @ b0.T).reshape(sa), rtol=1e-12)
    np.testing.assert_allclose(b.grad, a2.T @ g2, rtol=1e-12)
