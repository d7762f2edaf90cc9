"""`ArrayData`: the samples `fit`, `evaluate` and `predict` iterate over, and the one place that cuts
them into batches.

Inputs and targets are lists of NumPy arrays (one per model input / output), all with the same number
of samples. Per epoch `batches` draws one permutation (when shuffling) and then yields, per step, the
rows of every array for that step; the last batch may be partial, as in Keras.
"""
import math

from nnx.random import get_rng


class ArrayData:
    """Samples as lists of arrays: `xs` (one per input) and `ys` (one per output, or None)."""

    def __init__(self, xs, ys=None):
        self.xs, self.ys = list(xs), (None if ys is None else list(ys))

    def __len__(self):
        return len(self.xs[0])

    def steps(self, batch_size):
        return math.ceil(len(self) / batch_size)

    def named_arrays(self, prefix=""):
        """(name, array) pairs for messages: 'x' and 'y', or 'x[0]', 'x[1]', ... for several."""
        pairs = []
        for letter, arrays in (("x", self.xs), ("y", self.ys or [])):
            for i, a in enumerate(arrays):
                pairs.append((f"{prefix}{letter}" if len(arrays) == 1 else f"{prefix}{letter}[{i}]", a))
        return pairs

    def split(self, index):
        """(the first `index` samples, the rest): Keras' validation_split takes the last part."""
        def part(arrays, sl):
            return None if arrays is None else [a[sl] for a in arrays]
        head, tail = slice(None, index), slice(index, None)
        return (ArrayData(part(self.xs, head), part(self.ys, head)),
                ArrayData(part(self.xs, tail), part(self.ys, tail)))

    def batches(self, batch_size, shuffle=False):
        """Yield (xs batch, ys batch or None) per step, over a fresh permutation when shuffling."""
        n = len(self)
        order = get_rng().permutation(n) if shuffle else None
        for lo in range(0, n, batch_size):
            hi = min(lo + batch_size, n)
            if order is None:
                take = slice(lo, hi)
                xb = [a[take] for a in self.xs]
                yb = None if self.ys is None else [a[take] for a in self.ys]
            else:
                index = order[lo:hi]
                xb = [a.take(index, axis=0) for a in self.xs]
                yb = None if self.ys is None else [a.take(index, axis=0) for a in self.ys]
            yield xb, yb
