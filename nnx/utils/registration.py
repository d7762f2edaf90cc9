"""`register_serializable`: names for user classes, so that saved models can name them (Keras 3's
`register_keras_serializable`).

A saved model names each class; loading instantiates a class only if it is an nnx layer, was given in
`custom_objects`, or was registered here. The registered name is 'package>name' ('Custom>MyBlock' by
default); it is stored with the class's config and looked up when loading.
"""
_REGISTRY = {}


def register_serializable(package="Custom", name=None):
    """Class decorator: register `cls` as '<package>><name or cls.__name__>'."""
    if not isinstance(package, str) or not package or ">" in package:
        raise ValueError(f"register_serializable: package must be a non-empty string without '>', "
                         f"got {package!r}")

    def decorate(cls):
        if not isinstance(cls, type) or not hasattr(cls, "get_config"):
            raise TypeError(f"register_serializable: expected a class with get_config(), got {cls!r}")
        key = f"{package}>{name or cls.__name__}"
        known = _REGISTRY.get(key)
        if known is not None and known is not cls and known.__qualname__ != cls.__qualname__:
            raise ValueError(f"register_serializable: '{key}' is already registered to {known!r}")
        _REGISTRY[key] = cls
        cls.registered_name = key
        return cls

    return decorate


def registered_name(cls):
    """The name a saved file uses for `cls`: its registered name, else its class name."""
    key = cls.__dict__.get("registered_name")
    return key if key is not None and _REGISTRY.get(key) is cls else cls.__name__


def registered_class(key):
    """The class registered as `key`, or None."""
    return _REGISTRY.get(key)
