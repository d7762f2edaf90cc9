"""The toolkit callbacks against Keras 3's behaviour (keras/src/callbacks/reduce_lr_on_plateau.py,
learning_rate_scheduler.py, csv_logger.py, terminate_on_nan.py, lambda_callback.py,
backup_and_restore.py): plateau detection with min_delta, cooldown and min_lr; schedules per epoch;
the CSV layout; NaN detection; lambda hooks; a backup that restores weights, optimizer state and
the epoch."""
import csv

import numpy as np
import pytest

import nnx
from nnx import callbacks, optimizers
from nnx.layers import Dense
from nnx.models import Sequential


def small_model(seed=0):
    nnx.manual_seed(seed)
    model = Sequential([Dense(8, activation="relu", input_shape=(4,)), Dense(3, activation="softmax")])
    model.compile(optimizer=optimizers.SGD(learning_rate=0.1, momentum=0.9),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    return (np.eye(4, dtype=np.float32)[y] * 3 + rng.standard_normal((n, 4)).astype(np.float32)), y


def drive(callback, model, values, monitor="val_loss"):
    """Run on_epoch_end over a sequence of monitored values; return the learning rate after each."""
    callback.set_model(model)
    callback.on_train_begin()
    rates = []
    for epoch, value in enumerate(values):
        logs = {monitor: value}
        callback.on_epoch_end(epoch, logs)
        assert logs["learning_rate"] == pytest.approx(rates[-1] if rates else 0.1)
        rates.append(model.optimizer.learning_rate)
    return rates


def test_reduce_lr_on_plateau_patience_min_delta_cooldown_and_floor():
    model = small_model()
    cb = callbacks.ReduceLROnPlateau(factor=0.5, patience=2, min_delta=0.01, cooldown=1, min_lr=0.02)
    # 1.0 best; 0.995 is not better by min_delta -> wait 1; 0.999 -> wait 2 -> reduce to 0.05
    # cooldown=1: the next epoch first counts the cooldown down, and then (Keras' order) already
    # counts as waiting (wait 1); one more flat epoch -> 0.025; again -> 0.0125, floored at 0.02
    rates = drive(cb, model, [1.0, 0.995, 0.999, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0])
    assert rates == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.025, 0.025, 0.02, 0.02, 0.02, 0.02])
    maximize = callbacks.ReduceLROnPlateau(monitor="val_accuracy", factor=0.1, patience=1)
    model = small_model()
    assert drive(maximize, model, [0.5, 0.6, 0.6], monitor="val_accuracy") == pytest.approx(
        [0.1, 0.1, 0.01])
    with pytest.raises(ValueError, match="factor"):
        callbacks.ReduceLROnPlateau(factor=1.0)


def test_learning_rate_scheduler_sets_the_rate_each_epoch_in_fit():
    x, y = data()
    seen = []
    model = small_model()
    model.fit(x, y, epochs=3, batch_size=16, verbose=0, callbacks=[
        callbacks.LearningRateScheduler(lambda epoch, lr: lr * 0.5 if epoch else lr),
        callbacks.LambdaCallback(on_epoch_begin=lambda e, logs: seen.append(model.optimizer.learning_rate))])
    assert seen == pytest.approx([0.1, 0.05, 0.025])
    assert model.history.history["learning_rate"] == pytest.approx([0.1, 0.05, 0.025])
    model = small_model()
    model.fit(x, y, epochs=2, verbose=0,
              callbacks=[callbacks.LearningRateScheduler(lambda epoch: 0.01 * (epoch + 1))])
    assert model.optimizer.learning_rate == pytest.approx(0.02)
    model = small_model()
    with pytest.raises(ValueError, match="must return a float"):
        model.fit(x, y, verbose=0, callbacks=[callbacks.LearningRateScheduler(lambda e: "fast")])


def test_csv_logger_writes_keras_layout_and_appends(tmp_path):
    x, y = data()
    path = tmp_path / "log.csv"
    model = small_model()
    model.fit(x, y, epochs=2, verbose=0, validation_split=0.25, callbacks=[callbacks.CSVLogger(path)])
    with open(path) as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["epoch", "accuracy", "loss", "val_accuracy", "val_loss"]
    assert [r[0] for r in rows[1:]] == ["0", "1"]
    assert float(rows[2][2]) == pytest.approx(model.history.history["loss"][1])
    model.fit(x, y, epochs=1, verbose=0, validation_split=0.25,
              callbacks=[callbacks.CSVLogger(path, append=True)])
    with open(path) as f:
        assert len(list(csv.reader(f))) == 4                   # no second header


def test_terminate_on_nan_names_the_batch(capsys):
    model = small_model()
    cb = callbacks.TerminateOnNaN()
    cb.set_model(model)
    model.stop_training = False
    cb.on_train_batch_end(6, {"loss": 0.5})
    assert not model.stop_training
    cb.on_train_batch_end(7, {"loss": float("nan")})
    assert model.stop_training
    assert "Batch 7: Invalid loss, terminating training" in capsys.readouterr().out
    model.stop_training = False
    cb.on_train_batch_end(8, {"loss": float("inf")})
    assert model.stop_training


def test_lambda_callback_hooks_run_in_fit():
    x, y = data()
    events = []
    model = small_model()
    model.fit(x, y, epochs=2, batch_size=32, verbose=0, callbacks=[callbacks.LambdaCallback(
        on_train_begin=lambda logs: events.append("begin"),
        on_epoch_end=lambda epoch, logs: events.append(("epoch", epoch, "loss" in logs)),
        on_batch_end=lambda batch, logs: events.append(("batch", batch)),
        on_train_end=lambda logs: events.append("end"))])
    assert events == ["begin", ("batch", 0), ("batch", 1), ("epoch", 0, True),
                      ("batch", 0), ("batch", 1), ("epoch", 1, True), "end"]
    with pytest.raises(TypeError, match="on_epoch_end must be callable"):
        callbacks.LambdaCallback(on_epoch_end=3)


def test_training_state_round_trip_restores_weights_optimizer_and_epoch(tmp_path):
    x, y = data()
    model = small_model()
    model.fit(x, y, epochs=1, verbose=0)
    path = tmp_path / "state.npz"
    callbacks.save_training_state(model, path, epoch=3)
    weights, state = model.get_weights(), model.optimizer.get_state()
    model.fit(x, y, epochs=1, verbose=0)                       # move on ...
    assert callbacks.restore_training_state(model, path) == 3  # ... and come back
    for a, b in zip(model.get_weights(), weights):
        np.testing.assert_array_equal(a, b)
    for key, value in model.optimizer.get_state().items():
        np.testing.assert_array_equal(value, state[key])
    other = Sequential([Dense(2, input_shape=(4,))])
    other.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match="another model"):
        callbacks.restore_training_state(other, path)


def test_backup_and_restore_writes_each_epoch_and_cleans_up(tmp_path):
    x, y = data()
    backup = tmp_path / "backup"
    files = []
    model = small_model()
    cb = callbacks.BackupAndRestore(backup)
    model.fit(x, y, epochs=2, verbose=0, callbacks=[cb, callbacks.LambdaCallback(
        on_epoch_end=lambda e, logs: files.append(sorted(p.name for p in backup.iterdir())))])
    assert files == [["latest.npz"], ["latest.npz"]]
    assert not backup.exists()                                 # finished normally: deleted
