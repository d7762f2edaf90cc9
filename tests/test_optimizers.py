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


def keras_adam(w, grads, lr=0.001, b1=0.9, b2=0.999, eps=1e-7, amsgrad=False, wd=0.0):
    """keras/src/optimizers/adam.py; weight decay as base_optimizer.py's _apply_weight_decay."""
    m, v, v_hat = np.zeros_like(w), np.zeros_like(w), np.zeros_like(w)
    for t, g in enumerate(grads, start=1):
        w = w - w * wd * lr
        alpha = lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        m = m + (g - m) * (1 - b1)
        v = v + (g * g - v) * (1 - b2)
        if amsgrad:
            v_hat = np.maximum(v_hat, v)
        w = w - m * alpha / (np.sqrt(v_hat if amsgrad else v) + eps)
    return w


def keras_nadam(w, grads, lr=0.001, b1=0.9, b2=0.999, eps=1e-7):
    """keras/src/optimizers/nadam.py: u_product is updated before each step's update."""
    m, v, u_product = np.zeros_like(w), np.zeros_like(w), 1.0
    for t, g in enumerate(grads, start=1):
        u_product = u_product * b1 * (1.0 - 0.5 * 0.96 ** t)
        u_t = b1 * (1.0 - 0.5 * 0.96 ** t)
        u_t_1 = b1 * (1.0 - 0.5 * 0.96 ** (t + 1))
        u_product_t_1 = u_product * u_t_1
        m = m + (g - m) * (1 - b1)
        v = v + (g * g - v) * (1 - b2)
        m_hat = u_t_1 * m / (1 - u_product_t_1) + (1 - u_t) * g / (1 - u_product)
        v_hat = v / (1 - b2 ** t)
        w = w - m_hat * lr / (np.sqrt(v_hat) + eps)
    return w


def keras_adamax(w, grads, lr=0.001, b1=0.9, b2=0.999, eps=1e-7):
    """keras/src/optimizers/adamax.py."""
    m, u = np.zeros_like(w), np.zeros_like(w)
    for t, g in enumerate(grads, start=1):
        m = m + (g - m) * (1 - b1)
        u = np.maximum(b2 * u, np.abs(g))
        w = w - lr * m / ((1 - b1 ** t) * (u + eps))
    return w


def keras_adadelta(w, grads, lr=0.001, rho=0.95, eps=1e-7):
    """keras/src/optimizers/adadelta.py."""
    acc_g, acc_d = np.zeros_like(w), np.zeros_like(w)
    for g in grads:
        acc_g = rho * acc_g + (1 - rho) * g * g
        delta = -np.sqrt(acc_d + eps) * g / np.sqrt(acc_g + eps)
        acc_d = rho * acc_d + (1 - rho) * delta * delta
        w = w + lr * delta
    return w


def keras_sgd_scheduled(w, grads, schedule, wd=0.0):
    """SGD whose learning rate at step i (0-based) is schedule(i), with Keras' weight decay."""
    for i, g in enumerate(grads):
        lr = schedule(i)
        w = w - w * wd * lr
        w = w - lr * g
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
    (optimizers.Adam, {"amsgrad": True, "learning_rate": 0.01}, keras_adam,
     {"amsgrad": True, "lr": 0.01}),
    (optimizers.AdamW, {"learning_rate": 0.01}, keras_adam, {"lr": 0.01, "wd": 0.004}),
    (optimizers.AdamW, {"weight_decay": 0.1, "amsgrad": True}, keras_adam, {"wd": 0.1, "amsgrad": True}),
    (optimizers.Nadam, {}, keras_nadam, {}),
    (optimizers.Nadam, {"learning_rate": 0.02, "beta_1": 0.8, "beta_2": 0.99, "epsilon": 1e-3},
     keras_nadam, {"lr": 0.02, "b1": 0.8, "b2": 0.99, "eps": 1e-3}),
    (optimizers.Adamax, {}, keras_adamax, {}),
    (optimizers.Adamax, {"learning_rate": 0.1, "beta_1": 0.5, "beta_2": 0.9, "epsilon": 1e-3},
     keras_adamax, {"lr": 0.1, "b1": 0.5, "b2": 0.9, "eps": 1e-3}),
    (optimizers.Adadelta, {}, keras_adadelta, {}),
    (optimizers.Adadelta, {"learning_rate": 1.0, "rho": 0.9, "epsilon": 1e-6}, keras_adadelta,
     {"lr": 1.0, "rho": 0.9, "eps": 1e-6}),
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
    steps = [[rng.standard_normal(s) for s in shapes] for _ in range(20)]
    weights = [nnx.Tensor(w.copy(), requires_grad=True) for w in init]
    opt = cls(**kwargs)
    _run(opt, weights, steps)
    assert opt.iterations == 20
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
    with pytest.raises(ValueError, match=r"did you mean .*'adam'"):
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


def test_new_rules_allocate_no_weight_sized_temporaries():
    w = np.zeros(1_000_000, np.float32)
    g = np.full(1_000_000, 0.5, np.float32)
    for opt in (optimizers.AdamW(), optimizers.Adam(amsgrad=True), optimizers.Nadam(),
                optimizers.Adamax(), optimizers.Adadelta(), optimizers.SGD(weight_decay=0.1)):
        opt.apply_gradients([(g, w)])
        tracemalloc.start()
        opt.apply_gradients([(g, w)])
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert peak < 100_000, f"{type(opt).__name__} allocated {peak} bytes in a step"


def test_schedule_and_callable_learning_rates_drive_the_update():
    rng = np.random.default_rng(3)
    init = rng.standard_normal(5)
    grads = [rng.standard_normal(5) for _ in range(20)]
    schedule = optimizers.schedules.PiecewiseConstantDecay([4, 9], [0.5, 0.1, 0.01])
    for lr, wd in ((schedule, 0.0), (lambda step: 0.3 / (1 + step), 0.2)):
        w = init.copy()
        opt = optimizers.SGD(learning_rate=lr, weight_decay=wd)
        for i, g in enumerate(grads):
            assert opt.learning_rate == pytest.approx(lr(i))    # evaluated at `iterations`
            opt.apply_gradients([(g, w)])
        np.testing.assert_allclose(w, keras_sgd_scheduled(init, grads, lr, wd), rtol=1e-12)


def test_learning_rate_zero_is_valid_and_freezes_the_weights():
    w = np.ones(3)
    for opt in (optimizers.SGD(learning_rate=0.0, momentum=0.9), optimizers.Adam(learning_rate=0),
                optimizers.AdamW(learning_rate=0.0)):
        opt.apply_gradients([(np.full(3, 2.0), w)])
        np.testing.assert_array_equal(w, 1.0)
        assert opt.iterations == 1


def test_learning_rate_setter_and_bad_values():
    opt = optimizers.Adam(learning_rate=0.1)
    opt.learning_rate = 0.05
    assert opt.learning_rate == 0.05 and opt.get_config()["learning_rate"] == 0.05
    with pytest.raises(ValueError, match="learning_rate"):
        opt.learning_rate = -1.0
    scheduled = optimizers.Adam(learning_rate=optimizers.schedules.ExponentialDecay(0.1, 10, 0.5))
    with pytest.raises(TypeError, match="schedule"):
        scheduled.learning_rate = 0.01
    exploding = optimizers.SGD(learning_rate=lambda step: float("nan"))
    w = np.ones(2)
    with pytest.raises(ValueError, match="learning rate at step 0 is nan"):
        exploding.apply_gradients([(np.ones(2), w)])
    np.testing.assert_array_equal(w, 1.0)
    assert exploding.iterations == 0


def test_weight_decay_exclusions_and_config():
    kernel = nnx.Tensor(np.ones(2), requires_grad=True)
    kernel.name = "dense/kernel"
    bias = nnx.Tensor(np.ones(2), requires_grad=True)
    bias.name = "dense/bias"
    opt = optimizers.SGD(learning_rate=0.5, weight_decay=0.2)
    opt.exclude_from_weight_decay(var_names=["bias"])
    opt.apply_gradients([(np.zeros(2), kernel), (np.zeros(2), bias)])
    np.testing.assert_allclose(kernel.data, 1 - 0.2 * 0.5)      # w -= w * wd * lr
    np.testing.assert_array_equal(bias.data, 1.0)
    assert optimizers.AdamW().weight_decay == 0.004             # Keras' default
    assert optimizers.get(optimizers.serialize(opt)).get_config() == opt.get_config()
    with pytest.raises(ValueError, match="AdamW: weight_decay"):
        optimizers.AdamW(weight_decay=None)
    with pytest.raises(ValueError, match="weight_decay"):
        optimizers.SGD(weight_decay=-0.1)


def test_scheduled_optimizer_config_round_trips_and_rejects_unknown_classes():
    opt = optimizers.Nadam(learning_rate=optimizers.schedules.CosineDecay(
        0.0, 100, alpha=0.1, warmup_target=0.01, warmup_steps=10))
    again = optimizers.get(optimizers.serialize(opt))
    assert again.get_config() == opt.get_config()
    assert again.learning_rate == opt.learning_rate == 0.0
    with pytest.raises(ValueError, match="unknown schedule"):
        optimizers.get({"class_name": "SGD", "config": {"learning_rate": {"class_name": "os.system",
                                                                            "config": {}}}})
    with pytest.raises(ValueError, match="cannot be saved"):
        optimizers.schedules.serialize(lambda step: 0.1)


@pytest.mark.parametrize("name,cls", [("adamw", optimizers.AdamW), ("Nadam", optimizers.Nadam),
                                      ("adamax", optimizers.Adamax), ("adadelta", optimizers.Adadelta)])
def test_new_optimizers_by_name(name, cls):
    assert type(optimizers.get(name)) is cls


def test_schedule_and_state_survive_model_save_and_load(tmp_path):
    from nnx.layers import Dense
    from nnx.models import Sequential, load_model
    rng = np.random.default_rng(8)
    x, y = rng.standard_normal((40, 3)).astype(np.float32), rng.standard_normal((40, 1)).astype(np.float32)

    def model():
        nnx.manual_seed(0)
        m = Sequential([Dense(4, activation="tanh", input_shape=(3,)), Dense(1)])
        m.compile(optimizer=optimizers.Nadam(
            learning_rate=optimizers.schedules.ExponentialDecay(0.05, 3, 0.5), weight_decay=0.01),
            loss="mse")
        return m
    straight = model()
    straight.fit(x, y, epochs=4, batch_size=10, shuffle=False, verbose=0)
    resumed = model()
    resumed.fit(x, y, epochs=2, batch_size=10, shuffle=False, verbose=0)
    resumed.save(tmp_path / "m.nnx")
    loaded = load_model(tmp_path / "m.nnx")
    assert loaded.optimizer.get_config() == resumed.optimizer.get_config()
    assert loaded.optimizer.iterations == 8 and loaded.optimizer.learning_rate == pytest.approx(
        0.05 * 0.5 ** (8 / 3))
    loaded.fit(x, y, epochs=2, batch_size=10, shuffle=False, verbose=0)
    for a, b in zip(loaded.get_weights(), straight.get_weights()):
        np.testing.assert_array_equal(a, b)          # the same steps in the same order
