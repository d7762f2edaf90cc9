"""nnx without its compiled extension: `import nnx` loads no compiled kernels, and a copy of the package
with no compiled files at all (a pure-Python install, no C compiler) trains on the reference backend."""
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import nnx

PACKAGE = Path(nnx.__file__).parent


def run_python(code, path):
    """Run `code` in a fresh interpreter whose `import nnx` finds the package under `path`."""
    env = dict(os.environ, PYTHONPATH=str(path))
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=path, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_the_grad_mode_switch_is_compiled_where_built():
    # tests/test_interrupts.py checks what compiling it buys: Ctrl-C cannot cut a mode switch in half
    import importlib.machinery
    import nnx._C.switch
    assert nnx._C.switch.__file__.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))
    assert issubclass(nnx.no_grad, nnx._C.switch.AttributeSwitch)


def test_import_nnx_does_not_load_the_compiled_kernels():
    out = run_python("""
        import sys
        import nnx
        x = nnx.randn(3, requires_grad=True)
        with nnx.no_grad():
            y = x * 2
        (x * x).sum().backward()
        print("loaded after import and autograd:", "nnx._C._native" in sys.modules)
        nnx.get_num_threads()
        print("loaded after get_num_threads:", "nnx._C._native" in sys.modules)
    """, PACKAGE.parent)
    assert "loaded after import and autograd: False" in out
    assert "loaded after get_num_threads: True" in out


@pytest.fixture(scope="module")
def pure_python_copy(tmp_path_factory):
    """The nnx package copied without any compiled file, nor the generated C and the bundled data."""
    root = tmp_path_factory.mktemp("pure")
    shutil.copytree(PACKAGE, root / "nnx",
                    ignore=shutil.ignore_patterns("*.so", "*.pyd", "*.c", "*.html", "__pycache__", "data"))
    assert not list((root / "nnx").rglob("*.so"))
    return root


def test_a_pure_python_install_trains_on_the_reference_backend(pure_python_copy):
    out = run_python("""
        import sys
        import numpy as np
        import nnx
        from nnx.layers import Conv2D, Dense, Flatten, MaxPooling2D
        from nnx.models import Sequential

        print("from:", nnx.__file__)
        print("backend:", nnx.get_backend())
        nnx.manual_seed(0)
        rng = np.random.default_rng(0)
        x = rng.standard_normal((32, 6, 6, 1)).astype("float32")
        y = (x[:, :3].sum(axis=(1, 2, 3)) > x[:, 3:].sum(axis=(1, 2, 3))).astype("int64")
        model = Sequential([Conv2D(4, (3, 3), activation="relu", input_shape=(6, 6, 1)),
                            MaxPooling2D((2, 2)), Flatten(), Dense(2)])
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        history = model.fit(x, y, epochs=8, batch_size=8, verbose=0)
        losses = history.history["loss"]
        print("loss fell:", losses[-1] < losses[0])
        print("native loaded:", "nnx._C._native" in sys.modules)
        print("switch from:", nnx._C.switch.__file__)
        with nnx.no_grad():
            assert not nnx.is_grad_enabled()
        assert nnx.is_grad_enabled()
        for call in (lambda: nnx.get_num_threads(), lambda: nnx.set_backend("native") or model.predict(x)):
            try:
                call()
            except ImportError as err:
                print("clear error:", "nnx._C._native" in str(err) and "build_ext" in str(err))
    """, pure_python_copy)
    assert f"from: {pure_python_copy / 'nnx' / '__init__.py'}" in out
    assert "backend: reference" in out
    assert "loss fell: True" in out
    assert "native loaded: False" in out
    assert f"switch from: {pure_python_copy / 'nnx' / '_C' / 'switch.py'}" in out
    assert out.count("clear error: True") == 2, out
