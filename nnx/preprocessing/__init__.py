"""Data preparation: scaling, one-hot labels, train/test splits; text tools in
`nnx.preprocessing.text`.

All functions work on NumPy arrays (lists are accepted) and never modify their input.
"""
import math

import numpy as np

from nnx.preprocessing import text  # noqa: F401
from nnx.preprocessing.text import Tokenizer, pad_sequences  # noqa: F401
from nnx.random import get_rng


def _float_array(x, op):
    x = np.asarray(x)
    if x.dtype.kind not in "fiub":
        raise TypeError(f"{op}: expected numbers, got dtype {x.dtype}")
    if x.size == 0:
        raise ValueError(f"{op}: got an empty array (shape {x.shape})")
    return x, (x.dtype if x.dtype.kind == "f" else np.dtype(np.float32))


def standardize(x, axis=None):
    """(x - mean) / std over `axis` (None: the whole array): zero mean, unit variance.

    Float inputs keep their dtype, others become float32. Where the data is constant (its std is
    zero, or only rounding noise next to its mean) the result is 0 rather than a division by ~0.
    Statistics accumulate in float64, without a float64 copy of x."""
    x, dtype = _float_array(x, "standardize")
    mean = x.mean(axis=axis, dtype=np.float64, keepdims=True)
    std = x.std(axis=axis, dtype=np.float64, keepdims=True)
    constant = std <= 8 * np.finfo(dtype).eps * np.abs(mean)
    out = x - mean.astype(dtype)
    out /= np.where(constant, 1.0, std).astype(dtype)
    out[np.broadcast_to(constant, out.shape)] = 0
    return out.astype(dtype, copy=False)


def normalize(x, axis=None):
    """Min-max scaling to [0, 1] over `axis` (None: the whole array); a constant range maps to 0.

    Float inputs keep their dtype, others become float32."""
    x, dtype = _float_array(x, "normalize")
    low = x.min(axis=axis, keepdims=True).astype(dtype)
    span = x.max(axis=axis, keepdims=True).astype(dtype) - low
    span[span == 0] = 1
    out = x - low
    out /= span
    return out.astype(dtype, copy=False)


def to_categorical(y, num_classes=None, dtype="float32"):
    """One-hot encode integer class labels (Keras semantics): shape y.shape + (num_classes,),
    where a trailing axis of 1 in y is dropped first; num_classes defaults to max(y) + 1."""
    op = "to_categorical"
    y = np.asarray(y)
    if y.dtype.kind == "f":
        if not (np.all(np.isfinite(y)) and np.all(y == np.round(y))):
            raise ValueError(f"{op}: labels must be integers, got non-integer values")
    elif y.dtype.kind not in "iub":
        raise TypeError(f"{op}: labels must be integers, got dtype {y.dtype}")
    shape = y.shape
    if len(shape) > 1 and shape[-1] == 1:
        shape = shape[:-1]
    y = y.astype(np.int64).ravel()
    if num_classes is None:
        if y.size == 0:
            raise ValueError(f"{op}: cannot infer num_classes from empty labels; pass num_classes")
        num_classes = int(y.max()) + 1
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) \
            or num_classes < 1:
        raise ValueError(f"{op}: num_classes must be a positive int, got {num_classes!r}")
    if y.size and (y.min() < 0 or y.max() >= num_classes):
        raise ValueError(f"{op}: labels must lie in [0, {num_classes}), got values in "
                         f"[{y.min()}, {y.max()}]")
    out = np.zeros((y.size, int(num_classes)), dtype=dtype)
    out[np.arange(y.size), y] = 1
    return out.reshape(shape + (int(num_classes),))


def train_test_split(*arrays, test_size=0.25, shuffle=True, seed=None, stratify=None):
    """Split arrays (or lists) of equal length into train and test parts, scikit-learn style:
    returns [a_train, a_test, b_train, b_test, ...].

    test_size: a fraction in [0, 1) (the test part gets ceil(fraction * n) samples) or a count.
    shuffle: shuffle before splitting (False: the last samples form the test part).
    seed: an int for a split of its own, or None to draw from `nnx.random.get_rng()` (reproducible
    under `nnx.manual_seed`). stratify: labels (one per sample); each label's group contributes
    round(fraction * group size) test samples, so both parts keep the label proportions."""
    op = "train_test_split"
    if not arrays:
        raise ValueError(f"{op}: give at least one array")
    lengths = [len(a) for a in arrays]
    n = lengths[0]
    if any(length != n for length in lengths):
        raise ValueError(f"{op}: all arrays must have the same length, got lengths {lengths}")
    if n == 0:
        raise ValueError(f"{op}: the arrays are empty")
    fraction = _test_fraction(test_size, n, op)
    rng = get_rng() if seed is None else np.random.default_rng(seed)
    if stratify is not None:
        if not shuffle:
            raise ValueError(f"{op}: stratify needs shuffle=True")
        groups = np.asarray(stratify)
        if groups.shape != (n,):
            raise ValueError(f"{op}: stratify must hold one label per sample, shape ({n},); got "
                             f"shape {groups.shape}")
        _, group_ids = np.unique(groups, return_inverse=True)
        train, test = [], []
        for g in range(group_ids.max() + 1):
            members = rng.permutation(np.flatnonzero(group_ids == g))
            n_test = int(round(len(members) * fraction))
            test.append(members[:n_test])
            train.append(members[n_test:])
        train = rng.permutation(np.concatenate(train))
        test = rng.permutation(np.concatenate(test))
    else:
        n_test = int(test_size) if isinstance(test_size, (int, np.integer)) else \
            math.ceil(fraction * n)
        if n_test >= n:
            raise ValueError(f"{op}: test_size {test_size} leaves no training sample of {n}")
        order = rng.permutation(n) if shuffle else np.arange(n)
        train, test = order[:n - n_test], order[n - n_test:]
    result = []
    for a in arrays:
        result.extend((_take(a, train), _take(a, test)))
    return result


def _test_fraction(test_size, n, op):
    if isinstance(test_size, bool):
        raise TypeError(f"{op}: test_size must be a float fraction or an int count, got a bool")
    if isinstance(test_size, (int, np.integer)):
        if not 0 <= test_size < n:
            raise ValueError(f"{op}: test_size {test_size} must leave at least one training sample "
                             f"of {n}")
        return test_size / n
    if isinstance(test_size, (float, np.floating)) and 0.0 <= test_size < 1.0:
        return float(test_size)
    raise ValueError(f"{op}: test_size must be a fraction in [0, 1) or a count, got {test_size!r}")


def _take(a, index):
    if isinstance(a, np.ndarray):
        return a[index]
    if isinstance(a, list):
        return [a[i] for i in index]
    return np.asarray(a)[index]
