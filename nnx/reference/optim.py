"""The Adam update in NumPy: the readable version of csrc/optim.c.

Keras 3's rule (keras/src/optimizers/adam.py), in place on w, m, v (and v_hat, amsgrad's running
maximum of v; None without amsgrad), with alpha = lr*sqrt(1 - beta_2^t)/(1 - beta_1^t) (weight
decay, if any, is applied before):

    m += (g - m) * (1 - beta_1)
    v += (g*g - v) * (1 - beta_2)
    v_hat = max(v_hat, v)                         (then used in place of v)
    w -= m / (sqrt(v) + epsilon) * alpha         (Keras: (m * alpha) / ..., the same to rounding)

Each line is a few ufuncs, in this order, in float32 (float64 for float64 weights; float16 arrays
are computed in float32 and written back), so the compiled kernel, which does the same operations
per element, matches it bit for bit. w, g, m, v (and v_hat) may also be lists of arrays, one entry per
weight: the weights are updated in turn, as the compiled kernel does in one call.
"""
import numpy as np

from nnx.reference.epilogue import _dtype


def adam_update(w, g, m, v, v_hat, alpha, beta_1, beta_2, epsilon):
    """One Adam step of weight w from gradient g (or of each weight of the lists), in place; returns
    None."""
    if isinstance(w, (list, tuple)):
        for one in zip(w, g, m, v, [None] * len(w) if v_hat is None else v_hat):
            adam_update(*one, alpha, beta_1, beta_2, epsilon)
        return
    dt = _dtype("adam_update", [("w", w)])
    arrays = [w, m, v] + ([] if v_hat is None else [v_hat])
    work = [a if a.dtype == dt else a.astype(dt) for a in arrays]
    ww, mw, vw = work[:3]
    g = np.asarray(g, dtype=dt)
    mw += (g - mw) * (1.0 - beta_1)
    vw += (np.square(g) - vw) * (1.0 - beta_2)
    if v_hat is not None:
        np.maximum(work[3], vw, out=work[3])
        vw = work[3]
    ww -= mw / (np.sqrt(vw) + epsilon) * alpha
    for a, b in zip(arrays, work):
        if a is not b:
            a[...] = b
