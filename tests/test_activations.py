"""Activations: values vs NumPy formulas, gradients by finite differences, lookup and naming."""
import numpy as np
import pytest

import nnx
from nnx import activations

SELU_ALPHA, SELU_SCALE = 1.6732632423543772, 1.0507009873554805


def _np_softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


REFERENCE = {
    "linear": lambda x: x,
    "relu": lambda x: np.maximum(x, 0),
    "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
    "tanh": np.tanh,
    "softmax": _np_softmax,
    "log_softmax": lambda x: np.log(_np_softmax(x)),
    "exponential": np.exp,
    "softplus": lambda x: np.log1p(np.exp(x)),
    "softsign": lambda x: x / (1 + np.abs(x)),
    "swish": lambda x: x / (1 + np.exp(-x)),
    "leaky_relu": lambda x: np.where(x > 0, x, 0.2 * x),
    "elu": lambda x: np.where(x > 0, x, np.expm1(x)),
    "selu": lambda x: SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * np.expm1(x)),
    "hard_sigmoid": lambda x: np.clip(x / 6 + 0.5, 0, 1),
}


def _inputs(dtype=np.float64):
    # avoid the kinks at 0 and +-3 so finite differences are meaningful everywhere
    x = np.random.default_rng(0).uniform(-4, 4, (5, 7))
    x[np.abs(x) < 0.05] += 0.1
    x[np.abs(np.abs(x) - 3) < 0.05] += 0.1
    return x.astype(dtype)


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_values_match_numpy(name):
    x = _inputs()
    y = activations.get(name)(nnx.Tensor(x))
    np.testing.assert_allclose(np.asarray(y.data if isinstance(y, nnx.Tensor) else y),
                               REFERENCE[name](x), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", sorted(set(REFERENCE) - {"linear"}))
def test_gradients_by_finite_differences(name):
    x = nnx.Tensor(_inputs(), requires_grad=True)
    assert nnx.gradcheck(activations.get(name), [x])


@pytest.mark.parametrize("name", sorted(set(REFERENCE) - {"linear"}))
def test_float32_stays_float32(name):
    y = activations.get(name)(nnx.Tensor(_inputs(np.float32)))
    assert y.dtype == np.float32


@pytest.mark.parametrize("name", ["softplus", "sigmoid", "softmax", "elu", "selu", "swish", "tanh",
                                  "softsign", "log_softmax"])
def test_extreme_inputs_stay_finite(name):
    x = nnx.Tensor(np.array([[-1e4, -50.0, 0.0, 50.0, 1e4]]), requires_grad=True)
    y = activations.get(name)(x)
    assert np.all(np.isfinite(y.data))
    y.sum().backward()
    assert np.all(np.isfinite(x.grad))


def test_softplus_far_tails_exact():
    y = activations.softplus(nnx.Tensor(np.array([-1e4, 1e4, 800.0])))
    np.testing.assert_allclose(y.data, [0.0, 1e4, 800.0])


def test_get_none_name_and_callable():
    assert activations.get(None) is activations.linear
    assert activations.get("ReLU") is activations.relu
    assert activations.get("silu") is activations.swish

    def custom(x):
        return x * 2
    assert activations.get(custom) is custom
    with pytest.raises(ValueError, match="did you mean 'relu'"):
        activations.get("rleu")
    with pytest.raises(ValueError, match="unknown activation 'zzz'"):
        activations.get("zzz")
    with pytest.raises(TypeError):
        activations.get(3)


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_serialize_round_trip(name):
    fn = activations.get(name)
    assert activations.serialize(fn) == name
    assert activations.get(activations.serialize(fn)) is fn


def test_serialize_other_forms():
    assert activations.serialize(None) == "linear"
    assert activations.serialize("silu") == "swish"

    def my_act(x):
        return x
    assert activations.serialize(my_act) == "my_act"
    with pytest.raises(ValueError, match="unknown activation"):
        activations.serialize("nope")
