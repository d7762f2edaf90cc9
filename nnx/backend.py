"""Which kernel implementation the ops use: 'native' (compiled), 'reference' (NumPy) or 'shadow' (both).

The ops layer calls `backend.kernels()` every time it runs a kernel, so switching the backend switches
every op of a model that is already built, even in the middle of training.

The default is 'native' where the compiled extension is built, else 'reference': a copy of nnx without
it (no C compiler) trains on the NumPy kernels out of the box. The extension itself loads on the first
call of a compiled kernel; selecting 'native' or 'shadow' without it fails there, with an ImportError
that says how to build it.
"""
import importlib.util
import threading

import numpy as np

from nnx._C.switch import AttributeSwitch
from nnx.compare import assert_results_match, describe_call

KERNEL_NAMES = (
    "gemm", "gemm_pack_b",
    "conv2d_forward", "conv2d_backward_input", "conv2d_backward_weight",
    "max_pool2d_forward", "max_pool2d_backward",
    "avg_pool2d_forward", "avg_pool2d_backward",
    "affine_transform",
    "bias_relu_forward", "bias_relu_backward",
    "lstm_cell_forward", "lstm_cell_backward", "lstm_forward", "lstm_backward",
    "adam_update",
)
# Kernels that update some of their array arguments in place and return None: the shadow backend runs
# the reference on copies and compares those arguments (by position) after the call.
IN_PLACE = {"adam_update": (0, 2, 3, 4)}
BACKENDS = ("native", "reference", "shadow")



def _default_backend():
    """'native' if the compiled extension is there (found, not loaded), else 'reference'."""
    return "native" if importlib.util.find_spec("nnx._C._native") is not None else "reference"


class _BackendState(threading.local):
    name = _default_backend()   # per thread; a new thread starts on the default


_state = _BackendState()


_loaded = {}   # backend name -> its module: kernels() runs before every kernel call


def _module(name):
    module = _loaded.get(name)
    if module is None:
        module = _loaded[name] = _import(name)
    return module


def _import(name):
    if name == "native":
        from nnx import kernels
        return kernels
    if name == "reference":
        from nnx import reference
        return reference
    return _SHADOW


def get_backend():
    return _state.name


def set_backend(name):
    """Select the kernels every op uses: 'native', 'reference' or 'shadow'."""
    if name not in BACKENDS:
        raise ValueError(f"set_backend: unknown backend {name!r}; expected one of {BACKENDS}")
    _state.name = name


def use_backend(name):
    """`with nnx.use_backend('reference'):` runs the block on that backend, then restores the old one
    (interrupt-safe: a Ctrl-C as the block ends still restores it)."""
    if name not in BACKENDS:
        raise ValueError(f"use_backend: unknown backend {name!r}; expected one of {BACKENDS}")
    return AttributeSwitch(_state, "name", name)


def kernels():
    """The kernel namespace of the current backend (has every name in KERNEL_NAMES)."""
    return _module(_state.name)


class ShadowMismatch(AssertionError):
    """Raised by the shadow backend when the compiled and reference kernels disagree."""


class _Shadow:
    """Runs every kernel on both the native and the reference backend and compares the results.

    A learner who changes a C kernel trains a real model with `nnx.use_backend('shadow')` and gets
    an exception at the first call whose result differs beyond rounding, naming the kernel and its
    arguments."""

    def __getattr__(self, name):
        if name not in KERNEL_NAMES:
            raise AttributeError(name)
        native = getattr(_module("native"), name)
        reference = getattr(_module("reference"), name)

        def shadowed(*args, **kwargs):
            ref_args, ref_kwargs = args, kwargs
            if name in IN_PLACE or isinstance(kwargs.get("out"), np.ndarray):
                # out may be read (gemm's beta) or be an input (an in-place epilogue), and native
                # overwrites it first: the reference gets copies
                ref_args = [_copied(a) for a in args]
                ref_kwargs = {k: v.copy() if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
            got = native(*args, **kwargs)
            want = reference(*ref_args, **ref_kwargs)
            if name in IN_PLACE:
                updated = [i for i in IN_PLACE[name] if i < len(args) and args[i] is not None]
                got, want = _arrays_of(args, updated), _arrays_of(ref_args, updated)
            assert_results_match(f"shadow backend: native {describe_call(name, args, kwargs)}", got,
                                 want, ShadowMismatch)
            return got

        shadowed.__name__ = name
        return shadowed


def _copied(value):
    """A copy of an array, or of each array of a list (adam_update's weights of a whole model)."""
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, (list, tuple)) and value and all(isinstance(a, np.ndarray) for a in value):
        return [a.copy() for a in value]
    return value


def _arrays_of(args, positions):
    """The arrays at `positions` of args, the arrays of a list argument one by one."""
    arrays = []
    for i in positions:
        arrays.extend(args[i] if isinstance(args[i], (list, tuple)) else [args[i]])
    return tuple(arrays)


_SHADOW = _Shadow()
