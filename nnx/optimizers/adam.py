"""The Adam family, Keras 3's rules (keras/src/optimizers/adam.py, adamw.py, nadam.py, adamax.py);
t = iterations + 1, every rule O(size) per weight with no weight-sized temporaries:

    Adam     m += (g - m)(1 - b1);  v += (g^2 - v)(1 - b2)
             (amsgrad: v_hat = max(v_hat, v), used in place of v)
             w -= m * lr*sqrt(1 - b2^t)/(1 - b1^t) / (sqrt(v) + eps)        eps outside the sqrt
             one fused pass per weight, one call for all of them: the backend's adam_update
             (csrc/optim.c natively)
    AdamW    Adam with decoupled weight decay on by default (weight_decay=0.004)
    Nadam    u_t = b1 (1 - 0.5*0.96^t),  u_{t+1} likewise,  U_t = u_1 ... u_t (optimizer state)
             m, v as Adam;  m_hat = u_{t+1} m / (1 - U_t u_{t+1}) + (1 - u_t) g / (1 - U_t)
             w -= lr * m_hat / (sqrt(v / (1 - b2^t)) + eps)
    Adamax   m += (g - m)(1 - b1);  u = max(b2 u, |g|);  w -= lr m / ((1 - b1^t)(u + eps))
"""
import math

import numpy as np

from nnx import backend
from nnx.optimizers.base import Optimizer, _positive, _unit


class Adam(Optimizer):
    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False,
                 name=None, **base):
        super().__init__(learning_rate, name or type(self).__name__.lower(), **base)
        who = type(self).__name__
        self.beta_1 = _unit(beta_1, "beta_1", who)
        self.beta_2 = _unit(beta_2, "beta_2", who)
        self.epsilon = _positive(epsilon, "epsilon", who, allow_zero=True)
        self.amsgrad = bool(amsgrad)

    def _slot_specs(self):
        specs = [("momentum", 0.0), ("velocity", 0.0)]
        return specs + [("velocity_hat", 0.0)] if self.amsgrad else specs

    def _prepare(self):
        t = self.iterations + 1
        self._alpha = self._lr * math.sqrt(1.0 - self.beta_2 ** t) / (1.0 - self.beta_1 ** t)

    def _update_all(self, pairs):
        # one kernel call for every weight of the step: per call, the checks of the scalars, the
        # thread count and the release of the GIL are done once, not once per weight
        backend.kernels().adam_update(
            [w for _, w, _, _ in pairs], [g for g, _, _, _ in pairs], [s[0] for _, _, s, _ in pairs],
            [s[1] for _, _, s, _ in pairs], [s[2] for _, _, s, _ in pairs] if self.amsgrad else None,
            self._alpha, self.beta_1, self.beta_2, self.epsilon)

    def get_config(self):
        config = {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                  "epsilon": self.epsilon}
        if self.amsgrad:
            config["amsgrad"] = True
        return config


class AdamW(Adam):
    def __init__(self, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999,
                 epsilon=1e-7, amsgrad=False, name=None, **base):
        if weight_decay is None:
            raise ValueError("AdamW: weight_decay must be a number (use Adam for no decay)")
        super().__init__(learning_rate, beta_1, beta_2, epsilon, amsgrad, name,
                         weight_decay=weight_decay, **base)


class Nadam(Adam):
    _scalar_state = ("u_product",)

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, name=None,
                 **base):
        super().__init__(learning_rate, beta_1, beta_2, epsilon, False, name, **base)
        self.u_product = 1.0

    def _prepare(self):
        t = self.iterations + 1
        self._u_t = self.beta_1 * (1.0 - 0.5 * 0.96 ** t)
        self._u_next = self.beta_1 * (1.0 - 0.5 * 0.96 ** (t + 1))
        self.u_product *= self._u_t
        self._v_scale = 1.0 / (1.0 - self.beta_2 ** t)

    _update_all = Optimizer._update_all      # its own rule, weight by weight (not Adam's kernel)

    def _update(self, w, g, slots):
        tmp = self._scratch_like(w)
        m, v = slots
        np.subtract(g, m, out=tmp)
        tmp *= 1.0 - self.beta_1
        m += tmp                                              # m += (g - m)(1 - b1)
        np.square(g, out=tmp)
        tmp -= v
        tmp *= 1.0 - self.beta_2
        v += tmp                                              # v += (g^2 - v)(1 - b2)
        m_hat = self._scratch_like(w, second=True)
        np.multiply(m, self._u_next / (1.0 - self.u_product * self._u_next), out=m_hat)
        np.multiply(g, (1.0 - self._u_t) / (1.0 - self.u_product), out=tmp)
        m_hat += tmp                                          # m_hat
        np.multiply(v, self._v_scale, out=tmp)
        np.sqrt(tmp, out=tmp)
        tmp += self.epsilon                                   # sqrt(v / (1 - b2^t)) + eps
        np.divide(m_hat, tmp, out=tmp)
        tmp *= self._lr
        w -= tmp                                              # w -= lr m_hat / (sqrt(v_hat) + eps)


class Adamax(Optimizer):
    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, name=None,
                 **base):
        super().__init__(learning_rate, name or "adamax", **base)
        self.beta_1 = _unit(beta_1, "beta_1", "Adamax")
        self.beta_2 = _unit(beta_2, "beta_2", "Adamax")
        self.epsilon = _positive(epsilon, "epsilon", "Adamax", allow_zero=True)

    def _slot_specs(self):
        return [("momentum", 0.0), ("norm", 0.0)]

    def _prepare(self):
        self._step = self._lr / (1.0 - self.beta_1 ** (self.iterations + 1))

    def _update(self, w, g, slots):
        tmp = self._scratch_like(w)
        m, u = slots
        np.subtract(g, m, out=tmp)
        tmp *= 1.0 - self.beta_1
        m += tmp                                              # m += (g - m)(1 - b1)
        u *= self.beta_2
        np.abs(g, out=tmp)
        np.maximum(u, tmp, out=u)                             # u = max(b2 u, |g|)
        np.add(u, self.epsilon, out=tmp)
        np.divide(m, tmp, out=tmp)
        tmp *= self._step
        w -= tmp                                              # w -= lr m / ((1 - b1^t)(u + eps))

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon}
