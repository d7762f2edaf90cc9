"""Conv2DTranspose, DepthwiseConv2D, SeparableConv2D and their ops: forward values against direct NumPy
loops and hand-computed cases, output sizes as Keras 3 computes them
(keras/src/backend/common/backend_utils.py: compute_conv_transpose_output_shape), adjointness with
conv2d, float64 finite-difference gradients, Keras weight layouts and input errors (the config round
trips are in test_more_layers.py)."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import nnx
import nnx.functional as F
from nnx.layers import Conv2DTranspose, DepthwiseConv2D, SeparableConv2D
from nnx.models import Sequential
from nnx.testing import layer_gradcheck


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


# --- independent references -----------------------------------------------------------------------------
def keras_transpose_length(size, k, s, d, padding, output_padding):
    """Transcribed from Keras 3 _get_output_shape_given_tf_padding (backend_utils.py)."""
    k = (k - 1) * d + 1
    if padding == "valid":
        output_padding = max(k, s) - k if output_padding is None else output_padding
        return (size - 1) * s + k + output_padding
    return size * s if output_padding is None else (size - 1) * s + k % 2 + output_padding


def keras_jax_left_pad(k, s, d, padding, output_padding):
    """Transcribed from Keras 3 _convert_conv_transpose_padding_args_from_keras_to_jax: the zeros JAX
    pads on the left of the stride-dilated input."""
    k = (k - 1) * d + 1
    if padding == "valid":
        return k - 1
    pad_len = s + k - 2 if output_padding is None else k + k % 2 - 2 + output_padding
    return min(pad_len // 2 + pad_len % 2, k - 1)


def conv_transpose_ref(x, kernel, strides, padding, output_padding, dilation):
    """Scatter definition: input pixel (i, j) adds x[i, j] * K[a, b] at full-canvas position
    (i*s + a*d, j*s + b*d); the output window starts at k_eff - 1 - left_pad of that canvas."""
    n, h, w, _ = x.shape
    kh, kw, f, _ = kernel.shape
    (sh, sw), (dh, dw) = strides, dilation
    ops = output_padding or (None, None)
    oh = keras_transpose_length(h, kh, sh, dh, padding, ops[0])
    ow = keras_transpose_length(w, kw, sw, dw, padding, ops[1])
    th = (kh - 1) * dh - keras_jax_left_pad(kh, sh, dh, padding, ops[0])
    tw = (kw - 1) * dw - keras_jax_left_pad(kw, sw, dw, padding, ops[1])
    canvas = np.zeros((n, (h - 1) * sh + (kh - 1) * dh + 1 + oh, (w - 1) * sw + (kw - 1) * dw + 1 + ow, f))
    for i in range(h):
        for j in range(w):
            for a in range(kh):
                for b in range(kw):
                    canvas[:, i * sh + a * dh, j * sw + b * dw] += x[:, i, j] @ kernel[a, b].T
    return canvas[:, th:th + oh, tw:tw + ow]


def depthwise_ref(x, kernel, strides, padding):
    """Direct loops: output channel c*m + j is input channel c correlated with kernel[..., c, j]."""
    n, h, w, c = x.shape
    kh, kw, _, m = kernel.shape
    if padding == "same":
        oh, ow = -(-h // strides[0]), -(-w // strides[1])
        ph, pw = max((oh - 1) * strides[0] + kh - h, 0), max((ow - 1) * strides[1] + kw - w, 0)
        x = np.pad(x, ((0, 0), (ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)))
    else:
        oh, ow = (h - kh) // strides[0] + 1, (w - kw) // strides[1] + 1
    y = np.zeros((n, oh, ow, c * m))
    for i in range(oh):
        for j in range(ow):
            patch = x[:, i * strides[0]:i * strides[0] + kh, j * strides[1]:j * strides[1] + kw]
            y[:, i, j] = np.einsum("nhwc,hwcm->ncm", patch, kernel).reshape(n, c * m)
    return y


# --- conv2d_transpose -----------------------------------------------------------------------------------
def test_conv2d_transpose_hand_computed():
    x = np.array([[1.0, 2.0], [3.0, 4.0]]).reshape(1, 2, 2, 1)
    ones = np.ones((2, 2, 1, 1))
    np.testing.assert_array_equal(F.conv2d_transpose(x, ones).data[0, :, :, 0],
                                  [[1, 3, 2], [4, 10, 6], [3, 7, 4]])
    blocks = F.conv2d_transpose(x, ones, strides=2).data[0, :, :, 0]   # each pixel becomes a 2x2 block
    np.testing.assert_array_equal(blocks, np.kron([[1, 2], [3, 4]], np.ones((2, 2))))


CASES = [  # strides, padding, output_padding, dilation
    ((1, 1), "valid", None, (1, 1)), ((2, 2), "valid", None, (1, 1)), ((2, 3), "same", None, (1, 1)),
    ((3, 3), "valid", (1, 2), (1, 1)), ((2, 2), "same", (1, 0), (1, 1)), ((3, 2), "same", (2, 1), (1, 1)),
    ((1, 1), "same", None, (2, 2)), ((2, 1), "valid", (1, 0), (2, 1)), ((4, 4), "valid", None, (1, 1))]


@pytest.mark.parametrize("kernel_hw", [(3, 3), (2, 3), (1, 1)])
@pytest.mark.parametrize("strides, padding, output_padding, dilation", CASES)
def test_conv2d_transpose_matches_scatter_reference(kernel_hw, strides, padding, output_padding, dilation):
    x, kernel, bias = rand(2, 4, 3, 3), rand(*kernel_hw, 5, 3, seed=1), rand(5, seed=2)
    got = F.conv2d_transpose(x, kernel, bias, strides, padding, output_padding, dilation)
    want = conv_transpose_ref(x, kernel, strides, padding, output_padding, dilation) + bias
    assert got.shape == want.shape
    np.testing.assert_allclose(got.data, want, rtol=1e-10, atol=1e-10)


@st.composite
def transpose_configs(draw):
    strides = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    output_padding = draw(st.one_of(st.none(), st.tuples(*(st.integers(0, s - 1) for s in strides))))
    return dict(x=rand(draw(st.integers(1, 2)), draw(st.integers(1, 4)), draw(st.integers(1, 4)),
                       draw(st.integers(1, 3)), seed=draw(st.integers(0, 99))),
                kernel_hw=(draw(st.integers(1, 4)), draw(st.integers(1, 4))), filters=draw(st.integers(1, 3)),
                strides=strides, padding=draw(st.sampled_from(["valid", "same"])),
                output_padding=output_padding, dilation=(draw(st.integers(1, 2)), draw(st.integers(1, 2))))


@given(transpose_configs())
def test_conv2d_transpose_matches_reference_for_any_shape(c):
    kernel = rand(*c["kernel_hw"], c["filters"], c["x"].shape[3], seed=1)
    lengths = [keras_transpose_length(n, k, s, d, c["padding"], p) for n, k, s, d, p in zip(
        c["x"].shape[1:3], c["kernel_hw"], c["strides"], c["dilation"], c["output_padding"] or (None, None))]
    if min(lengths) < 1:   # e.g. 'same', stride 1, an even kernel and output_padding 0
        with pytest.raises(ValueError, match="conv2d_transpose: .*empty output"):
            F.conv2d_transpose(c["x"], kernel, None, c["strides"], c["padding"], c["output_padding"],
                               c["dilation"])
        return
    got = F.conv2d_transpose(c["x"], kernel, None, c["strides"], c["padding"], c["output_padding"],
                             c["dilation"])
    want = conv_transpose_ref(c["x"], kernel, c["strides"], c["padding"], c["output_padding"], c["dilation"])
    assert got.shape == want.shape
    np.testing.assert_allclose(got.data, want, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("strides, padding", [((1, 1), "valid"), ((2, 2), "valid"), ((2, 3), "same"),
                                              ((1, 1), "same"), ((3, 3), "same")])
def test_conv2d_transpose_is_the_adjoint_of_conv2d(strides, padding):
    """TensorFlow defines conv2d_transpose as the gradient of conv2d: <conv(z), x> = <z, conv_t(x)>."""
    x, kernel = rand(2, 4, 5, 3), rand(3, 3, 4, 3, seed=1)
    y = F.conv2d_transpose(x, kernel, None, strides, padding).data
    z = rand(*y.shape, seed=3)
    conv = F.conv2d(z, kernel, None, strides, padding).data
    assert conv.shape == x.shape
    np.testing.assert_allclose(np.sum(conv * x), np.sum(z * y), rtol=1e-10)


@pytest.mark.parametrize("strides, padding, output_padding, dilation", CASES[1:6])
def test_conv2d_transpose_gradients(strides, padding, output_padding, dilation):
    nnx.gradcheck(lambda x, k, b: F.conv2d_transpose(x, k, b, strides, padding, output_padding, dilation),
                  [nnx.Tensor(rand(2, 3, 3, 2), requires_grad=True),
                   nnx.Tensor(rand(2, 3, 3, 2, seed=1), requires_grad=True),
                   nnx.Tensor(rand(3, seed=2), requires_grad=True)])


@pytest.mark.parametrize("backend", ["reference", "shadow"])
def test_conv2d_transpose_and_depthwise_agree_across_backends(backend):
    """Forward and input gradient on the compiled kernels equal those on nnx.reference's NumPy ones."""
    x = rand(2, 5, 4, 3).astype(np.float32)
    transpose_kernel, depthwise_kernel = (rand(3, 3, 2, 3, seed=1).astype(np.float32),
                                          rand(3, 3, 3, 2, seed=2).astype(np.float32))
    ops = (lambda t: F.conv2d_transpose(t, transpose_kernel, None, 2, "same", (1, 0)),
           lambda t: F.depthwise_conv2d(t, depthwise_kernel, None, 1, "same"))

    def run(op):
        t = nnx.Tensor(x, requires_grad=True)
        y = op(t)
        y.backward(np.ones(y.shape, np.float32))
        return y.data, t.grad

    for op in ops:
        want = run(op)
        with nnx.use_backend(backend):
            got = run(op)
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5)


def test_conv2d_transpose_errors_name_the_op_and_shapes():
    with pytest.raises(ValueError, match=r"conv2d_transpose: input shape \(1, 4, 4, 3\) has 3 channels"):
        F.conv2d_transpose(np.zeros((1, 4, 4, 3)), np.zeros((3, 3, 2, 5)))
    with pytest.raises(ValueError, match="output_padding"):
        F.conv2d_transpose(np.zeros((1, 4, 4, 3)), np.zeros((3, 3, 2, 3)), strides=2, output_padding=2)
    with pytest.raises(ValueError, match="padding must be 'valid' or 'same'"):
        F.conv2d_transpose(np.zeros((1, 4, 4, 3)), np.zeros((3, 3, 2, 3)), padding=1)
    with pytest.raises(ValueError, match="rank 4"):
        F.conv2d_transpose(np.zeros((4, 4, 3)), np.zeros((3, 3, 2, 3)))


# --- layers ---------------------------------------------------------------------------------------------
def test_conv2d_transpose_layer_keras_layout_shapes_and_values():
    # Keras 3's docstring example: (4, 10, 8, 128) -> Conv2DTranspose(32, 2, 2) -> (4, 20, 16, 32)
    layer = Conv2DTranspose(32, 2, 2, activation="relu")
    x = rand(4, 10, 8, 128).astype(np.float32)
    y = layer(x)
    assert y.shape == (4, 20, 16, 32) == (4,) + layer.compute_output_shape((None, 10, 8, 128))[1:]
    assert [w.shape for w in layer.weights] == [(2, 2, 32, 128), (32,)]
    assert [w.name for w in layer.weights] == [f"{layer.name}/kernel", f"{layer.name}/bias"]
    want = np.maximum(conv_transpose_ref(x.astype(np.float64), layer.kernel.data.astype(np.float64),
                                         (2, 2), "valid", None, (1, 1)), 0)
    np.testing.assert_allclose(y.data, want, rtol=1e-4, atol=1e-4)
    for padding in ("valid", "same"):
        for output_padding in (None, 1):
            l2 = Conv2DTranspose(3, (3, 2), strides=(2, 3), padding=padding, output_padding=output_padding)
            assert l2(np.zeros((1, 5, 4, 2), np.float32)).shape[1:3] == \
                l2.compute_output_shape((None, 5, 4, 2))[1:3]


def test_depthwise_conv2d_matches_per_channel_loops():
    layer = DepthwiseConv2D(3, strides=2, padding="same", depth_multiplier=2, dtype="float64",
                            bias_initializer="ones")
    x = rand(2, 7, 6, 3)
    y = layer(x)
    assert [w.shape for w in layer.weights] == [(3, 3, 3, 2), (6,)]
    np.testing.assert_allclose(y.data, depthwise_ref(x, layer.kernel.data, (2, 2), "same") + 1, rtol=1e-10)
    assert y.shape == (2,) + layer.compute_output_shape((None, 7, 6, 3))[1:]


def test_separable_conv2d_is_depthwise_then_pointwise():
    layer = SeparableConv2D(4, (2, 3), depth_multiplier=2, activation="relu", dtype="float64",
                            bias_initializer="ones")
    x = rand(2, 5, 6, 3)
    y = layer(x)
    assert [w.shape for w in layer.weights] == [(2, 3, 3, 2), (1, 1, 6, 4), (4,)]
    assert [w.name.split("/")[-1] for w in layer.weights] == ["depthwise_kernel", "pointwise_kernel", "bias"]
    depthwise = depthwise_ref(x, layer.depthwise_kernel.data, (1, 1), "valid")
    want = np.maximum(depthwise @ layer.pointwise_kernel.data[0, 0] + 1, 0)
    np.testing.assert_allclose(y.data, want, rtol=1e-10)


@pytest.mark.parametrize("layer, names", [
    (lambda: Conv2DTranspose(2, 3, strides=2, padding="same", activation="tanh", dtype="float64"),
     ["kernel", "bias"]),
    (lambda: DepthwiseConv2D(2, depth_multiplier=2, padding="same", bias_initializer="ones",
                             activation="relu", dtype="float64"), ["kernel", "bias"]),
    (lambda: SeparableConv2D(3, 2, strides=2, dtype="float64", bias_initializer="ones"),
     ["depthwise_kernel", "pointwise_kernel", "bias"]),
])
def test_layer_gradients(layer, names):
    layer = layer()
    x = rand(2, 4, 4, 2)
    layer(x)
    layer_gradcheck(layer, x, names)


def test_input_errors_name_the_layer_and_shape():
    for layer in (Conv2DTranspose(2, 3, name="up"), DepthwiseConv2D(3, name="dw"),
                  SeparableConv2D(2, 3, name="sep")):
        with pytest.raises(ValueError, match=rf"'{layer.name}': expected input of rank 4 \(N, H, W, C\), "
                                             rf"got shape \(28, 28\)"):
            layer(np.zeros((28, 28), np.float32))
        layer(np.zeros((1, 6, 6, 3), np.float32))
        with pytest.raises(ValueError, match=rf"'{layer.name}': expected input with 3 on axis -1"):
            layer(np.zeros((1, 6, 6, 4), np.float32))
    with pytest.raises(ValueError, match="DepthwiseConv2D 'd2'.*too small"):
        Sequential([DepthwiseConv2D(5, name="d2", input_shape=(3, 3, 1))])
    with pytest.raises(ValueError, match="Conv2DTranspose.*output_padding"):
        Conv2DTranspose(2, 3, strides=1, output_padding=1)
    with pytest.raises(ValueError, match=r"Conv2DTranspose 'ct'.*\(None, 1, 1, 1\) gives an empty output"):
        Sequential([Conv2DTranspose(2, 2, padding="same", output_padding=0, name="ct",
                                    input_shape=(1, 1, 1))])
    with pytest.raises(ValueError, match="padding must be 'valid' or 'same'"):
        SeparableConv2D(2, 3, padding="full")


def test_autoencoder_with_transpose_trains():
    """Conv2D down, Conv2DTranspose up: a tiny autoencoder's reconstruction loss falls under fit."""
    from nnx.layers import Conv2D
    nnx.manual_seed(0)
    x = np.random.default_rng(0).random((64, 8, 8, 1)).astype(np.float32)
    model = Sequential([Conv2D(4, 3, strides=2, padding="same", activation="relu", input_shape=(8, 8, 1)),
                        Conv2DTranspose(1, 3, strides=2, padding="same")])
    model.compile(optimizer=nnx.optimizers.Adam(0.01), loss="mse")
    history = model.fit(x, x, epochs=30, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < 0.2 * history.history["loss"][0]


# --- PyTorch as a second, independent reference (skipped where torch is not installed) ------------------
@pytest.mark.parametrize("strides, padding, output_padding, dilation", CASES)
def test_conv2d_transpose_matches_pytorch(strides, padding, output_padding, dilation):
    """torch's conv_transpose2d without padding gives the whole canvas; Keras' output is the window of
    it that starts at (k_eff - 1) - left_pad (left_pad from Keras' JAX conversion) on each axis."""
    torch = pytest.importorskip("torch")
    x, kernel = rand(2, 4, 3, 3), rand(3, 2, 5, 3, seed=1)
    got = F.conv2d_transpose(x, kernel, None, strides, padding, output_padding, dilation).data
    canvas = torch.nn.functional.conv_transpose2d(
        torch.tensor(x).permute(0, 3, 1, 2), torch.tensor(kernel).permute(3, 2, 0, 1), stride=strides,
        dilation=dilation).permute(0, 2, 3, 1).numpy()
    canvas = np.pad(canvas, ((0, 0), (0, got.shape[1]), (0, got.shape[2]), (0, 0)))   # room at the end
    start = [(k - 1) * d - keras_jax_left_pad(k, s, d, padding, p) for k, s, d, p in
             zip(kernel.shape[:2], strides, dilation, output_padding or (None, None))]
    want = canvas[:, start[0]:start[0] + got.shape[1], start[1]:start[1] + got.shape[2]]
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)


def test_depthwise_conv2d_matches_pytorch_groups():
    torch = pytest.importorskip("torch")
    x, kernel = rand(2, 6, 5, 3), rand(3, 2, 3, 2, seed=1)
    got = F.depthwise_conv2d(x, kernel, None, (2, 1), "valid").data
    # torch's depthwise weight is (C * multiplier, 1, KH, KW), output channel c * multiplier + m
    weight = torch.tensor(kernel).reshape(3, 2, 6).permute(2, 0, 1)[:, None]
    want = torch.nn.functional.conv2d(torch.tensor(x).permute(0, 3, 1, 2), weight, stride=(2, 1),
                                      groups=3).permute(0, 2, 3, 1).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)


def test_flops_count_two_per_multiply_add():
    # by hand for (None, 5, 4, 3) inputs and 3x2 kernels
    assert Conv2DTranspose(7, (3, 2), strides=2).flops((None, 5, 4, 3)) == 2 * 5 * 4 * 3 * 2 * 3 * 7
    # 'same', stride 1: 5 x 4 outputs, 3 * 2 channels, a 3x2 window each
    assert DepthwiseConv2D((3, 2), padding="same", depth_multiplier=2).flops((None, 5, 4, 3)) == \
        2 * 5 * 4 * 6 * 3 * 2
    # valid: 3 x 3 outputs; depthwise 3*2 taps per channel of 6, then 6 -> 7 pointwise
    assert SeparableConv2D(7, (3, 2), depth_multiplier=2).flops((None, 5, 4, 3)) == \
        2 * 3 * 3 * 6 * (3 * 2 + 7)
