"""Losses: values vs NumPy formulas (Keras' clipping), gradients by finite differences, objects,
lookup, shape handling and bad input."""
import numpy as np
import pytest

import nnx
from nnx import losses

EPS = 1e-7


# --- NumPy references, written from Keras' definitions ---------------------------------------------
def np_softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def np_sparse_cce(labels, p, from_logits):
    if from_logits:
        p = np_softmax(p)
    else:  # TF: logits = log(clip(p)) -> softmax renormalises the clipped probabilities
        p = np.clip(p, EPS, 1 - EPS)
        p = p / p.sum(axis=-1, keepdims=True)
    return -np.log(np.take_along_axis(p, labels[..., None], axis=-1)[..., 0])


def np_cce(t, p, from_logits):
    if from_logits:
        return -(t * np.log(np_softmax(p))).sum(axis=-1)
    p = np.clip(p / p.sum(axis=-1, keepdims=True), EPS, 1 - EPS)
    return -(t * np.log(p)).sum(axis=-1)


def np_bce(t, p, from_logits):
    if from_logits:
        p = 1 / (1 + np.exp(-p))
    else:
        p = np.clip(p, EPS, 1 - EPS)
    return -(t * np.log(p) + (1 - t) * np.log(1 - p)).mean(axis=-1)


def _probs(rng, shape):
    return np_softmax(rng.normal(0, 1.5, shape))


SHAPES = [(6, 4), (1, 3), (3, 5, 4)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("from_logits", [False, True])
def test_sparse_categorical_crossentropy_values(shape, from_logits):
    rng = np.random.default_rng(0)
    y_pred = rng.normal(0, 2, shape) if from_logits else _probs(rng, shape)
    labels = rng.integers(0, shape[-1], shape[:-1])
    got = losses.sparse_categorical_crossentropy(labels, y_pred, from_logits=from_logits)
    assert got.shape == shape[:-1]
    np.testing.assert_allclose(got.data, np_sparse_cce(labels, y_pred, from_logits), rtol=1e-12)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("from_logits", [False, True])
def test_categorical_crossentropy_values(shape, from_logits):
    rng = np.random.default_rng(1)
    y_pred = rng.normal(0, 2, shape) if from_logits else rng.uniform(0.01, 1, shape)  # unnormalised
    targets = _probs(rng, shape)
    got = losses.categorical_crossentropy(targets, y_pred, from_logits=from_logits)
    assert got.shape == shape[:-1]
    np.testing.assert_allclose(got.data, np_cce(targets, y_pred, from_logits), rtol=1e-12)


@pytest.mark.parametrize("shape", SHAPES + [(7,)])
@pytest.mark.parametrize("from_logits", [False, True])
def test_binary_crossentropy_values(shape, from_logits):
    rng = np.random.default_rng(2)
    y_pred = rng.normal(0, 2, shape) if from_logits else rng.uniform(0, 1, shape)
    y_true = rng.integers(0, 2, shape).astype(np.float64)
    got = losses.binary_crossentropy(y_true, y_pred, from_logits=from_logits)
    # a rank-1 prediction is one value per sample: per-sample losses of shape (N,)
    expected_shape = shape[:-1] if len(shape) > 1 else shape
    assert got.shape == expected_shape
    expected = np_bce(y_true.reshape(expected_shape + (-1,)), y_pred.reshape(expected_shape + (-1,)),
                      from_logits)
    np.testing.assert_allclose(got.data, expected, rtol=1e-10)


@pytest.mark.parametrize("name,formula", [
    ("mean_squared_error", lambda t, p: ((p - t) ** 2).mean(axis=-1)),
    ("mse", lambda t, p: ((p - t) ** 2).mean(axis=-1)),
    ("mean_absolute_error", lambda t, p: np.abs(p - t).mean(axis=-1)),
    ("mae", lambda t, p: np.abs(p - t).mean(axis=-1)),
])
@pytest.mark.parametrize("shape", SHAPES)
def test_regression_values(name, formula, shape):
    rng = np.random.default_rng(3)
    y_true, y_pred = rng.normal(size=shape), rng.normal(size=shape)
    got = getattr(losses, name)(y_true, y_pred)
    np.testing.assert_allclose(got.data, formula(y_true, y_pred), rtol=1e-12)


def test_keras_documented_values():
    # keras.losses.categorical_crossentropy docstring example
    p = np.array([[.9, .05, .05], [.05, .89, .06], [.05, .01, .94]], np.float32)
    np.testing.assert_allclose(losses.categorical_crossentropy(np.eye(3), p).data,
                               [0.10536, 0.11653, 0.06188], atol=1e-5)
    np.testing.assert_allclose(losses.sparse_categorical_crossentropy([0, 1, 2], p).data,
                               [0.10536, 0.11653, 0.06188], atol=1e-5)
    # keras.losses.binary_crossentropy docstring example
    np.testing.assert_allclose(losses.binary_crossentropy([[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]]).data,
                               [0.916, 0.714], atol=1e-3)
    # keras.losses.MeanSquaredError / MeanAbsoluteError docstring examples
    y_true, y_pred = [[0.0, 1.0], [0.0, 0.0]], [[1.0, 1.0], [1.0, 0.0]]
    assert float(losses.MeanSquaredError()(y_true, y_pred).data) == pytest.approx(0.5)
    assert float(losses.MeanAbsoluteError()(y_true, y_pred).data) == pytest.approx(0.5)
    # keras.losses.BinaryCrossentropy(from_logits=True) docstring example
    bce = losses.BinaryCrossentropy(from_logits=True)
    assert float(bce([0, 1, 0, 0], [-18.6, 0.51, 2.94, -12.8]).data) == pytest.approx(0.865, abs=1e-3)


def test_probability_clipping_like_keras():
    # a zero probability on the true class costs -log(eps) instead of inf
    p = np.array([[0.0, 1.0], [1.0, 0.0]])
    np.testing.assert_allclose(losses.sparse_categorical_crossentropy([0, 0], p).data,
                               [-np.log(EPS / (EPS + 1 - EPS)), -np.log((1 - EPS) / (1 - EPS + EPS))])
    np.testing.assert_allclose(losses.binary_crossentropy(np.array([[1.0], [0.0]]),
                                                          np.array([[0.0], [1.0]])).data,
                               [-np.log(EPS), -np.log(EPS)], rtol=1e-9)
    # in float32, 1 - eps rounds to 1 - 2^-23, as it does in Keras
    one_minus = np.float32(1) - np.float32(EPS)
    np.testing.assert_allclose(losses.binary_crossentropy(np.array([[0.0]], np.float32),
                                                          np.array([[1.0]], np.float32)).data,
                               [-np.log(np.float32(1) - one_minus)], rtol=1e-6)
    np.testing.assert_allclose(losses.categorical_crossentropy(np.array([[1.0, 0.0]]),
                                                               np.array([[0.0, 3.0]])).data,
                               [-np.log(EPS)])
    # where the clip clamps, no gradient flows (as in Keras)
    y = nnx.Tensor(np.array([[0.0, 1.0]]), requires_grad=True)
    losses.binary_crossentropy(np.array([[1.0, 1.0]]), y).sum().backward()
    np.testing.assert_array_equal(y.grad, [[0.0, 0.0]])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_from_logits_stable_for_huge_logits(dtype):
    z = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 5.0]], dtype)
    for fn, y in ((losses.sparse_categorical_crossentropy, [1, 1]),
                  (losses.categorical_crossentropy, np.array([[0, 1, 0], [0, 1, 0]], dtype)),
                  (losses.binary_crossentropy, np.array([[1, 0, 1], [0, 1, 0]], dtype))):
        t = nnx.Tensor(z, requires_grad=True)
        out = fn(y, t, from_logits=True)
        assert out.dtype == dtype and np.all(np.isfinite(out.data))
        out.sum().backward()
        assert np.all(np.isfinite(t.grad))
    np.testing.assert_allclose(losses.sparse_categorical_crossentropy([1, 1], z, from_logits=True).data,
                               [2e4, 0.0], rtol=1e-6, atol=1e-3)


# --- gradients ------------------------------------------------------------------------------------
@pytest.mark.parametrize("from_logits", [False, True])
def test_gradients_cross_entropies(from_logits):
    rng = np.random.default_rng(4)
    shape = (4, 3)
    raw = rng.normal(0, 1, shape) if from_logits else rng.uniform(0.1, 0.9, shape)
    labels = rng.integers(0, 3, 4)
    targets = _probs(rng, shape)
    bits = rng.integers(0, 2, shape).astype(np.float64)
    for fn, y in ((losses.sparse_categorical_crossentropy, labels),
                  (losses.categorical_crossentropy, targets),
                  (losses.binary_crossentropy, bits)):
        y_pred = nnx.Tensor(raw.copy(), requires_grad=True)
        assert nnx.gradcheck(lambda p: fn(y, p, from_logits=from_logits), [y_pred])


def test_gradients_regression_and_through_targets():
    rng = np.random.default_rng(5)
    y_pred = nnx.Tensor(rng.normal(size=(5, 3)), requires_grad=True)
    y_true = nnx.Tensor(rng.normal(size=(5, 3)), requires_grad=True)
    assert nnx.gradcheck(losses.mean_squared_error, [y_true, y_pred])
    assert nnx.gradcheck(losses.mean_absolute_error, [y_true, y_pred])
    soft = nnx.Tensor(_probs(rng, (5, 3)), requires_grad=True)
    probs = nnx.Tensor(rng.uniform(0.1, 0.9, (5, 3)), requires_grad=True)
    assert nnx.gradcheck(losses.categorical_crossentropy, [soft, probs])
    assert nnx.gradcheck(lambda p: losses.MeanSquaredError()(y_true.data, p), [y_pred])


def test_float32_in_float32_out():
    p = np.full((2, 3), 1 / 3, np.float32)
    for out in (losses.sparse_categorical_crossentropy([0, 2], p),
                losses.categorical_crossentropy(np.eye(3)[[0, 2]], p),
                losses.binary_crossentropy(np.ones((2, 3)), p),
                losses.mse(np.ones((2, 3)), p)):
        assert out.dtype == np.float32


# --- objects --------------------------------------------------------------------------------------
def test_loss_objects_reduce_to_the_mean():
    rng = np.random.default_rng(6)
    p = _probs(rng, (8, 5))
    labels = rng.integers(0, 5, 8)
    per_sample = losses.sparse_categorical_crossentropy(labels, p).data
    loss = losses.SparseCategoricalCrossentropy()
    out = loss(labels, p)
    assert out.shape == () and float(out.data) == pytest.approx(per_sample.mean(), rel=1e-12)
    np.testing.assert_allclose(loss.call(labels, p).data, per_sample)
    summed = losses.SparseCategoricalCrossentropy(reduction="sum")(labels, p)
    assert float(summed.data) == pytest.approx(per_sample.sum(), rel=1e-12)
    none = losses.SparseCategoricalCrossentropy(reduction=None)(labels, p)
    np.testing.assert_allclose(none.data, per_sample)
    with pytest.raises(ValueError, match="reduction"):
        losses.MeanSquaredError(reduction="average")


def test_from_logits_attribute():
    assert losses.SparseCategoricalCrossentropy().from_logits is False
    assert losses.CategoricalCrossentropy(from_logits=True).from_logits is True
    assert losses.get("binary_crossentropy").from_logits is False
    assert not hasattr(losses.get("mse"), "from_logits")
    z = np.array([[2.0, -1.0, 0.5]])
    np.testing.assert_allclose(losses.SparseCategoricalCrossentropy(from_logits=True)([0], z).data,
                               np_sparse_cce(np.array([0]), z, True))


def test_target_shapes_n_vs_n1():
    p = np.array([[0.2], [0.9], [0.6]])
    t = np.array([0.0, 1.0, 1.0])
    a = losses.binary_crossentropy(t, p).data
    b = losses.binary_crossentropy(t[:, None], p).data
    c = losses.binary_crossentropy(t[:, None], p[:, 0]).data
    np.testing.assert_allclose(a, b)
    np.testing.assert_allclose(c, b)
    assert a.shape == (3,)
    np.testing.assert_allclose(losses.mse(t, p).data, (p[:, 0] - t) ** 2)
    # labels as (N, 1), in float or unsigned dtypes
    probs = np.full((3, 4), 0.25)
    ref = losses.sparse_categorical_crossentropy(np.array([0, 3, 1]), probs).data
    for y in (np.array([[0], [3], [1]]), np.array([0.0, 3.0, 1.0]), np.array([0, 3, 1], np.uint8)):
        np.testing.assert_allclose(losses.sparse_categorical_crossentropy(y, probs).data, ref)


@pytest.mark.parametrize("call,message", [
    (lambda: losses.sparse_categorical_crossentropy([0, 1], np.full((3, 4), 0.25)),
     r"sparse_categorical_crossentropy: y_true shape \(2,\) does not match y_pred shape \(3, 4\)"),
    (lambda: losses.sparse_categorical_crossentropy([0, 4, 1], np.full((3, 4), 0.25)),
     r"sparse_categorical_crossentropy: labels must lie in \[0, 4\).*\(3, 4\).*\[0, 4\]"),
    (lambda: losses.sparse_categorical_crossentropy([0, -1, 1], np.full((3, 4), 0.25)),
     r"labels must lie in \[0, 4\)"),
    (lambda: losses.sparse_categorical_crossentropy([0.5, 1, 1], np.full((3, 4), 0.25)),
     r"integer class indices"),
    (lambda: losses.categorical_crossentropy(np.eye(3), np.full((3, 4), 0.25)),
     r"categorical_crossentropy: y_true shape \(3, 3\) does not match y_pred shape \(3, 4\)"),
    (lambda: losses.binary_crossentropy(np.ones(5), np.full((4, 1), 0.5)),
     r"binary_crossentropy: y_true shape \(5,\) does not match y_pred shape \(4, 1\)"),
    (lambda: losses.mse(np.ones((4, 4)), np.ones((4, 1))),
     r"mean_squared_error: y_true shape \(4, 4\) does not match y_pred shape \(4, 1\)"),
    (lambda: losses.mae(np.ones((2, 3)), np.ones((3, 2))), r"mean_absolute_error"),
])
def test_bad_input_raises_value_error_naming_loss_and_shapes(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_bad_types():
    with pytest.raises(TypeError, match="sparse_categorical_crossentropy"):
        losses.sparse_categorical_crossentropy(np.array(["a", "b"]), np.full((2, 2), 0.5))
    with pytest.raises(TypeError, match="mean_squared_error"):
        losses.mse(np.ones(2), np.array(["a", "b"]))


# --- lookup ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("name,cls", [
    ("sparse_categorical_crossentropy", losses.SparseCategoricalCrossentropy),
    ("SparseCategoricalCrossentropy", losses.SparseCategoricalCrossentropy),
    ("categorical_crossentropy", losses.CategoricalCrossentropy),
    ("binary_crossentropy", losses.BinaryCrossentropy),
    ("mse", losses.MeanSquaredError), ("mean_squared_error", losses.MeanSquaredError),
    ("mae", losses.MeanAbsoluteError), ("MeanAbsoluteError", losses.MeanAbsoluteError),
])
def test_get_by_name_and_serialize_round_trip(name, cls):
    loss = losses.get(name)
    assert type(loss) is cls
    assert isinstance(losses.serialize(loss), str)
    assert type(losses.get(losses.serialize(loss))) is cls


def test_get_functions_dicts_objects_and_custom():
    assert type(losses.get(losses.mse)) is losses.MeanSquaredError
    assert type(losses.get(losses.binary_crossentropy)) is losses.BinaryCrossentropy
    obj = losses.CategoricalCrossentropy(from_logits=True)
    assert losses.get(obj) is obj
    spec = losses.serialize(obj)
    assert spec["class_name"] == "CategoricalCrossentropy" and spec["config"]["from_logits"] is True
    assert losses.get(spec).from_logits is True
    assert losses.get({"class_name": "sparse_categorical_crossentropy",
                       "config": {"from_logits": True}}).from_logits is True

    def my_loss(y_true, y_pred):
        return ((y_pred - y_true) ** 2).sum(axis=-1)
    wrapped = losses.get(my_loss)
    assert isinstance(wrapped, losses.Loss) and wrapped.name == "my_loss"
    out = wrapped(np.zeros((2, 2)), np.ones((2, 2)))   # y_pred arrives as a Tensor
    assert isinstance(out, nnx.Tensor) and float(out.data) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="not a built-in loss"):
        losses.serialize(wrapped)
    with pytest.raises(ValueError, match="did you mean 'sparse_categorical_crossentropy'"):
        losses.get("sparse_categorical_crosentropy")
    with pytest.raises(ValueError, match="bad config"):
        losses.get({"class_name": "mse", "config": {"from_logits": True}})
    with pytest.raises(TypeError):
        losses.get(42)


def test_get_accepts_a_class():
    assert type(losses.get(losses.BinaryCrossentropy)) is losses.BinaryCrossentropy
