"""LSTM benchmark: nnx vs PyTorch CPU `nn.LSTM`, forward + backward, in the same run.

Problem: batch 64, 100 steps, 128 inputs, 256 units, float32, batch-first, the loss the sum of every
output (return_sequences). The nnx side is the `nnx.layers.LSTM` layer (one whole-sequence autograd
op); PyTorch runs with the same thread count. Run either
    pytest benchmarks/bench_lstm.py --benchmark-group-by=group
or  python benchmarks/bench_lstm.py [--turns 7] [--threads 1] [--simd avx2+fma] [--clock cpu]
    (the installed nnx: `PYTHONPATH=.` measures the checkout; --breakdown also prints where nnx's
    best turn spent its time, kernel by kernel).
The script takes turns, so that a spell of machine noise hits every contender alike: every turn
times one forward + backward of each contender, one after the other (a fraction of a second each),
each right after an untimed call of its own (see timed_in_turns for why). It prints each one's best turn, the ratio of the bests to torch,
and the per-turn ratios to torch (median, min, max: their spread shows how noisy the machine was).
pytest-benchmark instead runs each contender's rounds in a block of its own: use the script for
ratios on a shared machine.
Also timed: the same op with NumPy's matmul (OpenBLAS) in place of nnx's GEMM, computing the same
alpha * a @ b + beta * out, with OpenBLAS on the same thread count: the input projection and the
weight and input gradients; the recurrence itself runs in nnx's whole-sequence kernels (lstm_forward /
lstm_backward, which call nnx's GEMM inside) either way (the script restarts itself with OPENBLAS_NUM_THREADS set); unset
OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE for that row.
"""
import argparse
import os
import statistics
import sys
import time

import numpy as np
import pytest

import nnx
from nnx.random import manual_seed
from nnx.tensor import Tensor
from nnx import backend
from nnx.layers.recurrent import GRU, LSTM

from kernel_timer import KernelTimer

try:
    import torch
except ImportError:  # torch is optional: only the torch row needs it
    torch = None

BATCH, STEPS, FEATURES, UNITS = 64, 100, 128, 256


def make_input():
    return np.random.default_rng(0).standard_normal((BATCH, STEPS, FEATURES)).astype(np.float32)


def nnx_step():
    """A no-argument callable: one forward + backward of the nnx LSTM layer."""
    manual_seed(0)
    layer = LSTM(UNITS, return_sequences=True)
    x = Tensor(make_input(), requires_grad=True)
    layer(x)

    def run():
        layer.zero_grad()
        layer(x).sum().backward()
    return run


class _NumpyGemm:
    """The backend's kernels, with gemm replaced by NumPy's matmul (OpenBLAS)."""

    def __init__(self, kernels):
        self._kernels = kernels

    def __getattr__(self, name):
        return getattr(self._kernels, name)

    @staticmethod
    def gemm(a, b, out=None, alpha=1.0, beta=0.0):
        """alpha * a @ b + beta * out, written into out when given, as nnx.kernels.gemm computes it
        (the recurrent op adds h.U onto the precomputed x.W + b this way)."""
        product = np.matmul(a, b)
        if alpha != 1.0:
            product *= alpha
        if out is None:
            return product
        if beta == 0.0:
            out[...] = product
        else:
            if beta != 1.0:
                out *= beta
            out += product
        return out


def numpy_gemm_step():
    run = nnx_step()
    original = backend.kernels

    def with_numpy():
        backend.kernels = lambda: _NumpyGemm(original())
        try:
            run()
        finally:
            backend.kernels = original
    return with_numpy


def torch_step():
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(FEATURES, UNITS, batch_first=True)
    x = torch.from_numpy(make_input()).requires_grad_(True)

    def run():
        lstm.zero_grad()
        x.grad = None
        y, _ = lstm(x)
        y.sum().backward()
    return run


def agreement():
    """Max |nnx - torch| of the outputs with torch's weights copied into the nnx layer: the two
    compute the same function (torch's gate order i, f, g, o is Keras' i, f, c, o; torch keeps
    W transposed and two biases)."""
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(FEATURES, UNITS, batch_first=True)
    layer = LSTM(UNITS, return_sequences=True)
    x = make_input()
    layer(x)
    layer.set_weights([lstm.weight_ih_l0.detach().numpy().T, lstm.weight_hh_l0.detach().numpy().T,
                       (lstm.bias_ih_l0 + lstm.bias_hh_l0).detach().numpy()])
    want = lstm(torch.from_numpy(x))[0].detach().numpy()
    return float(np.abs(layer(x).data - want).max())


def gru_agreement():
    """The same check for GRU(reset_after=True), which is torch's GRU: torch's gate order r, z, n
    becomes Keras' z, r, h, and its two biases are Keras' bias rows [input, recurrent]."""
    torch.manual_seed(0)
    gru = torch.nn.GRU(FEATURES, 64, batch_first=True)
    layer = GRU(64, return_sequences=True)
    x = make_input()[:8, :20]
    layer(x)
    keras_order = lambda w: np.concatenate([w[64:128], w[:64], w[128:]])  # noqa: E731  r,z,n -> z,r,h
    p = {name: keras_order(t.detach().numpy()) for name, t in gru.named_parameters()}
    layer.set_weights([p["weight_ih_l0"].T, p["weight_hh_l0"].T,
                       np.stack([p["bias_ih_l0"], p["bias_hh_l0"]])])
    want = gru(torch.from_numpy(x))[0].detach().numpy()
    return float(np.abs(layer(x).data - want).max())


def test_nnx_and_torch_agree():
    pytest.importorskip("torch")
    assert agreement() < 1e-4
    assert gru_agreement() < 1e-4


def test_numpy_matmul_row_computes_what_nnx_computes():
    """The 'nnx + numpy matmul' row times the same computation: outputs and gradients agree."""
    def outputs(kernels):
        manual_seed(0)
        layer = LSTM(32, return_sequences=True)
        x = Tensor(make_input()[:4, :10], requires_grad=True)
        original = backend.kernels
        backend.kernels = kernels or original
        try:
            y = layer(x)
            y.sum().backward()
        finally:
            backend.kernels = original
        return [y.data, x.grad] + [w.grad for w in layer.trainable_weights]

    original = backend.kernels
    for ours, theirs in zip(outputs(None), outputs(lambda: _NumpyGemm(original()))):
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4)


def _torch_threads():
    if torch is not None:
        torch.set_num_threads(nnx.get_num_threads())


@pytest.mark.benchmark(group="lstm b64 t100 d128 u256 fwd+bwd")
def test_nnx_lstm(benchmark):
    benchmark.pedantic(nnx_step(), rounds=5, warmup_rounds=1)


@pytest.mark.benchmark(group="lstm b64 t100 d128 u256 fwd+bwd")
def test_nnx_lstm_numpy_gemm(benchmark):
    benchmark.pedantic(numpy_gemm_step(), rounds=5, warmup_rounds=1)


@pytest.mark.benchmark(group="lstm b64 t100 d128 u256 fwd+bwd")
def test_torch_lstm(benchmark):
    pytest.importorskip("torch")
    _torch_threads()
    benchmark.pedantic(torch_step(), rounds=5, warmup_rounds=1)


def _gemm_by_shapes(name, args):
    return f"gemm {args[0].shape} x {args[1].shape}" if name == "gemm" else name


def breakdown(turns, clock):
    """(total, {kernel: seconds}) of nnx's best of `turns` forward + backward passes."""
    run, best = nnx_step(), None
    run()
    for _ in range(turns):
        with KernelTimer(clock, _gemm_by_shapes) as timer:
            start = clock()
            run()
            total = clock() - start
        if best is None or total < best[0]:
            best = (total, timer.seconds)
    return best


def timed_in_turns(contenders, turns, clock):
    """{name: seconds of each turn}: every turn times each contender once, one after the other (one
    forward + backward, a fraction of a second), so that a spell of machine noise hits all of them
    alike. Each timed call follows an untimed one of the same contender: three thread pools share
    this process (nnx's OpenMP, PyTorch's own OpenMP runtime, OpenBLAS), and after a contender's call
    its pool's threads keep spinning for a while, which slows whichever pool runs next (timed
    without the untimed call, the OpenBLAS row took 10x its time at 2 threads and PyTorch 1.6x) —
    a cost no program that uses one of them pays."""
    seconds = {name: [] for name in contenders}
    for _ in range(turns):
        for name, run in contenders.items():
            run()                           # lets the previous contender's pool fall asleep
            start = clock()
            run()
            seconds[name].append(clock() - start)
    return seconds


def main(turns=7):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, help="threads for nnx and torch (default: nnx's default)")
    parser.add_argument("--turns", type=int, default=turns)
    parser.add_argument("--clock", default="wall", choices=["wall", "cpu"],
                        help="cpu: the process's CPU time, which leaves out time spent waiting for a core "
                             "on a loaded machine (1 thread only)")
    parser.add_argument("--simd", help="force a SIMD path: avx512, avx2+fma or portable")
    parser.add_argument("--breakdown", action="store_true", help="also time nnx's kernels one by one")
    args = parser.parse_args()
    threads = str(args.threads or nnx.get_num_threads())
    if os.environ.get("OPENBLAS_NUM_THREADS") != threads:
        # OpenBLAS reads its thread count only at start-up: start again with the numpy row on the same
        # number of threads as nnx and torch (otherwise a 1-thread run lets OpenBLAS use every core)
        env = {**os.environ, "OPENBLAS_NUM_THREADS": threads}
        os.execve(sys.executable, [sys.executable] + sys.argv, env)
    if args.threads:
        nnx.set_num_threads(args.threads)
    if args.simd:
        nnx.kernels.set_simd(args.simd)
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    turns = args.turns
    contenders = {"nnx": nnx_step(), "nnx + numpy matmul": numpy_gemm_step()}
    if torch is not None:
        _torch_threads()
        contenders["torch nn.LSTM"] = torch_step()
    seconds = timed_in_turns(contenders, turns, clock)
    print(f"LSTM batch {BATCH}, {STEPS} steps, {FEATURES} inputs, {UNITS} units, forward+backward, "
          f"{nnx.get_num_threads()} threads (OpenBLAS {os.environ['OPENBLAS_NUM_THREADS']}), "
          f"nnx {nnx.kernels.info()['simd']}, best of {turns} turns taken in turn "
          f"({args.clock} clock)")
    if torch is not None:
        print(f"  outputs agree with torch to {agreement():.1e} (LSTM), {gru_agreement():.1e} (GRU), "
              f"same weights")
    reference = seconds.get("torch nn.LSTM")
    for name, times in seconds.items():
        ratio = ""
        if reference is not None:
            turn = [t / r for t, r in zip(times, reference)]
            ratio = (f"  ({min(times) / min(reference):.2f}x torch; per turn median "
                     f"{statistics.median(turn):.2f}, min {min(turn):.2f}, max {max(turn):.2f})")
        print(f"  {name:<20} {min(times) * 1e3:8.1f} ms{ratio}")
    if args.breakdown:
        total, seconds = breakdown(turns, clock)
        print(f"nnx's best turn, {total * 1e3:.1f} ms, kernel by kernel:")
        for name, spent in sorted(seconds.items(), key=lambda item: -item[1]):
            print(f"  {name:<48} {spent * 1e3:8.1f} ms")
        print(f"  {'the rest (Python, NumPy)':<48} {(total - sum(seconds.values())) * 1e3:8.1f} ms")


if __name__ == "__main__":
    main()
