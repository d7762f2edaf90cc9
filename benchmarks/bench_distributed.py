"""Data-parallel training on one machine: the reference CNN on MNIST, 1 rank x 2 threads against
2 ranks x 1 thread (and 3 ranks x 1 thread, oversubscribed), same global batch; for every multi-rank
run the time spent waiting for allreduce, how much of the allreduce traffic overlapped backward, and
an allreduce timing over message sizes to fit the alpha-beta model in docs/distributed.md.

    python benchmarks/bench_distributed.py [--steps 150] [--global-batch 64] [--buckets 16384,65536,...]

"allreduce blocking" is what the step's buckets cost reduced one after another with nothing to hide
behind; "waited for" is what the update really waited (it includes waiting for a slower rank);
"finished during backward" counts the buckets whose allreduce was complete before the update began,
i.e. entirely hidden behind backward.

It starts its own `mpirun` jobs (as root it adds --allow-run-as-root). Needs OpenMPI and mpi4py.
Timings on a shared machine are noisy: compare figures taken in the same run.
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np


def worker(args):
    import nnx
    import nnx.distributed as dist
    from nnx.examples import mnist_cnn
    dist.init()
    nnx.set_num_threads(args.threads)
    nnx.manual_seed(0)
    per_rank = args.global_batch // dist.size()
    (x, y), _ = mnist_cnn.load(limit=args.global_batch * (args.steps + args.warmup))
    x, y = dist.shard(x, y)
    optimizer = dist.DistributedOptimizer("adam", bucket_bytes=args.bucket)
    model = mnist_cnn.build_model(optimizer)
    warm = per_rank * args.warmup
    model.fit(x[:warm], y[:warm], batch_size=per_rank, verbose=0, shuffle=False,
              callbacks=[dist.callbacks.BroadcastWeights(0)])
    averager = getattr(model.optimizer, "gradient_averager", None)
    if averager is not None:
        averager.stats.update(steps=0, allreduces=0, overlapped=0, completed_in_backward=0,
                              wait_seconds=0.0, sync_seconds=0.0)
    dist.barrier()
    start = time.perf_counter()
    model.fit(x[warm:], y[warm:], batch_size=per_rank, verbose=0, shuffle=False)
    dist.barrier()
    seconds = time.perf_counter() - start
    result = {"ranks": dist.size(), "threads": args.threads, "bucket": args.bucket,
              "steps_per_s": args.steps / seconds}
    if averager is not None:
        from mpi4py import MPI
        # the same buckets reduced blocking, with nothing to overlap: the cost overlap can hide
        t = time.perf_counter()
        for _ in range(20):
            for b in averager.buckets:
                averager.comm.Allreduce(MPI.IN_PLACE, b.buffer, op=MPI.SUM)
        blocking = (time.perf_counter() - t) / 20
        s = averager.stats
        exposed = (s["wait_seconds"] + s["sync_seconds"]) / max(1, s["steps"])
        result.update(buckets=len(averager.buckets), allreduce_ms_blocking=1e3 * blocking,
                      allreduce_ms_exposed=1e3 * exposed,
                      done_in_backward=s["completed_in_backward"] / max(1, s["allreduces"]),
                      started_in_backward=s["overlapped"] / max(1, s["allreduces"]))
        result["alpha_beta"] = allreduce_sizes(averager.comm)
    if dist.rank() == 0:
        print("RESULT " + json.dumps(result), flush=True)


def allreduce_sizes(comm):
    """Seconds per float32 allreduce for message sizes 4 B .. 4 MB (median of repeats)."""
    from mpi4py import MPI
    out = {}
    for n in (1, 1024, 16384, 262144, 1048576):
        buf = np.ones(n, np.float32)
        times = []
        for _ in range(30 if n < 262144 else 8):
            comm.Barrier()
            t = time.perf_counter()
            comm.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM)
            times.append(time.perf_counter() - t)
        out[str(4 * n)] = float(np.median(times))
    return out


def launch(ranks, threads, bucket, args):
    command = ["mpirun", "--oversubscribe", "-n", str(ranks)]
    if os.geteuid() == 0:
        command.insert(1, "--allow-run-as-root")
    command += [sys.executable, os.path.abspath(__file__), "--worker", "--threads", str(threads),
                "--bucket", str(bucket), "--steps", str(args.steps), "--warmup", str(args.warmup),
                "--global-batch", str(args.global_batch)]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return json.loads(next(line[7:] for line in out.splitlines() if line.startswith("RESULT ")))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--bucket", type=int, default=262144)
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--global-batch", type=int, default=64)
    parser.add_argument("--buckets", default="16384,65536,262144,1048576",
                        help="bucket sizes (bytes) to compare for 2 ranks")
    args = parser.parse_args()
    if args.worker:
        return worker(args)
    rows = [launch(1, 2, args.bucket, args)]
    rows += [launch(2, 1, int(b), args) for b in args.buckets.split(",")]
    rows.append(launch(3, 1, args.bucket, args))
    print(f"reference CNN, global batch {args.global_batch}, {args.steps} steps after {args.warmup} warm-up")
    print("| ranks x threads | bucket (KiB) | buckets | steps/s | allreduce blocking (ms/step) | "
          "waited for (ms/step) | started during backward | finished during backward |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        if r["ranks"] == 1:
            print(f"| 1 x {r['threads']} | - | - | {r['steps_per_s']:.1f} | - | - | - | - |")
            continue
        print(f"| {r['ranks']} x {r['threads']} | {r['bucket'] // 1024} | {r['buckets']} | "
              f"{r['steps_per_s']:.1f} | {r['allreduce_ms_blocking']:.2f} | {r['allreduce_ms_exposed']:.2f} | "
              f"{100 * r['started_in_backward']:.0f} % | {100 * r['done_in_backward']:.0f} % |")
    for r in rows[1:]:
        if r["bucket"] == args.bucket:
            print(f"allreduce seconds by message bytes, {r['ranks']} ranks: {json.dumps(r['alpha_beta'])}")


if __name__ == "__main__":
    main()
