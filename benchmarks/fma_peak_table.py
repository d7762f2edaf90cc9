"""Print a Markdown table of the multiply-add peak (`nnx.kernels.fma_peak`, csrc/peak.c): every SIMD path
this CPU has, float32 and float64, on each thread count.

    PYTHONPATH=. python benchmarks/fma_peak_table.py [--threads 1 2] [--seconds 1.0] [--repeats 3]

Each figure is the best of `repeats` calls of fma_peak(seconds), itself the best of many short runs of
the chains: the run least disturbed by other processes. On a busy machine the multi-threaded figures
still fall short, since every run waits for all its threads to get a core.
"""
import argparse

import nnx.kernels as K
from nnx.ladder import cpu_name


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    info = K.info()
    print(f"CPU: {cpu_name()}, compiler: {info['compiler']}, OpenMP: {info['openmp']}\n")
    print("| threads | path | float32 GFLOP/s | float64 GFLOP/s |")
    print("|---:|---|---:|---:|")
    for threads in args.threads:
        K.set_num_threads(threads)
        for path in info["simd_available"]:
            K.set_simd(path)
            best = [max(K.fma_peak(args.seconds, dtype) for _ in range(args.repeats))
                    for dtype in ("float32", "float64")]
            print(f"| {threads} | {path} | {best[0]:.1f} | {best[1]:.1f} |", flush=True)
    K.set_simd(info["simd"])


if __name__ == "__main__":
    main()
