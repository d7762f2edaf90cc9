"""Pooling reference (placeholder until the real one lands)."""


def max_pool2d_forward(x, pool_size, strides, padding):
    raise NotImplementedError


def max_pool2d_backward(dy, argmax, x_shape):
    raise NotImplementedError


def avg_pool2d_forward(x, pool_size, strides, padding):
    raise NotImplementedError


def avg_pool2d_backward(dy, x_shape, pool_size, strides, padding):
    raise NotImplementedError
