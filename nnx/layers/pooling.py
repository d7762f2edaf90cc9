"""Pooling layers over channels-last inputs, as Keras 3's keras/src/layers/pooling/: `_Pooling` (its
BasePooling: a window over `rank` spatial axes) with MaxPooling2D and AveragePooling2D (via
`F.max_pool2d` / `F.avg_pool2d`), and `_GlobalPooling` (a max / mean over the spatial axes) with the
global ones. The 1-D subclasses live in nnx.layers.sequence1d; rank 1 runs the 2-D ops on a height-1
image."""
from nnx import functional as F
from nnx.functional.convolution import pool_geometry
from nnx.geometry import output_length, padding_mode, positive_ints
from nnx.layers.base import Layer, format_shape
from nnx.layers.convolutional import drop_height, height_one


class _Pooling(Layer):
    """pool_size, strides (default: pool_size) and padding ('valid' / 'same') over `rank` axes."""
    rank = 2
    input_rank = 4
    input_layout = "(N, H, W, C)"
    pool_op = None

    def __init__(self, pool_size=2, strides=None, padding="valid", **kwargs):
        super().__init__(**kwargs)
        who = self._who()
        self.pool_size = positive_ints(who, "pool_size", pool_size, self.rank)
        strides = self.pool_size if strides is None else strides
        self.strides = positive_ints(who, "strides", strides, self.rank)
        self.padding = padding_mode(who, padding)

    def compute_output_shape(self, input_shape):
        sizes = tuple(output_length(n, k, s, self.padding)
                      for n, k, s in zip(input_shape[1:-1], self.pool_size, self.strides))
        if any(size is not None and size < 1 for size in sizes):
            raise ValueError(f"{self._who()}: input shape {format_shape(input_shape)} is "
                             f"{'shorter' if self.rank == 1 else 'smaller'} than pool_size {self.pool_size}")
        return (input_shape[0],) + sizes + (input_shape[-1],)

    def _geometry(self, input_shape):
        """The pooling op's window arguments for inputs of this shape (checked)."""
        if self.rank == 2:
            return pool_geometry(input_shape, self.pool_size, self.strides, self.padding,
                                 type(self).pool_op.__name__)
        self.compute_output_shape(input_shape)          # a too-short input fails here, named
        return pool_geometry((input_shape[0], 1) + input_shape[1:], (1,) + self.pool_size,
                             (1,) + self.strides, self.padding, type(self).pool_op.__name__)

    def call(self, inputs, training=False):
        geometry = self.per_input_shape(inputs.shape, self._geometry)   # once per input shape
        if self.rank == 2:
            return type(self).pool_op(inputs, self.pool_size, self.strides, self.padding, geometry=geometry)
        y = type(self).pool_op(height_one(inputs), (1,) + self.pool_size, (1,) + self.strides, self.padding,
                               geometry=geometry)
        return drop_height(y)

    def flops(self, input_shape):
        output_shape = self.compute_output_shape(input_shape)
        count = 1
        for size in output_shape[1:] + self.pool_size:
            count *= size
        return count

    def get_config(self):
        return {**super().get_config(), "pool_size": list(self.pool_size), "strides": list(self.strides),
                "padding": self.padding}


class MaxPooling2D(_Pooling):
    """Max over each window (ties: the first maximum in row-major order gets the gradient)."""
    pool_op = staticmethod(F.max_pool2d)


class AveragePooling2D(_Pooling):
    """Mean over each window ('same' padding excluded from the count)."""
    pool_op = staticmethod(F.avg_pool2d)


class _GlobalPooling(Layer):
    """A max or mean over the `rank` spatial axes; keepdims keeps them as size 1."""
    rank = 2
    input_rank = 4
    input_layout = "(N, H, W, C)"

    def __init__(self, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        self.keepdims = bool(keepdims)

    @property
    def spatial_axes(self):
        return tuple(range(1, self.rank + 1))

    def compute_output_shape(self, input_shape):
        n, c = input_shape[0], input_shape[-1]
        return (n,) + (1,) * self.rank + (c,) if self.keepdims else (n, c)

    def flops(self, input_shape):
        count = 1
        for size in input_shape[1:]:
            count *= size
        return int(count)

    def get_config(self):
        return {**super().get_config(), "keepdims": self.keepdims}


class GlobalAveragePooling2D(_GlobalPooling):
    def call(self, inputs, training=False):
        return inputs.mean(axis=self.spatial_axes, keepdims=self.keepdims)


class GlobalMaxPooling2D(_GlobalPooling):
    def call(self, inputs, training=False):
        return inputs.max(axis=self.spatial_axes, keepdims=self.keepdims)
