"""Print a Markdown table of GEMM GFLOP/s: every rung of the ladder against numpy.matmul, 1 and 2 threads.

    python benchmarks/gemm_table.py [--sizes 128 256 512 1024 2048] [--threads 1 2] [--repeats 10] [--rounds 3]
    python benchmarks/gemm_table.py --conv     # the skinny GEMMs of the reference CNN instead (batch 32)
    python benchmarks/gemm_table.py --recurrent  # an LSTM step's h.U and dZ.U^T, B packed per call or once

Each thread count runs in a fresh process with OPENBLAS_NUM_THREADS set (OpenBLAS reads it only at
start-up) and OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE removed, so numpy picks its own kernel; numpy and nnx
run in separate processes (two thread pools in one process fight over the cores). Within a process the
rungs alternate call by call, so a burst of load from other users of the machine hits all of them
alike; each figure is the best of `repeats` calls after a warm-up call (the run least disturbed by
other processes). `--rounds R`
runs each side's process R times, nnx and numpy taking turns, and keeps each cell's best figure: a
burst of load that halves a 2-thread figure then has to hit all R runs of one side to skew a ratio.
`--clock cpu` times with the process's CPU time instead of the wall clock: on a machine shared with
other jobs it leaves out the time the process waited for a core (use it for 1 thread only: with more
threads CPU time adds up over the threads). nnx and numpy both write into a preallocated output (nnx
`gemm(a, b, out=...)`, `numpy.matmul(a, b, out=...)`), so neither pays for an allocation.
It measures the installed nnx (`PYTHONPATH=.` measures the checkout); `--simd avx2+fma` (or the
environment variable NNX_SIMD) forces a narrower SIMD path.
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

RUNGS = ("naive", "reordered", "blocked", "packed", "parallel")
LARGEST = {"naive": 512, "reordered": 2048, "blocked": 2048}
# (what, m, k, n, op(A) is a transposed view, op(B) is a transposed view): the reference CNN at batch 32
CONV_SHAPES = [
    ("conv1 forward: patches @ W", 32 * 26 * 26, 9, 32, False, False),
    ("conv2 forward", 32 * 11 * 11, 288, 64, False, False),
    ("conv3 forward", 32 * 3 * 3, 576, 64, False, False),
    ("conv1 weight grad: patches^T @ dY", 9, 32 * 26 * 26, 32, True, False),
    ("conv2 weight grad", 288, 32 * 11 * 11, 64, True, False),
    ("conv2 input grad: dY @ W^T", 32 * 11 * 11, 64, 288, False, True),
    ("dense 576 -> 64", 32, 576, 64, False, False),
    ("dense 64 -> 10", 32, 64, 10, False, False),
    ("dense 576 -> 64 input grad: dY @ W^T", 32, 64, 576, False, True),
]

# (what, m, k, n): one time step of the LSTM benchmark (batch 64, 256 units), forward and backward
RECURRENT_SHAPES = [("LSTM step forward: h @ U", 64, 256, 1024),
                    ("LSTM step backward: dZ @ U^T", 64, 1024, 256)]

CLOCK = time.perf_counter
# Untimed calls first, for this long: a new process's threads can start on one core and run there, each
# waiting for the other, until the kernel's load balancer moves one (on a 2-core Zen 4 VM the first ~25
# calls of a 256 x 256 product took 0.6-1.1 ms instead of 0.17: "59 GFLOP/s" when timed right away).
WARM_UP = 0.1


def best_times(calls, repeats, slow=()):
    """The best time of each call over `repeats` rounds, the calls alternating within each round."""
    best = {}
    for name, call in calls.items():
        warm_until = time.perf_counter() + WARM_UP
        call()
        while time.perf_counter() < warm_until:
            call()
        best[name] = float("inf")
    for i in range(repeats):
        for name, call in calls.items():
            if name in slow and i >= max(2, repeats // 4):
                continue  # a few calls of the slow rungs are plenty
            start = CLOCK()
            call()
            best[name] = min(best[name], CLOCK() - start)
    return best


def conv_child(threads, dtype, repeats, side):
    import nnx.kernels as K

    rng = np.random.default_rng(0)
    for what, m, k, n, ta, tb in CONV_SHAPES:
        a = rng.standard_normal((k, m)).astype(dtype).T if ta else rng.standard_normal((m, k)).astype(dtype)
        b = rng.standard_normal((n, k)).astype(dtype).T if tb else rng.standard_normal((k, n)).astype(dtype)
        out = np.empty((m, n), dtype)
        call = (lambda: K.gemm(a, b, out=out)) if side == "nnx" else (lambda: np.matmul(a, b, out=out))
        best = best_times({side: call}, repeats * 5)
        gflops = {name: 2 * m * n * k / t / 1e9 for name, t in best.items()}
        row = {"threads": threads, "what": what, "shape": [m, k, n], "gflops": gflops}
        print(json.dumps(row), flush=True)


def recurrent_child(threads, dtype, repeats, side):
    """An LSTM step's products, nnx packing B in every call ('nnx') and B packed once ('pre-packed B')."""
    import nnx.kernels as K

    rng = np.random.default_rng(0)
    for what, m, k, n in RECURRENT_SHAPES:
        a, b = rng.standard_normal((m, k)).astype(dtype), rng.standard_normal((k, n)).astype(dtype)
        out = np.zeros((m, n), dtype)
        if side == "nnx":
            packed = K.gemm_pack_b(b)
            calls = {"nnx": lambda: K.gemm(a, b, out=out, beta=1.0),
                     "pre-packed B": lambda: K.gemm(a, packed, out=out, beta=1.0)}
        else:
            calls = {"numpy": lambda: np.matmul(a, b, out=out)}
        best = best_times(calls, repeats * 20)
        gflops = {name: 2 * m * n * k / t / 1e9 for name, t in best.items()}
        row = {"threads": threads, "what": what, "shape": [m, k, n], "gflops": gflops}
        print(json.dumps(row), flush=True)


def child(args):
    import nnx
    import nnx.kernels as K

    global CLOCK
    CLOCK = time.process_time if args.clock == "cpu" else time.perf_counter
    threads = args.threads[0]
    nnx.set_num_threads(threads)
    dtype = np.dtype(args.dtype)
    if args.conv:
        return conv_child(threads, dtype, args.repeats, args.side)
    if args.recurrent:
        return recurrent_child(threads, dtype, args.repeats, args.side)
    for n in args.sizes:
        rng = np.random.default_rng(n)
        a, b = rng.standard_normal((n, n)).astype(dtype), rng.standard_normal((n, n)).astype(dtype)
        out = np.empty((n, n), dtype)
        calls = {"numpy": lambda: np.matmul(a, b, out=out)} if args.side == "numpy" else {}
        for rung in RUNGS:
            if (args.side == "nnx" and n <= LARGEST.get(rung, n)
                    and not (threads > 1 and rung != "parallel")):
                calls[rung] = lambda rung=rung: K.gemm(a, b, out=out, rung=rung)
        best = best_times(calls, args.repeats, slow=LARGEST)
        gflops = {name: 2 * n**3 / t / 1e9 for name, t in best.items()}
        print(json.dumps({"n": n, "threads": threads, "gflops": gflops}), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256, 512, 1024, 2048])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=1,
                        help="child processes per side and thread count, best figure kept (3 on a busy machine)")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--clock", default="wall", choices=["wall", "cpu"])
    parser.add_argument("--conv", action="store_true", help="the reference CNN's GEMM shapes")
    parser.add_argument("--recurrent", action="store_true", help="an LSTM step's GEMM shapes, B pre-packed")
    parser.add_argument("--simd", help="force a SIMD path: avx512, avx2+fma or portable")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--side", choices=["nnx", "numpy"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error(f"--rounds must be at least 1, got {args.rounds}")
    if args.child:
        return child(args)

    if args.simd:
        os.environ["NNX_SIMD"] = args.simd  # read by nnx.kernels on import, here and in the children
    import nnx.kernels as K
    info = K.info()
    print(f"{args.dtype}, nnx {info['simd']} ({info['compiler']}), numpy {np.__version__}; GFLOP/s, "
          f"best of {args.repeats} ({args.clock} clock)\n")
    if args.conv:
        print("| threads | GEMM | m x k x n | nnx | numpy | nnx / numpy |")
        print("|---:|---|---|---:|---:|---:|")
    elif args.recurrent:
        print("| threads | GEMM | m x k x n | nnx | nnx, pre-packed B | numpy | pre-packed / numpy |")
        print("|---:|---|---|---:|---:|---:|---:|")
    else:
        print("| threads | n | " + " | ".join(RUNGS) + " | numpy | best nnx / numpy |")
        print("|---:|---:|" + "---:|" * len(RUNGS) + "---:|---:|")
    for threads in args.threads:
        env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
        env["OPENBLAS_NUM_THREADS"] = str(threads)
        runs = {"numpy": [], "nnx": []}
        for _ in range(args.rounds):  # the sides take turns
            for side, side_runs in runs.items():
                side_runs.append(run_child(args, threads, side, env))
        rows = [best_rows(runs["numpy"]), best_rows(runs["nnx"])]
        for numpy_row, nnx_row in zip(*rows):
            g = {**numpy_row["gflops"], **nnx_row["gflops"]}
            if args.conv:
                shape = " x ".join(map(str, nnx_row["shape"]))
                print(f"| {threads} | {nnx_row['what']} | {shape} | {g['nnx']:.1f} | {g['numpy']:.1f} | "
                      f"{g['nnx'] / g['numpy']:.2f} |", flush=True)
                continue
            if args.recurrent:
                shape = " x ".join(map(str, nnx_row["shape"]))
                once = g["pre-packed B"]
                print(f"| {threads} | {nnx_row['what']} | {shape} | {g['nnx']:.1f} | {once:.1f} | "
                      f"{g['numpy']:.1f} | {once / g['numpy']:.2f} |", flush=True)
                continue
            cells = " | ".join(f"{g[r]:.1f}" if r in g else "" for r in RUNGS)
            ours = max(g[r] for r in ("packed", "parallel") if r in g)
            print(f"| {threads} | {nnx_row['n']} | {cells} | {g['numpy']:.1f} | {ours / g['numpy']:.2f} |",
                  flush=True)


def best_rows(runs):
    """The best figure of each cell over several child runs of one side. The two sides' children take
    turns, so a burst of load from other jobs (which on a 2-core machine can halve a 2-thread figure)
    has to hit every run of one side to skew a ratio."""
    best = runs[0]
    for later in runs[1:]:
        for row, other in zip(best, later):
            row["gflops"] = {name: max(g, other["gflops"][name]) for name, g in row["gflops"].items()}
    return best


def run_child(args, threads, side, env):
    """Run one side (nnx or numpy) for one thread count in a fresh process; its rows, in order."""
    cmd = [sys.executable, os.path.abspath(__file__), "--child", "--side", side, "--threads", str(threads),
           "--repeats", str(args.repeats), "--dtype", args.dtype, "--clock", args.clock,
           "--sizes", *map(str, args.sizes)]
    cmd += ["--conv"] * args.conv + ["--recurrent"] * args.recurrent
    result = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, text=True, check=True)
    return [json.loads(line) for line in result.stdout.splitlines()]


if __name__ == "__main__":
    main()
