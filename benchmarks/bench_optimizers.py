"""Optimizer step time on the reference MNIST CNN's weights (93,322 parameters in 10 arrays) and on
one 1M-parameter array: nnx's in-place update beside the same Keras formulas written naively in
NumPy (one temporary per operation) and, when installed, torch.optim in the same run.

    python -m pytest benchmarks/bench_optimizers.py --benchmark-group-by=group

Each group is one (optimizer, weight set), so the ratios inside a group come from one run. The step
runs 1,875 times per MNIST epoch at batch 32: multiply the CNN rows by 1,875 for seconds per epoch.
"""
import numpy as np
import pytest

from nnx import optimizers

try:
    import torch
except ImportError:  # torch is optional: only its rows need it
    torch = None

CNN_SHAPES = [(3, 3, 1, 32), (32,), (3, 3, 32, 64), (64,), (3, 3, 64, 64), (64,), (576, 64), (64,),
              (64, 10), (10,)]
WEIGHT_SETS = {"cnn": CNN_SHAPES, "1M": [(1000, 1000)]}
OPTIMIZERS = {
    "adam": (optimizers.Adam, {}, lambda p: torch.optim.Adam(p, lr=0.001, eps=1e-7)),
    "sgd_momentum": (optimizers.SGD, {"momentum": 0.9},
                     lambda p: torch.optim.SGD(p, lr=0.01, momentum=0.9)),
    "rmsprop": (optimizers.RMSprop, {}, lambda p: torch.optim.RMSprop(p, lr=0.001, alpha=0.9, eps=1e-7)),
}


def naive_adam_step(weights, grads, state, lr=0.001, b1=0.9, b2=0.999, eps=1e-7):
    """Keras 3's Adam written the obvious way: every operation allocates a temporary."""
    state["t"] += 1
    t = state["t"]
    alpha = lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t)
    for i, (w, g) in enumerate(zip(weights, grads)):
        m, v = state["m"][i], state["v"][i]
        m[...] = m + (g - m) * (1 - b1)
        v[...] = v + (np.square(g) - v) * (1 - b2)
        w -= m * alpha / (np.sqrt(v) + eps)


def _arrays(shapes):
    rng = np.random.default_rng(0)
    weights = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    grads = [rng.standard_normal(s).astype(np.float32) * 0.01 for s in shapes]
    return weights, grads


@pytest.mark.parametrize("weights_name", list(WEIGHT_SETS))
@pytest.mark.parametrize("opt_name", list(OPTIMIZERS))
@pytest.mark.parametrize("impl", ["nnx", "numpy_naive", "torch"])
def test_optimizer_step(benchmark, impl, opt_name, weights_name):
    benchmark.group = f"{opt_name} {weights_name}"
    weights, grads = _arrays(WEIGHT_SETS[weights_name])
    cls, kwargs, torch_factory = OPTIMIZERS[opt_name]
    if impl == "nnx":
        opt = cls(**kwargs)
        pairs = list(zip(grads, weights))
        benchmark(opt.apply_gradients, pairs)
    elif impl == "numpy_naive":
        if opt_name != "adam":
            pytest.skip("the naive NumPy row is written for Adam only")
        state = {"t": 0, "m": [np.zeros_like(w) for w in weights],
                 "v": [np.zeros_like(w) for w in weights]}
        benchmark(naive_adam_step, weights, grads, state)
    else:
        if torch is None:
            pytest.skip("torch is not installed")
        torch.set_num_threads(1)
        params = [torch.nn.Parameter(torch.from_numpy(w)) for w in weights]
        for p, g in zip(params, grads):
            p.grad = torch.from_numpy(g)
        benchmark(torch_factory(params).step)
