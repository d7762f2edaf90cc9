"""The cost of fit's NaN/infinity check (nnx.utils.finite) on MNIST-sized data, against an epoch.

    PYTHONPATH=. python benchmarks/bench_finite.py [--steps 30]

Times `require_finite` on the training set as `fit` sees it (60000 x 28 x 28 x 1 float32, plus the
labels) and a few training steps of the reference CNN (nnx.examples.mnist_cnn, batch 32), scaled up
to the 1,875 steps of an epoch. On a shared machine both are noisy; the ratio is what matters.
"""
import argparse
import time

import numpy as np

import nnx
from nnx.examples import mnist_cnn
from nnx.utils.finite import require_finite


def best_of(fn, repeats):
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    args = parser.parse_args()
    (x, y), _ = mnist_cnn.load()
    check = best_of(lambda: require_finite("fit", [("x", x), ("y", y)]), 5)

    nnx.manual_seed(0)
    model = mnist_cnn.build_model()
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    n = 32 * args.steps
    model.fit(x[:64], y[:64], batch_size=32, verbose=0, check_finite=False)       # warm-up
    steps = best_of(lambda: model.fit(x[:n], y[:n], batch_size=32, verbose=0, check_finite=False), 2)
    epoch = steps / args.steps * 1875
    print(f"{nnx.kernels.info()['simd']}, {nnx.get_num_threads()} threads")
    print(f"require_finite on x {x.shape} {x.dtype} + y: {check * 1e3:.1f} ms")
    print(f"one epoch (1,875 steps, from {args.steps}): {epoch:.1f} s; check / epoch = {check / epoch:.2e}")


if __name__ == "__main__":
    main()
