"""Zero padding and upsampling of channels-last (N, H, W, C) images.

- `pad2d`: zeros around the image; backward crops the gradient.
- `upsample2d(..., 'nearest')`: each pixel repeated size_h x size_w times; backward sums each block.
- `upsample2d(..., 'bilinear')`: Keras / TensorFlow's half-pixel rule: output pixel o samples the
  input at (o + 0.5) / size - 0.5, clamped to [0, H - 1], interpolating its two neighbours. With an
  integer factor s the neighbours of output s * i + r are i and i +- 1, with weights that depend on r
  only, so each axis is three shifted copies of x times per-residue weights: O(output) work each way
  and no loop over pixels; the backward pass is the adjoint (weighted sums per residue, shifted back).
"""
import numpy as np

from nnx.autograd import Function
from nnx.functional.convolution import _check_image
from nnx.functional.math import _t
from nnx.geometry import pair


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


def _bilinear_weights(scale, dtype):
    """Output pixel o = scale * i + r samples input position i + d_r, d_r = (r + 0.5) / scale - 0.5:
    weights (1 - |d_r|) on pixel i, d_r on i + 1 (d_r > 0) or -d_r on i - 1 (d_r < 0), each shape
    (scale,). Positions beyond the border clamp to it (edge pixels are replicated)."""
    d = (np.arange(scale) + 0.5) / scale - 0.5
    return [w.astype(dtype) for w in (1 - np.abs(d), np.maximum(d, 0), np.maximum(-d, 0))]


def _at(axis, index):
    """The indexing tuple that applies `index` (a slice or int) along `axis`."""
    return (slice(None),) * axis + (index,)


def _upsample_axis(x, scale, axis):
    """Bilinear upsampling of x along one axis: three shifted copies, weighted per residue r."""
    here, after, before = _bilinear_weights(scale, x.dtype)
    nxt = np.concatenate([x[_at(axis, slice(1, None))], x[_at(axis, slice(-1, None))]], axis)
    prv = np.concatenate([x[_at(axis, slice(None, 1))], x[_at(axis, slice(None, -1))]], axis)
    shape = [1] * (x.ndim + 1)
    shape[axis + 1] = scale
    y = np.expand_dims(x, axis + 1) * here.reshape(shape)
    y += np.expand_dims(nxt, axis + 1) * after.reshape(shape)
    y += np.expand_dims(prv, axis + 1) * before.reshape(shape)
    return y.reshape(x.shape[:axis] + (x.shape[axis] * scale,) + x.shape[axis + 1:])


def _upsample_axis_backward(g, scale, axis):
    """The adjoint of `_upsample_axis`: per-residue weighted sums, the shifted ones moved back."""
    n = g.shape[axis] // scale
    g = g.reshape(g.shape[:axis] + (n, scale) + g.shape[axis + 1:])
    here, after, before = (np.tensordot(g, w, axes=([axis + 1], [0]))
                           for w in _bilinear_weights(scale, g.dtype))
    dx = here
    dx[_at(axis, slice(1, None))] += after[_at(axis, slice(None, -1))]
    dx[_at(axis, -1)] += after[_at(axis, -1)]
    dx[_at(axis, slice(None, -1))] += before[_at(axis, slice(1, None))]
    dx[_at(axis, 0)] += before[_at(axis, 0)]
    return dx


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
        ctx.size = size
        return _upsample_axis(_upsample_axis(x, size[1], 2), size[0], 1)

    @staticmethod
    def backward(ctx, g):
        sh, sw = ctx.size
        return _upsample_axis_backward(_upsample_axis_backward(g, sh, 1), sw, 2), None


def upsample2d(x, size=(2, 2), interpolation="nearest"):
    """Upsample (N, H, W, C) by integer factors size = (h, w): 'nearest' or 'bilinear' (Keras' rules)."""
    op = "upsample2d"
    x = _t(x, op)
    _check_image(x, op)
    size = pair(op, "size", size)
    if interpolation == "nearest":
        return UpsampleNearest.apply(x, size)
    if interpolation == "bilinear":
        return UpsampleBilinear.apply(x, size)
    raise ValueError(f"{op}: interpolation must be 'nearest' or 'bilinear', got {interpolation!r}")
