"""Layers that wrap a computation given by the user: TimeDistributed (a layer applied to every time
step) and Lambda (any function of Tensors)."""
import numpy as np

from nnx.autograd import no_grad
from nnx.layers.base import Layer, format_shape
from nnx.tensor import Tensor


class TimeDistributed(Layer):
    """Applies `layer` to every step of (N, steps, ...) inputs with ONE set of weights: the steps are
    folded into the batch, (N * steps, ...), so the wrapped layer runs once on all of them."""
    min_rank = 3
    input_layout = "(N, steps, ...)"

    def __init__(self, layer, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(layer, Layer):
            raise TypeError(f"{self._who()}: expected a Layer to wrap, got {type(layer).__name__}")
        self.layer = layer

    def sublayers(self):
        return [self.layer]

    def build(self, input_shape):
        self.layer.ensure_built((None,) + tuple(input_shape[2:]))
        super().build(input_shape)

    def check_input_shape(self, shape):
        super().check_input_shape(shape)
        if self.layer.built:
            self.layer.check_input_shape((None,) + tuple(shape[2:]))

    def compute_output_shape(self, input_shape):
        inner = self.layer.compute_output_shape((None,) + tuple(input_shape[2:]))
        return tuple(input_shape[:2]) + tuple(inner[1:])

    def call(self, inputs, training=False):
        n, steps = inputs.shape[:2]
        y = self.layer(inputs.reshape(n * steps, *inputs.shape[2:]), training=training)
        return y.reshape(n, steps, *y.shape[1:])

    def get_config(self):
        return {**super().get_config(),
                "layer": {"class_name": type(self.layer).__name__, "config": self.layer.get_config()}}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        entry = config.pop("layer")
        layer_cls = Layer.registry.get(entry.get("class_name")) if isinstance(entry, dict) else None
        if layer_cls is None:
            raise ValueError(f"TimeDistributed.from_config: unknown wrapped layer {entry!r}")
        return cls(layer_cls.from_config(entry["config"]), **config)


class Lambda(Layer):
    """Wraps `function(inputs, **arguments)`, any composition of differentiable nnx ops, as a layer.

    `output_shape` (per sample, or a callable of the full input shape) is inferred when omitted, by
    running the function on zeros (twice, to tell which output sizes follow the unknown input ones).
    A Lambda holds code, which nnx never serialises (no pickle, no marshal): saving a model that
    contains one raises a ValueError; write a Layer subclass with `call` instead when the model must
    be saved."""
    supports_masking = True

    def __init__(self, function, output_shape=None, arguments=None, **kwargs):
        super().__init__(**kwargs)
        if not callable(function):
            raise TypeError(f"{self._who()}: function must be callable, got {type(function).__name__}")
        if output_shape is not None and not callable(output_shape):
            output_shape = tuple(output_shape)
        if arguments is not None and not isinstance(arguments, dict):
            raise TypeError(f"{self._who()}: arguments must be a dict of keyword arguments, got "
                            f"{type(arguments).__name__}")
        self.function, self.output_shape, self.arguments = function, output_shape, dict(arguments or {})

    def call(self, inputs, training=False):
        out = self.function(inputs, **self.arguments)
        return out if isinstance(out, Tensor) else Tensor(out)

    def compute_output_shape(self, input_shape):
        if callable(self.output_shape):
            return tuple(self.output_shape(tuple(input_shape)))
        if self.output_shape is not None:
            return (input_shape[0],) + self.output_shape
        # two probes, unknown sizes 2 then 3: an output size that changes with them is unknown (None)
        shapes = []
        for fill in (2, 3):
            probe = np.zeros(tuple(fill if d is None else d for d in input_shape), self.dtype)
            try:
                with no_grad():
                    shapes.append(self.call(Tensor(probe)).shape)
            except Exception as e:
                raise ValueError(f"{self._who()}: could not infer the output shape by calling the "
                                 f"function on zeros of shape {probe.shape} ({type(e).__name__}: {e}); "
                                 f"pass output_shape=") from e
        if len(shapes[0]) != len(shapes[1]):
            raise ValueError(f"{self._who()}: the output rank depends on the input's unknown sizes "
                             f"{format_shape(input_shape)}; pass output_shape=")
        sizes = zip(shapes[0][1:], shapes[1][1:])
        return (input_shape[0],) + tuple(a if a == b else None for a, b in sizes)

    def get_config(self):
        raise ValueError(f"{self._who()}: a Lambda layer holds Python code ({self.function!r}), which "
                         f"nnx does not serialise (no pickle or marshal); write a Layer subclass with "
                         f"call() and get_config(), or save the weights only")
