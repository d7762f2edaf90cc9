"""nnx.gradcheck and nnx.testing: they must catch wrong gradients and wrong kernels, not just pass."""
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings

import nnx
import nnx.functional as F
from nnx import testing
from nnx.gradcheck import GradcheckError


class WrongSquare(nnx.Function):
    """x * x with a deliberately wrong backward (gradient 2x + 0.01 on the last element)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        wrong = 2 * x * g
        wrong.reshape(-1)[-1] += 0.01
        return wrong


def test_passes_on_correct_gradients_and_reports():
    x = nnx.Tensor(np.linspace(-1, 1, 6).reshape(2, 3), requires_grad=True)
    result = nnx.gradcheck(lambda t: (t * t).exp(), [x])
    assert result and result.ok and result.checked == 6
    assert "ok=True" in repr(result)


def test_fails_and_locates_the_wrong_element():
    x = nnx.Tensor(np.linspace(-1, 1, 6).reshape(2, 3), requires_grad=True)
    with pytest.raises(GradcheckError, match=r"input 0 element \(1, 2\)") as info:
        nnx.gradcheck(WrongSquare.apply, [x])
    assert isinstance(info.value, AssertionError)
    result = nnx.gradcheck(WrongSquare.apply, [x], raise_exception=False)
    assert not result
    i, element, analytic, numeric = result.worst
    assert (i, element) == (0, (1, 2)) and abs(analytic - numeric) > 0.005


def test_checks_only_inputs_that_require_grad_and_passes_other_arguments():
    x = nnx.Tensor(np.ones(3), requires_grad=True)
    c = nnx.Tensor(np.full(3, 2.0))
    labels = np.array([1, 0])
    assert nnx.gradcheck(lambda a, b: a * b, [x, c]).checked == 3
    z = nnx.Tensor(np.eye(2, 3), requires_grad=True)
    assert nnx.gradcheck(lambda t, y: F.sparse_softmax_cross_entropy(t, y), [z, labels])


def test_wrong_gradient_for_second_input_is_reported_with_its_index():
    class WrongSecond(nnx.Function):
        @staticmethod
        def forward(ctx, a, b):
            return a * b

        @staticmethod
        def backward(ctx, g):
            return g, g  # right only where the other factor is 1

    a = nnx.Tensor([1.0, 1.0], requires_grad=True)
    b = nnx.Tensor([1.0, 3.0], requires_grad=True)
    result = nnx.gradcheck(WrongSecond.apply, [a, b], raise_exception=False)
    assert not result and result.worst[0] in (0, 1) and result.worst[1] == (1,)


def test_runs_in_float64_even_for_float32_inputs():
    seen = []
    x = nnx.Tensor(np.ones(2, np.float32), requires_grad=True)
    nnx.gradcheck(lambda t: seen.append(t.dtype) or t * 3, [x])
    assert set(seen) == {np.dtype(np.float64)}


def test_multiple_outputs_are_all_checked():
    class BadSecondOutput(nnx.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2, x * 3

        @staticmethod
        def backward(ctx, g1, g2):
            return g1 * 2 + g2 * 2  # should be g2 * 3

    with pytest.raises(GradcheckError):
        nnx.gradcheck(BadSecondOutput.apply, [nnx.Tensor([1.0, 2.0], requires_grad=True)])


def test_assert_kernel_matches_reference_passes_and_fails_clearly(monkeypatch):
    x = np.random.default_rng(0).standard_normal((2, 5, 5, 3)).astype(np.float32)
    y = testing.assert_kernel_matches_reference("avg_pool2d_forward", x, (2, 2), (2, 2), ((0, 0), (0, 0)))
    assert y.shape == (2, 2, 2, 3)
    testing.assert_kernel_matches_reference("max_pool2d_forward", x, (3, 3), (1, 2), ((1, 1), (0, 2)))
    testing.assert_kernel_matches_reference("gemm", x[0, 0], x[0, 1].T)

    original = nnx.kernels.avg_pool2d_forward

    def off_by_a_bit(*args):
        y = original(*args).copy()
        y[1, 0, 1, 2] += 1e-2
        return y
    monkeypatch.setattr(nnx.kernels, "avg_pool2d_forward", off_by_a_bit)
    with pytest.raises(AssertionError, match=r"avg_pool2d_forward\(array\(2, 5, 5, 3\):float32.*"
                                             r"1 of 24 elements.*\(1, 0, 1, 2\)"):
        testing.assert_kernel_matches_reference("avg_pool2d_forward", x, (2, 2), (2, 2), ((0, 0), (0, 0)))

    def wrong_argmax(*args):
        y, arg = nnx.reference.max_pool2d_forward(*args)
        return y, arg + 1
    monkeypatch.setattr(nnx.kernels, "max_pool2d_forward", wrong_argmax)
    with pytest.raises(AssertionError, match="result 1.*differ"):
        testing.assert_kernel_matches_reference("max_pool2d_forward", x, (2, 2), (2, 2), ((0, 0), (0, 0)))


@pytest.mark.parametrize("layout", testing.LAYOUTS)
def test_with_layout_keeps_values(layout):
    a = np.arange(24.0).reshape(2, 3, 4)
    b = testing.with_layout(a, layout)
    np.testing.assert_array_equal(a, b)
    assert b.flags.c_contiguous == (layout == "C")


@settings(max_examples=15)
@given(config=testing.conv_configs())
def test_conv_configs_are_valid(config):
    x, k = config["x"], config["kernel"]
    assert x.ndim == 4 and k.ndim == 4 and k.shape[2] * config["groups"] == x.shape[3]
    assert k.shape[3] % config["groups"] == 0
    for n, kk, (a, b), d in zip(x.shape[1:3], k.shape[:2], config["padding"], config["dilation"]):
        assert n + a + b >= (kk - 1) * d + 1


@settings(max_examples=15)
@given(config=testing.pool_configs(), images=testing.image_batches())
def test_pool_configs_and_image_batches_are_valid(config, images):
    assert images.ndim == 4 and images.dtype == np.float64
    testing.assert_kernel_matches_reference("max_pool2d_forward", **config)


def test_nnx_testing_imports_without_hypothesis():
    code = ("import sys; sys.modules['hypothesis'] = None\n"
            "import nnx.testing as t\n"
            "try:\n    t.image_batches()\nexcept ImportError as e:\n    print('lazy', e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "lazy" in out.stdout and "pip install hypothesis" in out.stdout


class SlightlyWrongExp(nnx.Function):
    """exp(x) whose backward is 0.05 % too large: the size of error the default float64 tolerance
    (issue 12: rtol was 1e-3) must catch."""

    @staticmethod
    def forward(ctx, x):
        y = np.exp(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return g * y * (1 + 5e-4)


@pytest.mark.parametrize("scale", [1.0, 1e-2])
def test_default_tolerance_catches_a_0_05_percent_error(scale):
    x = nnx.Tensor(np.linspace(-1, 1, 6) + np.log(scale), requires_grad=True)   # gradients ~ scale
    with pytest.raises(GradcheckError):
        nnx.gradcheck(SlightlyWrongExp.apply, [x])
    assert nnx.gradcheck(lambda t: t.exp(), [x])       # the same check passes the exact gradient
