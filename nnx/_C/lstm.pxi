# LSTM cell bindings: check everything, then call csrc/lstm.c without the GIL.
#
# z and gates are (N, 4U) with Keras' gate blocks i, f, g (the candidate cell), o; states are (N, U).


cdef tuple _lstm_rows_units(str kernel, str what, object a):
    """(N, U) of an (N, 4U) gate array."""
    if a.ndim != 2 or a.shape[1] % 4:
        raise ValueError(f"{kernel}: expected {what} of shape (N, 4*units), got shape {a.shape}")
    return a.shape[0], a.shape[1] // 4


cdef void _lstm_check_states(str kernel, tuple expected, list named) except *:
    for name, a in named:
        if tuple(a.shape) != expected:
            raise ValueError(f"{kernel}: {name} has shape {a.shape}, expected {expected} (N, units)")


def lstm_cell_forward(z, c_prev):
    """One LSTM step from its gate pre-activations z (N, 4U) and the previous cell state c_prev (N, U):
    returns (gates, h, c, tc) with gates = (sigmoid, sigmoid, tanh, sigmoid) of z's blocks i, f, g, o,
    c = f*c_prev + i*g, tc = tanh(c), h = o*tc; in float32 or float64."""
    kernel = "lstm_cell_forward"
    dt = _compute_dtype(kernel, [("z", z), ("c_prev", c_prev)])
    n, u = _lstm_rows_units(kernel, "z", z)
    _lstm_check_states(kernel, (n, u), [("c_prev", c_prev)])
    Z, CP = _contiguous(z, dt), _contiguous(c_prev, dt)
    G = np.empty((n, 4 * u), dtype=dt)
    H, C, TC = (np.empty((n, u), dtype=dt) for _ in range(3))
    cdef cnp.ndarray cZ = Z, cCP = CP, cG = G, cH = H, cC = C, cTC = TC
    cdef Py_ssize_t rows = n, units = u
    if dt == np.float32:
        with nogil:
            nnx_lstm_cell_forward_f32(rows, units, <float*>cZ.data, <float*>cCP.data, <float*>cG.data,
                                      <float*>cH.data, <float*>cC.data, <float*>cTC.data)
    else:
        with nogil:
            nnx_lstm_cell_forward_f64(rows, units, <double*>cZ.data, <double*>cCP.data, <double*>cG.data,
                                      <double*>cH.data, <double*>cC.data, <double*>cTC.data)
    return G, H, C, TC


def lstm_cell_backward(gates, c_prev, tc, dh, dc):
    """The gradient of one LSTM step: from dh and dc (N, U) reaching its h and c, and the forward's
    gates (N, 4U), c_prev and tc (N, U), returns (dz, dc_prev): dz (N, 4U) the gradient of the gate
    pre-activations, dc_prev = (dc + dh*o*(1 - tc²)) * f."""
    kernel = "lstm_cell_backward"
    named = [("c_prev", c_prev), ("tc", tc), ("dh", dh), ("dc", dc)]
    dt = _compute_dtype(kernel, [("gates", gates)] + named)
    n, u = _lstm_rows_units(kernel, "gates", gates)
    _lstm_check_states(kernel, (n, u), named)
    G, CP, TC, DH, DC = (_contiguous(a, dt) for a in (gates, c_prev, tc, dh, dc))
    DZ = np.empty((n, 4 * u), dtype=dt)
    DCP = np.empty((n, u), dtype=dt)
    cdef cnp.ndarray cG = G, cCP = CP, cTC = TC, cDH = DH, cDC = DC, cDZ = DZ, cDCP = DCP
    cdef Py_ssize_t rows = n, units = u
    if dt == np.float32:
        with nogil:
            nnx_lstm_cell_backward_f32(rows, units, <float*>cG.data, <float*>cCP.data, <float*>cTC.data,
                                       <float*>cDH.data, <float*>cDC.data, <float*>cDZ.data,
                                       <float*>cDCP.data)
    else:
        with nogil:
            nnx_lstm_cell_backward_f64(rows, units, <double*>cG.data, <double*>cCP.data, <double*>cTC.data,
                                       <double*>cDH.data, <double*>cDC.data, <double*>cDZ.data,
                                       <double*>cDCP.data)
    return DZ, DCP
