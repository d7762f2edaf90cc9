"""Layers and models as JSON-able dicts, and back, with nothing but known classes instantiated.

A layer is `{"class_name": ..., "config": layer.get_config()}`, plus `"registered_name"` for a user
class ('Custom>MyBlock', see nnx.utils.register_serializable) and, for a subclassed model,
`"build_config": {"input_shape": ...}` so it can be built before its weights are loaded (Keras 3's
build_config). A functional model's config lists its layers with their inbound nodes (module
nnx.models.functional).

Reading accepts only: nnx layer classes (`Layer.registry`), classes given in `custom_objects` (by
class name or registered name) and registered classes. Anything else, or a malformed entry, is refused
with a ModelFileError (a ValueError) before any object is made from it.
"""
import inspect
import json

from nnx.layers.base import Layer
from nnx.models.archive import ModelFileError
from nnx.utils.registration import registered_class, registered_name

ENTRY_KEYS = {"class_name", "config", "registered_name", "name", "inbound_nodes", "build_config"}


Refused = ModelFileError   # a saved description that cannot be trusted or rebuilt

# What a layer constructor may raise on values it refuses (a hostile file's values included;
# SyntaxError: numpy.dtype parses a string such as 'f4,(' with ast.literal_eval).
CONFIG_ERRORS = (TypeError, ValueError, KeyError, AttributeError, IndexError, OverflowError,
                 ZeroDivisionError, MemoryError, SyntaxError)


def expect(condition, message):
    if not condition:
        raise Refused(message)


def _check_get_config(layer, config):
    """Keras 3's rule: a user class whose __init__ takes arguments must return them from get_config
    (otherwise loading could not call `cls(**config)`)."""
    cls = type(layer)
    owner = next(k for k in cls.__mro__ if "get_config" in k.__dict__)
    if not cls.user_class or getattr(owner, "user_class", False):
        return
    params = inspect.signature(cls.__init__).parameters.values()
    missing = [p.name for p in params if p.name != "self" and p.name not in config and
               p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    if missing:
        raise ValueError(f"save: {layer._who()} takes constructor arguments {missing} that its "
                         f"get_config() does not return; override get_config() to return them "
                         f"(with the base config: {{**super().get_config(), ...}})")


def serialize_layer(layer):
    """The JSON-able description of `layer` (a model included)."""
    config = layer.get_config()
    _check_get_config(layer, config)
    entry = {"class_name": type(layer).__name__, "config": config}
    if type(layer).user_class:
        entry["registered_name"] = registered_name(type(layer))
    build_config = getattr(layer, "get_build_config", lambda: None)()
    if build_config is not None:
        entry["build_config"] = build_config
    return entry


def layer_class(entry, custom_objects=None):
    """The class an entry names: from custom_objects, the registry, or nnx's own layers."""
    name, registered = entry.get("class_name"), entry.get("registered_name")
    expect(isinstance(name, str) and (registered is None or isinstance(registered, str)),
           f"a layer entry needs a string class_name, got {str(name)[:100]!r}")
    custom_objects = custom_objects or {}
    cls = None
    for key in (registered, name):
        if key is not None and key in custom_objects:
            cls = custom_objects[key]
            break
    if cls is None and registered is not None:
        cls = registered_class(registered)
    if cls is None:
        cls = Layer.registry.get(name)
    expect(isinstance(cls, type) and issubclass(cls, Layer),
           f"unknown layer class {(registered or name)[:100]!r}: pass it in custom_objects or "
           f"register it with @nnx.utils.register_serializable() (nnx layers: "
           f"{', '.join(sorted(Layer.registry))})")
    return cls


def deserialize_layer(entry, custom_objects=None, base=Layer):
    """Rebuild a layer (or model) from `serialize_layer`'s dict, validating it first."""
    expect(isinstance(entry, dict) and {"class_name", "config"} <= set(entry) <= ENTRY_KEYS,
           f"a layer entry must have 'class_name' and 'config' (and at most {sorted(ENTRY_KEYS)}), "
           f"got {str(entry)[:200]}")
    cls = layer_class(entry, custom_objects)
    expect(issubclass(cls, base), f"unknown layer class {cls.__name__!r} here: a "
                                  f"{base.__name__} is needed")
    config = entry["config"]
    expect(isinstance(config, dict) and all(isinstance(k, str) for k in config),
           f"the config of {cls.__name__} must be a dict with string keys")
    nested = "layer_from_config" in inspect.signature(cls.from_config).parameters
    try:
        if nested:   # Sequential and functional models rebuild their layers through this module
            layer = cls.from_config(dict(config), layer_from_config=lambda e: deserialize_layer(
                e, custom_objects))
        else:
            layer = cls.from_config(dict(config))
    except Refused:
        raise
    except CONFIG_ERRORS as e:
        raise Refused(f"cannot rebuild {cls.__name__} from config {str(config)[:300]}: {e}") from e
    if "build_config" in entry:
        try:
            layer.build_from_config(entry["build_config"])
        except CONFIG_ERRORS as e:
            raise Refused(f"cannot build {cls.__name__} from {entry['build_config']!r}: {e}") from e
    return layer


def model_to_json(model):
    """The architecture of `model` as a JSON string."""
    try:
        return json.dumps(serialize_layer(model), allow_nan=False)
    except (TypeError, ValueError) as e:
        raise ValueError(f"to_json: model '{model.name}' cannot be described in JSON ({e}); use names "
                         f"for activations, initializers, losses and metrics") from e


def model_from_json(json_string, custom_objects=None):
    """A new, uncompiled model with fresh weights from `to_json()`'s string."""
    from nnx.models.training import BaseModel
    try:
        entry = json.loads(json_string)
        return deserialize_layer(entry, custom_objects, base=BaseModel)
    except json.JSONDecodeError as e:
        raise ValueError(f"model_from_json: not valid JSON: {e}") from None
    except Refused as e:
        raise ValueError(f"model_from_json: {e}") from None
