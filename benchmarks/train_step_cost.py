"""What a training step of the reference CNN costs, and how close nnx runs to the machine's peak.

    PYTHONPATH=. python benchmarks/train_step_cost.py [--batch-size 32] [--steps 40] [--threads 1]
                                                      [--ghz G] [--flop-per-cycle 32]

Prints the FLOPs of one training step and of one MNIST epoch (counted from the layers' `flops`, as
`summary(profile=True)` counts them), the GFLOP/s a real training step reaches (`fit` on `steps`
batches: forward, loss, backward, Adam), the GFLOP/s of a large square GEMM (nnx.kernels.gemm, the
best the kernels reach), and both as a fraction of the peak:

    peak = threads x clock (GHz) x FLOP per cycle per core.

The clock defaults to /proc/cpuinfo's "cpu MHz" (in a virtual machine often the base clock, not the
boost clock the core really runs at: a GEMM above 100% of that "peak" says so); FLOP per cycle
defaults to 32, float32 on Zen 4 (two 256-bit FMA pipes: AVX-512 instructions run as two halves, so
AVX2+FMA and AVX-512 share it).
Times are CPU time of the process (time.process_time), so on a machine shared with other jobs they
leave out the time spent waiting for a core; with one thread that is the time the core was busy.
"""
import argparse
import time

import numpy as np

import nnx
import nnx.kernels
from nnx.examples import mnist_cnn
from nnx.models.summary import layer_flops

TRAIN_IMAGES, TEST_IMAGES = 60000, 10000


def cpu_ghz():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("cpu MHz"):
                return float(line.split(":")[1]) / 1000
    raise RuntimeError("no 'cpu MHz' in /proc/cpuinfo; pass --ghz")


def flops_per_sample(model):
    forward = backward = 0
    for i, (layer, in_shape, _) in enumerate(model.layer_shapes()):
        counted = layer_flops(layer, in_shape, first=(i == 0))
        if counted is not None:
            forward += counted[0]
            backward += counted[1]
    return forward, backward


def cpu_seconds(fn, repeats):
    fn()                                     # warm-up
    times = []
    for _ in range(repeats):
        start = time.process_time()
        fn()
        times.append(time.process_time() - start)
    return float(np.median(times))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=40, help="training steps timed per repeat")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--ghz", type=float, default=None)
    parser.add_argument("--flop-per-cycle", type=float, default=32.0)
    args = parser.parse_args(argv)
    nnx.set_num_threads(args.threads)
    nnx.manual_seed(0)
    info = nnx.kernels.info()
    ghz = args.ghz or cpu_ghz()
    peak = args.threads * ghz * args.flop_per_cycle
    print(f"SIMD path {info['simd']}, {args.threads} thread(s), {ghz:.2f} GHz x "
          f"{args.flop_per_cycle:g} FLOP/cycle: peak {peak:.1f} GFLOP/s")

    model = mnist_cnn.build_model()
    forward, backward = flops_per_sample(model)
    step = (forward + backward) * args.batch_size
    epoch = (forward + backward) * TRAIN_IMAGES + forward * TEST_IMAGES
    print(f"per sample: forward {forward / 1e6:.2f} MFLOP, backward {backward / 1e6:.2f} MFLOP")
    print(f"one training step (batch {args.batch_size}): {step / 1e9:.3f} GFLOP; one epoch "
          f"(60,000 training + 10,000 validation images): {epoch / 1e12:.3f} TFLOP")

    (x, y), _ = mnist_cnn.load(limit=args.batch_size * args.steps)
    seconds = cpu_seconds(lambda: model.fit(x, y, batch_size=args.batch_size, epochs=1, verbose=0,
                                            shuffle=False), repeats=3) / args.steps
    achieved = step / seconds / 1e9
    print(f"training step: {seconds * 1e3:.1f} ms CPU -> {achieved:.1f} GFLOP/s "
          f"({achieved / peak:.1%} of peak); an epoch at that rate: "
          f"{seconds * TRAIN_IMAGES / args.batch_size / args.threads:.0f} s on {args.threads} core(s)")

    n = 1024
    a, b = (np.random.default_rng(i).standard_normal((n, n)).astype(np.float32) for i in (1, 2))
    gemm = 2 * n ** 3 / cpu_seconds(lambda: nnx.kernels.gemm(a, b), repeats=5) / 1e9
    print(f"gemm {n}x{n}x{n} float32: {gemm:.1f} GFLOP/s ({gemm / peak:.1%} of peak); the training "
          f"step runs at {achieved / gemm:.1%} of the GEMM's rate")


if __name__ == "__main__":
    main()
