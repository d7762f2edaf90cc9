"""LIME (Ribeiro et al. 2016): explain one prediction by a linear model fitted, near the input, to the
model's outputs on copies of the input with random features switched off.

Each sample gets `num_samples` random on/off masks z ∈ {0, 1}^S over its S features (segments of
pixels, tabular features, or words); the first mask keeps everything, the others switch each feature
on with probability ½ (as lime_image does). All masked copies of the whole batch are evaluated in large
batches. The surrogate is a weighted ridge regression (α = 1, unpenalised intercept) with LIME's
proximity weights π(z) = exp(−d(z)²/σ²), d = the cosine distance from z to the all-on mask, σ = 0.25.
"""
import math

import numpy as np

from nnx.explain._core import DEFAULT_BATCH_SIZE, evaluate, evaluate_rows, prepare, rng_for

KERNEL_WIDTH = 0.25
RIDGE_ALPHA = 1.0


def random_masks(rng, n, num_samples, features):
    """(n, num_samples, features) booleans; mask 0 of each sample is all on."""
    masks = rng.random((n, num_samples, features)) < 0.5
    masks[:, 0] = True
    return masks


def fit_surrogates(masks, y):
    """Weighted ridge coefficients (n, S) of y (n, m) on the masks (n, m, S), one fit per sample."""
    z = masks.astype(np.float64)
    on = z.sum(axis=2)
    distance = 1 - np.sqrt(on / z.shape[2])                     # cosine distance to the all-on mask
    w = np.exp(-distance ** 2 / KERNEL_WIDTH ** 2)              # (n, m)
    w_sum = w.sum(axis=1, keepdims=True)
    z_mean = np.einsum("nm,nms->ns", w, z) / w_sum
    y_mean = (w * y).sum(axis=1, keepdims=True) / w_sum
    zc, yc = z - z_mean[:, None, :], y - y_mean
    gram = np.einsum("nms,nm,nmt->nst", zc, w, zc) + RIDGE_ALPHA * np.eye(z.shape[2])
    rhs = np.einsum("nms,nm,nm->ns", zc, w, yc)
    return np.linalg.solve(gram, rhs[..., None])[..., 0]


def _check_num_samples(op, num_samples):
    if isinstance(num_samples, bool) or not isinstance(num_samples, (int, np.integer)) or num_samples < 2:
        raise ValueError(f"{op}: num_samples must be an int >= 2, got {num_samples!r}")
    return int(num_samples)


def _segment_map(op, x, segments):
    """Integer segment ids (S labels 0..S-1) over the feature grid: x.shape[1:] for tabular data,
    (H, W) for images (N, H, W[, C]), whose channels share their pixel's segment."""
    grid = x.shape[1:2] if x.ndim == 2 else x.shape[1:3]
    if segments is None:
        if x.ndim == 2:
            return np.arange(grid[0])
        side = math.ceil(max(grid) / 8)           # about 8 x 8 square patches
        rows, cols = np.meshgrid(np.arange(grid[0]) // side, np.arange(grid[1]) // side, indexing="ij")
        return rows * (-(-grid[1] // side)) + cols
    seg = np.asarray(segments)
    if seg.dtype.kind not in "iu" or seg.shape != grid:
        raise ValueError(f"{op}: segments must be an integer map of shape {grid} for x of shape "
                         f"{x.shape}, got {seg.dtype} of shape {seg.shape}")
    return np.unique(seg, return_inverse=True)[1].reshape(grid)


def lime(predict_fn, x, num_samples=1000, segments=None, seed=None, *, batch_size=DEFAULT_BATCH_SIZE):
    """LIME attributions for the predicted class t of each sample: the coefficients of the local
    linear surrogate

        g(z) = β₀ + Σ_s β_s z_s  ≈  f_t(x ⊙ z),   argmin_β Σ_z π(z) (f_t(x ⊙ z) − g(z))² + ‖β‖²,

    where z switches segments on/off (a switched-off feature is set to 0). Returned shaped like x:
    each feature or pixel (all its channels) gets its segment's β_s. x is tabular (N, F) (each feature
    its own segment) or images (N, H, W[, C]); `segments` is an integer (H, W) map (default square
    patches, about 8 x 8 of them). `predict_fn` is an nnx model or a callable returning outputs.
    """
    op = "lime"
    num_samples = _check_num_samples(op, num_samples)
    x, targets, batch_size, _ = prepare(op, predict_fn, x, None, batch_size)
    if x.ndim > 4:
        raise ValueError(f"{op}: expected tabular data (N, F) or images (N, H, W[, C]), got {x.shape}")
    seg = _segment_map(op, x, segments)
    masks = random_masks(rng_for(seed), len(x), num_samples, int(seg.max()) + 1)
    feature_axes = (Ellipsis,) + (None,) * (x.ndim - 1 - seg.ndim)        # channels share a pixel

    def masked(start, stop):    # row r is mask r % m of sample r // m
        r = np.arange(start, stop)
        keep = masks[r // num_samples, r % num_samples][:, seg]
        return x[r // num_samples] * keep[feature_axes].astype(x.dtype)

    out = evaluate_rows(op, predict_fn, len(x) * num_samples, masked, batch_size)
    y = out[np.arange(len(out)), np.repeat(targets, num_samples)].reshape(len(x), num_samples)
    coef = fit_surrogates(masks, y)                                           # (N, S)
    per_feature = coef[:, seg][feature_axes]
    return np.ascontiguousarray(np.broadcast_to(per_feature, x.shape), dtype=x.dtype)


def lime_text(predict_fn, text, num_samples=1000, seed=None, *, batch_size=DEFAULT_BATCH_SIZE):
    """LIME for one text: the surrogate's coefficient of each word of `text.split()` for the predicted
    class t, where switching a word off removes it,

        g(z) = β₀ + Σ_j β_j z_j  ≈  f_t(the words j with z_j = 1, joined by spaces).

    `predict_fn` maps a list of strings to outputs (n, K). Returns [(word, β_j)] in text.split() order.
    """
    op = "lime_text"
    if not isinstance(text, str):
        raise TypeError(f"{op}: text must be a str, got {type(text).__name__}")
    if not callable(predict_fn):
        raise TypeError(f"{op}: predict_fn must be a callable list of strings -> outputs, got "
                        f"{type(predict_fn).__name__}")
    num_samples = _check_num_samples(op, num_samples)
    words = text.split()
    if not words:
        raise ValueError(f"{op}: text has no words to explain")
    target = int(np.argmax(evaluate(op, predict_fn, [text])[0]))
    masks = random_masks(rng_for(seed), 1, num_samples, len(words))

    def masked(start, stop):
        return [" ".join(w for w, on in zip(words, z) if on) for z in masks[0, start:stop]]

    y = evaluate_rows(op, predict_fn, num_samples, masked, batch_size)[:, target]
    coef = fit_surrogates(masks, y[None])[0]
    return [(word, float(c)) for word, c in zip(words, coef)]
