"""Grad-CAM (Selvaraju et al. 2017): where in the image a convolutional layer saw evidence for the
target class, from one forward and one backward pass over the whole batch."""
import numpy as np

from nnx.autograd import enable_grad
from nnx.explain._core import DEFAULT_BATCH_SIZE, prepare, selected_output_sum, weight_grads_preserved
from nnx.explain.internals import check_model, forward_keeping, resolve_layer


def _last_conv2d(op, model):
    from nnx.layers import Conv2D
    convs = [layer for layer in getattr(model, "layers", []) if isinstance(layer, Conv2D)]
    if not convs:
        raise ValueError(f"{op}: {model._who()} has no Conv2D layer; pass layer= (a name or a Layer "
                         f"with (N, h, w, K) outputs)")
    return convs[-1]


def bilinear_matrix(size_out, size_in):
    """(size_out, size_in) linear interpolation weights with half-pixel centres, as Keras'
    `ops.image.resize(..., interpolation='bilinear')`: source = (dst + ½) · in/out − ½, clamped."""
    src = np.clip((np.arange(size_out) + 0.5) * (size_in / size_out) - 0.5, 0, size_in - 1)
    lo = np.floor(src).astype(np.intp)
    hi = np.minimum(lo + 1, size_in - 1)
    frac = src - lo
    weights = np.zeros((size_out, size_in))
    np.add.at(weights, (np.arange(size_out), lo), 1 - frac)
    np.add.at(weights, (np.arange(size_out), hi), frac)
    return weights


def resize_bilinear(maps, height, width):
    """Resize (N, h, w) maps to (N, height, width) bilinearly (separable: rows, then columns)."""
    rows = bilinear_matrix(height, maps.shape[1])
    cols = bilinear_matrix(width, maps.shape[2])
    return np.einsum("Hh,nhw,Ww->nHW", rows, maps, cols)


def grad_cam(model, x, target=None, layer=None, *, batch_size=DEFAULT_BATCH_SIZE):
    """Grad-CAM map of the target class over the input, from a layer's activations A (N, h, w, K):

        L = ReLU( Σ_k α_k A_k ),   α_k = (1/hw) Σ_{i,j} ∂ f_t / ∂A_k[i, j],   f_t = model(x)[:, t],

    resized bilinearly to the input's (N, H, W); not normalised. `layer` is a name or a Layer of the
    model (default: the last Conv2D). The target defaults to the predicted class.
    """
    op = "grad_cam"
    check_model(op, model)
    chosen = _last_conv2d(op, model) if layer is None else resolve_layer(op, model, layer)
    x, targets, batch_size, _ = prepare(op, model, x, target, batch_size, min_rank=3)
    maps = []
    with weight_grads_preserved(model), enable_grad():
        for start in range(0, len(x), batch_size):
            out, kept = forward_keeping(op, model, x[start:start + batch_size], [chosen], as_leaves=True)
            acts = kept[chosen.name]
            if acts.ndim != 4:
                raise ValueError(f"{op}: layer '{chosen.name}' must output feature maps (N, h, w, K), "
                                 f"got shape {acts.shape}")
            selected_output_sum(op, out, targets[start:start + batch_size]).backward()
            alpha = acts.grad.mean(axis=(1, 2))                                   # (n, K)
            maps.append(np.maximum(np.einsum("nhwk,nk->nhw", acts.data, alpha), 0))
    cam = np.concatenate(maps)
    return resize_bilinear(cam, x.shape[1], x.shape[2]).astype(x.dtype)
