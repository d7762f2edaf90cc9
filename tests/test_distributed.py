"""nnx.distributed: a world of one in this process, and real MPI jobs of 2 and 3 ranks (mpirun)."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import nnx
import nnx.distributed as dist
from nnx.autograd import register_grad_ready_hook

PROGRAMS = Path(__file__).parent / "mpi_programs"
ROOT = Path(__file__).resolve().parent.parent


def _mpi_missing():
    if shutil.which("mpirun") is None:
        return "mpirun not found (apt-get install openmpi-bin libopenmpi-dev)"
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return 'mpi4py not installed (pip install "nnx[mpi]")'
    return None


MISSING = _mpi_missing()
if MISSING and os.environ.get("CI"):
    raise RuntimeError(f"CI must be able to run the MPI tests: {MISSING}")
needs_mpi = pytest.mark.skipif(MISSING is not None, reason=MISSING or "")


def mpirun(ranks, program, *args, timeout=120):
    command = ["mpirun", "--oversubscribe", "-n", str(ranks), "-x", "PYTHONPATH"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.insert(1, "--allow-run-as-root")
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run(command + [sys.executable, str(PROGRAMS / program), *map(str, args)],
                          capture_output=True, text=True, timeout=timeout, env=env)


# ---- a world of one -----------------------------------------------------------------------------------

def test_a_plain_process_is_a_world_of_one():
    dist.init()
    assert (dist.rank(), dist.size(), dist.local_rank()) == (0, 1, 0)
    a = np.arange(5.0)
    np.testing.assert_array_equal(dist.allreduce(a), a)
    np.testing.assert_array_equal(dist.broadcast(a), a)
    x, y = np.arange(7), np.arange(7) * 2
    sx, sy = dist.shard(x, y)
    np.testing.assert_array_equal(sx, x)
    np.testing.assert_array_equal(sy, y)
    opt = nnx.optimizers.Adam()
    assert dist.DistributedOptimizer(opt) is opt
    dist.barrier()


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="op"):
        dist.allreduce(np.ones(2), op="product")
    with pytest.raises(TypeError, match="dtype"):
        dist.allreduce(np.array(["a"]))
    with pytest.raises(ValueError, match="root"):
        dist.broadcast(np.ones(2), root=1)
    with pytest.raises(ValueError, match="same number of samples"):
        dist.shard(np.ones(3), np.ones(4))


# ---- the hook that lets communication overlap backward -------------------------------------------

def test_grad_ready_hook_fires_once_with_the_complete_gradient():
    w = nnx.Tensor(np.array([1.0, 2.0]), requires_grad=True)
    seen = []
    handle = register_grad_ready_hook(w, lambda t: seen.append(t.grad.copy()))
    try:
        ((w * 3.0).sum() + (w * w).sum() + w.sum()).backward()   # three paths into w
        assert len(seen) == 1
        np.testing.assert_allclose(seen[0], 3.0 + 2 * w.data + 1.0)
    finally:
        handle.remove()
    (w * 1.0).sum().backward()
    assert len(seen) == 1   # removed


def test_grad_ready_hooks_fire_before_backward_ends():
    # a two-layer chain: the last layer's weight is complete before the first layer's gradient exists
    w1 = nnx.Tensor(np.ones((3, 3)), requires_grad=True)
    w2 = nnx.Tensor(np.ones((3, 1)), requires_grad=True)
    order = []
    handles = [register_grad_ready_hook(w, lambda t, name=name: order.append((name, w1.grad is None)))
               for w, name in ((w1, "w1"), (w2, "w2"))]
    try:
        ((nnx.Tensor(np.ones((2, 3))) @ w1).relu() @ w2).sum().backward()
    finally:
        for h in handles:
            h.remove()
    assert order == [("w2", True), ("w1", False)]


def test_averager_in_one_process_passes_gradients_through():
    mpi4py = pytest.importorskip("mpi4py")
    from mpi4py import MPI
    from nnx.distributed.reducer import GradientAverager
    assert mpi4py
    averager = GradientAverager(MPI.COMM_SELF, bucket_bytes=16)
    ws = [nnx.Tensor(np.full((2, 2), 1.0, np.float32), requires_grad=True),
          nnx.Tensor(np.zeros(3, np.float32), requires_grad=True)]
    for step in range(3):
        for w in ws:
            w.grad = None
        ((ws[0] * (step + 1.0)).sum() + (ws[1] * ws[1]).sum()).backward()
        out = averager.average([(w.grad, w) for w in ws])
        np.testing.assert_array_equal(out[0][0], np.full((2, 2), step + 1.0))
        np.testing.assert_array_equal(out[1][0], np.zeros(3))
    assert averager.stats["overlapped"] > 0        # hooks started buckets from the second step on
    custom = [np.full((2, 2), 7.0, np.float32), None]   # not the weights' own .grad: reduced as passed
    out = averager.average(list(zip(custom, ws)))
    np.testing.assert_array_equal(out[0][0], custom[0])
    np.testing.assert_array_equal(out[1][0], np.zeros(3))
    with pytest.raises(ValueError, match="bucket_bytes"):
        GradientAverager(MPI.COMM_SELF, 0)


# ---- real jobs ----------------------------------------------------------------------------------------

@needs_mpi
@pytest.mark.parametrize("ranks", [2, 3])
def test_collectives_and_shards(tmp_path, ranks):
    result = mpirun(ranks, "collectives.py", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    outs = [np.load(tmp_path / f"out.{r}.npz") for r in range(ranks)]
    base = np.arange(6, dtype=np.float32).reshape(2, 3)
    for r, out in enumerate(outs):
        assert (int(out["rank"]), int(out["size"])) == (r, ranks)
        np.testing.assert_allclose(out["mean"], base + 10 * (ranks - 1) / 2, rtol=1e-6)
        np.testing.assert_array_equal(out["total"], ranks * base + 10 * sum(range(ranks)))
        np.testing.assert_array_equal(out["biggest"], base + 10 * (ranks - 1))
        np.testing.assert_array_equal(out["from_last"], base + 10 * (ranks - 1))
        np.testing.assert_array_equal(out["shard"], out["shard_again"])
    shards = [set(out["shard"].tolist()) for out in outs]
    assert set().union(*shards) == set(range(101))                       # they cover the data
    assert sum(len(s) for s in shards) == 101                            # and are disjoint
    assert sorted(int(out["local_rank"]) for out in outs) == list(range(ranks))


def _train_steps_program():
    sys.path.insert(0, str(PROGRAMS))
    try:
        import train_steps
    finally:
        sys.path.remove(str(PROGRAMS))
    return train_steps


def _train_in_one_process(name, batch, steps):
    train_steps = _train_steps_program()
    x, y = train_steps.make_data(batch * steps)
    model = train_steps.make_model(train_steps.optimizer_named(name), 1)
    model.fit(x, y, batch_size=batch, epochs=1, shuffle=False, verbose=0)
    return model.get_weights()


@needs_mpi
@pytest.mark.parametrize("ranks", [2, 3])
@pytest.mark.parametrize("name", ["sgd", "adam"])
def test_n_ranks_with_batch_b_train_like_one_process_with_batch_nb(tmp_path, ranks, name):
    batch, steps = 8, 20
    result = mpirun(ranks, "train_steps.py", name, batch, steps, tmp_path / "w.npz")
    assert result.returncode == 0, result.stderr
    out = np.load(tmp_path / "w.npz")
    assert float(out["spread"]) == 0.0        # every rank ends with the same weights
    assert int(out["averager"][0]) > 0        # and buckets were sent while backward ran
    want = _train_in_one_process(name, ranks * batch, steps)
    for i, w in enumerate(want):
        np.testing.assert_allclose(out[f"arr_{i}"], w, rtol=1e-5, atol=1e-6)
    # and training moved them: comparing starting weights would prove nothing
    start = _train_steps_program().make_model(name, 1).get_weights()
    assert np.max(np.abs(out["arr_0"] - start[0])) > 1e-2


@needs_mpi
def test_a_failing_rank_ends_the_job_with_its_message():
    result = mpirun(3, "fail_rank.py", timeout=60)
    assert result.returncode != 0
    assert "rank 2 failed" in result.stderr and "this rank failed on purpose" in result.stderr
