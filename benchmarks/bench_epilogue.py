"""The bias + relu epilogue: nnx's one-pass kernels against the NumPy passes they replace.

    python benchmarks/bench_epilogue.py [--threads 1] [--clock cpu]

(the installed nnx; `PYTHONPATH=.` measures the checkout). Shapes: the outputs of the reference CNN's
conv1 (26x26x32) and conv2 (11x11x64) at batch 32, float32, on every SIMD path the CPU has.
    forward   NumPy `y += b; np.maximum(y, 0, out=y)`    vs  bias_relu_forward(y, b, True, out=y)
    backward  NumPy `g = dy * (y > 0); g.sum((0, 1, 2))` vs  bias_relu_backward(dy, y)
Best of 5 rounds; `--clock cpu` (time.process_time) leaves out waiting for a core on a loaded machine.

Then conv1's backward chain when its input needs no gradient (x (32, 28, 28, 1), kernel 3x3x1x32):
    unfused   bias_relu_backward(dy, y), then conv2d_backward_weight on the masked dy
    fused     conv2d_backward_weight(..., relu_output=y, bias=True)   (csrc/conv.c step 12)
warm (the same arrays again and again: y, dy in cache) and cold (a 64 MB buffer written before each call,
as y and dy come from memory in a real training step); the two variants alternate call by call, best
of 50 calls each.
"""
import argparse
import time

import numpy as np

import nnx
import nnx.kernels as K

SHAPES = {"conv1 26x26x32": (32, 26, 26, 32), "conv2 11x11x64": (32, 11, 11, 64)}


def best_ms(fn, clock, calls=200, rounds=5):
    best = np.inf
    for _ in range(rounds):
        start = clock()
        for _ in range(calls):
            fn()
        best = min(best, (clock() - start) / calls)
    return best * 1e3


def chain_ms(fns, clock, cold, calls=50):
    """Best time in ms of each of `fns`, called in turn `calls` times (so that load hits them alike),
    each call after writing a buffer bigger than the caches when `cold`."""
    flush = np.empty(64 * 2**20 // 8) if cold else None
    best = [np.inf] * len(fns)
    for _ in range(calls):
        for i, fn in enumerate(fns):
            if cold:
                flush.fill(1.0)
            start = clock()
            fn()
            best[i] = min(best[i], clock() - start)
    return [b * 1e3 for b in best]


def conv1_chain(clock):
    """conv1's weight and bias gradients at batch 32: the unfused passes against step 12's fused one."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((32, 28, 28, 1)).astype(np.float32)
    kernel = rng.standard_normal((3, 3, 1, 32)).astype(np.float32)
    args = ((1, 1), ((0, 0), (0, 0)), (1, 1), 1)
    y = K.conv2d_forward(x, kernel, *args, relu=True)
    dy = rng.standard_normal(y.shape).astype(np.float32)

    def unfused():
        masked, db = K.bias_relu_backward(dy, y)
        return K.conv2d_backward_weight(x, masked, kernel.shape, *args), db

    def fused():
        return K.conv2d_backward_weight(x, dy, kernel.shape, *args, relu_output=y, bias=True)

    print(f"\nconv1 backward chain (x {x.shape}, kernel {kernel.shape}), ms per call (best of 50)")
    print(f"{'path':<10}{'warm unfused':>13}{'warm fused':>11}{'cold unfused':>13}{'cold fused':>11}")
    for path in K.info()["simd_available"]:
        K.set_simd(path)
        warm = chain_ms([unfused, fused], clock, cold=False)
        cold = chain_ms([unfused, fused], clock, cold=True)
        print(f"{path:<10}{warm[0]:>13.3f}{warm[1]:>11.3f}{cold[0]:>13.3f}{cold[1]:>11.3f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--clock", default="cpu", choices=["wall", "cpu"])
    args = parser.parse_args()
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    nnx.set_num_threads(args.threads)
    print(f"{args.threads} thread(s), {args.clock} time, ms per call (best of 5), nnx at {nnx.__file__}")
    print(f"{'path':<10}{'layer':<16}{'fwd numpy':>10}{'fwd nnx':>9}{'bwd numpy':>11}{'bwd nnx':>9}")
    rng = np.random.default_rng(0)
    for path in K.info()["simd_available"]:
        K.set_simd(path)
        for layer, shape in SHAPES.items():
            y = rng.standard_normal(shape).astype(np.float32)
            b = rng.standard_normal(shape[-1]).astype(np.float32)
            dy = rng.standard_normal(shape).astype(np.float32)
            relu_out = np.maximum(y, 0)
            fwd_np = best_ms(lambda: (np.add(y, b, out=y), np.maximum(y, 0, out=y)), clock)
            fwd_nnx = best_ms(lambda: K.bias_relu_forward(y, b, True, out=y), clock)
            bwd_np = best_ms(lambda: (dy * (relu_out > 0)).sum(axis=(0, 1, 2)), clock)
            bwd_nnx = best_ms(lambda: K.bias_relu_backward(dy, relu_out), clock)
            print(f"{path:<10}{layer:<16}{fwd_np:>10.3f}{fwd_nnx:>9.3f}{bwd_np:>11.3f}{bwd_nnx:>9.3f}")
    conv1_chain(clock)


if __name__ == "__main__":
    main()
