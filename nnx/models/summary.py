"""`model.summary()`: Keras' table (layer (type), output shape, parameter count, totals), and with
`profile=True` a per-layer cost table measured on this machine:

- FLOPs per sample: the layer's `flops(input_shape)` (2 per multiply-add), '-' where not defined;
- activation memory: the output of the layer for the whole batch, in the model's dtype;
- forward and backward times: median of a few runs of that layer alone on a random batch
  (training=True, gradient of a random output gradient); GFLOP/s from those times, counting the
  backward pass of a layer with weights as twice its forward FLOPs (input and weight gradients; the
  first layer needs no input gradient, so once), and once for layers without weights.
"""
import time

import numpy as np

from nnx.tensor import Tensor
from nnx.layers.base import format_shape, is_shape_list

WIDTHS = (29, 26, 10)
CONNECTED_WIDTH = 22


def _row(cells, widths):
    return "".join(f" {c}".ljust(w) for c, w in zip(cells, widths)).rstrip()


def _kb(nbytes):
    if nbytes >= 1024 ** 2:
        return f"{nbytes / 1024 ** 2:.2f} MB"
    return f"{nbytes / 1024:.2f} KB" if nbytes >= 1024 else f"{nbytes} B"


def summary_text(model, profile=False, batch_size=32):
    rows = model.layer_shapes()
    connected = getattr(model, "connections", None)   # functional models: Keras' "Connected to"
    names = [f"{layer.name} ({type(layer).__name__})" for layer, _, _ in rows]
    widths = (max([WIDTHS[0]] + [len(n) + 2 for n in names]),) + WIDTHS[1:]
    if connected is not None:
        links = [connected(layer) for layer, _, _ in rows]
        widths += (max([CONNECTED_WIDTH] + [len(l) + 2 for ls in links for l in ls]),)
    width = sum(widths)
    header = ("Layer (type)", "Output Shape", "Param #") + (("Connected to",) if connected else ())
    lines = [f'Model: "{model.name}"', "_" * width, _row(header, widths), "=" * width]
    for i, (layer, _, out) in enumerate(rows):
        shapes = "?" if out is None else \
            ", ".join(format_shape(s) for s in out) if is_shape_list(out) else format_shape(out)
        cells = (names[i], shapes, f"{layer.count_params():,}")
        if connected is None:
            lines.append(_row(cells, widths))
        else:   # one line per inbound tensor, as Keras prints them
            lines.append(_row(cells + (links[i][0] if links[i] else "-",), widths))
            lines += [_row(("", "", "", link), widths) for link in links[i][1:]]
        lines.append("=" * width if i == len(rows) - 1 else "_" * width)
    trainable = model.trainable_weights
    ids = {id(w) for w in trainable}
    frozen = [w for w in model.weights if id(w) not in ids]
    n_train = sum(w.data.size for w in trainable)
    n_frozen = sum(w.data.size for w in frozen)
    lines += [f"Total params: {n_train + n_frozen:,} "
              f"({_kb(sum(w.data.nbytes for w in trainable + frozen))})",
              f"Trainable params: {n_train:,} ({_kb(sum(w.data.nbytes for w in trainable))})",
              f"Non-trainable params: {n_frozen:,} ({_kb(sum(w.data.nbytes for w in frozen))})",
              "_" * width]
    if profile:
        lines += ["", profile_text(model, [r for r in rows if r[1] is not None and
                                           not is_shape_list(r[1])], batch_size)]
    return "\n".join(lines)


def _median_time(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def profile_layer(layer, input_shape, batch_size, first, repeats=5):
    """(forward seconds, backward seconds) of `layer` alone on a random batch."""
    shape = (batch_size,) + tuple(input_shape[1:])
    x = np.random.default_rng(0).standard_normal(shape).astype(layer.dtype)
    values = layer.get_weights()     # training-mode calls move BatchNormalization's statistics
    saved = [w.grad for w in layer.weights]
    x_tensor = Tensor(x, requires_grad=not first)
    try:
        layer.call(x_tensor, True)       # warm-up (workspaces, caches)
        forward = _median_time(lambda: layer.call(x_tensor, True), repeats)
        backward_times = []
        for _ in range(repeats):
            y = layer.call(x_tensor, True)
            if not y.requires_grad:
                backward_times.append(0.0)
                continue
            grad = np.ones(y.shape, y.dtype)
            start = time.perf_counter()
            y.backward(grad)
            backward_times.append(time.perf_counter() - start)
    finally:
        for w, g in zip(layer.weights, saved):
            w.grad = g
        layer.set_weights(values)
    return forward, float(np.median(backward_times))


def profile_text(model, rows, batch_size):
    widths = (24, 10, 11, 10, 10, 9, 9)
    header = ("Layer", "MFLOP/smp", "Act. mem", "fwd ms", "bwd ms", "fwd GF/s", "bwd GF/s")
    lines = [f"Profile at batch {batch_size} ({model.dtype.name}, medians of 5 runs):",
             "".join(h.rjust(w) if i else h.ljust(w) for i, (h, w) in enumerate(zip(header, widths)))]
    totals = [0.0, 0.0, 0.0, 0.0]
    for i, (layer, in_shape, out_shape) in enumerate(rows):
        flops = layer.flops(in_shape) if hasattr(layer, "flops") else None
        act = batch_size * int(np.prod(out_shape[1:])) * model.dtype.itemsize
        try:
            fwd, bwd = profile_layer(layer, in_shape, batch_size, first=(i == 0))
        except (TypeError, ValueError):   # e.g. an Embedding, which needs token ids, not noise
            lines.append(f"{layer.name:<{widths[0]}}  (not profiled: needs non-random input)")
            continue
        if flops is not None:
            bwd_flops = flops * ((1 if i == 0 else 2) if layer.weights else 1)
            cells = (f"{flops / 1e6:.2f}", _kb(act), f"{fwd * 1e3:.3f}", f"{bwd * 1e3:.3f}",
                     f"{flops * batch_size / fwd / 1e9:.1f}" if fwd else "-",
                     f"{bwd_flops * batch_size / bwd / 1e9:.1f}" if bwd else "-")
            totals[0] += flops
        else:
            cells = ("-", _kb(act), f"{fwd * 1e3:.3f}", f"{bwd * 1e3:.3f}", "-", "-")
        totals[1] += act
        totals[2] += fwd
        totals[3] += bwd
        lines.append(f"{layer.name:<{widths[0]}}" + "".join(c.rjust(w) for c, w in zip(cells, widths[1:])))
    lines.append(f"{'total':<{widths[0]}}" + "".join(c.rjust(w) for c, w in zip(
        (f"{totals[0] / 1e6:.2f}", _kb(totals[1]), f"{totals[2] * 1e3:.3f}", f"{totals[3] * 1e3:.3f}"),
        widths[1:])))
    return "\n".join(lines)
