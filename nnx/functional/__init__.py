"""nnx.functional — the differentiable ops, on Tensors (NumPy arrays are accepted as inputs).

Submodules by topic; every public name is re-exported here, so `import nnx.functional as F` is all a
user needs. Kernels are looked up through `nnx.backend.kernels()` at call time.

Loading this package also gives `nnx.Tensor` its operators and methods (`tensor.bind_ops`): they are
these ops, and tensor.py, which the ops are built on, cannot import them itself.
"""
from nnx import autograd as _autograd
from nnx.tensor import bind_ops as _bind_ops
from nnx.functional.math import (  # noqa: F401
    abs, add, astype, clip, clone, concatenate, divide, exp, index, log, matmul, max, mean, min, multiply,
    negative, power, reshape, sqrt, square, stack, subtract, sum, transpose,
)
from nnx.functional.activations import (  # noqa: F401
    elu, leaky_relu, log_softmax, relu, sigmoid, softmax, tanh,
)
from nnx.functional.linear import dense  # noqa: F401
from nnx.functional.convolution import (  # noqa: F401
    avg_pool2d, conv2d, conv2d_transpose, depthwise_conv2d, max_pool2d,
)
from nnx.functional.dropout import dropout  # noqa: F401
from nnx.functional.losses import (  # noqa: F401
    binary_cross_entropy_with_logits, softmax_cross_entropy, sparse_softmax_cross_entropy,
)
from nnx.functional.embedding import embedding  # noqa: F401
from nnx.functional.recurrent import gru, lstm, rnn, simple_rnn  # noqa: F401
from nnx.functional.normalization import layer_norm  # noqa: F401
from nnx.functional.resampling import pad2d, upsample2d  # noqa: F401

from nnx.functional import activations as _activations, math as _math  # noqa: E402

_bind_ops(_autograd, _math, _activations)
