"""Pooling kernels (nnx.kernels) against nnx.reference, explicit loops and finite differences."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nnx
import nnx.functional as F
import nnx.kernels as K
import nnx.layers
import nnx.models
import nnx.reference as R
from nnx._C import _native
from nnx.testing import dot_rounding_bound, numerical_gradient

from fuzzing import assert_clean_error, bad_calls

NO_PAD = ((0, 0), (0, 0))

pytestmark = pytest.mark.usefixtures("simd")  # every test on every SIMD path (tests/conftest.py)


# ---- explicit-loop pooling: the definition, one element at a time ----------------------------------

def _loop_windows(x_shape, pool, strides, padding):
    _, h, w, _ = x_shape
    (ph, pw), (sh, sw), ((top, bottom), (left, right)) = pool, strides, padding
    for oh in range((h + top + bottom - ph) // sh + 1):
        for ow in range((w + left + right - pw) // sw + 1):
            rows = [r for r in range(oh * sh - top, oh * sh - top + ph) if 0 <= r < h]
            cols = [q for q in range(ow * sw - left, ow * sw - left + pw) if 0 <= q < w]
            yield oh, ow, [(r, q) for r in rows for q in cols]


def loop_max_pool(x, pool, strides, padding):
    n, h, w, c = x.shape
    out = {}
    for oh, ow, pixels in _loop_windows(x.shape, pool, strides, padding):
        for i in range(n):
            for ch in range(c):
                best, at = None, None
                for r, q in pixels:
                    v = x[i, r, q, ch]
                    if best is None or (not np.isnan(best) and (v > best or np.isnan(v))):
                        best, at = v, r * w + q
                out[i, oh, ow, ch] = (best, at)
    shape = (n, oh + 1, ow + 1, c)
    y = np.empty(shape, x.dtype)
    a = np.empty(shape, np.int64)
    for key, (best, at) in out.items():
        y[key], a[key] = best, at
    return y, a


def loop_avg_pool(x, pool, strides, padding):
    n, h, w, c = x.shape
    values = {}
    for oh, ow, pixels in _loop_windows(x.shape, pool, strides, padding):
        values[oh, ow] = sum(x[:, r, q, :].astype(np.float64) for r, q in pixels) / len(pixels)
    y = np.empty((n, oh + 1, ow + 1, c), x.dtype)
    for (oh, ow), v in values.items():
        y[:, oh, ow, :] = v
    return y


def loop_max_scatter(dy, argmax, x_shape):
    n, h, w, c = x_shape
    dx = np.zeros((n, h * w, c), dy.dtype)
    for i, oh, ow, ch in np.ndindex(*dy.shape):
        dx[i, argmax[i, oh, ow, ch], ch] += dy[i, oh, ow, ch]
    return dx.reshape(x_shape)


# ---- strategies -------------------------------------------------------------------------------------

@st.composite
def pool_cases(draw, max_hw=9, max_c=6):
    """A pooling problem that fits: shapes, pool sizes, strides (overlapping windows too), padding."""
    ph, pw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    sh, sw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    top, bottom = draw(st.integers(0, ph - 1)), draw(st.integers(0, ph - 1))
    left, right = draw(st.integers(0, pw - 1)), draw(st.integers(0, pw - 1))
    h = draw(st.integers(max(1, ph - top - bottom), max_hw))
    w = draw(st.integers(max(1, pw - left - right), max_hw))
    shape = (draw(st.integers(1, 3)), h, w, draw(st.integers(1, max_c)))
    return shape, (ph, pw), (sh, sw), ((top, bottom), (left, right))


def make_input(shape, dtype, layout, seed):
    """Random data of `shape` in the memory layout named by `layout`."""
    rng = np.random.default_rng(seed)
    if layout == "C":
        return rng.standard_normal(shape).astype(dtype)
    if layout == "F":
        return np.asfortranarray(rng.standard_normal(shape).astype(dtype))
    if layout == "sliced":
        big = rng.standard_normal((shape[0], shape[1] + 1, shape[2], 2 * shape[3])).astype(dtype)
        return big[:, 1:, :, ::2]
    # "nchw": a channels-last view of NCHW memory, as a PyTorch user would hand over
    nchw = np.ascontiguousarray(rng.standard_normal(shape).astype(dtype).transpose(0, 3, 1, 2))
    return nchw.transpose(0, 2, 3, 1)


# ---- forward ----------------------------------------------------------------------------------------

@settings(max_examples=30)
@given(case=pool_cases(), dtype=st.sampled_from([np.float32, np.float64]),
       layout=st.sampled_from(["C", "F", "sliced", "nchw"]), seed=st.integers(0, 2**16))
def test_max_forward_matches_reference_and_loops(case, dtype, layout, seed):
    shape, pool, strides, padding = case
    x = make_input(shape, dtype, layout, seed)
    y, a = K.max_pool2d_forward(x, pool, strides, padding)
    y_ref, a_ref = R.max_pool2d_forward(x, pool, strides, padding)
    y_loop, a_loop = loop_max_pool(x, pool, strides, padding)
    assert y.dtype == dtype and a.dtype == np.int32
    np.testing.assert_array_equal(y, y_ref)  # max copies values: exact
    np.testing.assert_array_equal(a, a_ref)
    np.testing.assert_array_equal(y, y_loop)
    np.testing.assert_array_equal(a, a_loop)


@settings(max_examples=30)
@given(case=pool_cases(), dtype=st.sampled_from([np.float32, np.float64]),
       layout=st.sampled_from(["C", "nchw"]), seed=st.integers(0, 2**16),
       specials=st.lists(st.sampled_from([np.nan, np.inf, -np.inf, 0.0, -0.0]), max_size=6))
def test_max_forward_without_argmax_gives_the_same_y_bit_for_bit(case, dtype, layout, seed, specials):
    shape, pool, strides, padding = case
    x = make_input(shape, dtype, layout, seed)
    flat = np.random.default_rng(seed).integers(0, x.size, len(specials))
    x[np.unravel_index(flat, shape)] = specials  # NaN, infinities and signed zeros at random places
    for kernels in (K, R):
        y, a = kernels.max_pool2d_forward(x, pool, strides, padding)
        y_only, none = kernels.max_pool2d_forward(x, pool, strides, padding, argmax=False)
        assert none is None and y_only.dtype == y.dtype and y_only.shape == y.shape
        assert y_only.tobytes() == y.tobytes()  # bytes: NaN payloads and the sign of zero too
    assert K.max_pool2d_forward(x, pool, strides, padding, argmax=False)[0].tobytes() == \
        R.max_pool2d_forward(x, pool, strides, padding)[0].tobytes()


@settings(max_examples=30)
@given(case=pool_cases(), dtype=st.sampled_from([np.float32, np.float64]),
       layout=st.sampled_from(["C", "F", "sliced", "nchw"]), seed=st.integers(0, 2**16))
def test_avg_forward_matches_reference_and_loops(case, dtype, layout, seed):
    shape, pool, strides, padding = case
    x = make_input(shape, dtype, layout, seed)
    y = K.avg_pool2d_forward(x, pool, strides, padding)
    tol = 1e-6 if dtype == np.float32 else 1e-13
    assert y.dtype == dtype
    np.testing.assert_allclose(y, R.avg_pool2d_forward(x, pool, strides, padding), rtol=tol, atol=tol)
    np.testing.assert_allclose(y, loop_avg_pool(x, pool, strides, padding), rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("pool,strides,padding", [
    ((2, 2), (2, 2), NO_PAD),               # the 2x2 fast path
    ((2, 2), (1, 1), ((1, 0), (0, 1))),     # fast path inside, clipped windows at the borders
    ((3, 3), (2, 2), ((1, 1), (1, 1))),
    ((1, 4), (1, 3), ((0, 0), (2, 3))),
])
def test_every_simd_path_agrees_with_reference(simd, dtype, pool, strides, padding):
    # 37 channels: full vectors plus a remainder on every path
    x = make_input((2, 9, 11, 37), dtype, "C", 3)
    y, a = K.max_pool2d_forward(x, pool, strides, padding)
    y_ref, a_ref = R.max_pool2d_forward(x, pool, strides, padding)
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(a, a_ref)
    assert K.max_pool2d_forward(x, pool, strides, padding, argmax=False)[0].tobytes() == y_ref.tobytes()
    dy = make_input(y.shape, dtype, "C", 4)
    np.testing.assert_allclose(K.max_pool2d_backward(dy, a, x.shape), R.max_pool2d_backward(dy, a, x.shape))
    tol = 1e-6 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(K.avg_pool2d_forward(x, pool, strides, padding),
                               R.avg_pool2d_forward(x, pool, strides, padding), rtol=tol, atol=tol)
    np.testing.assert_allclose(K.avg_pool2d_backward(dy, x.shape, pool, strides, padding),
                               R.avg_pool2d_backward(dy, x.shape, pool, strides, padding), rtol=tol, atol=tol)


def test_float16_computes_in_float32():
    x = make_input((1, 4, 4, 3), np.float16, "C", 0)
    y, a = K.max_pool2d_forward(x, (2, 2), (2, 2), NO_PAD)
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y, R.max_pool2d_forward(x.astype(np.float32), (2, 2), (2, 2), NO_PAD)[0])
    assert K.avg_pool2d_forward(x, (2, 2), (2, 2), NO_PAD).dtype == np.float32


# ---- the tie, NaN and padding rules -----------------------------------------------------------------

@pytest.mark.parametrize("pool", [(2, 2), (3, 2)])
def test_ties_go_to_the_first_maximum_in_row_major_order(simd, pool):
    x = np.zeros((1, 4, 4, 9), np.float32)
    x[0, 1, 1, 1] = x[0, 1, 0, 1] = 5.0   # tie inside one window: (1, 0) comes first
    x[0, 0, 1, 2] = x[0, 1, 0, 2] = 5.0   # row 0 beats row 1 though its column is larger
    y, a = K.max_pool2d_forward(x, pool, (2, 2), NO_PAD)
    assert a[0, 0, 0, 0] == 0             # all zeros: the first pixel of the window
    assert a[0, 0, 0, 1] == 1 * 4 + 0
    assert a[0, 0, 0, 2] == 0 * 4 + 1
    assert a[0, 0, 1, 0] == 2             # the next window starts at column 2
    np.testing.assert_array_equal(a, R.max_pool2d_forward(x, pool, (2, 2), NO_PAD)[1])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nan_propagates_and_its_position_is_the_argmax(simd, dtype):
    x = make_input((1, 4, 4, 10), dtype, "C", 1)
    x[0, 0, 1, 3] = np.nan
    x[0, 1, 0, 3] = np.nan                # a second NaN later in the window: the first stays
    x[0, 3, 3, 4] = np.nan
    x[0, 2, 2, 4] = np.inf                # NaN wins over +inf too
    for pool, strides in [((2, 2), (2, 2)), ((3, 3), (1, 1))]:
        y, a = K.max_pool2d_forward(x, pool, strides, NO_PAD)
        assert np.isnan(y[0, 0, 0, 3]) and a[0, 0, 0, 3] == 1
        assert np.isnan(y[0, -1, -1, 4]) and a[0, -1, -1, 4] == 15
        y_ref, a_ref = R.max_pool2d_forward(x, pool, strides, NO_PAD)
        np.testing.assert_array_equal(y, y_ref)   # NaNs compare equal in assert_array_equal
        np.testing.assert_array_equal(a, a_ref)
        assert np.isnan(K.avg_pool2d_forward(x, pool, strides, NO_PAD)[0, 0, 0, 3])


def test_padding_never_wins_even_against_minus_infinity(simd):
    x = np.full((1, 3, 3, 2), -np.inf, np.float32)
    y, a = K.max_pool2d_forward(x, (2, 2), (1, 1), ((1, 1), (1, 1)))
    assert np.all(y == -np.inf)
    # each window's first in-image pixel: window (oh, ow) starts at (oh - 1, ow - 1)
    expected = np.array([[max(oh - 1, 0) * 3 + max(ow - 1, 0) for ow in range(4)] for oh in range(4)])
    np.testing.assert_array_equal(a[0, :, :, 0], expected)


def test_average_excludes_padding_from_the_count():
    x = np.ones((1, 3, 3, 1), np.float64)
    y = K.avg_pool2d_forward(x, (3, 3), (1, 1), ((1, 1), (1, 1)))
    np.testing.assert_array_equal(y, np.ones_like(y))  # count_include_pad=True would give 4/9 at corners


# ---- gradients --------------------------------------------------------------------------------------

@settings(max_examples=25)
@given(case=pool_cases(), layout=st.sampled_from(["C", "F", "sliced"]), seed=st.integers(0, 2**16))
def test_max_backward_is_the_scatter_of_dy(case, layout, seed):
    shape, pool, strides, padding = case
    x = make_input(shape, np.float64, "C", seed)
    _, a = K.max_pool2d_forward(x, pool, strides, padding)
    dy = make_input(a.shape, np.float64, layout, seed + 1)
    dx = K.max_pool2d_backward(dy, a, shape)
    np.testing.assert_allclose(dx, loop_max_scatter(dy, a, shape), rtol=1e-14, atol=1e-14)
    np.testing.assert_allclose(dx, R.max_pool2d_backward(dy, a, shape), rtol=1e-14, atol=1e-14)
    dx32 = K.max_pool2d_backward(dy.astype(np.float32), np.asfortranarray(a.astype(np.int64)), shape)
    assert dx32.dtype == np.float32
    np.testing.assert_allclose(dx32, dx, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("moved_to", [0, 5 * 11 + 10, 8 * 11 + 10])  # another tile; the last column/row
def test_max_backward_with_an_argmax_outside_its_2x2_tile(simd, moved_to):
    # 9x11 -> 4x5 looks like 2x2 tiles to the backward kernel; one index that leaves its tile must
    # still be scattered exactly (the kernel falls back for that image)
    x = make_input((3, 9, 11, 37), np.float32, "C", 8)
    _, a = K.max_pool2d_forward(x, (2, 2), (2, 2), NO_PAD)
    a[1, 2, 3, 17] = moved_to
    dy = make_input(a.shape, np.float32, "C", 9)
    np.testing.assert_array_equal(K.max_pool2d_backward(dy, a, x.shape), loop_max_scatter(dy, a, x.shape))


@pytest.mark.parametrize("x_shape,pool,strides", [
    ((3, 9, 11, 37), (2, 2), (2, 2)),    # 2x2 tiles; moved: rows of tiles written, then the scatter
    ((3, 11, 11, 37), (3, 3), (2, 2)),   # overlapping windows look like 2x2 tiles: some argmax leaves
    ((3, 27, 27, 37), (3, 3), (2, 2)),   # its tile in a later row, after rows were written as tiles
    ((3, 9, 10, 37), (3, 3), (3, 3)),    # the scatter: 3x3 windows, the last column beyond them
    ((3, 1, 13, 37), (1, 2), (1, 2)),    # a 1-D pool (MaxPooling1D)
    ((3, 9, 9, 37), (2, 2), (3, 3)),     # 2x2 windows with gaps between them
    ((3, 5, 6, 37), (1, 1), (1, 1)),
])
@pytest.mark.parametrize("moved", [False, True])
def test_max_backward_is_exact_for_tiles_overlaps_and_fallbacks(simd, x_shape, pool, strides, moved):
    x = make_input(x_shape, np.float32, "C", 15)
    _, a = K.max_pool2d_forward(x, pool, strides, NO_PAD)
    if moved:  # an index of a middle output row sent to another tile: that image is scattered
        a[1, a.shape[1] // 2, -1, 20] = 0
    dy = make_input(a.shape, np.float32, "C", 16)
    np.testing.assert_array_equal(K.max_pool2d_backward(dy, a, x_shape), loop_max_scatter(dy, a, x_shape))


@settings(max_examples=25)
@given(case=pool_cases(), layout=st.sampled_from(["C", "F", "sliced"]), seed=st.integers(0, 2**16))
def test_avg_backward_is_the_adjoint_of_forward(case, layout, seed):
    shape, pool, strides, padding = case
    x = make_input(shape, np.float64, "C", seed)
    y = K.avg_pool2d_forward(x, pool, strides, padding)
    dy = make_input(y.shape, np.float64, layout, seed + 1)
    dx = K.avg_pool2d_backward(dy, shape, pool, strides, padding)
    # <A x, dy> == <x, A^T dy> for the linear map A = average pooling
    np.testing.assert_allclose(np.vdot(y, dy), np.vdot(x, dx), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dx, R.avg_pool2d_backward(dy, shape, pool, strides, padding), rtol=1e-13,
                               atol=1e-13)
    dx32 = K.avg_pool2d_backward(dy.astype(np.float32), shape, pool, strides, padding)
    np.testing.assert_allclose(dx32, dx, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("pool,strides,padding", [
    ((2, 2), (2, 2), NO_PAD),
    ((3, 2), (1, 2), ((1, 2), (1, 0))),
])
def test_gradients_match_finite_differences(pool, strides, padding):
    rng = np.random.default_rng(7)
    x = rng.permutation(2 * 5 * 6 * 3).reshape(2, 5, 6, 3).astype(np.float64) / 7  # distinct: no kinks
    y, a = K.max_pool2d_forward(x, pool, strides, padding)
    dy = rng.standard_normal(y.shape)
    # Both poolings are linear near x (inputs differ by >= 1/7, so a step of 1/64 moves no argmax):
    # central differences are exact up to the rounding of the dot product, whatever order the BLAS
    # sums in. The tolerance is that rounding's bound, not a number tuned to one machine.
    eps = 2.0 ** -6
    fd = numerical_gradient(lambda: np.vdot(K.max_pool2d_forward(x, pool, strides, padding)[0], dy), x, eps)
    taps = pool[0] * pool[1]
    y_abs = K.avg_pool2d_forward(np.abs(x) + eps, pool, strides, padding) * taps  # >= every |max| and sum
    atol = dot_rounding_bound(y_abs, dy, taps) / eps
    np.testing.assert_allclose(K.max_pool2d_backward(dy, a, x.shape), fd, rtol=0, atol=atol)
    fd = numerical_gradient(lambda: np.vdot(K.avg_pool2d_forward(x, pool, strides, padding), dy), x, eps)
    np.testing.assert_allclose(K.avg_pool2d_backward(dy, x.shape, pool, strides, padding), fd, rtol=0,
                               atol=atol)


# ---- threads ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("pool,strides", [((2, 2), (2, 2)), ((3, 3), (1, 1))])
def test_bit_identical_for_one_and_two_threads(pool, strides):
    x = make_input((6, 30, 30, 24), np.float32, "C", 5)  # above the single-thread cut-off
    before = _native.get_num_threads()
    results = []
    try:
        for threads in (1, 2):
            _native.set_num_threads(threads)
            y, a = K.max_pool2d_forward(x, pool, strides, NO_PAD)
            dy = make_input(y.shape, np.float32, "C", 6)
            results.append((y, a, K.max_pool2d_forward(x, pool, strides, NO_PAD, argmax=False)[0],
                            K.max_pool2d_backward(dy, a, x.shape),
                            K.avg_pool2d_forward(x, pool, strides, NO_PAD),
                            K.avg_pool2d_backward(dy, x.shape, pool, strides, NO_PAD)))
    finally:
        _native.set_num_threads(before)
    for one, two in zip(*results):
        assert one.tobytes() == two.tobytes()


# Forward inputs of at least 8 MiB with disjoint windows are prefetched ahead of the loops (csrc/pool.c,
# NNX_POOL_PREFETCH_MIN_BYTES): the last windows' prefetches would reach past the end of x and are skipped.
PREFETCH_MIN_BYTES = 8 << 20


@pytest.mark.parametrize("dtype,n", [(np.float32, 9), (np.float64, 5)])
@pytest.mark.parametrize("pool,strides,padding", [
    ((2, 2), (2, 2), NO_PAD),                 # the 2x2 fast path
    ((2, 2), (2, 2), ((1, 0), (0, 1))),       # both paths: clipped windows at the borders
    ((3, 3), (3, 3), ((1, 1), (2, 0))),       # the general path
    ((3, 3), (2, 2), ((1, 1), (1, 1))),       # overlapping windows: not prefetched
])
def test_prefetched_inputs_match_the_reference_and_small_batches(simd, dtype, n, pool, strides, padding):
    x = make_input((n, 121, 119, 17), dtype, "C", 8)   # odd sizes: rows and windows straddle cache lines
    assert x.nbytes >= PREFETCH_MIN_BYTES > x[:1].nbytes
    y, a = K.max_pool2d_forward(x, pool, strides, padding)
    y_ref, a_ref = R.max_pool2d_forward(x, pool, strides, padding)
    assert y.tobytes() == y_ref.tobytes()
    np.testing.assert_array_equal(a, a_ref)
    assert K.max_pool2d_forward(x, pool, strides, padding, argmax=False)[0].tobytes() == y.tobytes()
    avg = K.avg_pool2d_forward(x, pool, strides, padding)
    tol = 1e-6 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(avg, R.avg_pool2d_forward(x, pool, strides, padding), rtol=tol, atol=tol)
    # image by image (no prefetch): the same bits
    one_by_one = [K.avg_pool2d_forward(x[i:i + 1], pool, strides, padding) for i in range(n)]
    assert np.concatenate(one_by_one).tobytes() == avg.tobytes()
    before = _native.get_num_threads()
    try:
        for threads in (1, 2):
            _native.set_num_threads(threads)
            assert K.max_pool2d_forward(x, pool, strides, padding)[0].tobytes() == y.tobytes()
            assert K.avg_pool2d_forward(x, pool, strides, padding).tobytes() == avg.tobytes()
    finally:
        _native.set_num_threads(before)


# ---- bad input: a clean exception naming the kernel, never a crash ----------------------------------

X = np.zeros((2, 6, 6, 3), np.float32)
Y, A = K.max_pool2d_forward(X, (2, 2), (2, 2), NO_PAD)
GOOD = {
    "max_pool2d_forward": dict(x=X, pool_size=(2, 2), strides=(2, 2), padding=NO_PAD, argmax=True),
    "avg_pool2d_forward": dict(x=X, pool_size=(2, 2), strides=(2, 2), padding=NO_PAD),
    "avg_pool2d_backward": dict(dy=Y, x_shape=X.shape, pool_size=(2, 2), strides=(2, 2), padding=NO_PAD),
    "max_pool2d_backward": dict(dy=Y, argmax=A, x_shape=X.shape),
}
BAD_ARGS = {
    "x": [X[0], X[None], np.zeros((2, 0, 6, 3), np.float32), X.astype(np.int32), X.astype(np.complex64),
          X.tolist(), None, np.zeros((2, 1, 1, 3), np.float32)],
    "dy": [Y[0], Y[:, :2], Y.astype(np.int64), Y.tolist(), np.zeros((3, 3, 3, 3), np.float32),
           np.zeros((2, 3, 3, 4), np.float32)],
    "argmax": [A.astype(np.float32), A.astype(bool), A[:, :2], A.tolist(), A + 36, A - 37,
               np.full(A.shape, 2**31 - 1, np.int32), np.full(A.shape, 2**32, np.int64),
               np.full(A.shape, -1, np.int64), 1, "yes"],  # forward's argmax flag takes a bool only
    "x_shape": [(2, 6, 6), (2, 6, 6, 3, 1), (2, 0, 6, 3), (2, -6, 6, 3), "abcd", None, (2, 6, 6, 4),
                (3, 6, 6, 3)],
    "pool_size": [(0, 2), (2,), 2, (2, 2, 2), ("a", 2), (7, 2), (2, -1), None],
    "strides": [(0, 2), (2, 0), (-1, 1), 2, (1,), None],
    "padding": [((2, 0), (0, 0)), ((0, 0), (0, 5)), ((-1, 0), (0, 0)), (1, 1), 1, None, ((0, 0),)],
}


@pytest.mark.parametrize("kernel,arg,bad", list(bad_calls(GOOD, BAD_ARGS)))
def test_bad_input_raises_a_clean_error(kernel, arg, bad):
    assert_clean_error(K, kernel, dict(GOOD[kernel], **{arg: bad}))


def test_bad_stride_message_says_stride():
    for kernel in ("max_pool2d_forward", "avg_pool2d_forward", "avg_pool2d_backward"):
        with pytest.raises(ValueError, match="stride"):
            getattr(K, kernel)(**dict(GOOD[kernel], strides=(0, 1)))


def test_huge_strides_mean_one_window():
    x = make_input((2, 5, 7, 3), np.float64, "C", 2)
    for strides in [(10**30, 1), (1, 2**63), (5, 7)]:
        padding = ((0, 1), (0, 0))
        y, a = K.max_pool2d_forward(x, (2, 3), strides, padding)
        y_ref, a_ref = R.max_pool2d_forward(x, (2, 3), strides, padding)
        np.testing.assert_array_equal(y, y_ref)
        np.testing.assert_array_equal(a, a_ref)
        dy = make_input(y.shape, np.float64, "C", 3)
        np.testing.assert_allclose(K.avg_pool2d_backward(dy, x.shape, (2, 3), strides, padding),
                                   R.avg_pool2d_backward(dy, x.shape, (2, 3), strides, padding))


def test_good_calls_pass():
    for kernel, args in GOOD.items():
        getattr(K, kernel)(**args)  # the fuzz above only means something if these work


@settings(max_examples=40)
@given(values=st.lists(st.integers(-2**40, 2**40) | st.integers(-3, 40), min_size=18 * 3, max_size=18 * 3),
       as_int32=st.booleans())
def test_random_argmax_is_scattered_or_rejected(values, as_int32):
    a = np.array(values, np.int64).reshape(2, 3, 3, 3)
    if as_int32:
        a = a.astype(np.int32)  # wraps: still must be checked, not trusted
    dy = np.ones(a.shape, np.float32)
    if a.min() >= 0 and a.max() < 36:
        np.testing.assert_allclose(K.max_pool2d_backward(dy, a, X.shape), loop_max_scatter(dy, a, X.shape))
    else:
        with pytest.raises(ValueError, match="max_pool2d_backward"):
            K.max_pool2d_backward(dy, a, X.shape)


def test_reference_keeps_float64_in_any_byte_order():
    x = make_input((1, 4, 4, 2), np.float64, "C", 5)
    big_endian = x.astype(">f8")
    for got in (R.max_pool2d_forward(big_endian, (2, 2), (2, 2), NO_PAD)[0],
                R.avg_pool2d_forward(big_endian, (2, 2), (2, 2), NO_PAD)):
        assert got.dtype == np.float64
    np.testing.assert_array_equal(R.avg_pool2d_forward(big_endian, (2, 2), (1, 1), NO_PAD),
                                  R.avg_pool2d_forward(x, (2, 2), (1, 1), NO_PAD))


@pytest.mark.parametrize("layer_class", ["MaxPooling2D", "AveragePooling2D"])
def test_errors_inside_a_layer_name_the_layer_and_the_op(layer_class):
    layer = getattr(nnx.layers, layer_class)((5, 5), name="pool")
    op = {"MaxPooling2D": "max_pool2d", "AveragePooling2D": "avg_pool2d"}[layer_class]
    with pytest.raises(ValueError, match=rf"^{layer_class} 'pool': {op}: window \(5, 5\) does not fit "
                                         rf"input shape \(1, 3, 3, 2\)"):
        layer(np.zeros((1, 3, 3, 2), np.float32))


# ---- the autograd op asks for argmax only when backward will read it --------------------------------

@pytest.fixture
def argmax_flags(monkeypatch):
    """The `argmax` flag of every native max_pool2d_forward call, in order."""
    flags, original = [], K.max_pool2d_forward

    def recording(*args, **kwargs):
        flags.append(kwargs.get("argmax", True))
        return original(*args, **kwargs)
    monkeypatch.setattr(K, "max_pool2d_forward", recording)
    return flags


def test_the_op_keeps_argmax_only_for_a_gradient(argmax_flags):
    x = make_input((2, 6, 7, 5), np.float32, "C", 11)
    y_ref, a_ref = R.max_pool2d_forward(x, (2, 2), (2, 2), NO_PAD)
    with nnx.use_backend("native"):
        t = nnx.Tensor(x, requires_grad=True)
        y = F.max_pool2d(t, 2)
        with nnx.no_grad():
            y_no_grad = F.max_pool2d(t, 2)
        y_constant = F.max_pool2d(x, 2)  # an array: no gradient wanted
        assert argmax_flags == [True, False, False]
        for got in (y, y_no_grad, y_constant):
            assert got.data.tobytes() == y_ref.tobytes()
        assert y.requires_grad and not y_no_grad.requires_grad and not y_constant.requires_grad
        dy = make_input(y.shape, np.float32, "C", 12)
        (y * nnx.Tensor(dy)).sum().backward()
    np.testing.assert_array_equal(t.grad, loop_max_scatter(dy, a_ref, x.shape))


@pytest.mark.parametrize("backend", ["reference", "shadow"])
def test_the_op_without_argmax_on_the_other_backends(backend):
    x = make_input((2, 7, 6, 3), np.float64, "C", 13)  # 'same': one row of padding at top and bottom
    with nnx.use_backend(backend), nnx.no_grad():
        y = F.max_pool2d(nnx.Tensor(x, requires_grad=True), (3, 2), padding="same")
    assert y.data.tobytes() == R.max_pool2d_forward(x, (3, 2), (3, 2), ((1, 1), (0, 0)))[0].tobytes()


def test_predict_writes_no_argmax_and_fit_does(argmax_flags):
    model = nnx.models.Sequential([nnx.layers.MaxPooling2D((2, 2), input_shape=(10, 10, 2)),
                                   nnx.layers.Conv2D(3, (3, 3)), nnx.layers.MaxPooling2D((2, 2))])
    model.compile(optimizer="sgd", loss="mse")
    x = make_input((4, 10, 10, 2), np.float32, "C", 14)
    with nnx.use_backend("native"):
        model.predict(x, verbose=0)
        assert argmax_flags == [False, False]
        argmax_flags.clear()
        model.fit(x, np.zeros((4, 1, 1, 3), np.float32), epochs=1, batch_size=4, verbose=0)
    # the first pool's input is the data (no gradient); the second's comes from trainable weights
    assert argmax_flags == [False, True]


def test_the_argmax_flag_must_be_a_bool():
    for kernels in (K, R):
        with pytest.raises(TypeError, match="max_pool2d_forward: argmax must be True or False, got 1"):
            kernels.max_pool2d_forward(X, (2, 2), (2, 2), NO_PAD, argmax=1)
