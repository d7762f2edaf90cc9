"""The fused LSTM kernels of csrc/lstm.c — one step's cell (nnx.kernels.lstm_cell_forward /
lstm_cell_backward) and the whole sequence (lstm_forward / lstm_backward) — against nnx.reference,
hand-computed values, float64 finite differences and the NumPy path of the LSTM op they replace."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nnx.kernels as K
import nnx.reference as R
from nnx._C import _native
from nnx.functional import recurrent
from nnx.gradcheck import numerical_gradient
from nnx.testing import assert_kernel_matches_reference

from fuzzing import assert_clean_error

pytestmark = pytest.mark.usefixtures("simd")  # every test on every SIMD path (tests/conftest.py)


def _normal(shape, dtype, seed, scale=1.0):
    return (scale * np.random.default_rng(seed).standard_normal(shape)).astype(dtype)


def _sigmoid(v):
    return 1.0 / (1.0 + math.exp(-v))


# ---- hand-computed values ---------------------------------------------------------------------------

@pytest.mark.parametrize("kernels", [K, R], ids=["native", "reference"])
def test_forward_by_hand(kernels):
    z = np.array([[0.0, 1.0, 2.0, -1.0, 0.5, -0.5, 3.0, -3.0]])   # one row, 2 units: i, f, g, o blocks
    c_prev = np.array([[1.0, -2.0]])
    gates, h, c, tc = kernels.lstm_cell_forward(z, c_prev)
    i = [_sigmoid(0.0), _sigmoid(1.0)]
    f = [_sigmoid(2.0), _sigmoid(-1.0)]
    g = [math.tanh(0.5), math.tanh(-0.5)]
    o = [_sigmoid(3.0), _sigmoid(-3.0)]
    want_c = [f[j] * c_prev[0, j] + i[j] * g[j] for j in range(2)]
    np.testing.assert_allclose(gates[0], i + f + g + o, rtol=1e-14)
    np.testing.assert_allclose(c[0], want_c, rtol=1e-14)
    np.testing.assert_allclose(tc[0], [math.tanh(v) for v in want_c], rtol=1e-14)
    np.testing.assert_allclose(h[0], [o[j] * math.tanh(want_c[j]) for j in range(2)], rtol=1e-14)


@pytest.mark.parametrize("kernels", [K, R], ids=["native", "reference"])
def test_backward_by_hand(kernels):
    i, f, g, o, c_prev, tc, dh, dc = 0.25, 0.5, -0.5, 0.75, 2.0, 0.6, 1.5, -1.0
    dz, dc_prev = kernels.lstm_cell_backward(np.array([[i, f, g, o]]), np.array([[c_prev]]),
                                             np.array([[tc]]), np.array([[dh]]), np.array([[dc]]))
    dct = dc + dh * o * (1 - tc * tc)                      # = -0.28
    np.testing.assert_allclose(dz[0], [dct * g * i * (1 - i), dct * c_prev * f * (1 - f),
                                       dct * i * (1 - g * g), dh * tc * o * (1 - o)], rtol=1e-14)
    np.testing.assert_allclose(dc_prev[0], [dct * f], rtol=1e-14)


def test_saturation_infinities_and_nan():
    """Huge, infinite and NaN pre-activations: the gates saturate to 0/1 (tanh to ±1), NaN stays NaN."""
    special = np.array([0.0, 1e-6, -1e-6, 30.0, -30.0, 88.0, -88.0, 100.0, -100.0, 1e30, -1e30,
                        np.inf, -np.inf, np.nan])
    for dtype in (np.float32, np.float64):
        z = np.tile(special, 4)[None, :].astype(dtype)
        c_prev = np.zeros((1, special.size), dtype)
        got = K.lstm_cell_forward(z, c_prev)
        want = R.lstm_cell_forward(z, c_prev)
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, rtol=1e-6 if dtype == np.float32 else 1e-13, atol=1e-7,
                                       equal_nan=True)
        assert np.isnan(got[0][0, special.size - 1]) and np.isnan(got[1][0, -1])


# ---- against the reference over shapes -----------------------------------------------------------------

@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 9), u=st.integers(1, 40), dtype=st.sampled_from([np.float32, np.float64]),
       scale=st.sampled_from([0.1, 1.0, 8.0]), seed=st.integers(0, 2**16))
def test_kernels_match_reference(n, u, dtype, scale, seed):
    z = _normal((n, 4 * u), dtype, seed, scale)
    c_prev = _normal((n, u), dtype, seed + 1)
    gates, h, c, tc = assert_kernel_matches_reference("lstm_cell_forward", z, c_prev)
    dh, dc = _normal((n, u), dtype, seed + 2), _normal((n, u), dtype, seed + 3)
    assert_kernel_matches_reference("lstm_cell_backward", gates, c_prev, tc, dh, dc)


def test_non_contiguous_and_mixed_dtype_inputs():
    z = _normal((6, 40), np.float64, 1)[:, ::2]           # (6, 20): strided columns, 5 units
    c_prev = _normal((6, 5), np.float32, 2)               # float32 joins float64: computed in float64
    gates, h, c, tc = assert_kernel_matches_reference("lstm_cell_forward", z, c_prev)
    assert gates.dtype == np.float64
    assert_kernel_matches_reference("lstm_cell_backward", gates, c_prev, tc[::-1], h.T.copy().T, c)


def test_bit_identical_for_one_and_two_threads():
    n, u = 256, 256                                        # above the kernels' parallel cut-off
    z, c_prev = _normal((n, 4 * u), np.float32, 3, 3.0), _normal((n, u), np.float32, 4)
    dh, dc = _normal((n, u), np.float32, 5), _normal((n, u), np.float32, 6)
    before = _native.get_num_threads()
    results = []
    try:
        for threads in (1, 2):
            _native.set_num_threads(threads)
            gates, h, c, tc = K.lstm_cell_forward(z, c_prev)
            results.append((gates, h, c, tc, *K.lstm_cell_backward(gates, c_prev, tc, dh, dc)))
    finally:
        _native.set_num_threads(before)
    for one, two in zip(*results):
        assert one.tobytes() == two.tobytes()


# ---- the whole sequence ---------------------------------------------------------------------------------

def _sequence(steps, n, u, dtype, seed, scale=1.0):
    """xw (T, N, 4U), U (U, 4U), h0, c0 (N, U): a random unmasked LSTM problem."""
    return (_normal((steps, n, 4 * u), dtype, seed, scale), _normal((u, 4 * u), dtype, seed + 1, 0.5),
            _normal((n, u), dtype, seed + 2), _normal((n, u), dtype, seed + 3))


@settings(max_examples=20, deadline=None)
@given(steps=st.integers(1, 5), n=st.integers(1, 13), u=st.integers(1, 24),
       dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 2**16))
def test_sequence_kernels_match_reference(steps, n, u, dtype, seed):
    xw, rec, h0, c0 = _sequence(steps, n, u, dtype, seed)
    gates, h, c, tc = assert_kernel_matches_reference("lstm_forward", xw, rec, h0, c0)
    dh, dc = _normal((steps, n, u), dtype, seed + 4), _normal((n, u), dtype, seed + 5)
    assert_kernel_matches_reference("lstm_backward", gates, c0, c, tc, rec.T, dh, dc)


def test_sequence_is_the_cell_step_by_step():
    """lstm_forward's step t is lstm_cell_forward of xw[t] + h[t-1]·U, bit for bit (the same GEMM
    adds h·U onto xw); lstm_backward's dz[t] is lstm_cell_backward's."""
    xw, rec, h0, c0 = _sequence(4, 6, 20, np.float32, 17)
    gates, h, c, tc = K.lstm_forward(xw, K.gemm_pack_b(rec), h0, c0)
    dh, dc = _normal((4, 6, 20), np.float32, 18), _normal((6, 20), np.float32, 19)
    dz, dh0, dc0 = K.lstm_backward(gates, c0, c, tc, rec.T, dh, dc)
    h_prev, c_prev, dz_last = h0, c0, K.lstm_cell_backward(gates[3], c[2], tc[3], dh[3], dc)[0]
    for t in range(4):
        want = K.lstm_cell_forward(K.gemm(h_prev, K.gemm_pack_b(rec), out=xw[t].copy(), beta=1.0), c_prev)
        for got, w in zip((gates[t], h[t], c[t], tc[t]), want):
            assert got.tobytes() == w.tobytes()
        h_prev, c_prev = h[t], c[t]
    assert dz[3].tobytes() == dz_last.tobytes()


def test_sequence_gradient_is_the_finite_difference():
    """float64: dz = dL/dxw, dh0, dc0 of L = sum(h * a) + sum(c_T * b), by central differences."""
    steps, n, u = 3, 2, 3
    xw, rec, h0, c0 = _sequence(steps, n, u, np.float64, 21)
    a, b = _normal((steps, n, u), np.float64, 25), _normal((n, u), np.float64, 26)

    def loss():
        _, h, c, _ = K.lstm_forward(xw, rec, h0, c0)
        return float((h * a).sum() + (c[-1] * b).sum())
    gates, h, c, tc = K.lstm_forward(xw, rec, h0, c0)
    dz, dh0, dc0 = K.lstm_backward(gates, c0, c, tc, rec.T, a, b)
    for got, x in ((dz, xw), (dh0, h0), (dc0, c0)):
        np.testing.assert_allclose(got, numerical_gradient(loss, x), rtol=1e-6, atol=1e-8)


def test_sequence_bit_identical_for_any_thread_count():
    """Each thread runs its own rows through every step: 1, 2 and 3 threads split the 30 rows at
    different places (tile edges move), and the results do not change by a bit. (10 steps, 128 units:
    enough work for 3 threads, see lstm_threads in csrc/lstm.c.)"""
    xw, rec, h0, c0 = _sequence(10, 30, 128, np.float32, 27, 2.0)
    dh, dc = _normal((10, 30, 128), np.float32, 28), _normal((30, 128), np.float32, 29)
    before = _native.get_num_threads()
    results = []
    try:
        for threads in (1, 2, 3):
            _native.set_num_threads(threads)
            gates, h, c, tc = K.lstm_forward(xw, rec, h0, c0)
            results.append((gates, h, c, tc, *K.lstm_backward(gates, c0, c, tc, rec.T, dh, dc)))
    finally:
        _native.set_num_threads(before)
    for one, *others in zip(*results):
        assert all(one.tobytes() == other.tobytes() for other in others)


@pytest.mark.parametrize("kernels", [K, R], ids=["native", "reference"])
def test_sequence_gates_in_place(kernels):
    """out=xw turns xw into the gates; a separate out receives them; xw is read, never written, else."""
    xw, rec, h0, c0 = _sequence(3, 5, 7, np.float64, 31)
    keep = xw.copy()
    want = kernels.lstm_forward(xw, rec, h0, c0)
    np.testing.assert_array_equal(xw, keep)
    out = np.empty_like(xw)
    assert kernels.lstm_forward(xw, rec, h0, c0, out=out)[0] is out
    got = kernels.lstm_forward(xw, rec, h0, c0, out=xw)
    assert got[0] is xw
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)
    np.testing.assert_array_equal(out, want[0])


# ---- bad input ---------------------------------------------------------------------------------------------

_GOOD = {
    "lstm_cell_forward": dict(z=np.zeros((2, 12)), c_prev=np.zeros((2, 3))),
    "lstm_forward": dict(xw=np.zeros((4, 2, 12)), recurrent_kernel=np.zeros((3, 12)), h0=np.zeros((2, 3)),
                         c0=np.zeros((2, 3))),
    "lstm_backward": dict(gates=np.zeros((4, 2, 12)), c0=np.zeros((2, 3)), c=np.zeros((4, 2, 3)),
                          tc=np.zeros((4, 2, 3)), recurrent_kernel_t=np.zeros((12, 3)), dh=np.zeros((4, 2, 3)),
                          dc=np.zeros((2, 3))),
    "lstm_cell_backward": dict(gates=np.zeros((2, 12)), c_prev=np.zeros((2, 3)), tc=np.zeros((2, 3)),
                               dh=np.zeros((2, 3)), dc=np.zeros((2, 3))),
}
_BAD = {
    "z": [np.zeros((2, 10)), np.zeros(12), np.zeros((2, 12, 1)), np.zeros((2, 12), int), [[0.0] * 12] * 2],
    "gates": [np.zeros((2, 10)), np.zeros((3, 12)), np.zeros((2, 12), np.complex128)],
    "c_prev": [np.zeros((2, 4)), np.zeros((3, 3)), np.zeros(3), np.zeros((2, 3), bool)],
    "tc": [np.zeros((2, 4)), np.zeros((2, 3), int)],
    "dh": [np.zeros((1, 3)), None],
    "dc": [np.zeros((2, 3, 1)), "x"],
    "xw": [np.zeros((2, 12)), np.zeros((0, 2, 12)), np.zeros((4, 2, 10)), np.zeros((4, 2, 12), int)],
    "recurrent_kernel": [np.zeros((12, 3)), np.zeros((3, 8)), np.zeros((3, 12), bool)],
    "recurrent_kernel_t": [np.zeros((3, 12)), np.zeros(36)],
    "h0": [np.zeros((3, 3)), np.zeros((2, 3), int)],
    "c0": [np.zeros((2, 4)), None],
    "c": [np.zeros((3, 2, 3)), np.zeros((2, 3))],
}


@pytest.mark.parametrize("kernels", [K, R], ids=["native", "reference"])
@pytest.mark.parametrize("kernel, arg, bad", [(k, a, b) for k, kw in _GOOD.items() for a in kw
                                              for b in _BAD[a]])
def test_bad_input_is_a_clear_error(kernels, kernel, arg, bad):
    kwargs = dict(_GOOD[kernel], **{arg: bad})
    assert_clean_error(kernels, kernel, kwargs)


@pytest.mark.parametrize("kernels", [K, R], ids=["native", "reference"])
@pytest.mark.parametrize("out", [np.zeros((4, 2, 10)), np.zeros((4, 2, 12), np.float32), "x"])
def test_bad_out_is_a_clear_error(kernels, out):
    assert_clean_error(kernels, "lstm_forward", dict(_GOOD["lstm_forward"], out=out))


# ---- the op that uses them ------------------------------------------------------------------------------

@pytest.mark.parametrize("masked", [False, True])
def test_fused_cell_equals_the_numpy_cell(masked):
    """The LSTM op's fused paths (tanh, sigmoid) — the whole-sequence kernels (unmasked only) and the
    fused cell step by step — give what its NumPy path gives, forward and BPTT."""
    n, steps, d, u = 3, 5, 4, 6
    x = _normal((n, steps, d), np.float64, 7)
    kernel, rec, bias = _normal((d, 4 * u), np.float64, 8), _normal((u, 4 * u), np.float64, 9), \
        _normal((4 * u,), np.float64, 10)
    states = [_normal((n, u), np.float64, 11), _normal((n, u), np.float64, 12)]
    mask = np.random.default_rng(13).random((n, steps)) > 0.3 if masked else None
    d_out = _normal((n, steps, u), np.float64, 14)
    d_final = [_normal((n, u), np.float64, 15), _normal((n, u), np.float64, 16)]
    results = []
    for path in ("whole sequence", "fused cell", "numpy"):
        cell = recurrent.make_cell("lstm", u, rec, bias)
        assert cell.fused and cell.whole_sequence
        cell.fused, cell.whole_sequence = path != "numpy", path == "whole sequence"
        out, finals, tape = recurrent.rnn_forward(cell, x, kernel, states, mask=mask)
        assert tape.whole_sequence == (path == "whole sequence" and not masked)
        results.append([out, *finals, *(g for g in recurrent.rnn_backward(tape, d_out, d_final)[:4]),
                        *recurrent.rnn_backward(tape, d_out, d_final)[4]])
    for variant in results[:2]:
        for a, b in zip(variant, results[2]):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-13)


def test_other_activations_do_not_use_the_fused_cell():
    rec = np.zeros((2, 8))
    assert not recurrent.make_cell("lstm", 2, rec, None, activation="relu").fused
    assert not recurrent.make_cell("lstm", 2, rec, None, recurrent_activation="hard_sigmoid").fused
