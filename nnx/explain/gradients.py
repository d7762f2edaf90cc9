"""Gradient attributions: saliency, SmoothGrad and integrated gradients.

All three differentiate the selected output f_t(x) = model(x)[:, target] with respect to the input on
the autograd engine, a chunk of rows at a time (one forward and one backward per chunk: the gradient of
sum_i f_{t_i}(x_i) with respect to each x_i is that sample's own gradient, since samples do not
interact). SmoothGrad's noisy copies and integrated gradients' path points are such rows.
"""
import numpy as np

from nnx.explain._core import DEFAULT_BATCH_SIZE, input_gradients, prepare, rng_for


def _check_count(op, name, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{op}: {name} must be a positive int, got {value!r}")
    return int(value)


def _mean_gradient_over_copies(op, model, x, targets, copies, make_copy, batch_size):
    """(1/copies) sum_k grad f_t(make_copy(sample i, copy k)) for every sample i; rows are
    sample-major (row r is copy r % copies of sample r // copies)."""
    total = np.zeros_like(x)

    def make_rows(start, stop):
        r = np.arange(start, stop)
        return make_copy(r // copies, r % copies), targets[r // copies]

    for start, stop, grads in input_gradients(op, model, len(x) * copies, make_rows, batch_size):
        np.add.at(total, np.arange(start, stop) // copies, grads)
    return total / copies


def saliency(model, x, target=None, *, batch_size=DEFAULT_BATCH_SIZE):
    """Saliency map: the signed gradient of the target output with respect to the input,

        S(x) = ∂ f_t(x) / ∂x,   f_t(x) = model(x)[:, t],

    t = `target` (one class per sample; default the predicted class). Returns an array shaped like x.
    """
    op = "saliency"
    x, targets, batch_size = prepare(op, model, x, target, batch_size)[:3]
    out = np.empty_like(x)

    def make_rows(start, stop):
        return x[start:stop], targets[start:stop]

    for start, stop, grads in input_gradients(op, model, len(x), make_rows, batch_size):
        out[start:stop] = grads
    return out


def smoothgrad(model, x, target=None, samples=50, noise=0.15, seed=None, *,
               batch_size=DEFAULT_BATCH_SIZE):
    """SmoothGrad (Smilkov et al. 2017): the mean saliency over noisy copies of each sample,

        SG(x) = (1/n) Σ_{k=1..n} ∂ f_t(x + ε_k) / ∂x,   ε_k ~ N(0, σ²),  σ = noise · (max(x) − min(x)),

    with n = `samples` and σ computed per sample. `seed` fixes the noise (default: nnx's generator, so
    `nnx.manual_seed` makes it repeatable). The target defaults to the class predicted for the clean x.
    """
    op = "smoothgrad"
    samples = _check_count(op, "samples", samples)
    if not np.isfinite(noise) or noise < 0:
        raise ValueError(f"{op}: noise must be a finite number >= 0, got {noise!r}")
    x, targets, batch_size = prepare(op, model, x, target, batch_size)[:3]
    flat = x.reshape(len(x), -1)
    sigma = noise * (flat.max(axis=1) - flat.min(axis=1))
    rng = rng_for(seed)
    sample_axes = (slice(None),) + (None,) * (x.ndim - 1)

    def noisy_copy(i, _k):
        eps = rng.standard_normal((len(i),) + x.shape[1:]).astype(x.dtype)
        return x[i] + eps * sigma[i][sample_axes].astype(x.dtype)

    return _mean_gradient_over_copies(op, model, x, targets, samples, noisy_copy, batch_size)


def integrated_gradients(model, x, target=None, baseline=None, steps=50, *,
                         batch_size=DEFAULT_BATCH_SIZE):
    """Integrated gradients (Sundararajan et al. 2017): the path integral of the gradient along the
    straight line from the baseline b to x, times the displacement,

        IG(x) = (x − b) ⊙ ∫₀¹ ∂ f_t(b + α (x − b)) / ∂x dα
              ≈ (x − b) ⊙ (1/m) Σ_{k=1..m} ∂ f_t(b + ((k − ½)/m) (x − b)) / ∂x,

    the midpoint rule with m = `steps` (error O(1/m²) for smooth f). Completeness: the attributions
    of a sample sum to f_t(x) − f_t(b) up to that error. `baseline` is None (zeros), one input shaped
    like a sample, or a batch shaped like x.
    """
    op = "integrated_gradients"
    steps = _check_count(op, "steps", steps)
    x, targets, batch_size = prepare(op, model, x, target, batch_size)[:3]
    if baseline is None:
        base = np.zeros_like(x)
    else:
        base = np.asarray(baseline.data if hasattr(baseline, "data") else baseline)
        if base.shape not in (x.shape, x.shape[1:]):
            raise ValueError(f"{op}: baseline must be shaped like x {x.shape} or like one sample "
                             f"{x.shape[1:]}, got {base.shape}")
        base = np.ascontiguousarray(np.broadcast_to(base, x.shape), dtype=x.dtype)
    delta = x - base
    alphas = ((np.arange(steps) + 0.5) / steps).astype(x.dtype)
    sample_axes = (slice(None),) + (None,) * (x.ndim - 1)

    def path_point(i, k):
        return base[i] + alphas[k][sample_axes] * delta[i]

    mean_grad = _mean_gradient_over_copies(op, model, x, targets, steps, path_point, batch_size)
    return delta * mean_grad
