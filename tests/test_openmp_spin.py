"""How long the kernels' OpenMP threads spin (nnx/_C/__init__.py): about 0.1 ms unless the user says
otherwise, read by libgomp as it loads, and the environment left as it was.

libgomp prints the settings it loaded with when OMP_DISPLAY_ENV=verbose, so a fresh interpreter
importing nnx.kernels (which loads the extension) shows what the kernels really run with."""
import os
import subprocess
import sys

import pytest

import nnx

pytestmark = pytest.mark.skipif(
    not nnx.kernels.info()["openmp"] or not nnx.kernels.info()["compiler"].startswith("gcc"),
    reason="GOMP_SPINCOUNT is libgomp's (GCC's OpenMP)")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHOW = "import os, nnx.kernels; print('after import:', os.environ.get('GOMP_SPINCOUNT'))"


def _import_nnx(**env):
    clean = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}
    done = subprocess.run([sys.executable, "-c", SHOW], cwd=ROOT, capture_output=True, text=True,
                          env={**clean, "OMP_DISPLAY_ENV": "verbose", **env}, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout + done.stderr


def test_bounded_by_default_and_not_left_in_the_environment():
    out = _import_nnx()
    assert "GOMP_SPINCOUNT = '10000'" in out
    assert "after import: None" in out


@pytest.mark.parametrize("env,shown", [
    ({"GOMP_SPINCOUNT": "300000"}, "GOMP_SPINCOUNT = '300000'"),
    ({"OMP_WAIT_POLICY": "active"}, "OMP_WAIT_POLICY = 'ACTIVE'"),
])
def test_the_users_setting_wins(env, shown):
    out = _import_nnx(**env)
    assert shown in out
    assert "GOMP_SPINCOUNT = '10000'" not in out
    assert f"after import: {env.get('GOMP_SPINCOUNT')}" in out
