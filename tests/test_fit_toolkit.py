"""fit / evaluate / predict with the training toolkit, against hand-computed values and Keras 3's
rules (keras/src/trainers/trainer.py compute_loss adds `model.losses`; keras/src/losses/loss.py
weights per-sample losses and divides by the batch size; data_adapter_utils.py turns class_weight
into sample weights; epoch_iterator.py keeps one iterator across epochs with steps_per_epoch):
regularization in the loss, sample and class weights, initial_epoch, steps_per_epoch,
validation_steps / validation_freq, Datasets and generators, the *_on_batch methods, NaN stopping,
resuming with BackupAndRestore, weight checkpoints and metrics by name."""
import numpy as np
import pytest

import nnx
from nnx import callbacks, optimizers, regularizers
from nnx.data import Dataset
from nnx.layers import Dense
from nnx.models import Sequential


def regression(n=12, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 3)).astype(np.float32)
    return x, (x @ np.array([[1.0], [-2.0], [0.5]], np.float32) + 0.3).astype(np.float32)


def linear(lr=0.0, **dense):
    nnx.manual_seed(0)
    model = Sequential([Dense(1, kernel_initializer="ones", input_shape=(3,), **dense)])
    model.compile(optimizer=optimizers.SGD(learning_rate=lr), loss="mse")
    return model


def classifier(seed=0, metrics=("accuracy",), optimizer="adam"):
    nnx.manual_seed(seed)
    model = Sequential([Dense(8, activation="relu", input_shape=(4,)), Dense(3, activation="softmax")])
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=list(metrics))
    return model


def blobs(n=90, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    return (np.eye(4, dtype=np.float32)[y] * 2 + rng.standard_normal((n, 4)).astype(np.float32)), y


# --- regularization ------------------------------------------------------------------------------
def test_penalty_is_added_to_the_loss_and_its_gradient_trains():
    x, y = regression()
    frozen = linear(lr=0.0, kernel_regularizer=regularizers.L2(0.1))
    history = frozen.fit(x, y, batch_size=12, epochs=1, verbose=0)
    mse = np.mean((x @ np.ones((3, 1)) - y) ** 2)
    assert history.history["loss"][0] == pytest.approx(mse + 0.1 * 3.0, rel=1e-5)
    assert frozen.evaluate(x, y, verbose=0) == pytest.approx(mse + 0.1 * 3.0, rel=1e-5)  # as Keras
    step = linear(lr=0.05, kernel_regularizer=regularizers.L2(0.1))
    step.fit(x, y, batch_size=12, epochs=1, verbose=0, shuffle=False)
    w = np.ones((3, 1))
    grad = 2 * x.T @ (x @ w - y) / len(x) + 2 * 0.1 * w
    np.testing.assert_allclose(step.layers[0].kernel.data, w - 0.05 * grad, rtol=1e-5)


def test_activity_penalty_joins_the_training_loss():
    x, y = regression()
    model = linear(lr=0.0, activity_regularizer=regularizers.L1(0.01))
    history = model.fit(x, y, batch_size=12, epochs=1, verbose=0)
    out = x @ np.ones((3, 1))
    expected = np.mean((out - y) ** 2) + 0.01 * np.sum(np.abs(out))
    assert history.history["loss"][0] == pytest.approx(expected, rel=1e-5)


# --- sample and class weights ----------------------------------------------------------------------
def test_sample_weight_in_fit_and_evaluate_like_keras():
    x, y = regression()
    model = linear()
    w = np.linspace(0.0, 2.0, 12).astype(np.float32)
    per_sample = ((x @ np.ones((3, 1)) - y) ** 2)[:, 0]
    batches = [slice(0, 5), slice(5, 10), slice(10, 12)]
    # each batch: sum(w l) / batch size; the epoch: batch losses weighted by batch size
    expected = sum(np.sum(w[b] * per_sample[b]) for b in batches) / 12
    assert model.evaluate(x, y, batch_size=5, sample_weight=w, verbose=0) == pytest.approx(expected, rel=1e-5)
    history = model.fit(x, y, batch_size=5, sample_weight=w, shuffle=False, verbose=0)
    assert history.history["loss"][0] == pytest.approx(expected, rel=1e-5)
    with pytest.raises(ValueError, match="sample_weight must hold one number per sample"):
        model.fit(x, y, sample_weight=w[:5], verbose=0)


def test_class_weight_equals_the_matching_sample_weights():
    x, y = blobs()
    class_weight = {0: 1.0, 1: 5.0, 2: 0.5}
    by_class = classifier()
    by_class.fit(x, y, epochs=2, batch_size=16, class_weight=class_weight, shuffle=False, verbose=0)
    by_sample = classifier()
    by_sample.fit(x, y, epochs=2, batch_size=16, sample_weight=np.array([class_weight[c] for c in y]),
                  shuffle=False, verbose=0)
    plain = classifier()
    plain.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0)
    for a, b, c in zip(by_class.get_weights(), by_sample.get_weights(), plain.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert not all(np.array_equal(a, c) for a, c in zip(by_class.get_weights(), plain.get_weights()))
    with pytest.raises(ValueError, match="class_weight or sample_weight, not both"):
        plain.fit(x, y, class_weight=class_weight, sample_weight=np.ones(len(y)), verbose=0)


def test_weighted_metrics():
    x, y = blobs(30)
    model = classifier()
    w = (y == 1).astype(np.float32)                       # only class 1 counts
    logs = model.evaluate(x, y, sample_weight=w, verbose=0, return_dict=True)
    predicted = model.predict(x, verbose=0).argmax(axis=1)
    assert logs["accuracy"] == pytest.approx(np.mean(predicted[y == 1] == 1))


# --- epochs, steps, validation ---------------------------------------------------------------------
def test_initial_epoch_and_validation_freq():
    x, y = blobs()
    model = classifier()
    history = model.fit(x, y, epochs=5, initial_epoch=1, validation_split=0.2, validation_freq=2,
                        verbose=0)
    assert history.epoch == [1, 2, 3, 4]
    assert len(history.history["loss"]) == 4 and len(history.history["val_loss"]) == 2  # epochs 2, 4
    listed = classifier().fit(x, y, epochs=3, validation_data=(x, y), validation_freq=[1, 3], verbose=0)
    assert len(listed.history["val_loss"]) == 2


def test_steps_per_epoch_runs_one_iterator_across_epochs():
    x, y = blobs(40)
    seen = []
    ds = Dataset.from_tensor_slices((x, y)).batch(10).repeat()
    model = classifier()
    model.fit(ds, epochs=3, steps_per_epoch=3, verbose=0, callbacks=[
        callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: seen.append(batch))])
    assert seen == [0, 1, 2] * 3
    with pytest.warns(UserWarning, match="ran out of data"):
        model.fit(x, y, batch_size=10, epochs=2, steps_per_epoch=6, verbose=0)


def test_validation_steps_limit_the_validation_batches():
    x, y = blobs(40)
    model = classifier(optimizer=optimizers.SGD(learning_rate=0.0))
    val = Dataset.from_tensor_slices((x, y)).batch(10)
    history = model.fit(x, y, epochs=1, validation_data=val, validation_steps=2, verbose=0)
    assert history.history["val_loss"][0] == pytest.approx(
        model.evaluate(x[:20], y[:20], batch_size=10, verbose=0)[0], rel=1e-6)


# --- Datasets and generators -------------------------------------------------------------------------
def test_dataset_and_generator_give_the_array_results():
    x, y = blobs(50)
    model = classifier()
    ds = Dataset.from_tensor_slices((x, y)).batch(16)
    np.testing.assert_allclose(model.evaluate(ds, verbose=0), model.evaluate(x, y, batch_size=16,
                                                                          verbose=0), rtol=1e-6)
    np.testing.assert_array_equal(model.predict(ds, verbose=0), model.predict(x, verbose=0))
    np.testing.assert_array_equal(model.predict(Dataset.from_tensor_slices(x).batch(7), verbose=0),
                                  model.predict(x, verbose=0))

    def generator():
        for lo in range(0, 50, 16):
            yield x[lo:lo + 16], y[lo:lo + 16], np.ones(len(y[lo:lo + 16]))
    np.testing.assert_allclose(model.evaluate(generator(), verbose=0), model.evaluate(ds, verbose=0),
                               rtol=1e-6)
    a, b = classifier(), classifier()
    a.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    b.fit(ds.prefetch(2), epochs=2, verbose=0)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    with pytest.raises(ValueError, match="y must not be given"):
        a.fit(ds, y, verbose=0)
    with pytest.raises(ValueError, match="batch 0 has no targets"):
        a.fit(Dataset.from_tensor_slices(x).batch(8), verbose=0)


def test_a_generator_once_used_up_stops_training_with_a_warning():
    x, y = blobs(32)
    model = classifier()
    gen = ((x[i:i + 8], y[i:i + 8]) for i in range(0, 32, 8))
    with pytest.warns(UserWarning, match="gave no batches in epoch 2"):
        history = model.fit(gen, epochs=3, verbose=0)
    assert history.epoch == [0]


# --- one batch at a time ------------------------------------------------------------------------------
def test_on_batch_methods():
    x, y = regression()
    model = linear()
    first = model.train_on_batch(x[:6], y[:6])
    second = model.train_on_batch(x[6:], y[6:])
    losses = ((x @ np.ones((3, 1)) - y) ** 2)[:, 0]
    assert first == pytest.approx(losses[:6].mean(), rel=1e-5)
    assert second == pytest.approx(losses.mean(), rel=1e-5)        # accumulated, as Keras 3
    model.reset_metrics()
    assert model.test_on_batch(x[6:], y[6:]) == pytest.approx(losses[6:].mean(), rel=1e-5)
    np.testing.assert_array_equal(model.predict_on_batch(x), model.predict(x, verbose=0))
    weighted = linear().train_on_batch(x, y, sample_weight=np.arange(12.0), return_dict=True)
    assert weighted["loss"] == pytest.approx(np.sum(np.arange(12.0) * losses) / 12, rel=1e-5)


# --- NaN, backups, checkpoints, metrics ------------------------------------------------------------------
def test_a_nan_loss_stops_training_naming_the_batch(capsys):
    x, y = regression(64)
    model = Sequential([Dense(1, input_shape=(3,))])
    model.compile(optimizer=optimizers.SGD(learning_rate=lambda step: 0.01 if step < 3 else 1e30),
                  loss="mse")
    with np.errstate(over="ignore", invalid="ignore"):          # the blow-up is the point
        history = model.fit(x, y, batch_size=4, epochs=3, shuffle=False, verbose=0)
    out = capsys.readouterr().out
    assert "Invalid loss, terminating training" in out
    batch = int(out.split("Batch ")[1].split(":")[0])
    assert 3 <= batch < 15 and history.epoch == [0]               # stopped inside the first epoch


def test_backup_and_restore_resumes_an_interrupted_fit(tmp_path):
    x, y = blobs()
    straight = classifier()
    straight.fit(x, y, epochs=4, batch_size=16, shuffle=False, verbose=0)

    def crash(epoch, logs):
        if epoch == 1:
            raise KeyboardInterrupt("power cut")
    model = classifier()
    backup = callbacks.BackupAndRestore(tmp_path / "backup")
    with pytest.raises(KeyboardInterrupt):
        model.fit(x, y, epochs=4, batch_size=16, shuffle=False, verbose=0,
                  callbacks=[backup, callbacks.LambdaCallback(on_epoch_end=crash)])
    resumed = classifier(seed=1)                                    # other initial weights
    history = resumed.fit(x, y, epochs=4, batch_size=16, shuffle=False, verbose=0,
                          callbacks=[callbacks.BackupAndRestore(tmp_path / "backup")])
    # the backup ran before the crash in epoch 1's on_epoch_end: epochs 0 and 1 were done
    assert history.epoch == [2, 3]
    for a, b in zip(resumed.get_weights(), straight.get_weights()):
        np.testing.assert_allclose(a, b, rtol=0, atol=0)
    assert not (tmp_path / "backup").exists()


def test_model_checkpoint_saves_weights_only(tmp_path):
    x, y = blobs()
    model = classifier()
    model.fit(x, y, epochs=2, verbose=0, validation_split=0.2, callbacks=[callbacks.ModelCheckpoint(
        tmp_path / "w-{epoch:02d}.weights.npz", save_weights_only=True, save_best_only=False)])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w-01.weights.npz", "w-02.weights.npz"]
    other = classifier(seed=3)
    other.load_weights(tmp_path / "w-02.weights.npz")
    for a, b in zip(other.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_metrics_by_name_in_compile():
    x, y = blobs(60)
    binary = (y == 1).astype(np.float32)
    nnx.manual_seed(0)
    model = Sequential([Dense(4, activation="relu", input_shape=(4,)), Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy",
                  metrics=["accuracy", "precision", "recall", "auc"])
    logs = model.evaluate(x, binary, batch_size=7, verbose=0, return_dict=True)
    p = model.predict(x, verbose=0)[:, 0]
    predicted = p > 0.5
    tp = np.sum(predicted & (binary == 1))
    assert logs["precision"] == pytest.approx(tp / max(predicted.sum(), 1))
    assert logs["recall"] == pytest.approx(tp / binary.sum())
    assert set(logs) == {"loss", "accuracy", "precision", "recall", "auc"}
    assert 0.0 <= logs["auc"] <= 1.0
