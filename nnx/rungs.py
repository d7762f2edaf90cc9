"""The rungs of the GEMM and convolution ladders, slowest first (docs/gemm.md, docs/convolution.md): the
names `rung=` takes.

A leaf module, so that the compiled kernels (nnx._C) and the NumPy reference (nnx.reference) share one
list without importing each other."""
GEMM_RUNGS = ("naive", "reordered", "blocked", "packed", "parallel")
CONV_RUNGS = ("naive", "im2col", "fast")
