"""The learner's benchmark: time every rung of a kernel family's optimisation ladder, side by side.

    python -m nnx.ladder gemm|conv|pool [--threads N] [--plot PATH]

One table per family: each rung's GFLOP/s (GB/s for pooling, which moves bytes rather than doing
arithmetic), its ratio to NumPy (numpy.matmul, or the `nnx.reference` kernel for conv and pool), its
ratio to PyTorch when PyTorch is importable, and its share of the machine's measured peak (for GFLOP/s
the multiply-add peak of the SIMD path in use, from csrc/peak.c).

The rungs come from `nnx.kernels.info()['<family>_rungs']`, so rungs added to the C code appear here by
themselves; a family without rungs is timed as the single compiled kernel ("compiled"). Before it is
timed, every rung's result is checked against the NumPy reference: the ladder never reports the speed
of a wrong answer. The calls take turns, so a burst of load from other processes hits all of them
alike; each figure is the best call (the one least disturbed).
"""
import argparse
import os
import platform
import sys
import time
from dataclasses import dataclass
from typing import Callable, Dict, Optional, Tuple

import numpy as np

import nnx
from nnx import kernels, reference

FAMILIES = ("gemm", "conv", "pool")
BLAS_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS")


@dataclass
class Problem:
    """One family's benchmark problem: the inputs, the kernel per rung, and how to check results."""

    family: str
    description: str
    unit: str                       # "GFLOP/s" or "GB/s"
    work: float                     # FLOPs or bytes per call
    inputs: Tuple[np.ndarray, ...]
    rungs: Dict[str, Callable]      # rung -> fn(*inputs), the compiled kernel on that rung
    reference: Callable             # fn(*inputs), NumPy
    torch_op: str                   # the PyTorch counterpart, a key of TORCH_OPS
    to_torch: Callable              # (torch, *inputs) -> the PyTorch call's inputs
    reduction_length: int           # length of the sums in one output element; 0: results are exact


def compiled_rungs(family, kernel):
    """rung -> call of `kernel`, from info(); a family without rungs is one 'compiled' rung."""
    names = kernels.info().get(f"{family}_rungs")
    if not names:
        return {"compiled": kernel}
    return {name: (lambda *args, name=name: kernel(*args, rung=name)) for name in names}


def gemm_problem(quick):
    n = 64 if quick else 512
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((n, n), np.float32), rng.standard_normal((n, n), np.float32)
    return Problem("gemm", f"C = A @ B, float32, m = k = n = {n}", "GFLOP/s", 2.0 * n**3, (a, b),
                   compiled_rungs("gemm", kernels.gemm), np.matmul, "matmul",
                   _torch_tensors, n)


def conv_problem(quick):
    # The reference CNN's second convolution (3x3, 32 -> 64 channels, valid) at batch 32.
    batch, size, c, f = (2, 8, 4, 8) if quick else (32, 13, 32, 64)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, size, size, c), np.float32)
    w = rng.standard_normal((3, 3, c, f), np.float32)
    geometry = ((1, 1), ((0, 0), (0, 0)), (1, 1), 1)  # strides, padding, dilation, groups
    out = size - 2
    flops = 2.0 * batch * out * out * 9 * c * f
    return Problem("conv", f"conv2d_forward, x {x.shape} (NHWC), kernel {w.shape}, valid, stride 1, "
                   f"float32", "GFLOP/s", flops, (x, w),
                   compiled_rungs("conv", lambda x, w, **rung:
                                  kernels.conv2d_forward(x, w, *geometry, **rung)),
                   lambda x, w: reference.conv2d_forward(x, w, *geometry),
                   "conv2d", _torch_conv_tensors, 9 * c)


def pool_problem(quick):
    # The reference CNN's first pooling (2x2 over 32 channels of 26x26) at batch 128.
    batch = 2 if quick else 128
    x = np.random.default_rng(0).standard_normal((batch, 26, 26, 32), np.float32)
    geometry = ((2, 2), (2, 2), ((0, 0), (0, 0)))  # pool size, strides, padding
    # Bytes moved: the input read once, the output and its int32 argmax written once.
    nbytes = x.nbytes + 2 * x.nbytes // 4
    return Problem("pool", f"max_pool2d_forward, x {x.shape} (NHWC), 2x2 windows, stride 2, float32 "
                   f"(bytes: x read, y and argmax written)", "GB/s", float(nbytes), (x,),
                   compiled_rungs("pool", lambda x, **rung:
                                  kernels.max_pool2d_forward(x, *geometry, **rung)),
                   lambda x: reference.max_pool2d_forward(x, *geometry),
                   "max_pool2d", _torch_tensors, 0)


PROBLEMS = {"gemm": gemm_problem, "conv": conv_problem, "pool": pool_problem}


# --- PyTorch, when it is importable (never required) -----------------------------------------------

TORCH_OPS = {
    "matmul": lambda torch: torch.matmul,
    "conv2d": lambda torch: torch.nn.functional.conv2d,
    "max_pool2d": lambda torch: lambda x: torch.nn.functional.max_pool2d(x, 2, return_indices=True),
}


def import_torch():
    """The torch module, or None when it is not installed."""
    try:
        import torch
    except ImportError:
        return None
    return torch


def _torch_tensors(torch, *arrays):
    """NHWC images become NCHW tensors in channels-last memory (the same bytes, PyTorch's fast layout)."""
    return tuple(torch.from_numpy(a).permute(0, 3, 1, 2) if a.ndim == 4 else torch.from_numpy(a)
                 for a in arrays)


def _torch_conv_tensors(torch, x, w):
    return _torch_tensors(torch, x) + (torch.from_numpy(np.ascontiguousarray(w.transpose(3, 2, 0, 1))),)


# --- the machine's peak -----------------------------------------------------------------------------

PEAK_METHOD = {
    "GFLOP/s": "the float32 multiply-add peak of the {simd} path on {threads}, measured by csrc/peak.c "
               "(12 independent FMA chains per thread in registers, no memory traffic)",
    "GB/s": "estimated as the best GB/s of a NumPy copy of an array the size of the input "
            "(bytes read + written)",
}


def measured_peak(unit, problem, quick):
    """(peak, how it was measured) in `unit`: what this machine reaches at best, on the current SIMD path
    and threads. GFLOP/s: `nnx.kernels.fma_peak`; GB/s: a NumPy copy of the input."""
    if unit == "GB/s":
        src = problem.inputs[0]
        dst = np.empty_like(src)
        best = best_times({"copy": lambda: np.copyto(dst, src)}, repeats=30, budget_s=1.0)["copy"]
        return 2 * src.nbytes / best / 1e9, PEAK_METHOD[unit]
    peak = kernels.fma_peak(seconds=0.05 if quick else 0.5)
    threads = nnx.get_num_threads()
    return peak, PEAK_METHOD[unit].format(simd=kernels.info()["simd"],
                                          threads=f"{threads} thread{'s' if threads > 1 else ''}")


# --- timing -----------------------------------------------------------------------------------------

def best_times(calls, repeats, budget_s, block=3):
    """{name: best seconds} of each call (after a warm-up call), over up to `repeats` turns.

    The calls take turns, so that all see the same machine load; within a turn one call runs `block`
    times in a row, so that the first call after a switch (which may wait for another library's
    OpenMP threads to stop spinning) is not the only one timed. A call stops once it has used
    `budget_s` seconds (after at least two turns): a slow rung costs a few calls, not minutes."""
    best, spent = {}, {}
    for name, call in calls.items():
        call()
        best[name], spent[name] = float("inf"), 0.0
    for turn in range(repeats):
        for name, call in calls.items():
            if turn >= 2 and spent[name] > budget_s:
                continue
            for _ in range(block):
                start = time.perf_counter()
                call()
                elapsed = time.perf_counter() - start
                best[name], spent[name] = min(best[name], elapsed), spent[name] + elapsed
    return best


def check_result(problem, rung, result, expected):
    """Raise if a rung's result is not the reference's to rounding (|error| <= k * eps * (|A| |B|))."""
    got = result[0] if isinstance(result, tuple) else result
    want = expected[0] if isinstance(expected, tuple) else expected
    if problem.reduction_length == 0:
        ok = np.array_equal(got, want)
    else:
        magnitudes = problem.reference(*(np.abs(a) for a in problem.inputs))
        bound = problem.reduction_length * np.finfo(want.dtype).eps * magnitudes
        ok = got.shape == want.shape and bool(np.all(np.abs(got - want) <= bound))
    if not ok:
        raise RuntimeError(f"nnx.ladder: {problem.family} rung {rung!r} disagrees with the NumPy reference")


# --- the table --------------------------------------------------------------------------------------

@dataclass
class Row:
    name: str
    rate: float                  # in the problem's unit
    vs_numpy: float
    vs_torch: Optional[float]
    share_of_peak: float


@dataclass
class Ladder:
    problem: Problem
    rows: list
    peak: float
    peak_method: str
    threads: int


def run(family, threads=None, quick=False, with_torch=True, repeats=20, budget_s=4.0):
    """Time every rung of `family` plus NumPy (and PyTorch when `with_torch` and it is installed).

    Returns a Ladder with one Row per contender, rungs first in ladder order."""
    if family not in PROBLEMS:
        raise ValueError(f"nnx.ladder: unknown family {family!r}; choose one of {', '.join(FAMILIES)}")
    problem = PROBLEMS[family](quick)
    expected = problem.reference(*problem.inputs)
    for rung, fn in problem.rungs.items():  # before any timing: never time a wrong answer
        check_result(problem, rung, fn(*problem.inputs), expected)
    calls = {rung: (lambda fn=fn: fn(*problem.inputs)) for rung, fn in problem.rungs.items()}
    calls["numpy"] = lambda: problem.reference(*problem.inputs)
    torch = import_torch() if with_torch else None
    before = nnx.get_num_threads(), torch.get_num_threads() if torch else None
    if threads is not None:
        nnx.set_num_threads(threads)
    try:
        if torch is not None:
            torch.set_num_threads(nnx.get_num_threads())
            torch_op = TORCH_OPS[problem.torch_op](torch)
            torch_inputs = problem.to_torch(torch, *problem.inputs)
            calls["torch"] = lambda: torch_op(*torch_inputs)
        best = best_times(calls, repeats, budget_s)
        peak, method = measured_peak(problem.unit, problem, quick)
        rate = {name: problem.work / t / 1e9 for name, t in best.items()}
        rows = [Row(name, r, r / rate["numpy"], r / rate["torch"] if "torch" in rate else None, r / peak)
                for name, r in rate.items()]
        return Ladder(problem, rows, peak, method, nnx.get_num_threads())
    finally:
        nnx.set_num_threads(before[0])
        if torch is not None:
            torch.set_num_threads(before[1])


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def format_ladder(ladder):
    """The header lines and a Markdown table, as printed by the command."""
    info, p = kernels.info(), ladder.problem
    blas = next((f"{v} ({k})" for k in BLAS_THREAD_VARIABLES if (v := os.environ.get(k))), "its default")
    lines = [
        f"nnx ladder: {p.family}",
        f"CPU:     {cpu_name()}",
        f"SIMD:    {info['simd']} (available: {', '.join(info['simd_available'])})",
        f"threads: {ladder.threads} (nnx, and torch when timed); NumPy's BLAS: {blas}",
        f"problem: {p.description}",
        f"peak:    {ladder.peak:.1f} {p.unit}, {ladder.peak_method}",
        "",
        f"| rung | {p.unit} | x numpy | x torch | % of peak |",
        "|---|---:|---:|---:|---:|",
    ]
    for row in ladder.rows:
        torch = "-" if row.vs_torch is None else f"{row.vs_torch:.2f}"
        lines.append(f"| {row.name} | {row.rate:.2f} | {row.vs_numpy:.2f} | {torch} | "
                     f"{100 * row.share_of_peak:.0f}% |")
    return "\n".join(lines)


def pyplot():
    """matplotlib.pyplot on a file-only backend, or a clear exit when matplotlib is not installed."""
    try:
        import matplotlib
    except ImportError:
        raise SystemExit("nnx.ladder: --plot needs matplotlib; install it with `pip install matplotlib`")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def plot_ladder(ladder, path):
    """A horizontal bar chart of the table, written atomically to `path` (format from its extension)."""
    plt = pyplot()
    p = ladder.problem
    names = [row.name for row in ladder.rows]
    fig, ax = plt.subplots(figsize=(7, 0.5 * len(names) + 1.5))
    rates = [row.rate for row in ladder.rows][::-1]
    bars = ax.barh(names[::-1], rates, color="tab:blue")
    ax.bar_label(bars, labels=[f"{r:.3g}" for r in rates], padding=3)
    ax.axvline(ladder.peak, color="tab:red", linestyle="--", label=f"measured peak {ladder.peak:.1f}")
    ax.set_xscale("log")  # the rungs span orders of magnitude: on a linear axis the first ones vanish
    ax.set_xlabel(f"{p.unit} (log scale)")
    ax.set_title(f"{p.family}: {kernels.info()['simd']}, {ladder.threads} thread(s)")
    ax.legend(loc="lower right")
    fig.tight_layout()
    root, ext = os.path.splitext(path)
    tmp = f"{root}.tmp{os.getpid()}{ext}"
    try:
        fig.savefig(tmp)
        os.replace(tmp, path)
    finally:
        plt.close(fig)
        if os.path.exists(tmp):
            os.remove(tmp)


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m nnx.ladder", description=__doc__.splitlines()[0])
    parser.add_argument("family", choices=FAMILIES, help="the kernel family to time")
    parser.add_argument("--threads", type=int, default=None, help="threads for nnx, NumPy and PyTorch")
    parser.add_argument("--plot", metavar="PATH", help="also draw the table as a bar chart (matplotlib)")
    parser.add_argument("--no-torch", action="store_true",
                        help="leave PyTorch out even when it is installed (importing it takes seconds)")
    parser.add_argument("--quick", action="store_true", help=argparse.SUPPRESS)  # tiny sizes, for tests
    args = parser.parse_args(argv)
    if args.threads is not None and args.threads < 1:
        parser.error(f"--threads must be at least 1, got {args.threads}")
    return args


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    wanted = str(args.threads)
    if args.threads is not None and any(os.environ.get(k) != wanted for k in BLAS_THREAD_VARIABLES):
        # NumPy's BLAS reads its thread count only at start-up: start again with it set.
        env = {**os.environ, **{k: wanted for k in BLAS_THREAD_VARIABLES}}
        os.execve(sys.executable, [sys.executable, "-m", "nnx.ladder", *argv], env)
    if args.plot:
        pyplot()  # fail before minutes of timing, not after
    ladder = run(args.family, threads=args.threads, quick=args.quick, with_torch=not args.no_torch,
                 repeats=5 if args.quick else 20, budget_s=0.2 if args.quick else 4.0)
    print(format_ladder(ladder), flush=True)
    if args.plot:
        plot_ladder(ladder, args.plot)
        print(f"\nbar chart written to {args.plot}")


if __name__ == "__main__":
    main()
