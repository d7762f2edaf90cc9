"""The communicator: MPI through mpi4py when the process runs under `mpirun`, else a world of one.

Everything here works on NumPy arrays and hands their buffers to MPI directly (mpi4py's buffer
interface), so nothing is pickled or copied on the way.
"""
import os
import sys
import traceback

import numpy as np

from nnx.utils import world

# launchers set one of these in every rank's environment; without them there is no job to join
_LAUNCH_VARIABLES = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "MPI_LOCALNRANKS")

_comm = None        # mpi4py's COMM_WORLD, or None for a world of one
_local = (0, 1)     # (local rank, processes on this node)
_initialised = False


def _launched_by_mpirun():
    return any(v in os.environ for v in _LAUNCH_VARIABLES)


def init():
    """Join the MPI job if there is one (idempotent). Without mpi4py, or outside `mpirun`, this is a
    world of size 1 and every collective returns its input."""
    global _comm, _local, _initialised
    if _initialised:
        return
    _initialised = True
    if not _launched_by_mpirun():
        return
    try:
        from mpi4py import MPI
    except ImportError as e:
        raise ImportError('nnx.distributed: this process was started by mpirun but mpi4py is not '
                          'installed; pip install "nnx[mpi]" (it needs an MPI library such as '
                          'OpenMPI: apt-get install libopenmpi-dev openmpi-bin)') from e
    _comm = MPI.COMM_WORLD
    node = _comm.Split_type(MPI.COMM_TYPE_SHARED)
    _local = (node.Get_rank(), node.Get_size())
    node.Free()
    world.set_world(_comm.Get_rank() == 0, lambda flag: bool(_comm.allreduce(int(flag), op=MPI.MAX)))
    if _comm.Get_size() > 1:
        _abort_on_uncaught_exceptions()


def _abort_on_uncaught_exceptions():
    """An exception that ends one rank must end the job: the others would wait in a collective
    forever. Print it (with the rank) and abort the whole communicator."""
    previous = sys.excepthook

    def hook(kind, value, tb):
        sys.stderr.write(f"nnx.distributed: rank {rank()} failed; aborting the job\n")
        sys.stderr.write("".join(traceback.format_exception(kind, value, tb)))
        sys.stderr.flush()
        if kind is KeyboardInterrupt:
            previous(kind, value, tb)
        _comm.Abort(1)

    sys.excepthook = hook


def comm():
    """mpi4py's COMM_WORLD, or None in a world of one."""
    init()
    return _comm


def rank():
    init()
    return 0 if _comm is None else _comm.Get_rank()


def size():
    init()
    return 1 if _comm is None else _comm.Get_size()


def local_rank():
    """This process's rank among the processes on its own machine."""
    init()
    return _local[0]


def local_size():
    init()
    return _local[1]


def barrier():
    if comm() is not None:
        _comm.Barrier()


def _mpi_op(op, who):
    from mpi4py import MPI
    ops = {"sum": MPI.SUM, "mean": MPI.SUM, "max": MPI.MAX, "min": MPI.MIN}
    if op not in ops:
        raise ValueError(f"{who}: op must be one of {sorted(ops)}, got {op!r}")
    return ops[op]


def allreduce(array, op="mean"):
    """The elementwise mean (or 'sum', 'max', 'min') of `array` over every rank; a new array of the
    same shape and dtype. Scalars come back as 0-d arrays."""
    a = np.ascontiguousarray(array)
    if op not in ("mean", "sum", "max", "min"):
        raise ValueError(f"allreduce: op must be 'mean', 'sum', 'max' or 'min', got {op!r}")
    if a.dtype.kind not in "fiu":
        raise TypeError(f"allreduce: expected a numeric array, got dtype {a.dtype}")
    if comm() is None:
        return a.copy()
    out = np.empty_like(a)
    _comm.Allreduce(a, out, op=_mpi_op(op, "allreduce"))
    if op == "mean":
        out = (out / _comm.Get_size()).astype(a.dtype, copy=False)
    return out


def broadcast(array, root=0):
    """`array` as it is on rank `root`, on every rank (a new array; shapes and dtypes must agree)."""
    a = np.ascontiguousarray(array)
    if comm() is None:
        if root != 0:
            raise ValueError(f"broadcast: root {root} is out of range for a world of size 1")
        return a.copy()
    if not 0 <= root < _comm.Get_size():
        raise ValueError(f"broadcast: root {root} is out of range for a world of size {_comm.Get_size()}")
    out = a.copy()
    _comm.Bcast(out, root=root)
    return out


def shard(*arrays):
    """This rank's share of each array along axis 0: every size()-th sample starting at rank().

    The shards are disjoint, cover the data and are the same on every run. Interleaving (rather than
    contiguous blocks) keeps the data order of one process: with shuffle=False, batch k of every rank
    holds samples of batch k of one process that uses size() times the batch, so N ranks with batch b
    train exactly as one process with batch N*b. Returns one array, or a tuple for several."""
    if not arrays:
        raise ValueError("shard: expected at least one array")
    n = len(arrays[0])
    for a in arrays[1:]:
        if len(a) != n:
            raise ValueError(f"shard: arrays must have the same number of samples, got "
                             f"{[len(a) for a in arrays]}")
    r, s = rank(), size()
    if n < s:
        raise ValueError(f"shard: {n} samples cannot be split over {s} ranks")
    parts = tuple(a[r::s] for a in arrays)
    return parts[0] if len(parts) == 1 else parts
