"""Backend selection, the shadow backend, threads and kernels.info()."""
import numpy as np
import pytest

import nnx
import nnx.kernels
import nnx.reference
from nnx import backend


def test_default_backend_is_native():
    assert nnx.get_backend() == "native"
    assert backend.kernels() is nnx.kernels


def test_use_backend_switches_and_restores():
    with nnx.use_backend("reference"):
        assert backend.kernels() is nnx.reference
        with nnx.use_backend("shadow"):
            assert nnx.get_backend() == "shadow"
        assert nnx.get_backend() == "reference"
    assert nnx.get_backend() == "native"


def test_use_backend_restores_after_exception():
    with pytest.raises(RuntimeError):
        with nnx.use_backend("reference"):
            raise RuntimeError("boom")
    assert nnx.get_backend() == "native"


def test_unknown_backend_is_rejected():
    with pytest.raises(ValueError, match="unknown backend 'cuda'"):
        nnx.set_backend("cuda")
    assert nnx.get_backend() == "native"


def test_every_backend_has_every_kernel():
    for name in backend.BACKENDS:
        with nnx.use_backend(name):
            for kernel in backend.KERNEL_NAMES:
                assert callable(getattr(backend.kernels(), kernel)), (name, kernel)


def test_shadow_passes_matching_results():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((7, 5)), rng.standard_normal((5, 3))
    with nnx.use_backend("shadow"):
        np.testing.assert_allclose(backend.kernels().gemm(a, b), a @ b, rtol=1e-12)


def test_shadow_names_the_kernel_on_mismatch(monkeypatch):
    def wrong_gemm(a, b, *args, **kwargs):
        return nnx.reference.gemm(a, b, *args, **kwargs) + 1.0

    monkeypatch.setattr(nnx.kernels, "gemm", wrong_gemm)
    a = np.ones((2, 3))
    with nnx.use_backend("shadow"):
        with pytest.raises(backend.ShadowMismatch, match=r"gemm\(array\(2, 3\):float64"):
            backend.kernels().gemm(a, a.T)


def test_threads_round_trip():
    before = nnx.get_num_threads()
    try:
        nnx.set_num_threads(1)
        assert nnx.get_num_threads() == 1
        assert nnx.kernels.info()["threads"] == 1
    finally:
        nnx.set_num_threads(before)
    with pytest.raises(ValueError, match="thread"):
        nnx.set_num_threads(0)


def test_info_reports_simd_threads_and_compiler():
    info = nnx.kernels.info()
    assert info["simd"] in info["simd_available"]
    assert info["simd_available"][-1] == "portable"
    assert info["compiler"] and info["threads"] >= 1
    text = repr(info)
    assert "simd" in text and "compiler" in text


@pytest.mark.parametrize("amsgrad", [False, True])
def test_shadow_runs_an_in_place_kernel_once_and_checks_what_it_updated(amsgrad):
    # adam_update changes w, m, v (and v_hat) in place: the shadow backend must apply it once, as the
    # native backend does, and compare the updated arrays with the reference's run on copies
    rng = np.random.default_rng(1)
    w, g = rng.standard_normal(50).astype(np.float32), rng.standard_normal(50).astype(np.float32)
    state = [np.zeros(50, np.float32) for _ in range(3)]
    args = (0.01, 0.9, 0.999, 1e-7)
    w_native, m_n, v_n, h_n = w.copy(), *(s.copy() for s in state)
    nnx.kernels.adam_update(w_native, g, m_n, v_n, h_n if amsgrad else None, *args)
    w_shadow, m_s, v_s, h_s = w.copy(), *(s.copy() for s in state)
    with nnx.use_backend("shadow"):
        backend.kernels().adam_update(w_shadow, g, m_s, v_s, h_s if amsgrad else None, *args)
    for native, shadow in ((w_native, w_shadow), (m_n, m_s), (v_n, v_s), (h_n, h_s)):
        np.testing.assert_array_equal(shadow, native)


def test_shadow_runs_adam_on_a_list_of_weights_once_and_names_a_wrong_one(monkeypatch):
    # the optimizer updates all of a model's weights in one call: the reference gets copies of every
    # array of the lists, and a mismatch names the array, counted over the lists' arrays in order
    rng = np.random.default_rng(2)
    shapes = [(3, 4), (4,)]
    ws = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    gs = [rng.standard_normal(s).astype(np.float32) for s in shapes]

    def fresh():    # w, m, v lists
        return [w.copy() for w in ws], [np.zeros(s, np.float32) for s in shapes], [np.zeros(s, np.float32)
                                                                                   for s in shapes]

    native, shadow = fresh(), fresh()
    nnx.kernels.adam_update(native[0], gs, native[1], native[2], None, 0.01, 0.9, 0.999, 1e-7)
    with nnx.use_backend("shadow"):
        backend.kernels().adam_update(shadow[0], gs, shadow[1], shadow[2], None, 0.01, 0.9, 0.999, 1e-7)
    for got, want in zip(sum(shadow, []), sum(native, [])):
        np.testing.assert_array_equal(got, want)      # applied once

    def wrong_adam(w, g, m, v, *args):
        nnx.reference.adam_update(w, g, m, v, *args)
        v[1] += 1.0

    monkeypatch.setattr(nnx.kernels, "adam_update", wrong_adam)
    with nnx.use_backend("shadow"):
        with pytest.raises(backend.ShadowMismatch,
                           match=r"adam_update\(\[array\(3, 4\):float32, .*result 5"):
            backend.kernels().adam_update(shadow[0], gs, shadow[1], shadow[2], None, 0.01, 0.9, 0.999, 1e-7)


def test_shadow_names_an_in_place_kernel_that_updates_wrongly(monkeypatch):
    def wrong_adam(w, *args):
        nnx.reference.adam_update(w, *args)
        w += 1.0

    monkeypatch.setattr(nnx.kernels, "adam_update", wrong_adam)
    w, g, m, v = (np.ones(4, np.float32) for _ in range(4))
    with nnx.use_backend("shadow"):
        with pytest.raises(backend.ShadowMismatch, match=r"adam_update.*result 0"):
            backend.kernels().adam_update(w, g, m, v, None, 0.01, 0.9, 0.999, 1e-7)
