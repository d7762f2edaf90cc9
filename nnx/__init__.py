"""nnx — a small, fast, readable deep-learning framework.

C kernels (csrc/) under a Python autograd engine and a Keras-style layer and model API.
"""
from nnx._C._native import get_num_threads, set_num_threads
from nnx.backend import get_backend, set_backend, use_backend
from nnx.tensor import Tensor, tensor
from nnx.autograd import Function, enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from nnx.random import get_rng, manual_seed
from nnx import functional  # noqa: F401
from nnx.gradcheck import GradcheckError, gradcheck

__version__ = "0.1.0"
