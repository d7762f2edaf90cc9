"""Step-by-step NumPy reference of Keras' SimpleRNN, LSTM and GRU, written straight from the equations
(one sample row at a time, no fused tricks), used by the recurrent tests."""
import numpy as np

ACT = {"tanh": np.tanh, "sigmoid": lambda x: 1 / (1 + np.exp(-x)), "relu": lambda x: np.maximum(x, 0),
       "linear": lambda x: x, "hard_sigmoid": lambda x: np.clip(x / 6 + 0.5, 0, 1)}


def step(kind, x, states, W, U, b, act, ract, reset_after):
    f_act, f_ract = ACT[act], ACT[ract]
    u = U.shape[0]
    if kind == "simple_rnn":
        h = f_act(x @ W + states[0] @ U + (0 if b is None else b))
        return [h]
    if kind == "lstm":
        h, c = states
        z = x @ W + h @ U + (0 if b is None else b)
        i, f, g, o = (z[k * u:(k + 1) * u] for k in range(4))
        c = f_ract(f) * c + f_ract(i) * f_act(g)
        return [f_ract(o) * f_act(c), c]
    h = states[0]
    if reset_after:
        bi, br = (np.zeros(3 * u), np.zeros(3 * u)) if b is None else (b[0], b[1])
        xw, hu = x @ W + bi, h @ U + br
        z = f_ract(xw[:u] + hu[:u])
        r = f_ract(xw[u:2 * u] + hu[u:2 * u])
        hh = f_act(xw[2 * u:] + r * hu[2 * u:])
    else:
        bi = np.zeros(3 * u) if b is None else b
        xw = x @ W + bi
        z = f_ract(xw[:u] + h @ U[:, :u])
        r = f_ract(xw[u:2 * u] + h @ U[:, u:2 * u])
        hh = f_act(xw[2 * u:] + (r * h) @ U[:, 2 * u:])
    return [z * h + (1 - z) * hh]


def run(kind, x, W, U, b, initial, mask=None, go_backwards=False, act="tanh", ract="sigmoid",
        reset_after=True):
    """Returns (outputs (N, T, U) in processing order, list of final states)."""
    n, steps, _ = x.shape
    u = U.shape[0]
    outs = np.zeros((n, steps, u))
    finals = [np.zeros((n, u)) for _ in initial]
    for s in range(n):
        states = [a[s].copy() for a in initial]
        y = np.zeros(u)
        order = range(steps - 1, -1, -1) if go_backwards else range(steps)
        for k, t in enumerate(order):
            if mask is None or mask[s, t]:
                states = step(kind, x[s, t], states, W, U, b, act, ract, reset_after)
                y = states[0]
            outs[s, k] = y
        for a, v in zip(finals, states):
            a[s] = v
    return outs, finals
