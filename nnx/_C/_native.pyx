# cython: language_level=3
"""nnx._C._native — the compiled kernels: checks every argument, then calls csrc/ without the GIL.

Each kernel family has its own include file (gemm.pxi, conv.pxi, pool.pxi, epilogue.pxi,
resample.pxi, lstm.pxi, optim.pxi, peak.pxi; buffers.pxi, the buffer cache behind Model.predict); common.pxi holds the argument checks they share and the
thread count. (The interrupt-safe with-block behind the grad mode is its own small module, switch.py, so
that `import nnx` need not load this one.) Rule: no pointer reaches C before its array has been
checked for rank, shape and dtype and made contiguous.
"""
cimport numpy as cnp
import numpy as np

from nnx._C.nnx cimport *

cnp.import_array()

include "common.pxi"
include "gemm.pxi"
include "conv.pxi"
include "pool.pxi"
include "epilogue.pxi"
include "resample.pxi"
include "lstm.pxi"
include "optim.pxi"
include "peak.pxi"
include "buffers.pxi"
