"""Print a Markdown table of convolution times: nnx vs PyTorch CPU, per layer, batch and thread count.

    python benchmarks/conv_table.py [--repeats 30] [--threads 1 2] [--passes forward forward+backward]
                                    [--simd avx2+fma] [--layers conv2] [--batches 32]

The reference CNN's three convolutions (benchmarks/bench_conv.py) at batch 32 and 256. nnx and PyTorch
(NCHW and channels-last; the faster of the two is the "torch" column) are timed in turns (see
pool_table.interleaved_times_us), so the ratio compares numbers taken side by side: it holds up better
than the absolute times on a shared machine. A ratio above 1 means nnx is faster. `--passes
input-gradient weight-gradient` times one backward kernel alone (conv1 has no input gradient: skipped).

It measures the installed nnx (`PYTHONPATH=.` measures the checkout); `--simd avx2+fma` (or the
environment variable NNX_SIMD) forces a narrower SIMD path.
"""
import argparse
import sys

import nnx
import nnx.kernels
from bench_conv import BATCHES, GRADIENTS, LAYERS, PASSES, gflop, make_call, needs_input_grad, torch
from pool_table import interleaved_times_us


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--passes", nargs="+", default=list(PASSES), choices=PASSES + GRADIENTS)
    parser.add_argument("--simd", help="force a SIMD path: avx512, avx2+fma or portable")
    parser.add_argument("--layers", nargs="+", default=list(LAYERS), choices=list(LAYERS))
    parser.add_argument("--batches", type=int, nargs="+", default=list(BATCHES))
    args = parser.parse_args()
    if args.simd:
        nnx.kernels.set_simd(args.simd)
    if torch is None:
        sys.exit("conv_table.py needs torch for its comparison columns")
    print(f"nnx {nnx.kernels.info()['simd']}, torch {torch.__version__}; times in ms (best turn median of 5 calls)\n")
    print("| threads | layer | pass | batch | nnx ms | nnx GFLOP/s | torch NCHW ms | torch CL ms | torch / nnx |")
    print("|---:|---|---|---:|---:|---:|---:|---:|---:|")
    before = nnx.get_num_threads()
    for threads in args.threads:
        nnx.set_num_threads(threads)
        torch.set_num_threads(threads)
        for layer in args.layers:
            for pass_ in args.passes:
                if pass_ == "input-gradient" and not needs_input_grad(layer):
                    continue
                for batch in args.batches:
                    t = interleaved_times_us({impl: make_call(impl, pass_, batch, layer)
                                              for impl in ("nnx", "torch_nchw", "torch_channels_last")},
                                             args.repeats)
                    nnx_t, nchw, cl = t["nnx"] / 1e3, t["torch_nchw"] / 1e3, t["torch_channels_last"] / 1e3
                    print(f"| {threads} | {layer} | {pass_} | {batch} | {nnx_t:.2f} | "
                          f"{gflop(layer, batch, pass_) / nnx_t * 1e3:.1f} | {nchw:.2f} | {cl:.2f} | "
                          f"{min(nchw, cl) / nnx_t:.2f} |", flush=True)
    nnx.set_num_threads(before)


if __name__ == "__main__":
    main()
