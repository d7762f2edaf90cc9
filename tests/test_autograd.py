"""The engine: accumulation, no_grad, graph freeing and memory, deep graphs, custom Functions, errors."""
import gc
import pathlib
import re
import tracemalloc
import weakref

import numpy as np
import pytest

import nnx
import nnx.functional as F


def leaf(*shape, seed=0, dtype=np.float64):
    return nnx.Tensor(np.random.default_rng(seed).standard_normal(shape).astype(dtype), requires_grad=True)


def test_grad_accumulates_across_backward_calls_and_zero_grad_clears():
    x = leaf(3)
    (x * 2).sum().backward()
    (x * 3).sum().backward()
    np.testing.assert_array_equal(x.grad, [5, 5, 5])
    x.zero_grad()
    assert x.grad is None


def test_diamond_graph_sums_both_paths():
    x = leaf(4)
    y = x * 3
    z = (y * y + y.exp()).sum()
    z.backward()
    np.testing.assert_allclose(x.grad, 3 * (2 * y.data + np.exp(y.data)))


def test_shared_gradients_are_not_aliased_between_leaves():
    a, b = leaf(3), leaf(3, seed=1)
    (a + b).sum().backward()
    a.grad[0] = 100.0
    assert b.grad[0] == 1.0


def test_gradient_keeps_float32():
    w = leaf(3, 2, dtype=np.float32)
    (w * 2.0 + np.ones(2)).sum().backward()
    assert w.grad.dtype == np.float32


def test_no_grad_context_and_decorator_record_nothing():
    x = leaf(2)
    with nnx.no_grad():
        assert not nnx.is_grad_enabled()
        y = x * 2
    assert nnx.is_grad_enabled() and not y.requires_grad and y.is_leaf

    @nnx.no_grad()
    def double(t):
        return t * 2
    assert not double(x).requires_grad and nnx.is_grad_enabled()
    with pytest.raises(ZeroDivisionError):
        with nnx.no_grad():
            1 / 0
    assert nnx.is_grad_enabled()
    with nnx.no_grad():
        with nnx.enable_grad():
            assert (x * 2).requires_grad


def test_ten_thousand_step_chain():
    x = leaf(1)
    y = x
    for _ in range(10_000):
        y = y * 1.0001
    y.sum().backward()
    np.testing.assert_allclose(x.grad, [1.0001 ** 10_000], rtol=1e-9)


def test_backward_frees_activations():
    x = leaf(100)
    hidden = x * 2
    ref = weakref.ref(hidden)
    loss = (hidden * hidden).sum()
    del hidden
    gc.collect()
    assert ref() is not None  # the graph keeps it alive until backward
    loss.backward()
    assert ref() is None


def test_repeated_training_steps_do_not_grow_memory():
    w = leaf(256, 256, dtype=np.float32)
    x = np.random.default_rng(0).standard_normal((64, 256)).astype(np.float32)

    def step():
        loss = F.sparse_softmax_cross_entropy(F.relu(F.dense(x, w)), np.zeros(64, int)).mean()
        loss.backward()
        w.grad = None

    for _ in range(3):
        step()
    tracemalloc.start()
    step()
    baseline = tracemalloc.get_traced_memory()[0]
    for _ in range(30):
        step()
    grown = tracemalloc.get_traced_memory()[0] - baseline
    tracemalloc.stop()
    assert grown < 100_000, f"memory grew by {grown} bytes over 30 steps"


def test_backward_twice_through_freed_graph_raises_unless_retained():
    x = leaf(3)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="second time"):
        y.backward()
    z = (x * x).sum()
    x.grad = None
    z.backward(retain_graph=True)
    z.backward()
    np.testing.assert_allclose(x.grad, 4 * x.data)


def test_non_scalar_backward_needs_grad():
    x = leaf(2, 3)
    y = x * 2
    with pytest.raises(ValueError, match=r"scalar.*\(2, 3\)"):
        y.backward()
    with pytest.raises(ValueError, match="shape"):
        y.backward(np.ones(3))
    y.backward(np.full((2, 3), 0.5))
    np.testing.assert_array_equal(x.grad, np.ones((2, 3)))


def test_backward_without_graph_raises():
    with pytest.raises(RuntimeError, match="does not require grad"):
        nnx.Tensor([1.0]).backward()


def test_backward_on_a_leaf():
    x = leaf(1)
    x.backward()
    np.testing.assert_array_equal(x.grad, [1.0])


def test_only_used_inputs_and_requiring_inputs_get_grads():
    a, b = leaf(2), nnx.Tensor([1.0, 2.0])
    (a * b).sum().backward()
    assert b.grad is None and a.grad is not None


class SplitHalves(nnx.Function):
    """Two outputs, to exercise multi-output nodes."""

    @staticmethod
    def forward(ctx, x):
        n = x.shape[0] // 2
        return x[:n] * 2, x[n:] * 3

    @staticmethod
    def backward(ctx, g_first, g_second):
        return np.concatenate([g_first * 2, g_second * 3])


def test_multi_output_function():
    x = leaf(4)
    first, second = SplitHalves.apply(x)
    first.sum().backward()  # second never reaches the loss: its gradient arrives as zeros
    np.testing.assert_array_equal(x.grad, [2, 2, 0, 0])
    assert nnx.gradcheck(lambda t: SplitHalves.apply(t), [leaf(4)])


def test_function_with_non_tensor_arguments_and_ctx_attributes():
    class Scale(nnx.Function):
        @staticmethod
        def forward(ctx, x, k):
            ctx.k = k
            return x * k

        @staticmethod
        def backward(ctx, g):
            return g * ctx.k, None

    x = leaf(3)
    Scale.apply(x, 4.0).sum().backward()
    np.testing.assert_array_equal(x.grad, [4, 4, 4])


def test_function_returning_wrong_number_of_gradients_raises():
    class Wrong(nnx.Function):
        @staticmethod
        def forward(ctx, x, y):
            return x + y

        @staticmethod
        def backward(ctx, g):
            return g

    with pytest.raises(RuntimeError, match="Wrong.backward returned 1 gradients for 2"):
        Wrong.apply(leaf(2), leaf(2)).sum().backward()


def test_function_returning_wrong_gradient_shape_raises():
    class BadShape(nnx.Function):
        @staticmethod
        def forward(ctx, x):
            return x.sum()

        @staticmethod
        def backward(ctx, g):
            return np.ones(7)

    with pytest.raises(RuntimeError, match=r"BadShape.*\(7,\).*\(3,\)"):
        BadShape.apply(leaf(3)).backward()


def test_docs_example_runs():
    text = (pathlib.Path(__file__).parent.parent / "docs" / "autograd.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert blocks, "docs/autograd.md has no python example"
    for block in blocks:
        exec(compile(block, "docs/autograd.md", "exec"), {})


def test_manual_seed_makes_dropout_reproducible():
    x = nnx.Tensor(np.ones((50, 50)))
    nnx.manual_seed(7)
    a = F.dropout(x, 0.5, training=True).data
    nnx.manual_seed(7)
    b = F.dropout(x, 0.5, training=True).data
    np.testing.assert_array_equal(a, b)
    assert nnx.get_rng() is nnx.random.get_rng()
    with pytest.raises(TypeError, match="manual_seed"):
        nnx.manual_seed("seven")


def test_one_gradient_array_returned_for_two_inputs_is_not_aliased():
    class Twice(nnx.Function):
        @staticmethod
        def forward(ctx, a, b):
            return a + b

        @staticmethod
        def backward(ctx, g):
            shared = g * 1.0
            return shared, shared

    a, b = leaf(2), leaf(2, seed=1)
    Twice.apply(a, b).sum().backward()
    a.grad[0] = 7.0
    assert b.grad[0] == 1.0


def test_forward_sees_whether_the_graph_records_the_call():
    seen = []

    class Probe(nnx.Function):
        @staticmethod
        def forward(ctx, x):
            seen.append(ctx.recording)
            return x * 2.0

        @staticmethod
        def backward(ctx, g):
            return g * 2.0

    w = nnx.Tensor(np.ones(3), requires_grad=True)
    Probe.apply(w)                                   # recorded
    Probe.apply(nnx.Tensor(np.ones(3)))              # no argument requires grad
    Probe.apply(np.ones(3))                          # a plain array
    with nnx.no_grad():
        Probe.apply(w)                               # grad mode off
    assert seen == [True, False, False, False]
