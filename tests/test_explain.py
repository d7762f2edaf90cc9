"""nnx.explain, checked by mathematical property and against independent NumPy references:

- saliency of a linear model is its weight row; SmoothGrad's expectation for a quadratic;
- integrated gradients' completeness (attributions sum to f(x) - f(baseline)), tighter with more steps;
- occlusion of a linear model is the exact output drop (reference: explicit loops over windows);
- Grad-CAM against a hand computation (NumPy convolution, hand gradient, loop bilinear resize);
- LIME recovers the signs and ranking of a known linear model's coefficients (tabular, text);
- activations and activation_stats by hand.
"""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import nnx
from nnx import explain
from nnx.explain.grad_cam import resize_bilinear
from nnx.layers import Conv2D, Dense, Flatten, MaxPooling2D
from nnx.models import Sequential


def linear_model(n_in, n_out, seed=0, dtype="float64", input_shape=None):
    """Flatten + Dense without activation: f(x) = vec(x) @ W + b; returns (model, W, b)."""
    rng = np.random.default_rng(seed)
    model = Sequential([Flatten(input_shape=input_shape or (n_in,), dtype=dtype), Dense(n_out, dtype=dtype)])
    w, b = rng.standard_normal((n_in, n_out)), rng.standard_normal(n_out)
    model.set_weights([w, b])
    return model, w, b


def small_mlp(seed=0):
    """A strongly non-linear float64 classifier on 6 features."""
    nnx.manual_seed(seed)
    return Sequential([Dense(16, activation="tanh", input_shape=(6,), dtype="float64"),
                       Dense(4, activation="softmax", dtype="float64")])


# --- saliency ---------------------------------------------------------------------------------------

def test_saliency_of_a_linear_model_is_its_weight_row():
    model, w, _ = linear_model(5, 3)
    x = np.random.default_rng(1).standard_normal((7, 5))
    target = np.array([0, 1, 2, 0, 1, 2, 2])
    np.testing.assert_allclose(explain.saliency(model, x, target), w[:, target].T, rtol=1e-12)


def test_saliency_default_target_is_the_predicted_class_and_callables_work():
    rng = np.random.default_rng(2)
    w = rng.standard_normal((4, 3))
    x = rng.standard_normal((6, 4))
    predicted = np.argmax(x @ w, axis=1)
    sal = explain.saliency(lambda t: t @ w, x)
    np.testing.assert_allclose(sal, w[:, predicted].T, rtol=1e-12)


def test_saliency_is_the_same_in_any_chunking_and_equals_finite_differences():
    model = small_mlp()
    x = np.random.default_rng(3).standard_normal((5, 6))
    whole = explain.saliency(model, x, target=2)
    np.testing.assert_array_equal(whole, explain.saliency(model, x, target=2, batch_size=2))
    probs = lambda v: model.predict(v[None], verbose=0)[0, 2]
    for i in range(len(x)):
        v = x[i].copy()
        fd = nnx.testing.numerical_gradient(lambda: probs(v), v)
        np.testing.assert_allclose(whole[i], fd, atol=1e-7)


def test_explanations_leave_the_weight_gradients_alone():
    model = small_mlp()
    x = np.random.default_rng(4).standard_normal((3, 6))
    for w in model.weights:
        w.grad = np.full(w.shape, 7.0)
    explain.saliency(model, x)
    explain.integrated_gradients(model, x, steps=4)
    assert all(np.all(w.grad == 7.0) for w in model.weights)


# --- SmoothGrad -------------------------------------------------------------------------------------

def test_smoothgrad_without_noise_is_saliency_and_of_a_linear_model_is_the_weight_row():
    model = small_mlp()
    x = np.random.default_rng(5).standard_normal((4, 6))
    np.testing.assert_allclose(explain.smoothgrad(model, x, samples=3, noise=0.0),
                               explain.saliency(model, x), rtol=1e-12)
    lin, w, _ = linear_model(5, 2)
    xs = np.random.default_rng(6).standard_normal((3, 5))
    np.testing.assert_allclose(explain.smoothgrad(lin, xs, target=1, samples=7, seed=0),
                               np.tile(w[:, 1], (3, 1)), rtol=1e-12)


def test_smoothgrad_of_a_quadratic_is_its_gradient_in_expectation():
    # f(x) = sum(x**2): each noisy gradient is 2(x + eps), so SG = 2x + 2 mean(eps), whose standard
    # deviation is 2 sigma / sqrt(samples) with sigma = noise * (max(x) - min(x)).
    x = np.random.default_rng(7).uniform(-1, 1, (3, 50))
    samples, noise = 400, 0.2
    sg = explain.smoothgrad(lambda t: (t * t).sum(axis=1, keepdims=True), x, samples=samples,
                            noise=noise, seed=1)
    sigma = noise * (x.max(axis=1) - x.min(axis=1))
    z = (sg - 2 * x) / (2 * sigma[:, None] / np.sqrt(samples))
    assert np.abs(z).max() < 5
    assert 0.8 < z.std() < 1.2       # the noise really has the stated sigma


def test_smoothgrad_is_repeatable_by_seed_and_by_manual_seed():
    model = small_mlp()
    x = np.random.default_rng(8).standard_normal((2, 6))
    a = explain.smoothgrad(model, x, samples=5, seed=3)
    np.testing.assert_array_equal(a, explain.smoothgrad(model, x, samples=5, seed=3))
    nnx.manual_seed(11)
    b = explain.smoothgrad(model, x, samples=5)
    nnx.manual_seed(11)
    np.testing.assert_array_equal(b, explain.smoothgrad(model, x, samples=5))


# --- integrated gradients ---------------------------------------------------------------------------

def _completeness_error(model, x, baseline, steps, target):
    ig = explain.integrated_gradients(model, x, target=target, baseline=baseline, steps=steps)
    fx = model.predict(x, verbose=0)[np.arange(len(x)), target]
    fb = model.predict(np.broadcast_to(baseline, x.shape), verbose=0)[np.arange(len(x)), target]
    return np.abs(ig.reshape(len(x), -1).sum(axis=1) - (fx - fb)).max(), np.abs(fx - fb).max()


def test_integrated_gradients_completeness_tightens_with_more_steps():
    model = small_mlp()
    x = 2 * np.random.default_rng(9).standard_normal((6, 6))
    target = np.array([0, 1, 2, 3, 0, 1])
    baseline = np.full(6, -0.5)
    coarse, scale = _completeness_error(model, x, baseline, 8, target)
    fine, _ = _completeness_error(model, x, baseline, 64, target)
    assert coarse < 0.05 * scale
    assert fine < 1e-3 * scale
    assert fine < coarse / 20       # the midpoint rule's error falls as 1/steps^2 (64x here)


def test_integrated_gradients_of_a_linear_model_is_exact():
    model, w, _ = linear_model(4, 3)
    x = np.random.default_rng(10).standard_normal((5, 4))
    base = np.random.default_rng(11).standard_normal((5, 4))
    np.testing.assert_allclose(explain.integrated_gradients(model, x, 1, baseline=base, steps=3),
                               (x - base) * w[:, 1], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(explain.integrated_gradients(model, x, 1, steps=1), x * w[:, 1], rtol=1e-12)


def test_integrated_gradients_rejects_a_baseline_of_the_wrong_shape():
    model, _, _ = linear_model(4, 3)
    with pytest.raises(ValueError, match="baseline must be shaped like x"):
        explain.integrated_gradients(model, np.ones((2, 4)), baseline=np.zeros(3))


# --- occlusion --------------------------------------------------------------------------------------

def occlusion_by_loops(f, x, window, stride, fill):
    """Independent reference: every window position, one image at a time."""
    n, h, w = x.shape[:3]
    (wh, ww), (sh, sw) = window, stride
    rows = sorted(set(range(0, h - wh + 1, sh)) | {h - wh})
    cols = sorted(set(range(0, w - ww + 1, sw)) | {w - ww})
    out = np.zeros(x.shape)
    for i in range(n):
        total, count = np.zeros((h, w)), np.zeros((h, w))
        for r in rows:
            for c in cols:
                occluded = x[i].copy()
                occluded[r:r + wh, c:c + ww] = fill
                total[r:r + wh, c:c + ww] += f(x[i]) - f(occluded)
                count[r:r + wh, c:c + ww] += 1
        out[i] = np.divide(total, count, out=np.zeros((h, w)), where=count > 0).reshape((h, w) + (1,) * (x.ndim - 3))
    return out


@pytest.mark.parametrize("shape, window, stride, fill", [
    ((3, 8, 8, 2), (4, 4), (2, 2), 0.0),
    ((2, 7, 9, 1), (3, 2), (2, 3), 0.5),     # windows that do not tile: one more flush with the edge
    ((2, 6, 5), 2, 1, -1.0),                 # (N, H, W) images, int window and stride
])
def test_occlusion_of_a_linear_model_is_the_exact_output_drop(shape, window, stride, fill):
    n_in = int(np.prod(shape[1:]))
    model, w, b = linear_model(n_in, 3, input_shape=shape[1:])
    x = np.random.default_rng(12).standard_normal(shape)
    target = np.arange(shape[0]) % 3
    got = explain.occlusion(model, x, target, window=window, stride=stride, fill=fill, batch_size=5)
    pair = lambda v: (v, v) if isinstance(v, int) else v
    for i in range(shape[0]):
        f = lambda img: img.reshape(-1) @ w[:, target[i]] + b[target[i]]
        expected = occlusion_by_loops(f, x[i:i + 1], pair(window), pair(stride), fill)[0]
        np.testing.assert_allclose(got[i], expected, rtol=1e-10, atol=1e-12)


def test_occlusion_rejects_non_images_and_oversized_windows():
    model, _, _ = linear_model(4, 2)
    with pytest.raises(ValueError, match=r"occlusion: x must be a batch of rank >= 3"):
        explain.occlusion(model, np.ones((2, 4)))
    img_model, _, _ = linear_model(9, 2, input_shape=(3, 3, 1))
    with pytest.raises(ValueError, match="larger than the images"):
        explain.occlusion(img_model, np.ones((1, 3, 3, 1)), window=(4, 4))


# --- Grad-CAM ---------------------------------------------------------------------------------------

def bilinear_by_loops(img, height, width):
    """Half-pixel-centre bilinear resize, one output pixel at a time (TF/Keras convention)."""
    h, w = img.shape
    out = np.zeros((height, width))
    for i in range(height):
        for j in range(width):
            y = min(max((i + 0.5) * h / height - 0.5, 0), h - 1)
            x = min(max((j + 0.5) * w / width - 0.5, 0), w - 1)
            y0, x0 = int(y), int(x)
            y1, x1 = min(y0 + 1, h - 1), min(x0 + 1, w - 1)
            dy, dx = y - y0, x - x0
            out[i, j] = ((1 - dy) * ((1 - dx) * img[y0, x0] + dx * img[y0, x1])
                         + dy * ((1 - dx) * img[y1, x0] + dx * img[y1, x1]))
    return out


def test_bilinear_resize_by_hand():
    # 2 -> 4 with half-pixel centres samples the source at 0, 0.25, 0.75, 1 (clamped at the edges).
    got = resize_bilinear(np.array([[[0.0, 1.0], [2.0, 3.0]]]), 4, 4)[0]
    ramp = np.array([0, 0.25, 0.75, 1])
    np.testing.assert_allclose(got, 2 * ramp[:, None] + ramp[None, :], rtol=1e-12)
    img = np.random.default_rng(13).standard_normal((3, 5))
    np.testing.assert_allclose(resize_bilinear(img[None], 7, 4)[0], bilinear_by_loops(img, 7, 4), rtol=1e-12)


def test_grad_cam_equals_a_hand_computation_on_a_tiny_cnn():
    rng = np.random.default_rng(14)
    conv = Conv2D(3, (3, 3), activation="relu", input_shape=(6, 6, 1), dtype="float64", name="conv")
    model = Sequential([conv, Flatten(dtype="float64"), Dense(2, dtype="float64")])
    k, kb = rng.standard_normal((3, 3, 1, 3)), rng.standard_normal(3) * 0.1
    w, b = rng.standard_normal((4 * 4 * 3, 2)), rng.standard_normal(2)
    model.set_weights([k, kb, w, b])
    x = rng.standard_normal((2, 6, 6, 1))
    target = np.array([1, 0])
    got = explain.grad_cam(model, x, target)
    for i in range(2):
        acts = np.zeros((4, 4, 3))
        for r in range(4):
            for c in range(4):
                acts[r, c] = np.einsum("hwc,hwcf->f", x[i, r:r + 3, c:c + 3], k) + kb
        acts = np.maximum(acts, 0)
        # The logit is linear in the activations, so its gradient is the Dense column, reshaped.
        grad = w[:, target[i]].reshape(4, 4, 3)
        alpha = grad.mean(axis=(0, 1))
        cam = np.maximum((acts * alpha).sum(axis=2), 0)
        np.testing.assert_allclose(got[i], bilinear_by_loops(cam, 6, 6), rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(got, explain.grad_cam(model, x, target, layer="conv"))
    np.testing.assert_array_equal(got, explain.grad_cam(model, x, target, layer=conv, batch_size=1))


def test_grad_cam_errors_name_the_problem():
    model, _, _ = linear_model(9, 2, input_shape=(3, 3, 1))
    with pytest.raises(ValueError, match="has no Conv2D layer"):
        explain.grad_cam(model, np.ones((1, 3, 3, 1)))
    with pytest.raises(ValueError, match="'nope' is not a layer"):
        explain.grad_cam(model, np.ones((1, 3, 3, 1)), layer="nope")
    with pytest.raises(TypeError, match="needs an nnx model"):
        explain.grad_cam(lambda t: t, np.ones((1, 3, 3, 1)))


# --- LIME -------------------------------------------------------------------------------------------

def test_lime_recovers_signs_and_ranking_of_a_linear_model():
    coef = np.array([3.0, -2.0, 1.0, -0.5, 0.25, 0.0, -4.0, 1.5])
    x = np.random.default_rng(15).uniform(0.9, 1.1, (3, 8))     # keeps the ranking of |coef| clear
    f = lambda v: np.stack([-(v @ coef), v @ coef], axis=1)
    got = explain.lime(f, x, num_samples=500, seed=0)
    contributions = x * coef            # switching feature j off moves f by coef_j x_j exactly
    for i in range(3):
        t = int((x[i] @ coef) > 0)
        expected = contributions[i] * (1 if t == 1 else -1)
        nonzero = expected != 0
        np.testing.assert_array_equal(np.sign(got[i][nonzero]), np.sign(expected[nonzero]))
        np.testing.assert_array_equal(np.argsort(-np.abs(got[i])), np.argsort(-np.abs(expected)))
        np.testing.assert_allclose(got[i], expected, atol=0.05 * np.abs(expected).max())


def test_lime_on_images_gives_each_pixel_its_segment_weight():
    segments = np.repeat(np.repeat(np.arange(4).reshape(2, 2), 3, axis=0), 3, axis=1)   # 6x6, 4 blocks
    weights = np.array([2.0, -1.0, 0.5, 3.0])
    x = np.ones((2, 6, 6, 2))
    f = lambda v: np.stack([np.zeros(len(v)), (v[..., 0] * weights[segments]).sum(axis=(1, 2))], axis=1)
    x[1] *= -1                          # the second image predicts class 0 (all outputs 0 vs negative)
    got = explain.lime(f, x, segments=segments, seed=1)
    assert got.shape == x.shape
    per_block = 9 * weights             # a block of 9 pixels, each weighted
    for s in range(4):
        block = got[0][segments == s]
        assert np.all(block == block[0, 0])
        # ridge (alpha = 1) shrinks the coefficients slightly towards 0
        low, high = sorted((0.95 * per_block[s], per_block[s]))
        assert low <= block[0, 0] <= high
    np.testing.assert_allclose(got[1], 0.0, atol=1e-9)       # class 0's output never changes


def test_lime_default_segments_are_square_patches_and_seed_repeats():
    model = Sequential([Flatten(input_shape=(16, 16, 1)), Dense(3, activation="softmax")])
    x = np.random.default_rng(16).uniform(size=(2, 16, 16, 1)).astype("float32")
    a = explain.lime(model, x, num_samples=50, seed=4)
    np.testing.assert_array_equal(a, explain.lime(model, x, num_samples=50, seed=4))
    for r in range(0, 16, 2):           # 16 / 8 -> 2 x 2 patches
        for c in range(0, 16, 2):
            assert np.all(a[:, r:r + 2, c:c + 2] == a[:, r:r + 1, c:c + 1])
    with pytest.raises(ValueError, match=r"segments must be an integer map of shape \(16, 16\)"):
        explain.lime(model, x, segments=np.zeros((4, 4), int))


def test_lime_text_on_a_bag_of_words_linear_model():
    vocab = {"great": 2.0, "awful": -3.0, "plot": 0.3, "acting": -0.8, "the": 0.0}
    text = "the plot was great but the acting awful"

    def predict(texts):
        score = np.array([sum(vocab.get(w, 0.0) for w in s.split()) for s in texts])
        return np.stack([-score, score], axis=1)

    got = explain.lime_text(predict, text, num_samples=800, seed=2)
    assert [w for w, _ in got] == text.split()
    weights = np.array([c for _, c in got])
    # The text scores -1.5 -> class 0, whose output is -score: each word's weight is -vocab[word].
    expected = -np.array([vocab.get(w, 0.0) for w in text.split()])
    np.testing.assert_allclose(weights, expected, atol=0.05 * np.abs(expected).max())
    big = np.abs(expected) > 0
    np.testing.assert_array_equal(np.sign(weights[big]), np.sign(expected[big]))
    assert [text.split()[j] for j in np.argsort(-weights)[:2]] == ["awful", "acting"]
    with pytest.raises(ValueError, match="no words"):
        explain.lime_text(predict, "   ")


# --- activations ------------------------------------------------------------------------------------

def test_activations_match_a_numpy_forward_pass():
    nnx.manual_seed(0)
    model = Sequential([Conv2D(2, (3, 3), activation="relu", input_shape=(5, 5, 1), name="c"),
                        MaxPooling2D((2, 2), name="p"), Flatten(name="f"), Dense(2, name="d")])
    x = np.random.default_rng(17).standard_normal((3, 5, 5, 1)).astype("float32")
    acts = explain.activations(model, x, batch_size=2)
    assert list(acts) == ["c", "p", "f", "d"]
    np.testing.assert_allclose(acts["d"], model.predict(x, verbose=0), rtol=1e-6)
    np.testing.assert_allclose(acts["f"], acts["p"].reshape(3, -1), rtol=0)
    assert acts["c"].shape == (3, 3, 3, 2) and acts["p"].shape == (3, 1, 1, 2)
    np.testing.assert_allclose(acts["p"][:, 0, 0], acts["c"][:, :2, :2].max(axis=(1, 2)), rtol=0)
    chosen = explain.activations(model, x, layers=["p", model.layers[0]])
    assert list(chosen) == ["p", "c"]
    np.testing.assert_array_equal(chosen["c"], acts["c"])
    with pytest.raises(ValueError, match="'zz' is not a layer"):
        explain.activations(model, x, layers=["zz"])


def test_activation_stats_by_hand():
    model = Sequential([Dense(3, activation="relu", input_shape=(2,), dtype="float64", name="h")])
    model.set_weights([np.array([[1.0, -1.0, -1.0], [0.0, 0.0, -1.0]]), np.array([0.0, 0.0, 0.0])])
    x = np.array([[1.0, 2.0], [-2.0, 1.0]])
    # pre-activations: [[1, -1, -3], [-2, 2, 1]] -> relu: [[1, 0, 0], [0, 2, 1]]
    stats = explain.activation_stats(model, x)["h"]
    values = np.array([1, 0, 0, 0, 2, 1.0])
    assert stats["mean"] == pytest.approx(values.mean())
    assert stats["std"] == pytest.approx(values.std())
    assert stats["zero_fraction"] == pytest.approx(3 / 6)
    assert stats["dead_fraction"] == 0.0            # every unit fires for some sample
    model.set_weights([np.array([[1.0, -1.0, 0.0], [0.0, 0.0, 0.0]]), np.array([0.0, 0.0, -1.0])])
    stats = explain.activation_stats(model, x)["h"]  # relu: [[1, 0, 0], [0, 2, 0]]: unit 2 is dead
    assert stats["dead_fraction"] == pytest.approx(1 / 3)
    assert stats["zero_fraction"] == pytest.approx(4 / 6)


# --- arguments --------------------------------------------------------------------------------------

def test_bad_arguments_get_clear_errors():
    model, _, _ = linear_model(4, 3)
    x = np.ones((2, 4))
    with pytest.raises(ValueError, match=r"target must lie in \[0, 3\)"):
        explain.saliency(model, x, target=3)
    with pytest.raises(ValueError, match="target has 3 entries for a batch of 2"):
        explain.saliency(model, x, target=[0, 1, 2])
    with pytest.raises(TypeError, match="target must be an int"):
        explain.saliency(model, x, target=0.5)
    with pytest.raises(TypeError, match="callable on nnx Tensors"):
        explain.saliency(lambda t: np.asarray(t) @ np.ones((4, 2)), x)
    with pytest.raises(ValueError, match="samples must be a positive int"):
        explain.smoothgrad(model, x, samples=0)
    with pytest.raises(ValueError, match="x must be a batch of rank >= 2"):
        explain.saliency(model, np.ones(4))
    with pytest.raises(TypeError, match="expected an nnx model or a callable"):
        explain.saliency("model", x)
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        explain.occlusion(model, np.ones((1, 2, 2)), batch_size=0)


@given(n=st.integers(1, 5), h=st.integers(3, 7), w=st.integers(3, 7), c=st.integers(1, 2),
       batch_size=st.integers(1, 40))
def test_attributions_are_shaped_like_x_for_any_shape_and_chunking(n, h, w, c, batch_size):
    rng = np.random.default_rng(n * 100 + h * 10 + w)
    weights = rng.standard_normal((h * w * c, 2))
    f = lambda t: t.reshape(len(t), -1) @ weights
    x = rng.standard_normal((n, h, w, c))
    sal = explain.saliency(f, x, target=1, batch_size=batch_size)
    np.testing.assert_allclose(sal, np.broadcast_to(weights[:, 1].reshape(h, w, c), x.shape))
    occ = explain.occlusion(f, x, target=1, window=(2, 2), stride=(1, 1), batch_size=batch_size)
    assert occ.shape == x.shape
    np.testing.assert_allclose(occ, occlusion_by_loops(lambda img: img.reshape(-1) @ weights[:, 1], x,
                                                       (2, 2), (1, 1), 0.0), rtol=1e-9, atol=1e-12)
    ig = explain.integrated_gradients(f, x, target=1, steps=3, batch_size=batch_size)
    np.testing.assert_allclose(ig.reshape(n, -1).sum(axis=1), (x.reshape(n, -1) @ weights)[:, 1], rtol=1e-9)


def test_models_with_masks_are_refused_clearly_and_explain_is_a_lazy_submodule():
    from nnx.layers import LSTM, Embedding
    model = Sequential([Embedding(10, 4, mask_zero=True, input_shape=(5,)), LSTM(3)])
    with pytest.raises(NotImplementedError, match="pass masks"):
        explain.activations(model, np.array([[1, 2, 3, 0, 0]]))
    assert nnx.explain is explain
