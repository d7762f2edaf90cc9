"""Looking inside a model: the outputs of its layers (`activations`, `activation_stats`) and the one
place that knows how to run a model while keeping chosen layers' outputs (`forward_keeping`), which
Grad-CAM also uses. Only Sequential models are supported today; other model kinds extend
`forward_keeping` alone.
"""
import numpy as np

from nnx.autograd import no_grad
from nnx.explain._core import DEFAULT_BATCH_SIZE, as_input_batch, check_batch_size, is_nnx_model
from nnx.tensor import Tensor


def check_model(op, model):
    if not is_nnx_model(model):
        raise TypeError(f"{op}: needs an nnx model (its layers), got {type(model).__name__}")


def resolve_layer(op, model, layer):
    """The model's layer named `layer`, or `layer` itself when it is one of the model's layers."""
    check_model(op, model)
    for candidate in getattr(model, "layers", []):
        if candidate is layer or (isinstance(layer, str) and candidate.name == layer):
            return candidate
    names = [l.name for l in getattr(model, "layers", [])]
    what = repr(layer) if isinstance(layer, str) else f"layer {getattr(layer, 'name', layer)!r}"
    raise ValueError(f"{op}: {what} is not a layer of {model._who()}; its layers are {names}")


def forward_keeping(op, model, x, keep, as_leaves=False):
    """Run `model` on the batch x (training=False) and keep the outputs of the layers in `keep`.

    Returns (output Tensor, {layer name: output Tensor}). With `as_leaves=True` each kept output is
    replaced by a fresh leaf Tensor that requires grad, and the rest of the forward pass is built on
    it, so one backward from the output gives the gradient with respect to that layer's output.
    """
    from nnx.models.sequential import Sequential
    if not isinstance(model, Sequential):
        raise NotImplementedError(f"{op}: keeping a layer's output is implemented for Sequential "
                                  f"models; {type(model).__name__} is not supported yet")
    if model._masks:
        raise NotImplementedError(f"{op}: models whose layers pass masks (Embedding(mask_zero=True), "
                                  f"Masking) are not supported yet")
    keep = {id(layer) for layer in keep}
    tensor = Tensor(x)
    model.check_input_shape(tensor.shape)
    model.build_for((None,) + tensor.shape[1:])
    kept = {}
    for layer in model.layers:
        tensor = layer.call(tensor, False)
        if id(layer) in keep:
            if as_leaves:
                tensor = Tensor(tensor.data, requires_grad=True)
            kept[layer.name] = tensor
    return tensor, kept


def activations(model, x, layers=None, *, batch_size=DEFAULT_BATCH_SIZE):
    """The outputs of the model's layers for the batch x (inference mode):

        {layer name: a_L(x)},   a_L = L ∘ ... ∘ L_1,

    for every layer (default) or the listed ones (names or Layer objects), in the model's layer order.
    """
    op = "activations"
    check_model(op, model)
    batch_size = check_batch_size(op, batch_size)
    x = as_input_batch(op, model, x)
    chosen = model.layers if layers is None else [
        resolve_layer(op, model, l) for l in ([layers] if isinstance(layers, str) else layers)]
    chunks = {layer.name: [] for layer in chosen}
    with no_grad():
        for start in range(0, len(x), batch_size):
            _, kept = forward_keeping(op, model, x[start:start + batch_size], chosen)
            for name, tensor in kept.items():
                chunks[name].append(tensor.data)
    return {name: np.concatenate(parts) for name, parts in chunks.items()}


def activation_stats(model, x, *, batch_size=DEFAULT_BATCH_SIZE):
    """Statistics of every layer's outputs a over the batch x:

        mean(a), std(a), zero_fraction = mean(a == 0),
        dead_fraction = the fraction of units u (entries of one sample's output) with a_u(x_i) = 0
        for every sample i.

    Returns {layer name: {'mean', 'std', 'zero_fraction', 'dead_fraction'}} of floats.
    """
    stats = {}
    for name, a in activations(model, x, batch_size=batch_size).items():
        a = a.reshape(len(a), -1)
        zero = a == 0
        stats[name] = {"mean": float(a.mean(dtype=np.float64)), "std": float(a.std(dtype=np.float64)),
                       "zero_fraction": float(zero.mean()), "dead_fraction": float(zero.all(axis=0).mean())}
    return stats
