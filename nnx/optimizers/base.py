"""Optimizers with Keras 3's update rules, applied in place to each weight's NumPy array.

`apply_gradients([(gradient, weight), ...])` updates `weight.data` (a Tensor's array, or a bare
ndarray) in place, in the weight's own dtype, then counts one iteration. Gradients may be arrays or
Tensors; None gradients are skipped. The update rules live in sgd.py, adam.py and adaptive.py; this
module is what they share, in Keras 3's order (keras/src/optimizers/base_optimizer.py):

    1. clip the gradients (below);
    2. the learning rate of this step: a float, or a schedule / callable evaluated at `iterations`
       (0 is valid: frozen and warm-up runs use it);
    3. weight decay (`weight_decay`, decoupled as Keras does it): w -= w * weight_decay * lr;
    4. the rule's update;  5. iterations += 1.

Gradient clipping as Keras (at most one of them): `clipnorm` scales each gradient to an L2 norm of
at most clipnorm, `global_clipnorm` scales all of them together, `clipvalue` clips elementwise.

Speed: this runs once per training step (1,875 times per MNIST epoch), so every update is a handful
of NumPy ufunc calls with `out=` into preallocated slots and one reusable scratch buffer per dtype:
no temporaries of the weight's size, no per-element Python.

State: slots are created the first time a weight is seen and indexed in that order (Keras' variable
index); `get_state()` returns {'iterations': ..., '<slot>/<index>': array}; `set_state()` restores
it, also before the weights are seen (the slots are filled when weight `index` first arrives).
"""
import math

import numpy as np

from nnx.optimizers import schedules
from nnx.tensor import Tensor
from nnx.utils.config import Configurable


class Optimizer(Configurable):
    """Base class: slot bookkeeping, gradient checks, state and config. Subclasses define
    `_slot_specs()` -> [(slot name, initial value)] and `_update(w, g, slots)` (taking a scratch
    buffer from `_scratch_like(w)` where the rule needs one), or `_update_all(pairs)` for all the
    weights of a step at once."""

    def __init__(self, learning_rate, name=None, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None):
        who = type(self).__name__
        self.name = name or who.lower()
        self._learning_rate = _learning_rate_arg(learning_rate, who)
        self.weight_decay = (None if weight_decay is None
                             else _positive(weight_decay, "weight_decay", who, allow_zero=True))
        self.clipnorm, self.clipvalue, self.global_clipnorm = (
            None if v is None else _positive(v, what, who)
            for v, what in ((clipnorm, "clipnorm"), (clipvalue, "clipvalue"),
                            (global_clipnorm, "global_clipnorm")))
        if sum(v is not None for v in (clipnorm, clipvalue, global_clipnorm)) > 1:
            raise ValueError(f"{who}: only one of clipnorm, clipvalue and global_clipnorm can be "
                             f"set, got {clipnorm}, {clipvalue} and {global_clipnorm}")
        self.iterations = 0
        self._lr = 0.0          # the learning rate of the step being taken
        self._index = {}        # id(weight) -> variable index
        self._variables = []    # keeps the weights alive, so their ids stay unique
        self._slots = []        # per variable index: list of slot arrays, in _slot_specs() order
        self._scratch = {}      # (dtype, second) -> flat buffer, grown to the largest weight
        self._pending = {}      # state loaded before its variable was seen: index -> {slot: array}
        self._no_decay_ids, self._no_decay_names = set(), ()

    # --- learning rate ---------------------------------------------------------------------------
    @property
    def learning_rate(self):
        """The current value: a schedule or callable is evaluated at `iterations`."""
        lr = self._learning_rate
        return float(lr(self.iterations)) if callable(lr) else lr

    @learning_rate.setter
    def learning_rate(self, value):
        if isinstance(self._learning_rate, schedules.LearningRateSchedule):
            raise TypeError(f"{self._who()}: the learning rate comes from the schedule "
                            f"{self._learning_rate!r}, so it cannot be set; create the optimizer "
                            f"with a float learning_rate to change it during training")
        self._learning_rate = _learning_rate_arg(value, type(self).__name__)

    def exclude_from_weight_decay(self, var_list=None, var_names=None):
        """Keep weight decay off these weights, or off weights whose name contains any of
        `var_names` (e.g. ['bias']), as Keras' method of the same name."""
        self._no_decay_ids = {id(v) for v in var_list or ()}
        self._no_decay_names = tuple(var_names or ())

    def _decays(self, var):
        if id(var) in self._no_decay_ids:
            return False
        name = getattr(var, "name", None) or ""
        return not any(part in name for part in self._no_decay_names)

    # --- the update loop -------------------------------------------------------------------------
    def apply_gradients(self, grads_and_vars):
        """Update each weight in place from its gradient; skips None gradients; one iteration."""
        lr = self.learning_rate
        if not (lr >= 0 and math.isfinite(lr)):
            raise ValueError(f"{self._who()}: the learning rate at step {self.iterations} is {lr}; "
                             f"it must be non-negative and finite")
        pairs = []
        for pair in grads_and_vars:
            try:
                grad, var = pair
            except (TypeError, ValueError):
                raise TypeError(f"{self._who()}: apply_gradients expects (gradient, weight) pairs, "
                                f"got {pair!r}") from None
            if grad is None:
                continue
            w = _array_of(var, self)
            g = grad.data if isinstance(grad, Tensor) else np.asarray(grad)
            if g.shape != w.shape:
                raise ValueError(f"{self._who()}: gradient shape {g.shape} does not match weight "
                                 f"shape {w.shape}" + _named(var))
            if g.dtype != w.dtype:
                if g.dtype.kind not in "fiub":
                    raise TypeError(f"{self._who()}: gradient dtype {g.dtype} is not numeric"
                                    + _named(var))
                g = g.astype(w.dtype)
            pairs.append((g, w, self._slots_for(var, w), var))
        if self.clipnorm or self.global_clipnorm or self.clipvalue:
            pairs = self._clipped(pairs)
        self._lr = lr
        self._prepare()
        decay = self.weight_decay * lr if self.weight_decay else 0.0
        if decay:
            for g, w, slots, var in pairs:
                if self._decays(var):
                    tmp = self._scratch_like(w)
                    np.multiply(w, decay, out=tmp)
                    w -= tmp                                  # Keras: w -= w * weight_decay * lr
        self._update_all(pairs)
        self.iterations += 1

    def _clipped(self, pairs):
        """Keras' gradient clipping, into new arrays (the caller's gradients are never modified):
        clipnorm: each g * c / max(|g|, c); global_clipnorm: every g * c / max(global norm, c);
        clipvalue: clip(g, -c, c)."""
        if self.clipnorm:
            c = self.clipnorm
            return [(g * (c / max(math.sqrt(np.vdot(g, g)), c)), *rest) for g, *rest in pairs]
        if self.global_clipnorm:
            c = self.global_clipnorm
            norm = math.sqrt(sum(float(np.vdot(g, g)) for g, *_ in pairs))
            return [(g * (c / max(norm, c)), *rest) for g, *rest in pairs]
        c = self.clipvalue
        return [(np.clip(g, -c, c), *rest) for g, *rest in pairs]

    def _prepare(self):
        """Per-step scalars shared by every weight (computed once per apply_gradients)."""

    def _update(self, w, g, slots):
        raise NotImplementedError

    def _update_all(self, pairs):
        """The rule's update of every (g, w, slots, var) of the step; a rule with a kernel for all the
        weights at once overrides this instead of `_update`."""
        for g, w, slots, _ in pairs:
            self._update(w, g, slots)

    def _slot_specs(self):
        return []

    # names of float attributes that are state of the optimizer as a whole (Nadam's u_product)
    _scalar_state = ()

    def _slots_for(self, var, w):
        index = self._index.get(id(var))
        if index is None:
            if not w.flags.writeable:
                raise ValueError(f"{self._who()}: weight{_named(var)} of shape {w.shape} is "
                                 f"read-only and cannot be updated in place")
            if w.dtype.kind != "f":
                raise TypeError(f"{self._who()}: weight{_named(var)} must be floating point, "
                                f"got dtype {w.dtype}")
            index = len(self._variables)
            self._index[id(var)] = index
            self._variables.append(var)
            self._slots.append([np.full(w.shape, value, w.dtype)
                                for _, value in self._slot_specs()])
            self._restore_pending(index)
        return self._slots[index]

    def _scratch_like(self, w, second=False):
        """A reusable buffer of w's shape and dtype (two per dtype, for rules that need two)."""
        key = (w.dtype, second)
        buf = self._scratch.get(key)
        if buf is None or buf.size < w.size:
            buf = self._scratch[key] = np.empty(w.size, w.dtype)
        return buf[:w.size].reshape(w.shape)

    def _who(self):
        return f"{type(self).__name__} optimizer '{self.name}'"

    # --- state (for save / load) ---------------------------------------------------------------
    def get_state(self):
        """{'iterations': int64 array, '<slot>/<index>': slot array}, copies."""
        state = {"iterations": np.array(self.iterations, dtype=np.int64)}
        for key in self._scalar_state:
            state[key] = np.array(getattr(self, key), dtype=np.float64)
        names = [name for name, _ in self._slot_specs()]
        for index, slots in enumerate(self._slots):
            for name, array in zip(names, slots):
                state[f"{name}/{index}"] = array.copy()
        for index, arrays in self._pending.items():
            for name, array in arrays.items():
                state[f"{name}/{index}"] = array.copy()
        return state

    def set_state(self, state):
        """Restore what get_state returned; checks every key and shape before changing anything."""
        names = [name for name, _ in self._slot_specs()]
        if "iterations" not in state:
            raise ValueError(f"{self._who()}: state has no 'iterations' entry")
        iterations = np.asarray(state["iterations"])
        if iterations.shape != () or iterations.dtype.kind not in "iu" or iterations < 0:
            raise ValueError(f"{self._who()}: 'iterations' must be a non-negative integer scalar, "
                             f"got {iterations!r}")
        scalars = {}
        for key in self._scalar_state:
            value = np.asarray(state.get(key, np.nan), dtype=np.float64)
            if value.shape != () or not np.isfinite(value):
                raise ValueError(f"{self._who()}: state needs a finite scalar {key!r}, got "
                                 f"{state.get(key)!r}")
            scalars[key] = float(value)
        parsed = {}
        for key, value in state.items():
            if key == "iterations" or key in scalars:
                continue
            name, _, index = key.rpartition("/")
            if name not in names or not index.isdigit():
                raise ValueError(f"{self._who()}: unexpected state entry {key!r} (slots are "
                                 f"{names or 'none'}, keyed '<slot>/<index>')")
            value = np.asarray(value)
            if value.dtype.kind != "f":
                raise ValueError(f"{self._who()}: state entry {key!r} must be floating point, "
                                 f"got dtype {value.dtype}")
            index = int(index)
            if index < len(self._slots):
                have = self._slots[index][names.index(name)]
                if value.shape != have.shape:
                    raise ValueError(f"{self._who()}: state entry {key!r} has shape {value.shape}, "
                                     f"the weight's slot has shape {have.shape}")
            parsed.setdefault(index, {})[name] = value
        for index, arrays in parsed.items():
            if index >= len(self._slots) and set(arrays) != set(names):
                raise ValueError(f"{self._who()}: state for variable {index} needs slots {names}, "
                                 f"got {sorted(arrays)}")
        self.iterations = int(iterations)
        for key, value in scalars.items():
            setattr(self, key, value)
        self._pending = {}
        for index, arrays in parsed.items():
            if index < len(self._slots):
                for name, value in arrays.items():
                    self._slots[index][names.index(name)][...] = value
            else:
                self._pending[index] = {name: value.copy() for name, value in arrays.items()}

    def _restore_pending(self, index):
        arrays = self._pending.pop(index, None)
        if arrays is None:
            return
        names = [name for name, _ in self._slot_specs()]
        slots = self._slots[index]
        for name, value in arrays.items():
            slot = slots[names.index(name)]
            if value.shape != slot.shape:
                raise ValueError(f"{self._who()}: loaded state '{name}/{index}' has shape "
                                 f"{value.shape}, but weight {index} has shape {slot.shape}")
            slot[...] = value

    # --- config ----------------------------------------------------------------------------------
    def get_config(self):
        lr = self._learning_rate
        if isinstance(lr, schedules.LearningRateSchedule):
            lr = schedules.serialize(lr)
        config = {"name": self.name, "learning_rate": lr}
        for key in ("weight_decay", "clipnorm", "clipvalue", "global_clipnorm"):   # only when set
            if getattr(self, key) is not None:
                config[key] = getattr(self, key)
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config.get("learning_rate"), dict):
            config["learning_rate"] = schedules.deserialize(config["learning_rate"])
        return cls(**config)


# --- helpers -------------------------------------------------------------------------------------
def _positive(value, what, who, allow_zero=False):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{who}: {what} must be a number, got {value!r}")
    value = float(value)
    if not (value >= 0 if allow_zero else value > 0) or not math.isfinite(value):
        raise ValueError(f"{who}: {what} must be {'non-negative' if allow_zero else 'positive'} "
                         f"and finite, got {value}")
    return value


def _learning_rate_arg(value, who):
    """A non-negative float (0 is valid: frozen or warm-up runs), a schedule, or a callable
    `step -> learning rate`."""
    if callable(value):
        return value
    return _positive(value, "learning_rate", who, allow_zero=True)


def _unit(value, what, who):
    value = _positive(value, what, who, allow_zero=True)
    if not value < 1:
        raise ValueError(f"{who}: {what} must be in [0, 1), got {value}")
    return value


def _array_of(var, optimizer):
    data = var.data if isinstance(var, Tensor) else var
    if not isinstance(data, np.ndarray):
        raise TypeError(f"{optimizer._who()}: weights must be Tensors or NumPy arrays, got {type(var).__name__}")
    return data


def _named(var):
    name = getattr(var, "name", None)
    return f" ('{name}')" if isinstance(name, str) else ""


