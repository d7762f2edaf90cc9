"""The convolution variants against the plain convolution doing the same arithmetic.

A transposed convolution runs the convolution's kernels with the roles of forward and input gradient
swapped, so Conv2DTranspose(F, 3, strides=2, padding='same') on (N, 14, 14, C) and Conv2D(C, 3,
strides=2, padding='same') on (N, 28, 28, F) do the same multiply-adds: their times should match.
DepthwiseConv2D runs the grouped convolution (groups = C) and SeparableConv2D adds a 1x1 Conv2D.
Each case is one training step of the layer: forward and backward (input and weight gradients). Run:
    python -m pytest benchmarks/bench_conv_variants.py --benchmark-group-by=group
"""
import numpy as np
import pytest

import nnx
from nnx.layers import Conv2D, Conv2DTranspose, DepthwiseConv2D, SeparableConv2D

BATCH, CHANNELS, FILTERS = 32, 32, 32

CASES = {  # name: (group, layer factory, input shape per sample)
    "conv2d_transpose": ("transpose vs conv", lambda: Conv2DTranspose(FILTERS, 3, 2, "same"),
                         (14, 14, CHANNELS)),
    "conv2d (mirror)": ("transpose vs conv", lambda: Conv2D(CHANNELS, 3, 2, "same"), (28, 28, FILTERS)),
    "depthwise_conv2d": ("depthwise / separable", lambda: DepthwiseConv2D(3, padding="same"),
                         (28, 28, CHANNELS)),
    "separable_conv2d": ("depthwise / separable", lambda: SeparableConv2D(FILTERS, 3, padding="same"),
                         (28, 28, CHANNELS)),
    "conv2d (same shapes)": ("depthwise / separable", lambda: Conv2D(FILTERS, 3, padding="same"),
                             (28, 28, CHANNELS)),
}


def training_step(make, shape):
    nnx.manual_seed(0)
    layer = make()
    x = nnx.Tensor(np.random.default_rng(0).standard_normal((BATCH,) + shape).astype(np.float32),
                   requires_grad=True)
    layer(x)   # build

    def step():
        layer.zero_grad()
        x.grad = None
        y = layer(x)
        y.backward(np.ones(y.shape, np.float32))
    return step


@pytest.mark.parametrize("name", list(CASES))
def test_conv_variant_step(benchmark, name):
    group, make, shape = CASES[name]
    benchmark.group = f"{group} batch {BATCH} ({nnx.get_num_threads()} threads)"
    benchmark(training_step(make, shape))
