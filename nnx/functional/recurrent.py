"""Whole-sequence recurrent ops: SimpleRNN, LSTM and GRU over every time step in one call.

One autograd node per layer call, not one per step: the forward pass runs the time loop on NumPy
arrays and keeps what backpropagation through time (BPTT) needs; the backward pass runs the loop in
reverse. See docs/recurrent.md for the equations.

Layout: inputs arrive batch-major (N, T, D) as Keras gives them; the op works time-major (T, N, ...)
so that every step reads and writes contiguous (N, k*U) blocks. Weights use Keras' layout and gate
order: kernel (D, k*U), recurrent_kernel (U, k*U), gates i,f,c,o (LSTM, k=4) and z,r,h (GRU, k=3).

Cost for N sequences of T steps, D inputs, U units and k gate blocks:
  forward   one GEMM (T*N, D) x (D, kU) projects the inputs of all steps at once, then T GEMMs
            (N, U) x (U, kU) for the recurrence, then O(N*kU) elementwise gate math per step;
  backward  T GEMMs (N, kU) x (kU, U) carry dh back through time; the weight and input gradients are
            three big GEMMs over all steps at once: dW = Xᵀ·dZ, dU = Hᵀ·dZ, dX = dZ·Wᵀ, with the gate
            gradients dZ of all steps stacked into one (T*N, kU) matrix.

Masking follows Keras: where mask[n, t] is False, step t leaves sample n's states unchanged and its
output repeats the previous output (zero before the first unmasked step).
"""
import numpy as np

from nnx import backend
from nnx.autograd import Function
from nnx.functional.math import _t


# --- activations applied in place, with derivatives written in terms of the activation's OUTPUT, so
# the forward pass only keeps activated values -----------------------------------------------------

def _tanh(x):
    return np.tanh(x, out=x)


def _sigmoid(x):
    # sigmoid(x) = (1 + tanh(x / 2)) / 2 never overflows, unlike 1 / (1 + exp(-x)).
    x *= 0.5
    np.tanh(x, out=x)
    x += 1.0
    x *= 0.5
    return x


def _relu(x):
    return np.maximum(x, 0, out=x)


def _linear(x):
    return x


def _hard_sigmoid(x):  # Keras 3: relu6(x + 3) / 6
    x /= 6.0
    x += 0.5
    return np.clip(x, 0.0, 1.0, out=x)


ACTIVATIONS = {
    "tanh": (_tanh, lambda y: 1.0 - y * y),
    "sigmoid": (_sigmoid, lambda y: y * (1.0 - y)),
    "relu": (_relu, lambda y: (y > 0).astype(y.dtype)),
    "linear": (_linear, lambda y: 1.0),
    "hard_sigmoid": (_hard_sigmoid, lambda y: ((y > 0) & (y < 1)).astype(y.dtype) / 6.0),
}


def _activation(name, who):
    if name is None:
        name = "linear"
    if name not in ACTIVATIONS:
        raise ValueError(f"{who}: unsupported activation {name!r}; the whole-sequence recurrent op "
                         f"supports {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name]


def _mm(a, b, add_to=None):
    """a @ b, or a @ b + add_to written into add_to (one pass, no temporary)."""
    if add_to is None:
        return backend.kernels().gemm(a, b)
    return backend.kernels().gemm(a, b, out=add_to, beta=1.0)


def _packed(weights):
    """The recurrent weights, packed once for GEMM's micro-kernel: every time step multiplies by them,
    and repacking them at each step cost about a fifth of the recurrent GEMM's time."""
    return backend.kernels().gemm_pack_b(weights)


# --- cells: one time step forward and backward; the driver below runs the loop and the masking ---

class _SimpleRNNCell:
    """h_t = act(x_t·W + h_{t-1}·U + b)."""
    gates = 1
    n_states = 1
    joint_weight_grads = True   # dW and dU multiply the same dZ: the driver computes both in one GEMM
    whole_sequence = False      # no kernel runs the whole sequence: the driver steps through it

    def __init__(self, units, recurrent_kernel, bias, activation):
        self.U = _packed(recurrent_kernel)
        self.UT = _packed(recurrent_kernel.T)
        self.input_bias = bias
        self.act, self.dact = activation

    def step(self, xw, h_prev, states):
        a = self.act(_mm(h_prev, self.U, add_to=xw))   # xw[t] becomes the pre-activation
        return (a,), a

    def step_backward(self, dstates, h_prev, a):
        dz = dstates[0] * self.dact(a)
        return dz, None, (_mm(dz, self.UT),)


class _LSTMCell:
    """z = x_t·W + h_{t-1}·U + b split into i, f, g, o;  c_t = f*c_{t-1} + i*g;  h_t = o*act(c_t).

    With Keras' default activations (tanh, recurrent sigmoid) a step's elementwise work runs as one
    fused kernel each way (lstm_cell_forward / lstm_cell_backward); other activations run in NumPy.
    With them, and without masks or recurrent dropout, the driver hands the whole sequence to
    lstm_forward / lstm_backward (run / run_backward): one kernel call each way, which runs every
    step's recurrent GEMM and cell on its own threads (csrc/lstm.c)."""
    gates = 4
    n_states = 2
    joint_weight_grads = True

    def __init__(self, units, recurrent_kernel, bias, activation, recurrent_activation, fused):
        self.u = units
        self.U = _packed(recurrent_kernel)
        self.UT = _packed(recurrent_kernel.T)
        self.input_bias = bias
        self.act, self.dact = activation
        self.ract, self.dract = recurrent_activation
        self.fused = self.whole_sequence = fused

    def run(self, xw, initial_states):
        """Every step at once, xw (T, N, 4U) becoming the gates: (h of every step (T, N, U), the final
        (h, c), the tape)."""
        h0, c0 = initial_states
        out = xw if xw.dtype in (np.float32, np.float64) else None
        gates, h, c, tc = backend.kernels().lstm_forward(xw, self.U, h0, c0, out=out)
        return h, (h[-1].copy(), c[-1].copy()), (gates, c0, c, tc)

    def run_backward(self, tape, dy, dstates):
        """BPTT of run from dy (T, N, U) (or None) and the final states' gradients: (dZ (T, N, 4U),
        the initial states' gradients)."""
        gates, c0, c, tc = tape
        dh = np.zeros(c.shape, c.dtype) if dy is None else np.array(dy, c.dtype, order="C")
        dh[-1] += dstates[0]
        dz, dh0, dc0 = backend.kernels().lstm_backward(gates, c0, c, tc, self.UT, dh, dstates[1])
        return dz, (dh0, dc0)

    def step(self, xw, h_prev, states):
        z = _mm(h_prev, self.U, add_to=xw)              # xw[t] becomes the gate pre-activations
        if not self.fused:
            return self._step_numpy(z, states[1])
        gates, h, c, tc = backend.kernels().lstm_cell_forward(z, states[1])
        return (h, c), (gates, states[1], tc)

    def _step_numpy(self, z, c_prev):
        u = self.u
        self.ract(z[:, :2 * u])          # i and f in one call
        self.act(z[:, 2 * u:3 * u])      # g (the candidate cell)
        self.ract(z[:, 3 * u:])          # o
        i, f, g, o = z[:, :u], z[:, u:2 * u], z[:, 2 * u:3 * u], z[:, 3 * u:]
        c = f * c_prev
        c += i * g
        tc = self.act(c.copy())
        h = o * tc
        return (h, c), (z, c_prev, tc)

    def step_backward(self, dstates, h_prev, cache):
        if self.fused:
            dz, dc_prev = backend.kernels().lstm_cell_backward(*cache, *dstates)
            return dz, None, (_mm(dz, self.UT), dc_prev)
        u = self.u
        dh, dc = dstates
        z, c_prev, tc = cache
        i, f, g, o = z[:, :u], z[:, u:2 * u], z[:, 2 * u:3 * u], z[:, 3 * u:]
        dc = dc + dh * o * self.dact(tc)
        dz = np.empty_like(z)
        dz[:, :u] = dc * g
        dz[:, u:2 * u] = dc * c_prev
        dz[:, 2 * u:3 * u] = dc * i
        dz[:, 3 * u:] = dh * tc
        dz[:, :2 * u] *= self.dract(z[:, :2 * u])
        dz[:, 2 * u:3 * u] *= self.dact(g)
        dz[:, 3 * u:] *= self.dract(o)
        return dz, None, (_mm(dz, self.UT), dc * f)


class _GRUCell:
    """Keras GRU, gates z, r, h.  reset_after=True (Keras' default, CuDNN-compatible):
        z, r = rec_act(x·W_zr + h·U_zr + b_zr),  hh = act(x·W_h + r * (h·U_h + b_rec_h)),
    reset_after=False:  hh = act(x·W_h + (r*h)·U_h + b_h);   then  h_t = z*h_{t-1} + (1-z)*hh."""
    gates = 3
    n_states = 1
    joint_weight_grads = False   # its recurrent product has its own gradient (or its own input r*h)
    whole_sequence = False

    def __init__(self, units, recurrent_kernel, bias, activation, recurrent_activation, reset_after):
        u = self.u = units
        self.reset_after = reset_after
        self.act, self.dact = activation
        self.ract, self.dract = recurrent_activation
        self.has_bias = bias is not None
        if reset_after:
            self.U = _packed(recurrent_kernel)
            self.UT = _packed(recurrent_kernel.T)
            self.input_bias = None if bias is None else bias[0]
            self.rec_bias = None if bias is None else bias[1]
        else:
            self.U_zr = _packed(recurrent_kernel[:, :2 * u])
            self.U_h = _packed(recurrent_kernel[:, 2 * u:])
            self.U_zrT = _packed(recurrent_kernel[:, :2 * u].T)
            self.U_hT = _packed(recurrent_kernel[:, 2 * u:].T)
            self.input_bias = bias

    def step(self, xw, h_prev, states):
        u = self.u
        if self.reset_after:
            hu = _mm(h_prev, self.U)
            if self.rec_bias is not None:
                hu += self.rec_bias
            zr = xw[:, :2 * u] + hu[:, :2 * u]
            self.ract(zr)
            hu_h = hu[:, 2 * u:]
            hh = zr[:, u:] * hu_h
            hh += xw[:, 2 * u:]
            extra = hu_h
        else:
            zr = _mm(h_prev, self.U_zr)
            zr += xw[:, :2 * u]
            self.ract(zr)
            extra = zr[:, u:] * h_prev                       # r * h
            hh = _mm(extra, self.U_h)
            hh += xw[:, 2 * u:]
        self.act(hh)
        h = h_prev - hh
        h *= zr[:, :u]
        h += hh
        return (h,), (zr, hh, extra)

    def step_backward(self, dstates, h_prev, cache):
        u = self.u
        (dh,) = dstates
        zr, hh, extra = cache
        z, r = zr[:, :u], zr[:, u:]
        dxw = np.empty((dh.shape[0], 3 * u), dh.dtype)
        dxw[:, :u] = dh * (h_prev - hh) * self.dract(z)
        dhh = dxw[:, 2 * u:]
        np.multiply(dh, 1.0 - z, out=dhh)
        dhh *= self.dact(hh)
        dh_prev = dh * z
        if self.reset_after:
            dxw[:, u:2 * u] = dhh * extra * self.dract(r)
            dhu = dxw.copy()
            dhu[:, 2 * u:] *= r
            return dxw, dhu, (_mm(dhu, self.UT, add_to=dh_prev),)
        drh = _mm(dhh, self.U_hT)
        dxw[:, u:2 * u] = drh * h_prev * self.dract(r)
        dh_prev += drh * r
        return dxw, None, (_mm(dxw[:, :2 * u], self.U_zrT, add_to=dh_prev),)

    def weight_grads(self, h_prev_all, dxw_all, drec_all, caches):
        u = self.u
        if self.reset_after:
            dU = _mm(h_prev_all.T, drec_all)
            dbias = np.stack([dxw_all.sum(axis=0), drec_all.sum(axis=0)]) if self.has_bias else None
            return dU, dbias
        rh_all = np.concatenate([c[2] for c in caches])
        dU = np.concatenate([_mm(h_prev_all.T, dxw_all[:, :2 * u]), _mm(rh_all.T, dxw_all[:, 2 * u:])],
                            axis=1)
        return dU, (dxw_all.sum(axis=0) if self.has_bias else None)


def make_cell(kind, units, recurrent_kernel, bias, activation="tanh", recurrent_activation="sigmoid",
              reset_after=True):
    """The cell for `kind` in {'simple_rnn', 'lstm', 'gru'} bound to its recurrent weights."""
    act = _activation(activation, kind)
    if kind == "simple_rnn":
        return _SimpleRNNCell(units, recurrent_kernel, bias, act)
    ract = _activation(recurrent_activation, kind)
    if kind == "lstm":
        fused = activation == "tanh" and recurrent_activation == "sigmoid"
        return _LSTMCell(units, recurrent_kernel, bias, act, ract, fused)
    if kind == "gru":
        return _GRUCell(units, recurrent_kernel, bias, act, ract, reset_after)
    raise ValueError(f"recurrent op: unknown cell kind {kind!r}")


# --- the whole-sequence driver ------------------------------------------------------------------

class _Tape:
    """What the backward pass needs from the forward pass."""


def _run_steps(cell, xw, initial_states, mt, recurrent_mask, h_prev_all):
    """The time loop, one cell.step at a time, with masking and recurrent dropout: (outputs (T, N, U),
    final states, the steps' caches); h_prev_all[t] receives the h_{t-1} that step t multiplies."""
    steps, n = xw.shape[:2]
    states = tuple(initial_states)
    outputs = np.empty((steps, n, states[0].shape[1]), xw.dtype)
    caches = []
    y_prev = np.zeros_like(states[0])
    for t in range(steps):
        h_in = states[0] if recurrent_mask is None else states[0] * recurrent_mask
        h_prev_all[t] = h_in
        new, cache = cell.step(xw[t], h_in, states)
        if mt is not None:
            m = mt[t]
            new = tuple(np.where(m, s_new, s_old) for s_new, s_old in zip(new, states))
            y_prev = np.where(m, new[0], y_prev)
            outputs[t] = y_prev
        else:
            outputs[t] = new[0]
        states = new
        caches.append(cache)
    return outputs, states, caches


def rnn_forward(cell, x, kernel, initial_states, mask=None, go_backwards=False, recurrent_mask=None):
    """Run `cell` over every step of x (N, T, D). recurrent_mask (N, U) (recurrent dropout, SimpleRNN
    and LSTM only) scales h_{t-1} where it enters the recurrent product, the same at every step.

    Returns (outputs (N, T, U) in processing order — reversed when go_backwards, as in Keras —,
    final states tuple, tape for rnn_backward)."""
    n, steps, d = x.shape
    units = initial_states[0].shape[1]
    # x_t, a column of ones (with a bias) and h_{t-1} side by side in one (T, N, D+1+U) array: the input
    # projection with its bias is one GEMM [x 1]·[W; b], and the backward pass gets dW, db and dU from
    # one GEMM [x 1 h]ᵀ·dZ (one larger product runs faster than two, and no pass adds or sums the bias)
    bias = cell.input_bias
    ones = 0 if bias is None else 1
    xh = np.empty((steps, n, d + ones + units), x.dtype)
    xh[:, :, :d] = x.transpose(1, 0, 2)[::-1] if go_backwards else x.transpose(1, 0, 2)
    xh[:, :, d:d + ones] = 1.0
    xt, h_prev_all = xh[:, :, :d], xh[:, :, d + ones:]
    mt = None
    if mask is not None:
        mt = np.asarray(mask, bool).T
        mt = np.ascontiguousarray(mt[::-1] if go_backwards else mt)[:, :, None]
    kernel_bias = kernel if bias is None else np.concatenate([kernel, bias[None, :]]).astype(kernel.dtype)
    xw = _mm(xh.reshape(steps * n, xh.shape[2])[:, :d + ones], kernel_bias)   # a strided view: no copy
    xw = xw.reshape(steps, n, kernel.shape[1])

    whole_sequence = mt is None and recurrent_mask is None and cell.whole_sequence
    if whole_sequence:
        outputs, states, caches = cell.run(xw, initial_states)
        h_prev_all[0] = initial_states[0]
        h_prev_all[1:] = outputs[:-1]
    else:
        outputs, states, caches = _run_steps(cell, xw, initial_states, mt, recurrent_mask, h_prev_all)

    tape = _Tape()
    tape.cell, tape.xh, tape.xt, tape.mt, tape.caches = cell, xh, xt, mt, caches
    tape.h_prev_all, tape.kernel, tape.go_backwards = h_prev_all, kernel, go_backwards
    tape.recurrent_mask, tape.whole_sequence = recurrent_mask, whole_sequence
    return outputs.transpose(1, 0, 2), states, tape


def _backprop_steps(tape, dy, dstates):
    """BPTT one cell.step_backward at a time, with masking and recurrent dropout: (dZ of every step
    (T, N, kU), the recurrent product's own gradient or None, the gradients reaching the initial
    states)."""
    cell, mt, caches = tape.cell, tape.mt, tape.caches
    steps, n, units = tape.h_prev_all.shape
    dxw_all = np.empty((steps, n, cell.gates * units), tape.xt.dtype)
    drec_all = None
    carry = np.zeros((n, units), tape.xt.dtype)   # gradient reaching the output repeated by masked steps
    for t in range(steps - 1, -1, -1):
        if mt is not None:
            m = mt[t]
            g = carry if dy is None else carry + dy[t]
            dh = dstates[0] + np.where(m, g, 0)
            carry = np.where(m, 0, g)
            dstates = (dh,) + dstates[1:]
        elif dy is not None:
            dstates = (dstates[0] + dy[t],) + dstates[1:]
        dxw, drec, dprev = cell.step_backward(dstates, tape.h_prev_all[t], caches[t])
        if tape.recurrent_mask is not None:
            dprev = (dprev[0] * tape.recurrent_mask,) + dprev[1:]
        if mt is not None:
            dxw *= m
            if drec is not None:
                drec *= m
            dprev = tuple(np.where(m, a, b) for a, b in zip(dprev, dstates))
        dxw_all[t] = dxw
        if drec is not None:
            if drec_all is None:
                drec_all = np.empty_like(dxw_all)
            drec_all[t] = drec
        dstates = dprev
    return dxw_all, drec_all, dstates


def rnn_backward(tape, d_outputs, d_final_states, need_dx=True):
    """BPTT. d_outputs: (N, T, U) gradient of the outputs (processing order) or None;
    d_final_states: one array or None per state.  Returns (dx or None, dkernel, drecurrent_kernel,
    dbias, d_initial_states)."""
    cell, xt = tape.cell, tape.xt
    steps, n, d = xt.shape
    units = tape.h_prev_all.shape[2]
    dtype = xt.dtype
    dstates = tuple(np.zeros((n, units), dtype) if g is None else np.asarray(g, dtype) for g in d_final_states)
    dy = None if d_outputs is None else np.asarray(d_outputs, dtype).transpose(1, 0, 2)
    if tape.whole_sequence:
        dxw_all, dstates = cell.run_backward(tape.caches, dy, dstates)
        drec_all = None
    else:
        dxw_all, drec_all, dstates = _backprop_steps(tape, dy, dstates)
    flat = dxw_all.reshape(steps * n, dxw_all.shape[2])
    xh = tape.xh.reshape(steps * n, tape.xh.shape[2])
    ones = xh.shape[1] - d - units                # the column of ones, when the cell has an input bias
    if cell.joint_weight_grads:
        all_grads = _mm(xh.T, flat)               # [dW; db; dU] = [x 1 h]ᵀ·dZ
        dkernel, drecurrent = all_grads[:d], all_grads[d + ones:]
        dbias = all_grads[d] if ones else None
    else:
        drec_flat = flat if drec_all is None else drec_all.reshape(steps * n, drec_all.shape[2])
        dkernel = _mm(xh[:, :d].T, flat)
        drecurrent, dbias = cell.weight_grads(xh[:, d + ones:], flat, drec_flat, tape.caches)
    if not need_dx:
        return None, dkernel, drecurrent, dbias, dstates
    dxt = _mm(flat, np.ascontiguousarray(tape.kernel.T)).reshape(steps, n, d)
    if tape.go_backwards:
        dxt = dxt[::-1]
    return dxt.transpose(1, 0, 2), dkernel, drecurrent, dbias, dstates


# --- autograd: one graph node per layer call ------------------------------------------------------

class Recurrent(Function):
    """forward(x, kernel, recurrent_kernel, bias, mask, spec, *initial_states)
    -> (output, *final_states); output is (N, T, U) with spec['return_sequences'], else (N, U)."""

    @staticmethod
    def forward(ctx, x, kernel, recurrent_kernel, bias, mask, spec, *initial_states):
        dtype = kernel.dtype
        x = x.astype(dtype, copy=False)
        units = recurrent_kernel.shape[0]
        cell = make_cell(spec["kind"], units, recurrent_kernel, bias, spec["activation"],
                         spec["recurrent_activation"], spec["reset_after"])
        states = [s.astype(dtype, copy=False) for s in initial_states]
        rmask = spec["recurrent_mask"]
        if rmask is not None:
            rmask = rmask.astype(dtype, copy=False)
        outputs, finals, tape = rnn_forward(cell, x, kernel, states, mask, spec["go_backwards"], rmask)
        ctx.tape, ctx.return_sequences = tape, spec["return_sequences"]
        ctx.has_bias = bias is not None
        out = outputs if spec["return_sequences"] else np.ascontiguousarray(outputs[:, -1])
        return (out,) + tuple(finals)

    @staticmethod
    def backward(ctx, g_out, *g_states):
        tape = ctx.tape
        if ctx.return_sequences:
            d_outputs = g_out
        else:
            steps = tape.xt.shape[0]
            d_outputs = np.zeros((g_out.shape[0], steps, g_out.shape[1]), g_out.dtype)
            d_outputs[:, -1] = g_out
        dx, dkernel, drec, dbias, dinit = rnn_backward(tape, d_outputs, g_states,
                                                       need_dx=ctx.needs_input_grad[0])
        return (dx, dkernel, drec, dbias, None, None) + tuple(dinit)


_GATES = {"simple_rnn": 1, "lstm": 4, "gru": 3}
_STATES = {"simple_rnn": 1, "lstm": 2, "gru": 1}


def rnn(kind, x, kernel, recurrent_kernel, bias=None, initial_states=None, mask=None,
              go_backwards=False, return_sequences=False, activation="tanh",
              recurrent_activation="sigmoid", reset_after=True, recurrent_mask=None):
    """Run a SimpleRNN ('simple_rnn'), LSTM ('lstm') or GRU ('gru') over x (N, T, D).

    Weights in Keras' layout; mask: bool (N, T), False marks padded steps. Returns
    (output, [final states]): output (N, T, U) with return_sequences, else (N, U); the states are
    [h] ([h, c] for the LSTM). recurrent_mask: (N, U) multiplier of h_{t-1} in the recurrent
    product, shared by all steps (recurrent dropout; SimpleRNN and LSTM only)."""
    if kind not in _GATES:
        raise ValueError(f"rnn: unknown kind {kind!r}; expected one of {sorted(_GATES)}")
    x, kernel, recurrent_kernel = (_t(a, kind) for a in (x, kernel, recurrent_kernel))
    if x.ndim != 3:
        raise ValueError(f"{kind}: expected input of rank 3 (batch, timesteps, features), got shape "
                         f"{x.shape}")
    k = _GATES[kind]
    units = recurrent_kernel.shape[0]
    if kernel.ndim != 2 or kernel.shape != (x.shape[2], k * units) \
            or recurrent_kernel.shape != (units, k * units):
        raise ValueError(f"{kind}: input {x.shape}, kernel {kernel.shape} and recurrent_kernel "
                         f"{recurrent_kernel.shape} do not fit; expected kernel "
                         f"({x.shape[2]}, {k}*units) and recurrent_kernel (units, {k}*units)")
    if bias is not None:
        bias = _t(bias, kind)
        want = (2, 3 * units) if kind == "gru" and reset_after else (k * units,)
        if bias.shape != want:
            raise ValueError(f"{kind}: bias shape {bias.shape}, expected {want}")
    n, steps = x.shape[:2]
    if steps == 0:
        raise ValueError(f"{kind}: input {x.shape} has no time steps")
    if initial_states is None:
        initial_states = [np.zeros((n, units), kernel.dtype) for _ in range(_STATES[kind])]
    initial_states = [_t(s, kind) for s in initial_states]
    if len(initial_states) != _STATES[kind] or any(s.shape != (n, units) for s in initial_states):
        raise ValueError(f"{kind}: expected {_STATES[kind]} initial state(s) of shape {(n, units)}, "
                         f"got {[s.shape for s in initial_states]}")
    if mask is not None:
        mask = np.asarray(getattr(mask, "data", mask)).astype(bool, copy=False)
        if mask.shape != (n, steps):
            raise ValueError(f"{kind}: mask shape {mask.shape} does not match input {x.shape}; "
                             f"expected {(n, steps)}")
    if recurrent_mask is not None:
        if kind == "gru":
            raise ValueError("gru: recurrent_mask (recurrent dropout) is supported by simple_rnn and "
                             "lstm only")
        recurrent_mask = np.asarray(getattr(recurrent_mask, "data", recurrent_mask))
        if recurrent_mask.shape != (n, units):
            raise ValueError(f"{kind}: recurrent_mask shape {recurrent_mask.shape}, expected {(n, units)}")
    spec = dict(kind=kind, activation=activation, recurrent_activation=recurrent_activation,
                reset_after=reset_after, go_backwards=go_backwards, return_sequences=return_sequences,
                recurrent_mask=recurrent_mask)
    out = Recurrent.apply(x, kernel, recurrent_kernel, bias, mask, spec, *initial_states)
    return out[0], list(out[1:])


def simple_rnn(x, kernel, recurrent_kernel, bias=None, **kwargs):
    """`rnn('simple_rnn', ...)`."""
    return rnn("simple_rnn", x, kernel, recurrent_kernel, bias, **kwargs)


def lstm(x, kernel, recurrent_kernel, bias=None, **kwargs):
    """`rnn('lstm', ...)`."""
    return rnn("lstm", x, kernel, recurrent_kernel, bias, **kwargs)


def gru(x, kernel, recurrent_kernel, bias=None, **kwargs):
    """`rnn('gru', ...)`."""
    return rnn("gru", x, kernel, recurrent_kernel, bias, **kwargs)
