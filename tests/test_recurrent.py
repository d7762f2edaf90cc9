"""Recurrent ops and layers vs a step-by-step NumPy reference (written straight from Keras' equations,
one sample and one step at a time) and central finite differences in float64."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import nnx
from nnx.functional import recurrent as R
from nnx.tensor import Tensor
from nnx.testing import numerical_gradient

# --- the step-by-step reference ------------------------------------------------------------------
ACT = {"tanh": np.tanh, "sigmoid": lambda x: 1 / (1 + np.exp(-x)), "relu": lambda x: np.maximum(x, 0),
       "linear": lambda x: x, "hard_sigmoid": lambda x: np.clip(x / 6 + 0.5, 0, 1)}


def ref_step(kind, x, states, W, U, b, act, ract, reset_after, rm=1.0):
    """One step of one sample; rm multiplies h_{t-1} inside the recurrent product (recurrent dropout)."""
    f_act, f_ract = ACT[act], ACT[ract]
    u = U.shape[0]
    if kind == "simple_rnn":
        return [f_act(x @ W + (states[0] * rm) @ U + (0 if b is None else b))]
    if kind == "lstm":
        h, c = states
        z = x @ W + (h * rm) @ U + (0 if b is None else b)
        i, f, g, o = (z[k * u:(k + 1) * u] for k in range(4))
        c = f_ract(f) * c + f_ract(i) * f_act(g)
        return [f_ract(o) * f_act(c), c]
    h = states[0]
    if reset_after:
        bi, br = (np.zeros(3 * u), np.zeros(3 * u)) if b is None else (b[0], b[1])
        xw, hu = x @ W + bi, h @ U + br
        z = f_ract(xw[:u] + hu[:u])
        r = f_ract(xw[u:2 * u] + hu[u:2 * u])
        hh = f_act(xw[2 * u:] + r * hu[2 * u:])
    else:
        xw = x @ W + (np.zeros(3 * u) if b is None else b)
        z = f_ract(xw[:u] + h @ U[:, :u])
        r = f_ract(xw[u:2 * u] + h @ U[:, u:2 * u])
        hh = f_act(xw[2 * u:] + (r * h) @ U[:, 2 * u:])
    return [z * h + (1 - z) * hh]


def ref_run(kind, x, W, U, b, initial, mask=None, go_backwards=False, act="tanh", ract="sigmoid",
            reset_after=True, rmask=None):
    """Keras semantics: (outputs (N, T, U) in processing order, final states). A masked step keeps
    the states and repeats the previous output (zeros before the first unmasked step)."""
    n, steps, _ = x.shape
    u = U.shape[0]
    outs = np.zeros((n, steps, u))
    finals = [np.zeros((n, u)) for _ in initial]
    for s in range(n):
        states = [a[s].copy() for a in initial]
        y = np.zeros(u)
        order = range(steps - 1, -1, -1) if go_backwards else range(steps)
        for k, t in enumerate(order):
            if mask is None or mask[s, t]:
                states = ref_step(kind, x[s, t], states, W, U, b, act, ract, reset_after,
                                  1.0 if rmask is None else rmask[s])
                y = states[0]
            outs[s, k] = y
        for a, v in zip(finals, states):
            a[s] = v
    return outs, finals


GATES = {"simple_rnn": 1, "lstm": 4, "gru": 3}
NSTATES = {"simple_rnn": 1, "lstm": 2, "gru": 1}
CASES = [("simple_rnn", True), ("lstm", True), ("gru", True), ("gru", False)]


def make_problem(kind, reset_after, n=3, steps=5, d=4, u=3, masked=False, seed=0):
    rng = np.random.default_rng(seed)
    k = GATES[kind]
    p = dict(x=rng.normal(size=(n, steps, d)), W=rng.normal(size=(d, k * u)) * 0.6,
             U=rng.normal(size=(u, k * u)) * 0.6,
             b=rng.normal(size=(2, 3 * u) if kind == "gru" and reset_after else (k * u,)) * 0.5,
             init=[rng.normal(size=(n, u)) for _ in range(NSTATES[kind])])
    p["mask"] = None
    if masked:
        p["mask"] = rng.random((n, steps)) > 0.4
        p["mask"][0] = [False, True, True, False, False][:steps] + [True] * max(0, steps - 5)
    return p


# --- the whole-sequence math against the reference -------------------------------------------------

@pytest.mark.parametrize("kind,reset_after", CASES)
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_forward_matches_step_reference(kind, reset_after, masked, go_backwards):
    p = make_problem(kind, reset_after, masked=masked)
    want, want_states = ref_run(kind, p["x"], p["W"], p["U"], p["b"], p["init"], p["mask"],
                                go_backwards, reset_after=reset_after)
    cell = R.make_cell(kind, 3, p["U"], p["b"], reset_after=reset_after)
    got, got_states, _ = R.rnn_forward(cell, p["x"], p["W"], p["init"], p["mask"], go_backwards)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    for g, w in zip(got_states, want_states):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kind,reset_after", CASES)
@pytest.mark.parametrize("masked,go_backwards", [(False, False), (True, False), (True, True)])
def test_bptt_matches_finite_differences(kind, reset_after, masked, go_backwards):
    p = make_problem(kind, reset_after, masked=masked, seed=1)
    rng = np.random.default_rng(2)
    g_out = rng.normal(size=(3, 5, 3))
    g_states = [rng.normal(size=(3, 3)) for _ in p["init"]]

    def loss():  # the reference, so the analytic gradients are checked against independent code
        out, states = ref_run(kind, p["x"], p["W"], p["U"], p["b"], p["init"], p["mask"],
                              go_backwards, reset_after=reset_after)
        return (out * g_out).sum() + sum((s * g).sum() for s, g in zip(states, g_states))

    cell = R.make_cell(kind, 3, p["U"], p["b"], reset_after=reset_after)
    _, _, tape = R.rnn_forward(cell, p["x"], p["W"], p["init"], p["mask"], go_backwards)
    dx, dW, dU, db, dinit = R.rnn_backward(tape, g_out, g_states)
    for got, wrt in [(dx, p["x"]), (dW, p["W"]), (dU, p["U"]), (db, p["b"])] + list(zip(dinit, p["init"])):
        np.testing.assert_allclose(got, numerical_gradient(loss, wrt), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("act,ract", [("relu", "hard_sigmoid"), ("linear", "tanh"), ("sigmoid", "sigmoid")])
def test_other_activations(act, ract):
    p = make_problem("lstm", True, seed=3)
    want, _ = ref_run("lstm", p["x"], p["W"], p["U"], p["b"], p["init"], act=act, ract=ract)
    cell = R.make_cell("lstm", 3, p["U"], p["b"], act, ract)
    got, _, tape = R.rnn_forward(cell, p["x"], p["W"], p["init"])
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    g = np.random.default_rng(4).normal(size=got.shape)
    dx, dW, *_ = R.rnn_backward(tape, g, [None, None])

    def loss():
        return (ref_run("lstm", p["x"], p["W"], p["U"], p["b"], p["init"], act=act, ract=ract)[0] * g).sum()
    np.testing.assert_allclose(dW, numerical_gradient(loss, p["W"]), rtol=1e-5, atol=1e-6)


@given(n=st.integers(0, 4), steps=st.integers(1, 6), d=st.integers(1, 5), u=st.integers(1, 5),
       case=st.sampled_from(CASES), masked=st.booleans(), go_backwards=st.booleans(),
       seed=st.integers(0, 2 ** 16))
def test_forward_property_over_shapes(n, steps, d, u, case, masked, go_backwards, seed):
    kind, reset_after = case
    p = make_problem(kind, reset_after, n, steps, d, u, seed=seed)
    mask = np.random.default_rng(seed).random((n, steps)) > 0.3 if masked else None
    want, want_states = ref_run(kind, p["x"], p["W"], p["U"], p["b"], p["init"], mask, go_backwards,
                                reset_after=reset_after)
    cell = R.make_cell(kind, u, p["U"], p["b"], reset_after=reset_after)
    got, got_states, _ = R.rnn_forward(cell, p["x"], p["W"], p["init"], mask, go_backwards)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    for g, w in zip(got_states, want_states):
        np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-12)


def test_float32_agrees_with_float64():
    p = make_problem("lstm", True, n=4, steps=20, d=6, u=8, seed=5)
    want, _ = ref_run("lstm", p["x"], p["W"], p["U"], p["b"], p["init"])
    f32 = lambda a: a.astype(np.float32)  # noqa: E731
    cell = R.make_cell("lstm", 8, f32(p["U"]), f32(p["b"]))
    got, _, _ = R.rnn_forward(cell, f32(p["x"]), f32(p["W"]), [f32(s) for s in p["init"]])
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_sigmoid_is_stable_for_huge_preactivations():
    p = make_problem("gru", True, seed=6)
    cell = R.make_cell("gru", 3, p["U"], p["b"] * 1e4)
    with np.errstate(all="raise"):
        got, _, _ = R.rnn_forward(cell, p["x"] * 1e4, p["W"], p["init"])
    assert np.all(np.isfinite(got))


# --- the autograd op ---------------------------------------------------------------------------------

@pytest.mark.parametrize("kind,reset_after", CASES)
@pytest.mark.parametrize("return_sequences", [False, True])
def test_functional_op_gradients(kind, reset_after, return_sequences):
    p = make_problem(kind, reset_after, masked=True, seed=7)
    x, W, U, b = (Tensor(p[k], requires_grad=True) for k in ("x", "W", "U", "b"))
    init = [Tensor(s, requires_grad=True) for s in p["init"]]
    out, states = R.rnn(kind, x, W, U, b, initial_states=init, mask=p["mask"],
                              return_sequences=return_sequences, reset_after=reset_after)
    rng = np.random.default_rng(8)
    g_out, g_last = rng.normal(size=out.shape), rng.normal(size=states[-1].shape)
    ((out * g_out).sum() + (states[-1] * g_last).sum()).backward()

    def loss():
        seq, fin = ref_run(kind, p["x"], p["W"], p["U"], p["b"], p["init"], p["mask"],
                           reset_after=reset_after)
        return (((seq if return_sequences else seq[:, -1]) * g_out).sum() + (fin[-1] * g_last).sum())
    for t, k in [(x, "x"), (W, "W"), (U, "U"), (b, "b")]:
        np.testing.assert_allclose(t.grad, numerical_gradient(loss, p[k]), rtol=1e-6, atol=1e-7)
    for t, s in zip(init, p["init"]):
        np.testing.assert_allclose(t.grad, numerical_gradient(loss, s), rtol=1e-6, atol=1e-7)


def test_functional_op_records_one_node_and_honours_no_grad():
    p = make_problem("lstm", True)
    W = Tensor(p["W"], requires_grad=True)
    out, _ = R.lstm(p["x"], W, p["U"], p["b"])
    assert out.requires_grad and out._node.fn is R.Recurrent
    with nnx.no_grad():
        out, _ = R.lstm(p["x"], W, p["U"], p["b"])
    assert not out.requires_grad


@pytest.mark.parametrize("bad,match", [
    (dict(x=np.zeros((3, 4))), "rank 3"),
    (dict(W=np.zeros((5, 12))), "kernel"),
    (dict(b=np.zeros(7)), "bias"),
    (dict(mask=np.ones((3, 4), bool)), "mask"),
    (dict(init=[np.zeros((2, 3)), np.zeros((3, 3))]), "initial state"),
])
def test_functional_op_rejects_bad_shapes(bad, match):
    p = make_problem("lstm", True)
    p.update(bad)
    with pytest.raises(ValueError, match=match):
        R.lstm(p["x"], p["W"], p["U"], p["b"], initial_states=p["init"], mask=p["mask"])


def test_unsupported_activation_is_a_clear_error():
    with pytest.raises(ValueError, match="softmax"):
        R.make_cell("lstm", 3, np.zeros((3, 12)), None, activation="softmax")


# --- the layers ----------------------------------------------------------------------------------------

from nnx.layers.recurrent import GRU, LSTM, SimpleRNN, Bidirectional  # noqa: E402

LAYERS = {"simple_rnn": SimpleRNN, "lstm": LSTM, "gru": GRU}


def make_layer(kind, reset_after=True, **kwargs):
    extra = {"reset_after": reset_after} if kind == "gru" else {}
    return LAYERS[kind](3, dtype="float64", **extra, **kwargs)


@pytest.mark.parametrize("kind,reset_after", CASES)
def test_layer_weights_have_keras_layout_and_initialisers(kind, reset_after):
    layer = make_layer(kind, reset_after)
    layer(np.zeros((2, 5, 4)))
    k = GATES[kind]
    bias_shape = (2, 3 * 3) if kind == "gru" and reset_after else (k * 3,)
    assert [w.shape for w in layer.get_weights()] == [(4, k * 3), (3, k * 3), bias_shape]
    assert layer.weights[0] is layer.kernel and layer.weights[1] is layer.recurrent_kernel
    u = layer.recurrent_kernel.data
    np.testing.assert_allclose(u @ u.T, np.eye(3), atol=1e-12)      # orthogonal rows, as in Keras
    want_bias = np.zeros(bias_shape)
    if kind == "lstm":
        want_bias[3:6] = 1.0                                         # unit_forget_bias
    np.testing.assert_array_equal(layer.bias.data, want_bias)


@pytest.mark.parametrize("kind,reset_after", CASES)
@pytest.mark.parametrize("options", [
    dict(), dict(return_sequences=True), dict(return_state=True),
    dict(return_sequences=True, return_state=True, go_backwards=True), dict(masked=True),
    dict(masked=True, return_sequences=True, go_backwards=True),
])
def test_layer_outputs_and_weight_gradients(kind, reset_after, options):
    options = dict(options)
    masked = options.pop("masked", False)
    p = make_problem(kind, reset_after, masked=masked, seed=11)
    layer = make_layer(kind, reset_after, **options)
    layer(p["x"])
    layer.set_weights([p["W"], p["U"], p["b"]])
    zeros = [np.zeros_like(s) for s in p["init"]]
    result = layer(p["x"], mask=p["mask"])
    outs = result if options.get("return_state") else [result]
    seq, fin = ref_run(kind, p["x"], p["W"], p["U"], p["b"], zeros, p["mask"],
                       options.get("go_backwards", False), reset_after=reset_after)
    want = [seq if options.get("return_sequences") else seq[:, -1]]
    if options.get("return_state"):
        want += fin
    assert len(outs) == len(want)
    assert [o.shape for o in outs] == [w.shape for w in want]
    for o, w in zip(outs, want):
        np.testing.assert_allclose(o.data, w, rtol=1e-12, atol=1e-12)

    rng = np.random.default_rng(12)
    gs = [rng.normal(size=w.shape) for w in want]
    sum(((o * g).sum() for o, g in zip(outs, gs)), Tensor(0.0, dtype="float64")).backward()

    def loss():
        seq, fin = ref_run(kind, p["x"], p["W"], p["U"], p["b"], zeros, p["mask"],
                           options.get("go_backwards", False), reset_after=reset_after)
        ws = [seq if options.get("return_sequences") else seq[:, -1]]
        ws += fin if options.get("return_state") else []
        return sum((w * g).sum() for w, g in zip(ws, gs))
    for weight, key in zip(layer.weights, ("W", "U", "b")):
        np.testing.assert_allclose(weight.grad, numerical_gradient(loss, p[key]), rtol=1e-6, atol=1e-7)


def test_layer_initial_state_and_float32_default():
    p = make_problem("lstm", True, seed=13)
    layer = LSTM(3, return_state=True)
    layer(p["x"])
    layer.set_weights([p["W"], p["U"], p["b"]])
    out, h, c = layer(p["x"], initial_state=p["init"])
    assert out.dtype == np.float32
    _, (h_ref, c_ref) = ref_run("lstm", p["x"], p["W"], p["U"], p["b"], p["init"])
    np.testing.assert_allclose(h.data, h_ref, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(c.data, c_ref, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="initial_state"):
        layer(p["x"], initial_state=p["init"][:1])


@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave", None])
def test_bidirectional_merges_forward_and_flipped_backward(merge_mode):
    p = make_problem("gru", True, masked=True, seed=14)
    bi = Bidirectional(GRU(3, return_sequences=True, dtype="float64"), merge_mode=merge_mode)
    bi(p["x"])
    rng = np.random.default_rng(15)
    w_bw = [rng.normal(size=w.shape) * 0.5 for w in (p["W"], p["U"], p["b"])]
    bi.set_weights([p["W"], p["U"], p["b"]] + w_bw)
    assert bi.forward_layer.name.startswith("forward_") and bi.backward_layer.go_backwards
    zeros = [np.zeros((3, 3))]
    fw, _ = ref_run("gru", p["x"], p["W"], p["U"], p["b"], zeros, p["mask"])
    bw, _ = ref_run("gru", p["x"], *w_bw, zeros, p["mask"], go_backwards=True)
    bw = bw[:, ::-1]
    want = {"concat": np.concatenate([fw, bw], -1), "sum": fw + bw, "mul": fw * bw,
            "ave": (fw + bw) / 2, None: [fw, bw]}[merge_mode]
    got = bi(p["x"], mask=p["mask"])
    if merge_mode is None:
        for g, w in zip(got, want):
            np.testing.assert_allclose(g.data, w, rtol=1e-12, atol=1e-12)
    else:
        np.testing.assert_allclose(got.data, want, rtol=1e-12, atol=1e-12)
        assert got.shape[1:] == bi.compute_output_shape((None, 5, 4))[1:]


def test_bidirectional_gradients_and_state_outputs():
    p = make_problem("lstm", True, seed=16)
    bi = Bidirectional(LSTM(3, return_state=True, dtype="float64"))
    out, *states = bi(p["x"])
    assert out.shape == (3, 6) and len(states) == 4
    g = np.random.default_rng(17).normal(size=(3, 6))
    (out * g).sum().backward()
    kernel = bi.backward_layer.kernel
    zeros = [np.zeros((3, 3))] * 2
    W, U, b = (w.data for w in bi.backward_layer.weights)
    W = W.copy()

    def loss():
        seq, _ = ref_run("lstm", p["x"], W, U, b, zeros, go_backwards=True)
        return (seq[:, -1] * g[:, 3:]).sum()
    np.testing.assert_allclose(kernel.grad, numerical_gradient(loss, W), rtol=1e-6, atol=1e-7)


def test_layer_config_round_trip():
    for layer in (LSTM(5, return_sequences=True, go_backwards=True, unit_forget_bias=False),
                  GRU(4, reset_after=False, activation="relu"), SimpleRNN(2, return_state=True),
                  Bidirectional(LSTM(3), merge_mode="sum")):
        config = layer.get_config()
        clone = type(layer).from_config(config)
        assert clone.get_config() == config


def test_layer_bad_inputs_name_the_layer():
    layer = LSTM(3, name="encoder")
    with pytest.raises(ValueError, match=r"LSTM 'encoder'.*\(batch, timesteps, features\)"):
        layer(np.zeros((4, 5), np.float32))
    with pytest.raises(ValueError, match=r"GRU .*pad_sequences"):
        GRU(2)([[[1.0], [2.0]], [[1.0]]])
    with pytest.raises(ValueError, match=r"SimpleRNN .*activation"):
        SimpleRNN(2, activation="softmax")
    with pytest.raises(ValueError, match="mask shape"):
        LSTM(2)(np.zeros((2, 3, 1)), mask=np.ones((2, 4), bool))
    with pytest.raises(TypeError, match="Bidirectional"):
        Bidirectional("lstm")


# --- masks through a model, and saving ----------------------------------------------------------------

def test_padding_mask_from_embedding_reaches_the_recurrent_layer(tmp_path):
    """Post-padded batches give each sequence exactly the result it gets alone, unpadded."""
    from nnx.layers import Embedding, GlobalAveragePooling1D
    from nnx.models import Sequential, load_model
    nnx.manual_seed(0)
    ids = np.array([[3, 1, 4, 1, 5], [9, 2, 6, 0, 0], [5, 0, 0, 0, 0]])
    lengths = (ids != 0).sum(axis=1)
    for head in (LSTM(4), GRU(4, return_sequences=True), Bidirectional(SimpleRNN(3))):
        model = Sequential([Embedding(10, 3, mask_zero=True, input_shape=(5,)), head])
        if isinstance(head, GRU):
            model.add(GlobalAveragePooling1D())
        model.compile(optimizer="sgd", loss="mse")
        batch = model.predict(ids, verbose=0)
        for i, n in enumerate(lengths):
            alone = ids[i:i + 1, :n]                  # the same sequence, unpadded, no mask
            y = alone
            for layer in model.layers:
                y = layer(y)
            np.testing.assert_allclose(batch[i], y.data[0], rtol=1e-5, atol=1e-6)
        path = tmp_path / f"{head.name}.nnx"
        model.save(path)
        np.testing.assert_allclose(load_model(path).predict(ids, verbose=0), batch, rtol=1e-6)


@pytest.mark.parametrize("kind,reset_after", CASES)
def test_every_backend_gives_the_same_result(kind, reset_after):
    p = make_problem(kind, reset_after, masked=True, seed=21)
    results = []
    for name in ("native", "reference", "shadow"):
        with nnx.use_backend(name):
            cell = R.make_cell(kind, 3, p["U"], p["b"], reset_after=reset_after)
            out, _, tape = R.rnn_forward(cell, p["x"], p["W"], p["init"], p["mask"])
            results.append((out,) + R.rnn_backward(tape, np.ones_like(out), [None] * len(p["init"]))[:4])
    for other in results[1:]:
        for a, b in zip(results[0], other):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_input_dropout_shares_one_mask_over_time_and_only_in_training():
    nnx.manual_seed(3)
    layer = SimpleRNN(4, dropout=0.5, activation="linear", return_sequences=True, use_bias=False,
                      dtype="float64")
    x = Tensor(np.ones((64, 6, 5)), requires_grad=True)
    np.testing.assert_array_equal(layer(x).data, layer(x, training=False).data)   # inference: off
    layer(x, training=True).sum().backward()
    kept = x.grad != 0
    assert (kept == kept[:, :1]).all()                          # the same inputs dropped at every step
    assert 0.3 < kept[:, 0].mean() < 0.7
    with pytest.raises(ValueError, match="recurrent_dropout"):
        GRU(2, recurrent_dropout=0.2)
    with pytest.raises(ValueError, match="dropout"):
        GRU(2, dropout=1.0)


@pytest.mark.parametrize("kind", ["simple_rnn", "lstm"])
def test_recurrent_mask_matches_reference_and_finite_differences(kind):
    p = make_problem(kind, True, masked=True, seed=31)
    rmask = (np.random.default_rng(32).random((3, 3)) > 0.4) / 0.6
    g = np.random.default_rng(33).normal(size=(3, 5, 3))

    def loss():
        return (ref_run(kind, p["x"], p["W"], p["U"], p["b"], p["init"], p["mask"], rmask=rmask)[0]
                * g).sum()
    x, W, U, b = (Tensor(p[k], requires_grad=True) for k in ("x", "W", "U", "b"))
    init = [Tensor(s, requires_grad=True) for s in p["init"]]
    out, _ = R.rnn(kind, x, W, U, b, initial_states=init, mask=p["mask"], return_sequences=True,
                   recurrent_mask=rmask)
    np.testing.assert_allclose(out.data, ref_run(kind, p["x"], p["W"], p["U"], p["b"], p["init"],
                                                 p["mask"], rmask=rmask)[0], rtol=1e-12, atol=1e-12)
    (out * g).sum().backward()
    for t, key in [(x, "x"), (W, "W"), (U, "U"), (b, "b")]:
        np.testing.assert_allclose(t.grad, numerical_gradient(loss, p[key]), rtol=1e-6, atol=1e-7)
    for t, s in zip(init, p["init"]):
        np.testing.assert_allclose(t.grad, numerical_gradient(loss, s), rtol=1e-6, atol=1e-7)


def test_recurrent_dropout_layer_only_in_training():
    nnx.manual_seed(4)
    layer = LSTM(8, recurrent_dropout=0.5, return_sequences=True, dtype="float64")
    x = np.random.default_rng(5).normal(size=(4, 6, 3))
    inference = layer(x).data
    np.testing.assert_array_equal(layer(x, training=False).data, inference)
    trained = layer(x, training=True).data
    np.testing.assert_array_equal(trained[:, 0], inference[:, 0])   # h_0 = 0: step 0 is unaffected
    assert not np.allclose(trained[:, 1:], inference[:, 1:])
    with pytest.raises(ValueError, match="recurrent_mask"):
        R.rnn("gru", x, np.zeros((3, 9)), np.zeros((3, 9)), recurrent_mask=np.ones((4, 3)))


def test_float32_gradients_agree_with_float64_and_are_thread_count_independent():
    p = make_problem("lstm", True, n=8, steps=30, d=16, u=32, masked=False, seed=41)
    g = np.random.default_rng(42).normal(size=(8, 30, 32))

    def grads(dtype):
        cell = R.make_cell("lstm", 32, p["U"].astype(dtype), p["b"].astype(dtype))
        out, _, tape = R.rnn_forward(cell, p["x"].astype(dtype), p["W"].astype(dtype),
                                     [s.astype(dtype) for s in p["init"]])
        return (out,) + R.rnn_backward(tape, g.astype(dtype), [None, None])[:4]
    want = grads(np.float64)
    threads = nnx.get_num_threads()
    try:
        nnx.set_num_threads(1)
        one = grads(np.float32)
        nnx.set_num_threads(2)
        two = grads(np.float32)
    finally:
        nnx.set_num_threads(threads)
    for a, b, w in zip(one, two, want):
        np.testing.assert_array_equal(a, b)                      # bit-identical for 1 and 2 threads
        scale = np.abs(w).max()
        np.testing.assert_allclose(a, w, rtol=0, atol=1e-4 * scale)
