"""Run under mpirun by tests/test_distributed.py: train a small model for a fixed number of steps on
this rank's shard with DistributedOptimizer, then rank 0 writes the final weights to OUT (npz).

    mpirun -n N python train_steps.py OPTIMIZER PER_RANK_BATCH STEPS OUT
"""
import sys

import numpy as np

import nnx
import nnx.distributed as dist
from nnx.layers import Dense
from nnx.models import Sequential


def make_data(samples):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((samples, 12)).astype(np.float32)
    y = rng.integers(0, 4, samples)
    return x, y


def make_model(optimizer, seed):
    nnx.manual_seed(seed)
    model = Sequential([Dense(16, activation="tanh", input_shape=(12,)), Dense(4, activation="softmax")])
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy")
    return model


def optimizer_named(name):
    return {"sgd": nnx.optimizers.SGD(0.1, momentum=0.9), "adam": nnx.optimizers.Adam(0.01)}[name]


def main(name, batch, steps, out):
    dist.init()
    x, y = make_data(dist.size() * batch * steps)
    x, y = dist.shard(x, y)
    # different seeds per rank: BroadcastWeights must make the starting weights equal
    model = make_model(dist.DistributedOptimizer(optimizer_named(name), bucket_bytes=256), 1 + dist.rank())
    model.fit(x, y, batch_size=batch, epochs=1, shuffle=False, verbose=0,
              callbacks=[dist.callbacks.BroadcastWeights(0)])
    gathered = dist.allreduce(np.concatenate([w.ravel() for w in model.get_weights()]), "max")
    mine = np.concatenate([w.ravel() for w in model.get_weights()])
    if dist.rank() == 0:
        np.savez(out, *model.get_weights(), spread=np.max(np.abs(gathered - mine)),
                 averager=np.array([model.optimizer.gradient_averager.stats["overlapped"]
                                    if dist.size() > 1 else 0]))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
