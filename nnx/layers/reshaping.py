"""Reshaping layers (Keras 3's keras/src/layers/reshaping/): RepeatVector, Permute, ZeroPadding2D,
Cropping2D, UpSampling2D. Each is one differentiable op of nnx.functional."""
import numpy as np

from nnx import functional as F
from nnx.geometry import pair, pixel_pairs, positive_int
from nnx.layers.base import Layer, format_shape


class RepeatVector(Layer):
    """(N, features) -> (N, n, features): the input repeated n times."""
    input_rank = 2
    input_layout = "(N, features)"

    def __init__(self, n, **kwargs):
        super().__init__(**kwargs)
        self.n = positive_int(self._who(), "n", n)

    def call(self, inputs, training=False):
        n, features = inputs.shape
        # one broadcasting multiply: the engine sums the gradient over the n copies
        return inputs.reshape(n, 1, features) * np.ones((1, self.n, 1), inputs.dtype)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.n, input_shape[1])

    def get_config(self):
        return {**super().get_config(), "n": self.n}


class Permute(Layer):
    """Permutes the non-batch axes; `dims` is 1-based as in Keras: Permute((2, 1)) swaps axes 1 and 2."""

    def __init__(self, dims, **kwargs):
        super().__init__(**kwargs)
        dims = tuple(dims) if isinstance(dims, (tuple, list)) else (dims,)
        if not all(isinstance(d, (int, np.integer)) and not isinstance(d, bool) for d in dims) or \
                sorted(dims) != list(range(1, len(dims) + 1)):
            raise ValueError(f"{self._who()}: dims must be a permutation of 1..{len(dims)} (the batch axis "
                             f"0 stays first), got {dims!r}")
        self.dims = tuple(int(d) for d in dims)
        self.input_rank = len(self.dims) + 1

    def call(self, inputs, training=False):
        return inputs.transpose(0, *self.dims)

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + tuple(input_shape[d] for d in self.dims)

    def get_config(self):
        return {**super().get_config(), "dims": list(self.dims)}


class _Image2D(Layer):
    input_rank = 4
    input_layout = "(N, H, W, C)"


class ZeroPadding2D(_Image2D):
    """Zeros around each image: padding int, (h, w) or ((top, bottom), (left, right)); default (1, 1)."""

    def __init__(self, padding=(1, 1), **kwargs):
        super().__init__(**kwargs)
        self.padding = pixel_pairs(self._who(), "padding", padding)

    def call(self, inputs, training=False):
        return F.pad2d(inputs, self.padding)

    def compute_output_shape(self, input_shape):
        n, h, w, c = input_shape
        (t, b), (l, r) = self.padding
        return (n, None if h is None else h + t + b, None if w is None else w + l + r, c)

    def get_config(self):
        return {**super().get_config(), "padding": [list(p) for p in self.padding]}


class Cropping2D(_Image2D):
    """Removes rows and columns at the borders: cropping int, (h, w) or ((top, bottom), (left, right))."""

    def __init__(self, cropping=((0, 0), (0, 0)), **kwargs):
        super().__init__(**kwargs)
        self.cropping = pixel_pairs(self._who(), "cropping", cropping)

    def compute_output_shape(self, input_shape):
        n, h, w, c = input_shape
        (t, b), (l, r) = self.cropping
        out = [None if size is None else size - lo - hi for size, (lo, hi) in zip((h, w), self.cropping)]
        if any(o is not None and o <= 0 for o in out):
            raise ValueError(f"{self._who()}: cropping {self.cropping} leaves nothing of input shape "
                             f"{format_shape(input_shape)}")
        return (n, out[0], out[1], c)

    def call(self, inputs, training=False):
        self.compute_output_shape(inputs.shape)
        (t, b), (l, r) = self.cropping
        h, w = inputs.shape[1:3]
        return inputs[:, t:h - b, l:w - r, :]

    def get_config(self):
        return {**super().get_config(), "cropping": [list(c) for c in self.cropping]}


class UpSampling2D(_Image2D):
    """Repeats rows and columns size = (h, w) times ('nearest'), or interpolates them ('bilinear',
    Keras / TensorFlow's half-pixel rule)."""

    def __init__(self, size=(2, 2), interpolation="nearest", **kwargs):
        super().__init__(**kwargs)
        self.size = pair(self._who(), "size", size)
        if interpolation not in ("nearest", "bilinear"):
            raise ValueError(f"{self._who()}: interpolation must be 'nearest' or 'bilinear', got "
                             f"{interpolation!r}")
        self.interpolation = interpolation

    def call(self, inputs, training=False):
        return F.upsample2d(inputs, self.size, self.interpolation)

    def compute_output_shape(self, input_shape):
        n, h, w, c = input_shape
        return (n, None if h is None else h * self.size[0], None if w is None else w * self.size[1], c)

    def get_config(self):
        return {**super().get_config(), "size": list(self.size), "interpolation": self.interpolation}
