"""nnx — a small, fast, readable deep-learning framework.

C kernels (csrc/) under a Python autograd engine and a Keras-style layer and model API.
"""
from nnx.backend import get_backend, set_backend, use_backend
from nnx.tensor import Tensor, arange, ones, rand, randn, tensor, zeros
from nnx.autograd import Function, enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from nnx.random import get_rng, manual_seed
from nnx import functional  # noqa: F401
from nnx.gradcheck import GradcheckError, gradcheck

__version__ = "0.1.0"

# The rest of the package loads on first use (`nnx.optimizers.Adam`, `nnx.layers.Dense`, ...), so that
# `import nnx` stays fast and the layers above the engine are not imported by the engine itself.
_SUBMODULES = frozenset({
    "activations", "callbacks", "datasets", "initializers", "kernels", "layers", "losses", "metrics",
    "models", "optimizers", "preprocessing", "reference", "testing", "explain", "plot",
})


# Names that need the compiled extension load it when first used (see nnx.kernels).
_FROM_KERNELS = frozenset({"get_num_threads", "set_num_threads"})


def __getattr__(name):
    if name in _SUBMODULES:
        import importlib

        return importlib.import_module(f"nnx.{name}")
    if name in _FROM_KERNELS:
        from nnx import kernels

        return getattr(kernels, name)
    raise AttributeError(f"module 'nnx' has no attribute {name!r}")
