"""Keras-style layers (API.md section 5). Every layer builds its weights lazily on first use."""
from nnx.layers.base import Layer, clear_session
from nnx.layers.core import Activation, Dense, Dropout, Flatten, Input, Reshape
from nnx.layers.convolutional import Conv2D
from nnx.layers.pooling import (AveragePooling2D, GlobalAveragePooling2D, GlobalMaxPooling2D,
                                MaxPooling2D)
from nnx.layers.normalization import BatchNormalization
from nnx.layers.preprocessing import Normalization, Rescaling
from nnx.layers.sequences import *  # noqa: F401,F403  (Embedding, recurrent and 1-D layers)
