"""Keras-style training callbacks (keras/src/callbacks/): `Callback`, `History`, `EarlyStopping`,
`ModelCheckpoint`, `ReduceLROnPlateau`, `LearningRateScheduler`, `CSVLogger`, `TerminateOnNaN`,
`LambdaCallback`, `BackupAndRestore`.

`fit` calls, in order: on_train_begin, then per epoch on_epoch_begin, per step on_train_batch_begin /
on_train_batch_end(step, logs), on_epoch_end(epoch, logs) with the epoch's loss, metrics and val_
entries, and finally on_train_end. A callback sees the model as `self.model`; setting
`model.stop_training = True` ends training after the current batch.
"""
import csv
import inspect
import json
import math
import os
import shutil
import warnings

import numpy as np

from nnx.utils import world


class Callback:
    """Base class: override the hooks you need (all receive `logs`, a dict of floats, or None)."""

    def __init__(self):
        self.model = None
        self.params = {}

    def set_model(self, model):
        self.model = model

    def set_params(self, params):
        self.params = params

    def on_train_begin(self, logs=None): pass
    def on_train_end(self, logs=None): pass
    def on_epoch_begin(self, epoch, logs=None): pass
    def on_epoch_end(self, epoch, logs=None): pass
    def on_train_batch_begin(self, batch, logs=None): pass
    def on_train_batch_end(self, batch, logs=None): pass


def _overrides(callback, hook):
    """Whether `callback` does something in `hook` (a method override or, as in LambdaCallback,
    a function set on the instance)."""
    return getattr(getattr(callback, hook), "__func__", None) is not getattr(Callback, hook)


class CallbackList:
    """Dispatches every hook to a list of callbacks; the batch hooks go only to callbacks that
    override them, so the training loop pays nothing per step for the others."""

    def __init__(self, callbacks, model, params):
        self.callbacks = list(callbacks)
        for c in self.callbacks:
            if not isinstance(c, Callback):
                raise TypeError(f"fit: callbacks must be nnx.callbacks.Callback instances, got "
                                f"{type(c).__name__}")
            c.set_model(model)
            c.set_params(params)
        self.batch_begin = [c for c in self.callbacks if _overrides(c, "on_train_batch_begin")]
        self.batch_end = [c for c in self.callbacks if _overrides(c, "on_train_batch_end")]

    def on_train_begin(self, logs=None):
        for c in self.callbacks:
            c.on_train_begin(logs)

    def on_train_end(self, logs=None):
        for c in self.callbacks:
            c.on_train_end(logs)

    def on_epoch_begin(self, epoch, logs=None):
        for c in self.callbacks:
            c.on_epoch_begin(epoch, logs)

    def on_epoch_end(self, epoch, logs=None):
        for c in self.callbacks:
            c.on_epoch_end(epoch, logs)


class History(Callback):
    """Records every epoch's logs: `history.history['loss']` is the list of epoch losses."""

    def __init__(self):
        super().__init__()
        self.history = {}
        self.epoch = []

    def on_train_begin(self, logs=None):
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)
        self.model.history = self


def _monitor_op(owner, monitor, mode):
    """np.less for losses, np.greater for accuracies ('auto' decides by the name, as Keras does)."""
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"{owner}: mode must be 'auto', 'min' or 'max', got {mode!r}")
    if mode == "min":
        return np.less
    if mode == "max":
        return np.greater
    name = monitor[4:] if monitor.startswith("val_") else monitor
    return np.greater if ("acc" in name or name.startswith("fmeasure") or name == "auc") else np.less


class EarlyStopping(Callback):
    """Stop when `monitor` has not improved by more than `min_delta` for `patience` epochs
    (Keras 3 semantics; `restore_best_weights` puts back the best epoch's weights at the end)."""

    def __init__(self, monitor="val_loss", min_delta=0, patience=0, verbose=0, mode="auto",
                 baseline=None, restore_best_weights=False, start_from_epoch=0):
        super().__init__()
        self.monitor = monitor
        self.patience = int(patience)
        self.verbose = verbose
        self.baseline = baseline
        self.restore_best_weights = restore_best_weights
        self.start_from_epoch = start_from_epoch
        self.monitor_op = _monitor_op("EarlyStopping", monitor, mode)
        # an improvement must beat the best by min_delta in the direction of monitor_op
        self.min_delta = abs(min_delta) * (1 if self.monitor_op is np.greater else -1)

    def on_train_begin(self, logs=None):
        self.wait = 0
        self.stopped_epoch = 0
        self.best = np.inf if self.monitor_op is np.less else -np.inf
        self.best_weights = None
        self.best_epoch = 0

    def _is_improvement(self, value, reference):
        return bool(self.monitor_op(value - self.min_delta, reference))

    def on_epoch_end(self, epoch, logs=None):
        current = (logs or {}).get(self.monitor)
        if current is None:
            warnings.warn(f"EarlyStopping: monitor {self.monitor!r} is not in the logs (available: "
                          f"{sorted(logs or {})})", stacklevel=2)
            return
        if epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = self.model.get_weights()
            self.best_epoch = epoch
        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)


class ModelCheckpoint(Callback):
    """Save the model after every epoch (or only when `monitor` improves, with save_best_only);
    with save_weights_only, only its weights (`model.save_weights`, read back by `load_weights`).
    `filepath` may hold `str.format` fields: `{epoch:02d}` (1-based, as in Keras) and any log key,
    e.g. 'ckpt-{epoch:02d}-{val_loss:.3f}.nnx'."""

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False,
                 save_weights_only=False, mode="auto"):
        super().__init__()
        self.filepath = str(filepath)
        self.monitor = monitor
        self.verbose = verbose
        self.save_best_only = save_best_only
        self.save_weights_only = bool(save_weights_only)
        self.monitor_op = _monitor_op("ModelCheckpoint", monitor, mode)
        self.best = np.inf if self.monitor_op is np.less else -np.inf

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        path = _checkpoint_path("ModelCheckpoint", self.filepath, epoch, logs)
        if self.save_best_only:
            current = logs.get(self.monitor)
            if current is None:
                warnings.warn(f"ModelCheckpoint: can save best model only with {self.monitor!r} "
                              f"available, skipping (logs: {sorted(logs)})", stacklevel=2)
                return
            if not self.monitor_op(current, self.best):
                return
            if self.verbose > 0:
                print(f"Epoch {epoch + 1}: {self.monitor} improved from {self.best:.5f} to "
                      f"{current:.5f}, saving model to {path}")
            self.best = current
        elif self.verbose > 0 and world.is_chief():
            print(f"Epoch {epoch + 1}: saving model to {path}")
        if world.is_chief():          # one writer in a distributed job
            if self.save_weights_only:
                self.model.save_weights(path)
            else:
                self.model.save(path)


def _checkpoint_path(owner, filepath, epoch, logs):
    try:
        return filepath.format(epoch=epoch + 1, **logs)
    except (KeyError, IndexError, ValueError) as e:
        raise ValueError(f"{owner}: cannot format filepath {filepath!r} with epoch and the logs "
                         f"{sorted(logs)}: {e}") from e


class ReduceLROnPlateau(Callback):
    """Multiply the learning rate by `factor` when `monitor` has not improved by more than
    `min_delta` for `patience` epochs; then wait `cooldown` epochs; never below `min_lr`
    (keras/src/callbacks/reduce_lr_on_plateau.py). Adds 'learning_rate' to the epoch logs."""

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto",
                 min_delta=1e-4, cooldown=0, min_lr=0.0):
        super().__init__()
        if not factor < 1.0:
            raise ValueError(f"ReduceLROnPlateau: factor must be < 1.0, got {factor}")
        self.monitor, self.factor, self.patience, self.verbose = monitor, float(factor), patience, verbose
        self.min_delta, self.cooldown, self.min_lr = float(min_delta), cooldown, float(min_lr)
        self.minimize = _monitor_op("ReduceLROnPlateau", monitor, mode) is np.less
        if mode == "auto":   # Keras: this callback's 'auto' looks for 'acc' only
            self.minimize = "acc" not in monitor
        self._reset()

    def _reset(self):
        self.best = np.inf if self.minimize else -np.inf
        self.cooldown_counter = 0
        self.wait = 0

    def _improved(self, current):
        if self.minimize:
            return current < self.best - self.min_delta
        return current > self.best + self.min_delta

    def on_train_begin(self, logs=None):
        self._reset()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        optimizer = self.model.optimizer
        logs["learning_rate"] = float(optimizer.learning_rate)
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn(f"ReduceLROnPlateau: monitor {self.monitor!r} is not in the logs "
                          f"(available: {sorted(logs)})", stacklevel=2)
            return
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self._improved(current):
            self.best = current
            self.wait = 0
        elif self.cooldown_counter <= 0:
            self.wait += 1
            if self.wait >= self.patience:
                old = float(optimizer.learning_rate)
                if old > np.float32(self.min_lr):
                    new = max(old * self.factor, self.min_lr)
                    optimizer.learning_rate = new
                    if self.verbose > 0 and world.is_chief():
                        print(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new}.")
                    self.cooldown_counter = self.cooldown
                    self.wait = 0


class LearningRateScheduler(Callback):
    """Set the learning rate at the start of each epoch to `schedule(epoch, lr)` (or
    `schedule(epoch)` for a one-argument function), epochs counted from 0; adds 'learning_rate'
    to the epoch logs (keras/src/callbacks/learning_rate_scheduler.py)."""

    def __init__(self, schedule, verbose=0):
        super().__init__()
        if not callable(schedule):
            raise TypeError(f"LearningRateScheduler: schedule must be callable, got "
                            f"{type(schedule).__name__}")
        self.schedule, self.verbose = schedule, verbose
        try:
            parameters = inspect.signature(schedule).parameters.values()
            self._takes_lr = sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
                                 for p in parameters) >= 2 or any(p.kind == p.VAR_POSITIONAL
                                                                  for p in parameters)
        except (TypeError, ValueError):   # a builtin without a signature: the new API
            self._takes_lr = True

    def on_epoch_begin(self, epoch, logs=None):
        optimizer = self.model.optimizer
        lr = self.schedule(epoch, float(optimizer.learning_rate)) if self._takes_lr \
            else self.schedule(epoch)
        if isinstance(lr, bool) or not isinstance(lr, (int, float, np.integer, np.floating)):
            raise ValueError(f"LearningRateScheduler: the schedule must return a float, got {lr!r} "
                             f"for epoch {epoch}")
        optimizer.learning_rate = float(lr)
        if self.verbose > 0 and world.is_chief():
            print(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to {float(lr)}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(self.model.optimizer.learning_rate)


class CSVLogger(Callback):
    """One CSV row per epoch: 'epoch' then the log keys in sorted order (Keras' layout); each row
    is flushed, so an interrupted run keeps every finished epoch. append=True continues a file."""

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        self.filename, self.separator, self.append = os.fspath(filename), separator, append
        self.keys = None
        self._file = self._writer = None

    def on_train_begin(self, logs=None):
        if not world.is_chief():      # one writer in a distributed job
            return
        has_rows = self.append and os.path.exists(self.filename) and os.path.getsize(self.filename) > 0
        self._file = open(self.filename, "a" if self.append else "w", newline="")
        self._header_written = has_rows
        self.keys = None

    def on_epoch_end(self, epoch, logs=None):
        if self._file is None:
            return
        logs = logs or {}
        if self.keys is None:
            self.keys = sorted(logs)
            self._writer = csv.DictWriter(self._file, fieldnames=["epoch"] + self.keys,
                                          delimiter=self.separator)
            if not self._header_written:
                self._writer.writeheader()
        row = {"epoch": epoch}
        row.update((key, logs.get(key, "NA")) for key in self.keys)
        self._writer.writerow(row)
        self._file.flush()

    def on_train_end(self, logs=None):
        if self._file is not None:
            self._file.close()
            self._file = self._writer = None


class TerminateOnNaN(Callback):
    """Stop training as soon as a batch's loss is NaN or infinite, naming the batch."""

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            print(f"Batch {batch}: Invalid loss, terminating training")
            self.model.stop_training = True


class LambdaCallback(Callback):
    """A callback from plain functions: on_epoch_begin(epoch, logs), on_epoch_end(epoch, logs),
    on_train_begin(logs), on_train_end(logs), on_train_batch_begin(batch, logs),
    on_train_batch_end(batch, logs) (on_batch_begin / on_batch_end are aliases of the last two)."""

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_train_begin=None,
                 on_train_end=None, on_train_batch_begin=None, on_train_batch_end=None,
                 on_batch_begin=None, on_batch_end=None):
        super().__init__()
        hooks = {"on_epoch_begin": on_epoch_begin, "on_epoch_end": on_epoch_end,
                 "on_train_begin": on_train_begin, "on_train_end": on_train_end,
                 "on_train_batch_begin": on_train_batch_begin or on_batch_begin,
                 "on_train_batch_end": on_train_batch_end or on_batch_end}
        for hook, fn in hooks.items():
            if fn is not None:
                if not callable(fn):
                    raise TypeError(f"LambdaCallback: {hook} must be callable, got {type(fn).__name__}")
                setattr(self, hook, fn)


def save_training_state(model, path, epoch):
    """Weights, optimizer state and the number of finished epochs in one archive of .npy members
    (written atomically by nnx.models.archive; no pickle)."""
    from nnx.models.archive import write_archive
    state = model.optimizer.get_state() if model.optimizer is not None else {}
    arrays = {f"weight_{i:05d}": w.data for i, w in enumerate(model.weights)}
    arrays.update({f"optimizer_{i:05d}": np.asarray(v) for i, v in enumerate(state.values())})
    arrays["optimizer_keys"] = np.frombuffer(json.dumps(list(state)).encode("utf-8"), np.uint8)
    arrays["epoch"] = np.array(epoch, dtype=np.int64)
    write_archive(path, arrays)


def restore_training_state(model, path):
    """Put back what save_training_state wrote; returns the epoch to resume from. Checks the
    weights before changing anything."""
    with np.load(path, allow_pickle=False) as f:
        stored = {key: f[key] for key in f.files}
    weights = [stored[k] for k in sorted(k for k in stored if k.startswith("weight_"))]
    if len(weights) != len(model.weights):
        raise ValueError(f"BackupAndRestore: the backup {path!r} holds {len(weights)} weights, the "
                         f"model has {len(model.weights)}; it was written for another model")
    keys = json.loads(stored["optimizer_keys"].tobytes().decode("utf-8"))
    model.set_weights(weights)
    if keys and model.optimizer is not None:
        model.optimizer.set_state({k: stored[f"optimizer_{i:05d}"] for i, k in enumerate(keys)})
    return int(stored["epoch"])


class BackupAndRestore(Callback):
    """Back up weights, optimizer state and the epoch count into `backup_dir` at the end of every
    epoch; a `fit` started again with the same callback resumes after the last finished epoch
    (it sets `model._initial_epoch`, as Keras does). The backup is deleted when training ends normally
    (delete_checkpoint=True), so it survives only an interruption."""

    def __init__(self, backup_dir, save_freq="epoch", delete_checkpoint=True):
        super().__init__()
        if save_freq != "epoch":
            raise ValueError(f"BackupAndRestore: only save_freq='epoch' is supported, got {save_freq!r}")
        self.backup_dir = os.fspath(backup_dir)
        self.delete_checkpoint = delete_checkpoint
        self._path = os.path.join(self.backup_dir, "latest.npz")

    def on_train_begin(self, logs=None):
        if os.path.exists(self._path):
            self.model._initial_epoch = restore_training_state(self.model, self._path)

    def on_epoch_end(self, epoch, logs=None):
        if world.is_chief():          # one writer in a distributed job
            os.makedirs(self.backup_dir, exist_ok=True)
            save_training_state(self.model, self._path, epoch + 1)

    def on_train_end(self, logs=None):
        if self.delete_checkpoint and world.is_chief() and os.path.isdir(self.backup_dir):
            shutil.rmtree(self.backup_dir)
