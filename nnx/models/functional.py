"""Functional models: `Model(inputs, outputs)` over the graph that calling layers on symbolic tensors
recorded (Keras 3's Functional, keras/src/models/functional.py and keras/src/ops/function.py).

`map_graph` walks back from the outputs through the nodes once (depth-first, stopping at the given
inputs), which gives a topological order of the nodes to run, and Keras' layer order: layers by
decreasing depth (the number of nodes between a layer and the outputs, so the input layers come
first), ties broken by the order the walk met them. That order fixes `model.layers` and therefore
`get_weights()`. Running the model is a loop over the precomputed plan: look up each node's input
values, call the layer, store its outputs.
"""
from nnx.layers.base import Layer, format_shape, is_shape_list
from nnx.layers.core import InputLayer
from nnx.layers.symbolic import SymbolicTensor, flatten
from nnx.models.model import Model
from nnx.models.serialization import Refused, deserialize_layer, expect, serialize_layer


def map_graph(inputs, outputs):
    """(nodes to run in order, layers in Keras' order) for the graph from `inputs` to `outputs`."""
    input_ids = {id(t) for t in inputs}
    finished, in_progress, order, first_seen = set(), set(), [], {}

    def visit(tensor):
        node = tensor.node
        if id(node) in finished:
            return
        if id(node) in in_progress:
            raise ValueError(f"tensor {tensor!r} is part of a cycle")
        first_seen.setdefault(id(node.layer), len(first_seen))
        in_progress.add(id(node))
        if not node.is_input and id(tensor) not in input_ids:
            for parent in node.input_tensors:
                visit(parent)
        in_progress.discard(id(node))
        finished.add(id(node))
        order.append(node)

    for tensor in outputs:
        visit(tensor)

    # depth: 0 at the outputs, a parent deeper than every child; a shared layer takes its deepest node
    node_depth, layer_depth, layers = {}, {}, {}
    for node in reversed(order):
        depth = max(node_depth.setdefault(id(node), 0), layer_depth.get(id(node.layer), 0))
        layer_depth[id(node.layer)] = depth
        layers[id(node.layer)] = node.layer
        node_depth[id(node)] = depth
        if not any(id(t) in input_ids for t in node.outputs):
            for parent in node.parent_nodes:
                node_depth[id(parent)] = max(node_depth.get(id(parent), 0), depth + 1)
    for tensor in inputs:   # inputs that no output needs still belong to the model
        if id(tensor.node.layer) not in layers:
            layers[id(tensor.node.layer)] = tensor.node.layer
            layer_depth[id(tensor.node.layer)] = 0
            first_seen.setdefault(id(tensor.node.layer), len(first_seen))
    ordered = sorted(layers.values(), key=lambda l: (-layer_depth[id(l)], first_seen[id(l)]))

    names = [l.name for l in ordered]
    for name in names:
        if names.count(name) > 1:
            raise ValueError(f"the name '{name}' is used {names.count(name)} times in the model; "
                             f"every layer name must be unique")

    run, available = [], set(input_ids)
    for node in order:
        if node.is_input or any(id(t) in input_ids for t in node.outputs):
            continue
        for t in node.input_tensors:
            if id(t) not in available:
                raise ValueError(f"Graph disconnected: the value of {t!r}, an input of layer "
                                 f"'{node.layer.name}', cannot be computed from the model's inputs "
                                 f"{[format_shape(i.shape) for i in inputs]}")
        available.update(id(t) for t in node.outputs)
        run.append(node)
    return run, ordered


class Functional(Model):
    """`Model(inputs, outputs, name=None)`: inputs and outputs are symbolic tensors (or lists)."""

    def __init__(self, inputs, outputs, name=None, trainable=True, **kwargs):
        for what, value in (("inputs", inputs), ("outputs", outputs)):
            flat = flatten(value)
            if not flat or not all(isinstance(t, SymbolicTensor) for t in flat):
                raise TypeError(f"Model: {what} must be symbolic tensors (from nnx.layers.Input and "
                                f"layers called on them), or a list of them; got {value!r}")
        self.inputs, self.outputs = flatten(inputs), flatten(outputs)
        super().__init__(name=name, trainable=trainable,
                         dtype=kwargs.pop("dtype", self.inputs[0].layer.dtype), **kwargs)
        self._list_input = isinstance(inputs, (list, tuple))
        self.multiple_outputs = isinstance(outputs, (list, tuple))
        self.takes_list = len(self.inputs) > 1
        try:
            self._run, self._layers = map_graph(self.inputs, self.outputs)
        except ValueError as e:
            raise ValueError(f"{self._who()}: {e}") from None
        self._masks = any(type(n.layer).compute_mask is not Layer.compute_mask for n in self._run)
        self._output_nodes = [t.node for t in self.outputs]
        consumers = {id(t) for n in self._run for t in n.input_tensors}
        # an output can be computed from its layer's logits when nothing else reads that tensor
        self._fusable = [hasattr(t.layer, "call_linear") and id(t) not in consumers and
                         not t.node.list_output for t in self.outputs]
        self.built = True

    # --- structure ----------------------------------------------------------------------------------
    @property
    def layers(self):
        return list(self._layers)

    def sublayers(self):
        return self._layers

    @property
    def input(self):
        return self.inputs if self._list_input else self.inputs[0]

    @property
    def output(self):
        return self.outputs if self.multiple_outputs else self.outputs[0]

    @property
    def input_names(self):
        return [t.layer.name for t in self.inputs]

    @property
    def output_names(self):
        return [t.layer.name for t in self.outputs]

    def layer_shapes(self):
        """[(layer, input shape(s), output shape(s))] at the layer's first call in this model."""
        first = {}
        for node in self._run:
            first.setdefault(id(node.layer), node)
        rows = []
        for layer in self._layers:
            node = first.get(id(layer))
            if node is None:   # an input layer
                rows.append((layer, None, layer.inbound_nodes[0].outputs[0].shape))
                continue
            ins = [t.shape for t in node.input_tensors]
            outs = [t.shape for t in node.outputs]
            rows.append((layer, ins if isinstance(node.inputs, list) else ins[0],
                         outs if node.list_output else outs[0]))
        return rows

    def connections(self, layer):
        """Keras' "Connected to" entries of `layer`: 'name[node][tensor]' per input tensor."""
        return [f"{t.layer.name}[{t.layer.inbound_nodes.index(t.node)}][{t.index}]"
                for node in self._run if node.layer is layer for t in node.input_tensors]

    def output_layers(self):
        return [t.layer if fuse else None for t, fuse in zip(self.outputs, self._fusable)]

    # --- shapes -------------------------------------------------------------------------------------
    def check_input_shape(self, shape):
        shapes = shape if is_shape_list(shape) else [shape]
        if len(shapes) != len(self.inputs):
            raise ValueError(f"{self._who()}: expects {len(self.inputs)} input(s) "
                             f"({self.input_names}), got {len(shapes)}")
        for tensor, got in zip(self.inputs, shapes):
            want = tensor.shape
            if len(got) != len(want) or any(w is not None and g is not None and w != g
                                            for w, g in zip(want[1:], got[1:])):
                raise ValueError(f"{self._who()}: input '{tensor.layer.name}' expects shape "
                                 f"{format_shape(want)}, got {format_shape(tuple(got))}")

    def build_for_inputs(self, shapes):
        self.check_input_shape(list(shapes))

    def output_shapes_for(self, shapes):
        return [t.shape for t in self.outputs]

    def build(self, input_shape):
        self.check_input_shape(input_shape)

    def compute_output_shape(self, input_shape):
        shapes = [t.shape for t in self.outputs]
        return shapes if self.multiple_outputs else shapes[0]

    # --- running ------------------------------------------------------------------------------------
    def forward_batch(self, xs, training=False, logits=None):
        """Run the plan on a list of Tensors (one per input); `logits[i]` runs output i's layer
        without its activation."""
        values = {id(t): x for t, x in zip(self.inputs, xs)}
        linear = () if not logits or not any(logits) else \
            {id(t.node) for t, want in zip(self.outputs, logits) if want}
        masks = {} if self._masks else None
        for node in self._run:
            layer = node.layer
            args = [values[id(t)] for t in node.input_tensors] if isinstance(node.inputs, list) \
                else values[id(node.inputs)]
            if linear and id(node) in linear:
                out = layer.call_linear(args, training)
            elif masks is not None and not isinstance(node.inputs, list):
                mask = masks.get(id(node.inputs))
                kwargs = dict(node.kwargs, mask=mask) if mask is not None and layer.accepts_mask \
                    else node.kwargs
                out = layer.invoke(args, training, kwargs)
                masks[id(node.outputs[0])] = layer.compute_mask(args, mask)
            else:
                out = layer.invoke(args, training, node.kwargs)
            if node.list_output:
                for t, value in zip(node.outputs, out):
                    values[id(t)] = value
            else:
                values[id(node.outputs[0])] = out
        return [values[id(t)] for t in self.outputs]

    def call(self, inputs, training=False):
        outs = self.forward_batch(list(inputs) if self._list_input else [inputs], training=training)
        return outs if self.multiple_outputs else outs[0]

    # --- configuration (Keras 3's functional config: layers with their inbound nodes) ---------------
    def get_config(self):
        own = {id(n) for n in self._run} | {id(t.node) for t in self.inputs}
        for t in self.inputs:
            if not isinstance(t.layer, InputLayer):
                raise ValueError(f"save: {self._who()} has an input made by layer '{t.layer.name}'; "
                                 f"only models whose inputs come from Input can be saved")

        def history(t):   # node indices count only this model's nodes of each layer
            nodes = [n for n in t.layer.inbound_nodes if id(n) in own]
            return [t.layer.name, nodes.index(t.node), t.index]

        def tensor(t):
            return {"class_name": "__keras_tensor__", "config": {
                "shape": list(t.shape), "dtype": t.dtype.name, "keras_history": history(t)}}

        layers = []
        for layer in self._layers:
            entry = serialize_layer(layer)
            entry["name"] = layer.name
            entry["inbound_nodes"] = [
                {"args": [[tensor(t) for t in n.inputs] if isinstance(n.inputs, list) else tensor(n.inputs)],
                 "kwargs": n.kwargs}
                for n in layer.inbound_nodes if id(n) in own and not n.is_input]
            layers.append(entry)
        inputs, outputs = [history(t) for t in self.inputs], [history(t) for t in self.outputs]
        return {"name": self.name, "trainable": self.trainable, "layers": layers,
                "input_layers": inputs if self._list_input else inputs[0],
                "output_layers": outputs if self.multiple_outputs else outputs[0]}

    @classmethod
    def from_config(cls, config, layer_from_config=deserialize_layer):
        """Rebuild the graph: make every layer, then call each on its saved inputs as soon as they
        exist (a shared layer's calls in their saved order)."""
        expect(isinstance(config.get("layers"), list), "a functional config needs a 'layers' list")
        made, pending = {}, []
        for entry in config["layers"]:
            layer = layer_from_config(entry)
            name = entry.get("name", layer.name)
            expect(isinstance(name, str) and name not in made, f"bad or repeated layer name {name!r}")
            nodes = entry.get("inbound_nodes", [])
            expect(isinstance(nodes, list), f"the inbound_nodes of '{name}' must be a list")
            made[name] = [layer.inbound_nodes[0]] if isinstance(layer, InputLayer) else []
            pending.append((name, layer, list(nodes)))

        def resolve(ref):
            """The symbolic tensor a saved reference names, or None if its node is not made yet."""
            if isinstance(ref, list) and len(ref) == 3 and isinstance(ref[0], str):
                name, node_index, tensor_index = ref
                expect(name in made and isinstance(node_index, int) and isinstance(tensor_index, int),
                       f"bad tensor reference {str(ref)[:100]}")
                nodes = made[name]
                if node_index >= len(nodes):
                    return None
                expect(0 <= tensor_index < len(nodes[node_index].outputs) and node_index >= 0,
                       f"bad tensor reference {str(ref)[:100]}")
                return nodes[node_index].outputs[tensor_index]
            if isinstance(ref, dict):
                expect(ref.get("class_name") == "__keras_tensor__" and isinstance(ref.get("config"), dict),
                       f"bad tensor entry {str(ref)[:100]}")
                return resolve(ref["config"].get("keras_history"))
            expect(isinstance(ref, list), f"bad tensor entry {str(ref)[:100]}")
            items = [resolve(r) for r in ref]
            return None if any(i is None for i in items) else items

        while any(nodes for _, _, nodes in pending):
            progressed = False
            for name, layer, nodes in pending:
                while nodes:
                    node = nodes[0]
                    expect(isinstance(node, dict) and isinstance(node.get("args"), list) and
                           len(node["args"]) == 1 and isinstance(node.get("kwargs", {}), dict),
                           f"bad inbound node of '{name}': {str(node)[:200]}")
                    inputs = resolve(node["args"][0])
                    if inputs is None:
                        break
                    try:
                        layer(inputs, **node.get("kwargs", {}))
                    except (TypeError, ValueError) as e:
                        raise Refused(f"cannot call layer '{name}' on its saved inputs: {e}") from e
                    made[name].append(layer.inbound_nodes[-1])
                    nodes.pop(0)
                    progressed = True
            expect(progressed, "the saved graph cannot be rebuilt (a node waits for inputs that "
                               "no layer makes)")
        inputs, outputs = resolve(config.get("input_layers")), resolve(config.get("output_layers"))
        expect(inputs is not None and outputs is not None, "bad input_layers / output_layers")
        return cls(inputs, outputs, name=config.get("name"), trainable=config.get("trainable", True))
