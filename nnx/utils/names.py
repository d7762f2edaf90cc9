"""The one error for an unknown name given to `get(...)` (optimizer, loss, metric, ...)."""
import difflib


def unknown_name_error(where, kind, name, known):
    """A ValueError saying `name` is no known `kind`, suggesting the closest of `known`."""
    known = list(known)
    close = difflib.get_close_matches(name, known, n=3)
    hint = f"did you mean {', '.join(map(repr, close))}?" if close else f"known: {', '.join(known)}"
    return ValueError(f"{where}: unknown {kind} {name!r}; {hint}")
