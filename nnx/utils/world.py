"""This process's place in a multi-process job, as far as the code below `nnx.distributed` needs it.

`nnx.distributed.init()` fills this in; everything else only reads it, so the models and callbacks
know whether to print and write files without importing the distributed layer above them.
A process that never calls `init()` is the chief of a world of one.
"""

_chief = True
_any = None      # callable(bool) -> bool: True if the flag is True on any process


def is_chief():
    """True on the process that prints progress and writes checkpoints (rank 0)."""
    return _chief


def set_world(chief, any_process=None):
    """Called by `nnx.distributed.init()`: this process's role and how to agree on a flag."""
    global _chief, _any
    _chief, _any = bool(chief), any_process


def on_any_process(flag):
    """`flag` or-reduced over every process (e.g. 'stop training'), so all of them decide alike."""
    return bool(flag) if _any is None else _any(bool(flag))
