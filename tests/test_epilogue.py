"""The bias + relu epilogue kernels (nnx.kernels) against nnx.reference, hand-computed values, float64
sums and the ops that use them (F.conv2d, F.dense with activation='relu')."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nnx
import nnx.functional as F
import nnx.kernels as K
import nnx.reference as R
from nnx import backend
from nnx._C import _native
from nnx.testing import assert_kernel_matches_reference, gradcheck, with_layout, LAYOUTS

from fuzzing import assert_clean_error, bad_calls

pytestmark = pytest.mark.usefixtures("simd")  # every test on every SIMD path (tests/conftest.py)


def _normal(shape, dtype, seed):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


# ---- hand-computed values ---------------------------------------------------------------------------

def test_forward_by_hand():
    x = np.array([[1.0, -2.0, 0.5], [-1.0, 3.0, -0.25]], np.float32)
    b = np.array([0.5, 1.0, -1.0], np.float32)
    np.testing.assert_array_equal(K.bias_relu_forward(x, b, True), [[1.5, 0, 0], [0, 4, 0]])
    np.testing.assert_array_equal(K.bias_relu_forward(x, b, False), [[1.5, -1, -0.5], [-0.5, 4, -1.25]])
    np.testing.assert_array_equal(K.bias_relu_forward(x, None, True), [[1, 0, 0.5], [0, 3, 0]])
    np.testing.assert_array_equal(K.bias_relu_forward(x, None, False), x)


def test_backward_by_hand():
    y = np.array([[1.5, 0, 0], [0, 4, 0.5]], np.float64)
    dy = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    dx, db = K.bias_relu_backward(dy, y)
    np.testing.assert_array_equal(dx, [[1, 0, 0], [0, 5, 6]])
    np.testing.assert_array_equal(db, [1, 5, 6])
    dx, db = K.bias_relu_backward(dy, None)
    np.testing.assert_array_equal(dx, dy)
    np.testing.assert_array_equal(db, [5, 7, 9])


def test_nan_and_inf_behave_as_numpy():
    x = np.array([np.nan, -np.inf, np.inf, -0.0], np.float32)
    np.testing.assert_array_equal(K.bias_relu_forward(x, None, True), np.maximum(x, 0))
    dy = np.array([np.inf, np.nan, 1.0, np.inf], np.float32)
    y = np.array([0.0, 0.0, np.nan, 2.0], np.float32)
    with np.errstate(invalid="ignore"):
        want = dy * (y > 0)   # inf * 0 is NaN
    np.testing.assert_array_equal(K.bias_relu_backward(dy, y)[0], want)


# ---- against the reference, over shapes, dtypes, layouts --------------------------------------------

@settings(max_examples=40, deadline=None)
@given(shape=st.lists(st.integers(1, 9), min_size=1, max_size=4).map(tuple)
       | st.sampled_from([(600, 33), (3, 7, 11, 64), (1, 1)]),
       dtype=st.sampled_from([np.float32, np.float64, np.float16]), layout=st.sampled_from(LAYOUTS),
       with_bias=st.booleans(), relu=st.booleans(), seed=st.integers(0, 2**16))
def test_matches_reference(shape, dtype, layout, with_bias, relu, seed):
    x = with_layout(_normal(shape, dtype, seed), layout)
    bias = _normal(shape[-1:], dtype, seed + 1) if with_bias else None
    y = assert_kernel_matches_reference("bias_relu_forward", x, bias, relu)
    dy = with_layout(_normal(shape, dtype, seed + 2), layout)
    assert_kernel_matches_reference("bias_relu_backward", dy, y if relu else None)


@pytest.mark.parametrize("shape", [(0, 3), (2, 0), (0,), (3, 0, 4)])
def test_empty_arrays(shape):
    x = np.zeros(shape, np.float32)
    y = assert_kernel_matches_reference("bias_relu_forward", x, np.zeros(shape[-1:], np.float32), True)
    dx, db = assert_kernel_matches_reference("bias_relu_backward", x, y)
    assert dx.shape == shape and db.shape == shape[-1:] and not db.any()


def test_in_place_equals_a_new_array():
    x = _normal((4, 5, 6, 40), np.float32, 1)
    b = _normal((40,), np.float32, 2)
    want = K.bias_relu_forward(x, b, True)
    z = x.copy()
    assert K.bias_relu_forward(z, b, True, out=z) is z
    np.testing.assert_array_equal(z, want)


def test_mixed_dtypes_compute_in_the_data_dtype():
    x = _normal((5, 3), np.float32, 1)
    b = _normal((3,), np.float64, 2)
    y = K.bias_relu_forward(x, b, True, out=x.copy())   # as `y += b` on a float32 output
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y, np.maximum(x + b.astype(np.float32), 0))
    dx, db = K.bias_relu_backward(x.astype(np.float64), y)
    assert dx.dtype == db.dtype == np.float64


def test_bias_gradient_of_many_rows_is_close_to_a_float64_sum():
    dy = _normal((5000, 7), np.float32, 3) + 1.0   # many blocks; a biased sum shows rounding
    y = _normal((5000, 7), np.float32, 4)
    _, db = K.bias_relu_backward(dy, y)
    exact = (dy.astype(np.float64) * (y > 0)).sum(axis=0)
    # float32 sums of at most 256 + 20 terms: |error| <= 276 * 2**-24 * sum |terms|
    bound = 276 * 2.0**-24 * (np.abs(dy.astype(np.float64)) * (y > 0)).sum(axis=0)
    assert np.all(np.abs(db - exact) <= bound)


def test_bit_identical_for_one_and_two_threads():
    dy = _normal((32, 26, 26, 32), np.float32, 5)   # conv1 of the reference CNN, above the cut-off
    x = _normal(dy.shape, np.float32, 6)
    b = _normal((32,), np.float32, 7)
    before = _native.get_num_threads()
    results = []
    try:
        for threads in (1, 2):
            _native.set_num_threads(threads)
            y = K.bias_relu_forward(x, b, True)
            results.append((y, *K.bias_relu_backward(dy, y), K.bias_relu_backward(dy, None)[1]))
    finally:
        _native.set_num_threads(before)
    for one, two in zip(*results):
        assert one.tobytes() == two.tobytes()


# ---- the ops that use them ----------------------------------------------------------------------------

@pytest.mark.parametrize("op", ["conv2d", "dense"])
def test_fused_relu_ops_pass_gradcheck(op):
    rng = np.random.default_rng(8)
    if op == "conv2d":
        x, w = rng.standard_normal((2, 5, 5, 3)), rng.standard_normal((3, 3, 3, 4))
        fn = lambda x, w, b: F.conv2d(x, w, b, padding="same", activation="relu")  # noqa: E731
    else:
        x, w = rng.standard_normal((2, 3, 6)), rng.standard_normal((6, 4))
        fn = lambda x, w, b: F.dense(x, w, b, activation="relu")  # noqa: E731
    b = rng.standard_normal(4) * 0.1
    inputs = [nnx.Tensor(a, requires_grad=True) for a in (x, w, b)]
    assert gradcheck(fn, inputs)


def test_shadow_backend_runs_the_in_place_epilogue():
    # the shadow backend must give the reference the input as it was, not as native overwrote it
    x, w = _normal((2, 6, 6, 3), np.float32, 9), _normal((3, 3, 3, 8), np.float32, 10)
    b = nnx.Tensor(_normal((8,), np.float32, 11), requires_grad=True)
    with nnx.use_backend("shadow"):
        y = F.conv2d(nnx.Tensor(x), nnx.Tensor(w), b, activation="relu")
        y.sum().backward()
    with nnx.use_backend("reference"):
        want = R.bias_relu_forward(R.conv2d_forward(x, w, (1, 1), ((0, 0), (0, 0)), (1, 1), 1),
                                   b.numpy(), True)
    np.testing.assert_allclose(y.numpy(), want, rtol=1e-5, atol=1e-5)
    assert b.grad is not None


# ---- bad input: a clean exception naming the kernel, never a crash ----------------------------------

X = np.zeros((2, 3, 4), np.float32)
GOOD = {
    "bias_relu_forward": dict(x=X, bias=np.zeros(4, np.float32), relu=True, out=X.copy()),
    "bias_relu_backward": dict(dy=X, y=X),
}
BAD_ARGS = {
    "x": [np.float32(1.0), X.astype(np.int32), X.astype(np.complex64), X.tolist(), None, X[..., :3]],
    "bias": [np.zeros(3, np.float32), np.zeros((1, 4), np.float32), np.zeros(4, np.int64), [0.0] * 4],
    "relu": ["yes", 1, None],
    "out": [X[0], X.astype(np.int32), X.astype(np.complex64), X.tolist(), np.zeros((2, 3, 4), np.float32)
            .reshape(-1), np.broadcast_to(np.float32(0), (2, 3, 4))],
    "dy": [np.float32(1.0), X.astype(np.int32), X[:1], X.tolist(), None],
    "y": [X[:1], X.astype(bool), X.tolist(), X[..., None]],
}


@pytest.mark.parametrize("kernel,arg,bad", list(bad_calls(GOOD, BAD_ARGS)))
@pytest.mark.parametrize("kernels", [K, R], ids=["native", "reference"])
def test_bad_input_raises_a_clean_error(kernels, kernel, arg, bad):
    assert_clean_error(kernels, kernel, dict(GOOD[kernel], **{arg: bad}))


@pytest.mark.parametrize("kind", ["fortran", "reversed", "float64", "float16", "overlapping"])
def test_out_of_any_layout_and_float_dtype(kind):
    buf = _normal((10,), np.float32, 12)
    x = buf[:8].reshape(2, 4)
    b = _normal((4,), np.float32, 13)
    want = R.bias_relu_forward(x, b, True).astype(np.float64)
    out = {"fortran": np.zeros((2, 4), np.float32, order="F"), "reversed": np.zeros((2, 4), np.float32)[::-1],
           "float64": np.zeros((2, 4)), "float16": np.zeros((2, 4), np.float16),
           "overlapping": buf[2:].reshape(2, 4)}[kind]   # overlaps x two elements on
    assert K.bias_relu_forward(x, b, True, out=out) is out
    np.testing.assert_allclose(out, want, rtol=1e-3 if kind == "float16" else 0)


def test_good_calls_pass():
    for kernel, args in GOOD.items():
        getattr(K, kernel)(**args)  # the fuzz above only means something if these work
        getattr(R, kernel)(**args)


def test_registered_for_every_backend():
    for name in ("bias_relu_forward", "bias_relu_backward"):
        assert name in backend.KERNEL_NAMES
