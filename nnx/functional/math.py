"""Elementwise arithmetic, reductions, shape ops and indexing, each a differentiable `Function`.

Gradients may come back broadcast-shaped: the engine sums them to each input's shape. Backward
passes never write into the incoming gradient or a saved array (they may be shared), and forward
passes never write into their inputs.
"""
import builtins  # this module defines sum / max / min / abs

import numpy as np

from nnx import backend
from nnx.autograd import Function
from nnx.tensor import Tensor, as_array


def _t(x, op):
    """Accept NumPy arrays and numbers wherever a Tensor is expected."""
    return x if isinstance(x, Tensor) else Tensor(as_array(x, None, op))


# --- arithmetic ---------------------------------------------------------------------------------
class Add(Function):
    @staticmethod
    def forward(ctx, a, b):
        try:
            return np.add(a, b)
        except ValueError as e:
            raise _broadcast_error("add", a, b) from e

    @staticmethod
    def backward(ctx, g):
        return g, g


class Sub(Function):
    @staticmethod
    def forward(ctx, a, b):
        try:
            return np.subtract(a, b)
        except ValueError as e:
            raise _broadcast_error("subtract", a, b) from e

    @staticmethod
    def backward(ctx, g):
        return g, -g


class Mul(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.saved_tensors = (a, b)
        try:
            return np.multiply(a, b)
        except ValueError as e:
            raise _broadcast_error("multiply", a, b) from e

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        return (g * b if need_a else None), (g * a if need_b else None)


class Div(Function):
    @staticmethod
    def forward(ctx, a, b):
        try:
            y = np.true_divide(a, b)
        except ValueError as e:
            raise _broadcast_error("divide", a, b) from e
        ctx.saved_tensors = (b, y)
        return y

    @staticmethod
    def backward(ctx, g):
        b, y = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        ga = g / b if need_a else None
        return ga, (-(ga if need_a else g / b) * y if need_b else None)


class Pow(Function):
    @staticmethod
    def forward(ctx, a, b):
        try:
            y = np.power(a, b)
        except ValueError as e:
            raise _broadcast_error("power", a, b) from e
        ctx.saved_tensors = (a, b, y)
        return y

    @staticmethod
    def backward(ctx, g):
        a, b, y = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        ga = g * b * np.power(a, b - 1) if need_a else None
        gb = None
        if need_b:
            with np.errstate(divide="ignore", invalid="ignore"):
                gb = g * y * np.log(a)  # d(a**b)/db; undefined for a <= 0, as in PyTorch
        return ga, gb


class Neg(Function):
    @staticmethod
    def forward(ctx, a):
        return np.negative(a)

    @staticmethod
    def backward(ctx, g):
        return -g


_GEMM_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _matmul(a, b):
    """np.matmul(a, b); a float (..., k) times a float matrix b (k, n) goes through the backend's GEMM
    as one (rows, k) x (k, n) product, so that nnx's own thread pool does the work and NumPy's BLAS pool
    does not spin up beside it (two pools fighting for the cores slow both down several times)."""
    if b.ndim == 2 and a.dtype in _GEMM_DTYPES and b.dtype in _GEMM_DTYPES:
        rows = a.reshape(-1, a.shape[-1])
        return backend.kernels().gemm(rows, b).reshape(a.shape[:-1] + (b.shape[1],))
    return np.matmul(a, b)


class MatMul(Function):
    """`a @ b` with NumPy's rules for 1-D operands and batch broadcasting."""

    @staticmethod
    def forward(ctx, a, b):
        a, b = np.asarray(a), np.asarray(b)
        if a.ndim == 0 or b.ndim == 0:
            raise ValueError(f"matmul: operands must be at least 1-D, got shapes {a.shape} and {b.shape}")
        k_a, k_b = a.shape[-1], b.shape[0] if b.ndim == 1 else b.shape[-2]
        if k_a != k_b:
            raise ValueError(f"matmul: inner dimensions differ: shapes {a.shape} and {b.shape}")
        ctx.saved_tensors = (a, b)
        try:
            return _matmul(a, b)
        except ValueError as e:
            raise ValueError(f"matmul: cannot broadcast batch dimensions of shapes {a.shape} and "
                             f"{b.shape}") from e

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        a2 = a[None, :] if a.ndim == 1 else a            # (..., m, k)
        b2 = b[:, None] if b.ndim == 1 else b            # (..., k, n)
        g2 = np.expand_dims(g, -1) if b.ndim == 1 else g
        if a.ndim == 1:
            g2 = np.expand_dims(g2, -2)                  # (..., m, n)
        ga = gb = None
        if need_a:
            ga = _matmul(g2, np.swapaxes(b2, -1, -2))
            if a.ndim == 1:
                ga = ga[..., 0, :]
        if need_b:
            if b2.ndim == 2:  # one (k, rows) x (rows, n) product sums over a's batch
                gb = _matmul(a2.reshape(-1, a2.shape[-1]).T, g2.reshape(-1, g2.shape[-1]))
            else:
                gb = np.matmul(np.swapaxes(a2, -1, -2), g2)
            if b.ndim == 1:
                gb = gb[..., 0]
        return ga, gb


def _broadcast_error(name, a, b):
    return ValueError(f"{name}: shapes {np.shape(a)} and {np.shape(b)} do not broadcast")


def add(a, b):
    return _t(a, "add") + b


def subtract(a, b):
    return _t(a, "subtract") - b


def multiply(a, b):
    return _t(a, "multiply") * b


def divide(a, b):
    return _t(a, "divide") / b


def power(a, b):
    return _t(a, "power") ** b


def matmul(a, b):
    return _t(a, "matmul") @ b


def negative(x):
    return Neg.apply(_t(x, "negative"))


# --- elementwise math ---------------------------------------------------------------------------
class Exp(Function):
    @staticmethod
    def forward(ctx, x):
        y = np.exp(x)
        ctx.saved_tensors = (y,)
        return y

    @staticmethod
    def backward(ctx, g):
        return g * ctx.saved_tensors[0]


class Log(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.saved_tensors = (x,)
        return np.log(x)

    @staticmethod
    def backward(ctx, g):
        return g / ctx.saved_tensors[0]


class Sqrt(Function):
    @staticmethod
    def forward(ctx, x):
        y = np.sqrt(x)
        ctx.saved_tensors = (y,)
        return y

    @staticmethod
    def backward(ctx, g):
        return g / (2 * ctx.saved_tensors[0])


class Abs(Function):
    """|x|; the gradient at 0 is 0 (sign(0) = 0), as in PyTorch."""

    @staticmethod
    def forward(ctx, x):
        ctx.saved_tensors = (x,)
        return np.abs(x)

    @staticmethod
    def backward(ctx, g):
        return g * np.sign(ctx.saved_tensors[0])


class Square(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.saved_tensors = (x,)
        return np.square(x)

    @staticmethod
    def backward(ctx, g):
        return 2 * g * ctx.saved_tensors[0]


class Clip(Function):
    """Clamp to [low, high]; the gradient passes where low <= x <= high and is 0 outside."""

    @staticmethod
    def forward(ctx, x, low, high):
        ctx.saved_tensors = (x,)
        ctx.low, ctx.high = low, high
        return np.clip(x, low, high)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        inside = np.ones(x.shape, dtype=bool)
        if ctx.low is not None:
            inside &= x >= ctx.low
        if ctx.high is not None:
            inside &= x <= ctx.high
        return g * inside, None, None


class Clone(Function):
    """A copy in fresh memory; the gradient passes through unchanged."""

    @staticmethod
    def forward(ctx, x):
        return np.array(x, copy=True)

    @staticmethod
    def backward(ctx, g):
        return g


def clone(x):
    return Clone.apply(_t(x, "clone"))


def exp(x):
    return Exp.apply(_t(x, "exp"))


def log(x):
    return Log.apply(_t(x, "log"))


def sqrt(x):
    return Sqrt.apply(_t(x, "sqrt"))


def abs(x):  # noqa: A001  (the NumPy / PyTorch name)
    return Abs.apply(_t(x, "abs"))


def square(x):
    return Square.apply(_t(x, "square"))


def clip(x, min=None, max=None):  # noqa: A002
    if min is None and max is None:
        raise ValueError("clip: give min, max or both")
    if min is not None and max is not None and min > max:
        raise ValueError(f"clip: min {min} > max {max}")
    return Clip.apply(_t(x, "clip"), min, max)


def astype(x, dtype):
    """Cast with gradient (the gradient is cast back)."""
    dtype = as_array(0, dtype, "astype").dtype
    if dtype.kind != "f":
        raise TypeError(f"astype: only floating-point dtypes keep a gradient, got {dtype}")
    return AsType.apply(_t(x, "astype"), dtype)


class AsType(Function):
    @staticmethod
    def forward(ctx, x, dtype):
        return x.astype(dtype)

    @staticmethod
    def backward(ctx, g):
        return g, None  # the engine casts it to the input's dtype


# --- reductions ---------------------------------------------------------------------------------
def _axes(axis, ndim, op):
    """Normalise axis (None, int or tuple) to a sorted tuple of non-negative axes, or None."""
    if axis is None:
        return None
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out = []
    for a in axes:
        if not -ndim <= a < ndim:
            raise ValueError(f"{op}: axis {axis} out of range for a tensor of rank {ndim}")
        out.append(int(a) % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"{op}: repeated axis in {axis}")
    return tuple(sorted(out))


class Sum(Function):
    @staticmethod
    def forward(ctx, x, axes, keepdims):
        ctx.shape, ctx.axes, ctx.keepdims = x.shape, axes, keepdims
        return np.asarray(np.sum(x, axis=axes, keepdims=keepdims))

    @staticmethod
    def backward(ctx, g):
        if ctx.axes is not None and not ctx.keepdims:
            g = np.expand_dims(g, ctx.axes)
        return np.broadcast_to(g, ctx.shape), None, None


class Mean(Function):
    @staticmethod
    def forward(ctx, x, axes, keepdims):
        if x.dtype.kind == "f" and x.dtype.itemsize >= 4 and x.size:
            # np.mean's arithmetic without its Python layer (which costs more than the sum of a
            # loss's batch): the sum, then a division by the count as an intp, which NumPy does in
            # float64 and rounds to x's dtype
            total = np.add.reduce(x, axis=axes, keepdims=keepdims)
            count = x.size // total.size
            y = np.asarray(total / np.intp(count), dtype=x.dtype)
        else:   # integers and bools average in float64; an empty mean is NaN, with NumPy's warning
            y = np.asarray(np.mean(x, axis=axes, keepdims=keepdims))
            count = x.size // builtins.max(y.size, 1) if x.size else 1
        ctx.shape, ctx.axes, ctx.keepdims, ctx.count = x.shape, axes, keepdims, count
        return y

    @staticmethod
    def backward(ctx, g):
        if ctx.axes is not None and not ctx.keepdims:
            g = np.expand_dims(g, ctx.axes)
        return np.broadcast_to(g / ctx.count, ctx.shape), None, None


class Extremum(Function):
    """max / min over axes. The whole gradient goes to the FIRST extremal element in row-major order
    of the reduced axes (PyTorch's rule for max_pool2d; deterministic, and gradcheck-friendly)."""

    @staticmethod
    def forward(ctx, x, axes, keepdims, largest):
        if x.size == 0:
            raise ValueError(f"{'max' if largest else 'min'}: empty tensor of shape {x.shape}")
        ctx.saved_tensors = (x,)
        ctx.axes, ctx.keepdims, ctx.largest = axes, keepdims, largest
        reduce = np.max if largest else np.min
        return np.asarray(reduce(x, axis=axes, keepdims=keepdims))

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        pick = np.argmax if ctx.largest else np.argmin
        axes = ctx.axes if ctx.axes is not None else tuple(range(x.ndim))
        kept = [a for a in range(x.ndim) if a not in axes]
        # reduced axes last, flattened into one: the first extremum of each row is the winner
        order = kept + list(axes)
        moved = np.transpose(x, order)
        rows = moved.reshape(moved.shape[:len(kept)] + (-1,))
        winner = pick(rows, axis=-1)[..., None]
        g_rows = np.zeros(rows.shape, dtype=g.dtype)
        g_kept = np.reshape(g, winner.shape[:-1])[..., None]
        np.put_along_axis(g_rows, winner, g_kept, axis=-1)
        return np.transpose(g_rows.reshape(moved.shape), np.argsort(order)), None, None, None


def arg_extremum(x, axis, keepdims, pick, op):
    """np.argmax / np.argmin (`pick`) of array x over one axis (None: the flattened array), int64;
    the first extremum wins on ties. No gradient: indices are not differentiable."""
    if x.size == 0:
        raise ValueError(f"{op}: empty tensor of shape {x.shape}")
    if axis is not None:
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
            raise TypeError(f"{op}: axis must be an int or None, got {axis!r}")
        axis = _axes(axis, x.ndim, op)[0]
    return np.asarray(pick(x, axis=axis, keepdims=bool(keepdims)), dtype=np.int64)


def sum(x, axis=None, keepdims=False):  # noqa: A001
    x = _t(x, "sum")
    return Sum.apply(x, _axes(axis, x.ndim, "sum"), bool(keepdims))


def mean(x, axis=None, keepdims=False):
    x = _t(x, "mean")
    return Mean.apply(x, _axes(axis, x.ndim, "mean"), bool(keepdims))


def max(x, axis=None, keepdims=False):  # noqa: A001
    x = _t(x, "max")
    return Extremum.apply(x, _axes(axis, x.ndim, "max"), bool(keepdims), True)


def min(x, axis=None, keepdims=False):  # noqa: A001
    x = _t(x, "min")
    return Extremum.apply(x, _axes(axis, x.ndim, "min"), bool(keepdims), False)


# --- shapes -------------------------------------------------------------------------------------
class Reshape(Function):
    @staticmethod
    def forward(ctx, x, shape):
        ctx.shape = x.shape
        return x.reshape(shape)

    @staticmethod
    def backward(ctx, g):
        return g.reshape(ctx.shape), None


class Transpose(Function):
    @staticmethod
    def forward(ctx, x, axes):
        ctx.axes = axes
        return np.transpose(x, axes)

    @staticmethod
    def backward(ctx, g):
        return np.transpose(g, None if ctx.axes is None else np.argsort(ctx.axes)), None


def _shape_args(args):
    return tuple(args[0]) if len(args) == 1 and isinstance(args[0], (tuple, list)) else tuple(args)


def reshape(x, *shape):
    x = _t(x, "reshape")
    shape = _shape_args(shape)
    try:
        return Reshape.apply(x, shape)
    except (ValueError, TypeError) as e:
        raise ValueError(f"reshape: cannot reshape a tensor of shape {x.shape} into {shape}") from e


def transpose(x, *axes):
    x = _t(x, "transpose")
    axes = _shape_args(axes) or None
    if axes is not None and sorted(int(a) % builtins.max(x.ndim, 1) for a in axes) != list(range(x.ndim)):
        raise ValueError(f"transpose: axes {axes} are not a permutation for shape {x.shape}")
    return Transpose.apply(x, axes)


# --- indexing -----------------------------------------------------------------------------------
_BASIC = (int, np.integer, slice, type(None), type(Ellipsis))


class Index(Function):
    """x[index]. Basic indices (ints, slices, None, ...) scatter the gradient by assignment; fancy
    indices by `np.add.at`, so an element picked twice receives both gradients."""

    @staticmethod
    def forward(ctx, x, index):
        ctx.shape, ctx.index = x.shape, index
        try:
            return np.asarray(x[index])
        except IndexError as e:
            raise IndexError(f"index: {e} (tensor shape {x.shape})") from e

    @staticmethod
    def backward(ctx, g):
        index = ctx.index
        gx = np.zeros(ctx.shape, dtype=g.dtype)
        parts = index if type(index) is tuple else (index,)
        if all(isinstance(p, _BASIC) for p in parts):
            gx[index] = g
        else:
            np.add.at(gx, index, g)
        return gx, None


def index(x, key):
    if isinstance(key, Tensor):
        key = key.data
    elif type(key) is tuple:
        key = tuple(k.data if isinstance(k, Tensor) else k for k in key)
    elif isinstance(key, list):
        key = np.asarray(key)
    return Index.apply(_t(x, "index"), key)


# --- joining ------------------------------------------------------------------------------------
class Concatenate(Function):
    @staticmethod
    def forward(ctx, axis, *xs):
        ctx.axis = axis
        ctx.bounds = np.cumsum([x.shape[axis] for x in xs])[:-1]
        return np.concatenate(xs, axis=axis)

    @staticmethod
    def backward(ctx, g):
        return (None, *np.split(g, ctx.bounds, axis=ctx.axis))


class Stack(Function):
    @staticmethod
    def forward(ctx, axis, *xs):
        ctx.axis = axis
        return np.stack(xs, axis=axis)

    @staticmethod
    def backward(ctx, g):
        return (None, *np.moveaxis(g, ctx.axis, 0))


def concatenate(tensors, axis=0):
    tensors = [_t(x, "concatenate") for x in tensors]
    if not tensors:
        raise ValueError("concatenate: need at least one tensor")
    ndim = tensors[0].ndim
    axis = _axes(axis, ndim, "concatenate")[0]
    shapes = [t.shape for t in tensors]
    if any(len(s) != ndim or s[:axis] + s[axis + 1:] != shapes[0][:axis] + shapes[0][axis + 1:]
           for s in shapes):
        raise ValueError(f"concatenate: shapes {shapes} differ outside axis {axis}")
    return Concatenate.apply(axis, *tensors)


def stack(tensors, axis=0):
    tensors = [_t(x, "stack") for x in tensors]
    if not tensors:
        raise ValueError("stack: need at least one tensor")
    shapes = [t.shape for t in tensors]
    if any(s != shapes[0] for s in shapes):
        raise ValueError(f"stack: all shapes must be equal, got {shapes}")
    axis = _axes(axis, tensors[0].ndim + 1, "stack")[0]
    return Stack.apply(axis, *tensors)
