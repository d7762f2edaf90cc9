"""`nnx.plot`: pictures of training and of what a network has learnt (needs matplotlib:
`pip install "nnx[plot]"`).

Every function returns a matplotlib Figure and, when `path=` is given, writes it as a PNG (written to
a temporary file and renamed, so a failed write leaves no half file). Figures are made without pyplot
(`matplotlib.figure.Figure`, drawn by the Agg renderer): nothing opens a window or touches pyplot's
global state, and they still display inline in Jupyter.
"""
import math
import os
import tempfile

import numpy as np

try:
    from matplotlib.figure import Figure
except ImportError as e:     # the optional extra is missing
    raise ImportError('nnx.plot needs matplotlib; install it with: pip install "nnx[plot]"') from e

TILE = 1.3           # inches per image tile in grids


def _finish(fig, path):
    """Lay out the figure and write it atomically as PNG when a path is given."""
    fig.tight_layout()
    if path is not None:
        path = os.fspath(path)
        directory = os.path.dirname(os.path.abspath(path))
        fd, tmp = tempfile.mkstemp(suffix=".png.tmp", dir=directory)
        try:
            with os.fdopen(fd, "wb") as f:
                fig.savefig(f, format="png", dpi=100)
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)      # mkstemp makes it private; a PNG is an ordinary file
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    return fig


def _grid(n, max_cols=10):
    cols = max(1, min(n, max_cols))
    return math.ceil(n / cols), cols


def _as_images(op, x):
    """(N, H, W) grey or (N, H, W, 3) colour images from (N, H, W), (N, H, W, 1) or (N, H, W, 3)."""
    x = np.asarray(x)
    if x.ndim == 4 and x.shape[-1] == 1:
        x = x[..., 0]
    if x.ndim not in (3, 4) or (x.ndim == 4 and x.shape[-1] != 3):
        raise ValueError(f"{op}: expected images (N, H, W), (N, H, W, 1) or (N, H, W, 3), got shape {x.shape}")
    if x.dtype.kind not in "fiub":
        raise TypeError(f"{op}: images must be numeric, got dtype {x.dtype}")
    if x.ndim == 4:                      # colour: scale each image into [0, 1] for imshow
        x = x.astype(np.float64)
        low = x.min(axis=(1, 2, 3), keepdims=True)
        span = x.max(axis=(1, 2, 3), keepdims=True) - low
        x = (x - low) / np.where(span > 0, span, 1)
    return x


def _show(ax, image, **kwargs):
    ax.imshow(image, cmap=kwargs.pop("cmap", "gray" if image.ndim == 2 else None), **kwargs)
    ax.set_xticks([])
    ax.set_yticks([])


def history(history, path=None):
    """Training curves: one panel per metric (loss first), with its `val_` counterpart, against epochs.

    `history` is what `fit` returns (a History) or a dict {name: [value per epoch]}. A series logged
    more often than once per epoch (e.g. per batch) is spread evenly over the epochs run.
    """
    op = "plot.history"
    logs = getattr(history, "history", history)
    if not isinstance(logs, dict) or not logs:
        raise ValueError(f"{op}: expected a History or a non-empty dict of lists, got {type(history).__name__}")
    series = {k: np.asarray(v, dtype=np.float64).reshape(-1) for k, v in logs.items()}
    epochs = len(getattr(history, "epoch", ())) or min(len(v) for v in series.values())
    names = [k for k in series if not k.startswith("val_")]
    names += [k[4:] for k in series if k.startswith("val_") and k[4:] not in series]
    names.sort(key=lambda k: (k != "loss", k))
    fig = Figure(figsize=(4.5 * len(names), 3.4))
    for i, name in enumerate(names):
        ax = fig.add_subplot(1, len(names), i + 1)
        for key, label, style in ((name, "training", "-"), ("val_" + name, "validation", "o--")):
            if key in series and len(series[key]):
                values = series[key]
                x = np.arange(1, len(values) + 1) * (max(epochs, 1) / len(values))
                ax.plot(x, values, style, label=label)
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.set_xlim(left=0)
        ax.grid(alpha=0.3)
        ax.legend()
    return _finish(fig, path)


def images(x, labels=None, path=None):
    """A grid of images (N, H, W[, 1 or 3]), up to 10 per row, with their labels as titles."""
    op = "plot.images"
    x = _as_images(op, x)
    if labels is not None and len(labels) != len(x):
        raise ValueError(f"{op}: got {len(labels)} labels for {len(x)} images")
    rows, cols = _grid(len(x))
    fig = Figure(figsize=(TILE * cols, TILE * rows + 0.2))
    for i, image in enumerate(x):
        ax = fig.add_subplot(rows, cols, i + 1)
        _show(ax, image)
        if labels is not None:
            ax.set_title(str(labels[i]), fontsize=9)
    return _finish(fig, path)


def filters(layer, path=None):
    """A Conv2D layer's filters, one tile per output channel: kernel (KH, KW, C_in, C_out) shown as
    colour when C_in is 3, otherwise averaged over the input channels; one shared colour scale centred
    on 0 (red positive, blue negative), so tiles compare."""
    op = "plot.filters"
    kernel = getattr(layer, "kernel", None)
    if kernel is None or np.ndim(kernel.data if hasattr(kernel, "data") else kernel) != 4:
        raise ValueError(f"{op}: expected a built Conv2D layer (kernel (KH, KW, C_in, C_out)), "
                         f"got {type(layer).__name__}")
    k = np.asarray(kernel.data if hasattr(kernel, "data") else kernel, dtype=np.float64)
    kh, kw, c_in, c_out = k.shape
    rows, cols = _grid(c_out, max_cols=8)
    fig = Figure(figsize=(TILE * cols, TILE * rows + 0.5))
    limit = np.abs(k).max() or 1.0
    for f in range(c_out):
        ax = fig.add_subplot(rows, cols, f + 1)
        if c_in == 3:
            _show(ax, (k[:, :, :, f] / limit + 1) / 2)
        else:
            _show(ax, k[:, :, :, f].mean(axis=2), cmap="RdBu_r", vmin=-limit, vmax=limit)
        ax.set_title(str(f), fontsize=8)
    how = "RGB" if c_in == 3 else ("" if c_in == 1 else f"mean over {c_in} input channels")
    fig.suptitle(f"{getattr(layer, 'name', 'conv')}: {c_out} filters {kh}x{kw} {how}".strip())
    return _finish(fig, path)


def feature_maps(model, x, layer, path=None):
    """The output channels of `layer` (a name or a Layer of the model) for one input: x is one sample
    (H, W, C) or a batch whose first sample is shown; one tile per channel, brighter = larger."""
    from nnx.explain import activations
    op = "plot.feature_maps"
    x = np.asarray(x)
    per_sample = getattr(model, "model_input_shape", None)
    batch = x[None] if per_sample is not None and x.ndim == len(per_sample) else x[:1]
    name, maps = next(iter(activations(model, batch, layers=[layer]).items()))
    if maps.ndim != 4:
        raise ValueError(f"{op}: layer '{name}' must output feature maps (N, h, w, K), got shape {maps.shape}")
    maps = maps[0]
    rows, cols = _grid(maps.shape[-1], max_cols=8)
    fig = Figure(figsize=(TILE * cols, TILE * rows + 0.5))
    for c in range(maps.shape[-1]):
        ax = fig.add_subplot(rows, cols, c + 1)
        _show(ax, maps[:, :, c], cmap="viridis")
        ax.set_title(str(c), fontsize=8)
    fig.suptitle(f"{name}: {maps.shape[-1]} feature maps {maps.shape[0]}x{maps.shape[1]}")
    return _finish(fig, path)


def attribution(x, attributions, path=None):
    """One row per image: the input, the attribution map and the map over the input. Attributions
    shaped like x are summed over channels; (N, H, W) maps (Grad-CAM) are used as they are. Signed maps
    use a colour scale centred on 0 (red: for the class, blue: against); non-negative ones a heat map."""
    op = "plot.attribution"
    images_ = _as_images(op, x)
    a = np.asarray(attributions, dtype=np.float64)
    if a.shape[:3] != images_.shape[:3] or a.ndim not in (3, 4):
        raise ValueError(f"{op}: attributions of shape {a.shape} do not match images of shape "
                         f"{np.shape(x)}")
    if a.ndim == 4:
        a = a.sum(axis=3)
    fig = Figure(figsize=(3 * TILE * 1.3, 1.3 * TILE * len(a) + 0.3))
    for i in range(len(a)):
        signed = a[i].min() < 0
        limit = np.abs(a[i]).max() or 1.0
        style = dict(cmap="RdBu_r", vmin=-limit, vmax=limit) if signed else dict(cmap="inferno", vmin=0,
                                                                                   vmax=limit)
        for j, title in enumerate(("input", "attribution", "overlay")):
            ax = fig.add_subplot(len(a), 3, 3 * i + j + 1)
            if j != 1:
                _show(ax, images_[i])
            if j:
                _show(ax, a[i], alpha=0.6 if j == 2 else 1.0, **style)
            if i == 0:
                ax.set_title(title, fontsize=9)
    return _finish(fig, path)


def confusion_matrix(y_true, y_pred, path=None):
    """The confusion matrix: entry (i, j) counts samples of true class i predicted as j. y_pred is
    class labels or scores (N, K) (their argmax is taken)."""
    op = "plot.confusion_matrix"
    y_true = np.asarray(y_true).reshape(-1)
    y_pred = np.asarray(y_pred)
    if y_pred.ndim == 2 and y_pred.shape[1] > 1:
        y_pred = y_pred.argmax(axis=1)
    y_pred = y_pred.reshape(-1)
    if len(y_true) != len(y_pred) or not len(y_true):
        raise ValueError(f"{op}: y_true and y_pred must hold the same number (> 0) of samples, got "
                         f"{len(y_true)} and {len(y_pred)}")
    if y_true.dtype.kind not in "iu" or y_pred.dtype.kind not in "iu" or min(y_true.min(), y_pred.min()) < 0:
        raise ValueError(f"{op}: labels must be non-negative integers, got {y_true.dtype} and {y_pred.dtype}")
    k = int(max(y_true.max(), y_pred.max())) + 1
    counts = np.bincount(y_true * k + y_pred, minlength=k * k).reshape(k, k)
    fig = Figure(figsize=(0.5 * k + 2, 0.5 * k + 1.6))
    ax = fig.add_subplot(1, 1, 1)
    image = ax.imshow(counts, cmap="Blues")
    fig.colorbar(image, ax=ax, fraction=0.046)
    for i in range(k):
        for j in range(k):
            if counts[i, j]:
                ax.text(j, i, str(counts[i, j]), ha="center", va="center", fontsize=7,
                        color="white" if counts[i, j] > counts.max() / 2 else "black")
    ax.set_xticks(range(k))
    ax.set_yticks(range(k))
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(f"accuracy {np.mean(y_true == y_pred):.2%} on {len(y_true):,} samples")
    return _finish(fig, path)
