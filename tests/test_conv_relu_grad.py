"""The weight gradient with the relu mask and the bias gradient fused in (conv2d_backward_weight's
relu_output= and bias=; csrc/conv.c step 12) against the unfused passes (bias_relu_backward, then the
weight gradient: the same numbers bit for bit), the NumPy reference, float64 sums and finite
differences, on every path, rung and SIMD path."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nnx
import nnx.functional as F
import nnx.kernels as K
import nnx.reference as R
from nnx.testing import gradcheck

from fuzzing import assert_clean_error
from test_conv import conv_cases, make_input, tolerance

NO_PAD = ((0, 0), (0, 0))

pytestmark = pytest.mark.usefixtures("simd")  # every test on every SIMD path (tests/conftest.py)

# One geometry per path of the fast rung (csrc/conv_impl.h); the im2col and naive rungs run them all.
CASES = {
    # step 6: one input channel, F a multiple of 32 floats (conv1 of the reference CNN, smaller batch)
    "single-channel": ((4, 28, 28, 1), (3, 3, 1, 32), (1, 1), NO_PAD, (1, 1), 1),
    # several slices of images, whose ends fall inside db's blocks of 256 rows
    "single-channel-slices": ((24, 28, 28, 1), (3, 3, 1, 32), (1, 1), NO_PAD, (1, 1), 1),
    "single-channel-every-option": ((3, 11, 12, 1), (3, 2, 1, 64), (2, 1), ((1, 2), (0, 3)), (2, 3), 1),
    # step 9: KW*C = 12 and F a multiple of the tile's filters on AVX2 and AVX-512; with 49 pixels an
    # image each tile sums image by image (the accumulating calls), 392 rows make two blocks of db, and
    # F = 64 gives db two panels
    "implicit-two-panels": ((8, 9, 9, 4), (3, 3, 4, 64), (1, 1), NO_PAD, (1, 1), 1),
    "implicit-strided-dilated": ((4, 12, 11, 4), (2, 3, 4, 32), (2, 3), NO_PAD, (2, 1), 1),
    # step 9 in 3 slices of images (9 MFLOP): the slices end at rows 637 and 1274, inside db's blocks
    "implicit-slices": ((40, 9, 9, 4), (3, 3, 4, 64), (1, 1), NO_PAD, (1, 1), 1),
    # step 5
    "depthwise": ((3, 11, 10, 8), (3, 3, 1, 8), (2, 1), ((1, 1), (2, 0)), (1, 2), 8),
    # steps 1-4: im2col, grouped and padded; pointwise; an image cut into several chunks
    "im2col-grouped": ((2, 7, 8, 6), (3, 2, 3, 4), (1, 2), ((1, 0), (0, 1)), (1, 2), 2),
    "pointwise-grouped": ((2, 9, 7, 12), (1, 1, 4, 6), (1, 1), NO_PAD, (1, 1), 3),
    "image-split-into-chunks": ((2, 40, 36, 24), (3, 3, 24, 16), (1, 1), ((1, 1), (1, 1)), (1, 1), 1),
}
TOO_BIG_FOR_NAIVE = {"image-split-into-chunks", "single-channel-slices"}


def _relu_case(name, dtype, seed=0):
    """x, dy and the relu output y of the forward pass for CASES[name] (about half of y is 0)."""
    x_shape, k_shape, *args = CASES[name]
    x = make_input(x_shape, dtype, "C", seed)
    kernel = make_input(k_shape, dtype, "C", seed + 1)
    y = K.conv2d_forward(x, kernel, *args, relu=True)
    dy = make_input(y.shape, dtype, "C", seed + 2)
    return x, dy, y, k_shape, args


def _unfused(x, dy, y, k_shape, args, rung=None):
    """The passes step 12 replaces: mask dy and sum db (bias_relu_backward), then the weight gradient."""
    masked, db = K.bias_relu_backward(dy, y)
    return K.conv2d_backward_weight(x, masked, k_shape, *args, rung=rung), db


def _assert_bias_gradient_close(db, dy, y):
    """db against a float64 sum of the masked dy: the rounding of a sum of that many terms, any order
    (an independent check: bias_relu_backward sums in the same order)."""
    terms = dy.astype(np.float64) * (y > 0)
    rows = terms.size // terms.shape[-1]
    bound = (rows + 1) * np.finfo(dy.dtype).eps / 2 * np.abs(terms).sum(axis=(0, 1, 2))
    assert np.all(np.abs(db - terms.sum(axis=(0, 1, 2))) <= bound)


# ---- the same numbers as the unfused passes, on every path and rung ------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", list(CASES))
def test_fused_weight_gradient_is_bit_identical_to_the_unfused_passes(name, dtype):
    x, dy, y, k_shape, args = _relu_case(name, dtype)
    assert 0.3 < (y > 0).mean() < 0.7   # the mask matters
    dk_ref, db_ref = R.conv2d_backward_weight(x, dy, k_shape, *args, relu_output=y, bias=True)
    rungs = [r for r in K.CONV_RUNGS if not (r == "naive" and name in TOO_BIG_FOR_NAIVE)]
    for rung in rungs:
        dk_unfused, db_unfused = _unfused(x, dy, y, k_shape, args, rung)
        dk, db = K.conv2d_backward_weight(x, dy, k_shape, *args, rung=rung, relu_output=y, bias=True)
        assert dk.dtype == db.dtype == dtype and dk.shape == k_shape and db.shape == k_shape[3:], rung
        # the same masked numbers summed in the same order: dW and db bit for bit
        np.testing.assert_array_equal(dk, dk_unfused, err_msg=rung)
        np.testing.assert_array_equal(db, db_unfused, err_msg=rung)
        np.testing.assert_array_equal(K.conv2d_backward_weight(x, dy, k_shape, *args, rung=rung, relu_output=y),
                                      dk_unfused, err_msg=rung)
        _assert_bias_gradient_close(db, dy, y)
        np.testing.assert_allclose(dk, dk_ref, **tolerance(dtype), err_msg=rung)
        np.testing.assert_allclose(db, db_ref, **tolerance(dtype), err_msg=rung)


@pytest.mark.parametrize("name", ["single-channel", "implicit-two-panels", "depthwise", "im2col-grouped"])
def test_bias_without_relu_sums_dy(name):
    x, dy, _, k_shape, args = _relu_case(name, np.float32)
    for rung in K.CONV_RUNGS:
        dk, db = K.conv2d_backward_weight(x, dy, k_shape, *args, rung=rung, bias=True)
        np.testing.assert_array_equal(dk, K.conv2d_backward_weight(x, dy, k_shape, *args, rung=rung))
        np.testing.assert_array_equal(db, K.bias_relu_backward(dy, None)[1])
        _assert_bias_gradient_close(db, dy, np.ones_like(dy))


def test_by_hand():
    # a 1x1 kernel on one 2x2 image with one channel: dW = sum of x * masked dy, db = sum of masked dy
    x = np.array([1.0, 2.0, 3.0, 4.0]).reshape(1, 2, 2, 1)
    dy = np.array([10.0, 20.0, 30.0, 40.0]).reshape(1, 2, 2, 1)
    y = np.array([0.5, 0.0, 2.0, -0.0]).reshape(1, 2, 2, 1)
    for kernels in (K, R):
        dk, db = kernels.conv2d_backward_weight(x, dy, (1, 1, 1, 1), (1, 1), NO_PAD, (1, 1), 1, relu_output=y,
                                                bias=True)
        np.testing.assert_array_equal(dk.ravel(), [1 * 10 + 3 * 30])
        np.testing.assert_array_equal(db, [10 + 30])


# ---- hypothesis: any geometry, NaN and inf in y and dy ---------------------------------------------------

@settings(max_examples=40)
@given(case=conv_cases(), dtype=st.sampled_from([np.float32, np.float64]), bias=st.booleans(),
       specials=st.lists(st.tuples(st.sampled_from(["y", "dy"]), st.floats(0, 1),
                                   st.sampled_from([np.nan, np.inf, -np.inf])), max_size=3),
       seed=st.integers(0, 2**16))
def test_any_geometry_matches_the_unfused_passes_and_the_reference(case, dtype, bias, specials, seed):
    x_shape, k_shape, strides, padding, dilation, groups = case
    args = (strides, padding, dilation, groups)
    x = make_input(x_shape, dtype, "C", seed)
    y = np.maximum(R.conv2d_forward(x, make_input(k_shape, dtype, "C", seed + 1), *args), 0)
    dy = make_input(y.shape, dtype, "sliced", seed + 2)
    for which, at, value in specials:   # NaN and inf in y or dy spread (or not) as dy * (y > 0) does
        a = y if which == "y" else dy
        a[np.unravel_index(int(at * (a.size - 1)), a.shape)] = value
    with np.errstate(invalid="ignore"):
        dk_ref, db_ref = R.conv2d_backward_weight(x, dy, k_shape, *args, relu_output=y, bias=True)
    for rung in K.CONV_RUNGS:
        dk_unfused, db_unfused = _unfused(x, dy, y, k_shape, args, rung)
        got = K.conv2d_backward_weight(x, dy, k_shape, *args, rung=rung, relu_output=y, bias=bias)
        dk, db = got if bias else (got, None)
        np.testing.assert_array_equal(dk, dk_unfused, err_msg=rung)   # NaN where the unfused has NaN
        if np.isfinite(dy).all():   # else padding's 0 * inf is NaN on some paths, skipped taps on others
            np.testing.assert_allclose(dk, dk_ref, **tolerance(dtype), err_msg=rung)
        if bias:
            np.testing.assert_array_equal(db, db_unfused, err_msg=rung)
            np.testing.assert_allclose(db, db_ref, **tolerance(dtype), equal_nan=True, err_msg=rung)


# ---- finite differences: the fused op's gradients in float64 ---------------------------------------------

@pytest.mark.parametrize("name", ["single-channel-every-option", "implicit-strided-dilated", "depthwise",
                                  "im2col-grouped"])
def test_first_layer_gradients_match_finite_differences(name):
    # the input needs no gradient, so conv2d's backward takes the fused kernel (checked below)
    x_shape, k_shape, strides, padding, dilation, groups = CASES[name]
    rng = np.random.default_rng(21)
    x = nnx.Tensor(rng.standard_normal((2,) + x_shape[1:]))
    kernel = nnx.Tensor(rng.standard_normal(k_shape) * 0.5, requires_grad=True)
    bias = nnx.Tensor(rng.standard_normal(k_shape[3]) * 0.1, requires_grad=True)
    fn = lambda k, b: F.conv2d(x, k, b, strides, padding, dilation, groups, activation="relu")  # noqa: E731
    assert gradcheck(fn, [kernel, bias])


def test_conv2d_skips_the_separate_mask_pass_when_the_input_needs_no_gradient(monkeypatch):
    x = nnx.Tensor(make_input((2, 8, 8, 1), np.float32, "C", 22))
    kernel = nnx.Tensor(make_input((3, 3, 1, 32), np.float32, "C", 23), requires_grad=True)
    bias = nnx.Tensor(make_input((32,), np.float32, "C", 24), requires_grad=True)
    want_k = want_b = None
    for fused in (False, True):
        if fused:
            monkeypatch.setattr(K, "bias_relu_backward", lambda *a: pytest.fail("unfused pass ran"))
        kernel.grad = bias.grad = None
        F.conv2d(x, kernel, bias, activation="relu").sum().backward()
        if not fused:
            want_k, want_b = kernel.grad.copy(), bias.grad.copy()
    np.testing.assert_array_equal(kernel.grad, want_k)
    np.testing.assert_array_equal(bias.grad, want_b)


# ---- layers: a first Conv2D(activation='relu') learns the same on every backend --------------------------

@pytest.mark.parametrize("c, filters", [(1, 32), (3, 8)])
def test_first_layer_gradients_match_the_reference_backend(c, filters):
    rng = np.random.default_rng(25)
    x = rng.standard_normal((4, 10, 10, c)).astype(np.float32)
    layer = nnx.layers.Conv2D(filters, 3, activation="relu")
    layer.build(x.shape)
    grads = {}
    for backend in ("native", "reference", "shadow"):   # shadow: native checked against reference per call
        with nnx.use_backend(backend):
            for w in layer.weights:
                w.grad = None
            (layer(nnx.Tensor(x)) ** 2).sum().backward()
            grads[backend] = [w.grad.copy() for w in layer.weights]
    assert len(grads["native"]) == 2
    for got, want in zip(grads["native"], grads["reference"]):
        np.testing.assert_allclose(got, want, rtol=2e-4, atol=2e-4 * np.abs(want).max())


# ---- threads: bit-identical for any thread count ----------------------------------------------------------

@pytest.mark.parametrize("name", ["single-channel", "implicit-two-panels", "implicit-slices", "depthwise",
                                  "image-split-into-chunks"])
def test_bit_identical_for_one_and_two_threads_and_to_the_unfused_passes(name):
    x, dy, y, k_shape, args = _relu_case(name, np.float32)
    x, dy, y = (np.concatenate([a] * 4) for a in (x, dy, y))   # above the single-thread cut-off
    before = K.get_num_threads()
    results = []
    try:
        for threads in (1, 2):
            K.set_num_threads(threads)
            results.append(K.conv2d_backward_weight(x, dy, k_shape, *args, relu_output=y, bias=True))
    finally:
        K.set_num_threads(before)
    for one, two in zip(*results):
        assert one.tobytes() == two.tobytes()
    for fused, unfused in zip(results[0], _unfused(x, dy, y, k_shape, args)):
        assert fused.tobytes() == unfused.tobytes()


# ---- bad input: a clean exception naming the kernel, never a crash ---------------------------------------

X = np.zeros((2, 6, 6, 4), np.float32)
DY = np.zeros((2, 4, 4, 6), np.float32)
GOOD = dict(x=X, dy=DY, kernel_shape=(3, 3, 2, 6), strides=(1, 1), padding=NO_PAD, dilation=(1, 1), groups=2,
            relu_output=DY, bias=True)


@pytest.mark.parametrize("arg, bad", [
    ("relu_output", DY[:1]), ("relu_output", DY[..., :5]), ("relu_output", DY[None]),
    ("relu_output", DY.astype(np.int32)), ("relu_output", DY.astype(bool)), ("relu_output", DY.tolist()),
    ("bias", "yes"), ("bias", 1), ("bias", None), ("bias", np.zeros(6, np.float32)),
])
@pytest.mark.parametrize("kernels", [K, R], ids=["native", "reference"])
def test_bad_input_raises_a_clean_error(kernels, arg, bad):
    assert_clean_error(kernels, "conv2d_backward_weight", dict(GOOD, **{arg: bad}))


def test_good_call_passes():
    for kernels in (K, R):
        dk, db = kernels.conv2d_backward_weight(**GOOD)   # the cases above only mean something if this works
        assert dk.shape == (3, 3, 2, 6) and db.shape == (6,)
