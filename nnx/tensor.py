"""`nnx.Tensor`: a NumPy array plus what reverse-mode autograd needs (requires_grad, grad, graph node).

Dtype rules (docs/api.md section 2): Python floats and ints become float32; float32/float64 arrays keep
their dtype, float16 becomes float32, integer arrays become float32, bool stays bool, unless `dtype=`
says otherwise. Object, string and complex data raise TypeError.

A Tensor made from a NumPy array of the final dtype shares its memory (like `torch.from_numpy`).
Operators and methods are thin aliases of the differentiable ops in `nnx.functional`. A constant
operand (NumPy array, list) takes the Tensor's float dtype, so `float32_tensor * float64_array` stays
float32: nothing is upcast silently. Comparisons return bool Tensors without gradient.
"""
import numpy as np

_ALLOWED_KINDS = "fiub"


def as_array(data, dtype=None, op="Tensor"):
    """Convert `data` to an ndarray by the Tensor dtype rules; errors name `op`."""
    if isinstance(data, Tensor):
        data = data.data
    try:
        arr = np.asarray(data)
    except (TypeError, ValueError) as e:
        raise TypeError(f"{op}: cannot convert {type(data).__name__} to an array: {e}") from e
    kind = arr.dtype.kind
    if kind not in _ALLOWED_KINDS:
        raise TypeError(f"{op}: unsupported data of dtype {arr.dtype} (shape {arr.shape}); "
                        f"expected numbers (float, int or bool)")
    if dtype is not None:
        try:
            dtype = np.dtype(dtype)
        except TypeError as e:
            raise TypeError(f"{op}: {dtype!r} is not a dtype") from e
        if dtype.kind not in _ALLOWED_KINDS:
            raise TypeError(f"{op}: unsupported dtype {dtype} (use a float, int or bool dtype)")
        return arr.astype(np.float32 if dtype == np.float16 else dtype, copy=False)
    if kind == "f":
        if arr.dtype.itemsize < 4:
            return arr.astype(np.float32)
        if arr.dtype == np.float64 and not isinstance(data, (np.ndarray, np.generic)):
            return arr.astype(np.float32)  # Python floats and lists of them
        if arr.dtype.itemsize > 8:
            return arr.astype(np.float64)
        return arr
    if kind in "iu":
        return arr.astype(np.float32)
    return arr  # bool


class Tensor:
    """An n-dimensional array with reverse-mode automatic differentiation."""
    __slots__ = ("data", "requires_grad", "grad", "_node", "_index", "__dict__", "__weakref__")
    __array_ufunc__ = None      # NumPy defers to our reflected operators: `ndarray + Tensor` works
    __array_priority__ = 1000

    def __init__(self, data, requires_grad=False, dtype=None):
        self.data = as_array(data, dtype)
        if requires_grad and self.data.dtype.kind != "f":
            raise TypeError(f"Tensor: only floating-point tensors can require grad, got dtype "
                            f"{self.data.dtype}")
        self.requires_grad = bool(requires_grad)
        self.grad = None
        self._node = None

    # --- array protocol and attributes -------------------------------------------------------
    @property
    def shape(self):
        return self.data.shape

    @property
    def ndim(self):
        return self.data.ndim

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def size(self):
        return self.data.size

    @property
    def is_leaf(self):
        return self._node is None

    def numpy(self):
        """The underlying array (shared, not copied)."""
        return self.data

    def __array__(self, dtype=None, copy=None):
        if dtype is not None and dtype != self.data.dtype:
            return self.data.astype(dtype)
        return self.data.copy() if copy else self.data

    def item(self):
        return self.data.item()

    def __len__(self):
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d Tensor")
        return self.data.shape[0]

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    def __bool__(self):
        if self.data.size != 1:
            raise ValueError(f"The truth value of a Tensor of shape {self.data.shape} is ambiguous")
        return bool(self.data.item())

    def __float__(self):
        return float(self.data.item())

    def __int__(self):
        return int(self.data.item())

    __hash__ = object.__hash__  # identity: Tensors are dict keys (optimizer slots) despite __eq__

    def __repr__(self):
        body = np.array2string(self.data, separator=", ", prefix="Tensor(")
        extra = ", requires_grad=True" if self.requires_grad else ""
        return f"Tensor({body}, dtype={self.data.dtype}{extra})"

    # --- autograd -----------------------------------------------------------------------------
    def backward(self, grad=None, retain_graph=False):
        """Accumulate d(self)/d(leaf) * grad into every leaf's `.grad` (grad defaults to 1 for a scalar)."""
        _autograd.backward(self, grad, retain_graph)

    def detach(self):
        """The same data, cut from the graph."""
        return _wrap(self.data, False, None)

    def zero_grad(self):
        self.grad = None

    # --- operators ------------------------------------------------------------------------------
    def _operand(self, other):
        if type(other) is Tensor or type(other) is float or type(other) is int:
            return other  # NumPy keeps an array's dtype when it meets a Python scalar
        if isinstance(other, Tensor):
            return other
        if self.data.dtype.kind == "f":
            return as_array(other, self.data.dtype, "Tensor operator")
        return as_array(other, None, "Tensor operator")

    def __add__(self, other):
        return _F.math.Add.apply(self, self._operand(other))

    def __radd__(self, other):
        return _F.math.Add.apply(self._operand(other), self)

    def __sub__(self, other):
        return _F.math.Sub.apply(self, self._operand(other))

    def __rsub__(self, other):
        return _F.math.Sub.apply(self._operand(other), self)

    def __mul__(self, other):
        return _F.math.Mul.apply(self, self._operand(other))

    def __rmul__(self, other):
        return _F.math.Mul.apply(self._operand(other), self)

    def __truediv__(self, other):
        return _F.math.Div.apply(self, self._operand(other))

    def __rtruediv__(self, other):
        return _F.math.Div.apply(self._operand(other), self)

    def __pow__(self, other):
        return _F.math.Pow.apply(self, self._operand(other))

    def __rpow__(self, other):
        return _F.math.Pow.apply(self._operand(other), self)

    def __matmul__(self, other):
        return _F.math.MatMul.apply(self, self._operand(other))

    def __rmatmul__(self, other):
        return _F.math.MatMul.apply(self._operand(other), self)

    def __neg__(self):
        return _F.math.Neg.apply(self)

    def __pos__(self):
        return self

    def __getitem__(self, index):
        return _F.math.index(self, index)

    # comparisons: no gradient, bool Tensors
    def __lt__(self, other):
        return _wrap(self.data < _plain(other), False, None)

    def __le__(self, other):
        return _wrap(self.data <= _plain(other), False, None)

    def __gt__(self, other):
        return _wrap(self.data > _plain(other), False, None)

    def __ge__(self, other):
        return _wrap(self.data >= _plain(other), False, None)

    def __eq__(self, other):
        return _wrap(self.data == _plain(other), False, None)

    def __ne__(self, other):
        return _wrap(self.data != _plain(other), False, None)

    # --- methods (see nnx.functional for the documentation of each op) ---------------------------
    def sum(self, axis=None, keepdims=False):
        return _F.math.sum(self, axis, keepdims)

    def mean(self, axis=None, keepdims=False):
        return _F.math.mean(self, axis, keepdims)

    def max(self, axis=None, keepdims=False):
        return _F.math.max(self, axis, keepdims)

    def min(self, axis=None, keepdims=False):
        return _F.math.min(self, axis, keepdims)

    def reshape(self, *shape):
        return _F.math.reshape(self, *shape)

    def transpose(self, *axes):
        return _F.math.transpose(self, *axes)

    @property
    def T(self):
        return _F.math.transpose(self)

    def exp(self):
        return _F.math.Exp.apply(self)

    def log(self):
        return _F.math.Log.apply(self)

    def sqrt(self):
        return _F.math.Sqrt.apply(self)

    def abs(self):
        return _F.math.Abs.apply(self)

    def square(self):
        return _F.math.Square.apply(self)

    def clip(self, min=None, max=None):
        return _F.math.clip(self, min, max)

    def relu(self):
        return _F.activations.Relu.apply(self)

    def sigmoid(self):
        return _F.activations.Sigmoid.apply(self)

    def tanh(self):
        return _F.activations.Tanh.apply(self)

    def astype(self, dtype):
        return _F.math.astype(self, dtype)


def tensor(data, requires_grad=False, dtype=None):
    """Same as `Tensor(data, requires_grad, dtype)`."""
    return Tensor(data, requires_grad, dtype)


_new = object.__new__


def _wrap(array, requires_grad, node):
    """Fast Tensor construction for op results (no dtype rules: ops already produce the right dtype)."""
    t = _new(Tensor)
    t.data = array if type(array) is np.ndarray else np.asarray(array)
    t.requires_grad = requires_grad
    t.grad = None
    t._node = node
    return t


def _plain(x):
    return x.data if isinstance(x, Tensor) else x


# Operators delegate to the ops of nnx.functional, which build on this module. The ops are looked up
# through the package at call time, so the modules import cleanly whichever of them comes first.
from nnx import autograd as _autograd  # noqa: E402
import nnx.functional as _F  # noqa: E402
