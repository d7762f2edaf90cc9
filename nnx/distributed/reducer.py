"""Averaging gradients over ranks in buckets, overlapped with backward.

The gradients are grouped into buckets of about `bucket_bytes` each, in reverse order of the weights
(backward produces the last layer's gradients first). Each bucket owns one flat NumPy buffer. From the
second step on, a grad-ready hook on every weight copies its gradient into its bucket the moment
backward has finished it; when a bucket is full, a non-blocking in-place allreduce of the buffer
starts, and the rest of backward runs while it travels. `apply_gradients` then waits for the buckets,
divides by the number of ranks and hands the averaged views to the real optimizer.

The first step (hooks not yet placed), a bucket a hook could not fill (a None gradient), a bucket
whose gradients changed after it was sent (two backward passes before one update) and gradients that
are not the weights' own `.grad` arrays (a custom loop that transforms them) are all reduced
synchronously from the gradients actually passed to `apply_gradients`, so the result is always the
mean of what every rank passed. Collectives run in the same order on every rank because every rank
runs the same graph.

Cost per step: one allreduce per bucket, 2 (N-1)/N of the bucket's bytes sent per rank on a ring.
"""
import time

import numpy as np

from nnx.autograd import register_grad_ready_hook
from nnx.tensor import Tensor


def _array(weight):
    return weight.data if isinstance(weight, Tensor) else np.asarray(weight)


def _named(weight):
    name = getattr(weight, "name", None)
    return f" '{name}'" if name else ""


class _Bucket:
    __slots__ = ("weights", "offsets", "buffer", "filled", "request", "stale", "started_at")

    def __init__(self, weights, dtype):
        self.weights = weights
        sizes = [_array(w).size for w in weights]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
        self.buffer = np.empty(int(self.offsets[-1]), dtype)
        self.filled = {}            # id(weight) -> the gradient array copied in
        self.request = None
        self.stale = False
        self.started_at = 0.0


class GradientAverager:
    """Averages (gradient, weight) pairs over every rank; see the module docstring."""

    def __init__(self, comm, bucket_bytes):
        if isinstance(bucket_bytes, bool) or not isinstance(bucket_bytes, (int, np.integer)) \
                or bucket_bytes < 1:
            raise ValueError(f"DistributedOptimizer: bucket_bytes must be a positive int, got "
                             f"{bucket_bytes!r}")
        self.comm = comm
        self.bucket_bytes = int(bucket_bytes)
        self.buckets = None
        self.where = {}             # id(weight) -> (bucket, index in bucket)
        self.handles = []
        self.stats = {"steps": 0, "allreduces": 0, "overlapped": 0, "wait_seconds": 0.0,
                      "sync_seconds": 0.0}

    # --- planning: buckets and hooks, once ---------------------------------------------------------
    def _plan(self, weights):
        self.buckets, current, size, dtype = [], [], 0, None
        for w in reversed(weights):
            a = _array(w)
            if a.dtype.kind != "f":
                raise TypeError(f"DistributedOptimizer: weight{_named(w)} must be floating point, got "
                                f"dtype {a.dtype}")
            nbytes = a.nbytes
            if current and (size + nbytes > self.bucket_bytes or a.dtype != dtype):
                self.buckets.append(_Bucket(current, dtype))
                current, size = [], 0
            current.append(w)
            size += nbytes
            dtype = a.dtype
        if current:
            self.buckets.append(_Bucket(current, dtype))
        for bucket in self.buckets:
            for i, w in enumerate(bucket.weights):
                self.where[id(w)] = (bucket, i)
                if isinstance(w, Tensor) and w.requires_grad and w._node is None:
                    self.handles.append(register_grad_ready_hook(w, self._on_grad_ready))

    def _on_grad_ready(self, weight):
        bucket, i = self.where[id(weight)]
        grad = weight.grad
        if grad is None:
            return
        if bucket.request is not None:       # a second backward before the update: resend later
            bucket.stale = True
            return
        lo, hi = bucket.offsets[i], bucket.offsets[i + 1]
        bucket.buffer[lo:hi] = grad.reshape(-1)
        bucket.filled[id(weight)] = grad
        if len(bucket.filled) == len(bucket.weights):
            self._start(bucket)

    def _start(self, bucket):
        from mpi4py import MPI
        bucket.started_at = time.perf_counter()
        bucket.request = self.comm.Iallreduce(MPI.IN_PLACE, bucket.buffer, op=MPI.SUM)

    # --- the update --------------------------------------------------------------------------------
    def average(self, grads_and_vars):
        """[(mean gradient over ranks, weight), ...] for the pairs given; a None gradient counts as
        zeros (another rank may have one for that weight)."""
        from mpi4py import MPI
        pairs = list(grads_and_vars)
        weights = [v for _, v in pairs]
        if self.buckets is None or any(id(w) not in self.where for w in weights) \
                or len(weights) != len(self.where):
            self._reset()
            self._plan(weights)
        given = {id(v): g for g, v in pairs}
        out = {}
        for bucket in self.buckets:
            for w in bucket.weights:         # the hook's copy must be the gradient passed in
                g = given.get(id(w))
                g = g.data if isinstance(g, Tensor) else g
                if bucket.filled.get(id(w)) is not g:
                    bucket.stale = True
            if bucket.request is not None:
                t = time.perf_counter()
                bucket.request.Wait()
                self.stats["wait_seconds"] += time.perf_counter() - t
                self.stats["overlapped"] += 1
                bucket.request = None
            if bucket.stale or not bucket.filled:
                t = time.perf_counter()
                for i, w in enumerate(bucket.weights):
                    g = given.get(id(w))
                    lo, hi = bucket.offsets[i], bucket.offsets[i + 1]
                    if g is None:
                        bucket.buffer[lo:hi] = 0
                    else:
                        bucket.buffer[lo:hi] = np.asarray(g.data if isinstance(g, Tensor) else g).reshape(-1)
                self.comm.Allreduce(MPI.IN_PLACE, bucket.buffer, op=MPI.SUM)
                self.stats["sync_seconds"] += time.perf_counter() - t
            self.stats["allreduces"] += 1
            bucket.buffer /= self.comm.Get_size()
            for i, w in enumerate(bucket.weights):
                lo, hi = bucket.offsets[i], bucket.offsets[i + 1]
                out[id(w)] = bucket.buffer[lo:hi].reshape(_array(w).shape)
            bucket.filled, bucket.stale = {}, False
        self.stats["steps"] += 1
        return [(out[id(v)], v) for _, v in pairs]

    def _reset(self):
        for h in self.handles:
            h.remove()
        self.handles, self.where, self.buckets = [], {}, None
