"""Training benchmark: the reference CNN (docs/api.md section 0) on MNIST, nnx against PyTorch and
Keras 3 / TensorFlow, same run.

    python benchmarks/train_mnist.py [--epochs 1] [--threads 2] [--batch-size 32] [--limit N] [--simd PATH]
                                     [--keras-python /path/to/tf-venv/bin/python]

(the installed nnx; `PYTHONPATH=.` measures the checkout; `--simd avx2+fma` or the environment variable
NNX_SIMD forces a narrower SIMD path)

Reports, for nnx and (when importable) PyTorch on the CPU with the same architecture, optimizer
(Adam, lr 1e-3, eps 1e-7) and batch size: seconds per epoch and the ratio, test accuracy, inference
images/s at batch 1000 and the ratio; for nnx a per-step profile (time in the compiled kernels, in the
optimizer, and everything else: NumPy elementwise ops, autograd bookkeeping, Python) and the peak RSS
of the process after the nnx part (resource.getrusage), before PyTorch is even imported.

Keras 3 on TensorFlow runs when `--keras-python` names a Python that has them (installed in an
environment of their own, so that TensorFlow's pinned dependencies stay out of nnx's), in a subprocess
(benchmarks/keras_mnist.py) with the same data, architecture, optimizer, batch size and thread count
(TensorFlow's intra- and inter-op threads); its epoch time leaves out the first step, which traces the
graph (that favours Keras). Without `--keras-python` that part is skipped with a note. To set it up:

    python -m venv /work/tfenv && /work/tfenv/bin/pip install tensorflow-cpu keras
    python benchmarks/train_mnist.py --keras-python /work/tfenv/bin/python

Timings on a shared machine are noisy: compare the ratios, which are measured in the same run. Busy
neighbours hurt OpenMP's fork-join loops (nnx, PyTorch) far more than TensorFlow's work-stealing
thread pool, since every loop waits for its slowest thread: on a loaded machine measure --threads 1
as well, and state the load beside any figure.
"""
import argparse
import json
import os
import resource
import subprocess
import time

import numpy as np

import nnx
import nnx.kernels
from nnx import backend
from nnx.datasets import mnist
from nnx.examples import mnist_cnn


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def inference_rate(predict, x, batch=1000, repeats=3):
    predict(x[:batch])                      # warm-up
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        predict(x)
        best = min(best, time.perf_counter() - start)
    return len(x) / best


class KernelTimer:
    """Wraps every compiled kernel (looked up through nnx.backend at call time) and the optimizer's
    apply_gradients with a timer (`clock`: time.perf_counter, or time.process_time to leave out the
    time spent waiting for a core on a loaded machine; one thread only, since CPU time adds up over
    threads), for a profiling window of a few hundred steps."""

    def __init__(self, optimizer, clock=time.perf_counter):
        self.clock = clock
        self.kernels = backend.kernels()
        self.optimizer = optimizer
        self.seconds = {}
        self._saved = {}

    def _wrap(self, owner, name, label):
        fn = getattr(owner, name)
        self._saved[(owner, name)] = fn
        seconds, clock = self.seconds, self.clock

        def timed(*args, **kwargs):
            start = clock()
            try:
                return fn(*args, **kwargs)
            finally:
                seconds[label] = seconds.get(label, 0.0) + clock() - start
        setattr(owner, name, timed)

    def __enter__(self):
        for name in backend.KERNEL_NAMES:
            self._wrap(self.kernels, name, name)
        self._wrap(self.optimizer, "apply_gradients", "optimizer")
        return self

    def __exit__(self, *exc):
        for (owner, name), fn in self._saved.items():
            if owner is self.optimizer:
                delattr(owner, name)
            else:
                setattr(owner, name, fn)


def profile_steps(model, x, y, batch_size, steps=200, clock=time.perf_counter):
    """Per-step milliseconds: kernels (by name), optimizer, and the rest."""
    model.fit(x[:batch_size * 10], y[:batch_size * 10], batch_size=batch_size, epochs=1, verbose=0)
    steps = min(steps, len(x) // batch_size)   # --limit may leave fewer: per-step figures divide by these
    n = steps * batch_size
    with KernelTimer(model.optimizer, clock) as timer:
        start = clock()
        model.fit(x[:n], y[:n], batch_size=batch_size, epochs=1, verbose=0)
        total = clock() - start
    kernel = sum(v for k, v in timer.seconds.items() if k != "optimizer")
    optimizer = timer.seconds.get("optimizer", 0.0)
    per = 1e3 / steps
    print(f"\nnnx per-step profile ({steps} steps, batch {batch_size}): {total * per:.2f} ms/step, {'CPU' if clock is time.process_time else 'wall'} time")
    print(f"  compiled kernels   {kernel * per:7.2f} ms  ({100 * kernel / total:4.1f}%)")
    for name, s in sorted(timer.seconds.items(), key=lambda kv: -kv[1]):
        if name != "optimizer":
            print(f"    {name:<24}{s * per:7.2f} ms")
    print(f"  optimizer (Adam)   {optimizer * per:7.2f} ms  ({100 * optimizer / total:4.1f}%)")
    rest = total - kernel - optimizer
    print(f"  NumPy ops + Python {rest * per:7.2f} ms  ({100 * rest / total:4.1f}%)")


def run_nnx(data, args):
    (x_train, y_train), (x_test, y_test) = data
    nnx.set_num_threads(args.threads)
    nnx.manual_seed(0)
    model = mnist_cnn.build_model()
    start = time.perf_counter()
    model.fit(x_train, y_train, epochs=args.epochs, batch_size=args.batch_size,
              verbose=1 if args.verbose else 0)
    epoch = (time.perf_counter() - start) / args.epochs
    rss = peak_rss_mb()
    accuracy = model.evaluate(x_test, y_test, batch_size=1000, verbose=0)[1]
    rate = inference_rate(lambda x: model.predict(x, batch_size=1000, verbose=0), x_test)
    print(f"nnx:     {epoch:7.2f} s/epoch  test accuracy {accuracy:.4f}  inference {rate:9.0f} images/s "
          f"(batch 1000)  peak RSS {rss:.0f} MB")
    if args.profile:
        clock = time.process_time if args.clock == "cpu" else time.perf_counter
        profile_steps(mnist_cnn.build_model(), x_train, y_train, args.batch_size, clock=clock)
    return epoch, rate


def run_torch(data, args):
    try:
        import torch
    except ImportError:
        print("torch is not importable: PyTorch comparison skipped")
        return None
    (x_train, y_train), (x_test, y_test) = data
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    nn = torch.nn
    model = nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(64, 64, 3), nn.ReLU(), nn.Flatten(),
        nn.Linear(576, 64), nn.ReLU(), nn.Linear(64, 10))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    loss_fn = nn.CrossEntropyLoss()
    xt = torch.from_numpy(np.ascontiguousarray(x_train.transpose(0, 3, 1, 2)))
    yt = torch.from_numpy(y_train.astype(np.int64))
    n = len(xt)
    start = time.perf_counter()
    for _ in range(args.epochs):
        order = torch.randperm(n)
        for lo in range(0, n, args.batch_size):
            index = order[lo:lo + args.batch_size]
            optimizer.zero_grad()
            loss = loss_fn(model(xt[index]), yt[index])
            loss.backward()
            optimizer.step()
    epoch = (time.perf_counter() - start) / args.epochs
    model.eval()
    xs = torch.from_numpy(np.ascontiguousarray(x_test.transpose(0, 3, 1, 2)))

    def predict(x):
        with torch.no_grad():
            return torch.cat([model(x[i:i + 1000]) for i in range(0, len(x), 1000)])
    accuracy = float((predict(xs).argmax(1).numpy() == y_test).mean())
    rate = inference_rate(predict, xs)
    print(f"PyTorch: {epoch:7.2f} s/epoch  test accuracy {accuracy:.4f}  inference {rate:9.0f} images/s "
          f"(batch 1000)  torch {torch.__version__}")
    return epoch, rate


def run_keras(args):
    """Keras 3 / TensorFlow in a subprocess of `args.keras_python`: (epoch seconds, images/s), or
    None with a note when it is not given or cannot run."""
    if not args.keras_python:
        print("Keras/TF comparison skipped: pass --keras-python with a Python that has tensorflow "
              "and keras (see this script's docstring)")
        return None
    worker = os.path.join(os.path.dirname(os.path.abspath(__file__)), "keras_mnist.py")
    command = [args.keras_python, worker, "--data", mnist.DATA_PATH, "--epochs", str(args.epochs),
               "--threads", str(args.threads), "--batch-size", str(args.batch_size)]
    if args.limit is not None:
        command += ["--limit", str(args.limit)]
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    try:
        done = subprocess.run(command, capture_output=True, text=True, env=env)
    except OSError as e:
        print(f"Keras/TF comparison skipped: cannot run {args.keras_python}: {e}")
        return None
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        print(f"Keras/TF comparison skipped: {args.keras_python} {worker} exited with "
              f"{done.returncode}:\n{done.stderr.strip()[-2000:]}")
        return None
    r = json.loads(lines[-1])
    print(f"Keras:   {r['epoch_s']:7.2f} s/epoch  test accuracy {r['accuracy']:.4f}  inference "
          f"{r['images_per_s']:9.0f} images/s (batch 1000)  keras {r['keras']} on tensorflow "
          f"{r['tensorflow']} (first step with tracing, {r['first_step_s']:.2f} s, left out)")
    return r["epoch_s"], r["images_per_s"]


def print_ratio(ours, theirs, who):
    print(f"ratio nnx / {who}: epoch time {ours[0] / theirs[0]:.2f}x (< 1 means nnx is faster); "
          f"inference throughput {ours[1] / theirs[1]:.2f}x (> 1 means nnx is faster)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--limit", type=int, default=None, help="train on the first N images only")
    parser.add_argument("--no-profile", dest="profile", action="store_false")
    parser.add_argument("--no-torch", dest="torch", action="store_false")
    parser.add_argument("--keras-python", help="a Python with tensorflow and keras: run Keras too")
    parser.add_argument("--verbose", action="store_true", help="show nnx's progress bar")
    parser.add_argument("--simd", help="force a SIMD path: avx512, avx2+fma or portable")
    parser.add_argument("--clock", default="wall", choices=["wall", "cpu"],
                        help="the profile's clock: cpu leaves out waiting for a core (1 thread only)")
    args = parser.parse_args()
    if args.simd:
        nnx.kernels.set_simd(args.simd)
    data = mnist_cnn.load(limit=args.limit)
    print(f"MNIST: {len(data[0][0])} training images, batch {args.batch_size}, {args.threads} threads, "
          f"kernels: {nnx.kernels.info()['simd']}")
    ours = run_nnx(data, args)
    torch = run_torch(data, args) if args.torch else None
    keras = run_keras(args)
    print()
    for theirs, who in ((torch, "PyTorch"), (keras, "Keras/TF")):
        if theirs:
            print_ratio(ours, theirs, who)


if __name__ == "__main__":
    main()
