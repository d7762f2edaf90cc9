"""Print a Markdown table of GEMM GFLOP/s: every rung of the ladder against numpy.matmul, 1 and 2 threads.

    python benchmarks/gemm_table.py [--sizes 128 256 512 1024 2048] [--threads 1 2] [--repeats 10]

Each thread count runs in a fresh process with OPENBLAS_NUM_THREADS set (OpenBLAS reads it only at
start-up) and OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE removed, so numpy picks its own kernel. Within a
process the rungs and numpy alternate call by call, so a burst of load from other users of the machine
hits all of them alike; each figure is the best of `repeats` calls after a warm-up call (the run least
disturbed by other processes), and the ratio column divides figures of the same process.
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
RUNGS = ("naive", "reordered", "blocked", "packed", "parallel")
LARGEST = {"naive": 256, "reordered": 512, "blocked": 1024}


def child(args):
    sys.path.insert(0, ROOT)  # the checkout's nnx over any installed one
    import nnx
    import nnx.kernels as K

    threads = args.threads[0]
    nnx.set_num_threads(threads)
    dtype = np.dtype(args.dtype)
    for n in args.sizes:
        rng = np.random.default_rng(n)
        a, b = rng.standard_normal((n, n)).astype(dtype), rng.standard_normal((n, n)).astype(dtype)
        out = np.empty((n, n), dtype)
        calls = {"numpy": lambda: np.matmul(a, b)}
        for rung in RUNGS:
            if n <= LARGEST.get(rung, n) and not (threads > 1 and rung != "parallel"):
                calls[rung] = lambda rung=rung: K.gemm(a, b, out=out, rung=rung)
        slow = [r for r in calls if r in LARGEST]
        best = {}
        for name, call in calls.items():
            call()
            best[name] = float("inf")
        for i in range(args.repeats):
            for name, call in calls.items():
                if name in slow and i >= max(2, args.repeats // 4):
                    continue  # a few calls of the slow rungs are plenty
                start = time.perf_counter()
                call()
                best[name] = min(best[name], time.perf_counter() - start)
        gflops = {name: 2 * n**3 / t / 1e9 for name, t in best.items()}
        print(json.dumps({"n": n, "threads": threads, "gflops": gflops}), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256, 512, 1024, 2048])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)

    sys.path.insert(0, ROOT)
    import nnx.kernels as K
    info = K.info()
    print(f"{args.dtype}, nnx {info['simd']} ({info['compiler']}), numpy {np.__version__}; GFLOP/s, "
          f"best of {args.repeats}\n")
    print("| threads | n | " + " | ".join(RUNGS) + " | numpy | best nnx / numpy |")
    print("|---:|---:|" + "---:|" * len(RUNGS) + "---:|---:|")
    for threads in args.threads:
        env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
        env["OPENBLAS_NUM_THREADS"] = str(threads)
        cmd = [sys.executable, os.path.abspath(__file__), "--child", "--threads", str(threads),
               "--repeats", str(args.repeats), "--dtype", args.dtype, "--sizes", *map(str, args.sizes)]
        with subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True) as proc:
            for line in proc.stdout:
                row = json.loads(line)
                g = row["gflops"]
                cells = " | ".join(f"{g[r]:.1f}" if r in g else "" for r in RUNGS)
                ours = max(g[r] for r in ("packed", "parallel") if r in g)
                print(f"| {threads} | {row['n']} | {cells} | {g['numpy']:.1f} | {ours / g['numpy']:.2f} |",
                      flush=True)
        if proc.returncode:
            sys.exit(proc.returncode)


if __name__ == "__main__":
    main()
