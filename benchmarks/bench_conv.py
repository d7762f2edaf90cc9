"""Convolution benchmarks: nnx vs nnx.reference vs PyTorch CPU (NCHW and channels-last), same threads.

The shapes are the reference CNN's three 3x3 valid stride-1 convolutions (docs/api.md section 0) at batch 32
and 256: forward alone, and forward + backward (input gradient and weight gradient; the first layer
needs no input gradient, as in training). No bias on either side. Run:
    python -m pytest benchmarks/bench_conv.py --benchmark-group-by=group
Each group holds one problem, so the ratios inside a group are measured in the same run; extra_info
records the GFLOP/s. `python benchmarks/conv_table.py` prints the comparison as a Markdown table.
"""
import numpy as np
import pytest

import nnx
import nnx.kernels as K
import nnx.reference as R

try:
    import torch
except ImportError:  # torch is optional: only the torch rows need it
    torch = None

# name: (H = W, C_in, C_out) of the input; kernels are 3x3, valid, stride 1
LAYERS = {"conv1": (28, 1, 32), "conv2": (13, 32, 64), "conv3": (5, 64, 64)}
BATCHES = (32, 256)
PASSES = ("forward", "forward+backward")
GRADIENTS = ("input-gradient", "weight-gradient")  # one backward kernel alone (conv_table.py --passes)
STRIDES, PADDING, DILATION, GROUPS = (1, 1), ((0, 0), (0, 0)), (1, 1), 1
IMPLS = ("nnx", "reference", "torch_nchw", "torch_channels_last")


def make_problem(batch, layer):
    """x (N, H, W, C), kernel (3, 3, C, F) and an upstream gradient dy, float32."""
    size, c_in, c_out = LAYERS[layer]
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, size, size, c_in)).astype(np.float32)
    kernel = (rng.standard_normal((3, 3, c_in, c_out)) / np.sqrt(9 * c_in)).astype(np.float32)
    dy = rng.standard_normal((batch, size - 2, size - 2, c_out)).astype(np.float32)
    return x, kernel, dy


def needs_input_grad(layer):
    return LAYERS[layer][1] > 1  # the first layer's input is the data: no gradient needed


def gflop(layer, batch, pass_):
    """Floating-point work in GFLOP: 2*N*OH*OW*KH*KW*C*F per GEMM (forward, input grad, weight grad)."""
    size, c_in, c_out = LAYERS[layer]
    one = 2.0 * batch * (size - 2) ** 2 * 9 * c_in * c_out / 1e9
    return one * (3 if needs_input_grad(layer) else 2) if pass_ == "forward+backward" else one


def numpy_call(kernels, pass_, layer, x, kernel, dy):
    """A no-argument callable running the pass with nnx.kernels or nnx.reference."""
    args = (STRIDES, PADDING, DILATION, GROUPS)

    def forward():
        return kernels.conv2d_forward(x, kernel, *args)

    def input_gradient():
        return kernels.conv2d_backward_input(dy, kernel, x.shape, *args)

    def weight_gradient():
        return kernels.conv2d_backward_weight(x, dy, kernel.shape, *args)

    def forward_backward():
        return forward(), input_gradient() if needs_input_grad(layer) else None, weight_gradient()

    return {"forward": forward, "input-gradient": input_gradient, "weight-gradient": weight_gradient,
            "forward+backward": forward_backward}[pass_]


def torch_call(pass_, layer, x, kernel, dy, memory_format):
    """A no-argument callable running the pass in PyTorch on NCHW tensors stored in `memory_format`.

    Backward calls ATen's convolution_backward directly (what autograd runs), so only kernels are timed."""
    xt = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous(memory_format=memory_format)
    wt = torch.from_numpy(kernel).permute(3, 2, 0, 1).contiguous(memory_format=memory_format)
    dyt = torch.from_numpy(dy).permute(0, 3, 1, 2).contiguous(memory_format=memory_format)
    def forward():
        return torch.nn.functional.conv2d(xt, wt)

    def backward(mask):
        return torch.ops.aten.convolution_backward(dyt, xt, wt, None, [1, 1], [0, 0], [1, 1], False,
                                                   [0, 0], 1, mask)

    return {"forward": forward,
            "input-gradient": lambda: backward([True, False, False]),
            "weight-gradient": lambda: backward([False, True, False]),
            "forward+backward": lambda: (forward(), backward([needs_input_grad(layer), True, False]))}[pass_]


def make_call(impl, pass_, batch, layer):
    x, kernel, dy = make_problem(batch, layer)
    if impl == "nnx":
        return numpy_call(K, pass_, layer, x, kernel, dy)
    if impl == "reference":
        return numpy_call(R, pass_, layer, x, kernel, dy)
    fmt = torch.channels_last if impl == "torch_channels_last" else torch.contiguous_format
    return torch_call(pass_, layer, x, kernel, dy, fmt)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("layer", list(LAYERS))
@pytest.mark.parametrize("pass_", PASSES)
def test_conv(benchmark, pass_, layer, batch, impl):
    if impl.startswith("torch"):
        if torch is None:
            pytest.skip("torch not installed")
        torch.set_num_threads(nnx.get_num_threads())  # same thread count on both sides
    benchmark.group = f"{layer} {pass_} batch {batch} ({nnx.get_num_threads()} threads)"
    benchmark(make_call(impl, pass_, batch, layer))
    if benchmark.stats is not None:  # None under --benchmark-disable
        benchmark.extra_info["gflops"] = gflop(layer, batch, pass_) / benchmark.stats.stats.median
