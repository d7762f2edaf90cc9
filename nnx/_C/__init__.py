"""The compiled parts of nnx, each loaded only when needed.

- `_native`: the Cython bindings to the C kernels in csrc/. Only `nnx.kernels` imports it, on first use
  of a compiled kernel, so `import nnx` and the 'reference' backend work without a C compiler.
- `_switch`: `AttributeSwitch`, the with-block behind the grad mode and `use_backend`. Where it is not
  built, the pure-Python twin below stands in: same behaviour, except that a Ctrl-C landing exactly as
  the block is left can skip the restore (a compiled `__exit__` cannot be interrupted half-way).
"""

BUILD_HINT = ("build the extension with a C compiler: `python setup.py build_ext --inplace` in a source checkout, "
              "or `pip install` nnx from source")

try:
    from nnx._C._switch import AttributeSwitch
except ImportError:
    class AttributeSwitch:
        """`with AttributeSwitch(obj, name, value):` sets `obj.<name> = value` and restores the previous
        value on exit, even when the block raises (pure Python: see the module docstring)."""
        __slots__ = ("_target", "_name", "_value", "_previous")

        def __init__(self, target, name, value):
            self._target, self._name, self._value = target, name, value

        def __enter__(self):
            self._previous = getattr(self._target, self._name)
            setattr(self._target, self._name, self._value)

        def __exit__(self, exc_type, exc, tb):
            setattr(self._target, self._name, self._previous)
            return False
