"""In-place Tensor operators: same object and buffer, PyTorch's refusals, and a training loop."""
import numpy as np
import pytest

import nnx


@pytest.mark.parametrize("symbol, ref", [("+=", np.add), ("-=", np.subtract), ("*=", np.multiply),
                                         ("/=", np.true_divide)])
@pytest.mark.parametrize("other", [2.0, np.array([1.0, 2.0, 4.0]), "tensor"])
def test_in_place_updates_the_same_object_and_buffer(symbol, ref, other):
    base = np.array([[1.0, -2.0, 3.0], [4.0, 5.0, -6.0]], np.float32)
    t = nnx.Tensor(base.copy())
    alias, buffer = t, t.data
    operand = nnx.Tensor([1.0, 2.0, 4.0]) if isinstance(other, str) else other
    namespace = {"t": t, "o": operand}
    exec(f"t {symbol} o", namespace)
    assert namespace["t"] is alias and alias.data is buffer and alias.dtype == np.float32
    np.testing.assert_allclose(alias.data, ref(base, np.asarray(operand, np.float32)), rtol=1e-6)


def test_in_place_on_a_grad_leaf_inside_no_grad_is_allowed_and_keeps_grad():
    w = nnx.Tensor([1.0, 2.0], requires_grad=True)
    w.grad = np.array([0.5, -1.0], np.float32)
    with nnx.no_grad():
        w -= 0.1 * w.grad
    np.testing.assert_allclose(w.data, [0.95, 2.1])
    assert w.requires_grad and w.is_leaf


@pytest.mark.parametrize("symbol", ["+=", "-=", "*=", "/="])
def test_in_place_on_a_grad_leaf_outside_no_grad_raises_and_changes_nothing(symbol):
    w = nnx.Tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Tensor that requires grad"):
        exec(f"w {symbol} 1.0", {"w": w})
    np.testing.assert_array_equal(w.data, [1.0, 2.0])


def test_in_place_that_would_need_a_graph_raises():
    w = nnx.Tensor([1.0, 2.0], requires_grad=True)
    y = w * 2                      # non-leaf
    with pytest.raises(RuntimeError, match="t = t \\+ other"):
        y += 1.0
    c = nnx.Tensor([0.0, 0.0])     # no grad, updated by a tensor that has one
    with pytest.raises(RuntimeError, match="gradient"):
        c += w
    np.testing.assert_array_equal(c.data, [0.0, 0.0])
    np.testing.assert_array_equal(y.data, [2.0, 4.0])
    (y.sum()).backward()           # the graph is intact
    np.testing.assert_array_equal(w.grad, [2.0, 2.0])


def test_in_place_dtype_and_shape_errors():
    i = nnx.Tensor([1, 2], dtype="int64")
    i += 3
    np.testing.assert_array_equal(i.data, [4, 5])
    with pytest.raises(TypeError, match="int64"):
        i /= 2                     # true division gives floats, as torch refuses for an int tensor
    t = nnx.zeros(3)
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(3,\)"):
        t += np.ones((2, 3))
    np.testing.assert_array_equal(t.data, [0, 0, 0])
    frozen = np.zeros(2, np.float32)
    frozen.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        nnx.Tensor(frozen).__imul__(2.0)


def test_in_place_sgd_loop_trains_a_model():
    """The PyTorch loop of the issue: `with nnx.no_grad(): p -= lr * p.grad` must make the loss fall."""
    from nnx.layers import Dense
    from nnx.models import Sequential
    nnx.manual_seed(0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 4)).astype(np.float32)
    y = (x @ np.array([[1.0], [-2.0], [0.5], [3.0]], np.float32) + 0.3).astype(np.float32)
    model = Sequential([Dense(8, activation="tanh", input_shape=(4,)), Dense(1)])
    params = model.trainable_weights
    before = [p.data for p in params]
    losses = []
    for _ in range(200):
        loss = ((model(x) - y) ** 2).mean()
        losses.append(loss.item())
        model.zero_grad()
        loss.backward()
        with nnx.no_grad():
            for p in params:
                p -= 0.05 * p.grad
    assert all(p.data is b for p, b in zip(model.trainable_weights, before))  # updated in place
    assert losses[-1] < 0.1 * losses[0]
