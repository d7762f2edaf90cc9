"""Occlusion (Zeiler & Fergus 2014): slide a window over the image, blank it out, and see how much
the target output drops. All (sample, window) pairs are evaluated in large batches."""
import numpy as np

from nnx.explain._core import DEFAULT_BATCH_SIZE, evaluate_rows, prepare
from nnx.geometry import pair


def _starts(size, window, stride):
    """Window origins every `stride` pixels, plus one flush with the far edge so all pixels are covered."""
    starts = list(range(0, size - window + 1, stride))
    if starts[-1] != size - window:
        starts.append(size - window)
    return starts


def window_masks(height, width, window=(4, 4), stride=(2, 2)):
    """Boolean masks (P, H, W), one per window position."""
    (wh, ww), (sh, sw) = window, stride
    rows, cols = _starts(height, wh, sh), _starts(width, ww, sw)
    masks = np.zeros((len(rows) * len(cols), height, width), bool)
    for p, (r, c) in enumerate((r, c) for r in rows for c in cols):
        masks[p, r:r + wh, c:c + ww] = True
    return masks


def occlusion(model, x, target=None, window=(4, 4), stride=(2, 2), fill=0.0, *,
              batch_size=DEFAULT_BATCH_SIZE):
    """Occlusion map: per pixel, the mean over the windows W covering it of the drop of the target
    output when W is set to `fill`,

        O(x)_p = mean_{W ∋ p} [ f_t(x) − f_t(x with W := fill) ],   f_t(x) = model(x)[:, t].

    x is a batch of images (N, H, W) or (N, H, W, C); a window spans all channels and every channel of
    a pixel gets the pixel's value, so the result is shaped like x. Windows start every `stride` pixels
    (plus one flush with the bottom/right edge); a pixel no window covers (stride > window) gets 0.
    """
    op = "occlusion"
    x, targets, batch_size, clean = prepare(op, model, x, target, batch_size, min_rank=3)
    if x.ndim > 4:
        raise ValueError(f"{op}: expected images (N, H, W) or (N, H, W, C), got shape {x.shape}")
    window, stride = pair(op, "window", window), pair(op, "stride", stride)
    height, width = x.shape[1:3]
    if window[0] > height or window[1] > width:
        raise ValueError(f"{op}: window {window} is larger than the images ({height}, {width})")
    masks = window_masks(height, width, window, stride)
    n, p = len(x), len(masks)
    mask_axes = (slice(None), slice(None), slice(None)) + (None,) * (x.ndim - 3)
    fill = np.asarray(fill, x.dtype)

    def occluded(start, stop):      # row r is window r % p over sample r // p
        r = np.arange(start, stop)
        return np.where(masks[r % p][mask_axes], fill, x[r // p])

    occluded_out = evaluate_rows(op, model, n * p, occluded, batch_size)
    picked = occluded_out[np.arange(n * p), np.repeat(targets, p)].reshape(n, p)
    drops = clean[np.arange(n), targets][:, None] - picked                      # (N, P)
    covering = masks.reshape(p, -1).sum(axis=0)       # 0 where stride > window leaves gaps
    per_pixel = np.divide(drops @ masks.reshape(p, -1), covering, out=np.zeros((n, covering.size)),
                          where=covering > 0)
    per_pixel = per_pixel.reshape((n, height, width) + (1,) * (x.ndim - 3)).astype(x.dtype)
    return np.ascontiguousarray(np.broadcast_to(per_pixel, x.shape))
