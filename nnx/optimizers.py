"""Optimizers with Keras 3's update rules, applied in place to each weight's NumPy array.

`apply_gradients([(gradient, weight), ...])` updates `weight.data` (a Tensor's array, or a bare
ndarray) in place, in the weight's own dtype, then counts one iteration. Gradients may be arrays or
Tensors; None gradients are skipped. Keras' rules, t = iterations + 1 (the step being taken):

    SGD       m = momentum*m - lr*g;  w += m    (no momentum: w -= lr*g)
              nesterov: m = momentum*m - lr*g;  w += momentum*m - lr*g
    Adam      m += (g - m)(1 - b1);  v += (g^2 - v)(1 - b2)
              w -= m * lr*sqrt(1 - b2^t)/(1 - b1^t) / (sqrt(v) + eps)      eps outside the sqrt
    RMSprop   v = rho*v + (1 - rho) g^2;  inc = lr*g / sqrt(v + eps)       eps inside the sqrt
              (centered: a = rho*a + (1 - rho) g;  inc = lr*g / sqrt(v - a^2 + eps))
              momentum > 0: m = momentum*m + inc;  w -= m;  else w -= inc
    Adagrad   acc += g^2  (acc starts at initial_accumulator_value);  w -= lr*g / sqrt(acc + eps)

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

from nnx.tensor import Tensor
from nnx.utils.config import Configurable
from nnx.utils.names import unknown_name_error


class Optimizer(Configurable):
    """Base class: slot bookkeeping, gradient checks, state and config. Subclasses define
    `_slot_specs()` -> [(slot name, initial value)] and `_update(w, g, slots, scratch)`."""

    def __init__(self, learning_rate, name=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None):
        who = type(self).__name__
        self.learning_rate = _positive(learning_rate, "learning_rate", who)
        self.name = name or who.lower()
        self.clipnorm, self.clipvalue, self.global_clipnorm = (
            None if v is None else _positive(v, what, who)
            for v, what in ((clipnorm, "clipnorm"), (clipvalue, "clipvalue"),
                            (global_clipnorm, "global_clipnorm")))
        if sum(v is not None for v in (clipnorm, clipvalue, global_clipnorm)) > 1:
            raise ValueError(f"{who}: only one of clipnorm, clipvalue and global_clipnorm can be "
                             f"set, got {clipnorm}, {clipvalue} and {global_clipnorm}")
        self.iterations = 0
        self._index = {}        # id(weight) -> variable index
        self._variables = []    # keeps the weights alive, so their ids stay unique
        self._slots = []        # per variable index: list of slot arrays, in _slot_specs() order
        self._scratch = {}      # dtype -> flat buffer, grown to the largest weight
        self._pending = {}      # state loaded before its variable was seen: index -> {slot: array}

    # --- the update loop -------------------------------------------------------------------------
    def apply_gradients(self, grads_and_vars):
        """Update each weight in place from its gradient; skips None gradients; one iteration."""
        pairs = []
        for pair in grads_and_vars:
            try:
                grad, var = pair
            except (TypeError, ValueError):
                raise TypeError(f"{self._who()}: apply_gradients expects (gradient, weight) pairs, "
                                f"got {pair!r}") from None
            if grad is None:
                continue
            w = _array_of(var, self._who())
            g = grad.data if isinstance(grad, Tensor) else np.asarray(grad)
            if g.shape != w.shape:
                raise ValueError(f"{self._who()}: gradient shape {g.shape} does not match weight "
                                 f"shape {w.shape}" + _named(var))
            if g.dtype != w.dtype:
                if g.dtype.kind not in "fiub":
                    raise TypeError(f"{self._who()}: gradient dtype {g.dtype} is not numeric"
                                    + _named(var))
                g = g.astype(w.dtype)
            pairs.append((g, w, self._slots_for(var, w)))
        if self.clipnorm or self.global_clipnorm or self.clipvalue:
            pairs = self._clipped(pairs)
        self._prepare()
        for g, w, slots in pairs:
            self._update(w, g, slots, self._scratch_like(w))
        self.iterations += 1

    def _clipped(self, pairs):
        """Keras' gradient clipping, into new arrays (the caller's gradients are never modified):
        clipnorm: each g * c / max(|g|, c); global_clipnorm: every g * c / max(global norm, c);
        clipvalue: clip(g, -c, c)."""
        if self.clipnorm:
            c = self.clipnorm
            return [(g * (c / max(math.sqrt(np.vdot(g, g)), c)), w, s) for g, w, s in pairs]
        if self.global_clipnorm:
            c = self.global_clipnorm
            norm = math.sqrt(sum(float(np.vdot(g, g)) for g, _, _ in pairs))
            return [(g * (c / max(norm, c)), w, s) for g, w, s in pairs]
        c = self.clipvalue
        return [(np.clip(g, -c, c), w, s) for g, w, s in pairs]

    def _prepare(self):
        """Per-step scalars shared by every weight (computed once per apply_gradients)."""

    def _update(self, w, g, slots, tmp):
        raise NotImplementedError

    def _slot_specs(self):
        return []

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

    def _scratch_like(self, w):
        buf = self._scratch.get(w.dtype)
        if buf is None or buf.size < w.size:
            buf = self._scratch[w.dtype] = np.empty(w.size, w.dtype)
        return buf[:w.size].reshape(w.shape)

    def _who(self):
        return f"{type(self).__name__} optimizer '{self.name}'"

    # --- state (for save / load) ---------------------------------------------------------------
    def get_state(self):
        """{'iterations': int64 array, '<slot>/<index>': slot array}, copies."""
        state = {"iterations": np.array(self.iterations, dtype=np.int64)}
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
        parsed = {}
        for key, value in state.items():
            if key == "iterations":
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
        config = {"name": self.name, "learning_rate": self.learning_rate}
        for key in ("clipnorm", "clipvalue", "global_clipnorm"):   # only when set: a short config
            if getattr(self, key) is not None:
                config[key] = getattr(self, key)
        return config


class SGD(Optimizer):
    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, name=None, **clipping):
        super().__init__(learning_rate, name or "SGD", **clipping)
        momentum = float(momentum)
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"SGD: momentum must be in [0, 1], got {momentum}")
        self.momentum, self.nesterov = momentum, bool(nesterov)

    def _slot_specs(self):
        return [("momentum", 0.0)] if self.momentum != 0 else []

    def _update(self, w, g, slots, tmp):
        np.multiply(g, self.learning_rate, out=tmp)           # lr*g
        if not slots:
            w -= tmp
            return
        m = slots[0]
        m *= self.momentum
        m -= tmp                                              # m = momentum*m - lr*g
        if self.nesterov:
            w -= tmp
            np.multiply(m, self.momentum, out=tmp)
            w += tmp                                          # w += momentum*m - lr*g
        else:
            w += m

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


class Adam(Optimizer):
    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, name=None,
                 **clipping):
        super().__init__(learning_rate, name or "adam", **clipping)
        self.beta_1 = _unit(beta_1, "beta_1", "Adam")
        self.beta_2 = _unit(beta_2, "beta_2", "Adam")
        self.epsilon = _positive(epsilon, "epsilon", "Adam", allow_zero=True)

    def _slot_specs(self):
        return [("momentum", 0.0), ("velocity", 0.0)]

    def _prepare(self):
        t = self.iterations + 1
        self._alpha = (self.learning_rate * math.sqrt(1.0 - self.beta_2 ** t)
                       / (1.0 - self.beta_1 ** t))

    def _update(self, w, g, slots, tmp):
        m, v = slots
        np.subtract(g, m, out=tmp)
        tmp *= 1.0 - self.beta_1
        m += tmp                                              # m += (g - m)(1 - b1)
        np.square(g, out=tmp)
        tmp -= v
        tmp *= 1.0 - self.beta_2
        v += tmp                                              # v += (g^2 - v)(1 - b2)
        np.sqrt(v, out=tmp)
        tmp += self.epsilon
        np.divide(m, tmp, out=tmp)
        tmp *= self._alpha
        w -= tmp                                              # w -= alpha m / (sqrt(v) + eps)

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon}


class RMSprop(Optimizer):
    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False,
                 name=None, **clipping):
        super().__init__(learning_rate, name or "rmsprop", **clipping)
        self.rho = _unit(rho, "rho", "RMSprop")
        self.momentum = float(momentum)
        if not 0.0 <= self.momentum <= 1.0:
            raise ValueError(f"RMSprop: momentum must be in [0, 1], got {momentum}")
        self.epsilon = _positive(epsilon, "epsilon", "RMSprop", allow_zero=True)
        self.centered = bool(centered)

    def _slot_specs(self):
        specs = [("velocity", 0.0)]
        if self.momentum > 0:
            specs.append(("momentum", 0.0))
        if self.centered:
            specs.append(("average_gradient", 0.0))
        return specs

    def _update(self, w, g, slots, tmp):
        v = slots[0]
        v *= self.rho
        np.square(g, out=tmp)
        tmp *= 1.0 - self.rho
        v += tmp                                              # v = rho v + (1 - rho) g^2
        if self.centered:
            a = slots[-1]
            a *= self.rho
            np.multiply(g, 1.0 - self.rho, out=tmp)
            a += tmp                                          # a = rho a + (1 - rho) g
            np.square(a, out=tmp)
            np.subtract(v, tmp, out=tmp)
            tmp += self.epsilon
        else:
            np.add(v, self.epsilon, out=tmp)
        np.sqrt(tmp, out=tmp)
        np.divide(g, tmp, out=tmp)
        tmp *= self.learning_rate                             # inc = lr g / sqrt(v + eps)
        if self.momentum > 0:
            m = slots[1]
            m *= self.momentum
            m += tmp
            w -= m
        else:
            w -= tmp

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "momentum": self.momentum,
                "epsilon": self.epsilon, "centered": self.centered}


class Adagrad(Optimizer):
    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7, name=None,
                 **clipping):
        super().__init__(learning_rate, name or "adagrad", **clipping)
        self.initial_accumulator_value = _positive(
            initial_accumulator_value, "initial_accumulator_value", "Adagrad", allow_zero=True)
        self.epsilon = _positive(epsilon, "epsilon", "Adagrad", allow_zero=True)

    def _slot_specs(self):
        return [("accumulator", self.initial_accumulator_value)]

    def _update(self, w, g, slots, tmp):
        acc = slots[0]
        np.square(g, out=tmp)
        acc += tmp                                            # acc += g^2
        np.add(acc, self.epsilon, out=tmp)
        np.sqrt(tmp, out=tmp)
        np.divide(g, tmp, out=tmp)
        tmp *= self.learning_rate
        w -= tmp                                              # w -= lr g / sqrt(acc + eps)

    def get_config(self):
        return {**super().get_config(),
                "initial_accumulator_value": self.initial_accumulator_value,
                "epsilon": self.epsilon}


# --- helpers -------------------------------------------------------------------------------------
def _positive(value, what, who, allow_zero=False):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{who}: {what} must be a number, got {value!r}")
    value = float(value)
    if not (value >= 0 if allow_zero else value > 0) or not math.isfinite(value):
        raise ValueError(f"{who}: {what} must be {'non-negative' if allow_zero else 'positive'} "
                         f"and finite, got {value}")
    return value


def _unit(value, what, who):
    value = _positive(value, what, who, allow_zero=True)
    if not value < 1:
        raise ValueError(f"{who}: {what} must be in [0, 1), got {value}")
    return value


def _array_of(var, who):
    data = var.data if isinstance(var, Tensor) else var
    if not isinstance(data, np.ndarray):
        raise TypeError(f"{who}: weights must be Tensors or NumPy arrays, got {type(var).__name__}")
    return data


def _named(var):
    name = getattr(var, "name", None)
    return f" ('{name}')" if isinstance(name, str) else ""


_CLASSES = {"sgd": SGD, "adam": Adam, "rmsprop": RMSprop, "adagrad": Adagrad}


def get(identifier):
    """An optimizer from a name ('adam', 'SGD', ...; Keras' defaults), a config dict
    {'class_name': ..., 'config': {...}}, an Optimizer class, or an instance (returned unchanged)."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Optimizer):
        return identifier()
    if isinstance(identifier, str):
        return _class(identifier)()
    if isinstance(identifier, dict):
        if "class_name" not in identifier:
            raise ValueError(f"optimizers.get: a config dict needs 'class_name', "
                             f"got {identifier!r}")
        return _class(identifier["class_name"]).from_config(identifier.get("config", {}))
    raise TypeError(f"optimizers.get: expected a name, config dict or Optimizer, got "
                    f"{type(identifier).__name__}")


def serialize(optimizer):
    """{'class_name', 'config'} for `get` to rebuild the optimizer (state travels separately)."""
    return {"class_name": type(optimizer).__name__, "config": optimizer.get_config()}


def _class(name):
    cls = _CLASSES.get(name.lower())
    if cls is None:
        raise unknown_name_error("optimizers.get", "optimizer", name.lower(), _CLASSES)
    return cls
