"""Per-coordinate adaptive rules, Keras 3's (keras/src/optimizers/rmsprop.py, adagrad.py,
adadelta.py); each O(size) per weight with no weight-sized temporaries:

    RMSprop   v = rho*v + (1 - rho) g^2;  inc = lr*g / sqrt(v + eps)       eps inside the sqrt
              (centered: a = rho*a + (1 - rho) g;  inc = lr*g / sqrt(v - a^2 + eps))
              momentum > 0: m = momentum*m + inc;  w -= m;  else w -= inc
    Adagrad   acc += g^2  (acc starts at initial_accumulator_value);  w -= lr*g / sqrt(acc + eps)
    Adadelta  G = rho G + (1 - rho) g^2;  d = -sqrt(D + eps) g / sqrt(G + eps)
              D = rho D + (1 - rho) d^2;  w += lr d
"""
import numpy as np

from nnx.optimizers.base import Optimizer, _positive, _unit


class RMSprop(Optimizer):
    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False,
                 name=None, **base):
        super().__init__(learning_rate, name or "rmsprop", **base)
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

    def _update(self, w, g, slots):
        tmp = self._scratch_like(w)
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
        tmp *= self._lr                                       # inc = lr g / sqrt(v + eps)
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
                 **base):
        super().__init__(learning_rate, name or "adagrad", **base)
        self.initial_accumulator_value = _positive(
            initial_accumulator_value, "initial_accumulator_value", "Adagrad", allow_zero=True)
        self.epsilon = _positive(epsilon, "epsilon", "Adagrad", allow_zero=True)

    def _slot_specs(self):
        return [("accumulator", self.initial_accumulator_value)]

    def _update(self, w, g, slots):
        tmp = self._scratch_like(w)
        acc = slots[0]
        np.square(g, out=tmp)
        acc += tmp                                            # acc += g^2
        np.add(acc, self.epsilon, out=tmp)
        np.sqrt(tmp, out=tmp)
        np.divide(g, tmp, out=tmp)
        tmp *= self._lr
        w -= tmp                                              # w -= lr g / sqrt(acc + eps)

    def get_config(self):
        return {**super().get_config(),
                "initial_accumulator_value": self.initial_accumulator_value,
                "epsilon": self.epsilon}


class Adadelta(Optimizer):
    def __init__(self, learning_rate=0.001, rho=0.95, epsilon=1e-7, name=None, **base):
        super().__init__(learning_rate, name or "adadelta", **base)
        self.rho = _unit(rho, "rho", "Adadelta")
        self.epsilon = _positive(epsilon, "epsilon", "Adadelta", allow_zero=True)

    def _slot_specs(self):
        return [("accumulated_grad", 0.0), ("accumulated_delta_var", 0.0)]

    def _update(self, w, g, slots):
        tmp = self._scratch_like(w)
        grads, deltas = slots
        grads *= self.rho
        np.square(g, out=tmp)
        tmp *= 1.0 - self.rho
        grads += tmp                                          # G = rho G + (1 - rho) g^2
        delta = self._scratch_like(w, second=True)
        np.add(deltas, self.epsilon, out=delta)
        np.sqrt(delta, out=delta)
        delta *= g
        np.add(grads, self.epsilon, out=tmp)
        np.sqrt(tmp, out=tmp)
        np.divide(delta, tmp, out=delta)
        np.negative(delta, out=delta)                         # d = -sqrt(D + eps) g / sqrt(G + eps)
        deltas *= self.rho
        np.square(delta, out=tmp)
        tmp *= 1.0 - self.rho
        deltas += tmp                                         # D = rho D + (1 - rho) d^2
        delta *= self._lr
        w += delta                                            # w += lr d

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "epsilon": self.epsilon}
