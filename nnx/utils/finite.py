"""Refuse training data that holds NaN or infinity, before a single step runs on it.

One NaN in x or y turns the loss, then every weight, into NaN; training would run every epoch to
loss=nan without a word. `fit` and `evaluate` call `require_finite` once per call on each array.

Cost: one `sum` over the array (a NaN or infinity anywhere makes the sum non-finite, by IEEE
arithmetic), about the time of one pass over the data; only when the sum is not finite (bad data, or
a sum that overflowed) does a second pass look for the first bad element.
"""
import numpy as np


def require_finite(who, arrays):
    """Raise ValueError naming the array and the index of its first NaN or infinity.

    `arrays`: (name, array) pairs, e.g. [('x', x), ('validation_data y', y_val)]; non-float arrays
    (integer labels) are skipped."""
    for name, a in arrays:
        if a.dtype.kind not in "fc":
            continue
        with np.errstate(over="ignore", invalid="ignore"):   # inf + -inf, or an overflowing sum
            if np.isfinite(a.sum()):
                continue
        bad = ~np.isfinite(a)
        if bad.any():   # else: the sum overflowed, every element is finite
            index = np.unravel_index(int(np.argmax(bad)), a.shape)
            value = a[index]
            raise ValueError(f"{who}: {name} contains {value} at index {tuple(int(i) for i in index)} "
                             f"(its first non-finite value); clean the data, or pass "
                             f"check_finite=False to train on it anyway")
