"""Does `Dataset.prefetch` overlap a slow input pipeline with training? One training pass of a small
MLP on 4,096 bundled MNIST images (batch 64, 64 steps) whose `map` is slow, with and without
`prefetch(2)`:

    PYTHONPATH=. python benchmarks/bench_data.py

Two slow maps: `io` sleeps 3 ms per batch (reading / decoding, which releases the GIL) and `numpy`
adds noise and rescales with NumPy (CPU work; NumPy releases the GIL only inside its larger
kernels, so the overlap is partial). Expected: with prefetch the pass takes about
max(train, map) per step instead of train + map. Timings on a shared 2-core machine are noisy;
the script prints each configuration's median of 3 runs and the ratio.
"""
import statistics
import time

import numpy as np

import nnx
from nnx import optimizers
from nnx.data import Dataset
from nnx.datasets import mnist
from nnx.layers import Dense, Flatten
from nnx.models import Sequential
from nnx.losses import SparseCategoricalCrossentropy

STEPS, BATCH = 64, 64


def slow_io(x, y):
    time.sleep(0.003)
    return x, y


def slow_numpy(x, y):
    rng = np.random.default_rng(0)
    for _ in range(6):
        x = np.clip(x + rng.normal(0, 0.01, x.shape).astype(np.float32), 0.0, 1.0)
    return x, y


def train_pass(model, loss, optimizer, dataset):
    """A plain training loop (forward, loss, backward, update), timed over one pass."""
    weights = model.trainable_weights
    start = time.perf_counter()
    for xb, yb in dataset:
        for w in weights:
            w.grad = None
        loss(yb, model(xb, training=True)).backward()
        optimizer.apply_gradients([(w.grad, w) for w in weights])
    return time.perf_counter() - start


def main():
    (x, y), _ = mnist.load_data()
    x = (x[:STEPS * BATCH] / 255.0).astype(np.float32)
    y = y[:STEPS * BATCH]
    nnx.manual_seed(0)
    model = Sequential([Flatten(input_shape=(28, 28)), Dense(256, activation="relu"), Dense(10)])
    loss, optimizer = SparseCategoricalCrossentropy(from_logits=True), optimizers.SGD(0.01)
    base = Dataset.from_tensor_slices((x, y)).batch(BATCH)
    print(f"CPU: {nnx.kernels.info()}")
    print(f"{'pipeline':<28}{'median s':>10}")
    rows = {"no map (floor)": base}
    for name, fn in (("io", slow_io), ("numpy", slow_numpy)):
        rows[f"{name} map"] = base.map(fn)
        rows[f"{name} map + prefetch(2)"] = base.map(fn).prefetch(2)
    medians = {}
    for name, dataset in rows.items():
        train_pass(model, loss, optimizer, dataset.take(4))          # warm-up
        medians[name] = statistics.median(train_pass(model, loss, optimizer, dataset)
                                          for _ in range(3))
        print(f"{name:<28}{medians[name]:>10.3f}")
    for name in ("io", "numpy"):
        print(f"prefetch speed-up with the {name} map: "
              f"{medians[f'{name} map'] / medians[f'{name} map + prefetch(2)']:.2f}x")


if __name__ == "__main__":
    main()
