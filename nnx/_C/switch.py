# cython: language_level=3
"""AttributeSwitch: a with-block that sets an attribute and restores it, immune to Ctrl-C half-way.

Plain Python that setup.py also compiles with Cython into an extension module of the same name, which
Python imports in preference to this file wherever it is built. It must be compiled to keep its
promise: a Python-level `__exit__` can be interrupted at its first instruction (where the interpreter
runs pending signal handlers) before it restores anything, while a call into compiled code runs to its
end and the KeyboardInterrupt is raised after it. Run as plain Python (nnx without its extensions), it
behaves the same except for that guarantee.
"""


class AttributeSwitch:
    """`with AttributeSwitch(obj, name, value):` sets `obj.<name> = value` and restores the previous
    value on exit, even when the block raises. nnx's grad-mode managers (`no_grad`, `enable_grad`) are
    its subclasses; `obj` is their per-thread state."""
    __slots__ = ("_target", "_name", "_value", "_previous")

    def __init__(self, target, name, value):
        self._target, self._name, self._value = target, name, value

    def __enter__(self):
        self._previous = getattr(self._target, self._name)
        setattr(self._target, self._name, self._value)

    def __exit__(self, exc_type, exc, tb):
        setattr(self._target, self._name, self._previous)
        return False
