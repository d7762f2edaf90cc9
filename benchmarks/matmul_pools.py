"""One thread pool or two: nnx's GEMM and numpy.matmul at the models' real shapes, alone and taking turns.

    python benchmarks/matmul_pools.py [--threads 2] [--repeats 20] [--simd avx2+fma]

`Tensor @`, Dense and the recurrent layers multiply on nnx's GEMM (OpenMP threads). If a program also
calls NumPy's BLAS (OpenBLAS keeps its own pool of threads, which spin for a while after each call), the
two pools fight for the same cores. For each shape this prints GFLOP/s of nnx and of numpy alone, and of
each while the other runs between its calls ("mixed"), all in one process; each figure is the best
median of 5 calls over `repeats` rounds; numpy gets the same `out=` treatment as nnx. Set OPENBLAS_NUM_THREADS to the
thread count before start-up (the script re-runs itself with it set).
"""
import argparse
import os
import subprocess
import sys
import time

import numpy as np

# (what, m, k, n): the reference CNN's Dense layers at batch 32 (forward and both gradients) and the
# LSTM benchmark's products (64 sequences of 100 steps, 128 features, 256 units)
SHAPES = [
    ("dense 576->64 forward", 32, 576, 64),
    ("dense 576->64 input grad", 32, 64, 576),
    ("dense 576->64 kernel grad", 576, 32, 64),
    ("LSTM x.W, all steps", 6400, 128, 1024),
    ("LSTM h.U, one step", 64, 256, 1024),
]


def median_time(call, calls=5):
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return sorted(times)[calls // 2]


def measure(args):
    import nnx
    import nnx.kernels as K

    if args.simd:
        K.set_simd(args.simd)
    nnx.set_num_threads(args.threads)
    print(f"nnx {K.info()['simd']}, {args.threads} threads (OPENBLAS_NUM_THREADS="
          f"{os.environ.get('OPENBLAS_NUM_THREADS')}), numpy {np.__version__}; GFLOP/s, best median of "
          f"{args.repeats} rounds\n")
    print("| product | m x k x n | nnx | numpy | nnx / numpy | nnx mixed | numpy mixed |")
    print("|---|---|---:|---:|---:|---:|---:|")
    rng = np.random.default_rng(0)
    for what, m, k, n in SHAPES:
        a = rng.standard_normal((m, k)).astype(np.float32)
        b = rng.standard_normal((k, n)).astype(np.float32)
        out = np.empty((m, n), np.float32)
        ours = lambda: K.gemm(a, b, out=out)  # noqa: E731
        theirs = lambda: np.matmul(a, b, out=out)  # noqa: E731

        def mixed(first, second):
            def call():
                first()
                second()
            return call

        # alone: all rounds of one side, then of the other (so that neither pool is awake during the
        # other's rounds); then the two taking turns
        best = {name: min(median_time(call) for _ in range(args.repeats))
                for name, call in (("nnx", ours), ("numpy", theirs), ("both", mixed(ours, theirs)))}
        flop = 2.0 * m * n * k
        g = {name: flop / t / 1e9 for name, t in best.items()}
        # in the mixed calls each side's share of the time is taken to be the same as when alone
        share = best["nnx"] / (best["nnx"] + best["numpy"])
        nnx_mixed, numpy_mixed = flop / (best["both"] * share) / 1e9, flop / (best["both"] * (1 - share)) / 1e9
        print(f"| {what} | {m} x {k} x {n} | {g['nnx']:.1f} | {g['numpy']:.1f} | {g['nnx'] / g['numpy']:.2f} | "
              f"{nnx_mixed:.1f} | {numpy_mixed:.1f} |", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--simd", help="force a SIMD path: avx512, avx2+fma or portable")
    args = parser.parse_args()
    if os.environ.get("OPENBLAS_NUM_THREADS") != str(args.threads):
        env = dict(os.environ, OPENBLAS_NUM_THREADS=str(args.threads))
        sys.exit(subprocess.call([sys.executable, *sys.argv], env=env))
    measure(args)


if __name__ == "__main__":
    main()
