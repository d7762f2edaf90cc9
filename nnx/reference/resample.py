"""Projective resampling of (N, H, W, C) images in NumPy: the reference for csrc/resample.c.

The definition is TensorFlow's ImageProjectiveTransformV3 (the op behind Keras 3's
`ops.image.affine_transform` on TensorFlow): output pixel (x, y) samples the input at
    ((a0 x + a1 y + a2) / k, (b0 x + b1 y + b2) / k),   k = c0 x + c1 y + 1,
each coordinate is mapped into the image by the fill mode, then interpolated. Everything is computed
in float64 and rounded once to the image dtype, as the compiled kernel does.
"""
import numpy as np

INTERPOLATIONS = ("nearest", "bilinear")
FILL_MODES = ("reflect", "wrap", "constant", "nearest")


def map_coordinates(v, length, fill_mode):
    """Map float64 coordinates `v` onto an axis of `length` pixels (TF's MapCoordinate)."""
    last = float(length - 1)
    if fill_mode == "constant":
        return v
    if length <= 1:
        return np.zeros_like(v)
    v = v.copy()
    low, high = v < 0, v > last                     # one branch per point, as in TF's if / else if
    if fill_mode == "reflect":                      # (d c b a | a b c d | d c b a)
        sz2 = 2.0 * length
        u = sz2 * np.trunc(-v[low] / sz2) + v[low]
        v[low] = np.where(u < -length, u + sz2, -u - 1.0)
        u = v[high] - sz2 * np.trunc(v[high] / sz2)
        v[high] = np.where(u >= length, sz2 - u - 1.0, u)
    elif fill_mode == "wrap":                       # (a b c d | a b c d | a b c d), TF's arithmetic
        v[low] += length * (np.trunc(-v[low] / last) + 1.0)
        v[high] -= length * np.trunc(v[high] / last)
    return np.clip(v, 0.0, last)


def _round_half_away(v):
    """C's round() for v >= 0 (np.round rounds halves to even)."""
    down = np.floor(v)
    return np.where(v - down >= 0.5, down + 1.0, down)


def affine_transform(images, transforms, interpolation="bilinear", fill_mode="constant", fill_value=0.0,
                     output_shape=None):
    """Same contract as `nnx.kernels.affine_transform`."""
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"affine_transform: interpolation must be one of {INTERPOLATIONS}, "
                         f"got {interpolation!r}")
    if fill_mode not in FILL_MODES:
        raise ValueError(f"affine_transform: fill_mode must be one of {FILL_MODES}, got {fill_mode!r}")
    images = np.asarray(images)
    out_dtype = np.float64 if images.dtype == np.float64 else np.float32
    n, h, w, c = images.shape
    oh, ow = (h, w) if output_shape is None else output_shape
    t = np.asarray(transforms, dtype=np.float64).reshape(-1, 8)
    t = np.broadcast_to(t, (n, 8))[:, :, None, None]          # (N, 8, 1, 1) against the (OH, OW) grid
    y, x = np.meshgrid(np.arange(oh, dtype=np.float64), np.arange(ow, dtype=np.float64), indexing="ij")
    k = t[:, 6] * x + t[:, 7] * y + 1.0
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        xi = (t[:, 0] * x + t[:, 1] * y + t[:, 2]) / k
        yi = (t[:, 3] * x + t[:, 4] * y + t[:, 5]) / k
    inside = (k != 0) & np.isfinite(xi) & np.isfinite(yi)
    xi = map_coordinates(np.where(inside, xi, 0.0), w, fill_mode)
    yi = map_coordinates(np.where(inside, yi, 0.0), h, fill_mode)
    inside &= (xi >= 0) & (xi <= w - 1) & (yi >= 0) & (yi <= h - 1)
    xi, yi = np.where(inside, xi, 0.0), np.where(inside, yi, 0.0)   # any in-image point; filled below

    src = images.astype(np.float64)
    batch = np.arange(n)[:, None, None]

    def read(rows, cols):
        """Pixels at integer (rows, cols) per image, fill_value outside the image: (N, OH, OW, C)."""
        ok = (rows < h) & (cols < w)
        got = src[batch, np.minimum(rows, h - 1), np.minimum(cols, w - 1)]
        return np.where(ok[..., None], got, float(fill_value))

    if interpolation == "nearest":
        out = read(_round_half_away(yi).astype(np.intp), _round_half_away(xi).astype(np.intp))
    else:
        x0, y0 = np.floor(xi), np.floor(yi)
        x1, y1 = x0 + 1.0, y0 + 1.0
        r0, c0 = y0.astype(np.intp), x0.astype(np.intp)
        wx0, wx1 = (x1 - xi)[..., None], (xi - x0)[..., None]
        top = wx0 * read(r0, c0) + wx1 * read(r0, c0 + 1)
        bottom = wx0 * read(r0 + 1, c0) + wx1 * read(r0 + 1, c0 + 1)
        out = (y1 - yi)[..., None] * top + (yi - y0)[..., None] * bottom
    out = np.where(inside[..., None], out, float(fill_value))
    return out.astype(out_dtype)
