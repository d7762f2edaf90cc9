"""Convolution reference (placeholder until the real one lands)."""


def conv2d_forward(x, kernel, strides, padding, dilation, groups):
    raise NotImplementedError


def conv2d_backward_input(dy, kernel, x_shape, strides, padding, dilation, groups):
    raise NotImplementedError


def conv2d_backward_weight(x, dy, kernel_shape, strides, padding, dilation, groups):
    raise NotImplementedError
