"""Pooling reference: max and average pooling of channels-last (N, H, W, C) images, in NumPy.

Output pixel (oh, ow) pools the window of input rows [oh*SH - top, +PH) and columns
[ow*SW - left, +PW), clipped to the image: padding never wins a max and is not counted in an
average. The loops below run over output pixels; each step handles every image and channel at once.

argmax (int32) holds, per output element, the flat index h * W + w of the maximum in its image's
H*W plane: the first maximum in row-major window order, or the first NaN (NaN propagates).
"""
import numpy as np

from nnx.geometry import check_pool_padding, window_output


def _float(a):
    """float32 / float64 stay; float16 (and anything smaller) computes in float32."""
    a = np.asarray(a)
    wide = a.dtype.kind == "f" and a.dtype.itemsize == 8   # any byte order: '>f8' is float64 too
    return a.astype(np.float64 if wide else np.float32, copy=False)


def _output_shape(x_shape, pool_size, strides, padding):
    check_pool_padding("pooling", x_shape, pool_size, padding)
    oh, ow = window_output("pooling", x_shape, pool_size, strides, padding)
    return x_shape[0], oh, ow, x_shape[3]


def _windows(x_shape, pool_size, strides, padding):
    """Yield (oh, ow, rows, cols) for every output pixel: its window clipped to the image."""
    _, oh_count, ow_count, _ = _output_shape(x_shape, pool_size, strides, padding)
    _, h, w, _ = x_shape
    (ph, pw), (sh, sw), ((top, _), (left, _)) = pool_size, strides, padding
    for oh in range(oh_count):
        h0 = oh * sh - top
        rows = slice(max(h0, 0), min(h0 + ph, h))
        for ow in range(ow_count):
            w0 = ow * sw - left
            yield oh, ow, rows, slice(max(w0, 0), min(w0 + pw, w))


def max_pool2d_forward(x, pool_size, strides, padding, argmax=True):
    """(y, argmax); argmax=False gives (y, None): the same y, no indices (inference needs none)."""
    if not isinstance(argmax, (bool, np.bool_)):
        raise TypeError(f"max_pool2d_forward: argmax must be True or False, got {argmax!r}")
    x = _float(x)
    n, h, w, c = x.shape
    y = np.empty(_output_shape(x.shape, pool_size, strides, padding), dtype=x.dtype)
    where = np.empty(y.shape, dtype=np.int32) if argmax else None
    for oh, ow, rows, cols in _windows(x.shape, pool_size, strides, padding):
        window = x[:, rows, cols, :].reshape(n, -1, c)
        best = np.argmax(window, axis=1)  # first maximum; NaN counts as the maximum
        y[:, oh, ow, :] = np.take_along_axis(window, best[:, None, :], axis=1)[:, 0, :]
        if where is not None:
            width = cols.stop - cols.start
            where[:, oh, ow, :] = (rows.start + best // width) * w + cols.start + best % width
    return y, where


def max_pool2d_backward(dy, argmax, x_shape):
    dy = _float(dy)
    n, h, w, c = x_shape
    argmax = np.asarray(argmax)
    if argmax.shape != dy.shape:
        raise ValueError(f"max_pool2d_backward: argmax shape {argmax.shape} != dy shape {dy.shape}")
    if argmax.size and (argmax.min() < 0 or argmax.max() >= h * w):
        raise ValueError(f"max_pool2d_backward: argmax values must lie in [0, {h * w})")
    dx = np.zeros((n, h * w, c), dtype=dy.dtype)
    images = np.arange(n)[:, None, None, None]
    channels = np.arange(c)
    np.add.at(dx, (images, argmax, channels), dy)  # add.at: repeated indices accumulate
    return dx.reshape(n, h, w, c)


def avg_pool2d_forward(x, pool_size, strides, padding):
    x = _float(x)
    y = np.empty(_output_shape(x.shape, pool_size, strides, padding), dtype=x.dtype)
    for oh, ow, rows, cols in _windows(x.shape, pool_size, strides, padding):
        y[:, oh, ow, :] = x[:, rows, cols, :].mean(axis=(1, 2))
    return y


def avg_pool2d_backward(dy, x_shape, pool_size, strides, padding):
    dy = _float(dy)
    expected = _output_shape(x_shape, pool_size, strides, padding)
    if dy.shape != expected:
        raise ValueError(f"avg_pool2d_backward: dy shape {dy.shape}, expected {expected}")
    dx = np.zeros(x_shape, dtype=dy.dtype)
    for oh, ow, rows, cols in _windows(x_shape, pool_size, strides, padding):
        count = (rows.stop - rows.start) * (cols.stop - cols.start)
        dx[:, rows, cols, :] += dy[:, oh, ow, None, None, :] / count
    return dx
