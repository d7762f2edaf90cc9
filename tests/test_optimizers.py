"""Optimizers against Keras 3's update rules, written out independently here step by step."""
import tracemalloc

import numpy as np
import pytest

import nnx
from nnx import optimizers


# --- the expected sequences: Keras 3's formulas, written plainly (no in-place tricks) ------------
def keras_sgd(w, grads, lr=0.01, momentum=0.0, nesterov=False):
    m = np.zeros_like(w)
    for g in grads:
        if momentum == 0:
            w = w - lr * g
        else:
            m = momentum * m - lr * g
            w = w + (momentum * m - lr * g if nesterov else m)
    return w


def keras_adam(w, grads, lr=0.001, b1=0.9, b2=0.999, eps=1e-7):
    m, v = np.zeros_like(w), np.zeros_like(w)
    for t, g in enumerate(grads, start=1):
        alpha = lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        m = m + (g - m) * (1 - b1)
        v = v + (g * g - v) * (1 - b2)
        w = w - m * alpha / (np.sqrt(v) + eps)
    return w


def keras_rmsprop(w, grads, lr=0.001, rho=0.9, momentum=0.0, eps=1e-7, centered=False):
    v, m, a = np.zeros_like(w), np.zeros_like(w), np.zeros_like(w)
    for g in grads:
        v = rho * v + (1 - rho) * g * g
        if centered:
            a = rho * a + (1 - rho) * g
            inc = lr * g / np.sqrt(v - a * a + eps)
        else:
            inc = lr * g / np.sqrt(v + eps)
        if momentum > 0:
            m = momentum * m + inc
            w = w - m
        else:
            w = w - inc
    return w


def keras_adagrad(w, grads, lr=0.001, init=0.1, eps=1e-7):
    acc = np.full_like(w, init)
    for g in grads:
        acc = acc + g * g
        w = w - lr * g / np.sqrt(acc + eps)
    return w


CASES = [
    (optimizers.SGD, {}, keras_sgd, {}),
    (optimizers.SGD, {"learning_rate": 0.1, "momentum": 0.9}, keras_sgd, {"lr": 0.1, "momentum": 0.9}),
    (optimizers.SGD, {"learning_rate": 0.1, "momentum": 0.5, "nesterov": True}, keras_sgd,
     {"lr": 0.1, "momentum": 0.5, "nesterov": True}),
    (optimizers.Adam, {}, keras_adam, {}),
    (optimizers.Adam, {"learning_rate": 0.05, "beta_1": 0.5, "beta_2": 0.9, "epsilon": 1e-3},
     keras_adam, {"lr": 0.05, "b1": 0.5, "b2": 0.9, "eps": 1e-3}),
    (optimizers.RMSprop, {}, keras_rmsprop, {}),
    (optimizers.RMSprop, {"learning_rate": 0.01, "rho": 0.8, "momentum": 0.7, "epsilon": 1e-2},
     keras_rmsprop, {"lr": 0.01, "rho": 0.8, "momentum": 0.7, "eps": 1e-2}),
    (optimizers.RMSprop, {"centered": True, "momentum": 0.3, "epsilon": 1e-3}, keras_rmsprop,
     {"centered": True, "momentum": 0.3, "eps": 1e-3}),
    (optimizers.Adagrad, {}, keras_adagrad, {}),
    (optimizers.Adagrad, {"learning_rate": 0.5, "initial_accumulator_value": 0.0, "epsilon": 1e-4},
     keras_adagrad, {"lr": 0.5, "init": 0.0, "eps": 1e-4}),
]
IDS = [f"{cls.__name__}-{i}" for i, (cls, *_) in enumerate(CASES)]


def _run(opt, weights, grads_per_step):
    for grads in grads_per_step:
        opt.apply_gradients(zip(grads, weights))


@pytest.mark.parametrize("cls,kwargs,reference,ref_kwargs", CASES, ids=IDS)
def test_matches_keras_formulas_float64(cls, kwargs, reference, ref_kwargs):
    rng = np.random.default_rng(0)
    shapes = [(3, 4), (4,), (2, 3, 3, 2)]
    init = [rng.standard_normal(s) for s in shapes]
    steps = [[rng.standard_normal(s) for s in shapes] for _ in range(6)]
    weights = [nnx.Tensor(w.copy(), requires_grad=True) for w in init]
    opt = cls(**kwargs)
    _run(opt, weights, steps)
    assert opt.iterations == 6
    for i, w in enumerate(weights):
        expected = reference(init[i], [s[i] for s in steps], **ref_kwargs)
        np.testing.assert_allclose(w.data, expected, rtol=1e-12, atol=1e-14)
        assert not np.allclose(w.data, init[i])  # the update did something


@pytest.mark.parametrize("cls,kwargs,reference,ref_kwargs", CASES, ids=IDS)
def test_float32_in_place_and_close_to_float64(cls, kwargs, reference, ref_kwargs):
    rng = np.random.default_rng(1)
    init = rng.standard_normal((5, 7)).astype(np.float32)
    steps = [rng.standard_normal((5, 7)).astype(np.float32) for _ in range(4)]
    w = nnx.Tensor(init.copy(), requires_grad=True)
    array = w.data
    opt = cls(**kwargs)
    for g in steps:
        opt.apply_gradients([(g, w)])
    assert w.data is array and w.data.dtype == np.float32
    expected = reference(init.astype(np.float64), [g.astype(np.float64) for g in steps], **ref_kwargs)
    np.testing.assert_allclose(w.data, expected, rtol=2e-5, atol=2e-6)


def test_adam_first_step_moves_each_weight_by_learning_rate():
    # alpha * m / (sqrt(v) + eps) = lr * g / (|g| + eps / sqrt(1 - b2)) on step 1
    w = np.array([1.0, -1.0, 0.5], np.float64)
    g = np.array([3.0, -0.2, 100.0])
    optimizers.Adam(learning_rate=0.01).apply_gradients([(g, w)])
    step = 0.01 * g / (np.abs(g) + 1e-7 / np.sqrt(1 - 0.999))
    np.testing.assert_allclose(w, [1.0 - step[0], -1.0 - step[1], 0.5 - step[2]], rtol=1e-13)
    np.testing.assert_allclose(w, [0.99, -0.99, 0.49], atol=2e-7)


def test_rmsprop_keras_docstring_value():
    # keras.optimizers.RMSprop docstring: var 10.0, loss var^2 / 2, one minimize step -> 9.683772
    var = nnx.Tensor(np.array(10.0, np.float32))
    optimizers.RMSprop(learning_rate=0.1).apply_gradients([(var.data.copy(), var)])
    assert var.data == pytest.approx(9.683772, abs=1e-6)


def test_sgd_without_momentum_keeps_no_slots():
    opt = optimizers.SGD(0.5)
    w = np.ones(3)
    opt.apply_gradients([(np.full(3, 2.0), w)])
    np.testing.assert_array_equal(w, 0.0)
    assert list(opt.get_state()) == ["iterations"]


def test_tensor_gradients_and_none_skipped():
    a = nnx.Tensor(np.ones(2), requires_grad=True)
    b = nnx.Tensor(np.ones(2), requires_grad=True)
    opt = optimizers.SGD(0.1)
    opt.apply_gradients([(nnx.Tensor(np.array([1.0, 2.0])), a), (None, b)])
    np.testing.assert_allclose(a.data, [0.9, 0.8])
    np.testing.assert_array_equal(b.data, [1.0, 1.0])
    assert opt.iterations == 1


def test_gradient_of_other_dtype_is_cast_to_weight_dtype():
    w = np.ones(3, np.float32)
    optimizers.SGD(0.5).apply_gradients([(np.ones(3, np.float64), w)])
    assert w.dtype == np.float32
    np.testing.assert_array_equal(w, 0.5)


def test_bad_input_leaves_state_untouched():
    w = nnx.Tensor(np.ones((2, 3)), requires_grad=True)
    w.name = "dense/kernel"
    ok = nnx.Tensor(np.ones(4), requires_grad=True)
    opt = optimizers.Adam()
    with pytest.raises(ValueError, match=r"Adam.*\(3, 2\).*\(2, 3\).*dense/kernel"):
        opt.apply_gradients([(np.ones(4), ok), (np.ones((3, 2)), w)])
    np.testing.assert_array_equal(ok.data, 1.0)  # the valid pair was not applied either
    assert opt.iterations == 0
    with pytest.raises(TypeError, match="SGD"):
        optimizers.SGD().apply_gradients([(np.ones(2), [1.0, 2.0])])
    with pytest.raises(TypeError, match="pairs"):
        optimizers.SGD().apply_gradients([np.ones(3)])
    with pytest.raises(TypeError, match="floating point"):
        optimizers.SGD().apply_gradients([(np.ones(2), np.ones(2, np.int64))])


@pytest.mark.parametrize("bad", [
    lambda: optimizers.SGD(momentum=1.5), lambda: optimizers.SGD(learning_rate=-1),
    lambda: optimizers.Adam(beta_1=1.0), lambda: optimizers.RMSprop(rho=-0.1),
    lambda: optimizers.Adagrad(initial_accumulator_value=-1), lambda: optimizers.Adam(epsilon=np.nan),
])
def test_bad_hyperparameters(bad):
    with pytest.raises(ValueError):
        bad()


@pytest.mark.parametrize("cls,kwargs,reference,ref_kwargs", CASES, ids=IDS)
def test_state_round_trip_resumes_exactly(tmp_path, cls, kwargs, reference, ref_kwargs):
    rng = np.random.default_rng(2)
    shapes = [(4, 3), (3,)]
    init = [rng.standard_normal(s) for s in shapes]
    steps = [[rng.standard_normal(s) for s in shapes] for _ in range(5)]

    straight = [w.copy() for w in init]
    _run(cls(**kwargs), straight, steps)

    resumed = [w.copy() for w in init]
    first = cls(**kwargs)
    _run(first, resumed, steps[:3])
    np.savez(tmp_path / "state.npz", **first.get_state())
    with np.load(tmp_path / "state.npz", allow_pickle=False) as f:
        state = dict(f)
    second = cls.from_config(first.get_config())
    second.set_state(state)          # before it has seen any weight: slots wait for them
    assert second.iterations == 3
    _run(second, resumed, steps[3:])
    for a, b in zip(resumed, straight):
        np.testing.assert_array_equal(a, b)


def test_set_state_validates_keys_and_shapes():
    opt = optimizers.Adam()
    w = np.zeros((2, 2))
    opt.apply_gradients([(np.ones((2, 2)), w)])
    state = opt.get_state()
    with pytest.raises(ValueError, match="unexpected state entry 'accumulator/0'"):
        opt.set_state({**state, "accumulator/0": np.zeros((2, 2))})
    with pytest.raises(ValueError, match=r"shape \(3,\).*\(2, 2\)"):
        opt.set_state({**state, "momentum/0": np.zeros(3)})
    with pytest.raises(ValueError, match="iterations"):
        opt.set_state({k: v for k, v in state.items() if k != "iterations"})
    with pytest.raises(ValueError, match="needs slots"):
        opt.set_state({"iterations": np.array(1), "momentum/5": np.zeros(2)})
    assert opt.iterations == 1  # failed loads changed nothing
    np.testing.assert_array_equal(opt.get_state()["momentum/0"], state["momentum/0"])


def test_loaded_state_for_wrong_weight_shape_is_refused():
    opt = optimizers.Adagrad()
    opt.set_state({"iterations": np.array(2), "accumulator/0": np.ones(3)})
    with pytest.raises(ValueError, match=r"accumulator/0.*\(3,\).*\(4,\)"):
        opt.apply_gradients([(np.ones(4), np.zeros(4))])


def test_update_allocates_no_weight_sized_temporaries():
    w = np.zeros(1_000_000, np.float32)          # 4 MB
    g = np.full(1_000_000, 0.5, np.float32)
    for opt in (optimizers.Adam(), optimizers.RMSprop(momentum=0.9), optimizers.Adagrad(),
                optimizers.SGD(momentum=0.9, nesterov=True)):
        opt.apply_gradients([(g, w)])            # first step allocates slots and scratch
        tracemalloc.start()
        opt.apply_gradients([(g, w)])
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert peak < 100_000, f"{type(opt).__name__} allocated {peak} bytes in a step"


def test_get_by_name_config_and_instance():
    assert isinstance(optimizers.get("adam"), optimizers.Adam)
    assert isinstance(optimizers.get("SGD"), optimizers.SGD)
    assert isinstance(optimizers.get("RMSprop"), optimizers.RMSprop)
    assert isinstance(optimizers.get("adagrad"), optimizers.Adagrad)
    opt = optimizers.SGD(learning_rate=0.3, momentum=0.9, nesterov=True)
    assert optimizers.get(opt) is opt
    again = optimizers.get(optimizers.serialize(opt))
    assert again.get_config() == opt.get_config()
    assert optimizers.Adam().get_config() == {
        "name": "adam", "learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7}
    with pytest.raises(ValueError, match="did you mean 'adam'"):
        optimizers.get("adma")
    with pytest.raises(TypeError):
        optimizers.get(3)


def test_gradient_clipping_like_keras():
    g1, g2 = np.array([3.0, 4.0]), np.array([0.0, 12.0])       # norms 5 and 12, global 13
    cases = [
        ({"clipnorm": 6.0}, [g1, g2 * 6 / 12]),                # only g2 is longer than 6
        ({"global_clipnorm": 6.5}, [g1 * 6.5 / 13, g2 * 6.5 / 13]),
        ({"global_clipnorm": 20.0}, [g1, g2]),
        ({"clipvalue": 3.5}, [np.array([3.0, 3.5]), np.array([0.0, 3.5])]),
    ]
    for kwargs, expected in cases:
        w1, w2 = np.zeros(2), np.zeros(2)
        grads = [g1.copy(), g2.copy()]
        opt = optimizers.SGD(learning_rate=1.0, **kwargs)
        opt.apply_gradients(zip(grads, [w1, w2]))
        np.testing.assert_allclose(w1, -expected[0], rtol=1e-12, err_msg=str(kwargs))
        np.testing.assert_allclose(w2, -expected[1], rtol=1e-12, err_msg=str(kwargs))
        np.testing.assert_array_equal(grads[0], g1)            # the caller's gradients are intact
        assert optimizers.get(optimizers.serialize(opt)).get_config() == opt.get_config()
    with pytest.raises(ValueError, match="only one of clipnorm, clipvalue and global_clipnorm"):
        optimizers.Adam(clipnorm=1.0, clipvalue=1.0)
    with pytest.raises(ValueError, match="clipnorm"):
        optimizers.Adam(clipnorm=-1.0)


def test_get_accepts_a_class():
    assert type(optimizers.get(optimizers.RMSprop)) is optimizers.RMSprop
