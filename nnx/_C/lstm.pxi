# LSTM bindings: check everything, then call csrc/lstm.c without the GIL.
#
# z and gates are (N, 4U) with Keras' gate blocks i, f, g (the candidate cell), o; states are (N, U).
# The whole-sequence kernels take them time-major: (T, N, 4U) and (T, N, U).


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
    G, CP = np.array(z, dtype=dt, order="C"), _contiguous(c_prev, dt)   # the kernel turns G's z into gates
    H, C, TC = (np.empty((n, u), dtype=dt) for _ in range(3))
    cdef cnp.ndarray cZ = G, cCP = CP, cG = G, cH = H, cC = C, cTC = TC
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


cdef PackedB _lstm_packed(str kernel, str what, object w, object dt, tuple shape):
    """w (an array, or a PackedB from gemm_pack_b) packed for the active SIMD path in dtype dt."""
    matrix = w.matrix if isinstance(w, PackedB) else w
    if tuple(matrix.shape) != shape:
        raise ValueError(f"{kernel}: {what} has shape {matrix.shape}, expected {shape}")
    if isinstance(w, PackedB) and w.dtype == dt and (<PackedB>w)._path == nnx_simd_active():
        return w
    return gemm_pack_b(np.asarray(matrix, dtype=dt))


cdef tuple _lstm_steps_rows_units(str kernel, str what, object a):
    """(T, N, U) of a (T, N, 4U) array of gates."""
    if a.ndim != 3 or a.shape[2] % 4 or a.shape[0] == 0:
        raise ValueError(f"{kernel}: expected {what} of shape (steps >= 1, N, 4*units), got shape {a.shape}")
    return a.shape[0], a.shape[1], a.shape[2] // 4


def lstm_forward(xw, recurrent_kernel, h0, c0, out=None):
    """The unmasked LSTM over a whole sequence, time-major: from xw (T, N, 4U), the input projections
    x_t·W + b of every step, the recurrent kernel U (U, 4U) (an array or a PackedB from gemm_pack_b) and
    the initial states h0, c0 (N, U), returns (gates, h, c, tc): per step t the gates (T, N, 4U) of
    z = xw[t] + h[t-1]·U, and h, c, tanh(c) (T, N, U), as lstm_cell_forward computes them. The gates
    are written into `out` when it is given (a C-contiguous array of xw's shape and the compute dtype;
    xw itself computes in place, saving a copy)."""
    kernel = "lstm_forward"
    matrix = recurrent_kernel.matrix if isinstance(recurrent_kernel, PackedB) else recurrent_kernel
    dt = _compute_dtype(kernel, [("xw", xw), ("recurrent_kernel", matrix), ("h0", h0), ("c0", c0)])
    steps, n, u = _lstm_steps_rows_units(kernel, "xw", xw)
    _lstm_check_states(kernel, (n, u), [("h0", h0), ("c0", c0)])
    cdef PackedB packed = _lstm_packed(kernel, "recurrent_kernel", recurrent_kernel, dt, (u, 4 * u))
    X, H0, C0 = _contiguous(xw, dt), _contiguous(h0, dt), _contiguous(c0, dt)
    if out is None:
        G = np.empty(xw.shape, dtype=dt)
    else:
        if not isinstance(out, np.ndarray) or out.dtype != dt or out.shape != xw.shape \
                or not out.flags.c_contiguous or not out.flags.aligned or not out.flags.writeable:
            raise ValueError(f"{kernel}: out must be a writeable C-contiguous {dt} array of shape "
                             f"{xw.shape}")
        if out is not xw and _may_overlap(out, X):
            raise ValueError(f"{kernel}: out overlaps xw without being xw")
        G = out
    H, C, TC = (np.empty((steps, n, u), dtype=dt) for _ in range(3))
    cdef cnp.ndarray cX = X, cP = packed._panels, cH0 = H0, cC0 = C0, cG = G, cH = H, cC = C, cTC = TC
    cdef Py_ssize_t T_ = steps, rows = n, units = u
    cdef nnx_simd path = packed._path
    cdef int status
    if dt == np.float32:
        with nogil:
            status = nnx_lstm_forward_f32(path, T_, rows, units, <float*>cX.data, <float*>cP.data,
                                          <float*>cH0.data, <float*>cC0.data, <float*>cG.data, <float*>cH.data,
                                          <float*>cC.data, <float*>cTC.data)
    else:
        with nogil:
            status = nnx_lstm_forward_f64(path, T_, rows, units, <double*>cX.data, <double*>cP.data,
                                          <double*>cH0.data, <double*>cC0.data, <double*>cG.data,
                                          <double*>cH.data, <double*>cC.data, <double*>cTC.data)
    if status != 0:
        raise MemoryError(f"{kernel}: cannot allocate the GEMM's packing buffer for {xw.shape}")
    return G, H, C, TC


def lstm_backward(gates, c0, c, tc, recurrent_kernel_t, dh, dc):
    """The gradient of lstm_forward: from dh (T, N, U), the gradient reaching each step's h from outside
    (the outputs; plus the final state's at T-1), dc (N, U) reaching the final c, the forward's gates
    (T, N, 4U), c and tc (T, N, U), c0 (N, U) and the transposed recurrent kernel Uᵀ (4U, U) (an array
    or a PackedB from gemm_pack_b), returns (dz, dh0, dc0): dz (T, N, 4U) the gradient of every step's
    gate pre-activations, dh0 and dc0 (N, U) that of the initial states."""
    kernel = "lstm_backward"
    matrix = recurrent_kernel_t.matrix if isinstance(recurrent_kernel_t, PackedB) else recurrent_kernel_t
    named = [("c", c), ("tc", tc), ("dh", dh)]
    dt = _compute_dtype(kernel, [("gates", gates), ("c0", c0), ("recurrent_kernel_t", matrix), ("dc", dc)]
                        + named)
    steps, n, u = _lstm_steps_rows_units(kernel, "gates", gates)
    _lstm_check_states(kernel, (n, u), [("c0", c0), ("dc", dc)])
    _lstm_check_states(kernel, (steps, n, u), named)
    cdef PackedB packed = _lstm_packed(kernel, "recurrent_kernel_t", recurrent_kernel_t, dt, (4 * u, u))
    G, C0, C, TC, DH, DC = (_contiguous(a, dt) for a in (gates, c0, c, tc, dh, dc))
    DZ = np.empty((steps, n, 4 * u), dtype=dt)
    DH0, DC0 = np.empty((n, u), dtype=dt), np.empty((n, u), dtype=dt)
    cdef cnp.ndarray cG = G, cC0 = C0, cC = C, cTC = TC, cP = packed._panels, cDH = DH, cDC = DC
    cdef cnp.ndarray cDZ = DZ, cDH0 = DH0, cDC0 = DC0
    cdef Py_ssize_t T_ = steps, rows = n, units = u
    cdef nnx_simd path = packed._path
    cdef int status
    if dt == np.float32:
        with nogil:
            status = nnx_lstm_backward_f32(path, T_, rows, units, <float*>cG.data, <float*>cC0.data,
                                           <float*>cC.data, <float*>cTC.data, <float*>cP.data, <float*>cDH.data,
                                           <float*>cDC.data, <float*>cDZ.data, <float*>cDH0.data,
                                           <float*>cDC0.data)
    else:
        with nogil:
            status = nnx_lstm_backward_f64(path, T_, rows, units, <double*>cG.data, <double*>cC0.data,
                                           <double*>cC.data, <double*>cTC.data, <double*>cP.data,
                                           <double*>cDH.data, <double*>cDC.data, <double*>cDZ.data,
                                           <double*>cDH0.data, <double*>cDC0.data)
    if status != 0:
        raise MemoryError(f"{kernel}: cannot allocate a workspace for {gates.shape}")
    return DZ, DH0, DC0
