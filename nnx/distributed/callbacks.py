"""Callbacks for data-parallel training: the same starting weights everywhere, and metrics that every
rank agrees on (so EarlyStopping, ReduceLROnPlateau and checkpoints decide alike on every rank)."""
import numpy as np

from nnx.callbacks import Callback
from nnx.distributed import comm


class BroadcastWeights(Callback):
    """At the start of `fit`, overwrite every rank's weights with rank `root`'s (Horovod's
    BroadcastGlobalVariablesCallback). Put it in every rank's callback list."""

    def __init__(self, root=0):
        super().__init__()
        self.root = root

    def on_train_begin(self, logs=None):
        broadcast_weights(self.model, self.root)


def broadcast_weights(model, root=0):
    """Make every weight of `model` equal to rank `root`'s, in place."""
    for w in model.weights:
        w.data[...] = comm.broadcast(w.data, root)


class MetricAverage(Callback):
    """At the end of each epoch, replace every value in the logs (loss, metrics, val_ entries) by its
    mean over the ranks. Put it FIRST in the callback list, so the callbacks after it (EarlyStopping,
    ModelCheckpoint, ...) see the averaged values. Each rank's validation values come from its own
    shard of the validation data (`shard(x_val, y_val)`), so the mean covers all of it."""

    def on_epoch_end(self, epoch, logs=None):
        if not logs or comm.size() == 1:
            return
        keys = sorted(logs)
        values = comm.allreduce(np.array([float(logs[k]) for k in keys], np.float64), "mean")
        logs.update({k: float(v) for k, v in zip(keys, values)})
