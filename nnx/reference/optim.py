"""The Adam update in NumPy: the readable version of csrc/optim.c, and the path for weights the
compiled kernel does not take (float16).

Keras 3's rule (keras/src/optimizers/adam.py), in place on w, m, v (and v_hat, amsgrad's running
maximum of v; None without amsgrad), with alpha = lr*sqrt(1 - beta_2^t)/(1 - beta_1^t) (weight
decay, if any, is applied before):

    m += (g - m) * (1 - beta_1)
    v += (g*g - v) * (1 - beta_2)
    v_hat = max(v_hat, v)                         (then used in place of v)
    w -= (m * alpha) / (sqrt(v) + epsilon)

Each line is a few ufuncs in w's dtype, in this order, so the compiled kernel, which does the same
operations per element, matches it bit for bit.
"""
import numpy as np


def adam_update(w, g, m, v, v_hat, alpha, beta_1, beta_2, epsilon):
    """One Adam step of weight w from gradient g, in place; returns None."""
    g = np.asarray(g, dtype=w.dtype)
    m += (g - m) * (1.0 - beta_1)
    v += (np.square(g) - v) * (1.0 - beta_2)
    if v_hat is not None:
        np.maximum(v_hat, v, out=v_hat)
        v = v_hat
    w -= (m * alpha) / (np.sqrt(v) + epsilon)
