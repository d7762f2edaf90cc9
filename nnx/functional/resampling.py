"""Zero padding and upsampling of channels-last (N, H, W, C) images.

- `pad2d`: zeros around the image; backward crops the gradient.
- `upsample2d(..., 'nearest')`: each pixel repeated size_h x size_w times; backward sums each block.
- `upsample2d(..., 'bilinear')`: Keras / TensorFlow's half-pixel rule: output pixel o samples the
  input at (o + 0.5) / size - 0.5, clamped to [0, H - 1], interpolating its two neighbours. Per axis
  that is a sparse (out, in) matrix A, so y = A_h x A_w^T per image and channel and the backward pass
  applies the transposes: O(N H W C size) work each way.
"""
import numpy as np

from nnx.autograd import Function
from nnx.functional.convolution import _check_image
from nnx.functional.math import _t


class Pad2D(Function):
    @staticmethod
    def forward(ctx, x, pads):
        (top, bottom), (left, right) = pads
        ctx.window = (slice(top, top + x.shape[1]), slice(left, left + x.shape[2]))
        return np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))

    @staticmethod
    def backward(ctx, g):
        rows, cols = ctx.window
        return g[:, rows, cols, :], None


def pad2d(x, padding):
    """Zeros around (N, H, W, C) images; padding ((top, bottom), (left, right)) of non-negative ints."""
    x = _t(x, "pad2d")
    _check_image(x, "pad2d")
    return Pad2D.apply(x, tuple(tuple(int(p) for p in side) for side in padding))


def _bilinear_matrix(n_in, scale, dtype):
    """The (n_in * scale, n_in) interpolation matrix of the half-pixel rule."""
    n_out = n_in * scale
    src = np.clip((np.arange(n_out) + 0.5) / scale - 0.5, 0, n_in - 1)
    low = np.floor(src).astype(np.int64)
    high = np.minimum(low + 1, n_in - 1)
    frac = src - low
    matrix = np.zeros((n_out, n_in), np.float64)
    np.add.at(matrix, (np.arange(n_out), low), 1 - frac)
    np.add.at(matrix, (np.arange(n_out), high), frac)
    return matrix.astype(dtype)


class UpsampleNearest(Function):
    @staticmethod
    def forward(ctx, x, size):
        ctx.size = size
        return np.repeat(np.repeat(x, size[0], axis=1), size[1], axis=2)

    @staticmethod
    def backward(ctx, g):
        (sh, sw), (n, h, w, c) = ctx.size, g.shape
        return g.reshape(n, h // sh, sh, w // sw, sw, c).sum(axis=(2, 4)), None


class UpsampleBilinear(Function):
    @staticmethod
    def forward(ctx, x, size):
        a_h = _bilinear_matrix(x.shape[1], size[0], x.dtype)
        a_w = _bilinear_matrix(x.shape[2], size[1], x.dtype)
        ctx.saved_tensors = (a_h, a_w)
        return np.einsum("oh,nhwc->nowc", a_h, np.einsum("pw,nhwc->nhpc", a_w, x))

    @staticmethod
    def backward(ctx, g):
        a_h, a_w = ctx.saved_tensors
        return np.einsum("pw,nhpc->nhwc", a_w, np.einsum("oh,nowc->nhwc", a_h, g)), None


def upsample2d(x, size=(2, 2), interpolation="nearest"):
    """Upsample (N, H, W, C) by integer factors size = (h, w): 'nearest' or 'bilinear' (Keras' rules)."""
    op = "upsample2d"
    x = _t(x, op)
    _check_image(x, op)
    size = (size, size) if isinstance(size, (int, np.integer)) else tuple(size)
    if len(size) != 2 or not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s > 0
                                 for s in size):
        raise ValueError(f"{op}: size must be a positive int or a pair of them, got {size!r}")
    size = (int(size[0]), int(size[1]))
    if interpolation == "nearest":
        return UpsampleNearest.apply(x, size)
    if interpolation == "bilinear":
        return UpsampleBilinear.apply(x, size)
    raise ValueError(f"{op}: interpolation must be 'nearest' or 'bilinear', got {interpolation!r}")
