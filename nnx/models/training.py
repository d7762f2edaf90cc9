"""`BaseModel`: compile / fit / evaluate / predict / save / summary for models made of layers.

A concrete model (Sequential) supplies `build_for(input_shape)`, `forward(x, training, logits)` and
`output_layer()`; everything about training lives here.

The training step is the hot path (1,875 steps per MNIST epoch), so the loop does the per-epoch work
once (shuffle, batch index arrays, casting x to the model's dtype, shape checks against the built
model) and per step only: gather the batch, clear the gradients, forward, loss, backward, one
optimizer update, and a few float additions for the running loss and metrics (computed in NumPy on
arrays, outside the graph).

Softmax (or sigmoid) followed by cross-entropy on probabilities is computed from the logits: when the
last layer's activation is softmax and the loss is (sparse) categorical cross-entropy with
from_logits=False, training and evaluation run the last layer without its activation and use the fused
stable `F.*_cross_entropy` op; `predict` and the metrics still see probabilities.
"""
import math

import numpy as np

from nnx import functional as F
from nnx.autograd import no_grad
from nnx.callbacks import CallbackList, History
from nnx.layers.base import Layer, _snake_case, format_shape
from nnx.layers.embedding import as_padded_array
from nnx.random import get_rng
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


class BaseModel(Layer):
    """Training, evaluation and inference on top of a stack of layers."""

    def __init__(self, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        self.optimizer = self.loss = None
        self.compiled_metrics = []
        self.compile_args = None
        self._objective = None
        self.stop_training = False
        self.history = None

    # --- provided by the concrete model -----------------------------------------------------------
    def build_for(self, input_shape):
        raise NotImplementedError

    def forward(self, x, training=False, logits=False):
        raise NotImplementedError

    def output_layer(self):
        raise NotImplementedError

    # --- compile ----------------------------------------------------------------------------------
    def compile(self, optimizer="rmsprop", loss=None, metrics=None):
        """Choose the optimizer, the loss and the metrics (by name or object)."""
        from nnx import losses, metrics as metrics_module, optimizers
        if loss is None:
            raise ValueError(f"{self._who()}: compile needs a loss, e.g. "
                             f"loss='sparse_categorical_crossentropy'")
        if metrics is None:
            metrics = []
        elif isinstance(metrics, (str, dict)) or callable(metrics):
            metrics = [metrics]
        optimizer = optimizers.get(optimizer)
        loss = losses.get(loss)
        compiled_metrics = [metrics_module.get(m, loss) for m in metrics]
        self.optimizer, self.loss, self.compiled_metrics = optimizer, loss, compiled_metrics
        self.compile_args = {"loss": loss, "metrics": list(metrics)}
        self._objective = None   # resolved on first use: the output layer may not exist yet

    def _require_compiled(self, op):
        if self.optimizer is None:
            raise RuntimeError(f"{self._who()}: call compile(optimizer, loss, metrics) before {op}()")

    def _resolve_objective(self):
        """(use_logits, per-sample loss fn (y_true, y_pred) -> Tensor, output activation or None)."""
        last = self.output_layer()
        activation = getattr(last, "activation", None)
        act_name = None
        if activation is not None:
            from nnx import activations
            try:
                act_name = activations.serialize(activation)
            except (ValueError, TypeError):
                act_name = None
        name = loss_name(self.loss)
        fused = _FROM_LOGITS.get((act_name, name))
        if fused is not None and not getattr(self.loss, "from_logits", False):
            return True, fused, activation
        return False, self.loss, None

    def _objective_parts(self):
        if self._objective is None:
            self._objective = self._resolve_objective()
        return self._objective

    # --- data checks ------------------------------------------------------------------------------
    def _prepare_x(self, op, x):
        """x as an ndarray of the model's dtype, checked against (and building) the model."""
        x = as_padded_array(x.data if isinstance(x, Tensor) else x, f"{self._who()}.{op}")
        if x.dtype.kind not in "fiub":
            raise TypeError(f"{self._who()}.{op}: x must be numeric, got dtype {x.dtype}")
        if x.ndim == 0:
            raise ValueError(f"{self._who()}.{op}: x must have a batch axis, got a scalar")
        self.check_input_shape(x.shape)
        self.build_for((None,) + x.shape[1:])
        if x.dtype != self.dtype:
            x = x.astype(self.dtype)
        return x

    def _prepare_y(self, op, x, y):
        y = np.asarray(y.data if isinstance(y, Tensor) else y)
        if y.ndim == 0 or len(y) != len(x):
            raise ValueError(f"{self._who()}.{op}: x and y must have the same number of samples, got "
                             f"x shape {x.shape} and y shape {y.shape}")
        if y.dtype.kind not in "fiub":
            raise TypeError(f"{self._who()}.{op}: y must be numeric, got dtype {y.dtype}")
        out_shape = self.compute_output_shape((None,) + x.shape[1:])
        name = loss_name(self.loss) or ""
        if name.startswith("sparse"):
            if y.shape[1:] not in (out_shape[1:-1], out_shape[1:-1] + (1,)):
                raise ValueError(f"{self._who()}.{op}: {name} expects integer labels of shape "
                                 f"{format_shape((len(y),) + out_shape[1:-1])} for outputs of shape "
                                 f"{format_shape(out_shape)}, got y shape {y.shape}")
        elif name:
            if y.dtype != self.dtype:
                y = y.astype(self.dtype)
            if y.ndim == 1 and out_shape[1:] == (1,):
                y = y.reshape(-1, 1)    # (N,) targets for (N, 1) outputs, as Keras accepts
            if y.shape[1:] != out_shape[1:]:
                raise ValueError(f"{self._who()}.{op}: y shape {y.shape} does not match the model's "
                                 f"output shape {format_shape(out_shape)} for loss {name!r}")
        return y

    # --- one batch --------------------------------------------------------------------------------
    def _loss_and_predictions(self, xb, yb, training):
        """Forward + loss on one batch: (mean loss Tensor, output Tensor (the logits when the loss
        is computed from them))."""
        use_logits, loss_fn, _ = self._objective_parts()
        out = self.forward(Tensor(xb), training=training, logits=use_logits)
        per_sample = loss_fn(yb, out)
        loss = per_sample if per_sample.ndim == 0 else per_sample.mean()
        return loss, out

    def _probabilities(self, out):
        use_logits, _, activation = self._objective_parts()
        if not use_logits:
            return out.data
        with no_grad():
            return activation(Tensor(out.data)).data

    def _metric_sums(self, yb, out):
        if not self.compiled_metrics:
            return ()
        y_pred = self._probabilities(out)
        return [float(np.sum(m(yb, y_pred))) for m in self.compiled_metrics]

    # --- fit --------------------------------------------------------------------------------------
    def fit(self, x, y, batch_size=32, epochs=1, verbose="auto", callbacks=None, validation_split=0.0,
            validation_data=None, shuffle=True, initial_epoch=0, check_finite=True):
        """Train for `epochs` passes over (x, y); returns the History (Keras semantics).

        check_finite: refuse x, y or validation data holding NaN or infinity (ValueError naming the
        array and the first bad index; costs about one pass over the data); False skips the check."""
        self._require_compiled("fit")
        verbose = _verbosity(verbose)
        batch_size = _batch_size_arg("fit", batch_size)
        x = self._prepare_x("fit", x)
        y = self._prepare_y("fit", x, y)
        if check_finite:
            require_finite(f"{self._who()}.fit", [("x", x), ("y", y)])
        if not 0.0 <= validation_split < 1.0:
            raise ValueError(f"{self._who()}.fit: validation_split must be in [0, 1), got {validation_split}")
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
                raise ValueError(f"{self._who()}.fit: validation_data must be a tuple (x_val, y_val)")
            x_val = self._prepare_x("fit", validation_data[0])
            y_val = self._prepare_y("fit", x_val, validation_data[1])
            if check_finite:
                require_finite(f"{self._who()}.fit", [("validation_data x", x_val),
                                                      ("validation_data y", y_val)])
        elif validation_split:
            split = int(math.floor(len(x) * (1.0 - validation_split)))   # Keras: the LAST fraction
            if split == 0 or split == len(x):
                raise ValueError(f"{self._who()}.fit: validation_split={validation_split} leaves no "
                                 f"training or no validation samples out of {len(x)}")
            x, x_val, y, y_val = x[:split], x[split:], y[:split], y[split:]
        else:
            x_val = y_val = None
        if len(x) == 0:
            raise ValueError(f"{self._who()}.fit: no training samples (x shape {x.shape})")

        n = len(x)
        steps = math.ceil(n / batch_size)
        history = History()
        callbacks = CallbackList(([] if callbacks is None else list(callbacks)) + [history], self,
                                 {"epochs": epochs, "steps": steps, "verbose": verbose})
        weights = self.trainable_weights
        optimizer = self.optimizer
        metric_names = [m.name for m in self.compiled_metrics]
        self.stop_training = False
        callbacks.on_train_begin()
        for epoch in range(initial_epoch, epochs):
            callbacks.on_epoch_begin(epoch)
            if verbose:
                print(f"Epoch {epoch + 1}/{epochs}")
            order = get_rng().permutation(n) if shuffle else None
            progbar = Progbar(steps, verbose=verbose)
            loss_sum, metric_sums, seen = 0.0, [0.0] * len(metric_names), 0
            for step in range(steps):
                lo, hi = step * batch_size, min((step + 1) * batch_size, n)
                if order is None:
                    xb, yb = x[lo:hi], y[lo:hi]
                else:
                    index = order[lo:hi]
                    xb, yb = x.take(index, axis=0), y.take(index, axis=0)
                for c in callbacks.batch_begin:
                    c.on_train_batch_begin(step)
                for w in weights:
                    w.grad = None
                with defer_interrupts():   # Ctrl-C lands between steps, never inside one
                    loss, out = self._loss_and_predictions(xb, yb, training=True)
                    loss.backward()
                    optimizer.apply_gradients([(w.grad, w) for w in weights])
                size = hi - lo
                seen += size
                loss_sum += float(loss.data) * size
                for i, s in enumerate(self._metric_sums(yb, out)):
                    metric_sums[i] += s
                if verbose == 1 or callbacks.batch_end:
                    logs = self._logs(loss_sum, metric_names, metric_sums, seen)
                    progbar.update(step + 1, list(logs.items()))
                    for c in callbacks.batch_end:
                        c.on_train_batch_end(step, logs)
            logs = self._logs(loss_sum, metric_names, metric_sums, seen)
            if x_val is not None:
                values = self._evaluate_arrays(x_val, y_val, batch_size, verbose=0)
                logs.update({"val_" + k: v for k, v in values.items()})
            progbar.finish(list(logs.items()))
            callbacks.on_epoch_end(epoch, logs)
            if world.on_any_process(self.stop_training):   # every process of a job stops alike
                break
        callbacks.on_train_end()
        self.history = history
        return history

    @staticmethod
    def _logs(loss_sum, metric_names, metric_sums, count):
        logs = {"loss": loss_sum / count}
        for name, s in zip(metric_names, metric_sums):
            logs[name] = s / count
        return logs

    # --- evaluate / predict -------------------------------------------------------------------------
    def _evaluate_arrays(self, x, y, batch_size, verbose):
        n = len(x)
        if n == 0:
            raise ValueError(f"{self._who()}.evaluate: no samples (x shape {x.shape})")
        steps = math.ceil(n / batch_size)
        metric_names = [m.name for m in self.compiled_metrics]
        loss_sum, metric_sums = 0.0, [0.0] * len(metric_names)
        progbar = Progbar(steps, verbose=verbose)
        with no_grad():
            for step in range(steps):
                lo, hi = step * batch_size, min((step + 1) * batch_size, n)
                loss, out = self._loss_and_predictions(x[lo:hi], y[lo:hi], training=False)
                loss_sum += float(loss.data) * (hi - lo)
                for i, s in enumerate(self._metric_sums(y[lo:hi], out)):
                    metric_sums[i] += s
                progbar.update(step + 1)
        logs = self._logs(loss_sum, metric_names, metric_sums, n)
        progbar.finish(list(logs.items()))
        return logs

    def evaluate(self, x, y, batch_size=32, verbose="auto", return_dict=False, check_finite=True):
        """Loss and metrics over (x, y): `[loss, *metrics]`, a float without metrics, or a dict.
        check_finite: as in `fit`."""
        self._require_compiled("evaluate")
        batch_size = _batch_size_arg("evaluate", batch_size)
        x = self._prepare_x("evaluate", x)
        y = self._prepare_y("evaluate", x, y)
        if check_finite:
            require_finite(f"{self._who()}.evaluate", [("x", x), ("y", y)])
        logs = self._evaluate_arrays(x, y, batch_size, _verbosity(verbose))
        if return_dict:
            return logs
        values = list(logs.values())
        return values[0] if len(values) == 1 else values

    def predict(self, x, batch_size=32, verbose="auto"):
        """The model's outputs for x, as a NumPy array (no graph is recorded)."""
        batch_size = _batch_size_arg("predict", batch_size)
        verbose = _verbosity(verbose)
        x = self._prepare_x("predict", x)
        n = len(x)
        steps = math.ceil(n / batch_size)
        progbar = Progbar(steps, verbose=verbose)
        outputs = []
        with no_grad():
            for step in range(steps):
                outputs.append(self.forward(Tensor(x[step * batch_size:(step + 1) * batch_size])).data)
                progbar.update(step + 1)
        progbar.finish()
        if not outputs:
            return np.zeros(self.compute_output_shape((0,) + x.shape[1:]), self.dtype)
        return np.concatenate(outputs) if len(outputs) > 1 else outputs[0]

    def __call__(self, inputs, training=False):
        x = inputs if isinstance(inputs, Tensor) else Tensor(inputs)
        if x.ndim == 0:
            raise ValueError(f"{self._who()}: expected a batch of inputs, got a scalar")
        self.check_input_shape(x.shape)
        self.build_for((None,) + x.shape[1:])
        if x.dtype != self.dtype and x.dtype.kind == "f":
            x = x.astype(self.dtype)
        return self.forward(x, training=training)

    # --- saving and summary --------------------------------------------------------------------------
    def save(self, path):
        """Write architecture, compile settings, weights and optimizer state (see nnx.models.saving)."""
        from nnx.models.saving import save_model
        save_model(self, path)

    def summary(self, profile=False, batch_size=32, print_fn=print):
        """Print Keras' summary table; with profile=True also per-layer FLOPs, activation memory and
        measured forward/backward times at `batch_size`."""
        from nnx.models.summary import summary_text
        print_fn(summary_text(self, profile=profile, batch_size=batch_size))
