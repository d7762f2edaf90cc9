"""`Model`: Keras' Model class. `Model(inputs, outputs)` makes a functional model (a graph of layers,
nnx.models.functional); a subclass with `call` is a subclassed model:

    class MLP(nnx.models.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.hidden = [Dense(64, activation="relu"), Dense(64, activation="relu")]
            self.out = Dense(10, activation="softmax")

        def call(self, inputs, training=False):
            for layer in self.hidden:
                inputs = layer(inputs)
            return self.out(inputs)

Layers, weights and models held in attributes (also in lists, tuples and dicts) are tracked (see
`Layer.sublayers`): their weights are the model's, trained by `fit`, counted by `summary()` and
saved. The model builds on its first call (or first `fit`/`evaluate`/`predict`), running `build` if
the subclass defines one, then `call` on the data, which builds the layers inside. Output shapes, when
needed to check targets, come from running `call` on one sample of zeros.
"""
import numpy as np

from nnx.autograd import no_grad
from nnx.layers.base import is_shape_list
from nnx.models.training import BaseModel
from nnx.tensor import Tensor


class Model(BaseModel):
    """A subclassed model (see the module docstring), or with `Model(inputs, outputs, name=None)` a
    functional one."""

    def __new__(cls, *args, **kwargs):
        if cls is Model and (args or "inputs" in kwargs or "outputs" in kwargs):
            from nnx.models.functional import Functional
            return super().__new__(Functional)
        return super().__new__(cls)

    def __init__(self, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        self._list_input = None      # does call take a list? (decided by the first data)
        self._input_shape_arg = None
        self._traced_outputs = None

    # --- structure ----------------------------------------------------------------------------------
    @property
    def layers(self):
        """The layers the model tracks, in assignment order."""
        return self.sublayers()

    def layer_shapes(self):
        """[(layer, input shape, output shape)] of the tracked layers; None where not built yet."""
        rows = []
        for layer in self.layers:
            shape = layer.input_spec_shape if layer.built else None
            rows.append((layer, shape, None if shape is None else layer.compute_output_shape(shape)))
        return rows

    @property
    def output_names(self):
        n = len(self._output_shapes()) if self.built else 1
        return [self.name] if n == 1 else [f"output_{i}" for i in range(n)]

    # --- the BaseModel contract ---------------------------------------------------------------------
    def _shape_arg(self, shapes):
        full = [(None,) + tuple(s[1:]) for s in shapes]
        return full if self._list_input else full[0]

    def build(self, input_shape):
        """`model.build((None, 784))` (Keras 3): runs `call` once, on one sample of zeros, which
        builds the layers inside. A subclass may define its own `build` instead."""
        several = is_shape_list(input_shape)
        shapes = [tuple(s) for s in input_shape] if several else [tuple(input_shape)]
        if self._list_input is None:
            self._list_input = several
        if self._input_shape_arg is None:
            self._input_shape_arg = shapes if several else shapes[0]
        self.built = True
        zeros = [Tensor(np.zeros((1,) + tuple(1 if d is None else int(d) for d in s[1:]), self.dtype))
                 for s in shapes]
        with no_grad():
            self.forward_batch(zeros)

    def build_for_inputs(self, shapes):
        several = len(shapes) > 1
        if self._list_input is None:
            self._list_input = several
        elif self._list_input != several:
            raise ValueError(f"{self._who()}: built for {'a list of' if self._list_input else 'one'} "
                             f"input(s), got {len(shapes)}")
        if self._input_shape_arg is None:
            self._input_shape_arg = self._shape_arg(shapes)
        if not self.built:
            self.build(self._input_shape_arg)
            self.built = True   # a subclass's build need not call super().build

    def _output_shapes(self):
        """Output shapes (batch None) for the input shapes the model was built for, traced once."""
        if self._traced_outputs is None:
            with no_grad():
                out = self.traced_output_shape(self._input_shape_arg)
            self._traced_outputs = out if isinstance(out, list) else [out]
            self.multiple_outputs = isinstance(out, list)
        return self._traced_outputs

    def output_shapes_for(self, shapes):
        return self._output_shapes()

    def forward_batch(self, xs, training=False, logits=None):
        inputs = list(xs) if self._list_input else xs[0]
        out = self.call(inputs, training=training) if self.call_takes_training else self.call(inputs)
        return list(out) if isinstance(out, (list, tuple)) else [out]

    def get_config(self):
        """Keras 3: a subclassed model's config holds its constructor arguments; the base gives the
        name and trainable flag, and a subclass adds its own (then `from_config(config)` calls
        `cls(**config)`)."""
        return {"name": self.name, "trainable": self.trainable}

    def get_build_config(self):
        """The input shape the model was built for (None before its first call), saved so that
        loading can build it before setting the weights."""
        shape = self._input_shape_arg
        if shape is None:
            return None
        return {"input_shape": [list(s) for s in shape] if is_shape_list(shape) else list(shape)}

    def build_from_config(self, config):
        """Build by calling the model on one sample of zeros of the saved input shape(s) (which
        also builds the layers a subclass's own `build` leaves to the first call)."""
        shape = config["input_shape"]
        shapes = shape if is_shape_list(shape) else [shape]
        zeros = [np.zeros((1,) + tuple(1 if d is None else int(d) for d in s[1:]), self.dtype)
                 for s in shapes]
        with no_grad():
            self(zeros if is_shape_list(shape) else zeros[0])
