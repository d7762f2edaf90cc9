"""Per-op Python overhead of the autograd engine: a 1-element add with gradients tracked.

What is timed is almost entirely bookkeeping (Function.apply, graph node, Tensor wrapping; and for
backward the engine's traversal and leaf accumulation), since adding two 1-element arrays is free.
PyTorch (CPU) runs the same calls in the same session when it is installed. Run:
    python -m pytest benchmarks/bench_overhead.py --benchmark-group-by=group
or `python -m benchmarks.bench_overhead` (from the repository root) for a quick table of medians and ratios.
"""
import timeit

import numpy as np
import pytest

import nnx

try:
    import torch
except ImportError:  # torch is optional: only the torch rows need it
    torch = None


def nnx_calls():
    a = nnx.Tensor(np.ones(1, np.float32), requires_grad=True)
    b = nnx.Tensor(np.ones(1, np.float32), requires_grad=True)

    def forward_backward():
        (a + b).backward()
    return {"forward": lambda: a + b, "forward+backward": forward_backward,
            "numpy add (floor)": lambda: np.add(a.data, b.data)}


def torch_calls():
    a = torch.ones(1, requires_grad=True)
    b = torch.ones(1, requires_grad=True)

    def forward_backward():
        (a + b).backward()
    return {"forward": lambda: a + b, "forward+backward": forward_backward}


def _calls(framework):
    if framework == "torch":
        if torch is None:
            pytest.skip("torch not installed")
        torch.set_num_threads(1)
        return torch_calls()
    return nnx_calls()


@pytest.mark.parametrize("framework", ["nnx", "torch"])
@pytest.mark.parametrize("what", ["forward", "forward+backward"])
def test_overhead(benchmark, framework, what):
    benchmark.group = f"1-element add, {what}"
    benchmark(_calls(framework)[what])


def main(number=20_000, repeat=7):
    """Print the best-of-`repeat` time per call and nnx / torch ratios, interleaving the frameworks."""
    frameworks = {"nnx": nnx_calls()}
    if torch is not None:
        torch.set_num_threads(1)
        frameworks["torch"] = torch_calls()
    best = {}
    for _ in range(repeat):
        for name, calls in frameworks.items():
            for what, fn in calls.items():
                t = timeit.timeit(fn, number=number) / number * 1e6
                best[name, what] = min(best.get((name, what), np.inf), t)
    for (name, what), t in best.items():
        ratio = ""
        if name == "nnx" and ("torch", what) in best:
            ratio = f"   nnx/torch = {t / best['torch', what]:.2f}"
        print(f"{name:6s} {what:18s} {t:7.2f} us{ratio}")


if __name__ == "__main__":
    main()
