"""nnx.preprocessing: standardize, normalize, to_categorical, train_test_split."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

import nnx
from nnx.preprocessing import normalize, standardize, to_categorical, train_test_split

small_floats = st.floats(-1e3, 1e3, allow_nan=False, width=64)


@settings(max_examples=40, deadline=None)
@given(hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=3, max_side=6), elements=small_floats),
       st.sampled_from([None, 0, -1]))
def test_standardize_matches_formula(x, axis):
    out = standardize(x, axis=axis)
    mean = x.mean(axis=axis, keepdims=True)
    std = x.std(axis=axis, keepdims=True)
    constant = std <= 8 * np.finfo(np.float64).eps * np.abs(mean)
    expected = np.where(constant, 0.0, (x - mean) / np.where(constant, 1, std))
    assert out.dtype == np.float64 and out.shape == x.shape
    np.testing.assert_allclose(out, expected, rtol=1e-9, atol=1e-9)


def test_standardize_statistics_and_dtypes():
    rng = np.random.default_rng(0)
    x = rng.normal(5, 3, (1000, 4)).astype(np.float32)
    out = standardize(x, axis=0)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(out.std(axis=0), 1, rtol=1e-4)
    pixels = rng.integers(0, 256, (10, 28, 28), dtype=np.uint8)
    scaled = standardize(pixels)
    assert scaled.dtype == np.float32 and abs(float(scaled.mean())) < 1e-5
    assert pixels.dtype == np.uint8  # input untouched


def test_standardize_constant_data_is_zero_not_nan():
    for x in (np.full(1000, 0.1), np.full((3, 3), 7.0, np.float32), np.zeros(5), np.array([1e10] * 3)):
        out = standardize(x)
        np.testing.assert_array_equal(out, 0.0)
    mixed = np.array([[1.0, 2.0], [1.0, 4.0]])
    np.testing.assert_array_equal(standardize(mixed, axis=0), [[0.0, -1.0], [0.0, 1.0]])


def test_normalize_min_max():
    x = np.array([[1.0, 5.0, 3.0], [2.0, 2.0, 2.0]])
    np.testing.assert_allclose(normalize(x), (x - 1) / 4)
    np.testing.assert_allclose(normalize(x, axis=1), [[0, 1, 0.5], [0, 0, 0]])
    out = normalize(np.array([0, 128, 255], np.uint8))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [0, 128 / 255, 1])
    rng = np.random.default_rng(1)
    y = normalize(rng.normal(size=(50, 3)), axis=0)
    np.testing.assert_allclose(y.min(axis=0), 0)
    np.testing.assert_allclose(y.max(axis=0), 1)


def test_scaling_bad_input():
    with pytest.raises(ValueError, match="standardize: got an empty array"):
        standardize(np.zeros((0, 3)))
    with pytest.raises(TypeError, match="normalize"):
        normalize(np.array(["a", "b"]))


def test_to_categorical_keras_semantics():
    np.testing.assert_array_equal(to_categorical([0, 2, 1]), np.eye(3)[[0, 2, 1]])
    out = to_categorical(np.array([[1], [3]]), num_classes=5)
    assert out.shape == (2, 5) and out.dtype == np.float32
    np.testing.assert_array_equal(out.argmax(axis=1), [1, 3])
    seq = to_categorical(np.array([[0, 1, 2], [2, 2, 0]]))
    assert seq.shape == (2, 3, 3)
    np.testing.assert_array_equal(seq.argmax(axis=-1), [[0, 1, 2], [2, 2, 0]])
    assert to_categorical([1.0, 0.0], dtype="float64").dtype == np.float64
    assert to_categorical(np.array([], np.int64), num_classes=3).shape == (0, 3)
    assert to_categorical(np.uint8(4), num_classes=6).shape == (6,)


@pytest.mark.parametrize("call,error,message", [
    (lambda: to_categorical([0, 3], num_classes=3), ValueError, r"\[0, 3\).*\[0, 3\]"),
    (lambda: to_categorical([-1, 0]), ValueError, r"must lie in"),
    (lambda: to_categorical([0.5]), ValueError, "integers"),
    (lambda: to_categorical(["a"]), TypeError, "to_categorical"),
    (lambda: to_categorical([], ), ValueError, "num_classes"),
    (lambda: to_categorical([1], num_classes=0), ValueError, "num_classes"),
])
def test_to_categorical_errors(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_train_test_split_sklearn_order_and_sizes():
    x = np.arange(20).reshape(10, 2)
    y = np.arange(10)
    names = [f"s{i}" for i in range(10)]
    x_tr, x_te, y_tr, y_te, n_tr, n_te = train_test_split(x, y, names, test_size=0.25, seed=0)
    assert len(x_te) == 3 and len(x_tr) == 7       # ceil(0.25 * 10) = 3, as scikit-learn
    assert isinstance(n_tr, list) and isinstance(x_tr, np.ndarray)
    np.testing.assert_array_equal(x_tr[:, 0] // 2, y_tr)    # rows stay aligned
    assert n_te == [f"s{i}" for i in y_te]
    assert sorted(np.concatenate([y_tr, y_te])) == list(range(10))
    a_tr, a_te = train_test_split(y, test_size=4, shuffle=False)
    np.testing.assert_array_equal(a_tr, np.arange(6))
    np.testing.assert_array_equal(a_te, np.arange(6, 10))


def test_train_test_split_reproducibility():
    y = np.arange(100)
    a = train_test_split(y, seed=3)
    b = train_test_split(y, seed=3)
    c = train_test_split(y, seed=4)
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[1], c[1])
    nnx.manual_seed(9)
    d = train_test_split(y)
    nnx.manual_seed(9)
    e = train_test_split(y)
    np.testing.assert_array_equal(d[1], e[1])


def test_train_test_split_stratified():
    labels = np.array([0] * 80 + [1] * 20)
    x = np.arange(100)
    x_tr, x_te, y_tr, y_te = train_test_split(x, labels, test_size=0.2, seed=1, stratify=labels)
    assert np.bincount(y_te).tolist() == [16, 4]
    assert np.bincount(y_tr).tolist() == [64, 16]
    np.testing.assert_array_equal(labels[x_te], y_te)
    assert set(x_tr) | set(x_te) == set(range(100)) and not set(x_tr) & set(x_te)


@pytest.mark.parametrize("kwargs,arrays,message", [
    ({}, (np.arange(3), np.arange(4)), r"same length.*\[3, 4\]"),
    ({"test_size": 1.0}, (np.arange(4),), "test_size"),
    ({"test_size": 4}, (np.arange(4),), "test_size"),
    ({"test_size": 0.99}, (np.arange(4),), "no training sample"),
    ({"stratify": np.arange(3)}, (np.arange(4),), "stratify"),
    ({"stratify": np.arange(4), "shuffle": False}, (np.arange(4),), "shuffle"),
    ({}, (), "at least one array"),
    ({}, (np.zeros(0),), "empty"),
])
def test_train_test_split_errors(kwargs, arrays, message):
    with pytest.raises(ValueError, match=message):
        train_test_split(*arrays, **kwargs)
