"""Sequential: building, fit/evaluate/predict semantics (Keras'), the logits path, summary, callbacks,
progress bar output, and bad input."""
import io

import numpy as np
import pytest

import nnx
import nnx.functional as F
from nnx.callbacks import Callback, EarlyStopping, ModelCheckpoint
from nnx.layers import (BatchNormalization, Conv2D, Dense, Dropout, Flatten, Input, MaxPooling2D,
                        clear_session)
from nnx.models import Sequential, load_model
from nnx.utils.progbar import Progbar


def blobs(n=300, seed=0):
    """Three well separated Gaussian blobs in 4-D."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    centres = np.array([[3, 0, 0, 0], [0, 3, 0, 0], [0, 0, 3, 0]], np.float32)
    x = (centres[y] + rng.standard_normal((n, 4))).astype(np.float32)
    return x, y


def mlp(seed=0, **compile_args):
    nnx.manual_seed(seed)
    model = Sequential([Dense(16, activation="relu", input_shape=(4,)), Dense(3, activation="softmax")])
    model.compile(**{"optimizer": "adam", "loss": "sparse_categorical_crossentropy",
                     "metrics": ["accuracy"], **compile_args})
    return model


def reference_cnn():
    model = Sequential()
    model.add(Conv2D(32, (3, 3), activation="relu", input_shape=(28, 28, 1)))
    model.add(MaxPooling2D((2, 2)))
    model.add(Conv2D(64, (3, 3), activation="relu"))
    model.add(MaxPooling2D((2, 2)))
    model.add(Conv2D(64, (3, 3), activation="relu"))
    model.add(Flatten())
    model.add(Dense(64, activation="relu"))
    model.add(Dense(10, activation="softmax"))
    return model


# --- training -------------------------------------------------------------------------------------------
def test_fit_converges_and_history_has_keras_keys():
    x, y = blobs()
    model = mlp()
    history = model.fit(x, y, epochs=15, batch_size=16, verbose=0, validation_split=0.2)
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(v) == 15 for v in history.history.values())
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    assert history.history["val_accuracy"][-1] > 0.9
    assert model.history is history and history.epoch == list(range(15))
    loss, acc = model.evaluate(x, y, verbose=0)
    assert acc > 0.9 and loss < 0.4


def test_validation_split_takes_the_last_fraction_and_partial_batches_are_weighted():
    x, y = blobs(103)
    model = mlp()
    history = model.fit(x, y, epochs=2, batch_size=10, verbose=0, validation_split=0.3, shuffle=False)
    split = int(np.floor(103 * 0.7))
    want = model.evaluate(x[split:], y[split:], batch_size=10, verbose=0)
    assert history.history["val_loss"][-1] == pytest.approx(want[0], rel=1e-6)
    assert history.history["val_accuracy"][-1] == pytest.approx(want[1], rel=1e-6)
    # the sample-weighted mean does not depend on the batch size (partial last batch)
    for batch_size in (7, 31, 1000):
        got = model.evaluate(x, y, batch_size=batch_size, verbose=0)
        np.testing.assert_allclose(got, model.evaluate(x, y, batch_size=103, verbose=0), rtol=1e-5)
    probs = model.predict(x, verbose=0)
    manual = np.mean(-np.log(probs[np.arange(103), y]))
    assert model.evaluate(x, y, verbose=0)[0] == pytest.approx(manual, rel=1e-4)
    assert model.evaluate(x, y, verbose=0)[1] == pytest.approx(np.mean(probs.argmax(1) == y))


def test_fit_is_reproducible_under_manual_seed_and_shuffles():
    x, y = blobs()
    weights = []
    for shuffle in (True, True, False):
        model = mlp(seed=3)
        nnx.manual_seed(5)
        model.fit(x, y, epochs=2, batch_size=32, verbose=0, shuffle=shuffle)
        weights.append(model.get_weights())
    for a, b in zip(weights[0], weights[1]):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, b) for a, b in zip(weights[0], weights[2]))


def test_one_train_step_matches_a_manual_autograd_step():
    """fit = forward from the logits, stable CE, backward, one optimizer update."""
    x, y = blobs(8)
    model = mlp(seed=1, optimizer=nnx.optimizers.SGD(0.1))
    w0 = model.get_weights()
    model.fit(x, y, epochs=1, batch_size=8, verbose=0, shuffle=False)
    kernel0, bias0, kernel1, bias1 = (nnx.Tensor(w, requires_grad=True) for w in w0)
    logits = F.dense(F.relu(F.dense(x, kernel0, bias0)), kernel1, bias1)
    F.sparse_softmax_cross_entropy(logits, y).mean().backward()
    for got, w, t in zip(model.get_weights(), w0, (kernel0, bias0, kernel1, bias1)):
        np.testing.assert_allclose(got, w - 0.1 * t.grad, rtol=1e-5, atol=1e-7)


def test_softmax_cross_entropy_is_computed_from_logits():
    model = mlp()
    x, y = blobs(20)
    model.layers[-1].kernel.data *= 1e4          # saturated softmax: probabilities are exactly 0/1
    probs = model.predict(x, verbose=0)
    assert np.allclose(probs.sum(1), 1)
    loss = model.evaluate(x, y, verbose=0)[0]
    with nnx.no_grad():
        logits = model.forward(nnx.Tensor(x), logits=True)
    want = F.sparse_softmax_cross_entropy(logits, y).data.mean()
    assert np.isfinite(loss) and loss == pytest.approx(want, rel=1e-5)
    assert loss > 20      # clipped probabilities would cap the loss at -log(1e-7) = 16.1


@pytest.mark.parametrize("loss,targets", [("categorical_crossentropy", "onehot"),
                                          ("mse", "onehot"), ("binary_crossentropy", "binary")])
def test_other_losses_train(loss, targets):
    x, y = blobs(200)
    nnx.manual_seed(0)
    if targets == "binary":
        y_fit, out = (y == 1).astype(np.float32), Dense(1, activation="sigmoid")
    else:
        y_fit, out = np.eye(3, dtype=np.float32)[y], Dense(3, activation="softmax")
    model = Sequential([Input((4,)), Dense(16, activation="relu"), out])
    model.compile("adam", loss, metrics=["accuracy"])
    history = model.fit(x, y_fit, epochs=20, batch_size=16, verbose=0)
    assert history.history["accuracy"][-1] > 0.85
    assert history.history["loss"][-1] < history.history["loss"][0]


def test_predict_returns_array_without_graph_and_matches_call():
    model = mlp()
    x, _ = blobs(50)
    p = model.predict(x, batch_size=16, verbose=0)
    assert isinstance(p, np.ndarray) and p.shape == (50, 3) and p.dtype == np.float32
    out = model(x)
    assert isinstance(out, nnx.Tensor)
    np.testing.assert_allclose(p, out.data, rtol=1e-6)
    assert model.evaluate(x, np.zeros(50, int), batch_size=50, verbose=0) is not None


def test_dropout_and_batchnorm_follow_training_flag():
    x, y = blobs(64)
    nnx.manual_seed(0)
    model = Sequential([Input((4,)), Dense(8), BatchNormalization(), Dropout(0.5),
                        Dense(3, activation="softmax")])
    model.compile("sgd", "sparse_categorical_crossentropy")
    bn = model.layers[1]
    np.testing.assert_array_equal(model.predict(x, verbose=0), model.predict(x, verbose=0))
    np.testing.assert_array_equal(bn.moving_mean.data, 0)       # inference leaves the statistics alone
    model.fit(x, y, epochs=1, batch_size=64, verbose=0)
    assert np.any(bn.moving_mean.data != 0)
    assert len(model.non_trainable_weights) == 2 and len(model.trainable_weights) == 6
    assert isinstance(model.evaluate(x, y, verbose=0), float)       # no metrics: a float


def test_model_weights_api():
    model = mlp()
    weights = model.get_weights()
    assert [w.shape for w in weights] == [(4, 16), (16,), (16, 3), (3,)]
    model.set_weights([w + 1 for w in weights])
    np.testing.assert_array_equal(model.get_weights()[1], weights[1] + 1)
    model(np.ones((2, 4), np.float32)).sum().backward()
    assert all(w.grad is not None for w in model.trainable_weights)
    model.zero_grad()
    assert all(w.grad is None for w in model.trainable_weights)


def test_lazy_build_from_data():
    model = Sequential([Dense(5, activation="relu"), Dense(2)])
    assert not model.built
    with pytest.raises(ValueError, match="not been built"):
        model.summary()
    assert model(np.ones((3, 7), np.float32)).shape == (3, 2)
    assert model.layers[0].kernel.shape == (7, 5)
    assert model.count_params() == 7 * 5 + 5 + 5 * 2 + 2


# --- summary ----------------------------------------------------------------------------------------------
def test_summary_reference_cnn_has_93322_parameters():
    clear_session()
    model = reference_cnn()
    lines = []
    model.summary(print_fn=lines.append)
    text = lines[0]
    assert "Total params: 93,322" in text and "Trainable params: 93,322" in text
    assert "Non-trainable params: 0" in text
    assert "conv2d_1 (Conv2D)" in text and "(None, 11, 11, 64)" in text and "18,496" in text
    assert "(None, 576)" in text and "dense_1 (Dense)" in text and "650" in text
    assert model.count_params() == 93322


def test_summary_profile():
    model = Sequential([Input((8, 8, 2)), Conv2D(4, 3, activation="relu"), MaxPooling2D(),
                        BatchNormalization(), Flatten(), Dense(3)])
    before = model.get_weights()
    lines = []
    model.summary(profile=True, batch_size=4, print_fn=lines.append)
    text = lines[0]
    assert "MFLOP/smp" in text and "fwd ms" in text and "bwd GF/s" in text
    conv_row = next(line for line in text.splitlines() if line.startswith("conv2d"))
    assert f"{2 * 6 * 6 * 4 * 9 * 2 / 1e6:.2f}" in conv_row        # FLOPs per sample
    for a, b in zip(model.get_weights(), before):                  # profiling changes no weight
        np.testing.assert_array_equal(a, b)


# --- callbacks ------------------------------------------------------------------------------------------
class Recorder(Callback):
    def __init__(self):
        super().__init__()
        self.events = []

    def on_train_begin(self, logs=None):
        self.events.append("train_begin")

    def on_epoch_begin(self, epoch, logs=None):
        self.events.append(f"epoch_begin {epoch}")

    def on_train_batch_end(self, batch, logs=None):
        self.events.append(f"batch_end {batch} {sorted(logs)}")

    def on_epoch_end(self, epoch, logs=None):
        self.events.append(f"epoch_end {epoch} {sorted(logs)}")
        if epoch == 1:
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        self.events.append("train_end")


def test_callback_hooks_order_and_stop_training():
    x, y = blobs(40)
    model = mlp()
    rec = Recorder()
    history = model.fit(x, y, epochs=5, batch_size=20, verbose=0, callbacks=[rec], validation_split=0.5)
    assert rec.model is model
    assert rec.events == [
        "train_begin", "epoch_begin 0", "batch_end 0 ['accuracy', 'loss']",
        "epoch_end 0 ['accuracy', 'loss', 'val_accuracy', 'val_loss']", "epoch_begin 1",
        "batch_end 0 ['accuracy', 'loss']", "epoch_end 1 ['accuracy', 'loss', 'val_accuracy', 'val_loss']",
        "train_end"]
    assert len(history.history["loss"]) == 2


class Scripted(Callback):
    """Replaces the logged val_loss with a scripted sequence."""

    def __init__(self, values):
        super().__init__()
        self.values = values

    def on_epoch_end(self, epoch, logs=None):
        logs["val_loss"] = self.values[epoch]


def test_early_stopping_patience_and_restore_best_weights():
    x, y = blobs(40)
    model = mlp()
    snapshots = []

    class Snapshot(Callback):
        def on_epoch_end(self, epoch, logs=None):
            snapshots.append(self.model.get_weights())

    stopper = EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    values = [1.0, 0.5, 0.7, 0.6, 0.4, 0.3]
    history = model.fit(x, y, epochs=6, verbose=0, validation_split=0.25,
                        callbacks=[Scripted(values), Snapshot(), stopper])
    assert len(history.history["loss"]) == 4            # best at epoch 1, two epochs without improvement
    assert stopper.stopped_epoch == 3 and stopper.best == 0.5
    for got, want in zip(model.get_weights(), snapshots[1]):
        np.testing.assert_array_equal(got, want)
    # min_delta: 0.5 -> 0.45 is not an improvement of more than 0.1
    stopper = EarlyStopping(monitor="val_loss", min_delta=0.1, patience=0)
    model.fit(x, y, epochs=6, verbose=0, validation_split=0.25,
              callbacks=[Scripted([1.0, 0.95, 0.5]), stopper])
    assert stopper.stopped_epoch == 1
    # mode auto: accuracy is maximised
    assert EarlyStopping(monitor="val_accuracy").monitor_op is np.greater


def test_model_checkpoint(tmp_path):
    x, y = blobs(40)
    model = mlp()
    pattern = str(tmp_path / "ckpt-{epoch:02d}-{val_loss:.2f}.nnx")
    model.fit(x, y, epochs=3, verbose=0, validation_split=0.25,
              callbacks=[Scripted([0.9, 0.8, 0.85]), ModelCheckpoint(pattern)])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt-01-0.90.nnx", "ckpt-02-0.80.nnx",
                                                          "ckpt-03-0.85.nnx"]
    best = tmp_path / "best.nnx"
    model.fit(x, y, epochs=3, verbose=0, validation_split=0.25,
              callbacks=[Scripted([0.9, 0.8, 0.85]), ModelCheckpoint(str(best), save_best_only=True),
                         Recorder()])
    restored = load_model(best)
    assert restored.optimizer.iterations > 0
    with pytest.raises(ValueError, match="ModelCheckpoint"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[ModelCheckpoint(str(tmp_path / "{nope}.nnx"))])


# --- progress bar -----------------------------------------------------------------------------------------
def test_fit_output_per_verbosity(capsys):
    x, y = blobs(50)
    model = mlp()
    model.fit(x, y, epochs=2, batch_size=10, verbose=0)
    assert capsys.readouterr().out == ""
    model.fit(x, y, epochs=2, batch_size=10, verbose=2, validation_split=0.2)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Epoch 1/2" and lines[2] == "Epoch 2/2" and len(lines) == 4
    assert lines[1].startswith("4/4 - ") and "/step - loss: " in lines[1] and "val_accuracy: " in lines[1]
    model.fit(x, y, epochs=1, batch_size=10)             # 'auto' = 1; not a terminal: final line only
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Epoch 1/1" and len(lines) == 2
    assert lines[1].startswith("5/5 [==============================] - ") and "accuracy: " in lines[1]


class FakeTTY(io.StringIO):
    def isatty(self):
        return True


def test_progbar_on_a_terminal_redraws_throttled(monkeypatch):
    clock = iter(np.arange(0, 100, 0.01))        # each call to perf_counter advances 10 ms
    monkeypatch.setattr("nnx.utils.progbar.time.perf_counter", lambda: float(next(clock)))
    stream = FakeTTY()
    bar = Progbar(100, stream=stream)
    for step in range(1, 101):
        bar.update(step, [("loss", 1.0 / step)])
    bar.finish([("loss", 0.01), ("val_loss", 0.5)])
    frames = stream.getvalue().split("\r")[1:]
    assert 5 <= len(frames) <= 15                 # ~1 s at 10 redraws/s, not 100
    assert "ETA: " in frames[0] and frames[0].split("/")[0].strip().isdigit()
    assert frames[-1].startswith("100/100 [==============================] - 1s 10ms/step - loss: 0.0100 "
                                 "- val_loss: 0.5000")
    assert frames[-1].endswith("\n")


# --- bad input ---------------------------------------------------------------------------------------------
def test_bad_input_messages():
    x, y = blobs(20)
    model = mlp()
    with pytest.raises(ValueError, match=r"Dense 'dense.*': expected input with 4 on axis -1"):
        model.predict(np.zeros((3, 5), np.float32))
    with pytest.raises(ValueError, match=r"expected input of rank >= 2"):
        model.predict(np.zeros(4, np.float32))
    with pytest.raises(ValueError, match=r"same number of samples.*\(20, 4\).*\(19,\)"):
        model.fit(x, y[:19], verbose=0)
    with pytest.raises(ValueError, match=r"labels of shape \(20,\).*\(20, 3\)"):
        model.fit(x, np.eye(3)[y], verbose=0)
    with pytest.raises(ValueError, match=r"did you mean .*'adam'"):
        model.compile(optimizer="adma", loss="mse")
    with pytest.raises(ValueError, match="sparse_categorical_crossentropy"):
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropyy")
    with pytest.raises(ValueError, match="accuracy"):
        model.compile(optimizer="adam", loss="mse", metrics=["acuracy"])
    with pytest.raises(RuntimeError, match="compile"):
        Sequential([Input((4,)), Dense(2)]).fit(x, y, verbose=0)
    cnn = reference_cnn()
    with pytest.raises(ValueError, match=r"Conv2D 'conv2d.*': expected input of rank 4 \(N, H, W, C\), "
                                         r"got shape \(2, 28, 28\)"):
        cnn.predict(np.zeros((2, 28, 28), np.float32))
    with pytest.raises(ValueError, match=r"expected input of shape \(None, 28, 28, 1\), got "
                                         r"\(None, 32, 32, 1\)"):
        cnn.predict(np.zeros((2, 32, 32, 1), np.float32))
    model2 = Sequential([Input((28, 28, 1)), Flatten()])
    with pytest.raises(ValueError, match="Conv2D"):
        model2.add(Conv2D(4, 3))                 # rank 2 into a conv layer: refused at add time
    assert len(model2.layers) == 1


def test_training_on_the_shadow_backend_agrees_with_the_references(monkeypatch):
    """A real CNN training step with every kernel checked against its NumPy reference."""
    rng = np.random.default_rng(0)
    x, y = rng.random((16, 12, 12, 1), dtype=np.float32), rng.integers(0, 3, 16)
    nnx.manual_seed(0)
    model = Sequential([Input((12, 12, 1)), Conv2D(4, 3, activation="relu"), MaxPooling2D(),
                        Conv2D(4, 3, padding="same", strides=2), Flatten(), Dense(3, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    calls = {nnx.kernels: {}, nnx.reference: {}}      # the shadow backend must really run both

    def counted(module, name):
        kernel = getattr(module, name)

        def count(*args, **kwargs):
            calls[module][name] = calls[module].get(name, 0) + 1
            return kernel(*args, **kwargs)
        monkeypatch.setattr(module, name, count)
    for name in nnx.backend.KERNEL_NAMES:
        counted(nnx.kernels, name)
        counted(nnx.reference, name)
    with nnx.use_backend("shadow"):
        history = model.fit(x, y, epochs=2, batch_size=8, verbose=0, validation_split=0.25)
    assert np.isfinite(history.history["loss"]).all()
    assert calls[nnx.kernels] == calls[nnx.reference]
    assert {"conv2d_forward", "conv2d_backward_input", "conv2d_backward_weight", "max_pool2d_forward",
            "max_pool2d_backward"} <= set(calls[nnx.kernels])


def test_the_epoch_line_shows_the_logs_as_the_callbacks_left_them(capsys):
    # Keras' progress bar is the last callback: a callback that rewrites the logs (distributed
    # MetricAverage replaces them by their means over the ranks) is what the epoch's line shows
    class Rewrite(Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs["loss"] = 123.25

    model = Sequential([Dense(2, input_shape=(3,))])
    model.compile("sgd", "mse")
    history = model.fit(np.ones((4, 3)), np.zeros((4, 2)), epochs=1, verbose=2, callbacks=[Rewrite()])
    assert "loss: 123.2500" in capsys.readouterr().out
    assert history.history["loss"] == [123.25]
