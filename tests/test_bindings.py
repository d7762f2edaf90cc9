"""Arguments every binding shares: sizes, strides and paddings are integers (never truncated) that fit the
C code's signed 64-bit indexing, and arrays reach C contiguous and aligned."""
import numpy as np
import pytest

import nnx.kernels as K
import nnx.reference as R
from nnx._C import _native

from fuzzing import assert_runs_or_clean_error, huge_calls

X = np.zeros((1, 6, 6, 2), np.float32)
W = np.zeros((3, 3, 2, 4), np.float32)
ONE, NOPAD = (1, 1), ((0, 0), (0, 0))

CALLS = {
    "conv2d_forward strides": lambda v: K.conv2d_forward(X, W, v, NOPAD, ONE, 1),
    "conv2d_forward dilation": lambda v: K.conv2d_forward(X, W, ONE, NOPAD, v, 1),
    "conv2d_backward_weight kernel_shape": lambda v: K.conv2d_backward_weight(
        X, np.zeros((1, 4, 4, 4), np.float32), (3, 3, 2 * v[0], 4 * v[1]), ONE, NOPAD, ONE, 1),
    "max_pool2d_forward pool_size": lambda v: K.max_pool2d_forward(X, v, ONE, NOPAD),
    "avg_pool2d_forward strides": lambda v: K.avg_pool2d_forward(X, (2, 2), v, NOPAD),
    "avg_pool2d_forward padding": lambda v: K.avg_pool2d_forward(X, (2, 2), ONE, (v, (0, 0))),
}


@pytest.mark.parametrize("call", CALLS.values(), ids=CALLS.keys())
@pytest.mark.parametrize("bad", [(1.5, 1), (1, 2.0), ("1", 1)])
def test_non_integer_arguments_are_refused_not_truncated(call, bad):
    with pytest.raises(TypeError, match="ints"):
        call(bad)


@pytest.mark.parametrize("call", CALLS.values(), ids=CALLS.keys())
def test_numpy_integers_are_accepted(call):
    call((np.int64(1), np.int32(1)))


# --- sizes beyond int64 ---------------------------------------------------------------------------------
DY_CONV = np.zeros((1, 4, 4, 4), np.float32)
Y_POOL, A_POOL = K.max_pool2d_forward(X, (2, 2), (2, 2), NOPAD)
POOL_ARGS = dict(pool_size=(2, 2), strides=(2, 2), padding=NOPAD)
CONV_ARGS = dict(strides=ONE, padding=NOPAD, dilation=ONE, groups=1)
GOOD = {
    "conv2d_forward": dict(x=X, kernel=W, **CONV_ARGS),
    "conv2d_backward_input": dict(dy=DY_CONV, kernel=W, x_shape=X.shape, **CONV_ARGS),
    "conv2d_backward_weight": dict(x=X, dy=DY_CONV, kernel_shape=W.shape, **CONV_ARGS),
    "max_pool2d_forward": dict(x=X, **POOL_ARGS),
    "avg_pool2d_forward": dict(x=X, **POOL_ARGS),
    "avg_pool2d_backward": dict(dy=Y_POOL, x_shape=X.shape, **POOL_ARGS),
    "max_pool2d_backward": dict(dy=Y_POOL, argmax=A_POOL, x_shape=X.shape),
}
SIZE_ARGS = ("x_shape", "kernel_shape", "pool_size", "strides", "padding", "dilation", "groups")


@pytest.mark.parametrize("kernel,arg,value", list(huge_calls(GOOD, SIZE_ARGS)))
def test_huge_sizes_run_or_raise_a_clean_error(kernel, arg, value):
    assert_runs_or_clean_error(K, kernel, dict(GOOD[kernel], **{arg: value}))


@pytest.mark.parametrize("kernel", ["max_pool2d_forward", "avg_pool2d_forward", "avg_pool2d_backward"])
@pytest.mark.parametrize("size", [2**32, 2**62, 2**63, 2**64])
def test_pool_window_area_beyond_int64_is_refused(kernel, size):
    # a window of size x 2 with size - 1 rows of padding fits a 6-row image; its area PH*PW (which the
    # average divides by) overflowed a signed 64-bit product for size >= 2**62
    args = dict(GOOD[kernel], pool_size=(size, 2**32), strides=ONE,
                padding=((size - 1, 0), (2**32 - 1, 0)))
    with pytest.raises(ValueError, match=f"{kernel}: the padded image"):
        getattr(K, kernel)(**args)


def test_huge_but_harmless_pool_sizes_still_run():
    # the cap is on the padded image, not on any one argument: a tall window with tall padding is fine
    x = np.arange(72, dtype=np.float64).reshape(1, 6, 6, 2)
    size = 2**40
    got = K.avg_pool2d_forward(x, (size, 1), ONE, ((size - 1, 0), NOPAD[1]))
    np.testing.assert_allclose(got, np.cumsum(x, axis=1) / np.arange(1, 7)[None, :, None, None])


@pytest.mark.parametrize("kernel", ["conv2d_backward_input", "avg_pool2d_backward", "max_pool2d_backward"])
def test_requested_shapes_beyond_int64_name_the_kernel(kernel):
    with pytest.raises(ValueError, match=f"{kernel}: x_shape"):
        getattr(K, kernel)(**dict(GOOD[kernel], x_shape=(2**64, 6, 6, 2)))


# --- alignment ------------------------------------------------------------------------------------------
def misaligned(a):
    """A C-contiguous copy of `a` that starts one byte past an aligned address."""
    raw = np.zeros(a.nbytes + 1, np.uint8)
    out = raw[1:].view(a.dtype).reshape(a.shape)
    out[...] = a
    assert out.flags.c_contiguous and not out.flags.aligned
    return out


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_misaligned_inputs_are_copied_to_aligned_buffers(dtype):
    a = np.arange(24, dtype=dtype).reshape(2, 3, 4)
    assert _native.as_kernel_input(a, dtype) is a               # aligned and contiguous: no copy
    bad = misaligned(a)
    used = _native.as_kernel_input(bad, dtype)
    assert used.flags.aligned and used.flags.c_contiguous and not np.shares_memory(used, bad)
    np.testing.assert_array_equal(used, a)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kernels_on_misaligned_arrays_match_the_reference(dtype):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 6, 6, 2)).astype(dtype)
    w = rng.standard_normal((3, 3, 2, 4)).astype(dtype)
    np.testing.assert_allclose(K.conv2d_forward(misaligned(x), misaligned(w), ONE, NOPAD, ONE, 1),
                               R.conv2d_forward(x, w, ONE, NOPAD, ONE, 1), rtol=1e-5, atol=1e-5)
    for got, want in zip(K.max_pool2d_forward(misaligned(x), (2, 2), (2, 2), NOPAD),
                         R.max_pool2d_forward(x, (2, 2), (2, 2), NOPAD)):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_allclose(K.avg_pool2d_forward(misaligned(x), (3, 3), ONE, NOPAD),
                               R.avg_pool2d_forward(x, (3, 3), ONE, NOPAD), rtol=1e-6)
    a, b = x.reshape(24, 6), w.reshape(18, 4)[:6]
    np.testing.assert_allclose(K.gemm(misaligned(a), misaligned(b)), a.astype(np.float64) @ b,
                               rtol=1e-5, atol=1e-5)
