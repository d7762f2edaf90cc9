"""nnx.optimizers: Keras 3's optimizers, schedules (`nnx.optimizers.schedules`) and lookup by name.

Every optimizer takes `learning_rate` (a float >= 0, a schedule, or a callable `step -> lr`),
`weight_decay`, `clipnorm`, `clipvalue`, `global_clipnorm` and `name`; see base.py for the shared
step and the rule modules for each update.
"""
from nnx.optimizers import schedules  # noqa: F401
from nnx.optimizers.adam import Adam, Adamax, AdamW, Nadam
from nnx.optimizers.adaptive import Adadelta, Adagrad, RMSprop
from nnx.optimizers.base import Optimizer
from nnx.optimizers.sgd import SGD
from nnx.utils.names import get_by_name

_CLASSES = {cls.__name__.lower(): cls
            for cls in (SGD, Adam, AdamW, Nadam, Adamax, RMSprop, Adagrad, Adadelta)}

def get(identifier):
    """An optimizer from a name ('adam', 'SGD', ...; Keras' defaults), a config dict
    {'class_name': ..., 'config': {...}}, an Optimizer class, or an instance (returned unchanged)."""
    return get_by_name(identifier, "optimizers.get", "optimizer", Optimizer, _CLASSES)


def serialize(optimizer):
    """{'class_name', 'config'} for `get` to rebuild the optimizer (state travels separately)."""
    return {"class_name": type(optimizer).__name__, "config": optimizer.get_config()}

