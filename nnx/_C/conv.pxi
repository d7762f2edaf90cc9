# Convolution bindings (placeholder until csrc/conv.c lands).

def conv2d_forward(x, kernel, strides, padding, dilation, groups):
    raise NotImplementedError("conv2d_forward: not built yet")


def conv2d_backward_input(dy, kernel, x_shape, strides, padding, dilation, groups):
    raise NotImplementedError("conv2d_backward_input: not built yet")


def conv2d_backward_weight(x, dy, kernel_shape, strides, padding, dilation, groups):
    raise NotImplementedError("conv2d_backward_weight: not built yet")
