"""Convolution kernels (nnx.kernels) against nnx.reference, explicit loops and finite differences."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nnx.kernels as K
import nnx.reference as R
from nnx._C import _native
from nnx.testing import dot_rounding_bound, numerical_gradient

from fuzzing import assert_clean_error, bad_calls

NO_PAD = ((0, 0), (0, 0))

pytestmark = pytest.mark.usefixtures("simd")  # every test on every SIMD path (tests/conftest.py)


# ---- explicit-loop convolution: the definition, one output pixel and tap at a time --------------------

def loop_conv(x, kernel, strides, padding, dilation, groups):
    """y[n, oh, ow, f] = sum over taps and the group's channels, read straight off the definition."""
    n, h, w, c = x.shape
    kh, kw, cg, f = kernel.shape
    fg = f // groups
    (top, bottom), (left, right) = padding
    oh = (h + top + bottom - dilation[0] * (kh - 1) - 1) // strides[0] + 1
    ow = (w + left + right - dilation[1] * (kw - 1) - 1) // strides[1] + 1
    x64, k64 = x.astype(np.float64), kernel.astype(np.float64)
    y = np.zeros((n, oh, ow, f))
    for i in range(oh):
        for j in range(ow):
            for a in range(kh):
                for b in range(kw):
                    r = i * strides[0] - top + a * dilation[0]
                    q = j * strides[1] - left + b * dilation[1]
                    if not (0 <= r < h and 0 <= q < w):
                        continue
                    for g in range(groups):
                        pixel = x64[:, r, q, g * cg:(g + 1) * cg]            # (n, cg)
                        taps = k64[a, b, :, g * fg:(g + 1) * fg]              # (cg, fg)
                        y[:, i, j, g * fg:(g + 1) * fg] += pixel @ taps
    return y


# ---- strategies -------------------------------------------------------------------------------------

@st.composite
def conv_cases(draw, max_hw=8):
    """A convolution that fits: groups, kernel size, strides, dilation, asymmetric padding, shapes."""
    groups = draw(st.integers(1, 3))
    cg, fg = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    strides = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    padding = ((draw(st.integers(0, 2)), draw(st.integers(0, 2))), (draw(st.integers(0, 2)), draw(st.integers(0, 2))))
    h = draw(st.integers(max(1, dilation[0] * (kh - 1) + 1 - sum(padding[0])), max_hw))
    w = draw(st.integers(max(1, dilation[1] * (kw - 1) + 1 - sum(padding[1])), max_hw))
    x_shape = (draw(st.integers(1, 3)), h, w, groups * cg)
    return x_shape, (kh, kw, cg, groups * fg), strides, padding, dilation, groups


def make_input(shape, dtype, layout, seed):
    """Random data of `shape` in the memory layout named by `layout`."""
    rng = np.random.default_rng(seed)
    data = rng.standard_normal(shape).astype(dtype)
    if layout == "C":
        return data
    if layout == "F":
        return np.asfortranarray(data)
    if layout == "sliced":
        big = np.zeros((shape[0], shape[1] + 1, shape[2], 2 * shape[3]), dtype)
        big[:, 1:, :, ::2] = data
        return big[:, 1:, :, ::2]
    # "transposed": a view of memory in another axis order, as a PyTorch (NCHW / OIHW) user hands over
    return np.ascontiguousarray(data.transpose(0, 3, 1, 2)).transpose(0, 2, 3, 1)


def tolerance(dtype):
    return dict(rtol=2e-4, atol=2e-4) if dtype == np.float32 else dict(rtol=1e-11, atol=1e-11)


@pytest.fixture
def threads():
    """Set the thread count inside a test; restored afterwards."""
    before = _native.get_num_threads()
    yield _native.set_num_threads
    _native.set_num_threads(before)


# ---- forward and both gradients against the reference, the loops and each other ---------------------

@settings(max_examples=60)
@given(case=conv_cases(), dtype=st.sampled_from([np.float32, np.float64]),
       layouts=st.tuples(*[st.sampled_from(["C", "F", "sliced", "transposed"])] * 3), seed=st.integers(0, 2**16))
def test_kernels_match_reference_and_loops(case, dtype, layouts, seed):
    # every rung of the ladder (csrc/conv.c) computes the same convolution
    x_shape, k_shape, strides, padding, dilation, groups = case
    x = make_input(x_shape, dtype, layouts[0], seed)
    kernel = make_input(k_shape, dtype, layouts[1], seed + 1)
    args = (strides, padding, dilation, groups)
    tol = tolerance(dtype)
    y_loops, y_ref = loop_conv(x, kernel, *args), R.conv2d_forward(x, kernel, *args)
    dy = make_input(y_ref.shape, dtype, layouts[2], seed + 2)
    dx_ref = R.conv2d_backward_input(dy, kernel, x_shape, *args)
    dk_ref = R.conv2d_backward_weight(x, dy, k_shape, *args)

    for rung in K.CONV_RUNGS:
        y = K.conv2d_forward(x, kernel, *args, rung=rung)
        assert y.dtype == dtype and y.flags.c_contiguous, rung
        np.testing.assert_allclose(y, y_loops, **tol, err_msg=rung)
        np.testing.assert_allclose(y, y_ref, **tol, err_msg=rung)

        dx = K.conv2d_backward_input(dy, kernel, x_shape, *args, rung=rung)
        dk = K.conv2d_backward_weight(x, dy, k_shape, *args, rung=rung)
        assert dx.shape == x_shape and dk.shape == k_shape and dx.dtype == dk.dtype == dtype, rung
        np.testing.assert_allclose(dx, dx_ref, **tol, err_msg=rung)
        np.testing.assert_allclose(dk, dk_ref, **tol, err_msg=rung)

        # adjoint identity: <conv(x, k), dy> == <x, dX(dy)> == <k, dK(x, dy)>
        inner = np.vdot(y.astype(np.float64), dy)
        scale = tol["rtol"] * (np.abs(y).sum() * np.abs(dy).max() + 1)
        assert abs(np.vdot(x.astype(np.float64), dx) - inner) <= scale, rung
        assert abs(np.vdot(kernel.astype(np.float64), dk) - inner) <= scale, rung


# ---- choosing a rung: None is the fastest, unknown names are refused ----------------------------------

def test_rung_none_is_the_fastest_rung():
    x = make_input((2, 9, 9, 4), np.float32, "C", 11)
    kernel = make_input((3, 3, 4, 32), np.float32, "C", 12)
    args = ((1, 1), NO_PAD, (1, 1), 1)
    assert K.info()["conv_rungs"] == ["naive", "im2col", "fast"]  # slowest first
    np.testing.assert_array_equal(K.conv2d_forward(x, kernel, *args),
                                  K.conv2d_forward(x, kernel, *args, rung="fast"))


@pytest.mark.parametrize("kernel", ["conv2d_forward", "conv2d_backward_input", "conv2d_backward_weight"])
@pytest.mark.parametrize("rung,error", [("bogus", ValueError), ("NAIVE", ValueError), ("", ValueError),
                                        (1, TypeError), (b"naive", TypeError), (("naive",), TypeError)])
def test_unknown_rung_is_refused_naming_the_valid_ones(kernel, rung, error):
    with pytest.raises(error, match=f"{kernel}: .*rung.*'naive', 'im2col', 'fast'"):
        getattr(K, kernel)(**dict(GOOD[kernel], rung=rung))


def test_reference_matches_loops():
    # the reference is itself held to the definition, on a case using every option at once
    x = make_input((2, 7, 6, 6), np.float64, "C", 1)
    kernel = make_input((3, 2, 2, 9), np.float64, "C", 2)
    args = ((2, 1), ((1, 2), (0, 1)), (2, 2), 3)
    np.testing.assert_allclose(R.conv2d_forward(x, kernel, *args), loop_conv(x, kernel, *args), rtol=1e-12)


# the fast paths and the chunking of the im2col path, each on every SIMD path
SPECIAL = {
    "conv2-like": ((3, 13, 13, 32), (3, 3, 32, 64), (1, 1), NO_PAD, (1, 1), 1),
    "first-layer": ((4, 28, 28, 1), (3, 3, 1, 32), (1, 1), NO_PAD, (1, 1), 1),
    "one-channel-every-option": ((3, 11, 12, 1), (3, 2, 1, 64), (2, 1), ((1, 2), (0, 3)), (2, 3), 1),
    # KW = 5 without padding: the weight gradient's taps go 3 then 2 at a time (step 6)
    "one-channel-five-taps": ((2, 9, 10, 1), (2, 5, 1, 32), (1, 2), NO_PAD, (1, 1), 1),
    "pointwise": ((2, 9, 7, 12), (1, 1, 4, 6), (1, 1), NO_PAD, (1, 1), 3),
    "pointwise-strided": ((2, 9, 7, 12), (1, 1, 12, 6), (2, 3), NO_PAD, (1, 1), 1),
    "depthwise": ((3, 11, 10, 8), (3, 3, 1, 8), (2, 1), ((1, 1), (2, 0)), (1, 2), 8),
    "depthwise-multiplier": ((2, 8, 8, 4), (3, 3, 1, 8), (1, 1), ((1, 1), (1, 1)), (1, 1), 4),
    "image-split-into-chunks": ((2, 40, 36, 24), (3, 3, 24, 16), (1, 1), ((1, 1), (1, 1)), (1, 1), 1),
    "many-images-per-chunk": ((70, 5, 5, 16), (3, 3, 16, 8), (1, 1), NO_PAD, (1, 1), 1),
    "more-chunks-than-slices": ((64, 13, 13, 32), (3, 3, 32, 64), (1, 1), NO_PAD, (1, 1), 1),
    "implicit-gemm-strided-dilated": ((5, 12, 11, 6), (2, 3, 6, 16), (2, 3), NO_PAD, (2, 1), 1),
    "padded-edge-tiles": ((3, 7, 7, 5), (3, 3, 5, 21), (1, 1), ((0, 0), (0, 2)), (1, 1), 1),
    # the implicit GEMM (steps 8, 9 of csrc/conv.c): AVX2 tiles 6 pixels x 16 floats, AVX-512 12 x 32;
    # 75 pixels and 21 filters leave short tiles on every path; KW*C = 12 and F = 32 take the weight
    # gradient's implicit path on both
    "implicit-gemm-edge-tiles": ((3, 7, 7, 5), (3, 3, 5, 21), (1, 1), NO_PAD, (1, 1), 1),
    "implicit-gemm-whole-weight-tiles": ((4, 12, 11, 4), (2, 3, 4, 32), (2, 3), NO_PAD, (2, 1), 1),
    # the implicit input gradient (step 10): KW*C = 64 whole panels on both paths; 91 pixels an image, so
    # that a block (5 images: one; 8 images: two of 4, enough work for two threads) ends in a short tile
    # on both paths (6 and 12 pixels a tile)
    "implicit-input-gradient": ((5, 15, 14, 32), (2, 2, 32, 16), (2, 1), NO_PAD, (2, 1), 1),
    # fewer pixels (72) than one block of the implicit input gradient holds, but enough work for two
    # threads: still cut in two blocks
    "conv3-like": ((8, 5, 5, 64), (3, 3, 64, 64), (1, 1), NO_PAD, (1, 1), 1),
}


# Every rung: on these shapes the fast rung (None) takes its direct paths, im2col and naive do not. The
# chunking cases only test the im2col machinery, and are too big for the naive loops to be quick.
CHUNKING = {"image-split-into-chunks", "many-images-per-chunk", "more-chunks-than-slices"}


@pytest.mark.parametrize("name,rung", [(name, rung) for name in SPECIAL for rung in (None, "im2col", "naive")
                                       if not (rung == "naive" and name in CHUNKING)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fast_paths_chunking_and_fused_epilogue_on_every_simd_path(simd, name, dtype, rung):
    x_shape, k_shape, *args = SPECIAL[name]
    x = make_input(x_shape, dtype, "C", 3)
    kernel = make_input(k_shape, dtype, "C", 4)
    y = K.conv2d_forward(x, kernel, *args, rung=rung)
    tol = tolerance(dtype)
    np.testing.assert_allclose(y, R.conv2d_forward(x, kernel, *args), **tol)
    # step 11, the fused epilogue: bit-identical to the convolution followed by a separate
    # bias_relu_forward pass (the same float operations on the same numbers)
    bias = make_input((k_shape[3],), dtype, "C", 6)
    assert (y < 0).any() and (y > 0).any()  # relu has something to clip and something to keep
    for b, relu in [(bias, True), (bias, False), (None, True)]:
        fused = K.conv2d_forward(x, kernel, *args, rung=rung, bias=b, relu=relu)
        assert fused.tobytes() == K.bias_relu_forward(y, b, relu).tobytes(), (b is not None, relu)
        np.testing.assert_allclose(fused, R.conv2d_forward(x, kernel, *args, bias=b, relu=relu), **tol)
    dy = make_input(y.shape, dtype, "C", 5)
    np.testing.assert_allclose(K.conv2d_backward_input(dy, kernel, x_shape, *args, rung=rung),
                               R.conv2d_backward_input(dy, kernel, x_shape, *args), **tol)
    # the weight gradient sums N*OH*OW products: scale the tolerance with that
    n_terms = y.shape[0] * y.shape[1] * y.shape[2]
    np.testing.assert_allclose(K.conv2d_backward_weight(x, dy, k_shape, *args, rung=rung),
                               R.conv2d_backward_weight(x, dy, k_shape, *args),
                               rtol=tol["rtol"], atol=tol["atol"] * np.sqrt(n_terms))


def test_fused_bias_relu_is_bit_identical_for_one_and_two_threads(threads):
    x = make_input((16, 28, 28, 1), np.float32, "C", 24)  # the single-channel path, above the cut-off
    kernel = make_input((3, 3, 1, 32), np.float32, "C", 25)
    bias = make_input((32,), np.float32, "C", 26)
    results = []
    for n in (1, 2):
        threads(n)
        results.append(K.conv2d_forward(x, kernel, (1, 1), NO_PAD, (1, 1), 1, bias=bias, relu=True).tobytes())
    assert results[0] == results[1]


def test_fused_bias_converts_to_the_convolution_dtype_and_lets_nan_through():
    x = make_input((2, 6, 6, 3), np.float64, "C", 27)
    kernel = make_input((3, 3, 3, 4), np.float64, "C", 28)
    bias = np.array([0.5, -1e30, np.nan, 2.0], np.float64)
    y = K.conv2d_forward(x, kernel, (1, 1), NO_PAD, (1, 1), 1, bias=bias.astype(np.float32), relu=True)
    plain = K.conv2d_forward(x, kernel, (1, 1), NO_PAD, (1, 1), 1)
    assert y.dtype == np.float64
    np.testing.assert_array_equal(y, np.maximum(plain + bias.astype(np.float32).astype(np.float64), 0))
    assert np.isnan(y[..., 2]).all() and (y[..., 1] == 0).all()


@pytest.mark.parametrize("extra", [dict(bias=np.zeros(5, np.float32)), dict(bias=np.zeros((1, 6), np.float32)),
                                   dict(bias=np.zeros(6, np.int32)), dict(bias=[0.0] * 6), dict(bias="b"),
                                   dict(relu=1), dict(relu=None), dict(relu="yes"), dict(relu=np.array([True]))])
def test_bad_bias_or_relu_raises_a_clean_error(extra):
    assert_clean_error(K, "conv2d_forward", dict(GOOD["conv2d_forward"], **extra))


def test_float16_computes_in_float32():
    x = make_input((2, 6, 6, 3), np.float16, "C", 6)
    kernel = make_input((3, 3, 3, 4), np.float16, "C", 7)
    y = K.conv2d_forward(x, kernel, (1, 1), NO_PAD, (1, 1), 1)
    assert y.dtype == np.float32
    expected = K.conv2d_forward(x.astype(np.float32), kernel.astype(np.float32), (1, 1), NO_PAD, (1, 1), 1)
    np.testing.assert_array_equal(y, expected)
    # mixed float32 / float64 computes in float64
    assert K.conv2d_forward(x.astype(np.float32), kernel.astype(np.float64), (1, 1), NO_PAD, (1, 1), 1).dtype \
        == np.float64


def test_strides_larger_than_the_image_mean_one_window():
    x = make_input((2, 5, 7, 3), np.float64, "C", 8)
    kernel = make_input((2, 3, 3, 2), np.float64, "C", 9)
    padding = ((0, 1), (1, 0))
    for strides, dilation in [((10**30, 1), (1, 1)), ((1, 2**63), (1, 1)), ((5, 7), (1, 1)), ((1, 1), (3, 2))]:
        y = K.conv2d_forward(x, kernel, strides, padding, dilation, 1)
        np.testing.assert_allclose(y, loop_conv(x, kernel, strides, padding, dilation, 1), rtol=1e-12)
    k1 = make_input((1, 1, 3, 2), np.float64, "C", 10)  # one tap: any dilation is allowed
    np.testing.assert_allclose(K.conv2d_forward(x, k1, (1, 1), NO_PAD, (10**20, 10**20), 1),
                               loop_conv(x, k1, (1, 1), NO_PAD, (1, 1), 1), rtol=1e-12)


# ---- gradients: finite differences of the forward kernel, in float64 --------------------------------

@pytest.mark.parametrize("k_shape,strides,padding,dilation,groups", [
    ((3, 3, 4, 4), (1, 1), NO_PAD, (1, 1), 1),
    ((3, 2, 2, 6), (2, 1), ((1, 0), (2, 1)), (1, 2), 2),
    ((2, 2, 1, 4), (1, 2), ((1, 1), (1, 1)), (2, 1), 4),   # depthwise
    ((1, 1, 4, 3), (1, 1), NO_PAD, (1, 1), 1),              # pointwise
])
def test_gradients_match_finite_differences(k_shape, strides, padding, dilation, groups):
    x = make_input((2, 6, 5, 4), np.float64, "C", 11)
    kernel = make_input(k_shape, np.float64, "C", 12)
    args = (strides, padding, dilation, groups)
    y = K.conv2d_forward(x, kernel, *args)
    dy = make_input(y.shape, np.float64, "C", 13)
    # <conv(x, k), dy> is linear in x and in k: central differences with a step of 1 are exact up to
    # the rounding of the dot product, whatever order the BLAS sums in; the tolerance is that bound.
    f = lambda: np.vdot(K.conv2d_forward(x, kernel, *args), dy)  # noqa: E731
    fd_x, fd_k = numerical_gradient(f, x, 1.0), numerical_gradient(f, kernel, 1.0)
    y_abs = K.conv2d_forward(np.abs(x) + 1, np.abs(kernel) + 1, *args)  # |terms| of y at x +- 1, k +- 1
    atol = dot_rounding_bound(y_abs, dy, k_shape[0] * k_shape[1] * k_shape[2])
    np.testing.assert_allclose(K.conv2d_backward_input(dy, kernel, x.shape, *args), fd_x, rtol=0, atol=atol)
    np.testing.assert_allclose(K.conv2d_backward_weight(x, dy, k_shape, *args), fd_k, rtol=0, atol=atol)


# ---- threads: bit-identical results for any thread count ---------------------------------------------

@pytest.mark.parametrize("name", ["conv2-like", "first-layer", "one-channel-every-option", "depthwise", "pointwise",
                                  "image-split-into-chunks", "many-images-per-chunk", "more-chunks-than-slices",
                                  "implicit-gemm-strided-dilated", "implicit-gemm-edge-tiles",
                                  "implicit-gemm-whole-weight-tiles", "implicit-input-gradient", "conv3-like"])
def test_bit_identical_for_one_and_two_threads(threads, name):
    x_shape, k_shape, *args = SPECIAL[name]
    x_shape = (max(x_shape[0], 8),) + x_shape[1:]  # above the single-thread cut-off
    x = make_input(x_shape, np.float32, "C", 14)
    kernel = make_input(k_shape, np.float32, "C", 15)
    results = []
    for n in (1, 2):
        threads(n)
        y = K.conv2d_forward(x, kernel, *args)
        dy = make_input(y.shape, np.float32, "C", 16)
        results.append((y, K.conv2d_backward_input(dy, kernel, x_shape, *args),
                        K.conv2d_backward_weight(x, dy, k_shape, *args)))
    for one, two in zip(*results):
        assert one.tobytes() == two.tobytes()
    np.testing.assert_allclose(results[0][0], R.conv2d_forward(x, kernel, *args), rtol=2e-4, atol=2e-4)


# ---- bad input: a clean exception naming the kernel, never a crash ----------------------------------

X = np.zeros((2, 6, 6, 4), np.float32)
W = np.zeros((3, 3, 2, 6), np.float32)
DY = np.zeros((2, 4, 4, 6), np.float32)
ARGS = dict(strides=(1, 1), padding=NO_PAD, dilation=(1, 1), groups=2)
GOOD = {
    "conv2d_forward": dict(x=X, kernel=W, **ARGS),
    "conv2d_backward_input": dict(dy=DY, kernel=W, x_shape=X.shape, **ARGS),
    "conv2d_backward_weight": dict(x=X, dy=DY, kernel_shape=W.shape, **ARGS),
}
BAD_ARGS = {
    "x": [X[0], X[None], np.zeros((2, 0, 6, 4), np.float32), X.astype(np.int32), X.astype(np.complex64),
          X.tolist(), None, np.zeros((2, 2, 2, 4), np.float32), X[..., :3], np.zeros((2, 6, 6, 6), np.float32)],
    "kernel": [W[0], W[None], np.zeros((3, 3, 0, 6), np.float32), W.astype(np.int64), W.tolist(), None,
               np.zeros((3, 3, 4, 6), np.float32), np.zeros((3, 3, 2, 5), np.float32),
               np.zeros((7, 3, 2, 6), np.float32)],
    "dy": [DY[0], DY[:, :2], DY.astype(np.int64), DY.tolist(), None, np.zeros((3, 4, 4, 6), np.float32),
           np.zeros((2, 4, 4, 5), np.float32), np.zeros((2, 5, 4, 6), np.float32)],
    "x_shape": [(2, 6, 6), (2, 6, 6, 4, 1), (2, 0, 6, 4), (2, -6, 6, 4), "abcd", None, (2, 6, 6, 5), (3, 6, 6, 4),
                (2, 2, 6, 4)],
    "kernel_shape": [(3, 3, 2), (3, 3, 2, 6, 1), (3, 0, 2, 6), (3, 3, 4, 6), (3, 3, 2, 5), "abcd", None,
                     (2, 3, 2, 6), (3, 3, 2, -6)],
    "strides": [(0, 1), (1, 0), (-1, 1), 1, (1,), None, ("a", 1)],
    "padding": [((-1, 0), (0, 0)), (1, 1), 1, None, ((0, 0),), ((0, 0), (0, 2**62)), "same"],
    "dilation": [(0, 1), (1, -2), 2, None, (1, 1, 1), (3, 3)],
    "groups": [0, -1, 3, 4, 1.5, "2", None, True],
}


@pytest.mark.parametrize("kernel,arg,bad", list(bad_calls(GOOD, BAD_ARGS)))
def test_bad_input_raises_a_clean_error(kernel, arg, bad):
    assert_clean_error(K, kernel, dict(GOOD[kernel], **{arg: bad}))


@settings(max_examples=60)
@given(kernel=st.sampled_from(list(GOOD)), data=st.data())
def test_random_shapes_raise_or_match_the_reference(kernel, data):
    # whatever shapes are thrown at a binding, it either raises cleanly or agrees with the reference
    dims = st.integers(0, 5)
    args = dict(GOOD[kernel])
    for name in args:
        if name in ("x", "kernel", "dy"):
            args[name] = np.ones(data.draw(st.lists(dims, min_size=3, max_size=5)), np.float64)
        elif name in ("x_shape", "kernel_shape"):
            args[name] = tuple(data.draw(st.lists(st.integers(-1, 5), min_size=3, max_size=5)))
    args["groups"] = data.draw(st.integers(0, 3))
    args["strides"] = (data.draw(st.integers(0, 3)), data.draw(st.integers(0, 3)))
    try:
        expected = getattr(R, kernel)(**args)
    except Exception:
        expected = None
    try:
        got = getattr(K, kernel)(**args)
    except (ValueError, TypeError) as err:
        assert kernel in str(err)
        return
    assert expected is not None
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_bad_stride_message_says_stride():
    for kernel, good in GOOD.items():
        with pytest.raises(ValueError, match="stride"):
            getattr(K, kernel)(**dict(good, strides=(0, 1)))


def test_good_calls_pass():
    for kernel, args in GOOD.items():
        getattr(K, kernel)(**args)  # the fuzz above only means something if these work
