"""Recurrent layers: SimpleRNN, LSTM, GRU and the Bidirectional wrapper (Keras names, defaults,
weight layouts and gate orders, so weights move between nnx and Keras unchanged).

Each call is ONE whole-sequence autograd op (`nnx.functional.recurrent`), not a graph node per step.

Masks: a layer called with `mask=` (bool (batch, timesteps), False = padding, as produced by
`Embedding(mask_zero=True)` and threaded through by Sequential) keeps its state over masked steps and
repeats the previous output there; with return_sequences it passes the mask on to the next layer.
"""
import numpy as np

from nnx.functional import recurrent as R
from nnx.layers.base import Layer, format_shape
from nnx.layers.symbolic import is_symbolic
from nnx.layers.embedding import as_padded_array
from nnx.random import get_rng
from nnx.tensor import Tensor


def _activation_name(owner, activation):
    """The op runs activations by name; a callable from nnx.activations is mapped back to its name."""
    if activation is None:
        return "linear"
    if not isinstance(activation, str):
        from nnx import activations
        try:
            activation = activations.serialize(activation)
        except (TypeError, ValueError):
            activation = getattr(activation, "__name__", repr(activation))
    if activation not in R.ACTIVATIONS:
        raise ValueError(f"{owner}: unsupported activation {activation!r}; recurrent layers support "
                         f"{sorted(R.ACTIVATIONS)}")
    return activation


def _forget_bias_initializer(units):
    """Keras' unit_forget_bias: zeros, with ones on the forget gate block [units, 2*units)."""
    def init(shape, dtype="float32"):
        bias = np.zeros(shape, dtype)
        bias[units:2 * units] = 1.0
        return bias
    return init


class _RNN(Layer):
    """Shared by SimpleRNN, LSTM and GRU: argument checks, weights, the call, shapes and config."""
    kind = None
    gates = 1
    n_states = 1
    input_rank = 3
    input_layout = "(batch, timesteps, features)"
    accepts_mask = True
    regularizer_args = {"kernel_regularizer": "kernel", "recurrent_regularizer": "recurrent_kernel",
                        "bias_regularizer": "bias"}

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", dropout=0.0, recurrent_dropout=0.0, return_sequences=False,
                 return_state=False, go_backwards=False, **kwargs):
        super().__init__(**kwargs)
        who = self._who()
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"{who}: dropout must be in [0, 1), got {dropout!r}")
        if not 0.0 <= recurrent_dropout < 1.0:
            raise ValueError(f"{who}: recurrent_dropout must be in [0, 1), got {recurrent_dropout!r}")
        if recurrent_dropout and self.kind == "gru":
            raise ValueError(f"{who}: recurrent_dropout is supported by SimpleRNN and LSTM only (got "
                             f"{recurrent_dropout!r}); use dropout= (on the inputs) instead")
        self.dropout = float(dropout)
        self.recurrent_dropout = float(recurrent_dropout)
        if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units <= 0:
            raise ValueError(f"{who}: units must be a positive int, got {units!r}")
        self.units = int(units)
        self.activation = _activation_name(who, activation)
        self.recurrent_activation = _activation_name(who, recurrent_activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = kernel_initializer
        self.recurrent_initializer = recurrent_initializer
        self.bias_initializer = bias_initializer
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.kernel = self.recurrent_kernel = self.bias = None

    def _bias_shape(self):
        return (self.gates * self.units,)

    def _bias_init(self):
        return self.bias_initializer

    def build(self, input_shape):
        features = input_shape[-1]
        if features is None:
            raise ValueError(f"{self._who()}: the feature axis of the input must be known to build, "
                             f"got shape {format_shape(input_shape)}")
        width = self.gates * self.units
        self.kernel = self.add_weight(name="kernel", shape=(features, width),
                                      initializer=self.kernel_initializer)
        self.recurrent_kernel = self.add_weight(name="recurrent_kernel", shape=(self.units, width),
                                                initializer=self.recurrent_initializer)
        if self.use_bias:
            self.bias = self.add_weight(name="bias", shape=self._bias_shape(), initializer=self._bias_init())
        self.input_axes = {-1: features}
        super().build(input_shape)

    def __call__(self, inputs, training=False, mask=None, initial_state=None):
        if not isinstance(inputs, Tensor) and not is_symbolic(inputs):
            inputs = as_padded_array(inputs, self._who())
        return super().__call__(inputs, training=training, mask=mask, initial_state=initial_state)

    def call(self, inputs, training=False, mask=None, initial_state=None):
        if inputs.shape[1] == 0:
            raise ValueError(f"{self._who()}: input of shape {format_shape(inputs.shape)} has no "
                             f"time steps")
        if initial_state is not None and not isinstance(initial_state, (list, tuple)):
            initial_state = [initial_state]
        if initial_state is not None and (
                len(initial_state) != self.n_states or
                any(tuple(s.shape) != (inputs.shape[0], self.units) for s in initial_state)):
            raise ValueError(f"{self._who()}: initial_state must be {self.n_states} array(s) of shape "
                             f"{(inputs.shape[0], self.units)}, got "
                             f"{[tuple(np.shape(s)) for s in initial_state]}")
        if mask is not None:
            mask = np.asarray(getattr(mask, "data", mask))
            if mask.shape != tuple(inputs.shape[:2]):
                raise ValueError(f"{self._who()}: mask shape {mask.shape} does not match the input's "
                                 f"(batch, timesteps) {tuple(inputs.shape[:2])}")
        if training and self.dropout:
            # Keras: one dropout mask per sample and input feature, shared by every time step
            keep = get_rng().random((inputs.shape[0], 1, inputs.shape[2])) >= self.dropout
            inputs = inputs * (keep / (1.0 - self.dropout))
        recurrent_mask = None
        if training and self.recurrent_dropout:
            # Keras: one mask per sample and unit on h_{t-1} in the recurrent product, for all steps
            keep = get_rng().random((inputs.shape[0], self.units)) >= self.recurrent_dropout
            recurrent_mask = keep / (1.0 - self.recurrent_dropout)
        output, states = R.rnn(
            self.kind, inputs, self.kernel, self.recurrent_kernel, self.bias,
            initial_states=initial_state, mask=mask, go_backwards=self.go_backwards,
            return_sequences=self.return_sequences, activation=self.activation,
            recurrent_activation=self.recurrent_activation, recurrent_mask=recurrent_mask,
            **self._op_options())
        return [output] + states if self.return_state else output

    def _op_options(self):
        return {}

    def compute_output_shape(self, input_shape):
        n, steps = input_shape[0], input_shape[1]
        out = (n, steps, self.units) if self.return_sequences else (n, self.units)
        if self.return_state:
            return [out] + [(n, self.units)] * self.n_states
        return out

    def compute_mask(self, inputs, mask=None):
        return mask if self.return_sequences else None

    def get_config(self):
        config = {**super().get_config(), "units": self.units, "activation": self.activation,
                  "use_bias": self.use_bias, "kernel_initializer": self.kernel_initializer,
                  "recurrent_initializer": self.recurrent_initializer,
                  "bias_initializer": self.bias_initializer, "dropout": self.dropout,
                  "recurrent_dropout": self.recurrent_dropout,
                  "return_sequences": self.return_sequences, "return_state": self.return_state,
                  "go_backwards": self.go_backwards}
        if self.gates > 1:
            config["recurrent_activation"] = self.recurrent_activation
        return config


class SimpleRNN(_RNN):
    """h_t = activation(x_t·kernel + h_{t-1}·recurrent_kernel + bias)."""
    kind = "simple_rnn"

    def __init__(self, units, activation="tanh", use_bias=True, **kwargs):
        super().__init__(units, activation=activation, use_bias=use_bias, **kwargs)


class LSTM(_RNN):
    """Long short-term memory; gates i, f, c, o; states [h, c]."""
    kind = "lstm"
    gates = 4
    n_states = 2

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 unit_forget_bias=True, **kwargs):
        super().__init__(units, activation=activation, recurrent_activation=recurrent_activation,
                         use_bias=use_bias, **kwargs)
        self.unit_forget_bias = bool(unit_forget_bias)

    def _bias_init(self):
        if self.unit_forget_bias:
            return _forget_bias_initializer(self.units)
        return self.bias_initializer

    def get_config(self):
        return {**super().get_config(), "unit_forget_bias": self.unit_forget_bias}


class GRU(_RNN):
    """Gated recurrent unit; gates z, r, h. reset_after=True (Keras' default) has bias (2, 3*units):
    input bias and recurrent bias; reset_after=False has bias (3*units,)."""
    kind = "gru"
    gates = 3

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 reset_after=True, **kwargs):
        super().__init__(units, activation=activation, recurrent_activation=recurrent_activation,
                         use_bias=use_bias, **kwargs)
        self.reset_after = bool(reset_after)

    def _bias_shape(self):
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def _op_options(self):
        return {"reset_after": self.reset_after}

    def get_config(self):
        return {**super().get_config(), "reset_after": self.reset_after}


_MERGE_MODES = ("concat", "sum", "mul", "ave", None)


class Bidirectional(Layer):
    """Runs `layer` forwards and a copy of it backwards over the sequence and merges the two outputs
    ('concat', 'sum', 'mul', 'ave', or None for a list). With return_sequences the backward outputs
    are flipped back into input order first, so step t of both halves sees the same position."""
    input_rank = 3
    input_layout = "(batch, timesteps, features)"
    accepts_mask = True

    def __init__(self, layer, merge_mode="concat", backward_layer=None, **kwargs):
        if not isinstance(layer, _RNN):
            raise TypeError(f"Bidirectional: layer must be a SimpleRNN, LSTM or GRU instance, got "
                            f"{type(layer).__name__}")
        kwargs.setdefault("dtype", layer.dtype.name)   # inputs are cast to the wrapper's dtype
        super().__init__(**kwargs)
        if merge_mode not in _MERGE_MODES:
            raise ValueError(f"{self._who()}: merge_mode must be one of {_MERGE_MODES}, got "
                             f"{merge_mode!r}")
        self.merge_mode = merge_mode
        config = layer.get_config()
        config.pop("input_shape", None)
        self.forward_layer = type(layer)(**{**config, "name": f"forward_{layer.name}"})
        if backward_layer is None:
            backward_layer = type(layer)(**{**config, "name": f"backward_{layer.name}",
                                            "go_backwards": not layer.go_backwards})
        elif backward_layer.go_backwards == layer.go_backwards:
            raise ValueError(f"{self._who()}: backward_layer must have go_backwards="
                             f"{not layer.go_backwards}")
        self.backward_layer = backward_layer
        self.return_sequences = layer.return_sequences
        self.return_state = layer.return_state
        if self.input_shape_arg is None:
            self.input_shape_arg = layer.input_shape_arg

    def sublayers(self):
        return [self.forward_layer, self.backward_layer]

    def build(self, input_shape):
        for sub in self.sublayers():
            sub.ensure_built(input_shape)
        self.input_axes = {-1: input_shape[-1]}
        super().build(input_shape)

    def call(self, inputs, training=False, mask=None, initial_state=None):
        fw_init = bw_init = None
        if initial_state is not None:
            half = len(initial_state) // 2
            fw_init, bw_init = initial_state[:half], initial_state[half:]
        fw = self.forward_layer(inputs, training=training, mask=mask, initial_state=fw_init)
        bw = self.backward_layer(inputs, training=training, mask=mask, initial_state=bw_init)
        fw_states = bw_states = []
        if self.return_state:
            fw, fw_states = fw[0], fw[1:]
            bw, bw_states = bw[0], bw[1:]
        if self.return_sequences:
            bw = bw[:, ::-1]
        if self.merge_mode == "concat":
            from nnx import functional as F
            out = F.concatenate([fw, bw], axis=-1)
        elif self.merge_mode == "sum":
            out = fw + bw
        elif self.merge_mode == "mul":
            out = fw * bw
        elif self.merge_mode == "ave":
            out = (fw + bw) * 0.5
        else:
            out = [fw, bw]
        if self.return_state:
            return (out if isinstance(out, list) else [out]) + fw_states + bw_states
        return out

    def compute_output_shape(self, input_shape):
        shape = self.forward_layer.compute_output_shape(input_shape)
        if self.return_state:
            shape = shape[0]
        if self.merge_mode == "concat":
            shape = shape[:-1] + (2 * shape[-1],)
        elif self.merge_mode is None:
            shape = [shape, shape]
        if self.return_state:
            state = (input_shape[0], self.forward_layer.units)
            return (shape if isinstance(shape, list) else [shape]) + \
                [state] * (2 * self.forward_layer.n_states)
        return shape

    def compute_mask(self, inputs, mask=None):
        return mask if self.return_sequences else None

    def get_config(self):
        inner = self.forward_layer.get_config()
        inner["name"] = inner["name"][len("forward_"):]
        config = {**super().get_config(), "merge_mode": self.merge_mode,
                  "layer": {"class_name": type(self.forward_layer).__name__, "config": inner}}
        if self.backward_layer.name != f"backward_{inner['name']}":
            config["backward_layer"] = {"class_name": type(self.backward_layer).__name__,
                                        "config": self.backward_layer.get_config()}
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("layer", "backward_layer"):
            if key in config:
                spec = config[key]
                sub = Layer.registry.get(spec["class_name"])
                if sub is None or not issubclass(sub, _RNN):
                    raise ValueError(f"Bidirectional: cannot rebuild a {spec['class_name']!r} layer")
                config[key] = sub.from_config(spec["config"])
        return cls(**config)
