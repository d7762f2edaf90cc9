"""Training benchmark: the reference CNN (docs/api.md section 0) on MNIST, nnx against PyTorch and
Keras 3 / TensorFlow, taking turns in the same run.

    python benchmarks/train_mnist.py [--rounds 8] [--epochs 1] [--threads 2] [--batch-size 32]
                                     [--limit N] [--test-limit N] [--simd PATH] [--json FILE]
                                     [--keras-python /path/to/tf-venv/bin/python]

(the installed nnx; `PYTHONPATH=.` measures the checkout; `--simd avx2+fma` or the environment variable
NNX_SIMD forces a narrower SIMD path)

Why rounds: on a shared machine (a microVM whose neighbours slow one or both cores for seconds at a
time) the framework that happens to train during a noisy spell loses. Trained one after the other,
a whole epoch each, four idle runs gave nnx / PyTorch epoch ratios from 0.46 to 0.70. So the
frameworks take turns at a fine grain: each one's epoch is cut into `--rounds` R slices of
consecutive batches (of its own per-epoch shuffle), and round i trains nnx on its slice i, then
PyTorch on slice i, then Keras on slice i, so that all of them meet the same spells of noise.
`--rounds 1` is the old sequential run: a whole epoch of each in turn (inference still takes
turns). Every slice has at least two batches.

What the numbers mean:
- s/epoch: the sum of a framework's slice times, averaged over the epochs. Each framework trains
  as its users would: nnx with `model.fit` on each slice (shuffle=True, of the slice of its
  pre-shuffled epoch: the same permutation draws and per-batch gathers as one fit of the epoch,
  plus R-1 extra calls' setup, which the report measures and which counts against nnx); PyTorch
  with the usual loop over a `randperm`'s batches; Keras with ONE `model.fit` (its own shuffle and
  data pipeline) that a callback pauses at the end of each slice (benchmarks/keras_mnist.py, a
  subprocess that stays alive across rounds; its input pipeline may prefetch a few batches while
  paused). Keras' first step, which traces its graph, is left out (that favours Keras): its first
  slice is timed from the end of that step and scaled up to all its batches.
- ratio nnx / X, epoch: the ratio of the sums (< 1 means nnx is faster), and the per-round ratios
  (median, min, max over all rounds of all epochs): a wide spread means a noisy machine; the ratio
  of the sums is the figure, the spread says how far to trust it.
- inference: images/s predicting the 10,000 test images (or `--test-limit` of them) at batch
  1000, once per framework per round (max(R, 3) rounds, in turns, after a warm-up): the median,
  and the per-round ratios of nnx's throughput to the other's (> 1 means nnx is faster).
- test accuracy after training (about 0.98-0.99 after one epoch of the full set).
- `--json FILE` writes all of it, each slice's and each round's figure included.
- for nnx, a per-step profile afterwards (on a fresh model: time in the compiled kernels, in the
  optimizer, and everything else: NumPy elementwise ops, autograd bookkeeping, Python) and the
  peak RSS of the process (PyTorch's memory included when it ran).

All use the same architecture, optimizer (Adam, lr 1e-3, eps 1e-7), batch size and thread count
(TensorFlow's intra- and inter-op threads). PyTorch runs when importable (`--no-torch` skips it).
Keras 3 on TensorFlow runs when `--keras-python` names a Python that has them (installed in an
environment of their own, so that TensorFlow's pinned dependencies stay out of nnx's); without it
that part is skipped with a note. To set it up:

    python -m venv /work/tfenv && /work/tfenv/bin/pip install tensorflow-cpu keras
    python benchmarks/train_mnist.py --keras-python /work/tfenv/bin/python

Busy neighbours hurt OpenMP's fork-join loops (nnx, PyTorch) far more than TensorFlow's
work-stealing thread pool, since every loop waits for its slowest thread: on a loaded machine
measure --threads 1 as well, and state the load beside any figure.
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import tempfile
import time

import numpy as np

import nnx
import nnx.kernels
from nnx.callbacks import Callback
from nnx.datasets import mnist
from nnx.examples import mnist_cnn

from kernel_timer import KernelTimer


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def profile_steps(model, x, y, batch_size, steps=200, clock=time.perf_counter):
    """Per-step milliseconds: kernels (by name), optimizer, and the rest."""
    model.fit(x[:batch_size * 10], y[:batch_size * 10], batch_size=batch_size, epochs=1, verbose=0)
    steps = min(steps, len(x) // batch_size)   # --limit may leave fewer: per-step figures divide by these
    n = steps * batch_size
    with KernelTimer(clock) as timer:
        timer.wrap(model.optimizer, "apply_gradients", "optimizer")
        start = clock()
        model.fit(x[:n], y[:n], batch_size=batch_size, epochs=1, verbose=0)
        total = clock() - start
    kernel = sum(v for k, v in timer.seconds.items() if k != "optimizer")
    optimizer = timer.seconds.get("optimizer", 0.0)
    per = 1e3 / steps
    print(f"\nnnx per-step profile ({steps} steps, batch {batch_size}): {total * per:.2f} ms/step, "
          f"{'CPU' if clock is time.process_time else 'wall'} time")
    print(f"  compiled kernels   {kernel * per:7.2f} ms  ({100 * kernel / total:4.1f}%)")
    for name, s in sorted(timer.seconds.items(), key=lambda kv: -kv[1]):
        if name != "optimizer":
            print(f"    {name:<24}{s * per:7.2f} ms")
    print(f"  optimizer (Adam)   {optimizer * per:7.2f} ms  ({100 * optimizer / total:4.1f}%)")
    rest = total - kernel - optimizer
    print(f"  NumPy ops + Python {rest * per:7.2f} ms  ({100 * rest / total:4.1f}%)")


def slice_bounds(steps, rounds):
    """R (first batch, end batch) pairs cutting an epoch of `steps` batches into near-equal slices."""
    cuts = [round(i * steps / rounds) for i in range(rounds + 1)]
    return list(zip(cuts[:-1], cuts[1:]))


class SetupClock(Callback):
    """The time a `fit` call spends outside its steps: from the call to the first step, and from
    the epoch's end to the return."""

    def on_train_batch_begin(self, batch, logs=None):
        if batch == 0:
            self.first_step = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.epoch_end = time.perf_counter()


def fit_setup_seconds(x, y, batch_size, repeats=5):
    """The median per-call setup of nnx's `fit` (a throwaway model, two-step fits)."""
    model, clock, times = mnist_cnn.build_model(), SetupClock(), []
    for _ in range(repeats + 1):                 # the first call builds and allocates: left out
        start = time.perf_counter()
        model.fit(x[:2 * batch_size], y[:2 * batch_size], batch_size=batch_size, verbose=0,
                  callbacks=[clock])
        times.append(clock.first_step - start + time.perf_counter() - clock.epoch_end)
    return statistics.median(times[1:])


class NnxContender:
    name = "nnx"

    def __init__(self, data, args):
        (self.x, self.y), (self.x_test, self.y_test) = data
        self.batch_size = args.batch_size
        nnx.manual_seed(0)
        self.rng = np.random.default_rng(0)
        self.model = mnist_cnn.build_model()
        self.version = nnx.__version__

    def begin_epoch(self):
        """The epoch's shuffle, which decides which samples each slice gets (not timed; each
        slice's fit shuffles again, so it pays what one fit of the epoch pays)."""
        order = self.rng.permutation(len(self.x))
        self.x_epoch, self.y_epoch = self.x[order], self.y[order]

    def train(self, first, end):
        lo, hi = first * self.batch_size, end * self.batch_size
        x, y = self.x_epoch[lo:hi], self.y_epoch[lo:hi]
        start = time.perf_counter()
        self.model.fit(x, y, batch_size=self.batch_size, epochs=1, shuffle=True, verbose=0)
        return time.perf_counter() - start

    def accuracy(self):
        accuracy = self.model.evaluate(self.x_test, self.y_test, batch_size=1000, verbose=0)[1]
        self.model.predict(self.x_test[:1000], batch_size=1000, verbose=0)    # warm-up
        return accuracy

    def predict(self):
        start = time.perf_counter()
        self.model.predict(self.x_test, batch_size=1000, verbose=0)
        return time.perf_counter() - start


class TorchContender:
    name = "PyTorch"

    def __init__(self, data, args):
        import torch
        (x_train, y_train), (x_test, self.y_test) = data
        self.torch, self.batch_size, self.version = torch, args.batch_size, torch.__version__
        torch.set_num_threads(args.threads)
        torch.manual_seed(0)
        nn = torch.nn
        self.model = nn.Sequential(
            nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(64, 64, 3), nn.ReLU(), nn.Flatten(),
            nn.Linear(576, 64), nn.ReLU(), nn.Linear(64, 10))
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=1e-3, eps=1e-7)
        self.loss_fn = nn.CrossEntropyLoss()
        self.x = torch.from_numpy(np.ascontiguousarray(x_train.transpose(0, 3, 1, 2)))
        self.y = torch.from_numpy(y_train.astype(np.int64))
        self.x_test = torch.from_numpy(np.ascontiguousarray(x_test.transpose(0, 3, 1, 2)))

    def begin_epoch(self):
        self.order = self.torch.randperm(len(self.x))

    def train(self, first, end):
        start = time.perf_counter()
        for lo in range(first * self.batch_size, min(end * self.batch_size, len(self.x)),
                        self.batch_size):
            index = self.order[lo:lo + self.batch_size]
            self.optimizer.zero_grad()
            loss = self.loss_fn(self.model(self.x[index]), self.y[index])
            loss.backward()
            self.optimizer.step()
        return time.perf_counter() - start

    def _predict(self, x):
        with self.torch.no_grad():
            return self.torch.cat([self.model(x[i:i + 1000]) for i in range(0, len(x), 1000)])

    def accuracy(self):
        self.model.eval()
        return float((self._predict(self.x_test).argmax(1).numpy() == self.y_test).mean())

    def predict(self):
        start = time.perf_counter()
        self._predict(self.x_test)
        return time.perf_counter() - start


class KerasContender:
    """Keras 3 / TensorFlow in a subprocess (benchmarks/keras_mnist.py) that stays alive across
    the rounds, driven by one command line per slice; it times its own work."""
    name = "Keras/TF"

    def __init__(self, args):
        worker = os.path.join(os.path.dirname(os.path.abspath(__file__)), "keras_mnist.py")
        command = [args.keras_python, worker, "--data", mnist.DATA_PATH, "--epochs", str(args.epochs),
                   "--threads", str(args.threads), "--batch-size", str(args.batch_size)]
        for option, value in (("--limit", args.limit), ("--test-limit", args.test_limit)):
            if value is not None:
                command += [option, str(value)]
        self.stderr = tempfile.TemporaryFile(mode="w+")     # a file: a full pipe would block it
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=self.stderr, text=True,
                                        env={**os.environ, "OMP_NUM_THREADS": str(args.threads)})
        self.first_step_s = None
        hello = self._ask(None)                 # once TensorFlow is imported and the model compiled
        self.version = f"{hello['keras']} on tensorflow {hello['tensorflow']}"

    def _ask(self, command):
        if command is not None:
            try:
                self.process.stdin.write(command + "\n")
                self.process.stdin.flush()
            except BrokenPipeError:
                pass                            # it exited: the read below reports why
        line = self.process.stdout.readline()
        if not line:
            self.process.wait()
            self.stderr.seek(0)
            raise RuntimeError(f"{self.process.args[1]} exited with {self.process.returncode} "
                               f"(asked {command!r}):\n{self.stderr.read()[-2000:]}")
        return json.loads(line)

    def begin_epoch(self):
        pass                                    # Keras shuffles each epoch inside its fit

    def train(self, first, end):
        reply = self._ask(f"train {first} {end}")
        self.first_step_s = reply.get("first_step_s", self.first_step_s)
        return reply["seconds"]

    def accuracy(self):
        return self._ask("evaluate")["accuracy"]

    def predict(self):
        return self._ask("predict")["seconds"]

    def close(self):
        self.process.stdin.close()
        self.process.wait()
        self.stderr.close()


def contenders(data, args):
    """nnx, then PyTorch and Keras/TF where they can run (with a note where not)."""
    found = [NnxContender(data, args)]
    if args.torch:
        try:
            found.append(TorchContender(data, args))
        except ImportError:
            print("torch is not importable: PyTorch comparison skipped")
    if not args.keras_python:
        print("Keras/TF comparison skipped: pass --keras-python with a Python that has tensorflow "
              "and keras (see this script's docstring)")
    else:
        try:
            found.append(KerasContender(args))
        except (OSError, RuntimeError) as e:
            print(f"Keras/TF comparison skipped: cannot run {args.keras_python}: {e}")
    return found


def train_in_rounds(players, steps, epochs, rounds):
    """{name: seconds of each slice, in order}: every epoch, round i trains each on its slice i."""
    seconds = {p.name: [] for p in players}
    for _ in range(epochs):
        for p in players:
            p.begin_epoch()
        for first, end in slice_bounds(steps, rounds):
            for p in players:
                seconds[p.name].append(p.train(first, end))
    return seconds


def predict_in_rounds(players, rounds, images):
    """{name: images/s of each round's prediction of the `images` test images}."""
    rates = {p.name: [] for p in players}
    for _ in range(rounds):
        for p in players:
            rates[p.name].append(images / p.predict())
    return rates


def spread(values):
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def report(players, train, accuracy, rates, setup, rss, args):
    """Prints the figures (see the docstring) and returns them as a dict."""
    ours = None
    results = {"rounds": args.rounds, "epochs": args.epochs, "batch_size": args.batch_size,
               "threads": args.threads, "simd": nnx.kernels.info()["simd"],
               "nnx_fit_setup_s": setup, "peak_rss_mb": rss, "frameworks": {}, "ratios": {}}
    print(f"\ntraining {args.epochs} epoch(s) in {args.rounds} slice(s) each; inference at batch "
          f"1000, median of {len(rates['nnx'])} rounds:")
    for p in players:
        f = results["frameworks"][p.name] = {
            "version": p.version, "epoch_s": sum(train[p.name]) / args.epochs,
            "slice_s": train[p.name], "accuracy": accuracy[p.name],
            "images_per_s": statistics.median(rates[p.name]), "round_images_per_s": rates[p.name]}
        ours = ours or f
        note = ""
        if isinstance(p, KerasContender):
            note = f"  (first step with tracing, {p.first_step_s:.2f} s, left out)"
        print(f"  {p.name + ':':<10}{f['epoch_s']:7.2f} s/epoch  test accuracy {f['accuracy']:.4f}  "
              f"inference {f['images_per_s']:9.0f} images/s  {p.version}{note}")
    extra = (args.rounds - 1) * setup
    print(f"  nnx's fit setup: {setup * 1e3:.1f} ms per call, so its {args.rounds} fit(s) per epoch "
          f"pay {extra * 1e3:.1f} ms ({100 * extra / ours['epoch_s']:.1f}% of its epoch) more than "
          f"one fit would; peak RSS {rss:.0f} MB (this process: "
          f"{' and '.join(p.name for p in players if not isinstance(p, KerasContender))})")
    print()
    for p in players[1:]:
        theirs = results["frameworks"][p.name]
        r = results["ratios"][p.name] = {
            "epoch": ours["epoch_s"] / theirs["epoch_s"],
            "epoch_rounds": spread([a / b for a, b in zip(ours["slice_s"], theirs["slice_s"])]),
            "inference": ours["images_per_s"] / theirs["images_per_s"],
            "inference_rounds": spread([a / b for a, b in zip(ours["round_images_per_s"],
                                                              theirs["round_images_per_s"])])}
        e, i = r["epoch_rounds"], r["inference_rounds"]
        print(f"ratio nnx / {p.name}: epoch time {r['epoch']:.2f}x (< 1 means nnx is faster; per "
              f"round median {e['median']:.2f}, min {e['min']:.2f}, max {e['max']:.2f}); inference "
              f"throughput {r['inference']:.2f}x (> 1 means nnx is faster; per round median "
              f"{i['median']:.2f}, min {i['min']:.2f}, max {i['max']:.2f})")
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=8,
                        help="turns per epoch (default 8); 1: each framework's epoch in one go")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--limit", type=int, default=None, help="train on the first N images only")
    parser.add_argument("--test-limit", type=int, default=None,
                        help="evaluate and predict the first N test images only")
    parser.add_argument("--no-profile", dest="profile", action="store_false")
    parser.add_argument("--no-torch", dest="torch", action="store_false")
    parser.add_argument("--keras-python", help="a Python with tensorflow and keras: run Keras too")
    parser.add_argument("--simd", help="force a SIMD path: avx512, avx2+fma or portable")
    parser.add_argument("--clock", default="wall", choices=["wall", "cpu"],
                        help="the profile's clock: cpu leaves out waiting for a core (1 thread only)")
    parser.add_argument("--json", help="also write the figures to this file, as JSON")
    args = parser.parse_args(argv)
    if args.simd:
        nnx.kernels.set_simd(args.simd)
    nnx.set_num_threads(args.threads)
    (x_train, y_train), (x_test, y_test) = mnist_cnn.load(limit=args.limit)
    data = (x_train, y_train), (x_test[:args.test_limit], y_test[:args.test_limit])
    steps = -(-len(x_train) // args.batch_size)
    if not 1 <= args.rounds <= steps // 2:
        parser.error(f"--rounds must be 1 to {steps // 2}: every slice needs two batches or more "
                     f"(the epoch has {steps})")
    print(f"MNIST: {len(x_train)} training images, batch {args.batch_size}, {args.threads} threads, "
          f"kernels: {nnx.kernels.info()['simd']}")
    setup = fit_setup_seconds(x_train, y_train, args.batch_size)
    players = contenders(data, args)
    sizes = sorted({end - first for first, end in slice_bounds(steps, args.rounds)})
    if args.rounds > 1:
        print(f"{args.rounds} rounds per epoch, slices of {'-'.join(map(str, sizes))} batches (of "
              f"{steps}): each round trains {', '.join(p.name for p in players)} in turn on one "
              f"slice each")
    else:
        print("--rounds 1: each framework trains a whole epoch in turn, as before")
    try:
        train = train_in_rounds(players, steps, args.epochs, args.rounds)
        rss = peak_rss_mb()
        accuracy = {p.name: p.accuracy() for p in players}
        rates = predict_in_rounds(players, max(args.rounds, 3), len(data[1][0]))
    finally:
        for p in players:
            if isinstance(p, KerasContender):
                p.close()
    results = report(players, train, accuracy, rates, setup, rss, args)
    results["images"] = len(x_train)
    if args.json:
        partial = args.json + ".partial"
        with open(partial, "w") as f:
            json.dump(results, f, indent=1)
        os.replace(partial, args.json)          # whole or not at all
    if args.profile:
        clock = time.process_time if args.clock == "cpu" else time.perf_counter
        profile_steps(mnist_cnn.build_model(), x_train, y_train, args.batch_size, clock=clock)
    return results


if __name__ == "__main__":
    main()
