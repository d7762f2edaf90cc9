"""What every explanation method shares: checking inputs and targets, evaluating a model or a callable
on many rows in chunks, and batched input gradients.

A "model" here is an nnx model or any callable `x -> outputs`. Gradient methods call it on a Tensor
that requires grad and need a Tensor back; perturbation methods (occlusion, LIME) only need outputs,
so they accept NumPy-returning callables too and evaluate through `predict` for nnx models.
"""
import contextlib

import numpy as np

from nnx.autograd import enable_grad, no_grad
from nnx.random import get_rng
from nnx.tensor import Tensor, as_array

DEFAULT_BATCH_SIZE = 256     # rows per forward pass: bounds the memory of the expanded inputs


def is_nnx_model(model):
    from nnx.models.training import BaseModel
    return isinstance(model, BaseModel)


def check_callable(op, model):
    if not callable(model):
        raise TypeError(f"{op}: expected an nnx model or a callable x -> outputs, got "
                        f"{type(model).__name__}")


def check_batch_size(op, batch_size):
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"{op}: batch_size must be a positive int, got {batch_size!r}")
    return int(batch_size)


def as_input_batch(op, model, x, min_rank=2):
    """x as a float ndarray with a batch axis (the model's dtype for nnx models)."""
    x = as_array(x, op=op)
    if x.ndim < min_rank:
        raise ValueError(f"{op}: x must be a batch of rank >= {min_rank} (samples first), "
                         f"got shape {x.shape}")
    if len(x) == 0:
        raise ValueError(f"{op}: x is an empty batch (shape {x.shape})")
    dtype = model.dtype if is_nnx_model(model) else (x.dtype if x.dtype.kind == "f" else np.float32)
    return np.ascontiguousarray(x, dtype=dtype)


def rng_for(seed):
    """A generator from `seed`, or nnx's global one (so `nnx.manual_seed` makes results repeatable)."""
    return get_rng() if seed is None else np.random.default_rng(seed)


def _outputs_2d(op, out, n):
    out = out.reshape(n, -1) if out.ndim != 2 else out
    if out.shape[0] != n:
        raise ValueError(f"{op}: the model returned {out.shape[0]} rows for a batch of {n}")
    return out


def evaluate(op, model, rows):
    """The model's outputs for a batch of rows, as an (n, K) NumPy array (no graph recorded)."""
    if is_nnx_model(model):
        out = model.predict(rows, batch_size=max(len(rows), 1), verbose=0)
    else:
        with no_grad():
            out = model(rows)
        out = np.asarray(out.data if isinstance(out, Tensor) else out)
    return _outputs_2d(op, out, len(rows))


def evaluate_rows(op, model, n_rows, make_rows, batch_size):
    """Outputs for `n_rows` inputs built chunk by chunk with `make_rows(start, stop)`: (n_rows, K)."""
    return np.concatenate([evaluate(op, model, make_rows(start, min(start + batch_size, n_rows)))
                           for start in range(0, n_rows, batch_size)])


def resolve_targets(op, target, outputs):
    """Class index per sample: `target` checked against the outputs, default their argmax."""
    n, classes = outputs.shape
    if target is None:
        return np.argmax(outputs, axis=1)
    t = np.asarray(target)
    if t.dtype.kind not in "iu" or t.ndim > 1:
        raise TypeError(f"{op}: target must be an int or one int class index per sample, got "
                        f"{t.dtype} of shape {t.shape}")
    t = np.broadcast_to(t, (n,)) if t.ndim == 0 else t
    if t.shape != (n,):
        raise ValueError(f"{op}: target has {t.shape[0]} entries for a batch of {n} samples")
    if np.any(t < 0) or np.any(t >= classes):
        raise ValueError(f"{op}: target must lie in [0, {classes}) for outputs of shape "
                         f"{outputs.shape}, got values from {t.min()} to {t.max()}")
    return t.astype(np.intp)


def prepare(op, model, x, target, batch_size, min_rank=2):
    """Check the common arguments; returns (x, targets, batch_size, the model's outputs for x)."""
    check_callable(op, model)
    batch_size = check_batch_size(op, batch_size)
    x = as_input_batch(op, model, x, min_rank)
    outputs = evaluate_rows(op, model, len(x), lambda a, b: x[a:b], batch_size)
    return x, resolve_targets(op, target, outputs), batch_size, outputs


@contextlib.contextmanager
def weight_grads_preserved(model):
    """An explanation's backward pass must not leave gradients in the model's weights."""
    weights = list(model.weights) if is_nnx_model(model) else []
    saved = [w.grad for w in weights]
    try:
        yield
    finally:
        for w, g in zip(weights, saved):
            w.grad = g


def selected_output_sum(op, out, targets):
    """sum_i out[i, target_i] as a scalar Tensor: one backward for the whole chunk."""
    if not isinstance(out, Tensor) or not out.requires_grad:
        raise TypeError(f"{op}: gradient methods need an nnx model or a callable on nnx Tensors that "
                        f"returns a Tensor connected to its input; got {type(out).__name__}"
                        + ("" if not isinstance(out, Tensor) else " without a graph"))
    n = len(targets)
    out = out.reshape(n, -1) if out.ndim != 2 else out
    return out[np.arange(n), targets].sum()


def input_gradients(op, model, n_rows, make_rows, batch_size):
    """d out[r, target_r] / d row_r for `n_rows` rows made by `make_rows(start, stop) -> (rows,
    targets)`, chunk by chunk: one forward and one backward per chunk. Yields (start, stop, grads)."""
    with weight_grads_preserved(model), enable_grad():
        for start in range(0, n_rows, batch_size):
            stop = min(start + batch_size, n_rows)
            rows, targets = make_rows(start, stop)
            leaf = Tensor(rows, requires_grad=True)
            selected_output_sum(op, model(leaf), targets).backward()
            yield start, stop, np.asarray(leaf.grad, dtype=rows.dtype)
