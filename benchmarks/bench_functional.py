"""What the functional graph costs: the same layers as a Sequential model and as a functional
`Model(inputs, outputs)`, same weights, timed per training step (forward, loss, backward, Adam update)
and per inference batch.

The functional model runs a plan computed once (a list of nodes; per node a dict lookup of its input
and one layer call), where Sequential loops over its layers, so the difference should be a few
microseconds per step: noise next to the convolutions of the reference CNN, and visible only on a
tiny MLP whose step is itself pure Python overhead. Run from the repository root:

    python -m benchmarks.bench_functional [--model cnn|mlp] [--steps 40] [--repeats 7] [--threads N]
                                            [--clock wall|cpu]

or `python -m pytest benchmarks/bench_functional.py --benchmark-group-by=group`. The script
interleaves the two models (`repeats` rounds of `steps` calls each), reports the fastest call of each
and the overhead in %.
"""
import argparse
import time

import numpy as np
import pytest

import nnx
from nnx.layers import Conv2D, Dense, Flatten, Input, MaxPooling2D
from nnx.models import Model, Sequential


def layers(kind):
    if kind == "cnn":   # the reference program's CNN (93,322 parameters)
        return (28, 28, 1), [Conv2D(32, 3, activation="relu"), MaxPooling2D(),
                             Conv2D(64, 3, activation="relu"), MaxPooling2D(),
                             Conv2D(64, 3, activation="relu"), Flatten(),
                             Dense(64, activation="relu"), Dense(10, activation="softmax")]
    return (16,), [Dense(16, activation="relu"), Dense(16, activation="relu"),
                   Dense(10, activation="softmax")]


def models(kind):
    """(sequential, functional) with identical layers' weights, both compiled with Adam."""
    nnx.manual_seed(0)
    shape, seq_layers = layers(kind)
    sequential = Sequential([Input(shape)] + seq_layers)
    _, fn_layers = layers(kind)
    inputs = Input(shape)
    x = inputs
    for layer in fn_layers:
        x = layer(x)
    functional = Model(inputs, x)
    functional.set_weights(sequential.get_weights())
    for model in (sequential, functional):
        model.compile("adam", "sparse_categorical_crossentropy")
    return sequential, functional


def batch(kind, size=32):
    shape, _ = layers(kind)
    rng = np.random.default_rng(0)
    return [rng.random((size,) + shape, dtype=np.float32)], [rng.integers(0, 10, size)]


def step_timers(model, kind):
    """{'train step': fn, 'predict batch': fn} for one batch of 32."""
    xb, yb = batch(kind)
    model.build_for_inputs([xb[0].shape])
    model._start()
    return {"train step": lambda: model.train_step(xb, yb),
            "predict batch": lambda: model.predict(xb[0], batch_size=32, verbose=0)}


@pytest.mark.parametrize("kind", ["cnn", "mlp"])
@pytest.mark.parametrize("which", ["sequential", "functional"])
def test_train_step(benchmark, kind, which):
    sequential, functional = models(kind)
    benchmark.group = f"{kind} train step, batch 32"
    benchmark(step_timers(sequential if which == "sequential" else functional, kind)["train step"])


def time_calls(fn, steps, timings, clock=time.perf_counter):
    """Append the time of each of `steps` calls of `fn` to `timings`."""
    for _ in range(steps):
        start = clock()
        fn()
        timings.append(clock() - start)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_functional",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--model", choices=["cnn", "mlp", "both"], default="both")
    parser.add_argument("--steps", type=int, default=40, help="calls per timing (default 40)")
    parser.add_argument("--repeats", type=int, default=7, help="timings per model (default 7)")
    parser.add_argument("--threads", type=int, default=None, help="kernel threads (default: all cores)")
    parser.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                        help="wall time, or this process's CPU time (steadier on a busy machine)")
    args = parser.parse_args(argv)
    clock = time.perf_counter if args.clock == "wall" else time.process_time
    if args.threads is not None:
        nnx.set_num_threads(args.threads)
    info = nnx.kernels.info()
    print(f"SIMD path {info['simd']}, {nnx.get_num_threads()} threads, {args.clock} clock; fastest of "
          f"{args.repeats} x {args.steps} calls, models interleaved")
    print(f"{'model':<5} {'what':<14} {'Sequential':>12} {'functional':>12} {'overhead':>9}")
    worst = 0.0
    for kind in (["cnn", "mlp"] if args.model == "both" else [args.model]):
        sequential, functional = models(kind)
        timers = {"sequential": step_timers(sequential, kind), "functional": step_timers(functional, kind)}
        for what in ("train step", "predict batch"):
            timings = {"sequential": [], "functional": []}
            for name in timings:                      # warm-up (workspaces, caches)
                timers[name][what]()
            for _ in range(args.repeats):
                for name in timings:
                    time_calls(timers[name][what], args.steps, timings[name], clock)
            # the fastest call: on a shared machine every other figure mostly measures the neighbours
            seq, fn = min(timings["sequential"]), min(timings["functional"])
            overhead = (fn - seq) / seq * 100
            if kind == "cnn":
                worst = max(worst, overhead)
            print(f"{kind:<5} {what:<14} {seq * 1e3:>9.3f} ms {fn * 1e3:>9.3f} ms {overhead:>+8.1f}%")
    return worst


if __name__ == "__main__":
    main()
