"""The LSTM in NumPy: the readable version of csrc/lstm.c, one step's elementwise work and the whole
unmasked sequence.

z and gates are (N, 4U) with Keras' gate blocks i, f, g (the candidate cell), o; states are (N, U).
The whole-sequence kernels take them time-major, (T, N, 4U) and (T, N, U).
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


def _matrix(kernel, what, w, shape):
    """The array behind w (an array, or either backend's gemm_pack_b result), checked against shape."""
    if not isinstance(w, np.ndarray) and isinstance(getattr(w, "matrix", None), np.ndarray):
        w = w.matrix
    if getattr(w, "shape", None) != shape:
        raise ValueError(f"{kernel}: {what} has shape {getattr(w, 'shape', None)}, expected {shape}")
    return w


def _steps_rows_units(kernel, what, a):
    if a.ndim != 3 or a.shape[2] % 4 or a.shape[0] == 0:
        raise ValueError(f"{kernel}: expected {what} of shape (steps >= 1, N, 4*units), got shape {a.shape}")
    return a.shape[0], a.shape[1], a.shape[2] // 4


def lstm_forward(xw, recurrent_kernel, h0, c0, out=None):
    """(gates, h, c, tc) of every step t of the unmasked LSTM: z = xw[t] + h[t-1]·U, then
    lstm_cell_forward; gates written into `out` when given (which may be xw)."""
    kernel = "lstm_forward"
    if not isinstance(xw, np.ndarray):
        raise TypeError(f"{kernel}: xw must be a NumPy array, got {type(xw).__name__}")
    steps, n, u = _steps_rows_units(kernel, "xw", xw)
    rk = _matrix(kernel, "recurrent_kernel", recurrent_kernel, (u, 4 * u))
    dt = _dtype(kernel, [("xw", xw), ("recurrent_kernel", rk), ("h0", h0), ("c0", c0)])
    _check_states(kernel, (n, u), [("h0", h0), ("c0", c0)])
    if out is not None and (not isinstance(out, np.ndarray) or out.dtype != dt or out.shape != xw.shape):
        raise ValueError(f"{kernel}: out must be a {dt} array of shape {xw.shape}")
    gates = np.empty(xw.shape, dt) if out is None else out
    h, c, tc = (np.empty((steps, n, u), dt) for _ in range(3))
    h_prev, c_prev = h0.astype(dt), c0.astype(dt)
    for t in range(steps):
        gates[t], h[t], c[t], tc[t] = lstm_cell_forward(xw[t] + h_prev @ rk.astype(dt), c_prev)
        h_prev, c_prev = h[t], c[t]
    return gates, h, c, tc


def lstm_backward(gates, c0, c, tc, recurrent_kernel_t, dh, dc):
    """(dz, dh0, dc0): the gradient of lstm_forward from dh (T, N, U) reaching each step's h from
    outside and dc reaching the last c; dh reaching step t-1 adds dz[t]·Uᵀ."""
    kernel = "lstm_backward"
    if not isinstance(gates, np.ndarray):
        raise TypeError(f"{kernel}: gates must be a NumPy array, got {type(gates).__name__}")
    steps, n, u = _steps_rows_units(kernel, "gates", gates)
    rkt = _matrix(kernel, "recurrent_kernel_t", recurrent_kernel_t, (4 * u, u))
    named = [("c", c), ("tc", tc), ("dh", dh)]
    dt = _dtype(kernel, [("gates", gates), ("c0", c0), ("recurrent_kernel_t", rkt), ("dc", dc)] + named)
    _check_states(kernel, (n, u), [("c0", c0), ("dc", dc)])
    _check_states(kernel, (steps, n, u), named)
    dz = np.empty(gates.shape, dt)
    dh_t, dc_t = dh[-1].astype(dt), dc.astype(dt)
    for t in range(steps - 1, -1, -1):
        dz[t], dc_t = lstm_cell_backward(gates[t], c[t - 1] if t else c0, tc[t], dh_t, dc_t)
        dh_t = dz[t] @ rkt.astype(dt) + (dh[t - 1] if t else 0.0)
    return dz, dh_t, dc_t
