"""Initialisers: Keras' fan rules and formulas, statistics on big shapes, reproducibility."""
import math

import numpy as np
import pytest

import nnx
from nnx import initializers


@pytest.mark.parametrize("shape,fans", [
    ((), (1, 1)), ((7,), (7, 7)), ((784, 64), (784, 64)),
    ((3, 3, 32, 64), (3 * 3 * 32, 3 * 3 * 64)), ((5, 16, 8), (80, 40)),
])
def test_compute_fans_keras_rules(shape, fans):
    assert initializers.compute_fans(shape) == fans


SHAPE = (3, 3, 64, 200)  # a conv kernel: fan_in 3*3*64 = 576, fan_out 3*3*200 = 1800
FAN_IN, FAN_OUT = initializers.compute_fans(SHAPE)


@pytest.mark.parametrize("name,std,limit", [
    ("glorot_uniform", math.sqrt(2 / (FAN_IN + FAN_OUT)), math.sqrt(6 / (FAN_IN + FAN_OUT))),
    ("he_uniform", math.sqrt(2 / FAN_IN), math.sqrt(6 / FAN_IN)),
    ("lecun_uniform", math.sqrt(1 / FAN_IN), math.sqrt(3 / FAN_IN)),
    # truncated normals keep the target variance and never exceed 2 / 0.8796 target stddevs
    ("glorot_normal", math.sqrt(2 / (FAN_IN + FAN_OUT)),
     2 * math.sqrt(2 / (FAN_IN + FAN_OUT)) / 0.87962566),
    ("he_normal", math.sqrt(2 / FAN_IN), 2 * math.sqrt(2 / FAN_IN) / 0.87962566),
    ("lecun_normal", math.sqrt(1 / FAN_IN), 2 * math.sqrt(1 / FAN_IN) / 0.87962566),
    ("random_uniform", 0.05 / math.sqrt(3), 0.05),
    ("truncated_normal", 0.05 * 0.87962566, 0.1),
    ("random_normal", 0.05, None),
])
def test_statistics_of_big_draws(name, std, limit):
    nnx.manual_seed(1)
    w = initializers.get(name)(SHAPE)
    assert w.shape == SHAPE and w.dtype == np.float32
    n = w.size
    assert abs(w.mean()) < 5 * std / math.sqrt(n)
    assert w.std() == pytest.approx(std, rel=0.01)
    if limit is not None:
        assert np.abs(w).max() <= limit * (1 + 1e-6)
        assert np.abs(w).max() >= 0.99 * limit  # the whole range is used


def test_he_normal_is_truncated_not_plain_normal():
    nnx.manual_seed(0)
    w = initializers.HeNormal()((1000, 1000)).astype(np.float64)
    stddev = math.sqrt(2 / 1000) / 0.87962566103423978   # the underlying normal's stddev
    z = np.abs(w) / stddev
    assert z.max() <= 2.0 + 1e-6
    # a plain normal puts 4.55% of its mass beyond 2 sigma; the truncated one puts none, so the
    # share beyond 1.5 sigma is higher than a plain normal's 13.4%: (13.4 - 4.55) / 95.45 = 9.3%
    assert np.mean(z > 1.5) == pytest.approx(0.0923, abs=0.003)


def test_float64_and_dtype_rules():
    assert initializers.get("glorot_uniform")((4, 5), dtype="float64").dtype == np.float64
    assert initializers.get("zeros")((2,), dtype=np.int32).dtype == np.int32
    with pytest.raises(TypeError, match="floating-point"):
        initializers.get("he_normal")((3, 3), dtype="int32")
    with pytest.raises(ValueError, match="negative"):
        initializers.get("ones")((3, -1))


def test_constants():
    np.testing.assert_array_equal(initializers.get("zeros")((2, 3)), np.zeros((2, 3), np.float32))
    np.testing.assert_array_equal(initializers.get("ones")((4,)), np.ones(4, np.float32))
    np.testing.assert_array_equal(initializers.Constant(2.5)((3,)), np.full(3, 2.5, np.float32))


@pytest.mark.parametrize("shape", [(50, 50), (20, 80), (80, 20), (3, 3, 4, 10)])
def test_orthogonal(shape):
    nnx.manual_seed(3)
    q = initializers.get("orthogonal")(shape, dtype="float64")
    assert q.shape == shape
    m = q.reshape(-1, shape[-1])
    if m.shape[0] < m.shape[1]:
        np.testing.assert_allclose(m @ m.T, np.eye(m.shape[0]), atol=1e-12)
    else:
        np.testing.assert_allclose(m.T @ m, np.eye(m.shape[1]), atol=1e-12)
    g = initializers.Orthogonal(gain=3.0)((8, 8), dtype="float64")
    np.testing.assert_allclose(g @ g.T, 9 * np.eye(8), atol=1e-12)
    with pytest.raises(ValueError, match="rank >= 2"):
        initializers.Orthogonal()((5,))


@pytest.mark.parametrize("name", ["glorot_uniform", "glorot_normal", "he_uniform", "he_normal",
                                  "orthogonal", "random_normal", "uniform"])
def test_reproducible_under_manual_seed(name):
    init = initializers.get(name)
    nnx.manual_seed(42)
    a, b = init((30, 20)), init((30, 20))
    nnx.manual_seed(42)
    c, d = init((30, 20)), init((30, 20))
    np.testing.assert_array_equal(a, c)
    np.testing.assert_array_equal(b, d)
    assert not np.array_equal(a, b)  # consecutive draws differ


def test_get_serialize_and_errors():
    assert isinstance(initializers.get("glorot_uniform"), initializers.GlorotUniform)
    assert isinstance(initializers.get("HeNormal"), initializers.HeNormal)
    vs = initializers.VarianceScaling(scale=3.0, mode="fan_out", distribution="uniform")
    again = initializers.get(initializers.serialize(vs))
    assert isinstance(again, initializers.VarianceScaling) and again.get_config() == vs.get_config()
    assert initializers.get(initializers.serialize(initializers.GlorotNormal())).get_config() == {}

    def custom(shape, dtype="float32"):
        return np.full(shape, 7, dtype)
    assert initializers.get(custom) is custom
    with pytest.raises(ValueError, match="did you mean 'glorot_uniform'"):
        initializers.get("glorot_unifrom")
    with pytest.raises(TypeError):
        initializers.get(3)
    with pytest.raises(ValueError, match="mode"):
        initializers.VarianceScaling(mode="fan_sideways")


def test_variance_scaling_untruncated_normal():
    nnx.manual_seed(5)
    w = initializers.VarianceScaling(scale=4.0, mode="fan_in", distribution="untruncated_normal")(
        (400, 500))
    assert w.std() == pytest.approx(math.sqrt(4.0 / 400), rel=0.01)
    assert np.abs(w).max() > 3 * math.sqrt(4.0 / 400)  # tails are not cut


def test_get_accepts_a_class():
    assert isinstance(initializers.get(initializers.HeUniform), initializers.HeUniform)
