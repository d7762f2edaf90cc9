"""The resampling kernel (nnx.kernels.affine_transform) against nnx.reference, a per-pixel loop written
from TensorFlow's ImageProjectiveTransformV3 definition (tensorflow/core/kernels/image/image_ops.h, the op
Keras 3's affine_transform uses), and hand-computed images."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nnx
import nnx.kernels as K
import nnx.reference as R
from nnx import backend
from nnx._C import _native

from fuzzing import assert_clean_error, bad_calls
from test_pool import make_input  # random data in C, Fortran, sliced and NCHW-view layouts

FILL_MODES = ("reflect", "wrap", "constant", "nearest")
INTERPOLATIONS = ("nearest", "bilinear")


# ---- the definition, one pixel at a time ------------------------------------------------------------

def loop_map(v, length, mode):
    """TF's MapCoordinate, scalar by scalar."""
    if mode == "constant":
        return v
    if mode in ("reflect", "wrap") and length <= 1:
        return 0.0
    if mode == "reflect":
        if v < 0:
            v = 2 * length * int(-v / (2 * length)) + v
            v = v + 2 * length if v < -length else -v - 1
        elif v > length - 1:
            v -= 2 * length * int(v / (2 * length))
            if v >= length:
                v = 2 * length - v - 1
    elif mode == "wrap":
        if v < 0:
            v += length * (int(-v / (length - 1)) + 1)
        elif v > length - 1:
            v -= length * int(v / (length - 1))
    return min(max(v, 0.0), length - 1.0)


def round_half_away(v):
    """C's round() for v >= 0, exactly: floor(v + 0.5) is not (0.49999999999999994 + 0.5 rounds to 1.0)."""
    down = math.floor(v)
    return down + 1 if v - down >= 0.5 else down


def loop_transform(x, t, interpolation, fill_mode, fill_value, out_hw=None):
    n, h, w, c = x.shape
    oh, ow = out_hw or (h, w)
    t = np.broadcast_to(np.asarray(t, np.float64).reshape(-1, 8), (n, 8))
    y = np.empty((n, oh, ow, c), np.float64)

    def read(i, r, q, ch):
        return float(x[i, r, q, ch]) if 0 <= r < h and 0 <= q < w else fill_value

    for i, oy, ox, ch in np.ndindex(n, oh, ow, c):
        a0, a1, a2, b0, b1, b2, c0, c1 = t[i]
        k = c0 * ox + c1 * oy + 1.0
        if k == 0:
            y[i, oy, ox, ch] = fill_value
            continue
        xi = loop_map((a0 * ox + a1 * oy + a2) / k, w, fill_mode)
        yi = loop_map((b0 * ox + b1 * oy + b2) / k, h, fill_mode)
        if not (0 <= xi <= w - 1 and 0 <= yi <= h - 1):
            y[i, oy, ox, ch] = fill_value
        elif interpolation == "nearest":
            y[i, oy, ox, ch] = read(i, round_half_away(yi), round_half_away(xi), ch)
        else:
            x0, y0 = math.floor(xi), math.floor(yi)
            top = (x0 + 1 - xi) * read(i, y0, x0, ch) + (xi - x0) * read(i, y0, x0 + 1, ch)
            bottom = (x0 + 1 - xi) * read(i, y0 + 1, x0, ch) + (xi - x0) * read(i, y0 + 1, x0 + 1, ch)
            y[i, oy, ox, ch] = (y0 + 1 - yi) * top + (yi - y0) * bottom
    return y


# ---- strategies -------------------------------------------------------------------------------------

@st.composite
def transforms(draw, n):
    """Rotations, zooms, shears, translations (well outside the image too) and mild perspective."""
    rows = []
    for _ in range(draw(st.sampled_from([1, n]))):
        angle = draw(st.floats(-math.pi, math.pi))
        scale = draw(st.floats(0.3, 3.0))
        shear = draw(st.floats(-0.5, 0.5))
        tx, ty = draw(st.floats(-20, 20)), draw(st.floats(-20, 20))
        c0, c1 = draw(st.sampled_from([(0.0, 0.0), (0.03, -0.02), (-0.05, 0.04)]))
        ca, sa = math.cos(angle), math.sin(angle)
        rows.append([scale * ca, scale * (-sa + shear), tx, scale * sa, scale * ca, ty, c0, c1])
    return np.array(rows)


# ---- kernel vs reference vs the loop ------------------------------------------------------------------

@settings(max_examples=40, deadline=None)
@given(data=st.data(), n=st.integers(1, 3), h=st.integers(1, 8), w=st.integers(1, 8), c=st.integers(1, 4),
       dtype=st.sampled_from([np.float32, np.float64]), layout=st.sampled_from(["C", "F", "sliced", "nchw"]),
       interpolation=st.sampled_from(INTERPOLATIONS), fill_mode=st.sampled_from(FILL_MODES),
       fill_value=st.sampled_from([0.0, -1.5]), seed=st.integers(0, 2**16))
def test_kernel_matches_reference_and_the_loop(data, n, h, w, c, dtype, layout, interpolation, fill_mode,
                                               fill_value, seed):
    x = make_input((n, h, w, c), dtype, layout, seed)
    t = data.draw(transforms(n))
    out_hw = data.draw(st.sampled_from([None, (h + 2, max(1, w - 1))]))
    got = K.affine_transform(x, t, interpolation, fill_mode, fill_value, output_shape=out_hw)
    ref = R.affine_transform(x, t, interpolation, fill_mode, fill_value, output_shape=out_hw)
    loop = loop_transform(x, t, interpolation, fill_mode, fill_value, out_hw)
    assert got.dtype == ref.dtype == dtype and got.shape == ref.shape == loop.shape
    eps = np.finfo(dtype).eps
    # All three compute in float64 from the same formulas; the stored value rounds once to dtype.
    np.testing.assert_allclose(got, ref, rtol=4 * eps, atol=4 * eps)
    np.testing.assert_allclose(got, loop, rtol=4 * eps, atol=4 * eps)


def test_nearest_rounds_the_largest_double_below_a_half_down():
    """A shift of 0.49999999999999994 (a hypothesis find) samples pixel 0, not 1: nearest rounds the
    coordinate itself, and floor(v + 0.5) would round the sum up to 1.0 first."""
    x = np.array([1.0, 2.0], np.float64).reshape(1, 1, 2, 1)
    shift = np.nextafter(0.5, 0.0)
    t = np.array([1, 0, shift, 0, 1, 0, 0, 0], np.float64)
    for images in (x, x.astype(np.float32)):
        for impl in (K.affine_transform, R.affine_transform):
            np.testing.assert_array_equal(impl(images, t, "nearest", "nearest"), x)


def test_identity_and_output_shape():
    x = make_input((2, 5, 4, 3), np.float32, "C", 0)
    eye = np.array([1, 0, 0, 0, 1, 0, 0, 0], np.float32)
    for interpolation in INTERPOLATIONS:
        for fill_mode in FILL_MODES:
            np.testing.assert_array_equal(K.affine_transform(x, eye, interpolation, fill_mode), x)
    assert K.affine_transform(x, eye, output_shape=(2, 7)).shape == (2, 2, 7, 3)
    np.testing.assert_array_equal(K.affine_transform(x, eye, output_shape=(2, 7))[:, :, 4:], 0)


def test_rotation_by_90_degrees_is_rot90():
    """Keras' rotation matrix for 90 degrees about the centre c = (size-1)/2 of a square image maps
    output (x, y) to input (2c - y, x): np.rot90 (counter-clockwise), with no fill needed."""
    x = make_input((2, 6, 6, 2), np.float64, "C", 1)
    c = 2.5
    t = np.array([0, -1, 2 * c, 1, 0, 0, 0, 0])
    for interpolation in INTERPOLATIONS:
        got = K.affine_transform(x, t, interpolation, "constant")
        np.testing.assert_array_equal(got, np.rot90(x, axes=(1, 2)))


ROW = np.array([1.0, 2.0, 3.0, 4.0])          # "a b c d"


@pytest.mark.parametrize("fill_mode,expected", [
    ("reflect", [3, 2, 1, 1, 2, 3, 4, 4, 3, 2]),     # (d c b a | a b c d | d c b a), 3 pixels each side
    ("nearest", [1, 1, 1, 1, 2, 3, 4, 4, 4, 4]),
    ("constant", [9, 9, 9, 1, 2, 3, 4, 9, 9, 9]),
])
def test_fill_modes_extend_a_row_as_documented(fill_mode, expected):
    """Translate a 1x4 image by -3 into a 1x10 output: pixels -3..6 of the extended row."""
    x = ROW.reshape(1, 1, 4, 1)
    t = np.array([1, 0, -3, 0, 1, 0, 0, 0])
    got = K.affine_transform(x, t, "nearest", fill_mode, 9.0, output_shape=(1, 10))
    np.testing.assert_array_equal(got.ravel(), expected)


def test_wrap_shifts_whole_pixels_around():
    x = make_input((1, 5, 6, 2), np.float32, "C", 2)
    t = np.array([1, 0, 2, 0, 1, -1, 0, 0])           # output (x, y) reads input (x + 2, y - 1)
    got = K.affine_transform(x, t, "bilinear", "wrap")
    np.testing.assert_array_equal(got[:, 1:, :4], x[:, :-1, 2:])
    np.testing.assert_array_equal(got[:, 1:, 4:], x[:, :-1, :2])   # wrapped around the right edge


def test_whole_pixel_translation_is_a_shift_with_the_fill():
    x = make_input((3, 6, 5, 2), np.float32, "C", 3)
    t = np.array([1, 0, -2, 0, 1, 1, 0, 0])           # image moves right by 2 and up by 1
    got = K.affine_transform(x, t, "bilinear", "constant", 0.25)
    want = np.full_like(x, 0.25)
    want[:, :-1, 2:] = x[:, 1:, :-2]
    np.testing.assert_array_equal(got, want)


def test_bilinear_halfway_is_the_mean():
    x = np.array([[0.0, 2.0], [4.0, 8.0]]).reshape(1, 2, 2, 1)
    t = np.array([0, 0, 0.5, 0, 0, 0.5, 0, 0])         # every output pixel reads the centre (0.5, 0.5)
    np.testing.assert_allclose(K.affine_transform(x, t), np.full((1, 2, 2, 1), 3.5))


def test_zero_projection_gives_the_fill_value():
    x = np.ones((1, 3, 3, 1))
    t = np.array([1, 0, 0, 0, 1, 0, -1.0, 0])          # k = 1 - x vanishes on column 1
    got = K.affine_transform(x, t, "nearest", "nearest", 7.0)
    assert (got[0, :, 1, 0] == 7).all()
    np.testing.assert_array_equal(got, R.affine_transform(x, t, "nearest", "nearest", 7.0))


def test_float16_computes_in_float32():
    x = make_input((1, 4, 4, 1), np.float16, "C", 4)
    t = np.array([0.9, 0.1, 0.3, -0.1, 1.1, 0.2, 0, 0])
    got = K.affine_transform(x, t)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, K.affine_transform(x.astype(np.float32), t))


def test_shadow_backend_covers_the_kernel():
    x = make_input((2, 7, 7, 3), np.float32, "C", 5)
    t = np.array([0.8, 0.3, 1.0, -0.2, 1.2, -0.5, 0.01, 0])
    with nnx.use_backend("shadow"):
        got = backend.kernels().affine_transform(x, t, "bilinear", "reflect", 0.0)
    np.testing.assert_array_equal(got, K.affine_transform(x, t, "bilinear", "reflect", 0.0))
    with nnx.use_backend("reference"):
        assert backend.kernels().affine_transform is R.affine_transform


# ---- threads ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("interpolation", INTERPOLATIONS)
def test_bit_identical_for_one_and_two_threads(interpolation):
    x = make_input((8, 40, 40, 3), np.float32, "C", 6)   # above the single-thread cut-off
    rng = np.random.default_rng(7)
    t = np.array([[math.cos(a), -math.sin(a), 5, math.sin(a), math.cos(a), -3, 0, 0]
                  for a in rng.uniform(-1, 1, 8)])
    before = _native.get_num_threads()
    try:
        results = []
        for threads in (1, 2):
            _native.set_num_threads(threads)
            results.append(K.affine_transform(x, t, interpolation, "reflect"))
    finally:
        _native.set_num_threads(before)
    assert results[0].tobytes() == results[1].tobytes()


# ---- bad input: a clean exception naming the kernel, never a crash ------------------------------------

X = np.zeros((2, 5, 5, 3), np.float32)
T = np.tile(np.array([1, 0, 0, 0, 1, 0, 0, 0], np.float32), (2, 1))
GOOD = {"affine_transform": dict(images=X, transforms=T, interpolation="bilinear", fill_mode="reflect",
                                 fill_value=0.0, output_shape=None)}
BAD_ARGS = {
    "images": [X[0], X[None], np.zeros((2, 0, 5, 3), np.float32), X.astype(np.int32), X.tolist(), None,
               X.astype(np.complex64)],
    "transforms": [T[:, :6], np.zeros((3, 8)), np.zeros((2, 2, 8)), T.tolist(), None,
                   np.full((2, 8), np.nan), np.full((2, 8), np.inf), T.astype(np.complex64), T.astype(str)],
    "interpolation": ["bicubic", None, 1],
    "fill_mode": ["mirror", None, "Reflect"],
    "fill_value": [np.nan, np.inf, "0", None, [0.0]],
    "output_shape": [(0, 3), (3,), 3, ("a", 3), (3, -1)],
}


@pytest.mark.parametrize("kernel,arg,bad", list(bad_calls(GOOD, BAD_ARGS)))
def test_bad_input_raises_a_clean_error(kernel, arg, bad):
    assert_clean_error(K, kernel, dict(GOOD[kernel], **{arg: bad}))


def test_good_call_passes_and_accepts_one_shared_transform():
    np.testing.assert_array_equal(K.affine_transform(**GOOD["affine_transform"]), X)
    np.testing.assert_array_equal(K.affine_transform(X, T[0]), K.affine_transform(X, T[:1]))
