"""Pooling benchmarks: nnx vs nnx.reference vs PyTorch CPU (NCHW and channels-last), same threads.

The shapes are the reference CNN's two 2x2 max pools (26x26x32 -> 13x13x32, 11x11x64 -> 5x5x64) at
batch 32 and 256, forward (max: with argmax for training, and y alone for inference) and backward, max
and average. Run:
    python -m pytest benchmarks/bench_pool.py --benchmark-group-by=group
Each group holds one problem, so the ratios inside a group are measured in the same run.
`python benchmarks/pool_table.py` prints the same comparison as a Markdown table.
"""
import numpy as np
import pytest

import nnx
import nnx.kernels as K
import nnx.reference as R

try:
    import torch
    import torch.nn.functional as F
except ImportError:  # torch is optional: only the torch rows need it
    torch = None

LAYERS = {"26x26x32": (26, 32), "11x11x64": (11, 64)}
BATCHES = (32, 256)
OPS = ("max_forward", "max_forward_y", "max_backward", "avg_forward", "avg_backward")  # _y: no argmax
POOL, STRIDES, PADDING = (2, 2), (2, 2), ((0, 0), (0, 0))


def make_problem(batch, layer):
    """x (N, H, W, C) float32, the forward's argmax and an upstream gradient dy."""
    size, channels = LAYERS[layer]
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, size, size, channels)).astype(np.float32)
    y, argmax = K.max_pool2d_forward(x, POOL, STRIDES, PADDING)
    return x, argmax, rng.standard_normal(y.shape).astype(np.float32)


def numpy_call(kernels, op, x, argmax, dy):
    """A no-argument callable running `op` with nnx.kernels or nnx.reference."""
    return {
        "max_forward": lambda: kernels.max_pool2d_forward(x, POOL, STRIDES, PADDING),
        "max_forward_y": lambda: kernels.max_pool2d_forward(x, POOL, STRIDES, PADDING, argmax=False),
        "max_backward": lambda: kernels.max_pool2d_backward(dy, argmax, x.shape),
        "avg_forward": lambda: kernels.avg_pool2d_forward(x, POOL, STRIDES, PADDING),
        "avg_backward": lambda: kernels.avg_pool2d_backward(dy, x.shape, POOL, STRIDES, PADDING),
    }[op]


def torch_call(op, x, dy, memory_format):
    """A no-argument callable running `op` in PyTorch on NCHW tensors in `memory_format`.

    Backward calls ATen's backward kernels directly (what autograd runs), so only the kernel is timed.
    Max forward returns indices too, as nnx's does and as training needs; max_forward_y (inference)
    asks for none."""
    xt = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous(memory_format=memory_format)
    dyt = torch.from_numpy(dy).permute(0, 3, 1, 2).contiguous(memory_format=memory_format)
    _, idx = F.max_pool2d(xt, POOL, STRIDES, return_indices=True)
    aten = torch.ops.aten
    return {
        "max_forward": lambda: F.max_pool2d(xt, POOL, STRIDES, return_indices=True),
        "max_forward_y": lambda: F.max_pool2d(xt, POOL, STRIDES),
        "max_backward": lambda: aten.max_pool2d_with_indices_backward(dyt, xt, list(POOL), list(STRIDES),
                                                                      [0, 0], [1, 1], False, idx),
        "avg_forward": lambda: F.avg_pool2d(xt, POOL, STRIDES),
        "avg_backward": lambda: aten.avg_pool2d_backward(dyt, xt, list(POOL), list(STRIDES), [0, 0], False,
                                                         False, None),
    }[op]


def make_call(impl, op, batch, layer):
    x, argmax, dy = make_problem(batch, layer)
    if impl == "nnx":
        return numpy_call(K, op, x, argmax, dy)
    if impl == "reference":
        return numpy_call(R, op, x, argmax, dy)
    fmt = torch.channels_last if impl == "torch_channels_last" else torch.contiguous_format
    return torch_call(op, x, dy, fmt)


@pytest.mark.parametrize("impl", ["nnx", "reference", "torch_nchw", "torch_channels_last"])
@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("layer", list(LAYERS))
@pytest.mark.parametrize("op", OPS)
def test_pool(benchmark, op, layer, batch, impl):
    if impl.startswith("torch"):
        if torch is None:
            pytest.skip("torch not installed")
        torch.set_num_threads(nnx.get_num_threads())  # same thread count on both sides
    benchmark.group = f"{op} {layer} batch {batch} ({nnx.get_num_threads()} threads)"
    benchmark(make_call(impl, op, batch, layer))
