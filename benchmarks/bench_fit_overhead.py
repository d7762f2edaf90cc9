"""Per-step cost of `fit`'s plumbing: the array path, the array path with an (empty) callback list,
and the Dataset path (from_tensor_slices -> shuffle -> batch, also with prefetch), on the reference
CNN and 4,096 bundled MNIST images (batch 32, 128 steps per epoch).

    PYTHONPATH=. python benchmarks/bench_fit_overhead.py [--repeats 5] [--paths arrays ...]

`--paths arrays` alone also runs on an nnx without `nnx.data` (to time the array path of an older
checkout, e.g. `git archive main`, the same way).

Each configuration trains one epoch `repeats` times, interleaved (so machine load hits all alike);
the table gives the median ms per step and the ratio to the array path. The goal: the callback list
and the Dataset path within 5% of the array path. On a shared machine the ratios are the figure to
read, not the absolute times.
"""
import argparse
import statistics
import time

import numpy as np

import nnx
import nnx.kernels
from nnx.datasets import mnist
from nnx.examples import mnist_cnn

N, BATCH = 4096, 32


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--paths", nargs="+", default=None, help="rows to run (default: all)")
    args = parser.parse_args(argv)
    (x, y), _ = mnist.load_data()
    x = (x[:N] / 255.0).astype(np.float32)[..., None]
    y = y[:N]
    nnx.manual_seed(0)
    model = mnist_cnn.build_model()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    runs = {
        "arrays": lambda: model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0),
        "arrays, callbacks=[]": lambda: model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0,
                                                  callbacks=[]),
    }
    if args.paths is None or any(p.startswith("Dataset") for p in args.paths):
        from nnx.data import Dataset
        dataset = Dataset.from_tensor_slices((x, y)).shuffle(N).batch(BATCH)
        runs["Dataset"] = lambda: model.fit(dataset, epochs=1, verbose=0)
        runs["Dataset + prefetch(2)"] = lambda: model.fit(dataset.prefetch(2), epochs=1, verbose=0)
    if args.paths is not None:
        runs = {name: run for name, run in runs.items() if name in args.paths}
    times = {name: [] for name in runs}
    runs["arrays"]()                                        # warm-up (builds, allocates)
    for _ in range(args.repeats):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            times[name].append((time.perf_counter() - start) / (N // BATCH) * 1e3)
    info = nnx.kernels.info()
    print(f"simd {info['simd']}, threads {info['threads']}; median of {args.repeats} epochs")
    base = statistics.median(next(iter(times.values())))
    print(f"{'path':<26}{'ms/step':>9}{'ratio':>8}")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:<26}{median:>9.2f}{median / base:>8.3f}")


if __name__ == "__main__":
    main()
