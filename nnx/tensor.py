"""`nnx.Tensor`: a NumPy array plus what reverse-mode autograd needs (requires_grad, grad, graph node).

Dtype rules (docs/api.md section 2): Python floats and ints become float32; float32/float64 arrays keep
their dtype, float16 becomes float32, integer arrays become float32, bool stays bool, unless `dtype=`
says otherwise. Object, string and complex data raise TypeError.

A Tensor made from a NumPy array of the final dtype shares its memory (like `torch.from_numpy`).
Operators and methods are thin aliases of the differentiable ops in `nnx.functional`. A constant
operand (NumPy array, list) takes the Tensor's float dtype, so `float32_tensor * float64_array` stays
float32: nothing is upcast silently. Comparisons return bool Tensors without gradient.

In-place operators (`+=`, `-=`, `*=`, `/=`) write into the Tensor's own buffer (same object, same
memory, same dtype), as PyTorch's `add_` & co. do, so `with nnx.no_grad(): p -= lr * p.grad` updates a
parameter. While grad mode is on they refuse (RuntimeError) whenever the result would need a gradient:
- on a leaf that requires grad, exactly as PyTorch refuses;
- on a non-leaf that requires grad, and on a Tensor without grad updated by one that requires grad.
  PyTorch records these in the graph and checks version counters; nnx's graph links Tensor objects,
  so rewriting one in place could silently misroute gradients. Write `y = y + x` there instead.

Creation functions as in PyTorch: `zeros`, `ones`, `rand`, `randn` take a shape as separate ints or
one tuple (`zeros(2, 3)` == `zeros((2, 3))`), `arange(start, end, step)`; all take `dtype=` (default
float32; `arange` of ints gives int64, as PyTorch) and `requires_grad=`. `rand` / `randn` draw from
nnx's generator, so `nnx.manual_seed` makes them reproducible.
"""
import numpy as np

from nnx.random import get_rng

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
        """The value of a one-element Tensor as a Python number."""
        if self.data.size != 1:
            raise ValueError(f"item: only a one-element Tensor converts to a Python number, got shape "
                             f"{self.data.shape}")
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
        _engine.backward(self, grad, retain_graph)

    def detach(self):
        """The same data, cut from the graph."""
        return _wrap(self.data, False, None)

    def clone(self):
        """A copy with its own memory that stays in the graph (the gradient flows back to self)."""
        return _math.Clone.apply(self)

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
        return _math.Add.apply(self, self._operand(other))

    def __radd__(self, other):
        return _math.Add.apply(self._operand(other), self)

    def __sub__(self, other):
        return _math.Sub.apply(self, self._operand(other))

    def __rsub__(self, other):
        return _math.Sub.apply(self._operand(other), self)

    def __mul__(self, other):
        return _math.Mul.apply(self, self._operand(other))

    def __rmul__(self, other):
        return _math.Mul.apply(self._operand(other), self)

    def __truediv__(self, other):
        return _math.Div.apply(self, self._operand(other))

    def __rtruediv__(self, other):
        return _math.Div.apply(self._operand(other), self)

    def __pow__(self, other):
        return _math.Pow.apply(self, self._operand(other))

    def __rpow__(self, other):
        return _math.Pow.apply(self._operand(other), self)

    def __matmul__(self, other):
        return _math.MatMul.apply(self, self._operand(other))

    def __rmatmul__(self, other):
        return _math.MatMul.apply(self._operand(other), self)

    def __neg__(self):
        return _math.Neg.apply(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return _math.Abs.apply(self)

    # in place: same object and buffer (see the module docstring for when they refuse)
    def __iadd__(self, other):
        return self._in_place(np.add, other, "+=")

    def __isub__(self, other):
        return self._in_place(np.subtract, other, "-=")

    def __imul__(self, other):
        return self._in_place(np.multiply, other, "*=")

    def __itruediv__(self, other):
        return self._in_place(np.true_divide, other, "/=")

    def _in_place(self, ufunc, other, symbol):
        if _engine.is_grad_enabled():
            if self.requires_grad and self._node is None:
                raise RuntimeError(
                    f"Tensor {symbol}: a leaf Tensor that requires grad cannot be changed in place "
                    f"outside no_grad() (as in PyTorch); wrap the update in `with nnx.no_grad():`")
            if self.requires_grad or (isinstance(other, Tensor) and other.requires_grad):
                raise RuntimeError(
                    f"Tensor {symbol}: an in-place operation whose result needs a gradient is not "
                    f"recorded by nnx's autograd; write `t = t {symbol[0]} other` instead, or run it "
                    f"under `with nnx.no_grad():`")
        value = _plain(self._operand(other))
        if not self.data.flags.writeable:
            raise ValueError(f"Tensor {symbol}: the Tensor's memory is read-only (shape {self.data.shape}); "
                             f"use `t = t {symbol[0]} other` or make it from a writable array")
        try:
            ufunc(self.data, value, out=self.data, casting="same_kind")
        except TypeError as e:   # numpy's UFuncTypeError: e.g. a float result into an int Tensor
            raise TypeError(f"Tensor {symbol}: the result of dtype {np.result_type(self.data, value)} "
                            f"cannot be stored in place in a Tensor of dtype {self.data.dtype}") from e
        except ValueError as e:
            raise ValueError(f"Tensor {symbol}: operand of shape {np.shape(value)} does not broadcast "
                             f"to the Tensor's shape {self.data.shape} ({e})") from e
        return self

    def __getitem__(self, index):
        return _math.index(self, index)

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
        return _math.sum(self, axis, keepdims)

    def mean(self, axis=None, keepdims=False):
        return _math.mean(self, axis, keepdims)

    def max(self, axis=None, keepdims=False):
        return _math.max(self, axis, keepdims)

    def min(self, axis=None, keepdims=False):
        return _math.min(self, axis, keepdims)

    def reshape(self, *shape):
        return _math.reshape(self, *shape)

    def transpose(self, *axes):
        return _math.transpose(self, *axes)

    @property
    def T(self):
        return _math.transpose(self)

    def exp(self):
        return _math.Exp.apply(self)

    def log(self):
        return _math.Log.apply(self)

    def sqrt(self):
        return _math.Sqrt.apply(self)

    def abs(self):
        return _math.Abs.apply(self)

    def square(self):
        return _math.Square.apply(self)

    def clip(self, min=None, max=None):
        return _math.clip(self, min, max)

    def relu(self):
        return _activations.Relu.apply(self)

    def sigmoid(self):
        return _activations.Sigmoid.apply(self)

    def tanh(self):
        return _activations.Tanh.apply(self)

    def astype(self, dtype):
        return _math.astype(self, dtype)

    def argmax(self, axis=None, keepdims=False):
        """Index of the first maximum (of the flattened Tensor when axis is None); int64, no grad."""
        return _wrap(_math.arg_extremum(self.data, axis, keepdims, np.argmax, "argmax"), False, None)

    def argmin(self, axis=None, keepdims=False):
        """Index of the first minimum (of the flattened Tensor when axis is None); int64, no grad."""
        return _wrap(_math.arg_extremum(self.data, axis, keepdims, np.argmin, "argmin"), False, None)


def tensor(data, requires_grad=False, dtype=None):
    """Same as `Tensor(data, requires_grad, dtype)`."""
    return Tensor(data, requires_grad, dtype)


# --- creation (PyTorch's names and arguments) ------------------------------------------------------
def _size(op, size):
    """`(2, 3)` or `2, 3` -> (2, 3) of non-negative ints."""
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    if not all(isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n >= 0 for n in size):
        raise ValueError(f"{op}: size must be non-negative ints, given as {op}(2, 3) or {op}((2, 3)); "
                         f"got {size!r}")
    return tuple(int(n) for n in size)


def _creation_dtype(op, dtype):
    return np.dtype(np.float32) if dtype is None else as_array(0, dtype, op).dtype


def _full(op, fill, size, dtype, requires_grad):
    dtype = _creation_dtype(op, dtype)
    return Tensor(np.full(_size(op, size), fill, dtype), requires_grad, dtype)


def zeros(*size, dtype=None, requires_grad=False):
    """A Tensor of zeros; `zeros(2, 3)` or `zeros((2, 3))`."""
    return _full("zeros", 0, size, dtype, requires_grad)


def ones(*size, dtype=None, requires_grad=False):
    """A Tensor of ones; `ones(2, 3)` or `ones((2, 3))`."""
    return _full("ones", 1, size, dtype, requires_grad)


def _random(op, draw, size, dtype, requires_grad):
    dtype = _creation_dtype(op, dtype)
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"{op}: dtype must be float32 or float64, got {dtype}")
    return Tensor(draw(get_rng())(_size(op, size), dtype=dtype), requires_grad)


def rand(*size, dtype=None, requires_grad=False):
    """Uniform on [0, 1) from nnx's generator (seeded by nnx.manual_seed)."""
    return _random("rand", lambda rng: rng.random, size, dtype, requires_grad)


def randn(*size, dtype=None, requires_grad=False):
    """Standard normal from nnx's generator (seeded by nnx.manual_seed)."""
    return _random("randn", lambda rng: rng.standard_normal, size, dtype, requires_grad)


def arange(start, end=None, step=1, dtype=None, requires_grad=False):
    """[start, end) in steps of `step` (`arange(n)` is 0..n-1); int64 when every argument is an int
    and no dtype is given, else float32, as in PyTorch."""
    if end is None:
        start, end = 0, start
    bounds = (start, end, step)
    if not all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
               for v in bounds):
        raise TypeError(f"arange: start, end and step must be numbers, got {bounds!r}")
    if step == 0:
        raise ValueError("arange: step must be non-zero")
    if dtype is None:
        integral = all(isinstance(v, (int, np.integer)) for v in bounds)
        dtype = np.int64 if integral else np.float32
    dtype = as_array(0, dtype, "arange").dtype
    return Tensor(np.arange(start, end, step).astype(dtype), requires_grad, dtype)


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


# --- the layers built on this module ----------------------------------------------------------------
# Tensor's operators and methods are thin aliases of the autograd engine (nnx.autograd) and of the ops
# (nnx.functional), and both are built on Tensor. Importing them here would close a circle, so they are
# handed to this module instead: `nnx.functional` calls `bind_ops` as it loads, and `import nnx` loads
# it, so it has run before any Tensor exists.
_engine = _math = _activations = None


def bind_ops(engine, math, activations):
    """Give Tensor's operators and methods their implementations: the modules `nnx.autograd`,
    `nnx.functional.math` and `nnx.functional.activations`."""
    global _engine, _math, _activations
    _engine, _math, _activations = engine, math, activations
