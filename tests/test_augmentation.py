"""Augmentation layers against hand-computed images and Keras 3's formulas
(keras/src/layers/preprocessing/image_preprocessing/random_rotation.py, random_translation.py,
random_zoom.py, random_flip.py, random_contrast.py, random_crop.py)."""
import numpy as np
import pytest

import nnx
from nnx.layers import (Conv2D, Dense, Flatten, RandomContrast, RandomCrop, RandomFlip, RandomRotation,
                        RandomTranslation, RandomZoom)
from nnx.models import Sequential, load_model


def images(shape=(6, 8, 8, 2), seed=0):
    return np.random.default_rng(seed).uniform(0, 1, shape).astype(np.float32)


ALL = [lambda: RandomFlip(), lambda: RandomRotation(0.3), lambda: RandomTranslation(0.2, 0.3),
       lambda: RandomZoom(0.3, 0.2), lambda: RandomContrast(0.5, value_range=(0, 1)),
       lambda: RandomCrop(5, 7)]
IDENTITY_AT_INFERENCE = ALL[:5]


@pytest.mark.parametrize("make", IDENTITY_AT_INFERENCE)
def test_identity_at_inference(make):
    x = images()
    np.testing.assert_array_equal(make()(x).numpy(), x)
    np.testing.assert_array_equal(make()(x, training=False).numpy(), x)


@pytest.mark.parametrize("make", ALL)
def test_training_changes_the_images_reproducibly_under_manual_seed(make):
    x = images()
    nnx.manual_seed(3)
    first = make()(x, training=True).numpy()
    nnx.manual_seed(3)
    again = make()(x, training=True).numpy()
    np.testing.assert_array_equal(first, again)
    different = make()(x, training=True).numpy()      # the generator has moved on
    assert not np.array_equal(first, different)
    if first.shape == x.shape:
        assert not np.array_equal(first, x)


@pytest.mark.parametrize("make", ALL)
def test_layer_seed_gives_its_own_stream_and_config_round_trips(make):
    layer = make()
    config = layer.get_config()
    seeded = type(layer).from_config({**config, "name": "a", "seed": 5})
    again = type(layer).from_config({**config, "name": "b", "seed": 5})
    x = images()
    np.testing.assert_array_equal(seeded(x, training=True).numpy(), again(x, training=True).numpy())
    assert type(layer).from_config(config).get_config() == config


def test_rotation_by_a_quarter_turn_is_rot90():
    """factor (0.25, 0.25) is exactly 90 degrees counter-clockwise; nearest sampling of a square image."""
    x = images((3, 7, 7, 2))
    got = RandomRotation((0.25, 0.25), interpolation="nearest")(x, training=True).numpy()
    np.testing.assert_array_equal(got, np.rot90(x, axes=(1, 2)))
    back = RandomRotation((-0.25, -0.25), interpolation="nearest")(x, training=True).numpy()
    np.testing.assert_array_equal(back, np.rot90(x, k=-1, axes=(1, 2)))


def test_rotation_angles_per_sample_stay_in_range():
    """Each image of a batch of identical images is rotated by its own angle within factor * 360."""
    x = np.repeat(images((1, 9, 9, 1)), 16, axis=0)
    nnx.manual_seed(0)
    got = RandomRotation(0.05, fill_mode="constant")(x, training=True).numpy()
    assert len({g.tobytes() for g in got}) == 16          # one draw per sample
    assert np.abs(got[:, 4, 4] - x[:, 4, 4]).max() < 1e-6  # the centre pixel stays


@pytest.mark.parametrize("fill_mode", ["constant", "reflect", "nearest", "wrap"])
def test_translation_by_whole_pixels_is_a_shift_with_the_fill(fill_mode):
    x = images((2, 8, 10, 1))
    # height 0.25 * 8 = 2 rows down, width -0.2 * 10 = 2 columns left
    layer = RandomTranslation((0.25, 0.25), (-0.2, -0.2), fill_mode=fill_mode, fill_value=-1.0)
    got = layer(x, training=True).numpy()
    pad = {"constant": "constant", "reflect": "symmetric", "nearest": "edge", "wrap": "wrap"}[fill_mode]
    kwargs = {"constant_values": -1.0} if fill_mode == "constant" else {}
    padded = np.pad(x, ((0, 0), (2, 0), (0, 2), (0, 0)), mode=pad, **kwargs)
    np.testing.assert_array_equal(got, padded[:, :8, 2:])


def test_zoom_is_separable_linear_interpolation_about_the_centre():
    """Zoom factor -0.5 samples the central half: output x reads input 0.5 * x + (W - 1) / 4."""
    x = images((2, 9, 5, 1))
    got = RandomZoom((-0.5, -0.5), (-0.5, -0.5))(x, training=True).numpy()
    rows = 0.5 * np.arange(9) + 8 / 4
    cols = 0.5 * np.arange(5) + 4 / 4
    want = np.empty_like(x)
    for i in range(2):
        along_cols = np.stack([np.interp(cols, np.arange(5), x[i, r, :, 0]) for r in range(9)])
        want[i, :, :, 0] = np.stack([np.interp(rows, np.arange(9), along_cols[:, q])
                                     for q in range(5)], axis=1)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


def test_zoom_without_width_factor_shares_the_draw():
    x = images((4, 8, 8, 1))
    layer = RandomZoom((-0.4, 0.4), seed=1)
    transforms = layer.transforms(4, 8, 8, np.random.default_rng(0))
    np.testing.assert_array_equal(transforms[:, 0], transforms[:, 4])
    assert layer(x, training=True).shape == x.shape


@pytest.mark.parametrize("mode,flips", [("horizontal", {(False, False), (True, False)}),
                                        ("vertical", {(False, False), (False, True)}),
                                        ("horizontal_and_vertical",
                                         {(a, b) for a in (False, True) for b in (False, True)})])
def test_flip_per_sample(mode, flips):
    x = np.repeat(images((1, 5, 6, 2)), 64, axis=0)
    nnx.manual_seed(1)
    got = RandomFlip(mode)(x, training=True).numpy()
    seen = set()
    for g in got:
        for h in (False, True):
            for v in (False, True):
                want = x[0][:, ::-1] if h else x[0]
                want = want[::-1] if v else want
                if np.array_equal(g, want):
                    seen.add((h, v))
    assert seen == flips


def test_contrast_formula_and_range():
    x = images((32, 6, 6, 3))
    nnx.manual_seed(2)
    got = RandomContrast((0.2, 0.4), value_range=(-10, 10))(x, training=True).numpy()  # no clipping
    mean = x.mean(axis=(1, 2), keepdims=True)
    centred = (x - mean).astype(np.float64)
    f = ((got - mean) * centred).sum(axis=(1, 2, 3)) / (centred ** 2).sum(axis=(1, 2, 3))  # least squares
    np.testing.assert_allclose(got, centred * f[:, None, None, None] + mean, rtol=0, atol=1e-6)
    assert (f >= 0.8 - 1e-6).all() and (f <= 1.4 + 1e-6).all()
    assert f.std() > 0.05                                                               # one per sample


def test_contrast_clips_to_value_range():
    x = images((8, 6, 6, 1))
    got = RandomContrast((1.0, 1.0), value_range=(0, 1))(x, training=True).numpy()
    assert got.min() >= 0 and got.max() <= 1


def test_crop_while_training_is_a_window_of_each_image():
    x = images((10, 9, 11, 1))
    nnx.manual_seed(4)
    got = RandomCrop(4, 5)(x, training=True).numpy()
    assert got.shape == (10, 4, 5, 1)
    starts = set()
    for g, image in zip(got, x):
        hits = [(t, l) for t in range(6) for l in range(7) if np.array_equal(image[t:t + 4, l:l + 5], g)]
        assert hits
        starts.add(hits[0])
    assert len(starts) > 1


def test_crop_at_inference_is_the_centred_window_resized():
    """A 4x6 image to 2x2: the centred 4x4 window, halved: each output is the mean of a 2x2 block."""
    x = images((2, 4, 6, 1))
    got = RandomCrop(2, 2)(x).numpy()
    window = x[:, :, 1:5]
    want = window.reshape(2, 2, 2, 2, 2, 1).mean(axis=(2, 4))
    np.testing.assert_allclose(got, want, rtol=1e-6)
    # a window of exactly the target size is returned as it is
    np.testing.assert_array_equal(RandomCrop(4, 4)(x).numpy(), window)


def test_crop_falls_back_to_resize_when_the_image_is_small():
    x = images((1, 3, 3, 1))
    got = RandomCrop(6, 6)(x, training=True).numpy()
    assert got.shape == (1, 6, 6, 1)
    # half-pixel centres: output o samples input 0.5 * o - 0.25, clamped to the edge pixels
    at = 0.5 * np.arange(6) - 0.25
    rows = np.stack([np.interp(at, np.arange(3), x[0, r, :, 0]) for r in range(3)])
    want = np.stack([np.interp(at, np.arange(3), rows[:, q]) for q in range(6)], axis=1)
    np.testing.assert_allclose(got[0, :, :, 0], want, rtol=1e-6)


def test_backends_agree_through_a_layer():
    x = images((4, 10, 10, 3))
    results = []
    for name in ("native", "reference", "shadow"):
        with nnx.use_backend(name):
            results.append(RandomRotation(0.2, seed=9)(x, training=True).numpy())
    np.testing.assert_allclose(results[0], results[1], rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(results[0], results[2])


def test_in_a_model_fit_augments_and_predict_does_not():
    nnx.manual_seed(0)
    model = Sequential([RandomFlip("horizontal", input_shape=(8, 8, 1)), RandomRotation(0.1),
                        RandomCrop(6, 6), Conv2D(2, 3, activation="relu"), Flatten(), Dense(2)])
    model.compile("adam", "mse")
    x, y = images((16, 8, 8, 1)), np.zeros((16, 2), np.float32)
    model.fit(x, y, epochs=1, verbose=0)
    np.testing.assert_array_equal(model.predict(x, verbose=0), model.predict(x, verbose=0))
    assert model.predict(x, verbose=0).shape == (16, 2)


def test_saved_model_keeps_the_augmentation_layers(tmp_path):
    model = Sequential([RandomZoom(0.1, input_shape=(8, 8, 1)), RandomContrast(0.2, value_range=(0, 1)),
                        Flatten(), Dense(3)])
    model.compile("sgd", "mse")
    model.predict(images((2, 8, 8, 1)), verbose=0)
    model.save(tmp_path / "m.nnx")
    loaded = load_model(tmp_path / "m.nnx")
    assert [l.get_config() for l in loaded.layers] == [l.get_config() for l in model.layers]


def test_requires_grad_input_is_refused_while_training():
    from nnx.tensor import Tensor
    x = Tensor(images(), requires_grad=True)
    with pytest.raises(ValueError, match="RandomZoom .*gradient"):
        RandomZoom(0.1)(x, training=True)
    assert RandomZoom(0.1)(x) is not None                 # inference is the identity


@pytest.mark.parametrize("make,message", [
    (lambda: RandomRotation(1.5), "factor"), (lambda: RandomRotation((0.1,)), "factor"),
    (lambda: RandomRotation("a"), "factor"), (lambda: RandomRotation(0.1, fill_mode="mirror"), "fill_mode"),
    (lambda: RandomZoom(0.1, interpolation="bicubic"), "interpolation"),
    (lambda: RandomZoom(0.1, fill_value=float("nan")), "fill_value"),
    (lambda: RandomTranslation(0.1, (0.1, 2)), "width_factor"),
    (lambda: RandomContrast(-0.1), "factor"), (lambda: RandomContrast(0.1, value_range=(1, 0)), "value_range"),
    (lambda: RandomFlip("diagonal"), "mode"), (lambda: RandomCrop(0, 3), "height"),
    (lambda: RandomCrop(3, 2.5), "width"), (lambda: RandomFlip(seed=-1), "seed"),
])
def test_bad_arguments_raise_clear_errors(make, message):
    with pytest.raises((ValueError, TypeError), match=message):
        make()


def test_bad_input_rank_names_the_layer():
    with pytest.raises(ValueError, match=r"RandomFlip 'flip': expected input of rank 4 \(N, H, W, C\)"):
        RandomFlip(name="flip")(np.zeros((28, 28), np.float32), training=True)


@pytest.mark.slow
def test_scarce_mnist_example_runs_end_to_end(capsys):
    from nnx.examples import scarce_mnist
    scarce, moved = scarce_mnist.main(["--train-size", "50", "--epochs", "1", "--pretrain-size", "250",
                                       "--labelled", "25", "--transfer-epochs", "1", "--test-size", "300"])
    assert set(scarce) == {"without augmentation", "with augmentation"}
    assert set(moved) == {"frozen pretrained base", "from scratch"}
    assert all(0.0 <= a <= 1.0 for a in [*scarce.values(), *moved.values()])
    out = capsys.readouterr().out
    assert "augmentation gains" in out and "transfer gains" in out
