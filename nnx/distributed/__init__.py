"""Data-parallel training on MPI (through mpi4py), with Horovod's shape of API.

    import nnx.distributed as dist
    dist.init()
    x, y = dist.shard(x_train, y_train)                  # this rank's share of the data
    model.compile(optimizer=dist.DistributedOptimizer("adam"), loss=...)
    model.fit(x, y, batch_size=32, callbacks=[dist.callbacks.MetricAverage(),
                                              dist.callbacks.BroadcastWeights(0)])

Run with `mpirun -n 4 python train.py` (on several machines: `mpirun -n 8 --hostfile hosts ...`). Each
rank trains on its shard; `DistributedOptimizer` averages the gradients over the ranks before every
update, so N ranks with batch b train like one process with batch N*b. Only rank 0 prints progress
and writes checkpoints. Without mpi4py, or outside `mpirun`, `init()` gives a world of size 1 and the
same script runs as a single process. See docs/distributed.md.
"""
import os

from nnx.distributed import callbacks  # noqa: F401
from nnx.distributed.comm import (allreduce, barrier, broadcast, local_rank, local_size, rank, shard,
                                  size)
from nnx.distributed import comm as _comm

__all__ = ["init", "rank", "size", "local_rank", "local_size", "barrier", "allreduce", "broadcast",
           "shard", "DistributedOptimizer", "callbacks", "DEFAULT_BUCKET_BYTES"]

# measured with benchmarks/bench_distributed.py (reference CNN, 2 ranks on one machine, 64 KiB to
# 1 MiB): 256 KiB was fastest; docs/distributed.md has the table and why bigger models want bigger
DEFAULT_BUCKET_BYTES = 256 * 1024


def init():
    """Join the MPI job (a world of one outside mpirun). Ranks that share a machine split its cores
    between them (set_num_threads after init() to choose otherwise)."""
    _comm.init()
    if _comm.local_size() > 1:
        import nnx
        nnx.set_num_threads(max(1, (os.cpu_count() or 1) // _comm.local_size()))


def DistributedOptimizer(optimizer, bucket_bytes=DEFAULT_BUCKET_BYTES):
    """The optimizer (an instance, or a name as `compile` takes), with `apply_gradients` averaging the
    gradients over every rank first, in buckets of about `bucket_bytes` sent while backward still
    runs. It stays an instance of its own class, so a model saved with it loads anywhere as a plain
    optimizer. In a world of one it is the optimizer unchanged."""
    from nnx import optimizers
    from nnx.distributed.reducer import GradientAverager
    optimizer = optimizers.get(optimizer)
    init()
    if _comm.size() == 1:
        return optimizer
    averager = GradientAverager(_comm.comm(), bucket_bytes)
    local_apply = optimizer.apply_gradients

    def apply_gradients(grads_and_vars):
        return local_apply(averager.average(grads_and_vars))

    optimizer.apply_gradients = apply_gradients
    optimizer.gradient_averager = averager
    return optimizer
