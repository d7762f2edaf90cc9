"""nnx — a small, fast, readable deep-learning framework.

C kernels (csrc/) under a Python autograd engine and a Keras-style layer and model API.
"""
from nnx._C._native import get_num_threads, set_num_threads
from nnx.backend import get_backend, set_backend, use_backend

__version__ = "0.1.0"
