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
`nnx.models.data.ArrayData` cuts them into batches. `x` may instead be an `nnx.data.Dataset` or any
iterable or generator of `(x, y)` / `(x, y, sample_weight)` batches (`BatchStream`). Sample weights
(from `sample_weight` or `class_weight`) weight each sample's loss with Keras 3's reduction (the
weighted sum over the batch size) and each metric update. Losses, their weights and the metrics are resolved
per output (`_Objective`), as Keras' CompileLoss / CompileMetrics do: one loss for all outputs, a list
or a dict by output name; the total is the weighted sum; logs are named as Keras names them
(`loss`, then `<output>_loss` per output when there are several, then the metrics, `<output>_<metric>`
when there are several outputs).

The training step is the hot path (1,875 steps per MNIST epoch): per step only gather the batch, clear
the gradients, forward, loss, backward, one optimizer update, the metric updates and a few float
additions for the logs. The regularization penalties (`model.losses`: weight and activity
regularizers) are added to the training loss as Keras adds them (their sum joins the total, so the
logged `loss` includes them); a model without regularizers pays nothing for them.

Softmax (or sigmoid) followed by cross-entropy on probabilities is computed from the logits: when an
output's layer ends in softmax and its loss is (sparse) categorical cross-entropy with
from_logits=False, training and evaluation run that layer without its activation and use the fused
stable `F.*_cross_entropy` op; `predict` and the metrics still see probabilities.
"""
import contextlib
import itertools
import warnings

import numpy as np

from nnx import backend
from nnx import functional as F
from nnx.autograd import no_grad
from nnx.callbacks import CallbackList, History, TerminateOnNaN
from nnx.layers.base import Layer, _snake_case, format_shape, is_input_list
from nnx.layers.symbolic import is_symbolic
from nnx.labels import class_labels
from nnx.layers.embedding import as_padded_array
from nnx.losses import reduce_weighted
from nnx.models.data import ArrayData, BatchStream, class_weight_to_sample_weights, is_batch_source
from nnx.tensor import Tensor
from nnx.utils import world
from nnx.utils.finite import require_finite
from nnx.utils.interrupts import hold_interrupts
from nnx.utils.progbar import Progbar

# (output activation, loss) -> the same loss computed from the logits: (per-sample losses, the
# probabilities when the loss computed them on the way, else None). `checked`: the targets were
# checked as class labels when the data was (once for all batches), so the loss need not repeat it
_FROM_LOGITS = {
    ("softmax", "sparse_categorical_crossentropy"):
        lambda y, z, checked: F.sparse_softmax_cross_entropy(z, y, return_probabilities=True,
                                                             labels_checked=checked),
    ("softmax", "categorical_crossentropy"):
        lambda y, z, checked: F.softmax_cross_entropy(z, y, return_probabilities=True),
    ("sigmoid", "binary_crossentropy"):
        lambda y, z, checked: (F.binary_cross_entropy_with_logits(z, y), None),
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


def _batch_size_arg(op, batch_size, what="batch_size"):
    if batch_size is None and what == "batch_size":
        return 32
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"{op}: {what} must be a positive int, got {batch_size!r}")
    return int(batch_size)


def _optional_steps(op, what, steps):
    return None if steps is None else _batch_size_arg(op, steps, what)


def _validate_now(epoch, validation_freq):
    """Keras: validate after 1-based epoch e when e % freq == 0 (an int) or e is listed."""
    if isinstance(validation_freq, (list, tuple, set)):
        return epoch + 1 in validation_freq
    return (epoch + 1) % validation_freq == 0


class _EpochBatches:
    """The batches of each epoch. Without steps_per_epoch, one pass over the data per epoch. With
    it, one iterator runs on across epochs (Keras 3's EpochIterator); when it runs dry the epoch
    ends early with a warning and the next epoch starts a new pass."""

    def __init__(self, data, batch_size, shuffle, steps_per_epoch):
        self.data, self.batch_size, self.shuffle = data, batch_size, shuffle
        self.steps_per_epoch, self.iterator = steps_per_epoch, None

    def epoch(self):
        if self.steps_per_epoch is None:
            yield from self.data.batches(self.batch_size, self.shuffle)
            return
        for _ in range(self.steps_per_epoch):
            if self.iterator is None:
                self.iterator = iter(self.data.batches(self.batch_size, self.shuffle))
            try:
                batch = next(self.iterator)
            except StopIteration:
                self.iterator = None
                warnings.warn("fit: the input ran out of data before steps_per_epoch batches; the "
                              "epoch ends early. Make sure the data can give steps_per_epoch * "
                              "epochs batches (Dataset.repeat() helps).", stacklevel=4)
                return
            yield batch


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
        from nnx.losses import Loss
        self.name, self.loss, self.weight, self.metrics = name, loss, weight, metrics
        # loss_fn gives per-sample values; `reduction` (the loss object's) makes them one number
        self.loss_fn = loss.call if isinstance(loss, Loss) else loss
        self.reduction = getattr(loss, "reduction", "sum_over_batch_size")
        if self.reduction == "none":   # training needs one number: the mean, as before
            self.reduction = "sum_over_batch_size"
        self.use_logits, self.activation = False, None
        self.labels_checked = False   # the model's data checks cover this output's class labels
        if loss is None:
            return
        act_name, activation = _activation_name(layer)
        fused = _FROM_LOGITS.get((act_name, loss_name(loss)))
        if fused is not None and not getattr(loss, "from_logits", False):
            self.use_logits, self.loss_fn, self.activation = True, fused, activation

    def per_sample_loss(self, y, out, checked_targets=False):
        """(per-sample loss Tensor, the probabilities if the loss computed them, else None).
        checked_targets: y comes from data the model checked (and this output's labels with it)."""
        if self.use_logits:
            return self.loss_fn(y, out, checked_targets and self.labels_checked)
        return self.loss_fn(y, out), None

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
        self._batch_means = None     # running losses of train_on_batch / test_on_batch
        self._initial_epoch = None   # set by BackupAndRestore when fit resumes

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
                if out_shape[-1] is not None:
                    # whole numbers in [0, K), checked here for every batch at once, not by the loss
                    # at each step
                    class_labels(a, (n,) + tuple(out_shape[1:]), who, "y", "outputs")
                    objective.labels_checked = True
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

    def _sample_weights(self, op, sample_weight, class_weight, ys):
        """Per-output sample weights (a list) from `sample_weight` (one array for every output, or
        a list / dict by output) or from `class_weight` (one output only), or None."""
        who = f"{self._who()}.{op}"
        if class_weight is not None:
            if sample_weight is not None:
                raise ValueError(f"{who}: give class_weight or sample_weight, not both")
            if len(ys) > 1:
                raise ValueError(f"{who}: class_weight is only supported for models with one output "
                                 f"(this one has {len(ys)}); pass sample_weight per output instead")
            return [class_weight_to_sample_weights(ys[0], class_weight, who)]
        if sample_weight is None:
            return None
        several = len(ys) > 1 and (isinstance(sample_weight, dict) or (
            isinstance(sample_weight, (list, tuple)) and is_input_list(sample_weight)))
        items = self._structured(op, "output", sample_weight, self.output_names) if several \
            else [sample_weight] * len(ys)
        weights = []
        for w, y in zip(items, ys):
            w = np.asarray(w.data if isinstance(w, Tensor) else w)
            if w.dtype.kind not in "fiub" or w.ndim == 0 or len(w) != len(y):
                raise ValueError(f"{who}: sample_weight must hold one number per sample ({len(y)}), "
                                 f"got shape {w.shape} and dtype {w.dtype}")
            weights.append(w.astype(self.dtype, copy=False))
        return weights

    def _stream_batch(self, op, batch, index, with_targets, class_weight):
        """One batch of a Dataset or generator: x, (x,), (x, y) or (x, y, sample_weight)."""
        parts = batch if isinstance(batch, tuple) else (batch,)
        if not 1 <= len(parts) <= 3:
            raise ValueError(f"{self._who()}.{op}: batch {index} is a tuple of {len(parts)} items; "
                             f"expected x, (x, y) or (x, y, sample_weight)")
        xs = self._input_arrays(op, parts[0])
        self.build_for_inputs([a.shape for a in xs])
        if not with_targets:
            return xs, None, None
        if len(parts) == 1:
            raise ValueError(f"{self._who()}.{op}: batch {index} has no targets; {op} needs (x, y) "
                             f"or (x, y, sample_weight) batches")
        ys = self._target_arrays(op, parts[1], xs, self.output_shapes_for([a.shape for a in xs]))
        return xs, ys, self._sample_weights(op, parts[2] if len(parts) == 3 else None,
                                            class_weight, ys)

    def _data(self, op, x, y=None, with_targets=True, sample_weight=None, class_weight=None):
        """Check x (and y) against the model, building it; returns an ArrayData, or a BatchStream
        for a Dataset or generator of batches (checked batch by batch)."""
        if is_batch_source(x):
            for what, value in (("y", y), ("sample_weight", sample_weight)):
                if value is not None:
                    raise ValueError(f"{self._who()}.{op}: {what} must not be given when x is a "
                                     f"Dataset or generator: its batches carry it")
            return BatchStream(x, lambda batch, index: self._stream_batch(
                op, batch, index, with_targets, class_weight))
        xs = self._input_arrays(op, x)
        self.build_for_inputs([a.shape for a in xs])
        if not with_targets:
            return ArrayData(xs)
        if y is None:
            raise ValueError(f"{self._who()}.{op}: y (the targets) is required")
        out_shapes = self.output_shapes_for([a.shape for a in xs])
        ys = self._target_arrays(op, y, xs, out_shapes)
        return ArrayData(xs, ys, self._sample_weights(op, sample_weight, class_weight, ys))

    # --- one batch --------------------------------------------------------------------------------
    def _forward_and_loss(self, xb, yb, swb, training, checked_targets=False):
        """Forward + losses on one batch: (total loss Tensor, [per-output loss Tensors], what the
        metrics see per output: the probabilities as arrays). The total adds the regularization
        penalties, as Keras' compute_loss does (in training and in evaluation)."""
        objectives = self._objectives
        outs = self.forward_batch([Tensor(a) for a in xb], training, self._logit_flags)
        total, values, seen = None, [], []
        for i, (objective, y, out) in enumerate(zip(objectives, yb, outs)):
            probabilities = None
            if objective.loss is not None:
                per_sample, probabilities = objective.per_sample_loss(y, out, checked_targets)
                value = reduce_weighted(per_sample, None if swb is None else swb[i],
                                        objective.reduction, objective.name)
                values.append(value)
                weighted = value if objective.weight == 1.0 else value * objective.weight
                total = weighted if total is None else total + weighted
            if probabilities is None and objective.metrics:
                probabilities = objective.probabilities(out)
            seen.append(probabilities)
        if self._regularized:
            for penalty in self.losses:
                total = total + penalty
        return total, values, seen

    def _loss_values(self, total, values):
        """The batch's logged losses: the total, then each output's when there are several."""
        row = [float(total.data)]
        if len(self._objectives) > 1:
            row += [float(v.data) for v in values]
        return row

    def _update_metrics(self, yb, swb, seen):
        for i, (objective, y, probabilities) in enumerate(zip(self._objectives, yb, seen)):
            if objective.metrics:
                weights = None if swb is None else swb[i]
                for m in objective.metrics:
                    m.update_state(y, probabilities, sample_weight=weights)

    def _logs(self, means):
        """Keras' logs: running means of the losses, then every metric's result."""
        logs = means.logs()
        for name, metric in zip(self._metric_names, self._metric_objects):
            logs[name] = metric.result()
        return logs

    def reset_metrics(self):
        """Reset the metrics' state and the running losses of train_on_batch / test_on_batch."""
        for objective in self.objectives():
            for m in objective.metrics:
                m.reset_state()
        self._batch_means = None

    def train_step(self, xb, yb, swb=None, checked_targets=False):
        """One optimizer step on a batch (lists of arrays); updates the metrics and returns the
        batch's losses. checked_targets: the batch comes from data the model has checked (fit,
        evaluate and the *_on_batch methods check their data once, for all batches), so the loss
        need not check the labels again."""
        weights = self._train_weights
        for w in weights:
            w.grad = None
        total, values, seen = self._forward_and_loss(xb, yb, swb, True, checked_targets)
        # metrics and logged losses first, while NumPy's code and the batch's small arrays are
        # still in cache: the backward pass's kernels evict them
        self._update_metrics(yb, swb, seen)
        losses = self._loss_values(total, values)
        total.backward()
        self.optimizer.apply_gradients([(w.grad, w) for w in weights])
        return losses

    def test_step(self, xb, yb, swb=None, checked_targets=False):
        with no_grad():
            total, values, seen = self._forward_and_loss(xb, yb, swb, False, checked_targets)
            self._update_metrics(yb, swb, seen)
            return self._loss_values(total, values)

    def _start(self):
        """Per-call setup of the hot loop (after the model is built)."""
        objectives = self.objectives()
        self._logit_flags = tuple(o.use_logits for o in objectives)
        self._train_weights = self.trainable_weights
        self._regularized = self.has_penalties()
        names = self.log_names()
        n_losses = 1 + (sum(o.loss is not None for o in objectives) if len(objectives) > 1 else 0)
        self._loss_names, self._metric_names = names[:n_losses], names[n_losses:]
        self._metric_objects = [m for o in objectives for m in o.metrics]

    # --- fit --------------------------------------------------------------------------------------
    def _validation(self, validation_data):
        if is_batch_source(validation_data):
            return self._data("fit", validation_data)
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
            raise ValueError(f"{self._who()}.fit: validation_data must be (x_val, y_val), (x_val, "
                             f"y_val, sample_weight_val) or a Dataset / generator of batches")
        x_val, y_val = validation_data[:2]
        weights = validation_data[2] if len(validation_data) == 3 else None
        return self._data("fit", x_val, y_val, sample_weight=weights)

    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, class_weight=None,
            sample_weight=None, initial_epoch=0, steps_per_epoch=None, validation_steps=None,
            validation_batch_size=None, validation_freq=1, check_finite=True):
        """Train for `epochs` passes over (x, y); returns the History (Keras 3 semantics). x may be
        a Dataset or a generator of (x, y) / (x, y, sample_weight) batches (then y is not given).

        check_finite: refuse x, y or validation arrays holding NaN or infinity (ValueError naming the
        array and the first bad index; costs about one pass over the data); False skips the check.
        Batches of a Dataset or generator are not checked: a NaN loss stops training instead."""
        self._require_compiled("fit")
        verbose = _verbosity(verbose)
        batch_size = _batch_size_arg("fit", batch_size)
        validation_batch_size = _batch_size_arg("fit", validation_batch_size or batch_size)
        steps_per_epoch = _optional_steps("fit", "steps_per_epoch", steps_per_epoch)
        validation_steps = _optional_steps("fit", "validation_steps", validation_steps)
        if isinstance(initial_epoch, bool) or not isinstance(initial_epoch, (int, np.integer)) \
                or initial_epoch < 0:
            raise ValueError(f"{self._who()}.fit: initial_epoch must be a non-negative int, got "
                             f"{initial_epoch!r}")
        if not (isinstance(validation_freq, (list, tuple, set)) or (
                isinstance(validation_freq, (int, np.integer)) and validation_freq >= 1)):
            raise ValueError(f"{self._who()}.fit: validation_freq must be a positive int or a list "
                             f"of epochs, got {validation_freq!r}")
        train = self._data("fit", x, y, sample_weight=sample_weight, class_weight=class_weight)
        if check_finite and isinstance(train, ArrayData):
            require_finite(f"{self._who()}.fit", train.named_arrays())
        if not 0.0 <= validation_split < 1.0:
            raise ValueError(f"{self._who()}.fit: validation_split must be in [0, 1), got {validation_split}")
        val = None
        if validation_data is not None:
            val = self._validation(validation_data)
            if check_finite and isinstance(val, ArrayData):
                require_finite(f"{self._who()}.fit", val.named_arrays("validation_data "))
        elif validation_split:
            if isinstance(train, BatchStream):
                raise ValueError(f"{self._who()}.fit: validation_split needs arrays; with a Dataset "
                                 f"or generator pass validation_data")
            split = int(np.floor(len(train) * (1.0 - validation_split)))   # Keras: the LAST fraction
            if split == 0 or split == len(train):
                raise ValueError(f"{self._who()}.fit: validation_split={validation_split} leaves no "
                                 f"training or no validation samples out of {len(train)}")
            train, val = train.split(split)
        if isinstance(train, ArrayData) and len(train) == 0:
            raise ValueError(f"{self._who()}.fit: no training samples")

        steps = steps_per_epoch or train.steps(batch_size)
        history = History()
        given = [] if callbacks is None else list(callbacks)
        nan_guard = [] if any(isinstance(c, TerminateOnNaN) for c in given) else [TerminateOnNaN()]
        callbacks = CallbackList(given + nan_guard + [history], self,
                                 {"epochs": epochs, "steps": steps, "verbose": verbose})
        self._start()
        self.stop_training = False
        self._initial_epoch = None
        callbacks.on_train_begin()
        if self._initial_epoch is not None:    # set by BackupAndRestore: resume after a crash
            initial_epoch = self._initial_epoch
        batches = _EpochBatches(train, batch_size, shuffle, steps_per_epoch)
        for epoch in range(initial_epoch, epochs):
            self.reset_metrics()
            callbacks.on_epoch_begin(epoch)
            if verbose:
                print(f"Epoch {epoch + 1}/{epochs}")
            progbar = Progbar(steps, verbose=verbose)
            means = _Means(self._loss_names)
            step = -1
            # Ctrl-C lands between steps, never inside one; each step's big temporaries reuse the
            # memory the previous step freed instead of faulting in fresh pages
            with hold_interrupts() as hold, _reusing_buffers():
                for step, (xb, yb, swb) in enumerate(batches.epoch()):
                    for c in callbacks.batch_begin:
                        c.on_train_batch_begin(step)
                    with hold:
                        values = self.train_step(xb, yb, swb, checked_targets=True)
                    means.add(values, len(xb[0]))
                    if verbose == 1 or callbacks.batch_end:
                        logs = self._logs(means)
                        progbar.update(step + 1, list(logs.items()))
                        for c in callbacks.batch_end:
                            c.on_train_batch_end(step, logs)
                    if world.on_any_process(self.stop_training):   # every process stops alike
                        self.stop_training = True
                        break
            if step < 0:
                warnings.warn(f"{self._who()}.fit: the data gave no batches in epoch {epoch + 1}; "
                              f"training stops (a generator can be iterated only once: use a "
                              f"Dataset, or steps_per_epoch with an endless generator)", stacklevel=2)
                break
            logs = self._logs(means)
            if val is not None and _validate_now(epoch, validation_freq):
                values = self._evaluate_data(val, validation_batch_size, 0, validation_steps)
                logs.update({"val_" + k: v for k, v in values.items()})
            # the callbacks first, as Keras' progress bar is the last callback: the line shows the
            # logs they may have changed (e.g. distributed MetricAverage's means over the ranks)
            callbacks.on_epoch_end(epoch, logs)
            progbar.finish(list(logs.items()), steps=step + 1)
            if world.on_any_process(self.stop_training):   # every process of a job stops alike
                break
        callbacks.on_train_end()
        self.history = history
        return history

    # --- evaluate / predict -------------------------------------------------------------------------
    def _evaluate_data(self, data, batch_size, verbose, steps=None):
        self._start()
        self.reset_metrics()
        means = _Means(self._loss_names)
        progbar = Progbar(steps or data.steps(batch_size), verbose=verbose)
        with _reusing_buffers():
            for step, (xb, yb, swb) in enumerate(itertools.islice(data.batches(batch_size), steps)):
                means.add(self.test_step(xb, yb, swb, checked_targets=True), len(xb[0]))
                progbar.update(step + 1)
        if means.count == 0:
            raise ValueError(f"{self._who()}.evaluate: no samples")
        logs = self._logs(means)
        progbar.finish(list(logs.items()), steps=step + 1)
        return logs

    @staticmethod
    def _returned(logs, return_dict):
        if return_dict:
            return logs
        values = list(logs.values())
        return values[0] if len(values) == 1 else values

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None,
                 steps=None, return_dict=False, check_finite=True):
        """Loss and metrics over (x, y) (or a Dataset / generator of batches): `[loss, *per-output
        losses, *metrics]`, a float when that is the loss alone, or a dict. check_finite: as in
        `fit`."""
        self._require_compiled("evaluate")
        batch_size = _batch_size_arg("evaluate", batch_size)
        steps = _optional_steps("evaluate", "steps", steps)
        data = self._data("evaluate", x, y, sample_weight=sample_weight)
        if check_finite and isinstance(data, ArrayData):
            require_finite(f"{self._who()}.evaluate", data.named_arrays())
        return self._returned(self._evaluate_data(data, batch_size, _verbosity(verbose), steps),
                              return_dict)

    def predict(self, x, batch_size=None, verbose="auto", steps=None):
        """The model's outputs for x (arrays, a Dataset or a generator of batches; targets in the
        batches are ignored): a NumPy array (a list of them for several outputs)."""
        batch_size = _batch_size_arg("predict", batch_size)
        steps = _optional_steps("predict", "steps", steps)
        verbose = _verbosity(verbose)
        data = self._data("predict", x, with_targets=False)
        progbar = Progbar(steps or data.steps(batch_size), verbose=verbose)
        parts = []
        # each batch frees and reallocates the same big activations: reuse their mapped memory
        with no_grad(), _reusing_buffers():
            for step, (xb, _, _) in enumerate(itertools.islice(data.batches(batch_size), steps)):
                parts.append([o.data for o in self.forward_batch([Tensor(a) for a in xb])])
                progbar.update(step + 1)
        progbar.finish(steps=len(parts))
        if not parts:
            raise ValueError(f"{self._who()}.predict: no samples")
        outs = [np.concatenate(p) if len(p) > 1 else p[0] for p in zip(*parts)]
        return outs if len(outs) > 1 or self.multiple_outputs else outs[0]

    # --- one batch at a time (Keras 3: the logs accumulate until reset_metrics) ------------------------
    def _on_batch(self, op, x, y, sample_weight, class_weight, step):
        self._require_compiled(op)
        data = self._data(op, x, y, sample_weight=sample_weight, class_weight=class_weight)
        if not isinstance(data, ArrayData):
            raise TypeError(f"{self._who()}.{op}: expected arrays for one batch, got "
                            f"{type(x).__name__}")
        self._start()
        if getattr(self, "_batch_means", None) is None:
            self._batch_means = _Means(self._loss_names)
        (xb, yb, swb), = data.batches(len(data))
        self._batch_means.add(step(xb, yb, swb, checked_targets=True), len(data))
        return self._logs(self._batch_means)

    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None, return_dict=False):
        """One optimizer step on (x, y); returns the loss (and metrics) so far, as Keras 3 does:
        they accumulate over calls until `reset_metrics()`."""
        logs = self._on_batch("train_on_batch", x, y, sample_weight, class_weight, self.train_step)
        return self._returned(logs, return_dict)

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict=False):
        """The loss (and metrics) of (x, y) without training, accumulated as train_on_batch's."""
        logs = self._on_batch("test_on_batch", x, y, sample_weight, None, self.test_step)
        return self._returned(logs, return_dict)

    def predict_on_batch(self, x):
        """The outputs for one batch x, as NumPy array(s)."""
        data = self._data("predict_on_batch", x, with_targets=False)
        with no_grad():
            outs = [o.data for o in self.forward_batch([Tensor(a) for a in data.xs])]
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


def _reusing_buffers():
    """The compiled kernels' buffer cache (csrc/buffers.c) around a loop over batches, or nothing on the
    reference backend and without the extension. Each batch frees big activations and temporaries that
    the next one allocates again: a batch of 1000 MNIST images in predict maps some 150 MB afresh, whose
    first touch costs more than conv1's arithmetic; in fit at batch 32 glibc may hand back fresh pages
    too (on random float32 data: ~2,000 page faults per step, 13.4 instead of 8.6 ms of CPU per step)."""
    if backend.get_backend() == "reference":
        return contextlib.nullcontext()
    from nnx import kernels
    return kernels.reusing_buffers()


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
