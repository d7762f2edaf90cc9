"""Lookup by name for `get(...)` (optimizer, loss, initializer, ...) and its one error for an unknown name."""
import difflib


def unknown_name_error(where, kind, name, known):
    """A ValueError saying `name` is no known `kind`, suggesting the closest of `known`."""
    known = list(known)
    close = (difflib.get_close_matches(name, known, n=3)
             or difflib.get_close_matches(name.lower(), known, n=3))
    hint = f"did you mean {', '.join(map(repr, close))}?" if close else f"known: {', '.join(known)}"
    return ValueError(f"{where}: unknown {kind} {name!r}; {hint}")


def get_by_name(identifier, where, kind, base, names, from_callable=None):
    """The lookup behind `nnx.<module>.get(identifier)` (optimizers, losses, initializers, ...):
    - an instance of `base` is returned unchanged, and a subclass of `base` is made with its defaults;
    - a name is looked up in `names` (as given, then lower-cased) and its class made with its
      defaults; an unknown name raises the ValueError of `unknown_name_error`, listing the known ones;
    - a config dict {'class_name': name, 'config': {...}} gives `names[name].from_config(config)`;
    - any other callable gives `from_callable(identifier)`, where that is given.
    Anything else raises TypeError. `where` ('losses.get') and `kind` ('loss') start every message."""
    def by_name(name, what=kind):
        cls = names.get(name) or names.get(name.lower())
        if cls is None:
            raise unknown_name_error(where, what, name, sorted(names))
        return cls

    if isinstance(identifier, base):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, base):
        return identifier()
    if isinstance(identifier, str):
        return by_name(identifier)()
    if isinstance(identifier, dict):
        if not isinstance(identifier.get("class_name"), str):
            raise ValueError(f"{where}: a config dict needs 'class_name', got {identifier!r}")
        cls = by_name(identifier["class_name"], f"{kind} class_name")
        try:
            return cls.from_config(dict(identifier.get("config", {})))
        except TypeError as e:
            raise ValueError(f"{where}: bad config for {identifier['class_name']!r}: {e}") from e
    if from_callable is not None and callable(identifier):
        return from_callable(identifier)
    accepted = "a name, config dict, " + base.__name__ + (" or callable" if from_callable else "")
    raise TypeError(f"{where}: expected {accepted}, got {type(identifier).__name__}")
