"""The compiled parts of nnx, each loaded only when needed.

- `_native`: the Cython bindings to the C kernels in csrc/. Only `nnx.kernels` imports it, on first use
  of a compiled kernel, so `import nnx` and the 'reference' backend work without a C compiler.
- `switch`: `AttributeSwitch`, the with-block behind the grad mode and `use_backend`; compiled where the
  extensions are built, plain Python elsewhere (see its docstring).
"""

BUILD_HINT = ("build the extension with a C compiler: `python setup.py build_ext --inplace` in a source "
              "checkout, or `pip install` nnx from source")
