"""One LSTM step's elementwise work in NumPy: the readable version of csrc/lstm.c.

z and gates are (N, 4U) with Keras' gate blocks i, f, g (the candidate cell), o; states are (N, U).
    forward   i, f, o = sigmoid(z_i, z_f, z_o),  g = tanh(z_g),  c = f*c_prev + i*g,  h = o*tanh(c)
    backward  dct = dc + dh*o*(1 - tc²);  dz = (dct*g*i(1-i), dct*c_prev*f(1-f), dct*i*(1-g²),
              dh*tc*o(1-o));  dc_prev = dct*f
"""
import numpy as np

from nnx.reference.epilogue import _dtype


def _rows_units(kernel, what, a):
    if a.ndim != 2 or a.shape[1] % 4:
        raise ValueError(f"{kernel}: expected {what} of shape (N, 4*units), got shape {a.shape}")
    return a.shape[0], a.shape[1] // 4


def _check_states(kernel, expected, named):
    for name, a in named:
        if a.shape != expected:
            raise ValueError(f"{kernel}: {name} has shape {a.shape}, expected {expected} (N, units)")


def _sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))   # = 1 / (1 + e^-x), without overflow


def lstm_cell_forward(z, c_prev):
    """(gates, h, c, tc) of one LSTM step from its gate pre-activations z and c_prev."""
    kernel = "lstm_cell_forward"
    dt = _dtype(kernel, [("z", z), ("c_prev", c_prev)])
    n, u = _rows_units(kernel, "z", z)
    _check_states(kernel, (n, u), [("c_prev", c_prev)])
    z, c_prev = z.astype(dt), c_prev.astype(dt)
    gates = np.concatenate([_sigmoid(z[:, :2 * u]), np.tanh(z[:, 2 * u:3 * u]), _sigmoid(z[:, 3 * u:])],
                           axis=1)
    i, f, g, o = (gates[:, k * u:(k + 1) * u] for k in range(4))
    c = f * c_prev + i * g
    tc = np.tanh(c)
    return gates, o * tc, c, tc


def lstm_cell_backward(gates, c_prev, tc, dh, dc):
    """(dz, dc_prev) of one LSTM step from dh, dc and the forward's gates, c_prev, tc."""
    kernel = "lstm_cell_backward"
    named = [("c_prev", c_prev), ("tc", tc), ("dh", dh), ("dc", dc)]
    dt = _dtype(kernel, [("gates", gates)] + named)
    n, u = _rows_units(kernel, "gates", gates)
    _check_states(kernel, (n, u), named)
    gates, c_prev, tc, dh, dc = (a.astype(dt) for a in (gates, c_prev, tc, dh, dc))
    i, f, g, o = (gates[:, k * u:(k + 1) * u] for k in range(4))
    dct = dc + dh * o * (1.0 - tc * tc)
    dz = np.concatenate([dct * g * i * (1.0 - i), dct * c_prev * f * (1.0 - f), dct * i * (1.0 - g * g),
                         dh * tc * o * (1.0 - o)], axis=1)
    return dz, dct * f
