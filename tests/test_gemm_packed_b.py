"""GEMM's pre-packed B step (gemm_pack_b, then gemm with the PackedB as b): bit-identical to packing B in
every call (the parallel and packed rungs), on every SIMD path, dtype and thread count, and within the
rounding bound of tests/test_gemm.py of the float64 product and of the NumPy reference."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nnx
import nnx.kernels as K
import nnx.reference as R
from nnx import backend
from test_gemm import assert_close, random, threads  # the GEMM tests' rounding bound, data, thread count

DTYPES = (np.float32, np.float64)

pytestmark = pytest.mark.usefixtures("simd")  # every test on every SIMD path (tests/conftest.py)


def check_against_unpacked(a, b, c, alpha, beta):
    """gemm with B pre-packed equals gemm packing B itself, bit for bit, on 1, 2 and 3 threads and on the
    single-threaded packed rung; and it is within the rounding bound of the float64 product."""
    packed = K.gemm_pack_b(b)
    for rung in ("packed", "parallel"):
        for count in (1, 2, 3):
            with threads(count):
                want = K.gemm(a, b, out=c.copy(), alpha=alpha, beta=beta, rung=rung)
                got = K.gemm(a, packed, out=c.copy(), alpha=alpha, beta=beta, rung=rung)
            np.testing.assert_array_equal(got, want)
    assert_close(got, a, b, c, alpha, beta)
    assert_close(got, a, b, c, alpha, beta, want=R.gemm(a, R.gemm_pack_b(b), out=c.copy(), alpha=alpha,
                                                        beta=beta))


dims = st.one_of(st.integers(1, 40),
                 st.sampled_from([5, 6, 7, 8, 11, 12, 13, 16, 17, 31, 32, 33, 64, 97, 145]))


@pytest.mark.parametrize("dtype", DTYPES)
@given(m=dims, k=dims, n=dims, seed=st.integers(0, 2**32 - 1), transposed_a=st.booleans(),
       alpha=st.sampled_from([1.0, -0.5]), beta=st.sampled_from([0.0, 1.0, 0.25]))
@settings(max_examples=10, deadline=None)
def test_matches_unpacked_bit_for_bit(dtype, m, k, n, seed, transposed_a, alpha, beta):
    rng = np.random.default_rng(seed)
    a = random(rng, (k, m), dtype).T if transposed_a else random(rng, (m, k), dtype)
    check_against_unpacked(a, random(rng, (k, n), dtype), random(rng, (m, n), dtype), alpha, beta)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m, k, n", [(64, 256, 1024), (64, 1024, 256), (7, 800, 4200), (30, 3, 8300),
                                     (150, 385, 40)])
def test_crosses_every_block(dtype, m, k, n):
    """Shapes past KC (k slices), NC (several column slices of the packed B, a thread's columns starting
    inside one) and MC; the first two are an LSTM's recurrent products, forward and backward."""
    rng = np.random.default_rng(m + k + n)
    check_against_unpacked(random(rng, (m, k), dtype), random(rng, (k, n), dtype),
                           random(rng, (m, n), dtype), 0.75, -0.5)


def test_packed_b_is_a_snapshot_of_b():
    rng = np.random.default_rng(2)
    a, b = random(rng, (5, 6), np.float32), random(rng, (6, 7), np.float32)
    packed = K.gemm_pack_b(np.asfortranarray(b))     # any layout; packing copies
    want, b_before = K.gemm(a, b), b.copy()
    b[:] = 0                                          # later changes to b do not reach the packed copy
    np.testing.assert_array_equal(K.gemm(a, packed), want)
    np.testing.assert_array_equal(np.asarray(packed), b_before)
    assert packed.shape == (6, 7) and packed.dtype == np.float32
    assert packed.simd == K.info()["simd"]
    assert not packed.matrix.flags.writeable
    with pytest.raises(ValueError):
        packed.matrix[0, 0] = 1.0


def test_other_rungs_dtypes_and_paths_use_the_matrix():
    """Where the panels do not fit the call (a slow rung, a float64 product, another SIMD path) gemm
    multiplies by the packed matrix itself: the same result as passing b."""
    rng = np.random.default_rng(3)
    a, b = random(rng, (9, 20), np.float32), random(rng, (20, 11), np.float32)
    packed = K.gemm_pack_b(b)
    for rung in K.GEMM_RUNGS:
        np.testing.assert_array_equal(K.gemm(a, packed, rung=rung), K.gemm(a, b, rung=rung))
    a64 = a.astype(np.float64)
    got = K.gemm(a64, packed)
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, K.gemm(a64, b))
    before = K.info()["simd"]
    for path in K.info()["simd_available"]:
        K.set_simd(path)
        try:
            np.testing.assert_array_equal(K.gemm(a, packed), K.gemm(a, b))
        finally:
            K.set_simd(before)


def test_float16_packs_as_float32():
    b = np.arange(12, dtype=np.float16).reshape(3, 4)
    assert K.gemm_pack_b(b).dtype == np.float32
    assert R.gemm_pack_b(b).dtype == np.float32
    a = np.ones((2, 3), np.float16)
    np.testing.assert_array_equal(K.gemm(a, K.gemm_pack_b(b)), a.astype(np.float32) @ b.astype(np.float32))


@pytest.mark.parametrize("pack", [K.gemm_pack_b, R.gemm_pack_b])
@pytest.mark.parametrize("bad", [None, [[1.0]], np.ones((2, 2), np.int32), np.ones(3, np.float32),
                                 np.ones((2, 2, 2), np.float32), np.ones((2, 2), np.complex64)])
def test_bad_input_names_gemm_pack_b(pack, bad):
    with pytest.raises((TypeError, ValueError), match="gemm_pack_b"):
        pack(bad)


@pytest.mark.parametrize("pack", [K.gemm_pack_b, R.gemm_pack_b])
def test_shape_mismatch_names_the_shapes(pack):
    packed = pack(np.ones((4, 5), np.float32))
    for gemm in (K.gemm, R.gemm):
        with pytest.raises(ValueError, match=r"\(3, 3\).*\(4, 5\)"):
            gemm(np.ones((3, 3), np.float32), packed)


def test_every_backend_multiplies_by_its_packed_b():
    rng = np.random.default_rng(4)
    a, b, c = (random(rng, shape, np.float64) for shape in ((8, 30), (30, 40), (8, 40)))
    for name in backend.BACKENDS:
        with nnx.use_backend(name):
            kernels = backend.kernels()
            got = kernels.gemm(a, kernels.gemm_pack_b(b), out=c.copy(), beta=1.0)
        assert_close(got, a, b, c, 1.0, 1.0)


@pytest.mark.parametrize("m, k, n", [(3, 0, 5), (0, 4, 5), (3, 4, 0), (0, 0, 0)])
def test_zero_sizes(m, k, n):
    a, b = np.ones((m, k), np.float32), np.ones((k, n), np.float32)
    packed = K.gemm_pack_b(b)
    assert K.gemm(a, packed).shape == (m, n)
    out = np.full((m, n), 2.0, np.float32)
    np.testing.assert_array_equal(K.gemm(a, packed, out=out, beta=0.5), np.full((m, n), 1.0 + k, np.float32))


@pytest.mark.parametrize("kind, packs", [("lstm", 2), ("simple_rnn", 2), ("gru", 2)])
def test_recurrent_ops_pack_their_weights_once_per_call(monkeypatch, kind, packs):
    """The time loop multiplies by packed recurrent weights: U and Uᵀ are packed once per call (not once
    per step), and every recurrent product of the 7 steps forward and backward gets a PackedB (the
    LSTM's run inside lstm_forward / lstm_backward, one call for all steps each way)."""
    from nnx.functional import recurrent
    calls = {"pack": 0, "packed_products": 0}
    pack, gemm = K.gemm_pack_b, K.gemm
    lstm_forward, lstm_backward = K.lstm_forward, K.lstm_backward

    def counting_pack(b):
        calls["pack"] += 1
        return pack(b)

    def counting_gemm(a, b, *args, **kwargs):
        calls["packed_products"] += isinstance(b, K.PackedB)
        return gemm(a, b, *args, **kwargs)

    def counting_sequence(kernel, weights_at):
        def run(*args, **kwargs):
            calls["packed_products"] += isinstance(args[weights_at], K.PackedB) * len(args[0])  # one per step
            return kernel(*args, **kwargs)
        return run
    monkeypatch.setattr(K, "gemm_pack_b", counting_pack)
    monkeypatch.setattr(K, "gemm", counting_gemm)
    monkeypatch.setattr(K, "lstm_forward", counting_sequence(lstm_forward, 1))
    monkeypatch.setattr(K, "lstm_backward", counting_sequence(lstm_backward, 4))
    rng = np.random.default_rng(5)
    gates = {"lstm": 4, "simple_rnn": 1, "gru": 3}[kind]
    x = nnx.Tensor(rng.standard_normal((2, 7, 3)).astype(np.float32), requires_grad=True)
    w = nnx.Tensor(rng.standard_normal((3, gates * 4)).astype(np.float32), requires_grad=True)
    u = nnx.Tensor(rng.standard_normal((4, gates * 4)).astype(np.float32), requires_grad=True)
    out, _ = recurrent.rnn(kind, x, w, u, return_sequences=True)
    out.sum().backward()
    assert calls["pack"] == packs
    assert calls["packed_products"] == 2 * 7
