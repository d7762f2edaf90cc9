# cython: language_level=3
"""nnx._C._switch — AttributeSwitch, a with-block that sets an attribute and restores it, immune to
Ctrl-C half-way. Its own tiny module (no kernels, no OpenMP), loaded by `import nnx`."""
# Compiled because it must be: a Python-level __exit__ can be interrupted at its
# first instruction (where the interpreter runs pending signal handlers) before it restores anything,
# while a call into compiled code runs to its end and the KeyboardInterrupt is raised after it.

cdef class AttributeSwitch:
    """`with AttributeSwitch(obj, name, value):` sets `obj.<name> = value` and restores the previous
    value on exit, even when the block raises. nnx's grad-mode managers (`no_grad`, `enable_grad`) are
    its subclasses; `obj` is their per-thread state."""
    cdef object _target, _name, _value, _previous

    def __init__(self, target, str name, value):
        self._target, self._name, self._value = target, name, value

    def __enter__(self):
        self._previous = getattr(self._target, self._name)
        setattr(self._target, self._name, self._value)

    def __exit__(self, exc_type, exc, tb):
        setattr(self._target, self._name, self._previous)
        return False
