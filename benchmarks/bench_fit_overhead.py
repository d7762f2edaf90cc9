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

`--replay` measures what a step costs outside the compiled kernels, with little noise: every kernel
is replaced by a replay of the outputs it gave in one recorded step, so `fit` does all of its Python
and NumPy work and no arithmetic (CPU time, 1 thread; a replayed call is not timed). It runs twice:
as is, and with `--evict` MB written by each replayed call, as a real kernel's activations are
written, so the Python after it runs on caches the kernels have emptied. On the Zen 4 this project
measures on, the second is about three times the first: most of the "Python" in a real step is
cache refills, and what cuts it is running less Python and fewer NumPy calls between the kernels.
"""
import argparse
import statistics
import time

import numpy as np

import nnx
import nnx.kernels
from nnx import backend
from nnx.datasets import mnist
from nnx.examples import mnist_cnn

N, BATCH = 4096, 32


class KernelReplay:
    """`with KernelReplay(evict_mb):` every kernel returns, in turn, the outputs it gave during the
    first step run under it (one step: the same calls in the same order every step; the weights
    then stop changing). `kernel_seconds` is the CPU time spent inside the replayed calls (the
    eviction), to leave out."""

    def __init__(self, evict_mb=0):
        self.kernels = backend.kernels()
        self.scratch = np.zeros(int(evict_mb * 2**20) // 4, np.float32)
        self.kernel_seconds = 0.0
        self.recorded = None
        self._saved = {}

    def _replaying(self, fn):
        outputs, calls = [], [0]

        def replay(*args, **kwargs):
            start = time.process_time()
            if self.scratch.size:
                self.scratch += 1.0       # write `evict_mb` MB, as a kernel writes its output
            if self.recorded is None or not outputs:
                outputs.append(fn(*args, **kwargs))          # the recording step runs the kernel
                result = outputs[-1]
            else:
                result = outputs[calls[0] % len(outputs)]
                calls[0] += 1
            self.kernel_seconds += time.process_time() - start
            return result
        return replay

    def __enter__(self):
        for name in backend.KERNEL_NAMES:
            fn = self._saved[name] = getattr(self.kernels, name)
            setattr(self.kernels, name, self._replaying(fn))
        return self

    def recording_done(self):
        self.recorded = True

    def __exit__(self, *exc):
        for name, fn in self._saved.items():
            setattr(self.kernels, name, fn)


def replay_overhead(model, x, y, evict_mb, repeats):
    """Median and min CPU microseconds per step of `fit` outside the (replayed) kernels."""
    per_step = []
    with KernelReplay(evict_mb) as replay:
        model.fit(x[:BATCH], y[:BATCH], batch_size=BATCH, epochs=1, verbose=0)   # records
        replay.recording_done()
        for _ in range(repeats):
            replay.kernel_seconds = 0.0
            start = time.process_time()
            model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0)
            spent = time.process_time() - start - replay.kernel_seconds
            per_step.append(spent / (N // BATCH) * 1e6)
    return statistics.median(per_step), min(per_step)


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--paths", nargs="+", default=None, help="rows to run (default: all)")
    parser.add_argument("--replay", action="store_true",
                        help="only the per-step cost outside the kernels (kernels replayed)")
    parser.add_argument("--evict", type=float, default=4.0,
                        help="MB each replayed kernel call writes in the second --replay run")
    args = parser.parse_args(argv)
    (x, y), _ = mnist.load_data()
    x = (x[:N] / 255.0).astype(np.float32)[..., None]
    y = y[:N]
    nnx.manual_seed(0)
    model = mnist_cnn.build_model()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    if args.replay:
        nnx.set_num_threads(1)
        model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0)   # warm-up (builds, allocates)
        print(f"fit outside the kernels (replayed), CPU us per step, median (min) of {args.repeats}; "
              f"simd {nnx.kernels.info()['simd']}, 1 thread")
        for evict in (0.0, args.evict):
            median, least = replay_overhead(model, x, y, evict, args.repeats)
            print(f"  {evict:4.1f} MB written per kernel call: {median:7.0f} ({least:.0f})")
        return
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
