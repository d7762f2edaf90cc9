"""`model.summary()`: Keras' table (layer (type), output shape, parameter count, totals), and with
`profile=True` a per-layer cost table measured on this machine:

- FLOPs per sample: the layer's `flops(input_shape)` (2 per multiply-add), '-' where not defined;
- activation memory: the output of the layer for the whole batch, in the model's dtype; "kept" is
  what a training-mode call of the layer leaves allocated until its backward pass (the output plus
  what the backward needs, e.g. pooling's argmax indices), measured with tracemalloc;
- forward and backward times: median of a few runs of that layer alone on a random batch
  (training=True, gradient of a random output gradient); GFLOP/s from those times, counting the
  backward pass of a layer with weights as twice its forward FLOPs (input and weight gradients; the
  first layer needs no input gradient, so once), and once for layers without weights.

Below the table, one training step of the whole model at that batch: its FLOPs (forward + backward),
the time and GFLOP/s from the per-layer medians, and its memory: activations kept for the backward
pass and the peak above the starting point during forward + backward (both measured on the whole
model), and the weights, their gradients and the optimizer's slots.
"""
import contextlib
import time
import tracemalloc

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


@contextlib.contextmanager
def _allocations():
    """Measure NumPy/Python allocations in the block: yields a dict that gets 'held' (bytes still
    allocated at the end) and 'peak' (the most allocated at once), both above the starting point."""
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    sizes = {}
    try:
        yield sizes
        current, peak = tracemalloc.get_traced_memory()
        sizes.update(held=current - base, peak=peak - base)
    finally:
        if started:
            tracemalloc.stop()


@contextlib.contextmanager
def _state_restored(layer):
    """Training-mode calls move BatchNormalization's statistics and backward fills .grad: undo both."""
    values = layer.get_weights()
    saved = [w.grad for w in layer.weights]
    try:
        yield
    finally:
        for w, g in zip(layer.weights, saved):
            w.grad = g
        layer.set_weights(values)


def _random_batch(layer, input_shape, batch_size):
    shape = (batch_size,) + tuple(input_shape[1:])
    return np.random.default_rng(0).standard_normal(shape).astype(layer.dtype)


def profile_layer(layer, input_shape, batch_size, first, repeats=5):
    """(forward seconds, backward seconds, bytes kept for the backward) of `layer` alone on a random
    batch."""
    x_tensor = Tensor(_random_batch(layer, input_shape, batch_size), requires_grad=not first)
    with _state_restored(layer):
        layer.call(x_tensor, True)       # warm-up (workspaces, caches)
        with _allocations() as kept:
            y = layer.call(x_tensor, True)
        del y
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
    return forward, float(np.median(backward_times)), kept["held"]


def training_step_memory(model, input_shape, batch_size):
    """(bytes the forward pass keeps for the backward, peak bytes during forward + backward, weight
    gradients included) of one training step of the whole model on a random batch (tracemalloc)."""
    x = Tensor(_random_batch(model, input_shape, batch_size))

    def step():
        y = model.forward(x, training=True)
        kept = tracemalloc.get_traced_memory()[0] if tracemalloc.is_tracing() else 0
        if y.requires_grad:
            y.backward(np.ones(y.shape, y.dtype))
        return kept

    with _state_restored(model):
        step()                                   # warm-up: kernel workspaces, caches
        for w in model.weights:
            w.grad = None
        with _allocations() as sizes:
            base = tracemalloc.get_traced_memory()[0]
            kept = step() - base
    return kept, sizes["peak"]


def _flop_text(flops):
    for unit, scale in (("GFLOP", 1e9), ("MFLOP", 1e6), ("kFLOP", 1e3)):
        if flops >= scale:
            return f"{flops / scale:.3f} {unit}"
    return f"{flops:.0f} FLOP"


def _optimizer_slots(model):
    """Arrays the compiled optimizer keeps per weight (Adam: momentum and velocity), 0 if none."""
    specs = getattr(model.optimizer, "_slot_specs", None)
    return len(specs()) if specs is not None else 0


def layer_flops(layer, input_shape, first):
    """(forward, backward) FLOPs per sample of a layer, or None where the layer does not define
    them; the backward counts input and weight gradients (the first layer has no input gradient)."""
    flops = layer.flops(input_shape) if hasattr(layer, "flops") else None
    if flops is None:
        return None
    return flops, flops * ((1 if first else 2) if layer.weights else 1)


def profile_text(model, rows, batch_size):
    widths = (24, 10, 11, 11, 10, 10, 9, 9)
    header = ("Layer", "MFLOP/smp", "Act. mem", "Kept mem", "fwd ms", "bwd ms", "fwd GF/s", "bwd GF/s")
    lines = [f"Profile at batch {batch_size} ({model.dtype.name}, medians of 5 runs):",
             "".join(h.rjust(w) if i else h.ljust(w) for i, (h, w) in enumerate(zip(header, widths)))]
    fwd_flops = bwd_flops = act_total = kept_total = fwd_total = bwd_total = 0.0
    for i, (layer, in_shape, out_shape) in enumerate(rows):
        flops = layer_flops(layer, in_shape, first=(i == 0))
        act = batch_size * int(np.prod(out_shape[1:])) * model.dtype.itemsize
        try:
            fwd, bwd, kept = profile_layer(layer, in_shape, batch_size, first=(i == 0))
        except (TypeError, ValueError):   # e.g. an Embedding, which needs token ids, not noise
            lines.append(f"{layer.name:<{widths[0]}}  (not profiled: needs non-random input)")
            continue
        memory = (_kb(act), _kb(max(kept, 0)), f"{fwd * 1e3:.3f}", f"{bwd * 1e3:.3f}")
        if flops is not None:
            flops, layer_bwd = flops
            cells = (f"{flops / 1e6:.2f}",) + memory + (
                f"{flops * batch_size / fwd / 1e9:.1f}" if fwd else "-",
                f"{layer_bwd * batch_size / bwd / 1e9:.1f}" if bwd else "-")
            fwd_flops += flops
            bwd_flops += layer_bwd
        else:
            cells = ("-",) + memory + ("-", "-")
        act_total += act
        kept_total += max(kept, 0)
        fwd_total += fwd
        bwd_total += bwd
        lines.append(f"{layer.name:<{widths[0]}}" + "".join(c.rjust(w) for c, w in zip(cells, widths[1:])))
    lines.append(f"{'total':<{widths[0]}}" + "".join(c.rjust(w) for c, w in zip(
        (f"{fwd_flops / 1e6:.2f}", _kb(act_total), _kb(kept_total), f"{fwd_total * 1e3:.3f}",
         f"{bwd_total * 1e3:.3f}"), widths[1:])))
    lines += ["", *training_step_text(model, rows, batch_size, fwd_flops, bwd_flops, fwd_total + bwd_total)]
    return "\n".join(lines)


def training_step_text(model, rows, batch_size, fwd_flops, bwd_flops, seconds):
    """The per-training-step summary lines below the profile table."""
    step_flops = (fwd_flops + bwd_flops) * batch_size
    weights = sum(w.data.nbytes for w in model.weights)
    trainable = sum(w.data.nbytes for w in model.trainable_weights)
    slots = _optimizer_slots(model)
    lines = [f"One training step at batch {batch_size}:",
             f"  FLOPs: {_flop_text(step_flops)} (forward {_flop_text(fwd_flops * batch_size)}, "
             f"backward {_flop_text(bwd_flops * batch_size)})"]
    if seconds:
        lines.append(f"  time: {seconds * 1e3:.2f} ms over the layers ({step_flops / seconds / 1e9:.1f} GFLOP/s)")
    try:
        kept, peak = training_step_memory(model, rows[0][1], batch_size)
    except (TypeError, ValueError):
        lines.append("  memory: not measured (the model needs non-random input)")
        return lines
    lines += [f"  memory: activations kept for the backward {_kb(kept)}; peak during forward + backward "
              f"{_kb(peak)} (measured)",
              f"          weights {_kb(weights)} + gradients {_kb(trainable)} + optimizer state "
              f"{_kb(slots * trainable)} ({slots} slot{'s' if slots != 1 else ''} per weight)"]
    return lines
