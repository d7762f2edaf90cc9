"""Embedding: integer token ids (batch, ...) -> vectors (batch, ..., output_dim), via `F.embedding`.

With mask_zero=True, id 0 is padding: the layer's output mask (ids != 0) tells the recurrent and
pooling layers after it which steps to skip.
"""
import numpy as np

from nnx.functional.embedding import embedding
from nnx.labels import integer_indices
from nnx.layers.base import Layer, format_shape
from nnx.layers.symbolic import is_symbolic
from nnx.tensor import Tensor


def as_padded_array(inputs, who):
    """np.asarray(inputs), but ragged nested lists (sequences of different lengths) raise a ValueError
    naming the layer and pointing at pad_sequences."""
    try:
        return np.asarray(inputs)
    except ValueError as e:
        raise ValueError(f"{who}: the input sequences have different lengths (a ragged list cannot "
                         f"become one array); pad them to a common length first, e.g. with "
                         f"nnx.preprocessing.pad_sequences(sequences, maxlen=...)") from e


class Embedding(Layer):
    """Turns token ids in [0, input_dim) into dense vectors of size output_dim."""
    input_layout = "(batch, sequence_length)"
    regularizer_args = {"embeddings_regularizer": "embeddings"}

    def __init__(self, input_dim, output_dim, embeddings_initializer="uniform", mask_zero=False,
                 input_length=None, **kwargs):
        if input_length is not None and kwargs.get("input_shape") is None:
            kwargs["input_shape"] = (input_length,)
        super().__init__(**kwargs)
        for what, value in (("input_dim", input_dim), ("output_dim", output_dim)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
                raise ValueError(f"{self._who()}: {what} must be a positive int, got {value!r}")
        self.input_dim, self.output_dim = int(input_dim), int(output_dim)
        self.embeddings_initializer = embeddings_initializer
        self.mask_zero = bool(mask_zero)
        self.input_length = input_length
        self.embeddings = None

    def build(self, input_shape):
        self.embeddings = self.add_weight(name="embeddings", shape=(self.input_dim, self.output_dim),
                                          initializer=self.embeddings_initializer)
        super().build(input_shape)

    def _ids(self, inputs):
        """The token ids as an integer array; errors name the layer."""
        ids = as_padded_array(getattr(inputs, "data", inputs), self._who())
        ids = integer_indices(ids, self._who(), "inputs", "token ids")
        ids = ids.astype(np.int64, copy=False)
        if ids.size and (ids.min() < 0 or ids.max() >= self.input_dim):
            bad = int(ids.min() if ids.min() < 0 else ids.max())
            raise ValueError(f"{self._who()}: token id {bad} is out of range for input_dim="
                             f"{self.input_dim} (valid ids are 0..{self.input_dim - 1}); input shape "
                             f"{format_shape(ids.shape)}")
        return ids

    def __call__(self, inputs, training=False, **kwargs):
        if is_symbolic(inputs):   # building a graph: no ids to check yet
            return super().__call__(inputs, training=training, **kwargs)
        ids = self._ids(inputs)
        return super().__call__(Tensor(ids, dtype=ids.dtype), training=training, **kwargs)

    def call(self, inputs, training=False):
        # models call `call` directly with float Tensors, so the ids are checked (and named) here
        return embedding(self._ids(inputs), self.embeddings)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.output_dim,)

    def compute_mask(self, inputs, mask=None):
        if not self.mask_zero:
            return None
        return self._ids(inputs) != 0

    def get_config(self):
        return {**super().get_config(), "input_dim": self.input_dim, "output_dim": self.output_dim,
                "embeddings_initializer": self.embeddings_initializer, "mask_zero": self.mask_zero,
                "input_length": self.input_length}
