# Pooling bindings (placeholder until csrc/pool.c lands).

def max_pool2d_forward(x, pool_size, strides, padding):
    raise NotImplementedError("max_pool2d_forward: not built yet")


def max_pool2d_backward(dy, argmax, x_shape):
    raise NotImplementedError("max_pool2d_backward: not built yet")


def avg_pool2d_forward(x, pool_size, strides, padding):
    raise NotImplementedError("avg_pool2d_forward: not built yet")


def avg_pool2d_backward(dy, x_shape, pool_size, strides, padding):
    raise NotImplementedError("avg_pool2d_backward: not built yet")
