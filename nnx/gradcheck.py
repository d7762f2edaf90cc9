"""Finite-difference gradient check: the analytic gradients of autograd against central differences.

Everything runs in float64. The outputs of `fn` are reduced to one scalar L = sum_i <w_i, y_i> with
fixed random weights w_i, so ONE backward pass gives every input's analytic dL/dx, which is compared
with (L(x + eps e_j) - L(x - eps e_j)) / 2 eps for every element j of every input that requires grad.
A random (not all-ones) projection also catches gradients that are wrong only in some directions.
"""
import numpy as np

from nnx.autograd import enable_grad, no_grad
from nnx.tensor import Tensor


class GradcheckError(AssertionError):
    """Analytic and numeric gradients disagree; the message reports the worst element."""


class GradcheckResult:
    """Truthy when every element matched. `worst` = (input index, element index, analytic, numeric)
    of the element furthest outside the tolerance (or closest to it, on success)."""

    def __init__(self, ok, worst, checked):
        self.ok, self.worst, self.checked = ok, worst, checked

    def __bool__(self):
        return self.ok

    def __repr__(self):
        if self.worst is None:
            return f"GradcheckResult(ok={self.ok}, no input requires grad)"
        i, element, analytic, numeric = self.worst
        return (f"GradcheckResult(ok={self.ok}, elements checked={self.checked}, worst: input {i} "
                f"element {element}: analytic {analytic!r}, numeric {numeric!r})")


def _float64_inputs(inputs):
    out = []
    for x in inputs:
        if isinstance(x, Tensor) and x.dtype.kind == "f":
            out.append(Tensor(x.data.astype(np.float64), requires_grad=x.requires_grad))
        elif isinstance(x, np.ndarray) and x.dtype.kind == "f":
            out.append(Tensor(x.astype(np.float64)))
        else:
            out.append(x)
    return out


def _outputs(result):
    return result if isinstance(result, (tuple, list)) else (result,)


def numerical_gradient(f, x, eps=1e-6):
    """Central differences of the scalar `f()` with respect to every element of the array `x`.

    `x` is perturbed in place (and restored), so `f` must read it: `lambda: loss(x)`."""
    grad = np.zeros(x.shape, np.float64)
    for element in np.ndindex(*x.shape):
        original = x[element]
        x[element] = original + eps
        plus = f()
        x[element] = original - eps
        minus = f()
        x[element] = original
        grad[element] = (plus - minus) / (2 * eps)
    return grad


def gradcheck(fn, inputs, eps=1e-6, atol=1e-6, rtol=1e-5, raise_exception=True, seed=0):
    """Check `fn(*inputs)`'s gradients w.r.t. every input Tensor with requires_grad=True.

    Returns a GradcheckResult (truthy on success); raises GradcheckError on a mismatch unless
    raise_exception=False."""
    inputs = _float64_inputs(inputs)
    with enable_grad():
        outputs = _outputs(fn(*inputs))
    rng = np.random.default_rng(seed)
    weights = [rng.uniform(0.5, 1.5, np.shape(y)) * rng.choice([-1.0, 1.0], np.shape(y))
               for y in outputs]

    def project(ys):
        return sum(float(np.sum(np.asarray(y.data if isinstance(y, Tensor) else y, np.float64) * w))
                   for y, w in zip(ys, weights))

    tracked = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    for x in inputs:
        if isinstance(x, Tensor):
            x.grad = None
    with enable_grad():
        total = None
        for y, w in zip(outputs, weights):
            if isinstance(y, Tensor) and y.requires_grad:
                term = (y * Tensor(w)).sum()
                total = term if total is None else total + term
        if total is not None:
            total.backward()

    ok, worst, worst_excess, checked = True, None, -np.inf, 0
    for i in tracked:
        x = inputs[i]
        analytic = np.zeros(x.shape) if x.grad is None else np.asarray(x.grad, np.float64)
        with no_grad():  # x.data is perturbed in place, in whatever memory layout the caller chose
            numeric = numerical_gradient(lambda: project(_outputs(fn(*inputs))), x.data, eps)
        for element in np.ndindex(*x.shape):
            a, n = analytic[element], numeric[element]
            excess = abs(a - n) - (atol + rtol * abs(n))
            checked += 1
            if not excess <= 0:  # also catches NaN
                ok = False
            if excess > worst_excess or (worst is None) or np.isnan(excess):
                worst_excess = np.inf if np.isnan(excess) else excess
                worst = (i, tuple(int(k) for k in element), float(a), float(n))
    result = GradcheckResult(ok, worst, checked)
    if not ok and raise_exception:
        raise GradcheckError(f"gradcheck failed (eps={eps}, atol={atol}, rtol={rtol}): {result}")
    return result
