"""Run under mpirun by tests/test_distributed.py: each rank writes what the collectives gave it to
OUT.<rank>.npz."""
import sys

import numpy as np

import nnx.distributed as dist


def main(out):
    dist.init()
    r, n = dist.rank(), dist.size()
    mine = np.arange(6, dtype=np.float32).reshape(2, 3) + 10 * r
    ids = np.arange(101)
    np.savez(f"{out}.{r}.npz", rank=r, size=n, mean=dist.allreduce(mine), total=dist.allreduce(mine, "sum"),
             biggest=dist.allreduce(mine, "max"), from_last=dist.broadcast(mine, root=n - 1),
             shard=dist.shard(ids), shard_again=dist.shard(ids), local_rank=dist.local_rank())
    dist.barrier()


if __name__ == "__main__":
    main(sys.argv[1])
