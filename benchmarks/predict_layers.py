"""Where inference time goes: the reference CNN's `Model.predict` at batch 1000, layer by layer.

    python benchmarks/predict_layers.py [--batches 30] [--threads 1 2] [--simd avx512 avx2+fma]

For each configuration (thread count x SIMD path) it runs the loop `Model.predict` runs (no_grad,
the buffer cache, one batch after another, each layer on the previous layer's output, so every
layer finds its input where the real run leaves it: in cache or not) and times every layer's call,
and inside it the compiled kernels (kernel_timer.KernelTimer, as train_mnist.py's
profile does). What is left of a layer's time is its Python and NumPy work (argument handling,
autograd bookkeeping under no_grad, the softmax). The configurations take turns batch by batch, so
they meet the same machine load. Last, `model.predict` itself is timed, in turns too, against the
sum of its layers: the difference is predict's own loop (batching, wrapping, the final concatenate).

Figures: ms per 1000 images, the median over batches (the 25% quantile in brackets: on a shared
machine the lower quantile is the steadier figure). It measures the installed nnx (`PYTHONPATH=.`
measures the checkout).
"""
import argparse
import time

import numpy as np

import nnx
import nnx.kernels
from nnx.autograd import no_grad
from nnx.examples import mnist_cnn
from nnx.tensor import Tensor

from kernel_timer import KernelTimer

BATCH = 1000


def load_text():
    try:
        with open("/proc/loadavg") as f:
            return "load average " + " ".join(f.read().split()[:3])
    except OSError:
        return "load average unknown"


def configure(threads, simd):
    nnx.set_num_threads(threads)
    nnx.kernels.set_simd(simd)


def profile(model, x, configs, batches):
    """{config: {layer name: ([layer seconds], [kernel seconds])}} over `batches` batches each."""
    layers = model.layers
    times = {c: {layer.name: ([], []) for layer in layers} for c in configs}
    with no_grad(), nnx.kernels.reusing_buffers(), KernelTimer() as timer:
        for b in range(batches):
            lo = (b * BATCH) % (len(x) - BATCH + 1)
            for config in configs:
                configure(*config)
                h = Tensor(x[lo:lo + BATCH])
                for layer in layers:
                    timer.seconds.clear()
                    start = time.perf_counter()
                    h = layer.invoke(h, False, {})
                    total, kernel = time.perf_counter() - start, timer.total()
                    times[config][layer.name][0].append(total)
                    times[config][layer.name][1].append(kernel)
    return times


def predict_times(model, x, configs, rounds):
    """{config: [seconds per predict of all of x at batch 1000]}, the configurations taking turns."""
    times = {c: [] for c in configs}
    for _ in range(rounds):
        for config in configs:
            configure(*config)
            start = time.perf_counter()
            model.predict(x, batch_size=BATCH, verbose=0)
            times[config].append(time.perf_counter() - start)
    return times


def ms(seconds, scale):
    return f"{np.median(seconds) * scale:7.2f} ({np.percentile(seconds, 25) * scale:6.2f})"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=30, help="batches per configuration")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--simd", nargs="+", default=None,
                        help="SIMD paths (default: the active one and, when different, avx2+fma)")
    parser.add_argument("--images", type=int, default=10000, help="images predicted per predict call")
    args = parser.parse_args()
    simd = args.simd or [nnx.kernels.info()["simd"]]
    if args.simd is None and simd[0] != "avx2+fma" and "avx2+fma" in nnx.kernels.info()["simd_available"]:
        simd.append("avx2+fma")
    configs = [(t, s) for s in simd for t in args.threads]
    before = nnx.get_num_threads(), nnx.kernels.info()["simd"]

    nnx.manual_seed(0)
    model = mnist_cnn.build_model()
    x = np.random.default_rng(0).random((args.images, 28, 28, 1), dtype=np.float32)
    for config in configs:   # warm-up: builds, the buffer cache's first mappings
        configure(*config)
        model.predict(x[:2 * BATCH], batch_size=BATCH, verbose=0)
    times = profile(model, x, configs, args.batches)
    whole = predict_times(model, x, configs, max(3, args.batches // 10))
    configure(*before)

    print(f"Reference CNN inference at batch {BATCH}; ms per 1000 images, median (25%); {load_text()}\n")
    scale = 1e3 * 1000 / BATCH
    head = "".join(f" | {t} thr {s}: layer (25%), kernels" for t, s in configs)
    print(f"| layer{head} |")
    print("|---" + "|---:" * len(configs) + "|")
    for layer in model.layers:
        cells = "".join(f" | {ms(times[c][layer.name][0], scale)} {np.median(times[c][layer.name][1]) * scale:6.2f}"
                        for c in configs)
        print(f"| {layer.name}{cells} |")
    sums = {c: np.sum([times[c][layer.name][0] for layer in model.layers], axis=0) for c in configs}
    rest = {c: sums[c] - np.sum([times[c][layer.name][1] for layer in model.layers], axis=0) for c in configs}
    print("| sum of layers" + "".join(f" | {ms(sums[c], scale)}" for c in configs) + " |")
    print("| of which not in kernels" + "".join(f" | {ms(rest[c], scale)}" for c in configs) + " |")
    per_batch = {c: np.array(whole[c]) * BATCH / args.images for c in configs}
    print("| model.predict" + "".join(f" | {ms(per_batch[c], scale)}" for c in configs) + " |")
    print("| images/s (predict, median)" + "".join(f" | {args.images / np.median(whole[c]):.0f}"
                                                   for c in configs) + " |")


if __name__ == "__main__":
    main()
