"""Arguments every binding shares: sizes, strides and paddings must be integers, never truncated."""
import numpy as np
import pytest

import nnx.kernels as K

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
