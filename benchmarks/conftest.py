"""The benchmarks measure the installed nnx (after `pip install .`).

`python -m pytest benchmarks/` puts the current directory on sys.path. Run from a checkout whose
compiled extension was not built in place (`python setup.py build_ext --inplace`), its source tree
would shadow the installed package and fail with "No module named 'nnx._C._native'"; so then the
checkout is taken off the path. A checkout built in place is measured as it is.
"""
import os
import sys
from importlib.machinery import EXTENSION_SUFFIXES

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NATIVE = os.path.join(ROOT, "nnx", "_C", "_native")
if not any(os.path.exists(NATIVE + suffix) for suffix in EXTENSION_SUFFIXES):
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != ROOT]
