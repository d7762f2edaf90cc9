"""The bad-input fuzz shared by the kernel tests: one bad argument at a time, a clean error every time."""
import numpy as np
import pytest


def bad_calls(good, bad_args):
    """pytest params (kernel, argument, bad value): every argument of every kernel in `good` (kernel ->
    valid keyword arguments) replaced in turn by each of `bad_args[argument]`."""
    for kernel, kwargs in good.items():
        for arg in kwargs:
            for i, bad in enumerate(bad_args[arg]):
                yield pytest.param(kernel, arg, bad, id=f"{kernel}-{arg}-{i}")


def assert_clean_error(kernels, kernel, kwargs):
    """Calling `kernels.<kernel>(**kwargs)` raises ValueError/TypeError naming the kernel."""
    with pytest.raises((ValueError, TypeError)) as err:
        getattr(kernels, kernel)(**kwargs)
    assert kernel in str(err.value)


# Sizes no array can have: near and beyond the signed 64-bit range the C code indexes with.
HUGE_INTS = (2**62, 2**63 - 1, 2**63, 2**64, 10**30)


def _replace_ints(value):
    """Every copy of `value` (an int or nested tuples of ints) with one of its ints replaced by a huge one."""
    if isinstance(value, (int, np.integer)):
        yield from HUGE_INTS
    elif isinstance(value, (tuple, list)):
        value = tuple(value)
        for i, item in enumerate(value):
            for new in _replace_ints(item):
                yield value[:i] + (new,) + value[i + 1:]


def huge_calls(good, size_args):
    """pytest params (kernel, argument, value): each int of each size argument in `size_args` of every
    kernel in `good` replaced in turn by each of HUGE_INTS."""
    for kernel, kwargs in good.items():
        for arg in size_args:
            if arg in kwargs:
                for i, value in enumerate(_replace_ints(kwargs[arg])):
                    yield pytest.param(kernel, arg, value, id=f"{kernel}-{arg}-huge{i}")


def assert_runs_or_clean_error(kernels, kernel, kwargs):
    """`kernels.<kernel>(**kwargs)` either returns or raises ValueError/TypeError naming the kernel
    (never OverflowError, MemoryError or a crash)."""
    try:
        getattr(kernels, kernel)(**kwargs)
    except (ValueError, TypeError) as err:
        assert kernel in str(err)
