"""Build the compiled parts: the kernels (every C file under csrc/ plus the Cython module nnx._C._native)
and nnx._C.switch, the interrupt-safe with-block behind the grad mode (a .py compiled by Cython).

SIMD is chosen at run time (csrc/cpu.c), and the AVX2/AVX-512 micro-kernels carry their own
`__attribute__((target(...)))`, so the whole extension is compiled for baseline x86-64: a wheel built
here runs on any x86-64. OpenMP is used when the compiler supports it; without it the kernels run on
one thread and everything still builds.
"""
import os
import sys
import tempfile
from glob import glob

import numpy
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


def compiler_accepts(compiler, flags):
    """True if `compiler` builds a tiny OpenMP program with `flags`."""
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "probe.c")
        with open(src, "w") as f:
            f.write("#include <omp.h>\nint main(void){return omp_get_max_threads() > 0 ? 0 : 1;}\n")
        try:
            objects = compiler.compile([src], output_dir=tmp, extra_postargs=flags)
            compiler.link_executable(objects, "probe", output_dir=tmp, extra_postargs=flags)
        except Exception:
            return False
    return True


class BuildExt(build_ext):
    def build_extensions(self):
        unix = self.compiler.compiler_type == "unix"
        # -fno-math-errno: nothing reads errno, and without it sqrt and friends cannot vectorise
        base = ["-O3", "-std=c11", "-fno-strict-aliasing", "-fno-math-errno"] if unix else ["/O2"]
        openmp = ["-fopenmp"] if unix else ["/openmp"]
        if os.environ.get("NNX_NO_OPENMP") or not compiler_accepts(self.compiler, openmp):
            print("nnx: building without OpenMP (kernels will run on one thread)", file=sys.stderr)
            openmp = []
        for ext in self.extensions:
            if ext.name != "nnx._C._native":   # only the kernels use OpenMP
                ext.extra_compile_args = base
                continue
            ext.extra_compile_args = base + openmp
            ext.extra_link_args = openmp
            if openmp:
                ext.define_macros.append(("NNX_OPENMP", "1"))
        super().build_extensions()


extensions = [
    Extension(
        "nnx._C._native",
        sources=["nnx/_C/_native.pyx"] + sorted(glob("csrc/*.c")),
        include_dirs=["csrc", numpy.get_include()],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        depends=sorted(glob("csrc/*.h") + glob("nnx/_C/*.pxi") + glob("nnx/_C/*.pxd")),
    ),
    Extension("nnx._C.switch", sources=["nnx/_C/switch.py"]),   # the compiled twin of switch.py
]


def cythonize_extensions(exts):
    from Cython.Build import cythonize

    return cythonize(
        exts,
        compiler_directives={"language_level": "3", "boundscheck": False, "wraparound": False,
                             "cdivision": True, "initializedcheck": False},
    )


setup(ext_modules=cythonize_extensions(extensions), cmdclass={"build_ext": BuildExt})
