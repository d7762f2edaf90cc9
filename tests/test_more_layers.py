"""The further Keras 3 layers: values against NumPy transcriptions of Keras 3's formulas (source files
cited per test), float64 finite-difference gradients of the new ops and weights, Keras weight layouts,
get_config/from_config round trips, training/inference behaviour, masks, and input errors."""
import numpy as np
import pytest

import nnx
import nnx.functional as F
from nnx.layers import (ELU, LSTM, Conv2DTranspose, Cropping2D, Dense, DepthwiseConv2D, Embedding,
                        GaussianDropout, GaussianNoise, Lambda, Layer, LayerNormalization, LeakyReLU, Masking,
                        Permute, PReLU, ReLU, RepeatVector, SeparableConv2D, Softmax, SpatialDropout1D,
                        SpatialDropout2D, TimeDistributed, UpSampling2D, ZeroPadding2D)
from nnx.models import Sequential
from nnx.testing import layer_gradcheck


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def away_from_kinks(x, kinks=(0.0,)):
    for k in kinks:
        x[np.abs(x - k) < 0.05] += 0.1
    return x


# --- activation layers (keras/src/layers/activations/*.py, keras/src/activations/activations.py) -------
def keras_relu(x, negative_slope=0.0, max_value=None, threshold=0.0):
    """Keras 3 ReLU.static_call, transcribed."""
    negative_part = np.maximum(-x + threshold, 0) if threshold else np.maximum(-x, 0)
    y = x * (x > threshold) if threshold else np.maximum(x, 0)
    if max_value is not None:
        y = np.clip(y, 0, max_value)
    return y - negative_slope * negative_part if negative_slope else y


@pytest.mark.parametrize("kwargs", [
    {}, {"max_value": 6.0}, {"negative_slope": 0.1}, {"threshold": 0.5},
    {"max_value": 1.5, "negative_slope": 0.2, "threshold": 0.3}])
def test_relu_matches_keras_formula_and_gradients(kwargs):
    x = away_from_kinks(rand(4, 6) * 3, (0.0, 0.3, 0.5, 1.5, 6.0))
    layer = ReLU(**kwargs, dtype="float64")
    np.testing.assert_allclose(layer(x).data, keras_relu(x, **kwargs), rtol=1e-12)
    layer_gradcheck(layer, x)


def test_relu_hand_values_and_bad_arguments():
    y = ReLU(max_value=2.0, negative_slope=0.1, threshold=0.5)(np.array([[-1.0, 0.0, 0.4, 1.0, 3.0]]))
    np.testing.assert_allclose(y.data, [[-0.15, -0.05, -0.01, 1.0, 2.0]], rtol=1e-6)
    for bad in ({"max_value": -1}, {"negative_slope": -0.1}, {"threshold": None}):
        with pytest.raises(ValueError, match="ReLU 're_lu"):
            ReLU(**bad)


def test_leaky_relu_default_slope_is_keras3s_0_3():
    assert LeakyReLU().negative_slope == 0.3
    x = away_from_kinks(rand(3, 5))
    layer = LeakyReLU(dtype="float64")
    np.testing.assert_allclose(layer(x).data, np.where(x >= 0, x, 0.3 * x), rtol=1e-12)
    layer_gradcheck(layer, x)
    with pytest.raises(ValueError, match="negative_slope"):
        LeakyReLU(negative_slope=-1)


def test_leaky_relu_and_elu_ops_keep_dtype_and_take_a_tensor_slope():
    x = away_from_kinks(rand(3, 4)).astype(np.float32)
    for y, want in ((F.leaky_relu(x, 0.3), np.where(x >= 0, x, 0.3 * x)),
                    (F.elu(x, 0.5), np.where(x > 0, x, 0.5 * np.expm1(x)))):
        assert y.dtype == np.float32
        np.testing.assert_allclose(y.data, want, rtol=1e-6)
    nnx.gradcheck(F.leaky_relu, [nnx.Tensor(away_from_kinks(rand(3, 4)), requires_grad=True),
                                 nnx.Tensor(rand(4, seed=1), requires_grad=True)])
    nnx.gradcheck(lambda t: F.elu(t, 1.7), [nnx.Tensor(away_from_kinks(rand(3, 4)), requires_grad=True)])


def test_elu_matches_formula():
    x = away_from_kinks(rand(3, 5))
    layer = ELU(alpha=0.7, dtype="float64")
    np.testing.assert_allclose(layer(x).data, np.where(x > 0, x, 0.7 * np.expm1(x)), rtol=1e-12)
    layer_gradcheck(layer, x)


def test_prelu_weight_shape_shared_axes_formula_and_gradients():
    layer = PReLU(shared_axes=[1, 2], alpha_initializer="ones", dtype="float64")
    x = away_from_kinks(rand(2, 4, 5, 3))
    layer(x)
    assert [w.shape for w in layer.weights] == [(1, 1, 3)]      # Keras: alpha per channel
    assert layer.weights[0].name == f"{layer.name}/alpha"
    layer.alpha.data[...] = [0.1, 0.2, 0.3]
    np.testing.assert_allclose(layer(x).data, np.where(x >= 0, x, np.array([0.1, 0.2, 0.3]) * x), rtol=1e-12)
    layer_gradcheck(layer, x, ["alpha"])
    full = PReLU()
    full(np.zeros((2, 4, 5), np.float32))
    assert full.alpha.shape == (4, 5) and np.all(full.alpha.data == 0)   # Keras default: zeros
    with pytest.raises(ValueError, match=r"PReLU 'p_re_lu.*expected input with 5 on axis 2"):
        full(np.zeros((2, 4, 6), np.float32))


@pytest.mark.parametrize("axis", [-1, 1, (1, 2)])
def test_softmax_layer_over_axes(axis):
    x = rand(2, 3, 4)
    y = Softmax(axis=axis, dtype="float64")(x).data
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    np.testing.assert_allclose(y, e / e.sum(axis=axis, keepdims=True), rtol=1e-12)
    with pytest.raises(ValueError, match="Softmax 'softmax.*axis 3 out of range"):
        Softmax(axis=3)(x)


def test_softmax_mask_as_keras():
    """keras/src/layers/activations/softmax.py: inputs += (1 - mask) * -1e9 before the softmax."""
    x = np.array([[1.0, 2.0, 3.0, 4.0]])
    mask = np.array([[True, False, True, False]])
    y = Softmax()(x, mask=mask).data
    e = np.exp([1.0, 3.0])
    np.testing.assert_allclose(y, [[e[0] / e.sum(), 0.0, e[1] / e.sum(), 0.0]], rtol=1e-6, atol=1e-12)
    with pytest.raises(ValueError, match=r"mask shape \(1, 3\) differs from the input shape \(1, 4\)"):
        Softmax()(x, mask=np.ones((1, 3), bool))


# --- LayerNormalization (keras/src/layers/normalization/layer_normalization.py) ------------------------
def keras_layer_norm(x, gamma, beta, axes, epsilon):
    mean = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True)          # biased, as ops.moments
    inv = 1.0 / np.sqrt(var + epsilon) * gamma
    return x * inv + (beta - mean * inv)


def test_layer_normalization_keras_defaults_weights_and_formula():
    layer = LayerNormalization(dtype="float64")
    assert (layer.axis, layer.epsilon, layer.center, layer.scale) == (-1, 1e-3, True, True)
    x = rand(3, 5, 4) * 2 + 1
    layer(x)
    assert [w.name.split("/")[-1] for w in layer.weights] == ["gamma", "beta"]
    assert [w.shape for w in layer.weights] == [(4,), (4,)]
    layer.gamma.data[...] = rand(4, seed=1)
    layer.beta.data[...] = rand(4, seed=2)
    want = keras_layer_norm(x, layer.gamma.data, layer.beta.data, -1, 1e-3)
    np.testing.assert_allclose(layer(x).data, want, rtol=1e-10, atol=1e-12)
    layer_gradcheck(layer, x, ["gamma", "beta"])


def test_layer_normalization_over_several_axes_and_without_parameters():
    x = rand(2, 3, 4, 5)
    layer = LayerNormalization(axis=[1, 3], epsilon=1e-5, dtype="float64")
    layer(x)
    assert layer.gamma.shape == (3, 5)
    layer.gamma.data[...] = rand(3, 5, seed=1)
    gamma = layer.gamma.data.reshape(3, 1, 5)
    np.testing.assert_allclose(layer(x).data, keras_layer_norm(x, gamma, 0.0, (1, 3), 1e-5), rtol=1e-10,
                               atol=1e-12)
    layer_gradcheck(layer, x, ["gamma", "beta"])
    bare = LayerNormalization(center=False, scale=False, dtype="float64")
    assert bare(x).shape == x.shape and bare.weights == []
    np.testing.assert_allclose(bare(x).data, keras_layer_norm(x, 1.0, 0.0, -1, 1e-3), rtol=1e-10, atol=1e-12)


def test_layer_norm_op_gradients_and_errors():
    nnx.gradcheck(lambda x, g, b: F.layer_norm(x, g, b, axis=(0, 2), epsilon=1e-2),
                  [nnx.Tensor(rand(3, 2, 4), requires_grad=True),
                   nnx.Tensor(rand(3, 1, 4, seed=1), requires_grad=True),
                   nnx.Tensor(rand(4, seed=2), requires_grad=True)])
    with pytest.raises(ValueError, match=r"layer_norm: gamma of shape \(3,\) does not broadcast"):
        F.layer_norm(np.zeros((2, 4)), np.ones(3))
    with pytest.raises(ValueError, match="LayerNormalization 'layer_normalization.*axis 0"):
        LayerNormalization(axis=0)(np.zeros((2, 4), np.float32))


# --- reshaping (keras/src/layers/reshaping/*.py) ---------------------------------------------------------
def test_repeat_vector_and_permute():
    x = rand(2, 3)
    layer = RepeatVector(4, dtype="float64")
    y = layer(x)
    np.testing.assert_array_equal(y.data, np.repeat(x[:, None, :], 4, axis=1))
    assert layer.compute_output_shape((None, 3)) == (None, 4, 3)
    layer_gradcheck(layer, x)
    x3 = rand(2, 3, 4, 5)
    perm = Permute((3, 1, 2), dtype="float64")
    np.testing.assert_array_equal(perm(x3).data, np.transpose(x3, (0, 3, 1, 2)))
    assert perm.compute_output_shape((None, 3, 4, 5)) == (None, 5, 3, 4)
    layer_gradcheck(perm, x3[:, :2, :2, :2])
    with pytest.raises(ValueError, match="Permute.*permutation"):
        Permute((0, 1))
    with pytest.raises(ValueError, match=r"RepeatVector 'repeat_vector.*rank 2.*\(2, 3, 4\)"):
        RepeatVector(2)(np.zeros((2, 3, 4), np.float32))


@pytest.mark.parametrize("padding, pads", [(1, ((1, 1), (1, 1))), ((2, 0), ((2, 2), (0, 0))),
                                           (((0, 1), (2, 3)), ((0, 1), (2, 3)))])
def test_zero_padding_and_cropping_are_inverse(padding, pads):
    x = rand(2, 3, 4, 2)
    pad = ZeroPadding2D(padding, dtype="float64")
    y = pad(x)
    np.testing.assert_array_equal(y.data, np.pad(x, ((0, 0),) + pads + ((0, 0),)))
    assert y.shape == (2,) + pad.compute_output_shape((None, 3, 4, 2))[1:]
    crop = Cropping2D(padding, dtype="float64")
    np.testing.assert_array_equal(crop(y).data, x)
    layer_gradcheck(pad, x)
    layer_gradcheck(crop, y.data)


def test_padding_cropping_defaults_and_errors():
    assert ZeroPadding2D().padding == ((1, 1), (1, 1))
    assert Cropping2D().cropping == ((0, 0), (0, 0))
    with pytest.raises(ValueError, match="ZeroPadding2D.*padding"):
        ZeroPadding2D(-1)
    with pytest.raises(ValueError, match=r"Cropping2D 'cropping2d.*leaves nothing.*\(None, 4, 4, 1\)"):
        Sequential([Cropping2D(2, input_shape=(4, 4, 1))])


def test_upsampling_nearest_repeats_pixels():
    x = rand(2, 3, 2, 4)
    layer = UpSampling2D((2, 3), dtype="float64")
    np.testing.assert_array_equal(layer(x).data, np.repeat(np.repeat(x, 2, axis=1), 3, axis=2))
    assert layer.compute_output_shape((None, 3, 2, 4)) == (None, 6, 6, 4)
    layer_gradcheck(layer, x)


def bilinear_ref(x, size):
    """tf.image.resize(..., 'bilinear') with half-pixel centres, pixel by pixel: output o samples
    (o + 0.5) / scale - 0.5, clamped to the image, between its floor and ceil neighbours."""
    n, h, w, c = x.shape
    out = np.zeros((n, h * size[0], w * size[1], c))

    def taps(o, scale, length):
        src = min(max((o + 0.5) / scale - 0.5, 0.0), length - 1)
        lo = int(np.floor(src))
        return lo, min(lo + 1, length - 1), src - lo

    for i in range(h * size[0]):
        i0, i1, fi = taps(i, size[0], h)
        for j in range(w * size[1]):
            j0, j1, fj = taps(j, size[1], w)
            top = x[:, i0, j0] * (1 - fj) + x[:, i0, j1] * fj
            bottom = x[:, i1, j0] * (1 - fj) + x[:, i1, j1] * fj
            out[:, i, j] = top * (1 - fi) + bottom * fi
    return out


def test_upsampling_bilinear_matches_tensorflow_rule():
    hand = UpSampling2D(2, interpolation="bilinear")(np.array([[0.0, 1.0], [2.0, 3.0]]).reshape(1, 2, 2, 1))
    np.testing.assert_allclose(hand.data[0, :, :, 0], [[0.0, 0.25, 0.75, 1.0], [0.5, 0.75, 1.25, 1.5],
                                                      [1.5, 1.75, 2.25, 2.5], [2.0, 2.25, 2.75, 3.0]])
    for shape, size in (((2, 3, 4, 2), (3, 2)), ((1, 1, 3, 1), (2, 4)), ((1, 2, 2, 1), (1, 1))):
        x = rand(*shape)
        layer = UpSampling2D(size, interpolation="bilinear", dtype="float64")
        np.testing.assert_allclose(layer(x).data, bilinear_ref(x, size), rtol=1e-12, atol=1e-12)
        layer_gradcheck(layer, x)
    with pytest.raises(ValueError, match="interpolation"):
        UpSampling2D(interpolation="bicubic")


# --- masking, wrappers ------------------------------------------------------------------------------------
def test_masking_zeroes_padding_and_makes_lstm_skip_it():
    """An LSTM after Masking gives, for a padded sequence, what it gives for the unpadded one."""
    nnx.manual_seed(0)
    x = rand(2, 5, 3).astype(np.float32)
    x[0, 3:] = 0.0                        # sample 0: 3 real steps, then padding
    model = Sequential([Masking(input_shape=(5, 3)), LSTM(4)])
    lstm = model.layers[1]
    np.testing.assert_array_equal(model.layers[0].compute_mask(x), [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    short = Sequential([LSTM(4, input_shape=(3, 3))])
    short.layers[0].set_weights(lstm.get_weights())
    np.testing.assert_allclose(model.predict(x, verbose=0)[0], short.predict(x[:1, :3], verbose=0)[0],
                               rtol=1e-5, atol=1e-6)
    y = Masking(mask_value=1.0)(np.array([[[1.0, 1.0], [1.0, 2.0]]]))
    np.testing.assert_array_equal(y.data, [[[0.0, 0.0], [1.0, 2.0]]])
    with pytest.raises(ValueError, match="Masking 'masking.*rank >= 3"):
        Masking()(np.zeros((2, 3), np.float32))


def test_time_distributed_applies_one_layer_to_every_step():
    inner = Dense(3, activation="tanh", dtype="float64")
    layer = TimeDistributed(inner, dtype="float64")
    x = rand(2, 4, 5)
    y = layer(x)
    assert y.shape == (2, 4, 3) and layer.compute_output_shape((None, 4, 5)) == (None, 4, 3)
    assert layer.weights == inner.weights and len(layer.trainable_weights) == 2   # one weight set
    for t in range(4):
        np.testing.assert_allclose(y.data[:, t], inner(x[:, t]).data, rtol=1e-12)
    layer_gradcheck(layer, x)
    clone = TimeDistributed.from_config(layer.get_config())
    assert isinstance(clone.layer, Dense) and clone.get_config()["layer"]["config"]["units"] == 3
    with pytest.raises(ValueError, match="TimeDistributed 'time_distributed.*rank >= 3"):
        layer(np.zeros((2, 5)))
    with pytest.raises(ValueError, match="Dense 'dense.*expected input with 5 on axis -1"):
        layer(np.zeros((2, 4, 6)))
    with pytest.raises(TypeError, match="expected a Layer"):
        TimeDistributed("dense")


def test_time_distributed_in_a_sequential_model_trains():
    nnx.manual_seed(0)
    x = rand(32, 6, 4).astype(np.float32)
    y = x.sum(axis=-1, keepdims=True)
    model = Sequential([TimeDistributed(Dense(8, activation="relu"), input_shape=(6, 4)),
                        TimeDistributed(Dense(1))])
    model.compile(optimizer=nnx.optimizers.Adam(0.01), loss="mse")
    history = model.fit(x, y, epochs=20, batch_size=8, verbose=0)
    assert history.history["loss"][-1] < 0.2 * history.history["loss"][0]


def test_lambda_runs_a_function_infers_shapes_and_refuses_to_save(tmp_path):
    layer = Lambda(lambda t, scale: t[:, ::2] * scale, arguments={"scale": 3.0}, dtype="float64")
    x = rand(2, 6)
    np.testing.assert_allclose(layer(x).data, x[:, ::2] * 3.0)
    assert layer.compute_output_shape((None, 6)) == (None, 3)
    layer_gradcheck(layer, x)
    assert Lambda(lambda t: t, output_shape=(7,)).compute_output_shape((None, 2)) == (None, 7)
    steps = Lambda(lambda t: t[:, :, :2] * 2.0)
    assert steps.compute_output_shape((None, None, 8)) == (None, None, 2)   # unknown steps stay unknown
    model = Sequential([Dense(6, input_shape=(4,)), Lambda(F.tanh)])
    assert model.predict(np.zeros((1, 4), np.float32), verbose=0).shape == (1, 6)
    path = tmp_path / "m.nnx"
    with pytest.raises(ValueError, match="Lambda 'lambda.*no pickle"):
        model.save(path)
    assert not path.exists()
    with pytest.raises(ValueError, match=r"Lambda 'bad'.*could not infer the output shape.*\(2, 6\)"):
        Sequential([Dense(6, input_shape=(4,)), Lambda(lambda t: t.reshape(5, 5), name="bad")])


# --- noise and spatial dropout (keras/src/layers/regularization/*.py) -------------------------------------
@pytest.mark.parametrize("cls, shape", [(SpatialDropout1D, (50, 7, 8)), (SpatialDropout2D, (50, 3, 4, 8))])
def test_spatial_dropout_drops_whole_channels(cls, shape):
    layer = cls(0.5)
    x = np.ones(shape, np.float32)
    np.testing.assert_array_equal(layer(x).data, x)          # inference: the identity
    nnx.manual_seed(3)
    y = layer(x, training=True).data
    per_channel = y.reshape(shape[0], -1, shape[-1])
    assert np.all(per_channel == per_channel[:, :1])        # one decision per sample and channel
    assert set(np.unique(y)) <= {0.0, 2.0} and 0.3 < (y == 0).mean() < 0.7
    nnx.manual_seed(3)
    np.testing.assert_array_equal(layer(x, training=True).data, y)
    with pytest.raises(ValueError, match=f"{cls.__name__} '.*rank {len(shape)}"):
        layer(np.ones((2, 3)), training=True)
    seeded = cls(0.4, dtype="float64")

    def fixed_mask(t):                  # the same draw on every finite-difference evaluation
        nnx.manual_seed(1)
        return seeded(t, training=True)
    nnx.gradcheck(fixed_mask, [nnx.Tensor(rand(2, *shape[1:-1], 3), requires_grad=True)])


def test_gaussian_noise_and_dropout_statistics_and_inference():
    x = np.full((400, 500), 2.0, np.float32)
    nnx.manual_seed(0)
    noisy = GaussianNoise(0.5)(x, training=True).data
    assert abs(noisy.mean() - 2.0) < 0.01 and abs(noisy.std() - 0.5) < 0.01
    dropped = GaussianDropout(0.2)(x, training=True).data
    assert abs(dropped.mean() - 2.0) < 0.01 and abs(dropped.std() - 2.0 * np.sqrt(0.2 / 0.8)) < 0.01
    for layer in (GaussianNoise(0.5), GaussianDropout(0.2)):
        np.testing.assert_array_equal(layer(x).data, x)
        nnx.manual_seed(5)
        a = layer(x[:3], training=True).data
        nnx.manual_seed(5)
        np.testing.assert_array_equal(layer(x[:3], training=True).data, a)
    with pytest.raises(ValueError, match="GaussianDropout.*rate"):
        GaussianDropout(1.0)
    with pytest.raises(ValueError, match="GaussianNoise.*stddev"):
        GaussianNoise(-0.1)


def test_dropout_noise_shape_checks():
    with pytest.raises(ValueError, match=r"noise_shape \(2, 2\) does not broadcast"):
        F.dropout(np.ones((2, 3)), 0.5, True, noise_shape=(2, 2))


# --- every new layer: registry, config round trip, Sequential ------------------------------------------
NEW_LAYERS = [
    lambda: LayerNormalization(axis=[1, 2], epsilon=1e-5, center=False, input_shape=(3, 4)),
    lambda: ReLU(max_value=6.0, negative_slope=0.1, threshold=0.2), lambda: LeakyReLU(0.1),
    lambda: ELU(0.5), lambda: PReLU(shared_axes=[1]), lambda: Softmax(axis=(1, 2)),
    lambda: RepeatVector(3), lambda: Permute((2, 1)), lambda: Masking(mask_value=-1.0),
    lambda: ZeroPadding2D(((1, 2), (3, 4))), lambda: Cropping2D((1, 2)),
    lambda: UpSampling2D((2, 3), interpolation="bilinear"), lambda: SpatialDropout1D(0.3),
    lambda: SpatialDropout2D(0.3), lambda: GaussianNoise(0.2), lambda: GaussianDropout(0.4),
    lambda: TimeDistributed(Dense(4, activation="relu")),
    lambda: Conv2DTranspose(4, (3, 2), strides=2, padding="same", output_padding=(1, 0), activation="relu",
                            use_bias=False, input_shape=(5, 5, 2)),
    lambda: DepthwiseConv2D((3, 3), depth_multiplier=3, padding="same", depthwise_initializer="he_normal"),
    lambda: SeparableConv2D(8, 3, strides=(2, 1), depth_multiplier=2, pointwise_initializer="zeros"),
]


@pytest.mark.parametrize("make", NEW_LAYERS)
def test_config_round_trip(make):
    layer = make()
    assert Layer.registry[type(layer).__name__] is type(layer)
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config


def test_models_with_new_layers_save_and_load(tmp_path):
    nnx.manual_seed(0)
    model = Sequential([Embedding(20, 6, input_shape=(5,)), LayerNormalization(), PReLU(),
                        TimeDistributed(Dense(4)), SpatialDropout1D(0.2), LSTM(3), RepeatVector(2),
                        Permute((2, 1)), GaussianNoise(0.1), LeakyReLU()])
    model.compile(optimizer="adam", loss="mse")
    x = np.random.default_rng(0).integers(0, 20, (8, 5))
    model.fit(x, np.zeros((8, 3, 2), np.float32), epochs=1, verbose=0)
    model.save(tmp_path / "m.nnx")
    loaded = nnx.models.load_model(tmp_path / "m.nnx")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)


# --- PyTorch as a second, independent reference (skipped where torch is not installed) ------------------
@pytest.mark.parametrize("size", [(2, 2), (3, 2), (1, 4)])
def test_bilinear_upsampling_matches_pytorch_half_pixel(size):
    torch = pytest.importorskip("torch")
    x = rand(2, 5, 7, 3)
    want = torch.nn.functional.interpolate(torch.tensor(x).permute(0, 3, 1, 2), scale_factor=size,
                                           mode="bilinear", align_corners=False).permute(0, 2, 3, 1).numpy()
    np.testing.assert_allclose(F.upsample2d(x, size, "bilinear").data, want, rtol=1e-10, atol=1e-12)


def test_layer_norm_matches_pytorch():
    torch = pytest.importorskip("torch")
    x, gamma, beta = rand(4, 5, 6), rand(5, 6, seed=1), rand(5, 6, seed=2)
    want = torch.nn.functional.layer_norm(torch.tensor(x), (5, 6), torch.tensor(gamma), torch.tensor(beta),
                                          eps=1e-3).numpy()
    np.testing.assert_allclose(F.layer_norm(x, gamma, beta, (1, 2), 1e-3).data, want, rtol=1e-10,
                               atol=1e-12)
