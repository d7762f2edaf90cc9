"""Run under mpirun by tests/test_distributed.py: the last rank raises while the others wait in a
collective; the job must end (with the error) instead of hanging."""
import numpy as np

import nnx.distributed as dist

dist.init()
if dist.rank() == dist.size() - 1:
    raise ValueError("this rank failed on purpose")
dist.allreduce(np.ones(3))      # never completes: the last rank is gone
