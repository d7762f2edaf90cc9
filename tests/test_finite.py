"""fit and evaluate refuse NaN / infinity in their data (issue 12 item 4), naming array and index."""
import numpy as np
import pytest

import nnx
from nnx.layers import Dense, Input
from nnx.models import Sequential
from nnx.utils.finite import require_finite


def classifier():
    nnx.manual_seed(0)
    model = Sequential([Input((3,)), Dense(4, activation="relu"), Dense(2, activation="softmax")])
    model.compile("sgd", "sparse_categorical_crossentropy")
    model.build_for((None, 3))
    return model


def data(n=10):
    rng = np.random.default_rng(0)
    return rng.standard_normal((n, 3)).astype(np.float32), rng.integers(0, 2, n)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_fit_names_x_and_the_first_bad_index_and_changes_nothing(bad):
    model, (x, y) = classifier(), data()
    x[7, 1] = bad
    x[8, 0] = np.nan
    before = [w.data.copy() for w in model.weights]
    with pytest.raises(ValueError, match=rf"fit: x contains {bad} at index \(7, 1\)"):
        model.fit(x, y, verbose=0)
    assert model.optimizer.iterations == 0
    for w, b in zip(model.weights, before):
        np.testing.assert_array_equal(w.data, b)


def test_fit_names_y_and_the_validation_arrays():
    nnx.manual_seed(0)
    model = Sequential([Input((3,)), Dense(1)])
    model.compile("sgd", "mse")
    x, _ = data()
    y = np.zeros(10)
    y[4] = np.inf
    with pytest.raises(ValueError, match=r"y contains inf at index \(4, 0\)"):
        model.fit(x, y, verbose=0)
    x_val = x.copy()
    x_val[2, 2] = np.nan
    with pytest.raises(ValueError, match=r"validation_data x contains nan at index \(2, 2\)"):
        model.fit(x, np.zeros(10), validation_data=(x_val, np.zeros(10)), verbose=0)
    y_val = np.zeros(10)
    y_val[9] = -np.inf
    with pytest.raises(ValueError, match=r"validation_data y contains -inf at index \(9, 0\)"):
        model.fit(x, np.zeros(10), validation_data=(x, y_val), verbose=0)


def test_validation_split_part_is_checked_with_its_index_in_x():
    model, (x, y) = classifier(), data()
    x[9, 0] = np.nan                      # in the last 20 %, the validation part
    with pytest.raises(ValueError, match=r"x contains nan at index \(9, 0\)"):
        model.fit(x, y, validation_split=0.2, verbose=0)


def test_evaluate_is_checked_too():
    model, (x, y) = classifier(), data()
    x[0, 0] = np.nan
    with pytest.raises(ValueError, match=r"evaluate: x contains nan at index \(0, 0\)"):
        model.evaluate(x, y, verbose=0)
    assert np.isnan(model.evaluate(x, y, verbose=0, check_finite=False))


def test_opting_out_trains_on_the_data_as_given():
    model, (x, y) = classifier(), data()
    x[3, 1] = np.nan
    history = model.fit(x, y, batch_size=10, verbose=0, check_finite=False)
    assert np.isnan(history.history["loss"][0])


def test_finite_data_passes_even_when_its_sum_overflows():
    big = np.full((4, 3), 3e38, np.float32)           # sum is inf in float32, every element finite
    require_finite("op", [("x", big), ("labels", np.array([1, 2]))])
    big[1, 2] = np.nan
    with pytest.raises(ValueError, match=r"op: x contains nan at index \(1, 2\)"):
        require_finite("op", [("x", big)])


def test_integer_and_uint8_data_pass():
    model, (_, y) = classifier(), data()
    x = np.random.default_rng(1).integers(0, 256, (10, 3)).astype(np.uint8)
    model.fit(x, y, verbose=0)
    assert model.optimizer.iterations == 1
