"""The further losses of Keras 3, against NumPy transcriptions of keras/src/losses/losses.py (cited
per function) and hand-computed values; gradients by finite differences; names and configs; the
from_logits-after-softmax and softmax-over-one-unit warnings (keras/src/backend/tensorflow/nn.py,
keras/src/ops/nn.py)."""
import warnings

import numpy as np
import pytest

import nnx
from nnx import functional as F
from nnx import losses

EPS = 1e-7
RNG = np.random.default_rng(7)
T_REAL, P_REAL = RNG.normal(size=(4, 3)), RNG.normal(size=(4, 3)) * 2
T_PROB = RNG.dirichlet(np.ones(3), 4)
P_PROB = RNG.dirichlet(np.ones(3), 4)
T_BITS = RNG.integers(0, 2, (4, 3)).astype(np.float64)
P_UNIT = RNG.uniform(0.05, 0.95, (4, 3))


def np_huber(t, p, delta=1.0):
    e = np.abs(p - t)
    return np.mean(np.where(e <= delta, 0.5 * e ** 2, delta * e - 0.5 * delta ** 2), axis=-1)


def np_kld(t, p):
    t, p = np.clip(t, EPS, 1), np.clip(p, EPS, 1)
    return np.sum(t * np.log(t / p), axis=-1)


def np_hinge(t, p, squared=False):
    t = 2 * t - 1 if np.all((t == 0) | (t == 1)) else t
    m = np.maximum(1 - t * p, 0)
    return np.mean(m ** 2 if squared else m, axis=-1)


def np_categorical_hinge(t, p):
    return np.maximum(np.max((1 - t) * p, axis=-1) - np.sum(t * p, axis=-1) + 1, 0)


def np_log_cosh(t, p):
    return np.mean(np.log(np.cosh(p - t)), axis=-1)


def np_cosine(t, p):
    n = lambda x: x / np.sqrt(np.maximum(np.sum(x * x, -1, keepdims=True), 1e-12))  # noqa: E731
    return -np.sum(n(t) * n(p), axis=-1)


def np_msle(t, p):
    return np.mean((np.log(np.maximum(p, EPS) + 1) - np.log(np.maximum(t, EPS) + 1)) ** 2, axis=-1)


def np_poisson(t, p):
    return np.mean(p - t * np.log(p + EPS), axis=-1)


def np_focal(t, p, balance=False, alpha=0.25, gamma=2.0, logits=False, smoothing=0.0):
    t = t * (1 - smoothing) + 0.5 * smoothing
    p = 1 / (1 + np.exp(-p)) if logits else p
    q = np.clip(p, EPS, 1 - EPS)
    bce = -(t * np.log(q) + (1 - t) * np.log(1 - q))
    p_t = t * p + (1 - t) * (1 - p)
    out = (1 - p_t) ** gamma * bce
    if balance:
        out = (t * alpha + (1 - t) * (1 - alpha)) * out
    return np.mean(out, axis=-1)


CASES = [
    (losses.huber, {}, np_huber, T_REAL, P_REAL),
    (losses.huber, {"delta": 0.3}, np_huber, T_REAL, P_REAL),
    (losses.kl_divergence, {}, np_kld, T_PROB, P_PROB),
    (losses.hinge, {}, np_hinge, T_BITS, P_REAL),
    (losses.hinge, {}, np_hinge, 2 * T_BITS - 1, P_REAL),
    (losses.squared_hinge, {}, lambda t, p: np_hinge(t, p, squared=True), T_BITS, P_REAL),
    (losses.categorical_hinge, {}, np_categorical_hinge, np.eye(3)[[0, 2, 1, 1]], P_REAL),
    (losses.log_cosh, {}, np_log_cosh, T_REAL, P_REAL),
    (losses.cosine_similarity, {}, np_cosine, T_REAL, P_REAL),
    (losses.mean_squared_logarithmic_error, {}, np_msle, np.abs(T_REAL), P_UNIT),
    (losses.poisson, {}, np_poisson, np.abs(T_REAL), P_UNIT),
    (losses.binary_focal_crossentropy, {}, np_focal, T_BITS, P_UNIT),
    (losses.binary_focal_crossentropy,
     {"apply_class_balancing": True, "alpha": 0.4, "gamma": 1.5, "from_logits": True,
      "label_smoothing": 0.1},
     lambda t, p: np_focal(t, p, True, 0.4, 1.5, True, 0.1), T_BITS, P_REAL),
]
IDS = [f"{fn.__name__}-{i}" for i, (fn, *_) in enumerate(CASES)]


@pytest.mark.parametrize("fn,kwargs,reference,t,p", CASES, ids=IDS)
def test_values_match_keras_formulas(fn, kwargs, reference, t, p):
    out = fn(t, nnx.Tensor(p), **kwargs)
    assert out.shape == (4,)
    ref_kwargs = {"delta": kwargs["delta"]} if "delta" in kwargs else {}
    np.testing.assert_allclose(out.data, reference(t, p, **ref_kwargs), rtol=1e-10, atol=1e-12)


SMOOTH = [(i, c) for i, c in zip(IDS, CASES)   # hinges are piecewise linear: values only
          if c[0] not in (losses.hinge, losses.squared_hinge, losses.categorical_hinge)]


@pytest.mark.parametrize("fn,kwargs,reference,t,p", [c for _, c in SMOOTH], ids=[i for i, _ in SMOOTH])
def test_gradients_by_finite_differences(fn, kwargs, reference, t, p):
    if fn is losses.huber:   # keep central differences off the kink at |e| = delta
        assert np.all(np.abs(np.abs(p - t) - kwargs.get("delta", 1.0)) > 1e-3)
    y_pred = nnx.Tensor(p.copy(), requires_grad=True)
    assert nnx.gradcheck(lambda q: fn(t, q, **kwargs), [y_pred])


def test_hand_computed_values():
    # huber: errors 0.5 (inside) and 3 (outside): 0.5*0.25 and 3 - 0.5, mean over the two
    assert float(losses.huber([[0.0, 0.0]], [[0.5, 3.0]]).data[0]) == pytest.approx((0.125 + 2.5) / 2)
    # cosine similarity of parallel and opposite vectors
    np.testing.assert_allclose(losses.cosine_similarity([[1.0, 0.0], [0.0, 2.0]],
                                                        [[3.0, 0.0], [0.0, -1.0]]).data, [-1.0, 1.0])
    # categorical hinge: pos = 0.7, neg = 0.2 -> max(0.2 - 0.7 + 1, 0)
    assert float(losses.categorical_hinge([[0, 1, 0]], [[0.1, 0.7, 0.2]]).data[0]) == pytest.approx(0.5)


@pytest.mark.parametrize("cls,name,kwargs", [
    (losses.Huber, "huber", {"delta": 2.0}), (losses.KLDivergence, "kl_divergence", {}),
    (losses.Hinge, "hinge", {}), (losses.SquaredHinge, "squared_hinge", {}),
    (losses.CategoricalHinge, "categorical_hinge", {}), (losses.LogCosh, "log_cosh", {}),
    (losses.CosineSimilarity, "cosine_similarity", {"axis": 1}),
    (losses.MeanSquaredLogarithmicError, "mean_squared_logarithmic_error", {}),
    (losses.Poisson, "poisson", {}),
    (losses.BinaryFocalCrossentropy, "binary_focal_crossentropy", {"gamma": 3.0, "from_logits": True}),
])
def test_classes_names_and_configs(cls, name, kwargs):
    assert type(losses.get(name)) is cls and type(losses.get(cls.__name__)) is cls
    assert losses.serialize(cls()) == name
    obj = cls(**kwargs)
    again = losses.get(losses.serialize(obj))
    assert type(again) is cls and again.get_config() == obj.get_config()
    value = obj(np.abs(T_BITS), P_UNIT)
    np.testing.assert_allclose(value.data, np.mean(obj.call(np.abs(T_BITS), P_UNIT).data))


def test_aliases():
    assert type(losses.get("kld")) is losses.KLDivergence
    assert type(losses.get("logcosh")) is losses.LogCosh
    assert type(losses.get("msle")) is losses.MeanSquaredLogarithmicError


def test_from_logits_after_softmax_warns():
    probs = F.softmax(nnx.Tensor(P_REAL))
    with pytest.warns(UserWarning, match="from_logits=True.*softmax"):
        losses.categorical_crossentropy(T_PROB, probs, from_logits=True)
    with pytest.warns(UserWarning, match="from_logits=True.*softmax"):
        losses.SparseCategoricalCrossentropy(from_logits=True)([0, 1, 2, 0], probs)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        losses.categorical_crossentropy(T_PROB, probs)                     # probabilities: fine
        losses.categorical_crossentropy(T_PROB, nnx.Tensor(P_REAL), from_logits=True)  # logits: fine


def test_softmax_over_one_unit_warns():
    with pytest.warns(UserWarning, match="size 1.*sigmoid"):
        out = F.softmax(nnx.Tensor(np.ones((3, 1))))
    np.testing.assert_array_equal(out.data, 1.0)
    with pytest.warns(UserWarning, match="size 1"):
        nnx.layers.Dense(1, activation="softmax")(np.ones((2, 4), np.float32))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        F.softmax(nnx.Tensor(np.ones((3, 2))))


def test_sample_weight_reduction_like_keras():
    # keras/src/losses/loss.py: weighted values summed, divided by the number of values
    y_true, y_pred = np.array([[0.0], [0.0], [0.0]]), np.array([[1.0], [2.0], [3.0]])
    mse = losses.MeanSquaredError()
    assert float(mse(y_true, y_pred, sample_weight=[1.0, 0.0, 2.0]).data) == pytest.approx(
        (1 + 0 + 18) / 3)
    assert float(mse(y_true, y_pred, sample_weight=2.0).data) == pytest.approx(2 * 14 / 3)
    total = losses.MeanSquaredError(reduction="sum")(y_true, y_pred, sample_weight=[[1.0], [0.0], [2.0]])
    assert float(total.data) == pytest.approx(19.0)
    per_step = losses.reduce_weighted(nnx.Tensor(np.ones((2, 3))), [1.0, 3.0], "none")
    np.testing.assert_array_equal(per_step.data, [[1, 1, 1], [3, 3, 3]])   # broadcast over time
    with pytest.raises(ValueError, match=r"sample_weight shape \(2,\)"):
        mse(y_true, y_pred, sample_weight=[1.0, 2.0])
