"""`BaseModel`: compile / fit / evaluate / predict / save / summary for every kind of model.

A concrete model (Sequential, a functional Model, a subclassed Model) supplies:
- `input_names` / `output_names` (lists; `input_names` is None when the data decide, as for a
  subclassed model whose `call` takes whatever it is given);
- `build_for_inputs(shapes)`: check the data's input shapes (batch included) and build;
- `output_shapes_for(shapes)`: the output shapes (batch axis None) for those inputs, one per output;
- `forward_batch(xs, training, logits)`: run on a list of Tensors, returning a list of Tensors, one
  per output; `logits[i]` asks output i without its final softmax/sigmoid (see below);
- `output_layers()`: the layer making each output (None where unknown), for the logits path.

Everything else lives here. Data: `x` and `y` may be arrays, lists of arrays (several inputs or
outputs) or dicts by input/output name; they become lists of arrays once, in `_data`, and
`nnx.models.data.ArrayData` cuts them into batches. Losses, their weights and the metrics are resolved
per output (`_Objective`), as Keras' CompileLoss / CompileMetrics do: one loss for all outputs, a list
or a dict by output name; the total is the weighted sum; logs are named as Keras names them
(`loss`, then `<output>_loss` per output when there are several, then the metrics, `<output>_<metric>`
when there are several outputs).

The training step is the hot path (1,875 steps per MNIST epoch): per step only gather the batch, clear
the gradients, forward, loss, backward, one optimizer update, and a few float additions for the logs.

Softmax (or sigmoid) followed by cross-entropy on probabilities is computed from the logits: when an
output's layer ends in softmax and its loss is (sparse) categorical cross-entropy with
from_logits=False, training and evaluation run that layer without its activation and use the fused
stable `F.*_cross_entropy` op; `predict` and the metrics still see probabilities.
"""
import numpy as np

from nnx import functional as F
from nnx.autograd import no_grad
from nnx.callbacks import CallbackList, History
from nnx.layers.base import Layer, _snake_case, format_shape, is_input_list
from nnx.layers.symbolic import is_symbolic
from nnx.layers.embedding import as_padded_array
from nnx.models.data import ArrayData
from nnx.tensor import Tensor
from nnx.utils.finite import require_finite
from nnx.utils.interrupts import defer_interrupts
from nnx.utils import world
from nnx.utils.progbar import Progbar

# (output activation, loss) -> the same loss computed from the logits, per sample
_FROM_LOGITS = {
    ("softmax", "sparse_categorical_crossentropy"): lambda y, z: F.sparse_softmax_cross_entropy(z, y),
    ("softmax", "categorical_crossentropy"): lambda y, z: F.softmax_cross_entropy(z, y),
    ("sigmoid", "binary_crossentropy"): lambda y, z: F.binary_cross_entropy_with_logits(z, y),
}


def loss_name(loss):
    """Canonical snake_case name of a loss function or object ('SparseCategoricalCrossentropy' ->
    'sparse_categorical_crossentropy'), or None for a custom callable."""
    from nnx import losses
    try:
        name = losses.serialize(loss)
    except (ValueError, TypeError):
        return None
    if isinstance(name, dict):
        name = name.get("class_name")
    return _snake_case(name) if isinstance(name, str) else None


def _verbosity(verbose):
    """0, 1 or 2; always 0 on a process that is not the chief of a distributed job."""
    if verbose == "auto":
        verbose = 1
    elif verbose not in (0, 1, 2) or isinstance(verbose, bool):
        raise ValueError(f"verbose must be 'auto', 0, 1 or 2, got {verbose!r}")
    return verbose if world.is_chief() else 0


def _batch_size_arg(op, batch_size):
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"{op}: batch_size must be a positive int, got {batch_size!r}")
    return int(batch_size)


def _activation_name(layer):
    activation = getattr(layer, "activation", None)
    if activation is None:
        return None, None
    from nnx import activations
    try:
        return activations.serialize(activation), activation
    except (ValueError, TypeError):
        return None, None


class _Objective:
    """One output's loss (None: not trained), loss weight and metrics, resolved for its layer."""

    def __init__(self, name, loss, weight, metrics, layer):
        self.name, self.loss, self.weight, self.metrics = name, loss, weight, metrics
        self.use_logits, self.loss_fn, self.activation = False, loss, None
        if loss is None:
            return
        act_name, activation = _activation_name(layer)
        fused = _FROM_LOGITS.get((act_name, loss_name(loss)))
        if fused is not None and not getattr(loss, "from_logits", False):
            self.use_logits, self.loss_fn, self.activation = True, fused, activation

    def probabilities(self, out):
        """What the metrics and predict see: the output after its activation."""
        if not self.use_logits:
            return out.data
        with no_grad():
            return self.activation(Tensor(out.data)).data


def _per_output(model, what, value, names, default):
    """Keras' rules for a compile argument given once for all outputs, as a list (one entry per
    output) or as a dict by output name (missing names get `default`)."""
    if isinstance(value, dict):
        unknown = [k for k in value if k not in names]
        if unknown:
            raise ValueError(f"{model._who()}: {what} names {unknown}, which are not outputs of the "
                             f"model (outputs: {names})")
        return [value.get(n, default) for n in names]
    if isinstance(value, (list, tuple)) and len(names) > 1:
        if len(value) != len(names):
            raise ValueError(f"{model._who()}: {what} has {len(value)} entries but the model has "
                             f"{len(names)} outputs ({names})")
        return list(value)
    return [value] * len(names)


class BaseModel(Layer):
    """Training, evaluation and inference on top of a graph of layers."""

    input_names = None
    output_names = None
    multiple_outputs = False   # call returns a list even for one output

    def __init__(self, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        self.optimizer = self.loss = None
        self.compile_args = None
        self._objectives = None
        self.stop_training = False
        self.history = None

    # --- provided by the concrete model -----------------------------------------------------------
    def build_for_inputs(self, shapes):
        raise NotImplementedError

    def output_shapes_for(self, shapes):
        raise NotImplementedError

    def forward_batch(self, xs, training=False, logits=None):
        raise NotImplementedError

    def output_layers(self):
        return [None] * len(self.output_names)

    # --- calling ----------------------------------------------------------------------------------
    def __call__(self, inputs, training=False, **kwargs):
        """`model(x)` on Tensors or arrays (a list for several inputs) returns a Tensor (a list
        for several outputs); on symbolic tensors it adds the model to a graph as one layer."""
        if is_symbolic(inputs):
            return super().__call__(inputs, training=training, **kwargs)
        names = self.input_names
        several = is_input_list(inputs) and (names is None or len(names) > 1 or len(inputs) == 1)
        xs = [self._as_input(x) for x in (inputs if several else [inputs])]
        if any(x.ndim == 0 for x in xs):
            raise ValueError(f"{self._who()}: expected a batch of inputs, got a scalar")
        self.build_for_inputs([x.shape for x in xs])
        outs = self.forward_batch(xs, training=training)
        return outs if len(outs) > 1 or self.multiple_outputs else outs[0]

    def call(self, inputs, training=False):
        outs = self.forward_batch(list(inputs) if isinstance(inputs, (list, tuple)) else [inputs],
                                  training=training)
        return outs if len(outs) > 1 or self.multiple_outputs else outs[0]

    # --- compile ----------------------------------------------------------------------------------
    def compile(self, optimizer="rmsprop", loss=None, loss_weights=None, metrics=None):
        """Choose the optimizer, the loss(es), their weights and the metrics (by name or object; a
        list or a dict by output name for several outputs)."""
        from nnx import losses, metrics as metrics_module, optimizers
        if loss is None:
            raise ValueError(f"{self._who()}: compile needs a loss, e.g. "
                             f"loss='sparse_categorical_crossentropy'")
        if metrics is not None and not isinstance(metrics, (list, tuple, dict)):
            metrics = [metrics]
        optimizer = optimizers.get(optimizer)

        def leaves(value):   # every loss / metric given, to check the names now
            if isinstance(value, dict):
                return [v for item in value.values() for v in leaves(item)]
            if isinstance(value, (list, tuple)):
                return [v for item in value for v in leaves(item)]
            return [] if value is None else [value]

        first_loss = None
        for item in leaves(loss):
            resolved = losses.get(item)
            first_loss = resolved if first_loss is None else first_loss
        for item in leaves(metrics):
            metrics_module.get(item, first_loss)
        if loss_weights is not None:
            for w in leaves(loss_weights):
                if isinstance(w, bool) or not isinstance(w, (int, float, np.number)):
                    raise TypeError(f"{self._who()}: loss_weights must be numbers, got {w!r}")
        self.optimizer, self.loss = optimizer, loss
        self.compile_args = {"loss": loss, "loss_weights": loss_weights,
                             "metrics": [] if metrics is None else metrics}
        self._objectives = None
        if self.built:            # else resolved on first use: the output layers may not exist yet
            try:
                self.objectives()
            except (ValueError, TypeError):
                self.optimizer = self.loss = self.compile_args = self._objectives = None
                raise

    def get_layer(self, name=None, index=None):
        """A layer of `model.layers` by name or by index (Keras 3)."""
        layers = self.layers
        if (name is None) == (index is None):
            raise ValueError(f"{self._who()}.get_layer: give either a layer name or an index")
        if index is not None:
            if not -len(layers) <= index < len(layers):
                raise ValueError(f"{self._who()}.get_layer: asked for the layer at index {index} but "
                                 f"the model has {len(layers)} layers")
            return layers[index]
        for layer in layers:
            if layer.name == name:
                return layer
        raise ValueError(f"{self._who()}.get_layer: no layer named {name!r}; the layers are "
                         f"{[l.name for l in layers]}")

    def _require_compiled(self, op):
        if self.optimizer is None:
            raise RuntimeError(f"{self._who()}: call compile(optimizer, loss, metrics) before {op}()")

    def objectives(self):
        """The per-output `_Objective`s (the model must be built)."""
        if self._objectives is None:
            from nnx import losses, metrics as metrics_module
            names = self.output_names
            args = self.compile_args
            loss_list = _per_output(self, "loss", args["loss"], names, None)
            weights = _per_output(self, "loss_weights", args["loss_weights"], names, 1.0) \
                if args["loss_weights"] is not None else [1.0] * len(names)
            metrics = args["metrics"]
            if len(names) == 1:
                metric_lists = [metrics if isinstance(metrics, list) else
                                [m for v in (metrics.values() if isinstance(metrics, dict) else metrics)
                                 for m in (v if isinstance(v, (list, tuple)) else [v])]]
            elif not metrics:
                metric_lists = [[] for _ in names]
            else:
                metric_lists = [[] if m is None else (list(m) if isinstance(m, (list, tuple)) else [m])
                                for m in _per_output(self, "metrics", metrics, names, None)]
            objectives = []
            for name, loss, weight, ms, layer in zip(names, loss_list, weights, metric_lists,
                                                     self.output_layers()):
                loss = None if loss is None else losses.get(loss)
                ms = [metrics_module.get(m, loss) for m in ms]
                objectives.append(_Objective(name, loss, float(weight), ms, layer))
            if all(o.loss is None for o in objectives):
                raise ValueError(f"{self._who()}: compile gave no loss for any output ({names})")
            self._objectives = objectives
        return self._objectives

    def log_names(self):
        """Keras' names for the logged values, in `evaluate`'s order."""
        objectives = self.objectives()
        several = len(objectives) > 1
        names = ["loss"]
        if several:
            names += [f"{o.name}_loss" for o in objectives if o.loss is not None]
        for o in objectives:
            names += [f"{o.name}_{m.name}" if several else m.name for m in o.metrics]
        unique, counts = [], {}
        for n in names:   # Keras: a repeated name gets _1, _2, ...
            counts[n] = counts.get(n, -1) + 1
            unique.append(n if counts[n] == 0 else f"{n}_{counts[n]}")
        return unique

    # --- data -------------------------------------------------------------------------------------
    def _structured(self, op, what, value, names):
        """`value` (an array, a list or tuple, or a dict by name) as a list of arrays, one per name
        (or as given when the model's names are not fixed)."""
        if isinstance(value, dict):
            if names is None:
                raise ValueError(f"{self._who()}.{op}: {what} given as a dict, but this model has no "
                                 f"{what} names; pass a list")
            missing = [n for n in names if n not in value]
            if missing:
                raise ValueError(f"{self._who()}.{op}: {what} dict lacks {missing} (the model's "
                                 f"{what} names: {names})")
            return [value[n] for n in names]
        several = names is None or len(names) > 1
        if isinstance(value, (list, tuple)) and is_input_list(value) and (several or len(value) == 1):
            items = list(value)
        else:
            items = [value]
        if names is not None and len(items) != len(names):
            raise ValueError(f"{self._who()}.{op}: the model has {len(names)} {what}s ({names}), got "
                             f"{len(items)} array(s)")
        return items

    def _input_arrays(self, op, x):
        xs = []
        for i, a in enumerate(self._structured(op, "input", x, self.input_names)):
            a = as_padded_array(a.data if isinstance(a, Tensor) else a, f"{self._who()}.{op}")
            if a.dtype.kind not in "fiub":
                raise TypeError(f"{self._who()}.{op}: x must be numeric, got dtype {a.dtype}")
            if a.ndim == 0:
                raise ValueError(f"{self._who()}.{op}: x must have a batch axis, got a scalar")
            if len(a) != len(xs[0] if xs else a):
                raise ValueError(f"{self._who()}.{op}: the inputs must have the same number of "
                                 f"samples, got shapes {[b.shape for b in xs] + [a.shape]}")
            xs.append(a if a.dtype == self.dtype else a.astype(self.dtype))
        return xs

    def _target_arrays(self, op, y, xs, out_shapes):
        n = len(xs[0])
        x_shapes = ", ".join(str(a.shape) for a in xs)
        ys = []
        for i, (a, out_shape) in enumerate(zip(self._structured(op, "output", y, self.output_names),
                                               out_shapes)):
            objective = self.objectives()[i]
            who = f"{self._who()}.{op}" + (f" (output '{objective.name}')" if len(out_shapes) > 1 else "")
            a = np.asarray(a.data if isinstance(a, Tensor) else a)
            if a.ndim == 0 or len(a) != n:
                raise ValueError(f"{who}: x and y must have the same number of samples, got "
                                 f"x shape {x_shapes} and y shape {a.shape}")
            if a.dtype.kind not in "fiub":
                raise TypeError(f"{who}: y must be numeric, got dtype {a.dtype}")
            name = loss_name(objective.loss) or ""
            if name.startswith("sparse"):
                if a.shape[1:] not in (out_shape[1:-1], out_shape[1:-1] + (1,)):
                    raise ValueError(f"{who}: {name} expects integer labels of shape "
                                     f"{format_shape((n,) + out_shape[1:-1])} for outputs of shape "
                                     f"{format_shape(out_shape)}, got y shape {a.shape}")
            elif name:
                if a.dtype != self.dtype:
                    a = a.astype(self.dtype)
                if a.ndim == 1 and out_shape[1:] == (1,):
                    a = a.reshape(-1, 1)    # (N,) targets for (N, 1) outputs, as Keras accepts
                if a.shape[1:] != out_shape[1:]:
                    raise ValueError(f"{who}: y shape {a.shape} does not match the output shape "
                                     f"{format_shape(out_shape)} for loss {name!r}")
            ys.append(a)
        return ys

    def _data(self, op, x, y=None, with_targets=True):
        """Check x (and y) against the model, building it; returns an ArrayData."""
        xs = self._input_arrays(op, x)
        self.build_for_inputs([a.shape for a in xs])
        if not with_targets:
            return ArrayData(xs)
        if y is None:
            raise ValueError(f"{self._who()}.{op}: y (the targets) is required")
        out_shapes = self.output_shapes_for([a.shape for a in xs])
        return ArrayData(xs, self._target_arrays(op, y, xs, out_shapes))

    # --- one batch --------------------------------------------------------------------------------
    def _forward_and_loss(self, xb, yb, training):
        """Forward + losses on one batch: (total loss Tensor, [per-output loss Tensors], outputs
        (the logits where the loss is computed from them))."""
        objectives = self._objectives
        outs = self.forward_batch([Tensor(a) for a in xb], training, self._logit_flags)
        total, values = None, []
        for objective, y, out in zip(objectives, yb, outs):
            if objective.loss is None:
                continue
            per_sample = objective.loss_fn(y, out)
            value = per_sample if per_sample.ndim == 0 else per_sample.mean()
            values.append(value)
            weighted = value if objective.weight == 1.0 else value * objective.weight
            total = weighted if total is None else total + weighted
        return total, values, outs

    def _batch_values(self, total, values, yb, outs):
        """The batch's logged values, in `log_names` order (means over the batch)."""
        row = [float(total.data)]
        if len(outs) > 1:
            row += [float(v.data) for v in values]
        for objective, y, out in zip(self._objectives, yb, outs):
            if objective.metrics:
                probabilities = objective.probabilities(out)
                row += [float(np.mean(m(y, probabilities))) for m in objective.metrics]
        return row

    def train_step(self, xb, yb):
        """One optimizer step on a batch (lists of arrays); returns the batch's logged values."""
        weights = self._train_weights
        for w in weights:
            w.grad = None
        total, values, outs = self._forward_and_loss(xb, yb, training=True)
        total.backward()
        self.optimizer.apply_gradients([(w.grad, w) for w in weights])
        return self._batch_values(total, values, yb, outs)

    def test_step(self, xb, yb):
        with no_grad():
            total, values, outs = self._forward_and_loss(xb, yb, training=False)
            return self._batch_values(total, values, yb, outs)

    def _start(self):
        """Per-call setup of the hot loop (after the model is built)."""
        objectives = self.objectives()
        self._logit_flags = tuple(o.use_logits for o in objectives)
        self._train_weights = self.trainable_weights

    # --- fit --------------------------------------------------------------------------------------
    def fit(self, x=None, y=None, batch_size=32, epochs=1, verbose="auto", callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, initial_epoch=0, check_finite=True):
        """Train for `epochs` passes over (x, y); returns the History (Keras semantics).

        check_finite: refuse x, y or validation data holding NaN or infinity (ValueError naming the
        array and the first bad index; costs about one pass over the data); False skips the check."""
        self._require_compiled("fit")
        verbose = _verbosity(verbose)
        batch_size = _batch_size_arg("fit", batch_size)
        train = self._data("fit", x, y)
        if check_finite:
            require_finite(f"{self._who()}.fit", train.named_arrays())
        if not 0.0 <= validation_split < 1.0:
            raise ValueError(f"{self._who()}.fit: validation_split must be in [0, 1), got {validation_split}")
        val = None
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
                raise ValueError(f"{self._who()}.fit: validation_data must be a tuple (x_val, y_val)")
            val = self._data("fit", *validation_data)
            if check_finite:
                require_finite(f"{self._who()}.fit", val.named_arrays("validation_data "))
        elif validation_split:
            split = int(np.floor(len(train) * (1.0 - validation_split)))   # Keras: the LAST fraction
            if split == 0 or split == len(train):
                raise ValueError(f"{self._who()}.fit: validation_split={validation_split} leaves no "
                                 f"training or no validation samples out of {len(train)}")
            train, val = train.split(split)
        if len(train) == 0:
            raise ValueError(f"{self._who()}.fit: no training samples")

        steps = train.steps(batch_size)
        history = History()
        callbacks = CallbackList(([] if callbacks is None else list(callbacks)) + [history], self,
                                 {"epochs": epochs, "steps": steps, "verbose": verbose})
        self._start()
        names = self.log_names()
        self.stop_training = False
        callbacks.on_train_begin()
        for epoch in range(initial_epoch, epochs):
            callbacks.on_epoch_begin(epoch)
            if verbose:
                print(f"Epoch {epoch + 1}/{epochs}")
            progbar = Progbar(steps, verbose=verbose)
            means = _Means(names)
            for step, (xb, yb) in enumerate(train.batches(batch_size, shuffle)):
                for c in callbacks.batch_begin:
                    c.on_train_batch_begin(step)
                with defer_interrupts():   # Ctrl-C lands between steps, never inside one
                    values = self.train_step(xb, yb)
                means.add(values, len(xb[0]))
                if verbose == 1 or callbacks.batch_end:
                    logs = means.logs()
                    progbar.update(step + 1, list(logs.items()))
                    for c in callbacks.batch_end:
                        c.on_train_batch_end(step, logs)
            logs = means.logs()
            if val is not None:
                values = self._evaluate_data(val, batch_size, verbose=0)
                logs.update({"val_" + k: v for k, v in values.items()})
            progbar.finish(list(logs.items()))
            callbacks.on_epoch_end(epoch, logs)
            if world.on_any_process(self.stop_training):   # every process of a job stops alike
                break
        callbacks.on_train_end()
        self.history = history
        return history

    # --- evaluate / predict -------------------------------------------------------------------------
    def _evaluate_data(self, data, batch_size, verbose):
        if len(data) == 0:
            raise ValueError(f"{self._who()}.evaluate: no samples")
        self._start()
        means = _Means(self.log_names())
        progbar = Progbar(data.steps(batch_size), verbose=verbose)
        for step, (xb, yb) in enumerate(data.batches(batch_size)):
            means.add(self.test_step(xb, yb), len(xb[0]))
            progbar.update(step + 1)
        logs = means.logs()
        progbar.finish(list(logs.items()))
        return logs

    def evaluate(self, x=None, y=None, batch_size=32, verbose="auto", return_dict=False, check_finite=True):
        """Loss and metrics over (x, y): `[loss, *per-output losses, *metrics]`, a float when that
        is the loss alone, or a dict. check_finite: as in `fit`."""
        self._require_compiled("evaluate")
        batch_size = _batch_size_arg("evaluate", batch_size)
        data = self._data("evaluate", x, y)
        if check_finite:
            require_finite(f"{self._who()}.evaluate", data.named_arrays())
        logs = self._evaluate_data(data, batch_size, _verbosity(verbose))
        if return_dict:
            return logs
        values = list(logs.values())
        return values[0] if len(values) == 1 else values

    def predict(self, x, batch_size=32, verbose="auto"):
        """The model's outputs for x: a NumPy array (a list of them for several outputs)."""
        batch_size = _batch_size_arg("predict", batch_size)
        verbose = _verbosity(verbose)
        data = self._data("predict", x, with_targets=False)
        steps = data.steps(batch_size)
        progbar = Progbar(steps, verbose=verbose)
        parts = []
        with no_grad():
            for step, (xb, _) in enumerate(data.batches(batch_size)):
                parts.append([o.data for o in self.forward_batch([Tensor(a) for a in xb])])
                progbar.update(step + 1)
        progbar.finish()
        if not parts:
            raise ValueError(f"{self._who()}.predict: no samples")
        outs = [np.concatenate(p) if len(p) > 1 else p[0] for p in zip(*parts)]
        return outs if len(outs) > 1 or self.multiple_outputs else outs[0]

    # --- saving and summary --------------------------------------------------------------------------
    def save(self, path):
        """Write architecture, compile settings, weights and optimizer state (see nnx.models.saving)."""
        from nnx.models.saving import save_model
        save_model(self, path)

    def save_weights(self, path):
        """Write the weights alone (a file of arrays, in `weights` order)."""
        from nnx.models.saving import save_weights
        save_weights(self, path)

    def load_weights(self, path):
        """Read weights written by `save_weights` into this model (same architecture); on any
        mismatch nothing changes."""
        from nnx.models.saving import load_weights
        load_weights(self, path)

    def to_json(self):
        """The architecture as a JSON string (`nnx.models.model_from_json` rebuilds it)."""
        from nnx.models.serialization import model_to_json
        return model_to_json(self)

    def summary(self, profile=False, batch_size=32, print_fn=print):
        """Print Keras' summary table; with profile=True also per-layer FLOPs, activation memory and
        measured forward/backward times at `batch_size`."""
        from nnx.models.summary import summary_text
        print_fn(summary_text(self, profile=profile, batch_size=batch_size))


class _Means:
    """Sample-weighted running means of the logged values (a partial batch weighs by its size)."""

    def __init__(self, names):
        self.names, self.sums, self.count = names, [0.0] * len(names), 0

    def add(self, values, size):
        self.count += size
        sums = self.sums
        for i, v in enumerate(values):
            sums[i] += v * size

    def logs(self):
        return {n: s / self.count for n, s in zip(self.names, self.sums)}
