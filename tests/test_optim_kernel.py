"""The fused Adam kernel (nnx.kernels.adam_update, csrc/optim.c) against nnx.reference.adam_update (bit
for bit), Keras 3's rule written out in float64, hand-computed values, every thread count, and bad
input; and the Adam optimizer's choice between the two."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import nnx
import nnx.kernels as K
import nnx.reference as R
from nnx import optimizers

from fuzzing import assert_clean_error

pytestmark = pytest.mark.usefixtures("simd")  # every test on every SIMD path (tests/conftest.py)


def _state(shape, dtype, seed, amsgrad):
    """(w, g, m, v, v_hat) with v, v_hat >= 0 as Adam keeps them."""
    rng = np.random.default_rng(seed)
    w, g, m = (np.array(rng.standard_normal(shape), dtype) for _ in range(3))
    v = np.array(np.abs(rng.standard_normal(shape)) * 0.01, dtype)
    v_hat = np.array(np.abs(rng.standard_normal(shape)) * 0.01, dtype) if amsgrad else None
    return w, g, m, v, v_hat


def _copies(arrays):
    return [None if a is None else a.copy() for a in arrays]


def keras_adam_step(w, g, m, v, v_hat, lr, b1, b2, eps, t):
    """keras/src/optimizers/adam.py, update_step, in float64, written plainly."""
    alpha = lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t)
    m = m + (g - m) * (1 - b1)
    v = v + (np.square(g) - v) * (1 - b2)
    if v_hat is not None:
        v_hat = np.maximum(v_hat, v)
    w = w - (m * alpha) / (np.sqrt(v if v_hat is None else v_hat) + eps)
    return w, m, v, v_hat


# ---- hand-computed values ---------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_first_step_by_hand(dtype):
    # from zero moments, step 1: m = 0.1 g, v = 0.001 g^2, alpha = lr sqrt(0.001) / 0.1, so
    # w -= lr * g / (|g| + eps / sqrt(0.001)): each weight moves by about lr against its gradient's sign
    w = np.array([1.0, 2.0, -3.0, 0.5], dtype)
    g = np.array([4.0, -0.5, 0.0, 1e-3], dtype)
    m, v = np.zeros(4, dtype), np.zeros(4, dtype)
    lr, eps = 0.01, 1e-7
    K.adam_update(w, g, m, v, None, lr * np.sqrt(1 - 0.999) / (1 - 0.9), 0.9, 0.999, eps)
    np.testing.assert_allclose(m, 0.1 * g.astype(np.float64), rtol=1e-6)
    np.testing.assert_allclose(v, 0.001 * g.astype(np.float64) ** 2, rtol=1e-6)
    moved = np.array([1.0, 2.0, -3.0, 0.5]) - w
    np.testing.assert_allclose(moved, [0.01, -0.01, 0.0, 0.01 * 1e-3 / (1e-3 + 1e-7 / np.sqrt(1e-3))],
                               rtol=1e-5)


def test_amsgrad_keeps_the_running_maximum_and_nans():
    w = np.zeros(3, np.float32)
    g = np.array([1.0, 0.0, np.nan], np.float32)
    m, v = np.zeros(3, np.float32), np.array([0.5, 0.5, 0.0], np.float32)
    v_hat = np.array([0.1, 2.0, 1.0], np.float32)
    K.adam_update(w, g, m, v, v_hat, 0.01, 0.9, 0.5, 1e-7)
    np.testing.assert_array_equal(v, [0.75, 0.25, np.nan])          # v + (g^2 - v) * 0.5
    np.testing.assert_array_equal(v_hat, [0.75, 2.0, np.nan])        # max(v_hat, v), NaN kept
    assert np.isnan(w[2]) and np.isfinite(w[:2]).all()


# ---- against the reference and Keras' formula -------------------------------------------------------

@given(shape=st.lists(st.integers(0, 9), min_size=0, max_size=3).map(tuple),
       dtype=st.sampled_from([np.float32, np.float64]), amsgrad=st.booleans(),
       seed=st.integers(0, 2**16))
def test_bit_identical_to_reference(shape, dtype, amsgrad, seed):
    arrays = _state(shape, dtype, seed, amsgrad)
    want = _copies(arrays)
    scalars = (0.0123, 0.9, 0.999, 1e-7)
    for _ in range(3):   # a few steps, so the moments are the kernel's own
        K.adam_update(*arrays, *scalars)
        R.adam_update(*want, *scalars)
    for got, expected in zip(arrays, want):
        if got is not None:
            np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("amsgrad", [False, True])
def test_matches_keras_formula(amsgrad):
    lr, b1, b2, eps = 0.05, 0.8, 0.95, 1e-3
    w, _, m, v, v_hat = _state((7, 5), np.float64, 3, amsgrad)
    m[...], v[...] = 0, 0
    if amsgrad:
        v_hat[...] = 0
    expected = _copies([w, m, v, v_hat])
    rng = np.random.default_rng(4)
    for t in range(1, 6):
        g = rng.standard_normal(w.shape)
        K.adam_update(w, g, m, v, v_hat, lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t), b1, b2, eps)
        expected = keras_adam_step(expected[0], g, *expected[1:], lr, b1, b2, eps, t)
    for got, want in zip([w, m, v, v_hat], expected):
        if got is not None:
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)


def test_bit_identical_for_any_thread_count():
    before = nnx.get_num_threads()
    results = []
    try:
        for threads in (1, 2, 3):
            nnx.set_num_threads(threads)
            arrays = _state((300001,), np.float32, 5, True)   # above the parallel threshold
            K.adam_update(*arrays, 0.001, 0.9, 0.999, 1e-7)
            results.append(arrays)
    finally:
        nnx.set_num_threads(before)
    for other in results[1:]:
        for a, b in zip(results[0], other):
            np.testing.assert_array_equal(a, b)


def test_gradient_sharing_memory_with_the_weight_is_read_before_written():
    w, _, m, v, _ = _state((33,), np.float32, 6, False)
    want = _copies([w, w, m, v])
    K.adam_update(w, w, m, v, None, 0.01, 0.9, 0.999, 1e-7)           # g is w itself
    R.adam_update(want[0], want[1], want[2], want[3], None, 0.01, 0.9, 0.999, 1e-7)
    np.testing.assert_array_equal(w, want[0])
    w2, _, m2, v2, _ = _state((8, 4), np.float64, 7, False)
    g2 = w2.T                                                          # a transposed view: copied
    want = _copies([w2, g2, m2, v2])
    K.adam_update(w2.ravel(), g2.ravel(), m2.ravel(), v2.ravel(), None, 0.01, 0.9, 0.999, 1e-7)
    R.adam_update(want[0].ravel(), want[1].ravel(), want[2].ravel(), want[3].ravel(), None, 0.01, 0.9,
                  0.999, 1e-7)
    np.testing.assert_array_equal(w2, want[0])


# ---- several weights in one call -----------------------------------------------------------------------

@given(shapes=st.lists(st.lists(st.integers(0, 6), max_size=3).map(tuple), min_size=0, max_size=5),
       dtypes=st.lists(st.sampled_from([np.float32, np.float64, np.float16]), min_size=5, max_size=5),
       amsgrad=st.booleans(), seed=st.integers(0, 2**16))
def test_a_list_of_weights_is_bit_identical_to_one_call_per_weight(shapes, dtypes, amsgrad, seed):
    """Lists (mixed dtypes, empty weights, an empty list) update each weight exactly as a call for it
    alone does, on both backends."""
    weights = [_state(shape, dtype, seed + i, amsgrad)
               for i, (shape, dtype) in enumerate(zip(shapes, dtypes))]
    one_by_one = [_copies(arrays) for arrays in weights]
    reference = [_copies(arrays) for arrays in weights]

    def columns(per_weight):    # [(w, g, m, v, v_hat)] -> w list, g list, m list, v list, v_hat list or None
        lists = [[arrays[k] for arrays in per_weight] for k in range(5)]
        return lists[:4] + [lists[4] if amsgrad else None]

    scalars = (0.0123, 0.9, 0.999, 1e-7)
    for _ in range(2):
        K.adam_update(*columns(weights), *scalars)
        R.adam_update(*columns(reference), *scalars)
        for arrays in one_by_one:
            K.adam_update(*arrays, *scalars)
    for arrays, alone, ref in zip(weights, one_by_one, reference):
        for got, want, want_ref in zip(arrays, alone, ref):
            if got is not None:
                np.testing.assert_array_equal(got, want)
                np.testing.assert_array_equal(got, want_ref)


def _two_weights():
    a, b = _state((4, 3), np.float32, 10, True), _state((5,), np.float32, 11, True)
    return [list(c) for c in zip(a, b)]


@pytest.mark.parametrize("case", ["short-list", "not-a-list", "bad-second-weight", "readonly-second-m",
                                  "second-shares-memory", "no-v-hat-list", "a v-hat-missing"])
def test_a_bad_weight_in_a_list_is_a_clean_error_naming_it_and_changes_nothing(case):
    w, g, m, v, h = _two_weights()
    before = [[a.copy() for a in column] for column in (w, g, m, v, h)]
    match = {"short-list": "one entry per weight", "not-a-list": "lists of arrays",
             "bad-second-weight": r"gradient shape \(4,\) does not match weight shape \(5,\) \(weight 1\)",
             "readonly-second-m": r"m\[1\] \(5,\) is read-only",
             "second-shares-memory": r"w\[1\], m, v and v_hat must not share memory",
             "no-v-hat-list": "got v_hat of type ndarray",
             "a v-hat-missing": r"v_hat\[1\] must be a NumPy array, got NoneType"}[case]
    args = [w, g, m, v, h]
    if case == "short-list":
        args[2] = m[:1]
    elif case == "not-a-list":
        args[1] = g[0]                              # an array among lists
    elif case == "bad-second-weight":
        args[1] = [g[0], g[1][:4]]
    elif case == "readonly-second-m":
        m[1].flags.writeable = False
    elif case == "second-shares-memory":
        args[3] = [v[0], m[1]]
    elif case == "no-v-hat-list":
        args[4] = h[0]
    else:
        args[4] = [h[0], None]
    with pytest.raises((ValueError, TypeError), match=match):
        K.adam_update(*args, 0.01, 0.9, 0.999, 1e-7)
    for column, saved in zip((w, g, m, v, h), before):
        for a, b in zip(column, saved):
            np.testing.assert_array_equal(a, b)     # the good first weight was not updated either


# ---- bad input: a clean error naming the kernel, and nothing changed -----------------------------------

def _bad_calls():
    w, g, m, v, h = _state((4, 3), np.float32, 8, True)
    good = dict(w=w, g=g, m=m, v=v, v_hat=h, alpha=0.01, beta_1=0.9, beta_2=0.999, epsilon=1e-7)
    readonly, readonly_w = m.copy(), w.copy()
    readonly.flags.writeable = readonly_w.flags.writeable = False
    bad = {
        "w": [w.astype(np.int32), [[1.0] * 3] * 4, np.float32(1.0), w[:, :2], readonly_w],
        "g": [g[:2], g.astype(np.int64), "g"],
        "m": [m.astype(np.float64), m[:3], readonly, w, w[::-1], list(m)],
        "v": [v.T, m, v.reshape(3, 4)],
        "v_hat": [h[::2], v, w, w[::-1, ::-1]],
        "alpha": [np.nan, np.inf, "0.1"],
        "beta_1": [np.nan, None],
        "epsilon": [-np.inf],
    }
    for arg, values in bad.items():
        for i, value in enumerate(values):
            yield pytest.param(good, arg, value, id=f"{arg}-{i}")


@pytest.mark.parametrize("good,arg,value", list(_bad_calls()))
def test_bad_input_is_a_clean_error_and_changes_nothing(good, arg, value):
    kwargs = dict(good, **{arg: value})
    before = {k: a.copy() for k, a in good.items() if isinstance(a, np.ndarray)}
    assert_clean_error(K, "adam_update", kwargs)
    for k, a in before.items():
        np.testing.assert_array_equal(good[k], a)


# ---- the optimizer -----------------------------------------------------------------------------------

@pytest.mark.parametrize("layout", ["fortran", "strided", "reversed", "float16", "misaligned", "byteswapped"])
@pytest.mark.parametrize("amsgrad", [False, True])
def test_any_layout_and_float16_match_the_reference(layout, amsgrad):
    """Arrays C cannot write through are updated through contiguous float32 copies, written back."""
    def arranged(a):
        if layout == "fortran":
            return np.asfortranarray(a)
        if layout == "strided":
            return np.repeat(a, 2, axis=1)[:, ::2]
        if layout == "reversed":
            return a[::-1]
        if layout == "float16":
            return a.astype(np.float16)
        if layout == "byteswapped":                       # '>f4': still NPY_FLOAT, not native
            return a.astype(a.dtype.newbyteorder())
        buf = np.zeros(a.nbytes + 1, np.uint8)[1:]       # contiguous but not 4-byte aligned
        out = buf.view(a.dtype).reshape(a.shape)
        out[...] = a
        return out
    arrays = [None if a is None else arranged(a) for a in _state((6, 5), np.float32, 9, amsgrad)]
    want = _copies(arrays)
    for _ in range(2):
        K.adam_update(*arrays, 0.01, 0.9, 0.999, 1e-7)
        R.adam_update(*want, 0.01, 0.9, 0.999, 1e-7)
    for got, expected in zip(arrays, want):
        if got is not None:
            assert got.dtype == expected.dtype
            np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("amsgrad", [False, True])
def test_adam_optimizer_updates_through_the_kernel(amsgrad, monkeypatch):
    calls = []
    kernel = K.adam_update
    monkeypatch.setattr(K, "adam_update", lambda *a: calls.append([w.shape for w in a[0]]) or kernel(*a))
    opt = optimizers.Adam(amsgrad=amsgrad)
    weights = [np.ones((3, 2), np.float32), np.ones(5, np.float16), np.ones((4, 4))[:, ::2]]
    opt.apply_gradients([(np.full(w.shape, 0.5, w.dtype), w) for w in weights])
    assert calls == [[(3, 2), (5,), (4, 2)]]      # one call for all the weights of the step
    for w in weights:    # step 1 from zero moments moves each weight by about lr
        np.testing.assert_allclose(w, 1 - 0.001, rtol=1e-3)
