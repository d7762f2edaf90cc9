"""`Layer`: the base of every Keras-style layer (and of the models, which are layers of layers).

A layer owns weights (Tensors created by `add_weight`) and computes `call(inputs, training)`. It builds
lazily: the first call (or a model that knows the input shape) runs `build(input_shape)` with the full
input shape, batch axis included as None, so weight shapes follow the data. Called on symbolic tensors
(from `Input`) it builds and records a graph node instead of computing (nnx.layers.symbolic).

Contract shared with the other layer authors (sequence layers, models):
- Subclasses implement `build(input_shape)` (create weights with `add_weight(shape=..., ...)`, then
  `super().build(input_shape)`), `call(inputs, training=False)` on Tensors, and
  `compute_output_shape(input_shape)` (an nnx layer without it keeps the shape; a user's layer is
  traced); `get_config()` returns the constructor arguments as a JSON-able dict (extend the parent's).
- Several inputs: a layer with `takes_list = True` (the merge layers) gets a list of Tensors, and a
  list of shapes in `build`, `check_input_shape` and `compute_output_shape`.
- Tracking: layers held in attributes (also inside lists, tuples and dicts) are found by
  `sublayers()`; their weights count as this layer's, and `trainable = False` freezes them too.
- Input checks: a subclass states the expected rank in `input_rank` (exact) or `min_rank`, and a
  readable layout in `input_layout` ("(N, H, W, C)"); `build` may pin axis sizes in `self.input_axes`
  ({-1: channels}). `check_input_shape` then raises a ValueError naming the layer and the shapes.
- Activation fusion: a layer with an output activation implements `call_linear(inputs, training)`
  (everything but the activation) and keeps `self.activation`; models use this to compute
  softmax + cross-entropy from the logits.
- Masks (sequence layers): `supports_masking` tells whether a layer passes a mask through unchanged,
  `compute_mask(inputs, mask)` returns the mask of the output, and a layer whose `call` takes a
  `mask=` keyword sets `accepts_mask = True`; Sequential and functional models thread the mask through.
- Every concrete nnx subclass registers itself by class name (`Layer.registry`); loading instantiates
  only these, classes given in `custom_objects`, and classes registered with
  `nnx.utils.register_serializable` (nnx.models.serialization).
- Regularizers: a layer lists its weight-penalty arguments in `regularizer_args` ({constructor
  argument: weight name}, e.g. {'kernel_regularizer': 'kernel'}); `Layer.__init__` takes them (and
  `activity_regularizer`), `add_weight` attaches them to the weights by name, `get_config` saves
  them, and `losses` collects the penalties of the layer and everything it tracks (activity
  penalties from the last call: `invoke` records them).
"""
import inspect
import re

import numpy as np

from nnx import activations, initializers, regularizers
from nnx.autograd import no_grad
from nnx.layers.symbolic import Node, format_shape, is_symbolic
from nnx.tensor import Tensor


def _snake_case(name):
    """Keras' rule: 'Conv2D' -> 'conv2d', 'MaxPooling2D' -> 'max_pooling2d'."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


_name_counts = {}


def is_shape_list(shape):
    """A list of shapes (several inputs or outputs) rather than one shape tuple."""
    return isinstance(shape, list) and bool(shape) and all(isinstance(s, (tuple, list)) for s in shape)


def is_input_list(inputs):
    """Several inputs: a list or tuple of Tensors or arrays (a nested list of numbers is one array)."""
    return isinstance(inputs, (list, tuple)) and bool(inputs) and all(
        isinstance(x, (Tensor, np.ndarray)) for x in inputs)


def takes_training(call):
    """Does this `call` accept `training=`? (Keras passes it only to calls that do.)"""
    params = inspect.signature(call).parameters
    return "training" in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def unique_name(prefix):
    """'dense', 'dense_1', 'dense_2', ... (per prefix, for the whole session)."""
    n = _name_counts.get(prefix, 0)
    _name_counts[prefix] = n + 1
    return prefix if n == 0 else f"{prefix}_{n}"


def clear_session():
    """Restart automatic layer names from 'dense', 'conv2d', ... (like keras.backend.clear_session)."""
    _name_counts.clear()


class Layer:
    """Base class of layers; see the module docstring for the subclass contract."""

    registry = {}
    input_rank = None      # exact input rank (batch included), or None
    min_rank = 1           # minimum input rank when input_rank is None
    input_layout = ""      # shown in rank errors, e.g. "(N, H, W, C)"
    supports_masking = False
    accepts_mask = False
    regularizer_args = {}  # constructor argument -> name of the weight it penalises
    takes_list = False     # called on a list of inputs (merge layers); user classes may take either
    user_class = False     # defined outside nnx (set by __init_subclass__)
    call_takes_training = True

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.user_class = not cls.__module__.startswith("nnx.")
        cls.call_takes_training = takes_training(cls.call)
        # private and abstract bases (BaseConv) are not loadable by name
        if not cls.__name__.startswith("_") and not cls.user_class and not cls.__dict__.get("abstract"):
            Layer.registry[cls.__name__] = cls

    def __init__(self, name=None, input_shape=None, trainable=True, dtype=None,
                 activity_regularizer=None, **weight_regularizers):
        unknown = set(weight_regularizers) - set(self.regularizer_args)
        if unknown:
            raise TypeError(f"{type(self).__name__}: unexpected keyword argument(s) "
                            f"{', '.join(sorted(unknown))}")
        if name is not None and (not isinstance(name, str) or not name):
            raise TypeError(f"{type(self).__name__}: name must be a non-empty string, got {name!r}")
        self.name = name if name is not None else unique_name(_snake_case(type(self).__name__))
        self._trainable_flag = bool(trainable)
        self.dtype = np.dtype("float32" if dtype is None else dtype)
        if self.dtype.kind != "f":
            raise TypeError(f"{self._who()}: dtype must be a float dtype, got {self.dtype}")
        if input_shape is not None:
            input_shape = tuple(input_shape) if isinstance(input_shape, (tuple, list)) else (input_shape,)
            if not all(d is None or (isinstance(d, (int, np.integer)) and d > 0) for d in input_shape):
                raise ValueError(f"{self._who()}: input_shape must hold positive ints (or None), "
                                 f"got {input_shape}")
            input_shape = tuple(None if d is None else int(d) for d in input_shape)
        self.input_shape_arg = input_shape   # per sample, without the batch axis (Keras' input_shape=)
        self.built = False
        self.input_spec_shape = None          # full input shape seen by build
        self.input_axes = {}
        self._trainable_vars = []             # Tensors made by add_weight, in creation order
        self._non_trainable_vars = []
        self.inbound_nodes = []               # one Node per call on symbolic tensors
        self.activity_regularizer = regularizers.get(activity_regularizer)
        self.weight_regularizers = {self.regularizer_args[arg]: regularizers.get(value)
                                    for arg, value in weight_regularizers.items() if value is not None}
        self._activity_losses = []            # penalties of the last call's output

    def _who(self):
        return f"{type(self).__name__} '{self.name}'"

    # --- tracking -------------------------------------------------------------------------------
    def sublayers(self):
        """Layers this one holds in its attributes, directly or inside lists, tuples and dicts, in
        assignment order (Keras 3 tracks them the same way); their weights count as this layer's."""
        found, seen = [], {id(self)}

        def visit(value):
            if isinstance(value, Layer):
                if id(value) not in seen:
                    seen.add(id(value))
                    found.append(value)
            elif isinstance(value, (list, tuple)):
                for item in value:
                    visit(item)
            elif isinstance(value, dict):
                for item in value.values():
                    visit(item)

        for key, value in vars(self).items():
            if key != "inbound_nodes":
                visit(value)
        return found

    @property
    def trainable(self):
        return self._trainable_flag

    @trainable.setter
    def trainable(self, value):
        """Freezing (or unfreezing) a layer does the same to every layer it tracks, as in Keras."""
        self._trainable_flag = bool(value)
        for layer in self.sublayers():
            layer.trainable = value

    # --- weights ------------------------------------------------------------------------------
    def add_weight(self, *, shape=None, initializer="glorot_uniform", dtype=None, trainable=True,
                   regularizer=None, name=None):
        """Create, track and return a weight Tensor (requires_grad when trainable); Keras 3's
        keyword arguments. `shape=None` makes a scalar. Its penalty is `regularizer`, else the one
        given for `name` through `regularizer_args`."""
        shape = () if shape is None else tuple(int(d) for d in shape)
        init = initializers.get(initializer)
        dtype = self.dtype if dtype is None else np.dtype(dtype)
        if name is None:
            name = f"variable_{len(self._trainable_vars) + len(self._non_trainable_vars)}"
        value = np.asarray(init(shape, dtype=dtype), dtype=dtype)
        if value.shape != shape:
            raise ValueError(f"{self._who()}: initializer {initializer!r} returned shape {value.shape} "
                             f"for weight '{name}' of shape {shape}")
        weight = Tensor(value, requires_grad=trainable)
        weight.name = f"{self.name}/{name}"
        weight.regularizer = regularizers.get(regularizer) or self.weight_regularizers.get(name)
        (self._trainable_vars if trainable else self._non_trainable_vars).append(weight)
        return weight

    def _gather(self, own, nested):
        """Own weights, then each tracked layer's (`nested(layer)`), each weight once (a layer shared
        by two call sites has one weight set)."""
        out, seen = [], set()
        for w in own + [w for layer in self.sublayers() for w in nested(layer)]:
            if id(w) not in seen:
                seen.add(id(w))
                out.append(w)
        return out

    @property
    def trainable_weights(self):
        if not self.trainable:
            return []
        return self._gather(self._trainable_vars, lambda l: l.trainable_weights)

    @property
    def non_trainable_weights(self):
        if not self.trainable:
            return self.weights
        return self._gather(self._non_trainable_vars, lambda l: l.non_trainable_weights)

    @property
    def weights(self):
        """Every weight, Keras' order: per layer, trainable ones then the others."""
        return self._gather(self._trainable_vars + self._non_trainable_vars, lambda l: l.weights)

    def count_params(self):
        return int(sum(w.data.size for w in self.weights))

    def get_weights(self):
        """Copies of the weights as NumPy arrays, in `weights` order."""
        return [w.data.copy() for w in self.weights]

    def set_weights(self, arrays):
        """Replace every weight's values (shapes must match; values are cast to each weight's dtype)."""
        weights = self.weights
        arrays = list(arrays)
        if not self.built and arrays:
            raise ValueError(f"{self._who()}: set_weights before the layer has an input shape; it "
                             f"creates its weights on the first call, or give input_shape= or call "
                             f"build(input_shape) first")
        if len(arrays) != len(weights):
            raise ValueError(f"{self._who()}: set_weights expected {len(weights)} arrays, got {len(arrays)}")
        checked = []
        for w, a in zip(weights, arrays):
            a = np.asarray(a.data if isinstance(a, Tensor) else a)
            if a.shape != w.data.shape:
                raise ValueError(f"{self._who()}: set_weights got shape {a.shape} for weight "
                                 f"'{getattr(w, 'name', '?')}' of shape {w.data.shape}")
            checked.append(a)
        for w, a in zip(weights, checked):   # all checked first: a bad list changes nothing
            w.data[...] = a

    @property
    def losses(self):
        """Scalar penalty Tensors: the regularizers of the trainable weights (this layer's and its
        sublayers'), then the activity penalties of the last call, as Keras' `layer.losses`."""
        penalties = [w.regularizer(w) for w in self.trainable_weights
                     if getattr(w, "regularizer", None) is not None]
        return penalties + self._all_activity_losses()

    def has_penalties(self):
        """Whether `losses` can hold anything: a regularized trainable weight or an activity
        regularizer anywhere inside (training skips the penalty sum when not)."""
        return (any(getattr(w, "regularizer", None) is not None for w in self.trainable_weights)
                or self._has_activity_regularizer())

    def _has_activity_regularizer(self):
        return self.activity_regularizer is not None or any(
            l._has_activity_regularizer() for l in self.sublayers())

    def _all_activity_losses(self):
        return self._activity_losses + [p for l in self.sublayers() for p in l._all_activity_losses()]

    def record_activity(self, outputs):
        """Keep the activity penalty of this call's output (Keras: no division by batch size);
        returns `outputs`. Models that call `layer.call` directly call this after it."""
        if self.activity_regularizer is not None:
            self._activity_losses = [self.activity_regularizer(outputs)]
        return outputs

    def zero_grad(self):
        for w in self.weights:
            w.grad = None

    # --- shapes and building ----------------------------------------------------------------------
    def check_input_shape(self, shape):
        """Raise a ValueError naming this layer unless `shape` (batch axis included) fits it. A list
        of shapes (several inputs) is for layers that take a list."""
        if is_shape_list(shape):
            if not (self.takes_list or self.user_class):
                raise ValueError(f"{self._who()}: expects one input, got a list of {len(shape)} inputs "
                                 f"of shapes {', '.join(format_shape(s) for s in shape)}")
            return
        rank = len(shape)
        layout = f" {self.input_layout}" if self.input_layout else ""
        if self.input_rank is not None and rank != self.input_rank:
            raise ValueError(f"{self._who()}: expected input of rank {self.input_rank}{layout}, got "
                             f"shape {format_shape(shape)}")
        if self.input_rank is None and rank < self.min_rank:
            raise ValueError(f"{self._who()}: expected input of rank >= {self.min_rank}{layout}, got "
                             f"shape {format_shape(shape)}")
        for axis, size in self.input_axes.items():
            if shape[axis] is not None and shape[axis] != size:
                raise ValueError(f"{self._who()}: expected input with {size} on axis {axis} "
                                 f"(built for input shape {format_shape(self.input_spec_shape)}), got shape "
                                 f"{format_shape(shape)}")

    def build(self, input_shape):
        """Create the weights for `input_shape` (batch axis included, usually None; a list of shapes
        for several inputs). Subclasses create their weights, then call `super().build(input_shape)`."""
        self.input_spec_shape = input_shape if is_shape_list(input_shape) else tuple(input_shape)
        self.built = True

    def ensure_built(self, input_shape):
        """Check `input_shape` and build on first use; returns the output shape."""
        input_shape = input_shape if is_shape_list(input_shape) else tuple(input_shape)
        self.check_input_shape(input_shape)
        if not self.built:
            self.build(input_shape)
        return self.compute_output_shape(input_shape)

    def compute_output_shape(self, input_shape):
        """nnx layers without an override keep the shape; a user's layer is traced (see below)."""
        if self.user_class:
            return self.traced_output_shape(input_shape)
        return tuple(input_shape)

    def traced_output_shape(self, input_shape):
        """The output shape found by calling the layer on one sample of zeros (unknown sizes taken
        as 1), as Keras 3 runs `call` symbolically for layers that do not define
        compute_output_shape. The batch axis comes back as None."""
        key = repr(input_shape)
        cache = self.__dict__.setdefault("_traced_shapes", {})   # one trace per input shape
        if key not in cache:
            def zeros(shape):
                return Tensor(np.zeros(tuple(1 if d is None else d for d in shape), self.dtype))

            inputs = [zeros(s) for s in input_shape] if is_shape_list(input_shape) else zeros(input_shape)
            with no_grad():
                out = self(inputs)
            cache[key] = [(None,) + t.shape[1:] for t in out] if isinstance(out, (list, tuple)) \
                else (None,) + out.shape[1:]
        return cache[key]

    def per_input_shape(self, shape, compute):
        """`compute(shape)`, computed once per input shape and kept: what a layer's call derives from
        its configuration and the input's shape alone (a convolution's padding and checks). A few
        shapes are kept; more (inputs of ever new sizes) start the collection afresh."""
        cache = self.__dict__.setdefault("_per_input_shape", {})
        value = cache.get(shape)
        if value is None:
            if len(cache) >= 16:
                cache.clear()
            value = cache[shape] = compute(shape)
        return value

    def compute_mask(self, inputs, mask=None):
        return mask if self.supports_masking else None

    # --- calling ----------------------------------------------------------------------------------
    def call(self, inputs, training=False):
        raise NotImplementedError(f"{type(self).__name__}.call")

    def _as_input(self, value):
        x = value if isinstance(value, Tensor) else Tensor(value)
        if x.dtype != self.dtype and x.dtype.kind == "f":
            x = x.astype(self.dtype)
        return x

    def __call__(self, inputs, training=False, **kwargs):
        """On Tensors or arrays (one, or a list for layers with several inputs): check, build on
        first use, compute. On symbolic tensors: record a graph node (module nnx.layers.symbolic)."""
        if is_symbolic(inputs):
            return self._call_symbolic(inputs, kwargs)
        if is_input_list(inputs):
            xs = [self._as_input(x) for x in inputs]
            self.check_input_shape([x.shape for x in xs])
            if not self.built:
                self.build([(None,) + x.shape[1:] for x in xs])
            return self.invoke(xs, training, kwargs)
        x = self._as_input(inputs)
        self.check_input_shape(x.shape)
        if not self.built:
            self.build((None,) + x.shape[1:])
        return self.invoke(x, training, kwargs)

    def invoke(self, inputs, training, kwargs):
        """`call`, with `training=` only if the subclass's call takes it. An error from an op inside
        names this layer as well as the op that refused."""
        try:
            if self.call_takes_training:
                return self.record_activity(self.call(inputs, training=training, **kwargs))
            return self.record_activity(self.call(inputs, **kwargs))
        except (ValueError, TypeError) as e:
            who = self._who()
            if type(e) not in (ValueError, TypeError) or len(e.args) != 1 or who in str(e):
                raise
            raise type(e)(f"{who}: {e}").with_traceback(e.__traceback__) from None

    def _call_symbolic(self, inputs, kwargs):
        """Shape checks and building happen now, so a layer that does not fit fails while the
        model is being written, with a message naming it and the shapes."""
        if isinstance(inputs, (list, tuple)):
            inputs = list(inputs)
            output_shape = self.ensure_built([t.shape for t in inputs])
        else:
            output_shape = self.ensure_built(inputs.shape)
        several = is_shape_list(output_shape)
        node = Node(self, inputs, output_shape if several else [output_shape], self.dtype, several,
                    kwargs)
        return node.output_structure()

    # --- the graph (functional models) ------------------------------------------------------------
    def _first_node(self, what):
        if not self.inbound_nodes:
            raise ValueError(f"{self._who()} has never been called on symbolic tensors and thus has "
                             f"no defined {what}")
        return self.inbound_nodes[0]

    @property
    def input(self):
        """The symbolic input(s) of the layer's first call on symbolic tensors (Keras 3)."""
        return self._first_node("input").inputs

    @property
    def output(self):
        """The symbolic output(s) of the layer's first call on symbolic tensors (Keras 3)."""
        return self._first_node("output").output_structure()

    # --- configuration ----------------------------------------------------------------------------
    def get_config(self):
        config = {"name": self.name, "trainable": self.trainable, "dtype": self.dtype.name}
        if self.input_shape_arg is not None:
            config["input_shape"] = list(self.input_shape_arg)
        penalties = {"activity_regularizer": self.activity_regularizer,
                     **{arg: self.weight_regularizers.get(weight)
                        for arg, weight in self.regularizer_args.items()}}
        for arg, regularizer in penalties.items():   # only those set: configs stay short
            if regularizer is not None:
                config[arg] = regularizers.serialize(regularizer)
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name!r} built={self.built}>"


class ActivationMixin:
    """For layers that end in an activation: `call` = activation(`call_linear`). A layer whose op
    can fuse relu (F.dense, F.conv2d: in place on the kernel's output, one graph node) sets
    `fuses_relu = True` and accepts `call_linear(..., fused_activation='relu')`."""
    fuses_relu = False

    def call(self, inputs, training=False):
        if self.fuses_relu and self.activation is activations.relu:
            return self.call_linear(inputs, training, fused_activation="relu")
        return self.activation(self.call_linear(inputs, training))

    def activation_name(self):
        """The activation's registered name for get_config; a custom callable cannot be saved."""
        name = activations.serialize(self.activation)
        try:
            known = activations.get(name) is self.activation
        except ValueError:
            known = False
        if not known:
            raise ValueError(f"{self._who()}: the custom activation {self.activation!r} has no "
                             f"registered name, so the layer's config cannot be saved")
        return name

    def call_linear(self, inputs, training=False):
        raise NotImplementedError


class KernelBiasMixin(ActivationMixin):
    """Dense and the convolutions: a kernel, an optional bias and an activation, under Keras' names."""
    regularizer_args = {"kernel_regularizer": "kernel", "bias_regularizer": "bias"}

    def _init_kernel_bias(self, activation, use_bias, kernel_initializer, bias_initializer):
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = kernel_initializer
        self.bias_initializer = bias_initializer
        self.kernel = self.bias = None

    def _kernel_bias_config(self):
        return {"activation": self.activation_name(), "use_bias": self.use_bias,
                "kernel_initializer": self.kernel_initializer, "bias_initializer": self.bias_initializer}
