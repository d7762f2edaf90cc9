"""Cython bindings to the C kernels in csrc/ (built as nnx._C._native)."""
