"""`Sequential`: a linear stack of layers (Keras' Sequential).

The model builds as soon as it knows the input shape (the first layer's `input_shape=`, an `Input`, or
the first data it sees): every layer is built in turn from the previous layer's output shape, so a
layer that does not fit fails at `add` time with a message naming it and the shapes.
"""
from nnx.layers.base import Layer, format_shape
from nnx.layers.core import InputLayer
from nnx.layers.symbolic import SymbolicTensor
from nnx.models.serialization import deserialize_layer, serialize_layer
from nnx.models.training import BaseModel

_NO_KWARGS = {}


class Sequential(BaseModel):
    """`Sequential(layers=None, name=None)`; `.add(layer)`; `model(x, training=False)`."""

    def __init__(self, layers=None, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        self.layers = []
        self.model_input_shape = None     # per sample, without the batch axis
        self._masks = False               # does some layer produce a mask (sequence models)?
        for layer in layers or []:
            self.add(layer)

    # --- structure ----------------------------------------------------------------------------------
    def add(self, layer):
        if isinstance(layer, SymbolicTensor) and isinstance(layer.layer, InputLayer):
            layer = layer.layer          # Sequential([Input((4,)), ...]) as in Keras
        if isinstance(layer, InputLayer):
            if self.layers or self.model_input_shape is not None:
                raise ValueError(f"{self._who()}: an Input can only come first")
            self.model_input_shape = layer.shape
            self.dtype = layer.dtype
            return
        if not isinstance(layer, Layer):
            raise TypeError(f"{self._who()}.add: expected a Layer, got {type(layer).__name__}")
        if any(layer is l for l in self.layers):
            raise ValueError(f"{self._who()}.add: layer '{layer.name}' is already in the model")
        if not self.layers and self.model_input_shape is None:
            if layer.input_shape_arg is not None:
                self.model_input_shape = layer.input_shape_arg
            self.dtype = layer.dtype
        self.layers.append(layer)
        if self.model_input_shape is not None:
            try:
                self.build_for((None,) + self.model_input_shape)
            except Exception:
                self.layers.pop()           # a layer that does not fit leaves the model as it was
                raise
        self._masks = any(type(l).compute_mask is not Layer.compute_mask for l in self.layers)
        self._objectives = None

    def pop(self):
        layer = self.layers.pop()
        self._objectives = None
        return layer

    def sublayers(self):
        return self.layers

    def output_layer(self):
        if not self.layers:
            raise ValueError(f"{self._who()}: the model has no layers")
        return self.layers[-1]

    # --- the BaseModel contract: one input, one output ---------------------------------------------
    @property
    def input_names(self):
        return [self.layers[0].name] if self.layers else None

    @property
    def output_names(self):
        return [self.output_layer().name]

    def output_layers(self):
        return [self.output_layer()]

    def build_for_inputs(self, shapes):
        if len(shapes) != 1:
            raise ValueError(f"{self._who()}: a Sequential model takes one input, got {len(shapes)}")
        self.check_input_shape(shapes[0])
        self.build_for((None,) + tuple(shapes[0][1:]))

    def output_shapes_for(self, shapes):
        return [self.compute_output_shape((None,) + tuple(shapes[0][1:]))]

    def forward_batch(self, xs, training=False, logits=None):
        return [self.forward(xs[0], training, bool(logits and logits[0]))]

    # --- shapes -------------------------------------------------------------------------------------
    def build_for(self, input_shape):
        """Check `input_shape` against the model and build every layer still unbuilt."""
        input_shape = tuple(input_shape)
        if not self.layers:
            raise ValueError(f"{self._who()}: the model has no layers")
        if self.model_input_shape is not None and self.built:
            expected = (None,) + self.model_input_shape
            if len(input_shape) != len(expected) or any(
                    e is not None and d is not None and e != d for e, d in zip(expected, input_shape)):
                raise ValueError(f"{self._who()}: expected input of shape {format_shape(expected)}, "
                                 f"got {format_shape(input_shape)}")
        shape = input_shape
        for layer in self.layers:
            shape = layer.ensure_built(shape)
        if self.model_input_shape is None:
            self.model_input_shape = input_shape[1:]
        self.built = True
        return shape

    def build(self, input_shape):
        self.build_for(input_shape)

    def ensure_built(self, input_shape):
        return self.build_for(input_shape)

    def check_input_shape(self, shape):
        if not self.layers:
            raise ValueError(f"{self._who()}: the model has no layers")
        self.layers[0].check_input_shape(shape)

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape)
        for layer in self.layers:
            shape = layer.compute_output_shape(shape)
        return shape

    def layer_shapes(self):
        """[(layer, input shape, output shape)] for the built model, batch axis None."""
        if not self.built or self.model_input_shape is None:
            raise ValueError(f"{self._who()}: the model has not been built yet; give the first layer "
                             f"input_shape=, start with an Input, or call the model on data first")
        shape, rows = (None,) + tuple(self.model_input_shape), []
        for layer in self.layers:
            out = layer.compute_output_shape(shape)
            rows.append((layer, shape, out))
            shape = out
        return rows

    # --- forward ------------------------------------------------------------------------------------
    def forward(self, x, training=False, logits=False):
        """Run the stack on Tensor x (already checked and cast); `logits=True` skips the last
        layer's activation."""
        layers = self.layers
        last = layers[-1]
        if not self._masks:
            for layer in layers:
                if logits and layer is last:
                    return layer.call_linear(x, training)
                x = layer.invoke(x, training, _NO_KWARGS)
            return x
        mask = None
        for layer in layers:
            inputs = x
            if logits and layer is last:
                return layer.call_linear(x, training)
            x = layer.invoke(x, training, {"mask": mask} if mask is not None and layer.accepts_mask
                             else _NO_KWARGS)
            mask = layer.compute_mask(inputs, mask)
        return x

    def call(self, inputs, training=False):
        return self.forward(inputs, training)

    # --- configuration ------------------------------------------------------------------------------
    def get_config(self):
        return {"name": self.name, "dtype": self.dtype.name,
                "input_shape": None if self.model_input_shape is None else list(self.model_input_shape),
                "layers": [serialize_layer(l) for l in self.layers]}

    @classmethod
    def from_config(cls, config, layer_from_config=deserialize_layer):
        """Rebuild from `get_config()`; `layer_from_config(entry)` makes each layer (loading passes
        one that knows its custom_objects)."""
        config = dict(config)
        entries = config.pop("layers", [])
        input_shape = config.pop("input_shape", None)
        model = cls(**config)
        if input_shape is not None:
            model.add(InputLayer(tuple(input_shape), dtype=model.dtype))
        for entry in entries:
            model.add(layer_from_config(entry))
        return model
