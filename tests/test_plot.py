"""nnx.plot: every function returns a Figure showing the data it was given and writes a PNG on request;
a missing matplotlib gives an ImportError naming the extra; the explain_mnist example writes its six
pictures."""
import importlib
import sys

import numpy as np
import pytest

import nnx
from nnx.callbacks import History
from nnx.layers import Conv2D, Dense, Flatten
from nnx.models import Sequential

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_missing_matplotlib_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)        # `import matplotlib...` now fails
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    monkeypatch.delitem(sys.modules, "nnx.plot", raising=False)
    with pytest.raises(ImportError, match=r'pip install "nnx\[plot\]"'):
        importlib.import_module("nnx.plot")


plot = pytest.importorskip("nnx.plot", exc_type=ImportError)
from matplotlib.figure import Figure  # noqa: E402  (only when matplotlib is installed)


def _is_png(path):
    with open(path, "rb") as f:
        return f.read(8) == PNG_SIGNATURE


def _tiny_cnn():
    nnx.manual_seed(0)
    return Sequential([Conv2D(4, (3, 3), activation="relu", input_shape=(8, 8, 1), name="c1"),
                       Flatten(), Dense(3, activation="softmax")])


def test_history_plots_each_metric_with_its_validation_curve(tmp_path):
    h = History()
    h.epoch = [0, 1]
    h.history = {"loss": [1.0, 0.8, 0.6, 0.5], "val_loss": [0.9, 0.7], "accuracy": [0.5, 0.7],
                 "val_accuracy": [0.6, 0.8]}
    fig = plot.history(h, path=tmp_path / "h.png")
    assert isinstance(fig, Figure) and _is_png(tmp_path / "h.png")
    loss_ax, acc_ax = fig.axes
    assert loss_ax.get_title() == "loss" and acc_ax.get_title() == "accuracy"
    train, val = loss_ax.lines
    # 4 per-batch values over 2 epochs land at 0.5, 1, 1.5, 2; per-epoch values at 1, 2
    np.testing.assert_allclose(train.get_xdata(), [0.5, 1.0, 1.5, 2.0])
    np.testing.assert_allclose(train.get_ydata(), [1.0, 0.8, 0.6, 0.5])
    np.testing.assert_allclose(val.get_xdata(), [1.0, 2.0])
    fig = plot.history({"loss": [3.0, 2.0, 1.0]})        # a plain dict works too
    np.testing.assert_allclose(fig.axes[0].lines[0].get_xdata(), [1, 2, 3])
    with pytest.raises(ValueError, match="plot.history: expected a History"):
        plot.history([])


def test_images_grid_shows_each_image_with_its_label(tmp_path):
    x = np.random.default_rng(0).uniform(size=(12, 5, 5, 1))
    fig = plot.images(x, labels=list(range(12)), path=tmp_path / "i.png")
    assert _is_png(tmp_path / "i.png")
    assert len(fig.axes) == 12
    np.testing.assert_array_equal(fig.axes[3].images[0].get_array(), x[3, ..., 0])
    assert fig.axes[3].get_title() == "3"
    rgb = plot.images(np.random.default_rng(1).uniform(-1, 1, (2, 4, 4, 3)))
    shown = np.asarray(rgb.axes[0].images[0].get_array())
    assert shown.min() == 0 and shown.max() == 1         # colour scaled into [0, 1]
    with pytest.raises(ValueError, match="got 2 labels for 12 images"):
        plot.images(x, labels=[0, 1])
    with pytest.raises(ValueError, match=r"expected images .* got shape \(5, 5\)"):
        plot.images(np.zeros((5, 5)))


def test_filters_shows_one_tile_per_output_channel(tmp_path):
    model = _tiny_cnn()
    kernel = model.layers[0].kernel.data
    fig = plot.filters(model.layers[0], path=tmp_path / "f.png")
    assert _is_png(tmp_path / "f.png")
    assert len(fig.axes) == 4
    np.testing.assert_allclose(fig.axes[2].images[0].get_array(), kernel[:, :, 0, 2], rtol=1e-6)
    with pytest.raises(ValueError, match="expected a built Conv2D layer"):
        plot.filters(model.layers[2])


def test_feature_maps_show_the_layer_output_for_one_sample(tmp_path):
    model = _tiny_cnn()
    x = np.random.default_rng(2).uniform(size=(3, 8, 8, 1)).astype("float32")
    fig = plot.feature_maps(model, x[0], "c1", path=tmp_path / "m.png")
    assert _is_png(tmp_path / "m.png")
    maps = nnx.explain.activations(model, x[:1], layers=["c1"])["c1"][0]
    assert len(fig.axes) == 4
    np.testing.assert_allclose(fig.axes[1].images[0].get_array(), maps[:, :, 1])
    same = plot.feature_maps(model, x, model.layers[0])           # a batch shows its first sample
    np.testing.assert_allclose(same.axes[1].images[0].get_array(), maps[:, :, 1])
    with pytest.raises(ValueError, match="must output feature maps"):
        plot.feature_maps(model, x, model.layers[1])


def test_attribution_rows_show_input_map_and_overlay(tmp_path):
    x = np.random.default_rng(3).uniform(size=(2, 6, 6, 1))
    a = np.random.default_rng(4).standard_normal((2, 6, 6, 1))
    fig = plot.attribution(x, a, path=tmp_path / "a.png")
    assert _is_png(tmp_path / "a.png")
    assert len(fig.axes) == 6
    np.testing.assert_allclose(fig.axes[4].images[0].get_array(), a[1, ..., 0])
    low, high = fig.axes[4].images[0].get_clim()
    assert low == -high                                  # signed maps: colour scale centred on 0
    cam = np.abs(a[..., 0])                              # (N, H, W) maps, as Grad-CAM returns
    fig = plot.attribution(x, cam)
    assert fig.axes[1].images[0].get_clim()[0] == 0
    with pytest.raises(ValueError, match="do not match images"):
        plot.attribution(x, a[:, :5])


def test_confusion_matrix_counts_by_hand(tmp_path):
    y_true = np.array([0, 0, 1, 2, 2, 2])
    y_pred = np.array([0, 1, 1, 2, 0, 2])
    fig = plot.confusion_matrix(y_true, y_pred, path=tmp_path / "c.png")
    assert _is_png(tmp_path / "c.png")
    np.testing.assert_array_equal(fig.axes[0].images[0].get_array(),
                                  [[1, 1, 0], [0, 1, 0], [1, 0, 2]])
    scores = np.eye(3)[y_pred]                          # probabilities: their argmax is taken
    np.testing.assert_array_equal(plot.confusion_matrix(y_true, scores).axes[0].images[0].get_array(),
                                  [[1, 1, 0], [0, 1, 0], [1, 0, 2]])
    with pytest.raises(ValueError, match="same number"):
        plot.confusion_matrix(y_true, y_pred[:3])


def test_a_failed_write_leaves_no_file(tmp_path):
    target = tmp_path / "missing_dir" / "h.png"
    with pytest.raises(OSError):
        plot.history({"loss": [1.0]}, path=target)
    assert not target.exists()
    plot.history({"loss": [1.0]}, path=tmp_path / "ok.png")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ok.png"]   # no temporary left behind


@pytest.mark.slow
def test_explain_mnist_example_writes_its_six_pictures(tmp_path, capsys):
    from nnx.examples import explain_mnist
    explain_mnist.main(["--out", str(tmp_path), "--limit", "256", "--save", str(tmp_path / "m.nnx")])
    names = ["history.png", "filters.png", "feature_maps.png", "saliency.png", "grad_cam.png",
             "confusion.png"]
    assert all(_is_png(tmp_path / n) for n in names)
    assert "Test accuracy" in capsys.readouterr().out
    loaded = tmp_path / "loaded"
    explain_mnist.main(["--out", str(loaded), "--model", str(tmp_path / "m.nnx"), "--limit", "256"])
    assert sorted(p.name for p in loaded.iterdir()) == sorted(names[1:])   # no history when loaded
