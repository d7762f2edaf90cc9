"""The SIMD switch: nnx.kernels.set_simd and the environment variable NNX_SIMD."""
import os
import subprocess
import sys

import numpy as np
import pytest

import nnx.kernels as K
import nnx.reference as R

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def restore_simd():
    before = K.info()["simd"]
    yield
    K.set_simd(before)


def test_paths_are_named_widest_first_and_portable_always_runs():
    available = K.info()["simd_available"]
    assert K.SIMD_NAMES == ("avx512", "avx2+fma", "portable")
    assert available == list(K.SIMD_NAMES[K.SIMD_NAMES.index(available[0]):])  # a suffix: no gaps
    assert K.info()["simd"] in available


@pytest.mark.parametrize("name", ["avx512", "avx2+fma", "portable"])
def test_set_simd_forces_an_available_path_and_refuses_a_wider_one(restore_simd, name):
    available = K.info()["simd_available"]
    if name in available:
        K.set_simd(name)
        assert K.info()["simd"] == name
        a, b = np.ones((70, 50), np.float32), np.ones((50, 90), np.float32)
        np.testing.assert_array_equal(K.gemm(a, b), R.gemm(a, b))  # the kernels run on it
    else:  # only on a CPU without this path
        before = K.info()["simd"]
        with pytest.raises(ValueError, match=f"set_simd: this CPU cannot run the '{name}' path"):
            K.set_simd(name)
        assert K.info()["simd"] == before  # a failed call changes nothing


@pytest.mark.parametrize("bad, error", [("avx", ValueError), ("AVX512", ValueError), ("", ValueError),
                                        ("avx2", ValueError), (2, TypeError), (None, TypeError)])
def test_unknown_names_raise_and_change_nothing(restore_simd, bad, error):
    K.set_simd("portable")
    with pytest.raises(error, match="set_simd.*avx512.*avx2\\+fma.*portable"):
        K.set_simd(bad)
    assert K.info()["simd"] == "portable"


def _run_with_env(value):
    env = dict(os.environ, NNX_SIMD=value)
    code = "import nnx.kernels as K; print(K.info()['simd'])"
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)


@pytest.mark.parametrize("name", ["portable", "avx2+fma"])
def test_environment_variable_selects_the_path_at_import(name):
    if name not in K.info()["simd_available"]:
        pytest.skip(f"this CPU has no {name} path")
    done = _run_with_env(name)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [name]


def test_environment_variable_with_an_unknown_path_fails_the_import_clearly():
    done = _run_with_env("sse9")
    assert done.returncode != 0
    assert "ValueError: environment variable NNX_SIMD='sse9': set_simd: unknown SIMD path 'sse9'" in done.stderr


def test_the_simd_fixture_forces_each_path(simd):
    assert K.info()["simd"] == simd
