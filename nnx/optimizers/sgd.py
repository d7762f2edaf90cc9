"""SGD with optional (Nesterov) momentum, Keras 3's rule (keras/src/optimizers/sgd.py):

    m = momentum*m - lr*g;  w += m                  (no momentum: w -= lr*g)
    nesterov: m = momentum*m - lr*g;  w += momentum*m - lr*g

O(size) per weight, no temporaries (one shared scratch buffer).
"""
import numpy as np

from nnx.optimizers.base import Optimizer


class SGD(Optimizer):
    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, name=None, **base):
        super().__init__(learning_rate, name or "SGD", **base)
        momentum = float(momentum)
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"SGD: momentum must be in [0, 1], got {momentum}")
        self.momentum, self.nesterov = momentum, bool(nesterov)

    def _slot_specs(self):
        return [("momentum", 0.0)] if self.momentum != 0 else []

    def _update(self, w, g, slots):
        tmp = self._scratch_like(w)
        np.multiply(g, self._lr, out=tmp)                     # lr*g
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
