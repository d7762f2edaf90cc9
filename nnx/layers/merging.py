"""Merge layers: Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate, Dot (Keras 3,
keras/src/layers/merging/*.py). Each is called on a list of inputs, concrete or symbolic.

Element-wise merges broadcast as Keras does: per-sample shapes are aligned from the right (an input of
lower rank gets size-1 axes inserted after the batch axis), each pair of sizes must be equal or one of
them 1, and the batch sizes must agree. The ops are the autograd ops of nnx.functional, so gradients
(with broadcasting reduced back) come for free.
"""
import numpy as np

from nnx import functional as F
from nnx.layers.base import Layer, format_shape, is_shape_list
from nnx.tensor import Tensor


def _shapes_text(shapes):
    return ", ".join(format_shape(s) for s in shapes)


class _Merge(Layer):
    """Shared checks of the merge layers; subclasses implement `merge(tensors)` and may narrow
    `min_inputs` / `max_inputs`."""
    takes_list = True
    min_inputs, max_inputs = 1, None

    def _check_list(self, shapes):
        if not is_shape_list(shapes):
            raise ValueError(f"{self._who()}: a merge layer is called on a list of inputs, got one "
                             f"input of shape {format_shape(tuple(shapes))}")
        n = len(shapes)
        if n < self.min_inputs or (self.max_inputs is not None and n > self.max_inputs):
            count = self.min_inputs if self.min_inputs == self.max_inputs else f"at least {self.min_inputs}"
            raise ValueError(f"{self._who()}: expects {count} inputs, got {n} of shapes "
                             f"{_shapes_text(shapes)}")
        batches = {s[0] for s in shapes if s and s[0] is not None}
        if len(batches) > 1:
            raise ValueError(f"{self._who()}: inputs have different batch sizes, shapes "
                             f"{_shapes_text(shapes)}")
        return [tuple(s) for s in shapes]

    def check_input_shape(self, shape):
        self.compute_output_shape(shape)

    def compute_output_shape(self, input_shape):
        shapes = self._check_list(input_shape)
        out = ()
        for shape in shapes:   # per-sample shapes, aligned from the right
            a, b = out, tuple(shape[1:])
            if len(a) < len(b):
                a, b = b, a
            merged = list(a[:len(a) - len(b)])
            for da, db in zip(a[len(a) - len(b):], b):
                if da is None or db is None:
                    merged.append(None)
                elif da == 1 or db == 1 or da == db:
                    merged.append(max(da, db))
                else:
                    raise ValueError(f"{self._who()}: inputs have incompatible shapes "
                                     f"{_shapes_text(shapes)} (sizes {da} and {db} cannot be broadcast)")
            out = tuple(merged)
        batch = next((s[0] for s in shapes if s[0] is not None), None)
        return (batch,) + out

    def call(self, inputs, training=False):
        rank = max(x.ndim for x in inputs)
        aligned = [x if x.ndim == rank else   # Keras inserts the missing axes after the batch axis
                   x.reshape(x.shape[0], *([1] * (rank - x.ndim)), *x.shape[1:]) for x in inputs]
        return self.merge(aligned)

    def merge(self, tensors):
        raise NotImplementedError


class Add(_Merge):
    """Element-wise sum of the inputs."""

    def merge(self, tensors):
        out = tensors[0]
        for x in tensors[1:]:
            out = out + x
        return out


class Subtract(_Merge):
    """inputs[0] - inputs[1] (exactly two inputs)."""
    min_inputs = max_inputs = 2

    def merge(self, tensors):
        return tensors[0] - tensors[1]


class Multiply(_Merge):
    """Element-wise product of the inputs."""

    def merge(self, tensors):
        out = tensors[0]
        for x in tensors[1:]:
            out = out * x
        return out


class Average(Add):
    """Element-wise mean of the inputs."""

    def merge(self, tensors):
        return super().merge(tensors) * (1.0 / len(tensors))


class Maximum(_Merge):
    """Element-wise maximum (the gradient goes to the first input holding it)."""
    reduce = staticmethod(F.max)

    def merge(self, tensors):
        shape = np.broadcast_shapes(*[x.shape for x in tensors])
        zeros = Tensor(np.zeros(shape, tensors[0].dtype))
        full = [x if x.shape == shape else x + zeros for x in tensors]
        return self.reduce(F.stack(full, axis=0), axis=0)


class Minimum(Maximum):
    """Element-wise minimum (the gradient goes to the first input holding it)."""
    reduce = staticmethod(F.min)


class Concatenate(_Merge):
    """Joins the inputs along `axis` (default the last); all other sizes must agree."""

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
            raise TypeError(f"{self._who()}: axis must be an int, got {axis!r}")
        self.axis = int(axis)

    def compute_output_shape(self, input_shape):
        shapes = self._check_list(input_shape)
        rank = len(shapes[0])
        if any(len(s) != rank for s in shapes) or not -rank <= self.axis < rank or \
                self.axis % rank == 0:
            raise ValueError(f"{self._who()}: inputs of shapes {_shapes_text(shapes)} cannot be "
                             f"concatenated on axis {self.axis} (all inputs need the same rank, and "
                             f"the axis must not be the batch axis)")
        axis = self.axis % rank
        out = []
        for i, sizes in enumerate(zip(*shapes)):
            known = {d for d in sizes if d is not None}
            if i == axis:
                out.append(None if None in sizes else sum(sizes))
            elif len(known) > 1:
                raise ValueError(f"{self._who()}: a Concatenate layer requires inputs with matching "
                                 f"shapes except for the concatenation axis {self.axis}, got shapes "
                                 f"{_shapes_text(shapes)}")
            else:
                out.append(known.pop() if known else None)
        return tuple(out)

    def call(self, inputs, training=False):
        return F.concatenate(list(inputs), axis=self.axis)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


class Dot(_Merge):
    """Dot product of two inputs along `axes` (an int, or one axis per input; never the batch
    axis), per sample, as Keras' `batch_dot`; `normalize=True` L2-normalises both along those axes
    first (the cosine similarity). Output: the first input's remaining axes, then the second's, and
    (N, 1) when nothing else remains."""
    min_inputs = max_inputs = 2

    def __init__(self, axes, normalize=False, **kwargs):
        super().__init__(**kwargs)
        pair = tuple(axes) if isinstance(axes, (tuple, list)) else (axes, axes)
        if len(pair) != 2 or not all(isinstance(a, (int, np.integer)) and not isinstance(a, bool)
                                     for a in pair):
            raise ValueError(f"{self._who()}: axes must be an int or a pair of ints, got {axes!r}")
        self.axes = tuple(int(a) for a in pair)
        self.normalize = bool(normalize)

    def _axes_for(self, shapes):
        axes = []
        for axis, shape in zip(self.axes, shapes):
            if not -len(shape) <= axis < len(shape) or axis % len(shape) == 0:
                raise ValueError(f"{self._who()}: axes {self.axes} do not fit input shapes "
                                 f"{_shapes_text(shapes)} (the batch axis cannot be contracted)")
            axes.append(axis % len(shape))
        return axes

    def compute_output_shape(self, input_shape):
        shapes = self._check_list(input_shape)
        a1, a2 = self._axes_for(shapes)
        s1, s2 = shapes
        if s1[a1] is not None and s2[a2] is not None and s1[a1] != s2[a2]:
            raise ValueError(f"{self._who()}: incompatible input shapes: axis values {s1[a1]} (at "
                             f"axis {a1}) != {s2[a2]} (at axis {a2}); full input shapes "
                             f"{_shapes_text(shapes)}")
        out = (s1[0],) + s1[1:a1] + s1[a1 + 1:] + s2[1:a2] + s2[a2 + 1:]
        return out + (1,) if len(out) == 1 else out

    def call(self, inputs, training=False):
        x, y = inputs
        a1, a2 = self._axes_for([x.shape, y.shape])
        if self.normalize:
            x = x / F.sqrt(F.clip((x * x).sum(axis=a1, keepdims=True), min=1e-12))
            y = y / F.sqrt(F.clip((y * y).sum(axis=a2, keepdims=True), min=1e-12))
        n = x.shape[0]
        # x: (N, rest1..., k) -> (N, r1, k); y: (N, k, rest2...) -> (N, k, r2); one batched matmul
        x_axes = [0] + [i for i in range(1, x.ndim) if i != a1] + [a1]
        y_axes = [0, a2] + [i for i in range(1, y.ndim) if i != a2]
        xt, yt = x.transpose(*x_axes), y.transpose(*y_axes)
        rest1, rest2 = xt.shape[1:-1], yt.shape[2:]
        k = x.shape[a1]
        out = xt.reshape(n, int(np.prod(rest1)), k) @ yt.reshape(n, k, int(np.prod(rest2)))
        shape = (n,) + rest1 + rest2
        return out.reshape(*(shape if len(shape) > 1 else (n, 1)))

    def get_config(self):
        return {**super().get_config(), "axes": list(self.axes), "normalize": self.normalize}
