"""Symbolic tensors and nodes: the graph that functional models are made of (Keras' KerasTensor/Node).

Calling a layer on symbolic tensors computes nothing: the layer checks the inputs' shapes, builds
for them, and records a `Node` (the layer, the input tensors as passed, the output tensors) in
`layer.inbound_nodes`. Each output is a `SymbolicTensor` of the shape `compute_output_shape` gives
(batch axis None) that knows the node that made it and its position among the node's outputs; that
back-link is all `Model(inputs, outputs)` needs to find the graph.
"""
import numpy as np


def format_shape(shape):
    """(None, 28, 28, 1) as Keras prints it (None for an unknown size; (5,) for one axis)."""
    body = ", ".join("None" if d is None else str(d) for d in shape)
    return f"({body},)" if len(shape) == 1 else f"({body})"


class SymbolicTensor:
    """A placeholder for a batch of data of known per-sample shape, made by `Input` or by a layer
    called on other symbolic tensors. It holds no values."""

    def __init__(self, shape, dtype, node, index=0):
        self.shape = tuple(None if d is None else int(d) for d in shape)
        self.dtype = np.dtype(dtype)
        self.node = node          # the Node that produced this tensor
        self.index = index        # position among that node's outputs

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def layer(self):
        """The layer whose call produced this tensor."""
        return self.node.layer

    def history(self):
        """(layer name, node index within the layer, output index): Keras' `_keras_history`."""
        return [self.node.layer.name, self.node.layer.inbound_nodes.index(self.node), self.index]

    def __repr__(self):
        return (f"<SymbolicTensor shape={format_shape(self.shape)}, dtype={self.dtype.name}, "
                f"from layer '{self.node.layer.name}'>")

    def __array__(self, dtype=None, copy=None):
        raise TypeError(f"{self!r} is symbolic (it holds no values): call layers on it and build a "
                        f"nnx.models.Model(inputs, outputs), then call the model on data")

    def __bool__(self):
        raise TypeError(f"{self!r} is symbolic and has no truth value")


def flatten(inputs):
    """A call's inputs as a flat list (one tensor, or the entries of a list/tuple)."""
    return list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]


def is_symbolic(inputs):
    """True when `inputs` is a SymbolicTensor or a non-empty list/tuple made only of them; a list
    mixing symbolic and concrete values is an error."""
    flat = flatten(inputs)
    symbolic = [isinstance(t, SymbolicTensor) for t in flat]
    if any(symbolic) and not all(symbolic):
        raise TypeError("a layer was called on a list mixing symbolic tensors (from Input) and "
                        "concrete data; use symbolic tensors only when building a model")
    return bool(flat) and all(symbolic)


class Node:
    """One call of `layer` on symbolic `inputs` (a tensor, or a list of them), making `outputs`."""

    def __init__(self, layer, inputs, output_shapes, dtype, list_output, kwargs=None):
        self.layer = layer
        self.kwargs = dict(kwargs or {})   # extra keyword arguments of the call, passed on each run
        self.inputs = inputs
        self.input_tensors = [] if inputs is None else flatten(inputs)
        self.outputs = [SymbolicTensor(s, dtype, self, i) for i, s in enumerate(output_shapes)]
        self.list_output = list_output
        layer.inbound_nodes.append(self)

    @property
    def is_input(self):
        return self.inputs is None

    @property
    def parent_nodes(self):
        return [t.node for t in self.input_tensors]

    def output_structure(self):
        """What the layer's call returned: one tensor or a list."""
        return list(self.outputs) if self.list_output else self.outputs[0]
