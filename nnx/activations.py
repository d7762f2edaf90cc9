"""Activation functions by name, as layers' `activation=` argument takes them.

Each is a differentiable callable Tensor -> Tensor. The core ones are the fused ops of
`nnx.functional`; the rest are short compositions of them, so their gradients come from the engine.
`get(name)` returns the module-level function itself, so layers can recognise e.g. `softmax` by
identity (to train softmax + cross-entropy from the logits).
"""

from nnx import functional as F
from nnx.utils.names import unknown_name_error


def linear(x):
    """The identity (Keras' 'linear'; also what `activation=None` means)."""
    return x


def relu(x):
    return F.relu(x)


def sigmoid(x):
    return F.sigmoid(x)


def tanh(x):
    return F.tanh(x)


def softmax(x, axis=-1):
    return F.softmax(x, axis=axis)


def log_softmax(x, axis=-1):
    return F.log_softmax(x, axis=axis)


def exponential(x):
    return F.exp(x)


def softplus(x):
    """log(1 + e^x), computed as relu(x) + log(1 + e^-|x|) so large |x| cannot overflow."""
    return F.relu(x) + F.log(1.0 + F.exp(-F.abs(x)))


def softsign(x):
    return x / (1.0 + F.abs(x))


def swish(x):
    """x * sigmoid(x) (also called silu)."""
    return x * F.sigmoid(x)


def leaky_relu(x, negative_slope=0.2):
    """x for x > 0, negative_slope * x otherwise (Keras' default slope 0.2)."""
    return F.leaky_relu(x, negative_slope)


def elu(x, alpha=1.0):
    """x for x > 0, alpha * (e^x - 1) otherwise."""
    return F.elu(x, alpha)


_SELU_ALPHA = 1.6732632423543772
_SELU_SCALE = 1.0507009873554805


def selu(x):
    return _SELU_SCALE * elu(x, _SELU_ALPHA)


def hard_sigmoid(x):
    """Keras 3's piecewise-linear sigmoid: relu6(x + 3) / 6 = clip(x / 6 + 1/2, 0, 1)."""
    return F.clip(x * (1.0 / 6.0) + 0.5, 0.0, 1.0)


_BY_NAME = {f.__name__: f for f in (
    linear, relu, sigmoid, tanh, softmax, log_softmax, exponential, softplus, softsign, swish,
    leaky_relu, elu, selu, hard_sigmoid)}
_BY_NAME["silu"] = swish
_NAME_OF = {f: name for name, f in _BY_NAME.items() if name != "silu"}


def get(identifier):
    """The activation for a name, None (-> linear) or a callable (returned unchanged)."""
    if identifier is None:
        return linear
    if isinstance(identifier, str):
        fn = _BY_NAME.get(identifier.lower())
        if fn is None:
            raise unknown_name_error("activations.get", "activation", identifier.lower(),
                                     sorted(_BY_NAME))
        return fn
    if callable(identifier):
        return identifier
    raise TypeError(f"activations.get: expected a name, None or a callable, got "
                    f"{type(identifier).__name__}")


def serialize(activation):
    """The name under which `get` finds `activation` (a custom callable gives its __name__)."""
    if activation is None:
        return "linear"
    if isinstance(activation, str):
        return get(activation).__name__
    name = _NAME_OF.get(activation)
    if name is not None:
        return name
    name = getattr(activation, "__name__", None)
    if not isinstance(name, str):
        raise ValueError(f"activations.serialize: {activation!r} has no name to serialise")
    return name

