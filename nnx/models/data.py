"""The samples `fit`, `evaluate` and `predict` iterate over, and the one place that cuts them into
batches: `ArrayData` for arrays, `BatchStream` for an `nnx.data.Dataset` or any iterable or generator
of batches.

Inputs and targets are lists of NumPy arrays (one per model input / output); sample weights are a list
of per-sample weight arrays (one per output) or None. Every source yields, per step,
`(xs batch, ys batch or None, sample weights or None)`.

ArrayData: per epoch `batches` draws one permutation (when shuffling) and then gathers the rows of
every array for that step; the last batch may be partial, as in Keras. `class_weight` becomes sample
weights once, for the whole array (Keras 3's class_weight_to_sample_weights, vectorised).
BatchStream: each batch is `x`, `(x,)`, `(x, y)` or `(x, y, sample_weight)` (Keras' convention), with
x and y structured as for arrays; `convert` (given by the model) checks and casts each one, so a
stream costs a few checks per batch on top of what the arrays cost.
"""
import math

import numpy as np

from nnx.random import get_rng


def class_weight_to_sample_weights(y, class_weight, who="fit"):
    """Per-sample weights `class_weight[label]` (1.0 for classes not listed). Labels: integer ids,
    or the argmax of one-hot rows, or rounded (N, 1) probabilities, as Keras reads them."""
    y = np.asarray(y)
    if not isinstance(class_weight, dict) or not all(
            isinstance(k, (int, np.integer)) and not isinstance(k, bool) for k in class_weight):
        raise TypeError(f"{who}: class_weight must be a dict {{class index: weight}}, got "
                        f"{class_weight!r}")
    if y.ndim > 1:
        y = np.argmax(y, axis=-1) if y.shape[-1] != 1 else y[..., 0]
    if y.ndim != 1:
        raise ValueError(f"{who}: class_weight needs one label per sample, got targets of shape "
                         f"{y.shape}")
    labels = np.round(y).astype(np.int64)
    weights = np.ones(len(labels), np.float32)
    for label, weight in class_weight.items():
        weights[labels == label] = weight
    return weights


class ArrayData:
    """Samples as lists of arrays: `xs` (one per input), `ys` (one per output, or None) and `sws`
    (per-output sample weights, or None)."""

    def __init__(self, xs, ys=None, sws=None):
        self.xs, self.ys = list(xs), (None if ys is None else list(ys))
        self.sws = None if sws is None else list(sws)

    def __len__(self):
        return len(self.xs[0])

    def named_arrays(self, prefix=""):
        """(name, array) pairs for messages: 'x' and 'y', or 'x[0]', 'x[1]', ... for several."""
        pairs = []
        for letter, arrays in (("x", self.xs), ("y", self.ys or [])):
            for i, a in enumerate(arrays):
                pairs.append((f"{prefix}{letter}" if len(arrays) == 1 else f"{prefix}{letter}[{i}]", a))
        return pairs

    def steps(self, batch_size):
        return math.ceil(len(self) / batch_size)

    def split(self, index):
        """(the first `index` samples, the rest): Keras' validation_split takes the last part."""
        def part(arrays, sl):
            return None if arrays is None else [a[sl] for a in arrays]
        head, tail = slice(None, index), slice(index, None)
        return (ArrayData(part(self.xs, head), part(self.ys, head), part(self.sws, head)),
                ArrayData(part(self.xs, tail), part(self.ys, tail), part(self.sws, tail)))

    def batches(self, batch_size, shuffle=False):
        """Yield (xs, ys or None, sws or None) per step, over a fresh permutation when shuffling."""
        n = len(self)
        order = get_rng().permutation(n) if shuffle else None
        ys, sws = self.ys, self.sws
        for lo in range(0, n, batch_size):
            hi = min(lo + batch_size, n)
            if order is None:
                take = slice(lo, hi)
                yield ([a[take] for a in self.xs], None if ys is None else [a[take] for a in ys],
                       None if sws is None else [a[take] for a in sws])
            else:
                index = order[lo:hi]
                yield ([a.take(index, axis=0) for a in self.xs],
                       None if ys is None else [a.take(index, axis=0) for a in ys],
                       None if sws is None else [a.take(index, axis=0) for a in sws])


class BatchStream:
    """Batches from a Dataset, a list of batches or a generator; `convert(batch, index)` turns one
    into (xs, ys, sws). A generator can be iterated once: later epochs find it exhausted."""

    def __init__(self, source, convert):
        self.source, self.convert = source, convert

    def steps(self, batch_size=None):
        """The number of batches when known (a Dataset of known cardinality), else None."""
        cardinality = getattr(self.source, "cardinality", None)
        n = cardinality() if callable(cardinality) else -2
        return n if n >= 0 else None

    def batches(self, batch_size=None, shuffle=False):
        for index, batch in enumerate(self.source):
            yield self.convert(batch, index)


def is_batch_source(x):
    """A Dataset, generator or other iterable of batches (not an array, nor a list, tuple or dict
    of arrays: those mean several inputs)."""
    from nnx.data import Dataset
    from nnx.tensor import Tensor
    if isinstance(x, Dataset):
        return True
    if isinstance(x, (np.ndarray, Tensor, dict, list, tuple, str, bytes)) or x is None:
        return False
    return hasattr(x, "__iter__") or hasattr(x, "__next__")
