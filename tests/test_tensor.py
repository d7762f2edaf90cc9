"""Tensor: dtype rules, attributes, operators, broadcasting, indexing, reductions, shape methods."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import nnx
from nnx.testing import broadcastable_shapes


# --- construction and dtype rules ---------------------------------------------------------------
@pytest.mark.parametrize("data, dtype", [
    (1.5, np.float32), ([1.0, 2.0], np.float32), ([1, 2], np.float32), (3, np.float32),
    (np.zeros(2, np.float64), np.float64), (np.zeros(2, np.float32), np.float32),
    (np.zeros(2, np.float16), np.float32), (np.arange(3), np.float32),
    (np.arange(3, dtype=np.uint8), np.float32), (np.array([True, False]), np.bool_),
    (np.float64(2.0), np.float64),
])
def test_default_dtype_rules(data, dtype):
    t = nnx.Tensor(data)
    assert t.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(t.data, np.asarray(data).astype(dtype))


@pytest.mark.parametrize("dtype", ["float64", np.float64, np.dtype("float64"), "f8"])
def test_dtype_argument_accepts_names_and_dtypes(dtype):
    assert nnx.Tensor([1, 2], dtype=dtype).dtype == np.float64
    assert nnx.tensor(1.0, dtype=dtype).dtype == np.float64


def test_explicit_integer_dtype_is_kept():
    assert nnx.Tensor([1, 2], dtype="int64").dtype == np.int64


@pytest.mark.parametrize("data", [np.array(["a"]), np.array([object()]), np.array([1j]), "text"])
def test_bad_data_raises_type_error_naming_tensor(data):
    with pytest.raises(TypeError, match="Tensor"):
        nnx.Tensor(data)


@pytest.mark.parametrize("dtype", ["complex64", object, "U3"])
def test_bad_dtype_argument_raises_type_error(dtype):
    with pytest.raises(TypeError, match="Tensor"):
        nnx.Tensor([1.0], dtype=dtype)


def test_only_float_tensors_require_grad():
    with pytest.raises(TypeError, match="floating"):
        nnx.Tensor([1, 2], dtype="int32", requires_grad=True)


def test_float32_array_is_shared_not_copied():
    a = np.zeros(3, np.float32)
    assert nnx.Tensor(a).data is a


def test_attributes_and_protocols():
    t = nnx.Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    assert (t.shape, t.ndim, t.size, len(t)) == ((2, 3), 2, 6, 2)
    assert t.grad is None and t.requires_grad and t.is_leaf
    assert np.asarray(t) is t.data and t.numpy() is t.data
    assert np.asarray(t, dtype=np.float32).dtype == np.float32
    assert "requires_grad=True" in repr(t) and "float64" in repr(t)
    assert [r.shape for r in t] == [(3,), (3,)]
    assert float(nnx.Tensor([2.5])) == 2.5 and nnx.Tensor(3.0).item() == 3.0
    with pytest.raises(TypeError):
        len(nnx.Tensor(1.0))
    with pytest.raises(ValueError, match="ambiguous"):
        bool(t)


def test_tensors_hash_by_identity():
    a, b = nnx.Tensor([1.0]), nnx.Tensor([1.0])
    assert len({a: 1, b: 2}) == 2


# --- operators ----------------------------------------------------------------------------------
def _leaf(shape, seed, dtype=np.float64, positive=False):
    x = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    return nnx.Tensor(np.abs(x) + 0.5 if positive else x, requires_grad=True)


@pytest.mark.parametrize("op, ref", [
    (lambda a, b: a + b, np.add), (lambda a, b: a - b, np.subtract),
    (lambda a, b: a * b, np.multiply), (lambda a, b: a / b, np.divide),
    (lambda a, b: a ** b, np.power),
])
def test_operators_match_numpy_with_arrays_on_either_side(op, ref):
    a = np.array([[1.0, 2.0], [3.0, 4.0]], np.float32)
    b = np.array([0.5, 2.0], np.float32)
    for left, right in [(nnx.Tensor(a), b), (a, nnx.Tensor(b)), (nnx.Tensor(a), nnx.Tensor(b))]:
        out = op(left, right)
        assert isinstance(out, nnx.Tensor) and out.dtype == np.float32
        np.testing.assert_allclose(out.data, ref(a, b), rtol=1e-6)


def test_scalar_and_float64_constants_do_not_upcast_float32():
    t = nnx.Tensor(np.ones(3, np.float32))
    for out in (t * 2.0, 2 * t, t + np.ones(3), np.ones(3) - t, t / np.float64(3), t ** 2):
        assert out.dtype == np.float32


def test_unary_minus_and_matmul():
    a, b = _leaf((2, 3), 0), _leaf((3, 4), 1)
    np.testing.assert_allclose((-a).data, -a.data)
    np.testing.assert_allclose((a @ b).data, a.data @ b.data)
    np.testing.assert_allclose((a.data @ b).data, a.data @ b.data)


@pytest.mark.parametrize("sa, sb", [((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 4)),
                                    ((5, 2, 3), (3, 4)), ((2, 3), (5, 3, 4)), ((1, 2, 3), (4, 3, 2))])
def test_matmul_gradients_for_all_rank_combinations(sa, sb):
    assert nnx.gradcheck(lambda a, b: a @ b, [_leaf(sa, 2), _leaf(sb, 3)])


def test_comparisons_return_bool_tensors_without_grad():
    t = _leaf((4,), 0)
    for out in (t < 0, t <= 0, t > 0, t >= 0, t == t, t != 0, t > np.zeros(4)):
        assert isinstance(out, nnx.Tensor) and out.dtype == np.bool_ and not out.requires_grad
    np.testing.assert_array_equal((t > 0).data, t.data > 0)


@given(broadcastable_shapes(), st.sampled_from(["add", "sub", "mul", "div"]))
def test_broadcasting_gradients_reduce_to_each_operand(shapes, name):
    op = {"add": lambda a, b: a + b, "sub": lambda a, b: a - b,
          "mul": lambda a, b: a * b, "div": lambda a, b: a / b}[name]
    a, b = _leaf(shapes[0], 0), _leaf(shapes[1], 1, positive=True)
    assert nnx.gradcheck(op, [a, b])
    op(a, b).sum().backward()
    assert a.grad.shape == a.shape and b.grad.shape == b.shape


def test_pow_gradients_with_tensor_exponent_and_base():
    a, b = _leaf((3,), 0, positive=True), _leaf((3,), 1)
    assert nnx.gradcheck(lambda a, b: a ** b, [a, b])
    assert nnx.gradcheck(lambda b: 2.0 ** b, [b])
    assert nnx.gradcheck(lambda a: a ** 3, [a])


@pytest.mark.parametrize("op", [lambda a, b: a + b, lambda a, b: a * b, lambda a, b: a @ b])
def test_bad_broadcasting_names_the_op_and_both_shapes(op):
    a, b = nnx.Tensor(np.ones((2, 3))), nnx.Tensor(np.ones((4, 5)))
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(4, 5\)"):
        op(a, b)


# --- indexing -----------------------------------------------------------------------------------
@pytest.mark.parametrize("index", [
    1, slice(1, 3), (slice(None), 2), (Ellipsis, 0), (None, 1), np.array([0, 2, 2, 0]),
    (np.array([0, 1, 1]), np.array([2, 2, 2])), np.array([True, False, True, True]), [3, 3],
])
def test_indexing_values_and_gradients(index):
    x = _leaf((4, 3), 0)
    np.testing.assert_array_equal(x[index].data, x.data[index])
    assert nnx.gradcheck(lambda t: t[index], [x])


def test_repeated_fancy_index_accumulates_gradient():
    x = _leaf((3,), 0)
    x[np.array([1, 1, 1, 2])].sum().backward()
    np.testing.assert_array_equal(x.grad, [0, 3, 1])


def test_tensor_index_is_accepted():
    x = _leaf((4,), 0)
    np.testing.assert_array_equal(x[nnx.Tensor([2, 0], dtype="int64")].data, x.data[[2, 0]])


# --- reductions and shapes ----------------------------------------------------------------------
@pytest.mark.parametrize("axis", [None, 0, 1, -1, (0, 2), (2, 0, 1)])
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("name", ["sum", "mean", "max", "min"])
def test_reductions_match_numpy_and_gradcheck(name, axis, keepdims):
    x = _leaf((2, 3, 4), 0)
    out = getattr(x, name)(axis=axis, keepdims=keepdims)
    np.testing.assert_allclose(out.data, getattr(np, name)(x.data, axis=axis, keepdims=keepdims))
    assert nnx.gradcheck(lambda t: getattr(t, name)(axis=axis, keepdims=keepdims), [x])


@given(shape=st.lists(st.integers(1, 40), min_size=0, max_size=3), seed=st.integers(0, 2**16),
       dtype=st.sampled_from([np.float32, np.float64]), keepdims=st.booleans(), data=st.data())
def test_mean_is_bit_identical_to_numpy_mean(shape, seed, dtype, keepdims, data):
    """F.mean computes the float mean itself (sum, then the division NumPy does); it must give
    np.mean's bits exactly, whatever the axes, since losses are means and training is compared
    bit for bit across changes."""
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(shape) * 10.0 ** rng.integers(-3, 5)).astype(dtype)
    axes = data.draw(st.one_of(st.none(), st.sets(st.integers(0, len(shape) - 1), min_size=1).map(
        tuple))) if shape else None
    got = nnx.Tensor(x).mean(axis=axes, keepdims=keepdims).data
    want = np.asarray(np.mean(x, axis=axes, keepdims=keepdims))
    assert got.dtype == want.dtype and got.shape == want.shape
    assert got.tobytes() == want.tobytes()


def test_mean_of_bools_and_of_nothing_follows_numpy():
    np.testing.assert_array_equal(nnx.Tensor(np.array([True, False, True])).mean().data, 2 / 3)
    assert nnx.Tensor(np.array([True])).mean().dtype == np.float64
    with pytest.warns(RuntimeWarning, match="Mean of empty slice"), np.errstate(invalid="ignore"):
        assert np.isnan(nnx.Tensor(np.zeros((0, 3), np.float32)).mean().data)


def test_max_sends_gradient_to_first_maximum_on_ties():
    x = nnx.Tensor([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]], requires_grad=True)
    x.max(axis=1).sum().backward()
    np.testing.assert_array_equal(x.grad, [[0, 1, 0], [1, 0, 0]])
    x.grad = None
    x.max().backward()
    np.testing.assert_array_equal(x.grad, [[0, 1, 0], [0, 0, 0]])


def test_reduction_axis_out_of_range_raises():
    with pytest.raises(ValueError, match="sum.*axis 3"):
        nnx.Tensor(np.ones((2, 2))).sum(axis=3)


def test_reshape_transpose_and_T():
    x = _leaf((2, 3, 4), 0)
    assert x.reshape(6, 4).shape == (6, 4) and x.reshape((4, -1)).shape == (4, 6)
    assert x.transpose(2, 0, 1).shape == (4, 2, 3) and x.transpose((1, 0, 2)).shape == (3, 2, 4)
    assert x.T.shape == (4, 3, 2)
    assert nnx.gradcheck(lambda t: t.reshape(4, 6).T * np.arange(24.0).reshape(6, 4), [x])
    assert nnx.gradcheck(lambda t: t.transpose(2, 0, 1) * np.arange(24.0).reshape(4, 2, 3), [x])
    with pytest.raises(ValueError, match=r"reshape.*\(2, 3, 4\).*\(5, 5\)"):
        x.reshape(5, 5)
    with pytest.raises(ValueError, match="transpose"):
        x.transpose(0, 0, 1)


@pytest.mark.parametrize("name", ["exp", "log", "sqrt", "abs", "square", "relu", "sigmoid", "tanh"])
def test_elementwise_methods_gradcheck(name):
    x = _leaf((3, 4), 0, positive=name in ("log", "sqrt"))
    if name in ("abs", "relu"):  # keep away from the kink at 0
        x.data[np.abs(x.data) < 1e-3] = 0.5
    assert nnx.gradcheck(lambda t: getattr(t, name)(), [x])


def test_clip_passes_gradient_only_inside_the_range():
    x = nnx.Tensor([-2.0, -0.5, 0.5, 2.0], requires_grad=True)
    x.clip(-1.0, 1.0).sum().backward()
    np.testing.assert_array_equal(x.grad, [0, 1, 1, 0])
    np.testing.assert_array_equal(x.clip(min=0.0).data, [0, 0, 0.5, 2])


def test_detach_cuts_the_graph():
    x = _leaf((2,), 0)
    d = (x * 2).detach()
    assert not d.requires_grad and d.is_leaf
    np.testing.assert_array_equal(d.data, x.data * 2)


@pytest.mark.parametrize("other", [np.array([1j, 2j]), 1j, np.array(["a", "b"])])
def test_operators_reject_complex_and_string_operands(other):
    with pytest.raises(TypeError, match="Tensor operator"):
        nnx.Tensor([1.0, 2.0]) * other


# --- PyTorch conveniences: argmax/argmin, abs, clone, detach, item, creation functions ------------------
@pytest.mark.parametrize("axis", [None, 0, 1, -1])
@pytest.mark.parametrize("keepdims", [False, True])
def test_argmax_argmin_match_numpy_first_on_ties(axis, keepdims):
    a = np.array([[1.0, 5.0, 5.0], [7.0, 0.0, 7.0]], np.float32)
    t = nnx.Tensor(a, requires_grad=True)
    for method, ref in (("argmax", np.argmax), ("argmin", np.argmin)):
        got = getattr(t, method)(axis, keepdims=keepdims)
        assert got.dtype == np.int64 and not got.requires_grad
        np.testing.assert_array_equal(got.data, ref(a, axis=axis, keepdims=keepdims))
    assert t.argmax().item() == 3 and t.argmax(1).data.tolist() == [1, 0]


def test_argmax_bad_axis_and_empty():
    with pytest.raises(ValueError, match="argmax: axis 2"):
        nnx.zeros(2, 3).argmax(2)
    with pytest.raises(ValueError, match="argmin: empty"):
        nnx.zeros(0).argmin()


def test_builtin_abs_is_differentiable():
    x = nnx.Tensor([-2.0, 3.0, 0.0], requires_grad=True)
    y = abs(x)
    np.testing.assert_array_equal(y.data, [2.0, 3.0, 0.0])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [-1.0, 1.0, 0.0])   # sign, 0 at 0 as in PyTorch


def test_clone_copies_memory_and_passes_the_gradient():
    x = nnx.Tensor([1.0, 2.0], requires_grad=True)
    c = x.clone()
    assert c.data is not x.data and not np.shares_memory(c.data, x.data) and c.requires_grad
    (c * nnx.Tensor([3.0, 4.0])).sum().backward()
    np.testing.assert_array_equal(x.grad, [3.0, 4.0])
    nnx.gradcheck(lambda t: t.clone() * t, [nnx.Tensor(np.random.default_rng(0).standard_normal(3), requires_grad=True)])


def test_detach_shares_memory_without_grad_and_item():
    x = nnx.Tensor([1.5], requires_grad=True)
    d = x.detach()
    assert np.shares_memory(d.data, x.data) and not d.requires_grad and d.is_leaf
    assert x.item() == 1.5 and isinstance(x.item(), float)
    with pytest.raises(ValueError, match=r"item: .*shape \(2,\)"):
        nnx.zeros(2).item()


@pytest.mark.parametrize("fn, fill", [(nnx.zeros, 0.0), (nnx.ones, 1.0)])
def test_zeros_ones_take_ints_or_a_tuple(fn, fill):
    for t in (fn(2, 3), fn((2, 3)), fn([2, 3])):
        assert t.shape == (2, 3) and t.dtype == np.float32 and not t.requires_grad
        np.testing.assert_array_equal(t.data, np.full((2, 3), fill))
    assert fn(4, dtype="float64", requires_grad=True).requires_grad
    assert fn(2, dtype=np.int32).dtype == np.int32
    assert fn().shape == ()
    with pytest.raises(ValueError, match="size"):
        fn(2, -1)


def test_rand_randn_are_seeded_by_manual_seed():
    nnx.manual_seed(7)
    a, b = nnx.rand(3, 4), nnx.randn((1000,), dtype="float64")
    nnx.manual_seed(7)
    np.testing.assert_array_equal(a.data, nnx.rand(3, 4).data)
    np.testing.assert_array_equal(b.data, nnx.randn(1000, dtype="float64").data)
    assert a.dtype == np.float32 and b.dtype == np.float64
    assert 0 <= a.data.min() and a.data.max() < 1
    assert abs(b.data.mean()) < 0.15 and 0.85 < b.data.std() < 1.15
    with pytest.raises(TypeError, match="randn"):
        nnx.randn(2, dtype="int32")


def test_arange_dtypes_as_pytorch():
    assert nnx.arange(5).dtype == np.int64 and nnx.arange(5).data.tolist() == [0, 1, 2, 3, 4]
    t = nnx.arange(1, 2, 0.25)
    assert t.dtype == np.float32 and t.data.tolist() == [1.0, 1.25, 1.5, 1.75]
    assert nnx.arange(0, 3, dtype="float64", requires_grad=True).requires_grad
    assert nnx.arange(5, 0, -2).data.tolist() == [5, 3, 1]
    with pytest.raises(ValueError, match="step"):
        nnx.arange(0, 3, 0)
