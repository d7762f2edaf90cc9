"""Cython bindings to the C kernels in csrc/ (built as nnx._C._native).

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

_SPINCOUNT = "10000"

_bounded = "OMP_WAIT_POLICY" not in os.environ and "GOMP_SPINCOUNT" not in os.environ
if _bounded:
    os.environ["GOMP_SPINCOUNT"] = _SPINCOUNT
try:
    from nnx._C import _native  # noqa: F401  (loads libgomp, which reads GOMP_SPINCOUNT now)
finally:
    if _bounded:
        del os.environ["GOMP_SPINCOUNT"]
