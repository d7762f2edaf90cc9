"""The compiled parts of nnx, each loaded only when needed.

- `_native`: the Cython bindings to the C kernels in csrc/. Only `nnx.kernels` loads it (through
  `load_native`), on first use of a compiled kernel, so `import nnx` and the 'reference' backend work
  without a C compiler.
- `switch`: `AttributeSwitch`, the with-block behind the grad mode and `use_backend`; compiled where the
  extensions are built, plain Python elsewhere (see its docstring).

How long OpenMP's idle threads spin: GCC's libgomp lets a thread that has finished its share of a
parallel loop spin about 3 ms (GOMP_SPINCOUNT 300,000) before it sleeps. When other busy processes
share the cores, that spinning holds a core the team's own late thread is waiting for, at every one of
the ~30 parallel loops of a training step: a 2-thread MNIST epoch ran 4-6x slower than with short
spinning on a loaded 2-core machine. So the kernels' libgomp spins about 0.1 ms (10,000), still longer
than the gaps between the kernels of a step, unless OMP_WAIT_POLICY or GOMP_SPINCOUNT says otherwise.
libgomp reads the setting once, as it loads with _native; the environment is restored right after,
so nothing else (a subprocess, another library's OpenMP) sees it.
"""
import os

BUILD_HINT = ("build the extension with a C compiler: `python setup.py build_ext --inplace` in a source "
              "checkout, or `pip install` nnx from source")

_SPINCOUNT = "10000"


def load_native():
    """Import and return nnx._C._native, with libgomp's spinning bounded as it loads (see above)."""
    bounded = "OMP_WAIT_POLICY" not in os.environ and "GOMP_SPINCOUNT" not in os.environ
    if bounded:
        os.environ["GOMP_SPINCOUNT"] = _SPINCOUNT
    try:
        from nnx._C import _native   # loads libgomp, which reads GOMP_SPINCOUNT now
    finally:
        if bounded:
            del os.environ["GOMP_SPINCOUNT"]
    return _native
