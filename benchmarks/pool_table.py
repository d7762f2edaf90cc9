"""Print a Markdown table of pooling times: nnx vs PyTorch CPU (NCHW and channels-last), 1 and 2 threads.

    python benchmarks/pool_table.py [--repeats 60]

The three contenders are timed in turns of 5 calls (`repeats` calls each in all); each figure is the
best turn's median. The ratios compare numbers taken side by side, so they hold up better than the
absolute times on a shared machine. A ratio above 1 means nnx is faster.

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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=60)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--simd", help="force a SIMD path: avx512, avx2+fma or portable")
    args = parser.parse_args()
    if args.simd:
        nnx.kernels.set_simd(args.simd)
    if torch is None:
        sys.exit("pool_table.py needs torch for its comparison columns")
    print(f"nnx {nnx.kernels.info()['simd']}, torch {torch.__version__}; times in microseconds (best turn median of 5 calls)\n")
    print("| threads | op | layer | batch | nnx | torch NCHW | torch channels_last | NCHW / nnx | CL / nnx |")
    print("|---:|---|---|---:|---:|---:|---:|---:|---:|")
    before = nnx.get_num_threads()
    for threads in args.threads:
        nnx.set_num_threads(threads)
        torch.set_num_threads(threads)
        for op in OPS:
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
