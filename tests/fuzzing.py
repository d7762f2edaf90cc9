"""The bad-input fuzz shared by the kernel tests: one bad argument at a time, a clean error every time."""
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
