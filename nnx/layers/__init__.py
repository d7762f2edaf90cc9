"""Keras-style layers (docs/api.md section 5). Every layer builds its weights lazily on first use."""
from nnx.layers.base import Layer, clear_session
from nnx.layers.core import Activation, Dense, Dropout, Flatten, Input, InputLayer, Reshape
from nnx.layers.symbolic import SymbolicTensor
from nnx.layers.convolutional import Conv2D
from nnx.layers.pooling import (AveragePooling2D, GlobalAveragePooling2D, GlobalMaxPooling2D,
                                MaxPooling2D)
from nnx.layers.normalization import BatchNormalization
from nnx.layers.preprocessing import Normalization, Rescaling
from nnx.layers.merging import (Add, Average, Concatenate, Dot, Maximum, Minimum, Multiply,
                                Subtract)
from nnx.layers.augmentation import (RandomContrast, RandomCrop, RandomFlip, RandomRotation,
                                     RandomTranslation, RandomZoom)
from nnx.layers.sequences import *  # noqa: F401,F403  (Embedding, recurrent and 1-D layers)
from nnx.layers.normalization import LayerNormalization
from nnx.layers.activation import ELU, LeakyReLU, PReLU, ReLU, Softmax
from nnx.layers.reshaping import Cropping2D, Permute, RepeatVector, UpSampling2D, ZeroPadding2D
from nnx.layers.masking import Masking
from nnx.layers.wrappers import Lambda, TimeDistributed
from nnx.layers.noise import GaussianDropout, GaussianNoise, SpatialDropout1D, SpatialDropout2D
from nnx.layers.conv_variants import Conv2DTranspose, DepthwiseConv2D, SeparableConv2D
