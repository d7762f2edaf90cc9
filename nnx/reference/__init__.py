"""nnx.reference — every kernel of `nnx.kernels`, in plain NumPy, written to be read.

Same names, signatures and results (to rounding) as the compiled kernels; the tests hold the compiled
kernels to these, and the 'reference' backend runs whole models on them.
"""
from nnx.reference.matmul import GEMM_RUNGS, gemm, gemm_pack_b  # noqa: F401
from nnx.reference.convolution import (  # noqa: F401
    conv2d_backward_input, conv2d_backward_weight, conv2d_forward,
)
from nnx.reference.pooling import (  # noqa: F401
    avg_pool2d_backward, avg_pool2d_forward, max_pool2d_backward, max_pool2d_forward,
)
from nnx.reference.resample import affine_transform  # noqa: F401
from nnx.reference.epilogue import bias_relu_backward, bias_relu_forward  # noqa: F401
from nnx.reference.recurrent import (  # noqa: F401
    lstm_backward, lstm_cell_backward, lstm_cell_forward, lstm_forward,
)
from nnx.reference.optim import adam_update  # noqa: F401
