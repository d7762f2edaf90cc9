"""Integer labels and ids: one check for every loss, metric and op that takes class indices or token ids.

Accepted: integer and bool arrays, and floats that hold whole numbers (labels often arrive as float32
from a data pipeline). Returned as intp arrays, ready for indexing. Every message names the caller
(`who`: the loss, metric or op), the argument and its shape, and the offending values.
"""
import numpy as np

from nnx.tensor import Tensor


def integer_indices(values, who, name, what="indices"):
    """`values` (array-like or Tensor) as an intp array, if every value is a whole number. `name` is the
    argument's name and `what` what its values are, for the messages."""
    indices = np.asarray(values.data if isinstance(values, Tensor) else values)
    if indices.dtype.kind == "f":
        if not (np.all(np.isfinite(indices)) and np.all(indices == np.round(indices))):
            raise ValueError(f"{who}: {name} must hold integer {what} (whole numbers), got non-integer values "
                             f"(shape {indices.shape})")
    elif indices.dtype.kind not in "iub":
        raise TypeError(f"{who}: {name} must hold integer {what}, got dtype {indices.dtype}")
    return indices.astype(np.intp, copy=False)


def class_labels(values, scores_shape, who, name="labels", scores="y_pred", checked=False):
    """Integer class labels for scores of shape `scores_shape` (batch..., K): labels of the batch
    shape, or of the batch shape plus a trailing axis of 1 (dropped), each in [0, K). `name` and
    `scores` are what the caller calls the two arguments. checked=True: `values` are (part of) labels
    that passed this check before (Model.fit checks its targets once, not every batch): only
    converted."""
    batch = tuple(scores_shape[:-1])
    if checked:
        return np.asarray(values.data if isinstance(values, Tensor) else values).reshape(batch).astype(
            np.intp, copy=False)
    labels = integer_indices(values, who, name, "class indices")
    if labels.shape == batch + (1,):
        labels = labels.reshape(batch)
    if labels.shape != batch:
        raise ValueError(f"{who}: {name} shape {labels.shape} does not match {scores} shape "
                         f"{tuple(scores_shape)}; expected integer labels of shape {batch}")
    k = scores_shape[-1]
    if labels.size and (labels.min() < 0 or labels.max() >= k):
        raise ValueError(f"{who}: labels must lie in [0, {k}) for {scores} shape {tuple(scores_shape)}, "
                         f"got values in [{labels.min()}, {labels.max()}]")
    return labels
