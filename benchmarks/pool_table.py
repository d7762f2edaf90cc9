"""Print a Markdown table of pooling times: nnx vs PyTorch CPU (NCHW and channels-last), 1 and 2 threads.

    python benchmarks/pool_table.py [--repeats 60] [--ops max_forward max_forward_y ...]
    python benchmarks/pool_table.py --step [--steps 400] [--threads 1 2]

The three contenders are timed in turns of 5 calls (`repeats` calls each in all); each figure is the
best turn's median. The ratios compare numbers taken side by side, so they hold up better than the
absolute times on a shared machine. A ratio above 1 means nnx is faster.

`--step` times nnx's max-pool kernels where training runs them instead: inside `model.fit` of the
reference CNN (MNIST, batch 32, Adam), each call timed, median and quartiles per kernel and shape over
`--steps` steps (the first 20 left out). Between the calls the step's other kernels evict the data,
so these are slower than the warm calls of the table.

It measures the installed nnx (`PYTHONPATH=.` measures the checkout); `--simd avx2+fma` (or the
environment variable NNX_SIMD) forces a narrower SIMD path.
"""
import argparse
import sys
import time

import numpy as np

import nnx
import nnx.kernels
from bench_pool import BATCHES, LAYERS, OPS, make_call, torch


def interleaved_times_us(calls, repeats, block=5):
    """Time per call of each callable: the best, over turns, of the median of a turn's `block` calls.

    The callables take turns, so that all see the same machine load, and most calls find their data
    in cache as they would in a run. A turn that another process interrupted (on a shared 2-core
    machine a 2-thread kernel can lose whole 4-8 ms time slices) does not count."""
    turns = {name: [] for name in calls}
    for _ in range(max(1, repeats // block)):
        for name, fn in calls.items():
            times = []
            for _ in range(block):
                start = time.perf_counter()
                fn()
                times.append(time.perf_counter() - start)
            turns[name].append(np.median(times))
    return {name: float(min(t)) * 1e6 for name, t in turns.items()}


def step_times(threads, steps):
    """{(kernel, x shape): [seconds per call]} of the max-pool kernels inside `steps` training steps."""
    from nnx import backend
    from nnx.examples import mnist_cnn
    nnx.set_num_threads(threads)
    kernels = backend.kernels()
    times, saved = {}, {}
    for name in ("max_pool2d_forward", "max_pool2d_backward"):
        saved[name] = fn = getattr(kernels, name)

        def timed(*args, _fn=fn, _name=name, **kwargs):
            start = time.perf_counter()
            try:
                return _fn(*args, **kwargs)
            finally:
                x_shape = args[0].shape if _name.endswith("forward") else args[2]
                times.setdefault((_name, tuple(x_shape)), []).append(time.perf_counter() - start)
        setattr(kernels, name, timed)
    try:
        (x, y), _ = mnist_cnn.load(limit=32 * steps)
        nnx.manual_seed(0)
        mnist_cnn.build_model().fit(x, y, batch_size=32, epochs=1, verbose=0)
    finally:
        for name, fn in saved.items():
            setattr(kernels, name, fn)
    return {key: t[20:] for key, t in times.items()}


def print_step_table(args):
    print(f"nnx {nnx.kernels.info()['simd']}; max pooling inside {args.steps} training steps of the reference "
          f"CNN (batch 32), milliseconds per call\n")
    print("| threads | kernel | x shape | median | 25% | 75% |")
    print("|---:|---|---|---:|---:|---:|")
    for threads in args.threads:
        for (name, shape), t in sorted(step_times(threads, args.steps).items()):
            q1, median, q3 = np.percentile(np.array(t) * 1e3, [25, 50, 75])
            print(f"| {threads} | {name} | {shape} | {median:.3f} | {q1:.3f} | {q3:.3f} |", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=60)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--simd", help="force a SIMD path: avx512, avx2+fma or portable")
    parser.add_argument("--ops", nargs="+", default=list(OPS), choices=OPS)
    parser.add_argument("--step", action="store_true", help="time the max-pool kernels inside training steps")
    parser.add_argument("--steps", type=int, default=400)
    args = parser.parse_args()
    if args.simd:
        nnx.kernels.set_simd(args.simd)
    before = nnx.get_num_threads()
    if args.step:
        print_step_table(args)
        nnx.set_num_threads(before)
        return
    if torch is None:
        sys.exit("pool_table.py needs torch for its comparison columns")
    print(f"nnx {nnx.kernels.info()['simd']}, torch {torch.__version__}; times in microseconds (best turn median of 5 calls)\n")
    print("| threads | op | layer | batch | nnx | torch NCHW | torch channels_last | NCHW / nnx | CL / nnx |")
    print("|---:|---|---|---:|---:|---:|---:|---:|---:|")
    for threads in args.threads:
        nnx.set_num_threads(threads)
        torch.set_num_threads(threads)
        for op in args.ops:
            for layer in LAYERS:
                for batch in BATCHES:
                    t = interleaved_times_us({impl: make_call(impl, op, batch, layer)
                                                for impl in ("nnx", "torch_nchw", "torch_channels_last")},
                                               args.repeats)
                    nnx_t, nchw, cl = t["nnx"], t["torch_nchw"], t["torch_channels_last"]
                    print(f"| {threads} | {op} | {layer} | {batch} | {nnx_t:.0f} | {nchw:.0f} | {cl:.0f} | "
                          f"{nchw / nnx_t:.1f} | {cl / nnx_t:.2f} |", flush=True)
    nnx.set_num_threads(before)


if __name__ == "__main__":
    main()
