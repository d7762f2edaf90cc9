"""End to end: the reference program (docs/api.md section 0) for one epoch on a 10,000-image slice of the
bundled MNIST must reach > 95% test accuracy on the full test set."""
import time

import numpy as np
import pytest

import nnx
from nnx.examples import mnist_cnn


@pytest.mark.slow
def test_reference_program_one_epoch_on_10k_images(tmp_path):
    nnx.manual_seed(0)
    (x_train, y_train), (x_test, y_test) = mnist_cnn.load(limit=10_000)
    assert x_train.shape == (10_000, 28, 28, 1) and x_train.dtype == np.float32
    model = mnist_cnn.build_model()
    assert model.count_params() == 93_322
    start = time.perf_counter()
    history = model.fit(x_train, y_train, epochs=1, batch_size=32, verbose=0,
                        validation_data=(x_test, y_test))
    seconds = time.perf_counter() - start
    accuracy = history.history["val_accuracy"][-1]
    assert accuracy > 0.95, f"test accuracy {accuracy:.4f} after one epoch on 10k images ({seconds:.1f} s)"
    assert history.history["accuracy"][-1] > 0.85
    path = tmp_path / "mnist.nnx"
    model.save(path)
    restored = nnx.models.load_model(path)
    np.testing.assert_array_equal(restored.predict(x_test[:500], verbose=0),
                                  model.predict(x_test[:500], verbose=0))


def test_example_cli_runs_on_a_tiny_budget(tmp_path, monkeypatch, capsys):
    """The command-line entry point: arguments, summary, progress output, accuracy line, saving."""
    (x_train, y_train), (x_test, y_test) = mnist_cnn.load(limit=256)
    monkeypatch.setattr(mnist_cnn, "load", lambda limit=None: ((x_train, y_train),
                                                               (x_test[:256], y_test[:256])))
    path = tmp_path / "cli.nnx"
    threads = nnx.get_num_threads()
    try:
        accuracy = mnist_cnn.main(["--epochs", "1", "--batch-size", "64", "--threads", "1",
                                   "--save", str(path), "--seed", "1"])
    finally:
        nnx.set_num_threads(threads)
    out = capsys.readouterr().out
    assert "Total params: 93,322" in out and "Epoch 1/1" in out and "Test accuracy: " in out
    assert 0.0 <= accuracy <= 1.0 and path.exists()
